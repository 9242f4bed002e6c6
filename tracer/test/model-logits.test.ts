import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadReplacementModel } from '../src/index.js';
import { runForward } from '../src/model/replacement-model.js';
import { fixtureModel } from './engine-fixtures.js';

interface Expected {
  prompts: { prompt: string; input_ids: number[]; logits: number[][] }[];
}

describe('the plain model reproduces PyTorch transformers', () => {
  for (const name of [
    'llama-tiny',
    'qwen3-tiny',
    'gpt2-tiny',
    'llama-clt-tiny',
    'gemma2-tiny',
    'gemma3-tiny',
    'mistral-tiny',
  ]) {
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

describe('prompt tokenization (circuit-tracer rule)', () => {
  it('prepends BOS, except when the prompt already starts with a special token', async () => {
    for (const [name, special] of [
      ['llama-tiny', '<bos> '],
      ['gpt2-tiny', '<|endoftext|>'],
    ]) {
      const model = await loadReplacementModel(fixtureModel(name));
      try {
        const plain = model.tokenizer.encodePrompt('The capital of Texas is', 128);
        expect(plain[0]).toBe(model.tokenizer.bosId);
        expect(model.tokenizer.encodePrompt(`${special}The capital of Texas is`, 128)).toEqual(plain);
      } finally {
        await model.dispose();
      }
    }
  });
});
