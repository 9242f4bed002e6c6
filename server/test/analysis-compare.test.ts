/**
 * Graph comparison (server/src/analysis/compare.ts): features matched by (model, transcoder set,
 * layer, index) at the same position counted from the end of the prompt; only-in-one features;
 * shared edges with both weights. Checked on a constructed pair and on real circuit-tracer graphs.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import type { GraphDocument } from '@circuit-atlas/schema';
import { formatNodeId } from '@circuit-atlas/schema';
import { fromGraphJson } from '@circuit-atlas/tracer';
import { compareGraphs } from '../src/analysis/compare.js';
import { randomGraph } from '../../test-support/graph-generator.js';

/** B = A with `extra` tokens prepended after BOS: same features, every position shifted right. */
function shiftedCopy(a: GraphDocument, extra: number): GraphDocument {
  const shiftId = new Map<string, string>();
  const nodes = a.nodes.map((n) => {
    const ctxIdx = n.ctxIdx === 0 ? 0 : n.ctxIdx + extra;
    const moved = { ...n, ctxIdx, nodeId: formatNodeId(n.kind, n.layer, ctxIdx, n.feature, a.nLayers) };
    shiftId.set(n.nodeId, moved.nodeId);
    return moved;
  });
  return {
    ...a,
    id: `${a.id}-shifted`,
    promptTokens: [a.promptTokens[0], ...Array.from({ length: extra }, () => 'so'), ...a.promptTokens.slice(1)],
    tokenIds: [a.tokenIds[0], ...Array.from({ length: extra }, () => 7), ...a.tokenIds.slice(1)],
    nodes,
    edges: a.edges.map((e) => ({ ...e, source: shiftId.get(e.source)!, target: shiftId.get(e.target)! })),
  };
}

const fixture = (path: string) =>
  fromGraphJson(JSON.parse(readFileSync(`tracer/test/fixtures/reference/${path}`, 'utf8')), {
    createdAt: '2026-01-01T00:00:00.000Z',
  });

describe('compareGraphs', () => {
  it('aligns positions from the end of the prompt and reports activation, influence and weight differences', () => {
    const a = randomGraph({ id: 'a', seed: 11, nodes: 120, edges: 900, featurePool: 30 });
    const b = shiftedCopy(a, 2);
    const dropped = b.nodes.find((n) => n.kind === 'feature')!;
    b.nodes = b.nodes.filter((n) => n !== dropped);
    b.edges = b.edges.filter((e) => e.source !== dropped.nodeId && e.target !== dropped.nodeId);
    const added = {
      ...dropped,
      nodeId: formatNodeId('feature', 0, 1, 9999, b.nLayers),
      layer: 0,
      ctxIdx: 1,
      feature: 9999,
    };
    b.nodes.push(added);
    const changed = b.nodes.find((n) => n.kind === 'feature' && n !== added)!;
    changed.activation = changed.activation! + 1.5;
    b.edges[0] = { ...b.edges[0], weight: b.edges[0].weight * -2 };

    const result = compareGraphs(a, b);
    const featuresA = a.nodes.filter((n) => n.kind === 'feature');
    expect(result.shared).toHaveLength(featuresA.length - 1);
    expect(result.onlyInA.map((n) => n.nodeId)).toEqual([
      formatNodeId('feature', dropped.layer, dropped.ctxIdx - 2, dropped.feature, a.nLayers),
    ]);
    expect(result.onlyInB.map((n) => n.nodeId)).toEqual([added.nodeId]);
    for (const s of result.shared) {
      const nodeA = a.nodes.find((n) => n.nodeId === s.nodeIdA)!;
      const nodeB = b.nodes.find((n) => n.nodeId === s.nodeIdB)!;
      expect([nodeB.layer, nodeB.feature]).toEqual([nodeA.layer, nodeA.feature]);
      expect(nodeB.ctxIdx).toBe(nodeA.ctxIdx + 2);
      expect(s.positionFromEnd).toBe(a.promptTokens.length - 1 - nodeA.ctxIdx);
      expect([s.activationA, s.activationB, s.influenceA, s.influenceB]).toEqual([
        nodeA.activation,
        nodeB.activation,
        nodeA.influence,
        nodeB.influence,
      ]);
    }
    const changedPair = result.shared.find((s) => s.nodeIdB === changed.nodeId)!;
    expect(changedPair.activationB! - changedPair.activationA!).toBeCloseTo(1.5, 12);
    // Every edge not touching the dropped feature is shared; the doubled, sign-flipped one differs most.
    expect(result.sharedEdges).toHaveLength(
      b.edges.filter((e) => e.source !== added.nodeId && e.target !== added.nodeId).length,
    );
    expect(result.sharedEdges[0]).toMatchObject({
      sourceB: b.edges[0].source,
      targetB: b.edges[0].target,
      weightB: b.edges[0].weight,
    });
    expect(result.sharedEdges[0].weightA).toBe(-b.edges[0].weight / 2);
    expect(result.sharedEdges.slice(1).every((e) => e.weightA === e.weightB)).toBe(true);
    expect(result.graphA).toMatchObject({ id: 'a', nodeCount: a.nodes.length, edgeCount: a.edges.length });
  });

  it('orders shared features by layer, index and position, and is symmetric', () => {
    const a = randomGraph({ id: 'a', seed: 21, nodes: 150, edges: 600, featurePool: 10 });
    const b = randomGraph({ id: 'b', seed: 22, nodes: 150, edges: 600, featurePool: 10 });
    const ab = compareGraphs(a, b);
    const ba = compareGraphs(b, a);
    expect(ab.shared.length).toBeGreaterThan(5);
    const keys = ab.shared.map((s) => [s.layer, s.index, -s.positionFromEnd]);
    expect(keys).toEqual([...keys].sort((x, y) => x[0] - y[0] || x[1] - y[1] || x[2] - y[2]));
    expect(ba.shared.map((s) => s.nodeIdA).sort()).toEqual(ab.shared.map((s) => s.nodeIdB).sort());
    expect(ba.onlyInA).toEqual(ab.onlyInB);
    expect(ba.sharedEdges.length).toBe(ab.sharedEdges.length);
  });

  it('shares no features between different models or transcoder sets', () => {
    const a = randomGraph({ id: 'a', seed: 31, nodes: 100, edges: 400, featurePool: 10 });
    const otherSet = { ...a, id: 'b', transcoderSet: 'atlas-world-llama/clt' };
    const result = compareGraphs(a, otherSet);
    expect(result.shared).toEqual([]);
    expect(result.onlyInA).toHaveLength(a.nodes.filter((n) => n.kind === 'feature').length);
    // Embeddings, errors and logits still line up, so edges among them are still shared.
    const kindOf = new Map(a.nodes.map((n) => [n.nodeId, n.kind]));
    expect(result.sharedEdges.length).toBeGreaterThan(0);
    expect(
      result.sharedEdges.every((e) => kindOf.get(e.sourceA) !== 'feature' && kindOf.get(e.targetA) !== 'feature'),
    ).toBe(true);
    expect(compareGraphs(a, a).shared).toHaveLength(a.nodes.filter((n) => n.kind === 'feature').length);
  });

  it('compares two real circuit-tracer graphs of one model on different prompts', () => {
    const a = fixture('llama-tiny/dallas-state.graph.json');
    const b = fixture('llama-tiny/capital-of-texas.graph.json');
    const result = compareGraphs(a, b);
    const featuresA = a.nodes.filter((n) => n.kind === 'feature').length;
    const featuresB = b.nodes.filter((n) => n.kind === 'feature').length;
    expect(result.shared.length + result.onlyInA.length).toBe(featuresA);
    expect(result.shared.length + result.onlyInB.length).toBe(featuresB);
    for (const s of result.shared) {
      expect(s.nodeIdA.split('_')[0]).toBe(s.nodeIdB.split('_')[0]);
      expect(a.promptTokens.length - 1 - Number(s.nodeIdA.split('_')[2])).toBe(s.positionFromEnd);
      expect(b.promptTokens.length - 1 - Number(s.nodeIdB.split('_')[2])).toBe(s.positionFromEnd);
    }
    const weightB = new Map(b.edges.map((e) => [`${e.source}>${e.target}`, e.weight]));
    for (const e of result.sharedEdges) expect(weightB.get(`${e.sourceB}>${e.targetB}`)).toBe(e.weightB);
  });
});
