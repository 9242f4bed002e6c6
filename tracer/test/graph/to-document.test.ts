import { describe, expect, it } from 'vitest';
import { TRACE_SETTING_DEFAULTS } from '@circuit-atlas/schema';
import { nodeLayout } from '../../src/graph/attribution-graph.js';
import { pruneGraph } from '../../src/graph/prune.js';
import { computeGraphScores } from '../../src/graph/scores.js';
import { formatProbability, logitNodeLabel, toGraphDocument } from '../../src/graph/to-document.js';
import { makeGraph, randomGraph, zeroAdjacency } from './build-graph.js';

/**
 * Two layers, prompt "<bos> Dallas is": features 0_10_1 and 1_11_2, errors for 2 layers × 3
 * positions, three tokens, logits "Austin" and "Texas".
 */
function dallasGraph() {
  const nF = 2;
  const a = zeroAdjacency(nF, 2, 3, 2);
  const errorStart = nF;
  const tokenStart = errorStart + 6;
  const logitStart = tokenStart + 3;
  const err = (layer: number, pos: number) => errorStart + layer * 3 + pos;
  a[0][tokenStart + 1] = 2.5; // feature 0 (layer 0, "Dallas") reads "Dallas"
  a[1][0] = 1.5; // feature 1 (layer 1, "is") reads feature 0
  a[1][err(0, 2)] = -0.5;
  a[1][tokenStart + 2] = 0.25;
  for (const logit of [logitStart, logitStart + 1]) {
    a[logit][1] = 3;
    a[logit][err(1, 2)] = 1;
    a[logit][tokenStart + 2] = -0.5;
  }
  return makeGraph({
    nLayers: 2,
    tokens: ['<bos>', ' Dallas', '\n is'],
    tokenIds: [1, 40, 41],
    features: [
      [0, 1, 10],
      [1, 2, 11],
    ],
    activations: [3.5, 1.25],
    logitTargets: [
      { tokenId: 77, token: ' Austin', probability: 0.8125 },
      { tokenId: 78, token: ' Texas', probability: 0.0625 },
    ],
    adjacency: a,
  });
}

describe('toGraphDocument', () => {
  it('names, labels and orders the kept nodes as circuit-tracer writes them', () => {
    const graph = dallasGraph();
    const doc = toGraphDocument(graph, {
      nodeThreshold: 1,
      edgeThreshold: 1,
      id: 'dallas-1',
      createdAt: '2026-11-25T12:00:00.000Z',
    });
    expect(doc.nodes.map((n) => n.nodeId)).toEqual([
      '0_10_1',
      '1_11_2',
      '0_-1_2',
      '1_-1_2',
      'E_1_0',
      'E_40_1',
      'E_41_2',
      '3_77_2',
      '3_78_2',
    ]);
    const byId = new Map(doc.nodes.map((n) => [n.nodeId, n]));
    expect(byId.get('0_10_1')).toMatchObject({
      kind: 'feature',
      layer: 0,
      ctxIdx: 1,
      feature: 10,
      activation: 3.5,
      label: '',
    });
    expect(byId.get('1_-1_2')).toMatchObject({
      kind: 'error',
      layer: 1,
      ctxIdx: 2,
      feature: null,
      activation: null,
      label: 'Err: mlp “⏎ is"',
    });
    expect(byId.get('E_40_1')).toMatchObject({
      kind: 'embedding',
      layer: -1,
      ctxIdx: 1,
      feature: 40,
      label: 'Emb: “ Dallas"',
    });
    expect(byId.get('3_77_2')).toMatchObject({
      kind: 'logit',
      layer: 2,
      ctxIdx: 2,
      feature: 77,
      tokenProb: 0.8125,
      isTargetLogit: true,
      influence: null,
      label: 'Output " Austin" (p=0.812)', // Python rounds the exact tie 0.8125 to even
    });
    expect(byId.get('3_78_2')).toMatchObject({ isTargetLogit: false, label: 'Output " Texas" (p=0.062)' });
    expect(doc).toMatchObject({
      id: 'dallas-1',
      prompt: graph.prompt,
      promptTokens: ['<bos>', ' Dallas', '\n is'],
      tokenIds: [1, 40, 41],
      model: 'test-model',
      transcoderSet: 'test-model/plt',
      nLayers: 2,
      createdAt: '2026-11-25T12:00:00.000Z',
      settings: { ...TRACE_SETTING_DEFAULTS, nodeThreshold: 1, edgeThreshold: 1 },
    });
  });

  it('keeps the pruned edges in row-major order with their signed weights and shares', () => {
    const graph = dallasGraph();
    const doc = toGraphDocument(graph, { nodeThreshold: 1, edgeThreshold: 1 });
    expect(doc.edges.map((e) => [e.source, e.target, e.weight])).toEqual([
      ['E_40_1', '0_10_1', 2.5],
      ['0_10_1', '1_11_2', 1.5],
      ['0_-1_2', '1_11_2', -0.5],
      ['E_41_2', '1_11_2', 0.25],
      ['1_11_2', '3_77_2', 3],
      ['1_-1_2', '3_77_2', 1],
      ['E_41_2', '3_77_2', -0.5],
      ['1_11_2', '3_78_2', 3],
      ['1_-1_2', '3_78_2', 1],
      ['E_41_2', '3_78_2', -0.5],
    ]);
    for (const edge of doc.edges) {
      expect(edge.influence).toBeGreaterThan(0);
      expect(edge.influence).toBeLessThanOrEqual(1);
    }
    expect(Math.max(...doc.edges.map((e) => e.influence!))).toBe(1);
  });

  it('carries the pruning shares and the unpruned scores', () => {
    const graph = randomGraph(61, { nLayers: 3, nPos: 5, featuresPerLayerPos: 3, nLogits: 3, density: 0.4 });
    const doc = toGraphDocument(graph);
    const pruned = pruneGraph(graph, 0.8, 0.98);
    const { errorStart, tokenStart } = nodeLayout(graph);
    const keptFeatures = Array.from(pruned.nodeMask.slice(0, errorStart)).filter(Boolean).length;
    const keptErrors = Array.from(pruned.nodeMask.slice(errorStart, tokenStart)).filter(Boolean).length;
    expect(doc.nodes.filter((n) => n.kind === 'feature')).toHaveLength(keptFeatures);
    expect(doc.nodes.filter((n) => n.kind === 'error')).toHaveLength(keptErrors);
    expect(doc.nodes.filter((n) => n.kind === 'embedding')).toHaveLength(graph.nPos);
    expect(doc.nodes.filter((n) => n.kind === 'logit')).toHaveLength(graph.logitTargets.length);
    expect(doc.edges).toHaveLength(Array.from(pruned.edgeMask).filter(Boolean).length);
    for (const node of doc.nodes.filter((n) => n.kind === 'feature' || n.kind === 'error')) {
      expect(node.influence).toBeGreaterThan(0);
      expect(node.influence).toBeLessThanOrEqual(1);
    }
    expect(doc.scores).toEqual(computeGraphScores(graph));
    expect(doc.settings).toMatchObject({ nodeThreshold: 0.8, edgeThreshold: 0.98 });
    expect(doc.id).toMatch(/^[A-Za-z0-9._-]+$/);
    expect(Number.isNaN(Date.parse(doc.createdAt))).toBe(false);
    // Every edge joins two nodes of the document.
    const ids = new Set(doc.nodes.map((n) => n.nodeId));
    for (const edge of doc.edges) expect(ids.has(edge.source) && ids.has(edge.target)).toBe(true);
  });
});

describe('logit labels', () => {
  it('format probabilities as Python f"{p:.3f}" does, exact binary ties to even', () => {
    expect(formatProbability(0.0625)).toBe('0.062');
    expect(formatProbability(0.1875)).toBe('0.188');
    expect(formatProbability(0.3125)).toBe('0.312');
    expect(formatProbability(0.12345)).toBe('0.123');
    expect(formatProbability(0.9996)).toBe('1.000');
    expect(formatProbability(1)).toBe('1.000');
    expect(formatProbability(Math.fround(0.1))).toBe('0.100');
    expect(logitNodeLabel(' Paris', 0.5)).toBe('Output " Paris" (p=0.500)');
  });
});
