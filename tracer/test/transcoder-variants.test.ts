/** TopK transcoders, model descriptions from config files, and cancellation. */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { attribute, CancelledError, describeModel, loadReplacementModel } from '../src/index.js';
import { ensureTokenized } from '../src/attribution/attribute.js';
import { setupAttribution } from '../src/attribution/context.js';
import { fixtureModel } from './engine-fixtures.js';

describe('transcoder variants and model descriptions', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('a TopK transcoder (activation: topk, k in config.yaml) keeps exactly k features per position', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'engine-topk-'));
    dirs.push(dir);
    await cp(fixtureModel('qwen3-tiny'), dir, { recursive: true });
    const configFile = path.join(dir, 'transcoders', 'config.yaml');
    await writeFile(configFile, `${await readFile(configFile, 'utf8')}activation: topk\nk: 5\n`);
    const model = await loadReplacementModel(dir);
    try {
      expect(model.transcoders.activation).toBe('topk');
      const prompt = 'The capital of Texas is';
      const ctx = await setupAttribution(model, ensureTokenized(model, prompt));
      const perSite = new Map<string, number>();
      for (let s = 0; s < ctx.activations.length; s++) {
        const key = `${ctx.activeFeatures[3 * s]}:${ctx.activeFeatures[3 * s + 1]}`;
        perSite.set(key, (perSite.get(key) ?? 0) + 1);
      }
      expect(perSite.size).toBe(model.nLayers * (ctx.nPos - 1)); // every (layer, pos > 0)
      for (const count of perSite.values()) expect(count).toBe(5);
      const graph = await attribute(model, prompt);
      expect(graph.activations.length).toBe(5 * model.nLayers * (ctx.nPos - 1));
    } finally {
      await model.dispose();
    }
  });

  it('describeModel reads config files only and reports sizes and the transcoder set', async () => {
    const plt = await describeModel(fixtureModel('llama-tiny'));
    expect(plt).toMatchObject({
      name: 'llama-tiny',
      architecture: 'LlamaForCausalLM',
      nLayers: 3,
      dModel: 64,
      transcoderSet: 'circuit-atlas-tests/llama-tiny',
      hasDashboards: false,
    });
    expect(plt.nFeatures).toBe(192);
    const clt = await describeModel(fixtureModel('llama-clt-tiny'));
    expect(clt).toMatchObject({ architecture: 'LlamaForCausalLM', nLayers: 3, nFeatures: 160 });
    const gpt2 = await describeModel(fixtureModel('gpt2-tiny'));
    expect(gpt2).toMatchObject({ architecture: 'GPT2LMHeadModel', nLayers: 3, dModel: 64, nFeatures: 128 });
  });

  it('an aborted signal stops attribution with a CancelledError', async () => {
    const model = await loadReplacementModel(fixtureModel('llama-tiny'));
    try {
      const controller = new AbortController();
      const phases: string[] = [];
      const run = attribute(model, 'Dallas is a city in the state of', {
        batchSize: 8,
        signal: controller.signal,
        onProgress: ({ phase, fraction }) => {
          phases.push(phase);
          if (phase === 'features' && fraction > 0.2) controller.abort();
        },
      });
      await expect(run).rejects.toBeInstanceOf(CancelledError);
      expect(phases).toContain('logits');
      expect(phases).not.toContain('assemble');
    } finally {
      await model.dispose();
    }
  });
});
