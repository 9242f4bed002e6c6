/**
 * sliding_window in config.json: Mistral slides on every layer, Qwen2 on the layers from
 * max_window_layers on when use_sliding_window, `layer_types` wins where given; a sliding layer's
 * attention sees only the last `sliding_window` positions (the mistral-tiny logits against
 * transformers are in model-logits.test.ts).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadReplacementModel, ModelFormatError } from '../src/index.js';
import { ensureTokenized } from '../src/attribution/attribute.js';
import { readModelConfig } from '../src/io/model-config.js';
import { runForward } from '../src/model/replacement-model.js';
import { fixtureModel } from './engine-fixtures.js';

const scratch = mkdtempSync(path.join(os.tmpdir(), 'sliding-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The mistral-tiny config.json with some fields changed, in a folder of its own. */
function configWith(name: string, changes: Record<string, unknown>): string {
  const base = JSON.parse(readFileSync(path.join(fixtureModel('mistral-tiny'), 'config.json'), 'utf8'));
  const dir = path.join(scratch, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...base, ...changes }));
  return dir;
}

describe('sliding_window of Mistral and Qwen2', () => {
  it('Mistral: every layer slides; none when sliding_window is null', async () => {
    expect((await readModelConfig(fixtureModel('mistral-tiny'))).slidingWindows).toEqual([3, 3]);
    expect((await readModelConfig(configWith('no-window', { sliding_window: null }))).slidingWindows).toEqual([
      null,
      null,
    ]);
  });

  it('Qwen2: only with use_sliding_window, from max_window_layers on; layer_types when given', async () => {
    const qwen = { model_type: 'qwen2', architectures: ['Qwen2ForCausalLM'], num_hidden_layers: 4, sliding_window: 5 };
    expect(
      (await readModelConfig(configWith('qwen-off', { ...qwen, use_sliding_window: false }))).slidingWindows,
    ).toEqual([null, null, null, null]);
    const on = await readModelConfig(
      configWith('qwen-on', { ...qwen, use_sliding_window: true, max_window_layers: 2 }),
    );
    expect(on.slidingWindows).toEqual([null, null, 5, 5]);
    const typed = {
      ...qwen,
      layer_types: ['full_attention', 'sliding_attention', 'full_attention', 'sliding_attention'],
    };
    expect((await readModelConfig(configWith('qwen-types', typed))).slidingWindows).toEqual([null, 5, null, 5]);
    await expect(readModelConfig(configWith('qwen-bad', { ...qwen, layer_types: ['full_attention'] }))).rejects.toThrow(
      ModelFormatError,
    );
  });

  it('a sliding layer gives no attention to keys `sliding_window` or more positions back', async () => {
    const model = await loadReplacementModel(fixtureModel('mistral-tiny'));
    try {
      const ids = ensureTokenized(model, 'Dallas is a city in the state of');
      const T = ids.length;
      const { frozen } = await runForward(model, ids);
      for (let layer = 0; layer < model.nLayers; layer++) {
        for (let h = 0; h < model.config.nHeads; h++) {
          for (let q = 0; q < T; q++) {
            let inWindow = 0;
            for (let k = 0; k < T; k++) {
              const p = frozen.attnPattern[layer][(h * T + q) * T + k];
              if (k > q || q - k >= 3) expect(p).toBe(0);
              else inWindow += p;
            }
            expect(inWindow).toBeCloseTo(1, 5);
          }
        }
      }
    } finally {
      await model.dispose();
    }
  });
});
