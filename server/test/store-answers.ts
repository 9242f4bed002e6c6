/**
 * What the GraphStore contract says each query returns, computed directly from the saved
 * GraphDocuments in plain TypeScript, plus the float-tolerant comparison the contract tests use.
 * The stores compute the same answers in SQL and Cypher; the tests check both against these.
 */
import { expect } from 'vitest';
import type { GraphDocument, GraphEdge, GraphNode } from '@circuit-atlas/schema';

/** Asserts deep equality, numbers equal within 1e-9 (both stores keep float64). */
export function expectSameAnswer(actual: unknown, expected: unknown, path = '$'): void {
  if (typeof expected === 'number' && typeof actual === 'number') {
    if (Math.abs(actual - expected) > 1e-9)
      expect.fail(`${path}: ${actual} differs from ${expected} by more than 1e-9`);
    return;
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) expect.fail(`${path}: expected an array, got ${JSON.stringify(actual)?.slice(0, 200)}`);
    if (actual.length !== expected.length) expect.fail(`${path}: length ${actual.length}, expected ${expected.length}`);
    expected.forEach((item, i) => expectSameAnswer(actual[i], item, `${path}[${i}]`));
    return;
  }
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object')
      expect.fail(`${path}: expected an object, got ${JSON.stringify(actual)}`);
    const a = actual as Record<string, unknown>;
    const e = expected as Record<string, unknown>;
    expect(Object.keys(a).sort(), `${path}: keys`).toEqual(Object.keys(e).sort());
    for (const key of Object.keys(e)) expectSameAnswer(a[key], e[key], `${path}.${key}`);
    return;
  }
  expect(actual, path).toStrictEqual(expected);
}

/** getGraph's pruning rule, as graph-store.ts states it. */
export function prunedDocument(graph: GraphDocument, nodeThreshold?: number, edgeThreshold?: number): GraphDocument {
  const keep = (n: GraphNode) =>
    nodeThreshold === undefined ||
    n.kind === 'embedding' ||
    n.kind === 'logit' ||
    n.influence === null ||
    n.influence <= nodeThreshold;
  const nodes = graph.nodes.filter(keep);
  const kept = new Set(nodes.map((n) => n.nodeId));
  const edges = graph.edges.filter(
    (e) =>
      kept.has(e.source) &&
      kept.has(e.target) &&
      (edgeThreshold === undefined || e.influence === null || e.influence <= edgeThreshold),
  );
  return { ...graph, nodes, edges };
}

/** getNodeEdges' order: |weight| descending, then the other end's node id. */
export function incidentEdges(graph: GraphDocument, nodeId: string, direction: 'in' | 'out'): GraphEdge[] {
  const own = direction === 'in' ? 'target' : 'source';
  const other = direction === 'in' ? 'source' : 'target';
  return graph.edges
    .filter((e) => e[own] === nodeId)
    .sort(
      (a, b) => Math.abs(b.weight) - Math.abs(a.weight) || (a[other] < b[other] ? -1 : a[other] > b[other] ? 1 : 0),
    );
}

const featureKeyOf = (g: GraphDocument, n: GraphNode) =>
  `${g.model}\u0000${g.transcoderSet}\u0000${n.layer}\u0000${n.feature}`;

/** graphsSharingFeatures: distinct shared features per other graph, most first, ties by id. */
export function sharingCounts(graphs: GraphDocument[], graphId: string) {
  const mine = graphs.find((g) => g.id === graphId)!;
  const myKeys = new Set(mine.nodes.filter((n) => n.kind === 'feature').map((n) => featureKeyOf(mine, n)));
  return graphs
    .filter((g) => g.id !== graphId)
    .map((g) => {
      const keys = new Set(g.nodes.filter((n) => n.kind === 'feature').map((n) => featureKeyOf(g, n)));
      return { graphId: g.id, prompt: g.prompt, sharedFeatureCount: [...keys].filter((k) => myKeys.has(k)).length };
    })
    .filter((s) => s.sharedFeatureCount > 0)
    .sort((a, b) => b.sharedFeatureCount - a.sharedFeatureCount || (a.graphId < b.graphId ? -1 : 1));
}

/** featureOccurrences: newest graph first, then graph id, then node order. */
export function occurrences(
  graphs: GraphDocument[],
  model: string,
  transcoderSet: string,
  layer: number,
  index: number,
) {
  return [...graphs]
    .sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt) || (a.id < b.id ? -1 : 1))
    .flatMap((g) =>
      g.model === model && g.transcoderSet === transcoderSet
        ? g.nodes
            .filter((n) => n.kind === 'feature' && n.layer === layer && n.feature === index)
            .map((node) => ({ graphId: g.id, prompt: g.prompt, node }))
        : [],
    );
}
