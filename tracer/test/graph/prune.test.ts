import { describe, expect, it } from 'vitest';
import { UserInputError } from '../../src/errors.js';
import { nodeLayout } from '../../src/graph/attribution-graph.js';
import type { AttributionGraph } from '../../src/graph/attribution-graph.js';
import { findThreshold, pruneGraph, shareCutoff } from '../../src/graph/prune.js';
import {
  denseFindThreshold,
  denseReferencePrune,
  largeRandomGraph,
  makeGraph,
  randomGraph,
  seededRandom,
  sparseToDense,
  zeroAdjacency,
} from './build-graph.js';

function edgeMaskAsDense(graph: AttributionGraph, edgeMask: Uint8Array): boolean[][] {
  return sparseToDense({ ...graph.adjacency, values: Float32Array.from(edgeMask) }).map((row) =>
    row.map((v) => v !== 0),
  );
}

function count(mask: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < mask.length; i++) n += mask[i] ? 1 : 0;
  return n;
}

describe('pruneGraph against graph.py transcribed on dense matrices', () => {
  const thresholds: [number, number][] = [
    [0.8, 0.98],
    [0.5, 0.9],
    [0.95, 0.99],
    [0.3, 0.5],
    [1, 1],
  ];
  for (const [nodeThreshold, edgeThreshold] of thresholds) {
    it(`keeps the same nodes and edges at (${nodeThreshold}, ${edgeThreshold}) on random graphs`, () => {
      for (const [seed, density] of [
        [31, 0.15],
        [32, 0.4],
        [33, 0.8],
      ]) {
        const graph = randomGraph(seed, { nLayers: 3, nPos: 5, featuresPerLayerPos: 3, nLogits: 3, density });
        const ours = pruneGraph(graph, nodeThreshold, edgeThreshold);
        const reference = denseReferencePrune(graph, nodeThreshold, edgeThreshold);
        expect(Array.from(ours.nodeMask, Boolean)).toEqual(reference.nodeMask);
        expect(edgeMaskAsDense(graph, ours.edgeMask)).toEqual(reference.keptEdges);
        expect(count(ours.edgeMask)).toBeGreaterThan(0);
      }
    });
  }

  it('reports node influence and cumulative shares consistent with the ranking', () => {
    const graph = randomGraph(41, { nLayers: 3, nPos: 5, featuresPerLayerPos: 3, nLogits: 3, density: 0.4 });
    const { nodeInfluence, nodeShare, nodeMask, edgeMask, edgeShare } = pruneGraph(graph);
    const order = Array.from(nodeInfluence.keys()).sort((a, b) => nodeInfluence[b] - nodeInfluence[a] || a - b);
    const total = nodeInfluence.reduce((s, v) => s + v, 0);
    let running = 0;
    for (const n of order) expect(nodeShare[n]).toBeCloseTo((running += nodeInfluence[n]) / total, 12);
    // Kept features and errors are exactly those ranked up to the crossing node (minus dangling ones).
    for (let n = 0; n < nodeMask.length; n++)
      if (nodeMask[n] && nodeInfluence[n] > 0) expect(nodeShare[n]).toBeLessThanOrEqual(1);
    for (let k = 0; k < edgeMask.length; k++) {
      if (edgeMask[k]) expect(edgeShare[k]).toBeGreaterThan(0);
      else expect(edgeShare[k]).toBeNaN();
    }
  });
});

describe('pruneGraph rules on hand-built graphs', () => {
  /**
   * Features at layer 0, position 1, each read only by the one logit (probability 1) and each
   * reading only token 1. With |A| 4 : 3 : 2 : 1 the features' influence is 0.4, 0.3, 0.2, 0.1 and
   * token 1 gets all of it, 1.0.
   */
  function fanIn(weights: number[]) {
    const nF = weights.length;
    const a = zeroAdjacency(nF, 1, 2, 1);
    const tokenStart = nF + 2;
    const logit = tokenStart + 2;
    weights.forEach((w, f) => {
      a[logit][f] = w;
      a[f][tokenStart + 1] = 1;
    });
    return makeGraph({
      nLayers: 1,
      tokens: ['<bos>', 'x'],
      features: weights.map((_, f) => [0, 1, 20 + f] as [number, number, number]),
      logitTargets: [{ tokenId: 5, token: 'y', probability: 1 }],
      adjacency: a,
    });
  }

  it('keeps the node whose cumulative share crosses the threshold', () => {
    // Ranking: token 1, f0, f1, f2, f3 with cumulative shares 0.5, 0.7, 0.85, 0.95, 1 of the total 2.
    const graph = fanIn([4, 3, 2, 1]);
    expect(Array.from(pruneGraph(graph, 0.8, 1).nodeMask.slice(0, 4))).toEqual([1, 1, 0, 0]);
    expect(Array.from(pruneGraph(graph, 0.9, 1).nodeMask.slice(0, 4))).toEqual([1, 1, 1, 0]);
    expect(Array.from(pruneGraph(graph, 0.6, 1).nodeMask.slice(0, 4))).toEqual([1, 0, 0, 0]);
    expect(Array.from(pruneGraph(graph, 0.96, 1).nodeMask.slice(0, 4))).toEqual([1, 1, 1, 1]);
    const { nodeShare } = pruneGraph(graph, 0.8, 1);
    expect(Array.from(nodeShare.slice(0, 4)).map((v) => +v.toFixed(12))).toEqual([0.7, 0.85, 0.95, 1]);
  });

  it('keeps nodes tied with the crossing node', () => {
    const graph = fanIn([2, 1, 1, 1]); // f1, f2, f3 tie
    expect(Array.from(pruneGraph(graph, 0.8, 1).nodeMask.slice(0, 4))).toEqual([1, 1, 1, 1]);
  });

  it('always keeps tokens and logits, even without influence', () => {
    const graph = fanIn([4, 3, 2, 1]);
    const { tokenStart, nNodes } = nodeLayout(graph);
    const { nodeMask, nodeInfluence } = pruneGraph(graph, 0.1, 0.1);
    expect(nodeInfluence[tokenStart]).toBe(0); // the BOS token reaches nothing
    for (let n = tokenStart; n < nNodes; n++) expect(nodeMask[n]).toBe(1);
  });

  it('drops a feature that has no inputs (a zero row) and the chain that hung on it', () => {
    // Layer 0: fA reads nothing; layer 1: fB reads only fA; layer 2: fC reads fB and token 1; the logit reads fB and fC.
    const a = zeroAdjacency(3, 3, 2, 1);
    const tokenStart = 3 + 6;
    const logit = tokenStart + 2;
    const [fA, fB, fC] = [0, 1, 2];
    a[fB][fA] = 1;
    a[fC][fB] = 1;
    a[fC][tokenStart + 1] = 1;
    a[logit][fB] = 1;
    a[logit][fC] = 1;
    const graph = makeGraph({
      nLayers: 3,
      tokens: ['<bos>', 'x'],
      features: [
        [0, 1, 10],
        [1, 1, 11],
        [2, 1, 12],
      ],
      logitTargets: [{ tokenId: 5, token: 'y', probability: 1 }],
      adjacency: a,
    });
    const { nodeMask, edgeMask } = pruneGraph(graph, 1, 1);
    // fA has no incoming edge, so it goes; then fB has none, so it goes; fC still reads token 1.
    expect(Array.from(nodeMask.slice(0, 3))).toEqual([0, 0, 1]);
    const kept = edgeMaskAsDense(graph, edgeMask);
    expect(kept[fC][fB]).toBe(false);
    expect(kept[logit][fB]).toBe(false);
    expect(kept[fC][tokenStart + 1]).toBe(true);
    expect(kept[logit][fC]).toBe(true);
  });

  it('keeps an error node with an outgoing edge although its own row is zero, and drops one without', () => {
    // One layer, two positions; the logit reads error (0, 1) and feature f, f reads token 1.
    const a = zeroAdjacency(1, 1, 2, 1);
    const [f, error0, error1, tokenStart] = [0, 1, 2, 3];
    const logit = tokenStart + 2;
    a[logit][error1] = 1;
    a[logit][f] = 1;
    a[f][tokenStart + 1] = 1;
    const graph = makeGraph({
      nLayers: 1,
      tokens: ['<bos>', 'x'],
      features: [[0, 1, 10]],
      logitTargets: [{ tokenId: 5, token: 'y', probability: 1 }],
      adjacency: a,
    });
    const { nodeMask } = pruneGraph(graph, 1, 1);
    expect(nodeMask[error1]).toBe(1);
    expect(nodeMask[error0]).toBe(0); // no influence and no outgoing edge
    expect(nodeMask[f]).toBe(1);
  });

  it('removes whole dangling chains that only the rounds expose', () => {
    // f0 → f1 → f2 → logit is weak; the logit's strong input is f3. Edge pruning cuts f2 → logit,
    // after which f2, then f1, then f0 lose their outgoing edges one round at a time.
    const nF = 4;
    const a = zeroAdjacency(nF, 3, 2, 1);
    const tokenStart = nF + 6;
    const logit = tokenStart + 2;
    a[0][tokenStart + 1] = 1;
    a[1][0] = 1;
    a[2][1] = 1;
    a[logit][2] = 0.001;
    a[3][tokenStart + 1] = 1;
    a[logit][3] = 1;
    const graph = makeGraph({
      nLayers: 3,
      tokens: ['<bos>', 'x'],
      features: [
        [0, 1, 10],
        [1, 1, 11],
        [2, 1, 12],
        [2, 1, 13],
      ],
      logitTargets: [{ tokenId: 5, token: 'y', probability: 1 }],
      adjacency: a,
    });
    const { nodeMask } = pruneGraph(graph, 1, 0.9);
    expect(Array.from(nodeMask.slice(0, 4))).toEqual([0, 0, 0, 1]);
    const reference = denseReferencePrune(graph, 1, 0.9);
    expect(Array.from(nodeMask, Boolean)).toEqual(reference.nodeMask);
  });

  it('refuses thresholds outside [0, 1] with a message naming the parameter', () => {
    const graph = fanIn([1, 1]);
    expect(() => pruneGraph(graph, 1.2, 0.98)).toThrow(UserInputError);
    expect(() => pruneGraph(graph, 0.8, -0.1)).toThrow(/edgeThreshold must be a number in \[0, 1\]/);
    expect(() => pruneGraph(graph, Number.NaN, 0.98)).toThrow(/nodeThreshold/);
  });
});

describe('findThreshold', () => {
  it('finds the same threshold as a full sort on a million heavy-tailed scores', () => {
    const rand = seededRandom(5);
    const scores = new Float64Array(1_000_000);
    for (let i = 0; i < scores.length; i++)
      scores[i] = rand() < 0.3 ? 0 : Math.pow(rand(), 8) * (rand() < 0.01 ? 100 : 1);
    const sorted = Float64Array.from(scores).sort().reverse();
    const total = sorted.reduce((s, v) => s + v, 0);
    for (const fraction of [0.5, 0.9, 0.98, 0.999, 1]) {
      let running = 0;
      let index = 0;
      while ((running += sorted[index]) / total < fraction) index++;
      expect(findThreshold(scores, fraction)).toBe(sorted[index]);
    }
  });
});

describe('pruneGraph at size (speed is measured by npm run bench, not asserted here)', () => {
  it('prunes a graph of 20k nodes and 3M adjacency entries to edges between kept nodes', () => {
    const graph = largeRandomGraph(7, {
      nLayers: 16,
      nPos: 20,
      featuresPerCell: 64,
      inputsPerFeature: 150,
      nLogits: 10,
    });
    expect(graph.adjacency.nRows).toBeGreaterThan(19_000);
    expect(graph.adjacency.values.length).toBeGreaterThan(2_500_000);
    const { nodeMask, edgeMask } = pruneGraph(graph);
    expect(count(nodeMask)).toBeLessThan(graph.adjacency.nRows);
    expect(count(edgeMask)).toBeGreaterThan(0);
    const { rowPtr, colIdx } = graph.adjacency;
    for (let row = 0; row < graph.adjacency.nRows; row++) {
      for (let k = rowPtr[row]; k < rowPtr[row + 1]; k++) {
        if (edgeMask[k]) expect(nodeMask[row] && nodeMask[colIdx[k]]).toBeTruthy();
      }
    }
  });
});

describe('shareCutoff', () => {
  it('re-prunes stored node shares exactly as the threshold did, crossing node included', () => {
    const graph = randomGraph(91, { nLayers: 3, nPos: 5, featuresPerLayerPos: 3, nLogits: 3, density: 0.5 });
    const { tokenStart } = nodeLayout(graph);
    const full = pruneGraph(graph, 1, 1);
    for (const threshold of [0.3, 0.5, 0.8, 0.95]) {
      const cutoff = shareCutoff(full.nodeShare, threshold); // over every node: tokens rank too
      expect(cutoff).toBeGreaterThanOrEqual(threshold);
      // Before the dangling clean-up, node pruning keeps exactly the features and errors with share ≤ cutoff.
      const influence = Array.from(full.nodeInfluence);
      const nodeCut = denseFindThreshold(influence, threshold);
      const keptByThreshold = influence.slice(0, tokenStart).map((v) => v >= nodeCut);
      expect(Array.from(full.nodeShare.slice(0, tokenStart), (share) => share <= cutoff)).toEqual(keptByThreshold);
    }
    expect(shareCutoff([0.2, 0.5, 0.9], 0.95)).toBe(1);
    expect(shareCutoff([0.2, 0.5, 0.9], 0.5)).toBe(0.5);
  });
});
