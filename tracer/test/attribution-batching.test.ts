/**
 * How targets are batched is an implementation choice: rows computed in small, position-bounded
 * batches (split by the targets × positions budget, mixed layers, a few targets per backward) are
 * the rows computed in one big batch, and the graph is the same either way.
 */
import { describe, expect, it } from 'vitest';
import { attribute, loadReplacementModel, type AttributionGraph } from '../src/index.js';
import { fixtureModel } from './engine-fixtures.js';

const CASES = [
  { model: 'llama-tiny', prompt: 'The capital of Texas is Austin . Dallas is a city in the state of' },
  { model: 'llama-clt-tiny', prompt: 'The capital of Texas is Austin . Dallas is a city in the state of' },
  { model: 'gemma2-tiny', prompt: 'Dallas is a city in the state of' },
];

function expectSameGraph(a: AttributionGraph, b: AttributionGraph) {
  expect(Array.from(b.selectedFeatures)).toEqual(Array.from(a.selectedFeatures));
  expect(Array.from(b.adjacency.rowPtr)).toEqual(Array.from(a.adjacency.rowPtr));
  expect(Array.from(b.adjacency.colIdx)).toEqual(Array.from(a.adjacency.colIdx));
  const scale = Math.max(...Array.from(a.adjacency.values, Math.abs));
  for (let k = 0; k < a.adjacency.values.length; k++)
    expect(Math.abs(b.adjacency.values[k] - a.adjacency.values[k])).toBeLessThanOrEqual(1e-5 * scale);
}

describe('attribution batching', () => {
  for (const { model: name, prompt } of CASES) {
    it(`${name}: position-bounded small batches give the rows of one big batch`, async () => {
      const model = await loadReplacementModel(fixtureModel(name));
      try {
        const whole = await attribute(model, prompt, { batchSize: 4096 });
        // 3 targets per batch and at most 20 targets × positions per backward: many splits, mixed layers.
        const split = await attribute(model, prompt, { batchSize: 3, batchPositions: 20 });
        expect(whole.adjacency.values.length).toBeGreaterThan(1000);
        expectSameGraph(whole, split);
      } finally {
        await model.dispose();
      }
    });

    it(`${name}: influence-ranked rounds are the same in small and big batches`, async () => {
      const model = await loadReplacementModel(fixtureModel(name));
      try {
        const options = { maxFeatureNodes: 40, updateInterval: 1 };
        const big = await attribute(model, prompt, { ...options, batchSize: 20 });
        const small = await attribute(model, prompt, { ...options, batchSize: 20, batchPositions: 12 });
        expect(big.selectedFeatures.length).toBe(40);
        expectSameGraph(big, small);
      } finally {
        await model.dispose();
      }
    });
  }
});
