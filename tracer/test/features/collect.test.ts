/**
 * The bounded collectors on activations with known values: exact counts, top contexts by their
 * maximum, band samples inside their band after the range has doubled many times, quantiles within
 * one internal bin of the true ones, and memory that does not grow with the number of contexts.
 */
import { describe, expect, it } from 'vitest';
import { ContextStore, DEFAULT_COLLECTOR_OPTIONS, LayerCollector } from '../../src/features/collect.js';
import type { ContextBatch } from '../../src/features/corpus.js';
import { featureDashboard } from '../../src/features/dashboard.js';

const F = 3;
const T = 6;

/** A batch of `n` contexts of T tokens; feature f at (context c, position p) = value(f, id, p). */
function batchOf(firstId: number, n: number, value: (f: number, id: number, p: number) => number) {
  const batch: ContextBatch = {
    nPos: T,
    contexts: Array.from({ length: n }, (_, i) => ({
      id: firstId + i,
      tokenIds: Int32Array.from({ length: T }, (_, p) => p),
    })),
  };
  const acts = new Float32Array(n * T * F);
  for (let i = 0; i < n; i++)
    for (let p = 0; p < T; p++) for (let f = 0; f < F; f++) acts[(i * T + p) * F + f] = value(f, firstId + i, p);
  return { batch, acts };
}

describe('LayerCollector', () => {
  // Feature 0: grows with the context id (range doubles often); 1: active at position 2 only; 2: never.
  const value = (f: number, id: number, p: number) =>
    f === 0 ? 0.01 * (id + 1) * p : f === 1 && p === 2 ? 1 + (id % 7) : 0;
  const store = new ContextStore();
  const collector = new LayerCollector(0, store, { ...DEFAULT_COLLECTOR_OPTIONS, nFeatures: F, topK: 4, seed: 3 });
  const contexts = 500;
  for (let first = 0; first < contexts; first += 25) {
    const { batch, acts } = batchOf(first, 25, value);
    collector.observe(batch, acts);
  }
  const summaries = [...collector.summaries()];

  it('counts every non-BOS position and every active one, and leaves out features never active', () => {
    expect(collector.positions).toBe(contexts * (T - 1));
    expect(summaries.map((s) => s.feature)).toEqual([0, 1]);
    expect(summaries[0].activeCount).toBe(contexts * (T - 1));
    expect(summaries[1].activeCount).toBe(contexts);
    for (const s of summaries) expect(s.histogram.reduce((a, b) => a + b, 0)).toBe(s.activeCount);
    expect(summaries[0].actMax).toBeCloseTo(0.01 * contexts * (T - 1), 4);
    expect(summaries[0].actMin).toBeCloseTo(0.01, 6);
  });

  it('keeps the top contexts by their maximum, one example per context, at the maximal position', () => {
    const top = summaries[0].top;
    expect(top.map((e) => e.contextId)).toEqual([499, 498, 497, 496]);
    expect(top.every((e) => e.position === T - 1)).toBe(true);
    // Feature 1 peaks at 7 in contexts with id % 7 = 6; ties keep the earliest contexts.
    expect(summaries[1].top.map((e) => e.contextId)).toEqual([6, 13, 20, 27]);
    expect(Array.from(summaries[1].top[0].windowActs)).toEqual([0, 0, 7, 0, 0, 0]);
  });

  it('samples each band inside its bounds after many doublings of the range', () => {
    const s = summaries[0];
    expect(s.rangeTop).toBeGreaterThan(s.actMax);
    expect(s.rangeTop / 2).toBeLessThanOrEqual(s.actMax);
    expect(s.bands.length).toBeGreaterThan(1);
    for (const band of s.bands) {
      expect(band.examples.length).toBeLessThanOrEqual(DEFAULT_COLLECTOR_OPTIONS.perBand);
      for (const example of band.examples) {
        expect(example.activation).toBeGreaterThanOrEqual(band.lo);
        expect(example.activation).toBeLessThan(band.hi);
        expect(example.windowActs[example.position - example.windowStart]).toBeCloseTo(example.activation, 6);
      }
    }
  });

  it('gives quantiles within one internal bin of the true ones', () => {
    const s = summaries[0];
    const values: number[] = [];
    for (let id = 0; id < contexts; id++) for (let p = 1; p < T; p++) values.push(Math.fround(value(0, id, p)));
    values.sort((a, b) => a - b);
    const detail = featureDashboard({
      summary: s,
      layer: 0,
      transcoderId: 'test/layer_0',
      tokenString: String,
      topLogits: { ids: [], values: [] },
      bottomLogits: { ids: [], values: [] },
    });
    const bin = s.rangeTop / DEFAULT_COLLECTOR_OPTIONS.histogramBins;
    for (const q of [10, 25, 50, 75, 90]) {
      const truth = values[Math.ceil((q / 100) * values.length) - 1];
      expect(Math.abs(detail.quantile_values[q - 1] - truth)).toBeLessThanOrEqual(bin);
    }
    expect(detail.histogram.reduce((a, b) => a + b, 0)).toBe(s.activeCount);
  });

  it('holds the token ids of kept examples only: the store does not grow with the corpus', () => {
    const kept = new Set(
      summaries.flatMap((s) => [...s.top, ...s.bands.flatMap((b) => b.examples)]).map((e) => e.contextId),
    );
    expect(store.size).toBe(kept.size);
    expect(store.size).toBeLessThanOrEqual(
      F * (4 + DEFAULT_COLLECTOR_OPTIONS.bands * DEFAULT_COLLECTOR_OPTIONS.perBand),
    );
  });
});
