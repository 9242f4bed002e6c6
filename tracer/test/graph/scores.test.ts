import { describe, expect, it } from 'vitest';
import { nodeLayout } from '../../src/graph/attribution-graph.js';
import { logitWeightsOf } from '../../src/graph/influence.js';
import { computeGraphScores } from '../../src/graph/scores.js';
import {
  denseNormalize,
  densePowerSeries,
  makeGraph,
  randomGraph,
  sparseToDense,
  zeroAdjacency,
} from './build-graph.js';

/** A token → feature → logit path beside an error → logit edge, with the logit split evenly. */
function halfErrorGraph() {
  // Nodes: f (layer 0, pos 1) | e0, e1 (layer 0) | t0, t1 | logit L (p = 1).
  const a = zeroAdjacency(1, 1, 2, 1);
  const [f, e1, t1, logit] = [0, 2, 4, 5];
  a[logit][f] = 1;
  a[logit][e1] = -1;
  a[f][t1] = 2;
  return makeGraph({
    nLayers: 1,
    tokens: ['<bos>', 'x'],
    features: [[0, 1, 10]],
    logitTargets: [{ tokenId: 5, token: 'y', probability: 1 }],
    adjacency: a,
  });
}

describe('computeGraphScores', () => {
  it('gives the hand-computed scores when half of the logit comes from an error', () => {
    // Influence: f 0.5, e1 0.5, t1 0.5. Replacement: 0.5 / (0.5 + 0.5).
    // Completeness: L has half its input from e1 (0.5 × 1); f, e1, t1 have none (1 × 0.5 each): 2 / 2.5.
    const { replacement, completeness } = computeGraphScores(halfErrorGraph());
    expect(replacement).toBeCloseTo(0.5, 12);
    expect(completeness).toBeCloseTo(0.8, 12);
  });

  it('scores a graph without error inputs 1 and 1', () => {
    const a = zeroAdjacency(1, 1, 2, 1);
    a[5][0] = 3;
    a[0][4] = 1;
    a[5][4] = 1;
    const graph = makeGraph({
      nLayers: 1,
      tokens: ['<bos>', 'x'],
      features: [[0, 1, 10]],
      logitTargets: [{ tokenId: 5, token: 'y', probability: 0.4 }],
      adjacency: a,
    });
    expect(computeGraphScores(graph)).toEqual({ replacement: 1, completeness: 1 });
  });

  it('equals compute_graph_scores of graph.py transcribed on dense matrices, on random graphs', () => {
    for (const seed of [51, 52, 53]) {
      const graph = randomGraph(seed, { nLayers: 3, nPos: 4, featuresPerLayerPos: 3, nLogits: 3, density: 0.5 });
      const { errorStart, tokenStart, logitStart } = nodeLayout(graph);
      const w = Array.from(logitWeightsOf(graph));
      const normalized = denseNormalize(sparseToDense(graph.adjacency));
      const influence = densePowerSeries(normalized, w);
      const sum = (from: number, to: number) => influence.slice(from, to).reduce((s, v) => s + v, 0);
      const replacement = sum(tokenStart, logitStart) / (sum(tokenStart, logitStart) + sum(errorStart, tokenStart));
      const output = influence.map((v, i) => v + w[i]);
      const nonError = normalized.map((row) => 1 - row.slice(errorStart, tokenStart).reduce((s, v) => s + v, 0));
      const completeness = nonError.reduce((s, v, i) => s + v * output[i], 0) / output.reduce((s, v) => s + v, 0);

      const ours = computeGraphScores(graph);
      expect(ours.replacement).toBeGreaterThan(0);
      expect(ours.replacement).toBeLessThan(1);
      expect(ours.replacement).toBeCloseTo(replacement, 12);
      expect(ours.completeness).toBeCloseTo(completeness, 12);
    }
  });
});
