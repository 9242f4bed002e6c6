import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadReplacementModel } from '../src/index.js';
import { runForward } from '../src/model/replacement-model.js';
import { fixtureModel } from './engine-fixtures.js';

interface Expected {
  prompts: { prompt: string; input_ids: number[]; logits: number[][] }[];
}

describe('the plain model reproduces PyTorch transformers', () => {
  for (const name of ['llama-tiny', 'qwen3-tiny', 'gpt2-tiny', 'llama-clt-tiny']) {
    it(`${name}: token ids and logits equal expected.json within 1e-4`, async () => {
      const dir = fixtureModel(name);
      const expected: Expected = JSON.parse(readFileSync(`${dir}/expected.json`, 'utf8'));
      const model = await loadReplacementModel(dir);
      try {
        for (const entry of expected.prompts) {
          const ids = model.tokenizer.encodePrompt(entry.prompt, model.config.maxPositions);
          expect(ids).toEqual(entry.input_ids);
          const { logits } = await runForward(model, ids);
          const want = entry.logits.flat();
          expect(logits.length).toBe(want.length);
          let maxDiff = 0;
          for (let i = 0; i < want.length; i++) maxDiff = Math.max(maxDiff, Math.abs(logits[i] - want[i]));
          expect(maxDiff).toBeLessThan(1e-4);
        }
      } finally {
        await model.dispose();
      }
    });
  }
});
