/**
 * The viewer's reads on both stores: a graph's kept nodes without its edges, and the kept edges
 * touching a few nodes with their targets' input totals (DESIGN.md decision 8). Expected answers
 * come from the saved document and the pruning rule (store-answers.ts `prunedDocument`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GraphDocument } from '@circuit-atlas/schema';
import { neo4jUri } from '../../test-support/neo4j.js';
import { randomGraph } from '../../test-support/graph-generator.js';
import type { EdgeDirection, GraphStore } from '../src/store/graph-store.js';
import { StoreError } from '../src/store/store-error.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { Neo4jStore } from '../src/store/neo4j/neo4j-store.js';
import { expectSameAnswer, prunedDocument } from './store-answers.js';

const RUN = `ie${Date.now().toString(36)}`;
const tempDir = mkdtempSync(join(tmpdir(), 'atlas-incident-'));

const STORES: { name: string; open: () => GraphStore }[] = [
  { name: 'sqlite', open: () => new SqliteStore(join(tempDir, 'incident.sqlite')) },
  { name: 'neo4j', open: () => new Neo4jStore({ uri: neo4jUri(), batchSize: 500 }) },
];

/** What getIncidentEdges must answer, from the document. */
function expectedIncident(
  graph: GraphDocument,
  nodeIds: string[],
  direction: EdgeDirection,
  nodeThreshold?: number,
  edgeThreshold?: number,
) {
  const pruned = prunedDocument(graph, nodeThreshold, edgeThreshold);
  const asked = new Set(nodeIds);
  const edges = pruned.edges.filter(
    (e) => (direction !== 'out' && asked.has(e.target)) || (direction !== 'in' && asked.has(e.source)),
  );
  const totals = new Map<string, number>();
  const kept = new Set(pruned.nodes.map((n) => n.nodeId));
  for (const target of nodeIds.filter((id) => kept.has(id) && pruned.edges.some((e) => e.target === id))) {
    totals.set(
      target,
      pruned.edges.filter((e) => e.target === target).reduce((sum, e) => sum + Math.abs(e.weight), 0),
    );
  }
  return { edges, targetInputTotals: totals };
}

const sortedTotals = (totals: Map<string, number>) => [...totals.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1));

describe.each(STORES)('viewer reads on $name', ({ open }) => {
  let store: GraphStore;
  const graph = randomGraph({ id: `${RUN}-g`, seed: 7, nodes: 150, edges: 1500, nPos: 8, model: `incident-${RUN}` });

  beforeAll(async () => {
    store = open();
    await store.init();
    await store.saveGraph(graph);
  });

  afterAll(async () => {
    await store.deleteGraph(graph.id);
    await store.close();
  });

  it('reads the kept nodes in saved order and no edges', async () => {
    for (const [nodeThreshold, edgeThreshold] of [
      [undefined, undefined],
      [0.5, 0.9],
    ] as const) {
      const expected = prunedDocument(graph, nodeThreshold, edgeThreshold);
      const nodesOnly = await store.getGraphNodes(graph.id, { nodeThreshold, edgeThreshold });
      expectSameAnswer(nodesOnly, { ...expected, edges: [] });
    }
    expect(await store.getGraphNodes(`${RUN}-missing`)).toBeNull();
  });

  it('reads the kept edges touching the asked nodes, each once, with the asked nodes’ input totals', async () => {
    const features = graph.nodes.filter((n) => n.kind === 'feature');
    const logit = graph.nodes.find((n) => n.kind === 'logit')!;
    // Two connected nodes: the edge between them must come once.
    const linked = graph.edges.find((e) => features.some((f) => f.nodeId === e.source) && e.target !== logit.nodeId)!;
    const asked = [linked.source, linked.target, logit.nodeId];
    for (const [direction, nodeThreshold, edgeThreshold] of [
      ['both', undefined, undefined],
      ['in', undefined, undefined],
      ['out', 0.6, 0.8],
      ['both', 0.4, 0.7],
    ] as const) {
      const answer = await store.getIncidentEdges(graph.id, asked, { direction, nodeThreshold, edgeThreshold });
      const expected = expectedIncident(graph, asked, direction, nodeThreshold, edgeThreshold);
      expect(expected.edges.length).toBeGreaterThan(0);
      expectSameAnswer(answer!.edges, expected.edges);
      expectSameAnswer(sortedTotals(answer!.targetInputTotals), sortedTotals(expected.targetInputTotals));
    }
    const none = await store.getIncidentEdges(graph.id, ['no-such-node'], { direction: 'both' });
    expect(none!.edges).toEqual([]);
    expect(await store.getIncidentEdges(`${RUN}-missing`, asked, { direction: 'both' })).toBeNull();
    await expect(store.getIncidentEdges(graph.id, asked, { direction: 'sideways' as EdgeDirection })).rejects.toThrow(
      StoreError,
    );
  });
});

afterAll(() => rmSync(tempDir, { recursive: true, force: true }));
