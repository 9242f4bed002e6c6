import { describe, expect, it } from 'vitest';
import { RowStore } from '../src/attribution/row-store.js';
import { computePartialInfluence } from '../src/graph/influence.js';
import { nodeLayout } from '../src/graph/attribution-graph.js';
import { denseToSparse, randomGraph, sparseToDense } from './graph/build-graph.js';

/** The non-zero entries of a dense row, columns ascending. */
function sparseRow(dense: number[]) {
  const cols = dense.flatMap((v, c) => (v !== 0 ? [c] : []));
  return { cols: Int32Array.from(cols), values: Float32Array.from(cols, (c) => dense[c]) };
}

describe('RowStore (attribution rows in fixed-size segments)', () => {
  const graph = randomGraph(7, { nLayers: 3, nPos: 4, featuresPerLayerPos: 3, nLogits: 2, density: 0.6 });
  const full = sparseToDense(graph.adjacency);
  const { logitStart, nNodes } = nodeLayout(graph);
  // Logit rows first, then feature rows in an attribution order, as attribute() appends them.
  const rowNodes = [logitStart, logitStart + 1, 26, 5, 17, 2, 30, 11, 0];
  const rows = rowNodes.map((node) => full[node]);

  it('gives back every row as appended, across segment boundaries and in a segment of its own when longer', () => {
    const longest = Math.max(...rows.map((r) => sparseRow(r).cols.length));
    expect(longest).toBeGreaterThan(4);
    const store = new RowStore(nNodes, 4); // most rows fill or overflow a 4-entry segment
    rows.forEach((r) => store.append(sparseRow(r)));
    expect(store.nRows).toBe(rows.length);
    rows.forEach((r, i) => {
      const { cols, values } = store.row(i);
      expect(Array.from(cols)).toEqual(Array.from(sparseRow(r).cols));
      expect(Array.from(values)).toEqual(Array.from(sparseRow(r).values));
    });
  });

  it('keeps more than the first growth of its row index', () => {
    const store = new RowStore(10, 8);
    for (let i = 0; i < 3000; i++) store.append({ cols: Int32Array.from([i % 10]), values: Float32Array.from([i]) });
    expect(store.nRows).toBe(3000);
    expect(store.row(2999).values[0]).toBe(2999);
    expect(store.row(1024).cols[0]).toBe(4);
  });

  it('gives the partial influence of the same rows held as one CSR, for every segment size', () => {
    const probabilities = graph.logitTargets.map((t) => t.probability);
    const csr = computePartialInfluence(denseToSparse(rows), Int32Array.from(rowNodes), probabilities);
    expect(csr.some((v) => v > 0)).toBe(true);
    for (const segment of [1, 3, 16, 1 << 22]) {
      const store = new RowStore(nNodes, segment);
      rows.forEach((r) => store.append(sparseRow(r)));
      expect(Array.from(computePartialInfluence(store, Int32Array.from(rowNodes), probabilities))).toEqual(
        Array.from(csr),
      );
    }
  });
});
