/**
 * Top-k strongest paths (server/src/analysis/paths.ts): scored by the product of normalized edge
 * weights |w| / Σ|w of the target's inputs|, checked against the definition on a hand-made graph,
 * against exhaustive enumeration on random graphs, and on a real circuit-tracer graph.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { TRACE_SETTING_DEFAULTS, type GraphDocument, type GraphEdge, type GraphNode } from '@circuit-atlas/schema';
import { UserInputError } from '@circuit-atlas/tracer';
import { fromGraphJson } from '@circuit-atlas/tracer';
import { findTopPaths, type Path } from '../src/analysis/paths.js';
import { randomGraph } from '../../test-support/graph-generator.js';

function node(nodeId: string, kind: GraphNode['kind'], layer: number, ctxIdx: number): GraphNode {
  return {
    nodeId,
    kind,
    layer,
    ctxIdx,
    feature: 0,
    activation: null,
    influence: null,
    tokenProb: null,
    isTargetLogit: kind === 'logit',
    label: nodeId,
  };
}

/** Dallas → Texas → Austin in miniature: two embeddings, three features, two logits. */
function handGraph(edges: [string, string, number][]): GraphDocument {
  const nodes = [
    node('E_1_1', 'embedding', -1, 1),
    node('E_2_2', 'embedding', -1, 2),
    node('0_5_1', 'feature', 0, 1),
    node('1_7_2', 'feature', 1, 2),
    node('1_8_2', 'feature', 1, 2),
    node('3_100_2', 'logit', 2, 2),
    node('3_101_2', 'logit', 2, 2),
  ];
  const graphEdges: GraphEdge[] = edges.map(([source, target, weight]) => ({
    source,
    target,
    weight,
    influence: null,
  }));
  return {
    id: 'hand',
    prompt: 'Dallas Texas',
    promptTokens: ['<s>', 'Dallas', 'Texas'],
    tokenIds: [1, 1, 2],
    model: 'm',
    transcoderSet: 't',
    nLayers: 2,
    createdAt: '2026-01-01T00:00:00.000Z',
    settings: { ...TRACE_SETTING_DEFAULTS },
    scores: null,
    nodes,
    edges: graphEdges,
  };
}

/** Every path from → to of at most maxLength edges, scored by the definition, in contract order. */
function allPathsByDefinition(
  graph: GraphDocument,
  from: string,
  isTarget: (id: string) => boolean,
  maxLength: number,
): Path[] {
  const inputTotal = new Map<string, number>();
  for (const e of graph.edges) inputTotal.set(e.target, (inputTotal.get(e.target) ?? 0) + Math.abs(e.weight));
  const found: Path[] = [];
  const walk = (nodeIds: string[], weights: number[], score: number) => {
    const last = nodeIds[nodeIds.length - 1];
    if (weights.length > 0 && isTarget(last)) {
      found.push({ nodeIds, weights, score });
      return;
    }
    if (weights.length === maxLength) return;
    for (const e of graph.edges) {
      if (e.source !== last || e.weight === 0) continue;
      walk([...nodeIds, e.target], [...weights, e.weight], score * (Math.abs(e.weight) / inputTotal.get(e.target)!));
    }
  };
  walk([from], [], 1);
  return found.sort((a, b) => {
    if (a.score !== b.score) return b.score - a.score;
    for (let i = 0; i < Math.min(a.nodeIds.length, b.nodeIds.length); i++) {
      if (a.nodeIds[i] !== b.nodeIds[i]) return a.nodeIds[i] < b.nodeIds[i] ? -1 : 1;
    }
    return a.nodeIds.length - b.nodeIds.length;
  });
}

describe('findTopPaths', () => {
  it('ranks paths by the product of each edge’s share of its target’s absolute input', () => {
    const graph = handGraph([
      ['E_1_1', '0_5_1', 2],
      ['E_2_2', '0_5_1', 1],
      ['0_5_1', '1_7_2', -3],
      ['E_2_2', '1_7_2', 1],
      ['0_5_1', '1_8_2', 1],
      ['1_7_2', '3_100_2', 4],
      ['1_8_2', '3_100_2', 1],
      ['E_1_1', '3_100_2', 0.5],
    ]);
    const paths = findTopPaths(graph, { from: 'E_1_1', to: '3_100_2', k: 5, maxLength: 4 });
    const logitInput = 4 + 1 + 0.5;
    expect(paths.map((p) => p.nodeIds)).toEqual([
      ['E_1_1', '0_5_1', '1_7_2', '3_100_2'],
      ['E_1_1', '0_5_1', '1_8_2', '3_100_2'],
      ['E_1_1', '3_100_2'],
    ]);
    expect(paths[0].score).toBeCloseTo((2 / 3) * (3 / 4) * (4 / logitInput), 12);
    expect(paths[0].weights).toEqual([2, -3, 4]); // raw, signed
    expect(paths[1].score).toBeCloseTo((2 / 3) * 1 * (1 / logitInput), 12);
    expect(paths[2].score).toBeCloseTo(0.5 / logitInput, 12);
  });

  it('respects the maximum length and k', () => {
    const graph = handGraph([
      ['E_1_1', '0_5_1', 2],
      ['0_5_1', '1_7_2', 3],
      ['1_7_2', '3_100_2', 4],
      ['E_1_1', '3_100_2', 0.5],
    ]);
    expect(findTopPaths(graph, { from: 'E_1_1', to: '3_100_2', maxLength: 2 }).map((p) => p.nodeIds)).toEqual([
      ['E_1_1', '3_100_2'],
    ]);
    expect(findTopPaths(graph, { from: 'E_1_1', to: '3_100_2', k: 1 })).toHaveLength(1);
    expect(findTopPaths(graph, { from: '3_100_2', to: 'E_1_1' })).toEqual([]); // edges only go forward
  });

  it('breaks score ties by node ids, so the order never depends on storage order', () => {
    const edges: [string, string, number][] = [
      ['E_1_1', '1_8_2', 1],
      ['E_1_1', '1_7_2', 1],
      ['1_8_2', '3_100_2', 1],
      ['1_7_2', '3_100_2', 1],
    ];
    const forward = findTopPaths(handGraph(edges), { from: 'E_1_1', to: '3_100_2' });
    const backward = findTopPaths(handGraph([...edges].reverse()), { from: 'E_1_1', to: '3_100_2' });
    expect(forward.map((p) => p.nodeIds[1])).toEqual(['1_7_2', '1_8_2']);
    expect(backward).toEqual(forward);
  });

  it('ends at any logit when no target is named', () => {
    const graph = handGraph([
      ['E_1_1', '0_5_1', 1],
      ['0_5_1', '3_100_2', 1],
      ['0_5_1', '3_101_2', 3],
      ['E_2_2', '3_101_2', 1],
    ]);
    const paths = findTopPaths(graph, { from: 'E_1_1', to: null });
    expect(paths.map((p) => p.nodeIds[2])).toEqual(['3_100_2', '3_101_2']);
    expect(paths.map((p) => p.score)).toEqual([1, 0.75]);
  });

  it('matches exhaustive enumeration on random attribution graphs', () => {
    for (let seed = 1; seed <= 6; seed++) {
      const graph = randomGraph({ id: `p${seed}`, seed, nodes: 70, edges: 500, nLayers: 4, nPos: 5, featurePool: 12 });
      const logit = graph.nodes.find((n) => n.kind === 'logit')!;
      for (const from of graph.nodes.filter((n) => n.kind === 'embedding').slice(1, 4)) {
        for (const maxLength of [2, 4]) {
          const expected = allPathsByDefinition(graph, from.nodeId, (id) => id === logit.nodeId, maxLength).slice(0, 7);
          const actual = findTopPaths(graph, { from: from.nodeId, to: logit.nodeId, k: 7, maxLength });
          expect(actual.map((p) => p.nodeIds)).toEqual(expected.map((p) => p.nodeIds));
          actual.forEach((p, i) => expect(Math.abs(p.score - expected[i].score)).toBeLessThan(1e-12));
        }
      }
    }
  });

  it('finds the strongest routes to the top logit of a real circuit-tracer graph', () => {
    const json = JSON.parse(readFileSync('tracer/test/fixtures/reference/llama-tiny/dallas-state.graph.json', 'utf8'));
    const graph = fromGraphJson(json, { createdAt: '2026-01-01T00:00:00.000Z' });
    const top = graph.nodes.filter((n) => n.kind === 'logit').sort((a, b) => b.tokenProb! - a.tokenProb!)[0];
    const dallas = graph.nodes.find((n) => n.kind === 'embedding' && graph.promptTokens[n.ctxIdx] === 'Dallas')!;
    const paths = findTopPaths(graph, { from: dallas.nodeId, to: top.nodeId, k: 5, maxLength: 6 });
    expect(paths.length).toBeGreaterThan(0);
    const edgeWeight = new Map(graph.edges.map((e) => [`${e.source}>${e.target}`, e.weight]));
    for (const p of paths) {
      expect(p.nodeIds[0]).toBe(dallas.nodeId);
      expect(p.nodeIds.at(-1)).toBe(top.nodeId);
      expect(p.weights).toEqual(p.nodeIds.slice(1).map((t, i) => edgeWeight.get(`${p.nodeIds[i]}>${t}`)));
    }
    for (let i = 1; i < paths.length; i++) expect(paths[i].score).toBeLessThanOrEqual(paths[i - 1].score);
    const expected = allPathsByDefinition(graph, dallas.nodeId, (id) => id === top.nodeId, 6).slice(0, 5);
    expect(paths.map((p) => p.nodeIds)).toEqual(expected.map((p) => p.nodeIds));
  });

  it('names the unknown node or bad option', () => {
    const graph = handGraph([['E_1_1', '3_100_2', 1]]);
    expect(() => findTopPaths(graph, { from: 'nope', to: '3_100_2' })).toThrow(UserInputError);
    expect(() => findTopPaths(graph, { from: 'E_1_1', to: 'nope' })).toThrow(/has no node 'nope' to end a path at/);
    expect(() => findTopPaths(graph, { from: 'E_1_1', to: '3_100_2', k: 0 })).toThrow(
      /k must be an integer from 1 to 100/,
    );
    expect(() => findTopPaths(graph, { from: 'E_1_1', to: '3_100_2', maxLength: 0 })).toThrow(/maxLength must be/);
  });
});
