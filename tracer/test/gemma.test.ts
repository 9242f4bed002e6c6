/**
 * Gemma-2 and Gemma-3 specifics on the fixture models (training/make_test_models.py): config.json
 * read into sliding windows, scales, soft-caps and RoPE bases; sliding-window layers see only their
 * window; the final soft-cap bounds the logits but attribution reads the logits before it; the
 * ln2.hook_normalized site is the pre-MLP norm before its gain; the post-norm denominators are frozen.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadReplacementModel } from '../src/index.js';
import { readModelConfig } from '../src/io/model-config.js';
import { runForward } from '../src/model/replacement-model.js';
import { setupAttribution } from '../src/attribution/context.js';
import { chooseLogitTargets, ensureTokenized } from '../src/attribution/attribute.js';
import { fixtureModel } from './engine-fixtures.js';

const PROMPT = 'Dallas is a city in the state of';

describe('Gemma config.json', () => {
  it('gemma2-tiny: alternating sliding windows from layer 0, query_pre_attn_scalar, both soft-caps', async () => {
    const config = await readModelConfig(fixtureModel('gemma2-tiny'));
    const raw = JSON.parse(readFileSync(`${fixtureModel('gemma2-tiny')}/config.json`, 'utf8'));
    expect(config.family).toBe('gemma');
    expect(config.slidingWindows).toEqual([4, null, 4]);
    expect(config.attentionScale).toBeCloseTo(1 / Math.sqrt(raw.query_pre_attn_scalar), 12);
    expect(config.attnSoftcap).toBe(raw.attn_logit_softcapping);
    expect(config.finalSoftcap).toBe(raw.final_logit_softcapping);
    expect(config.qkNorm).toBe(false);
  });

  it('gemma3-tiny: layer_types, q/k norms, local and global RoPE bases, linear scaling on the global layers', async () => {
    const config = await readModelConfig(fixtureModel('gemma3-tiny'));
    expect(config.modelType).toBe('gemma3_text');
    expect(config.slidingWindows).toEqual([4, null, 4, null]);
    expect(config.qkNorm).toBe(true);
    expect(config.ropeLocalTheta).toBe(10000);
    expect(config.ropeTheta).toBe(1e6);
    expect(config.ropeScaling).toMatchObject({ ropeType: 'linear', factor: 4 });
    expect(config.finalSoftcap).toBeNull();
  });
});

describe('Gemma configs as the Hub has them', () => {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'gemma-config-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));
  /** A fixture's config.json with fields changed (undefined removes one), in a folder of its own. */
  const configWith = (fixture: string, name: string, changes: Record<string, unknown>) => {
    const raw = JSON.parse(readFileSync(`${fixtureModel(fixture)}/config.json`, 'utf8'));
    for (const [key, value] of Object.entries(changes)) {
      if (value === undefined) delete raw[key];
      else raw[key] = value;
    }
    const dir = path.join(scratch, name);
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify(raw));
    return dir;
  };

  it('Gemma-2 without layer_types (transformers 4 configs): even layers slide, as transformers defaults', async () => {
    const config = await readModelConfig(
      configWith('gemma2-tiny', 'g2', { layer_types: undefined, num_hidden_layers: 4 }),
    );
    expect(config.slidingWindows).toEqual([4, null, 4, null]);
  });

  it('Gemma-3 with sliding_window_pattern instead of layer_types: every 6th layer global', async () => {
    const dir = configWith('gemma3-tiny', 'g3', {
      layer_types: undefined,
      num_hidden_layers: 7,
      sliding_window_pattern: 6,
    });
    expect((await readModelConfig(dir)).slidingWindows).toEqual([4, 4, 4, 4, 4, null, 4]);
  });

  it('a layer_types list of the wrong length is refused, naming the field', async () => {
    const dir = configWith('gemma2-tiny', 'bad', { layer_types: ['sliding_attention'] });
    await expect(readModelConfig(dir)).rejects.toThrow(/'layer_types' must list sliding_attention or full_attention/);
  });

  it('transcoders writing before the post-feedforward norm (mlp.hook_out) are refused with what to use', async () => {
    const tdir = path.join(scratch, 'tc');
    cpSync(`${fixtureModel('gemma2-tiny')}/transcoders`, tdir, { recursive: true });
    const yaml = readFileSync(path.join(tdir, 'config.yaml'), 'utf8').replace('hook_mlp_out', 'mlp.hook_out');
    writeFileSync(path.join(tdir, 'config.yaml'), yaml);
    await expect(loadReplacementModel(fixtureModel('gemma2-tiny'), { transcodersDir: tdir })).rejects.toThrow(
      /feature_output_hook 'mlp.hook_out' is before this model's post-feedforward norm; use hook_mlp_out/,
    );
  });
});

describe('Gemma forward pass', () => {
  it('a sliding-window layer gives no weight to keys 4 or more positions back; a global layer does', async () => {
    const model = await loadReplacementModel(fixtureModel('gemma2-tiny'));
    try {
      const ids = ensureTokenized(model, PROMPT);
      const T = ids.length;
      expect(T).toBeGreaterThan(5);
      const { frozen } = await runForward(model, ids);
      const H = model.config.nHeads;
      const farWeight = (layer: number) => {
        let sum = 0;
        for (let h = 0; h < H; h++)
          for (let q = 0; q < T; q++)
            for (let k = 0; k <= q - 4; k++) sum += frozen.attnPattern[layer][(h * T + q) * T + k];
        return sum;
      };
      expect(farWeight(0)).toBe(0);
      expect(farWeight(2)).toBe(0);
      expect(farWeight(1)).toBeGreaterThan(0.1);
      expect(frozen.attnPostScale).toHaveLength(model.nLayers);
    } finally {
      await model.dispose();
    }
  });

  it('logits are soft-capped; attribution targets the logits before the cap (h · W_U), with the capped probabilities', async () => {
    const model = await loadReplacementModel(fixtureModel('gemma2-tiny'));
    try {
      const cap = model.config.finalSoftcap!;
      const ctx = await setupAttribution(model, ensureTokenized(model, PROMPT));
      const V = model.vocabSize;
      const d = model.dModel;
      const T = ctx.nPos;
      const last = ctx.logits.subarray((T - 1) * V);
      let uncappedMax = 0;
      for (let v = 0; v < V; v++) {
        let raw = 0;
        const column = model.weights.unembedRows.row(v); // W_U[:, v]
        for (let i = 0; i < d; i++) raw += ctx.unembedIn[(T - 1) * d + i] * column[i];
        expect(last[v]).toBeCloseTo(cap * Math.tanh(raw / cap), 4);
        expect(Math.abs(last[v])).toBeLessThan(cap);
        uncappedMax = Math.max(uncappedMax, Math.abs(raw));
      }
      expect(uncappedMax).toBeGreaterThan(cap / 2); // the cap bends these logits measurably
      const { targets } = chooseLogitTargets(model, ctx, 10, 0.95);
      let sum = 0;
      for (let v = 0; v < V; v++) sum += Math.exp(last[v]);
      expect(targets[0].probability).toBeCloseTo(Math.exp(last[targets[0].tokenId]) / sum, 5);
    } finally {
      await model.dispose();
    }
  });

  it('ln2.hook_normalized transcoders read the pre-feedforward norm before its gain (unit root-mean-square rows)', async () => {
    const model = await loadReplacementModel(fixtureModel('gemma2-tiny'));
    try {
      const ids = ensureTokenized(model, PROMPT);
      const { mlpIn } = await runForward(model, ids);
      const d = model.dModel;
      for (const x of mlpIn) {
        for (let pos = 0; pos < ids.length; pos++) {
          let ms = 0;
          for (let i = 0; i < d; i++) ms += x[pos * d + i] ** 2;
          expect(Math.sqrt(ms / d)).toBeCloseTo(1, 3);
        }
      }
    } finally {
      await model.dispose();
    }
  });
});
