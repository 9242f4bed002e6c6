import { describe, expect, it } from 'vitest';
import { UserInputError } from '../../src/errors.js';
import {
  computeInfluence,
  computeNodeInfluence,
  computePartialInfluence,
  logitWeightsOf,
  normalizeAdjacency,
  rankUnvisitedFeatures,
} from '../../src/graph/influence.js';
import { nodeLayout } from '../../src/graph/attribution-graph.js';
import {
  denseNormalize,
  densePowerSeries,
  denseToSparse,
  makeGraph,
  maxRelativeError,
  randomGraph,
  sparseToDense,
  zeroAdjacency,
} from './build-graph.js';

describe('normalizeAdjacency', () => {
  it('divides |A| by its row sums and leaves zero rows at zero', () => {
    const a = denseToSparse([
      [0, -2, 6],
      [0, 0, 0],
      [1, 0, 0],
    ]);
    const dense = sparseToDense({ ...normalizeAdjacency(a), values: Float32Array.from(normalizeAdjacency(a).values) });
    expect(dense).toEqual([
      [0, 0.25, 0.75],
      [0, 0, 0],
      [1, 0, 0],
    ]);
  });
});

describe('computeNodeInfluence', () => {
  it('gives the hand-computed influence of a token → feature → logit graph', () => {
    // Nodes: feature f (layer 0, pos 1) | errors (1 layer × 2 pos) | tokens t0, t1 | logit L.
    const a = zeroAdjacency(1, 1, 2, 1);
    const [f, t1, logit] = [0, 4, 5];
    a[logit][f] = 2; // Â[L] = (0.5 from f, 0.5 from t1)
    a[logit][t1] = -2;
    a[f][t1] = 3; // Â[f] = (1 from t1)
    const graph = makeGraph({
      nLayers: 1,
      tokens: ['<bos>', 'a'],
      features: [[0, 1, 7]],
      logitTargets: [{ tokenId: 9, token: 'b', probability: 0.7 }],
      adjacency: a,
    });
    const influence = computeNodeInfluence(graph.adjacency, logitWeightsOf(graph));
    expect(influence[f]).toBeCloseTo(0.35, 12);
    expect(influence[t1]).toBeCloseTo(0.7, 12); // 0.35 directly + 0.35 through f
    expect(influence[logit]).toBe(0);
  });

  it('equals the dense power series on random attribution DAGs whose node order is not topological', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const graph = randomGraph(seed, { nLayers: 3, nPos: 4, featuresPerLayerPos: 3, nLogits: 3, density: 0.5 });
      const weights = logitWeightsOf(graph);
      const ours = computeNodeInfluence(graph.adjacency, weights);
      const oracle = densePowerSeries(denseNormalize(sparseToDense(graph.adjacency)), weights);
      expect(oracle.some((v) => v > 0)).toBe(true);
      expect(maxRelativeError(ours, oracle)).toBeLessThan(1e-12);
    }
  });

  it('weights each logit by its probability', () => {
    const graph = randomGraph(11, { nLayers: 2, nPos: 3, featuresPerLayerPos: 2, nLogits: 2, density: 0.6 });
    const { logitStart } = nodeLayout(graph);
    const weights = logitWeightsOf(graph);
    expect(Array.from(weights.slice(logitStart))).toEqual(graph.logitTargets.map((t) => t.probability));
    const doubled = computeNodeInfluence(
      graph.adjacency,
      weights.map((w) => 2 * w),
    );
    const single = computeNodeInfluence(graph.adjacency, weights);
    expect(
      maxRelativeError(
        doubled,
        single.map((v) => 2 * v),
      ),
    ).toBeLessThan(1e-12);
  });

  it('refuses an adjacency with a cycle, where the power series has no end', () => {
    const cyclic = denseToSparse([
      [0, 1, 0],
      [1, 0, 0],
      [1, 1, 0],
    ]);
    expect(() => computeInfluence(normalizeAdjacency(cyclic), [0, 0, 1])).toThrow(UserInputError);
    expect(() => computeInfluence(normalizeAdjacency(cyclic), [0, 0, 1])).toThrow(/cycle/);
  });
});

describe('computePartialInfluence (max_feature_nodes rounds)', () => {
  it('equals the reference power iteration over the rows computed so far', () => {
    const graph = randomGraph(21, { nLayers: 3, nPos: 4, featuresPerLayerPos: 3, nLogits: 2, density: 0.5 });
    const full = sparseToDense(graph.adjacency);
    const { nFeatureNodes, logitStart, nNodes } = nodeLayout(graph);
    // Rows computed so far: the logits, then a handful of features in attribution order.
    const rowNodes = [logitStart, logitStart + 1, 26, 5, 17, 2];
    expect(Math.max(...rowNodes.slice(2))).toBeLessThan(nFeatureNodes);
    const rows = rowNodes.map((node) => full[node]);
    const probabilities = graph.logitTargets.map((t) => t.probability);
    const ours = computePartialInfluence(denseToSparse(rows), Int32Array.from(rowNodes), probabilities);

    // The reference: prod[logits] = p; repeat prod = prod[row_to_node] @ N̂ and accumulate.
    const normalizedRows = denseNormalize(rows, 1e-8);
    let prod = new Array<number>(nNodes).fill(0);
    probabilities.forEach((p, i) => (prod[logitStart + i] = p));
    const oracle = new Array<number>(nNodes).fill(0);
    for (let iter = 0; iter < 128; iter++) {
      const next = new Array<number>(nNodes).fill(0);
      rowNodes.forEach((node, r) => normalizedRows[r].forEach((v, j) => (next[j] += prod[node] * v)));
      prod = next;
      if (!prod.some((v) => v !== 0)) break;
      prod.forEach((v, j) => (oracle[j] += v));
    }
    expect(oracle.some((v) => v > 0)).toBe(true);
    expect(maxRelativeError(ours, oracle)).toBeLessThan(1e-12);
  });

  it('ranks unvisited features by partial influence, highest first, ties by index', () => {
    const influence = [0.5, 0.9, 0.1, 0.9, 0.0, 0.3];
    const visited = Uint8Array.from([0, 1, 0, 0, 0, 0]);
    expect(Array.from(rankUnvisitedFeatures(influence, visited, 3))).toEqual([3, 0, 5]);
    expect(Array.from(rankUnvisitedFeatures(influence, visited, 10))).toEqual([3, 0, 5, 2, 4]);
    expect(Array.from(rankUnvisitedFeatures([0, 0, 0], Uint8Array.from([0, 0, 0]), 2))).toEqual([0, 1]);
  });
});
