/**
 * What the viewer reads, over real HTTP on both stores: a graph's nodes without its edges, then the
 * kept edges of clicked and pinned nodes packed by node index with their shares
 * (`Graph.incidentEdges`), charged by what they read rather than by the whole graph.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unpackEdgeTable, type EdgeTable } from '@circuit-atlas/schema';
import { startServer, type RunningServer } from '../src/app.js';
import { ModelCatalog } from '../src/models/catalog.js';
import type { GraphStore } from '../src/store/graph-store.js';
import { randomGraph } from '../../test-support/graph-generator.js';
import { FIXTURE_MODELS, STORE_CASES, gql, gqlData } from './api-support.js';
import { prunedDocument } from './store-answers.js';

const RUN = `ai${Date.now().toString(36)}`;

interface Served {
  graph: {
    nodes: { nodeId: string }[];
    incidentEdges: { table: EdgeTable; shares: (number | null)[] };
  };
}

const VIEWER_QUERY = `query($id: ID!, $nt: Float, $ids: [ID!]!, $dir: IncidentDirection) {
  graph(id: $id, nodeThreshold: $nt) {
    id prompt promptTokens model nLayers createdAt nodeCount settings { nodeThreshold } scores { replacement }
    views { id }
    nodes { nodeId }
    incidentEdges(nodeIds: $ids, direction: $dir) { table { sources targets weights } shares }
  }
}`;

describe.each(STORE_CASES)('incident edges over the API on $name', (storeCase) => {
  let store: GraphStore;
  let cleanup: () => void;
  let server: RunningServer;
  let tight: RunningServer;
  const graph = randomGraph({ id: `${RUN}-g`, seed: 21, nodes: 400, edges: 12_000, nPos: 10, model: `api-${RUN}` });

  beforeAll(async () => {
    ({ store, cleanup } = await storeCase.open());
    await store.saveGraph(graph);
    const catalog = new ModelCatalog(FIXTURE_MODELS);
    server = await startServer({ store, catalog });
    // Whole-graph reads of this graph (12,400 rows) break this limit; per-node reads must not.
    tight = await startServer({ store, catalog, queryLimits: { maxCost: 9_000 } });
  });

  afterAll(async () => {
    await server?.close();
    await tight?.close();
    await store?.deleteGraph(graph.id);
    await store?.close();
    cleanup?.();
  });

  it('serves the kept nodes and only the kept edges of the asked nodes, packed by node index, with shares', async () => {
    const pruned = prunedDocument(graph, 0.7);
    const feature = pruned.nodes.find((n) => n.kind === 'feature' && pruned.edges.some((e) => e.source === n.nodeId))!;
    const logit = pruned.nodes.find((n) => n.kind === 'logit')!;
    const asked = [feature.nodeId, logit.nodeId];
    const { graph: served } = await gqlData<Served>(server.url, VIEWER_QUERY, { id: graph.id, nt: 0.7, ids: asked });
    expect(served.nodes.map((n) => n.nodeId)).toEqual(pruned.nodes.map((n) => n.nodeId));
    const edges = unpackEdgeTable(served.nodes, served.incidentEdges.table);
    const expected = pruned.edges.filter((e) => asked.includes(e.source) || asked.includes(e.target));
    expect(edges).toHaveLength(expected.length);
    expect(edges.length).toBeLessThan(pruned.edges.length / 4);
    expected.forEach((e, i) => {
      expect(edges[i].source).toBe(e.source);
      expect(edges[i].target).toBe(e.target);
      expect(edges[i].weight).toBeCloseTo(e.weight, 9);
      if (!asked.includes(e.target)) return expect(served.incidentEdges.shares[i]).toBeNull();
      const total = pruned.edges.filter((x) => x.target === e.target).reduce((sum, x) => sum + Math.abs(x.weight), 0);
      expect(served.incidentEdges.shares[i]).toBeCloseTo(e.weight / total, 9);
    });
    // Direction 'in' keeps only the edges into the asked nodes.
    const inbound = await gqlData<Served>(server.url, VIEWER_QUERY, { id: graph.id, nt: 0.7, ids: asked, dir: 'in' });
    const inEdges = unpackEdgeTable(inbound.graph.nodes, inbound.graph.incidentEdges.table);
    expect(inEdges).toHaveLength(expected.filter((e) => asked.includes(e.target)).length);
  });

  it('charges a per-node read by what it reads: within a limit that a whole-graph read breaks', async () => {
    const whole = await gql(
      tight.url,
      'query($id: ID!) { graph(id: $id) { nodes { nodeId } edgeTable { sources targets weights } } }',
      { id: graph.id },
    );
    expect(whole.errors?.[0].message).toMatch(/query cost \d+ exceeds the limit of 9000/);
    const logit = graph.nodes.find((n) => n.kind === 'logit')!;
    const perNode = await gql<Served>(tight.url, VIEWER_QUERY, { id: graph.id, ids: [logit.nodeId] });
    expect(perNode.errors).toBeUndefined();
    expect(perNode.data!.graph.incidentEdges.table.weights.length).toBeGreaterThan(0);
  });

  it('says which node id is not in the served graph', async () => {
    const pruned = prunedDocument(graph, 0.2);
    const dropped = graph.nodes.find((n) => !pruned.nodes.some((p) => p.nodeId === n.nodeId))!;
    const response = await gql(server.url, VIEWER_QUERY, { id: graph.id, nt: 0.2, ids: [dropped.nodeId] });
    expect(response.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
    expect(response.errors?.[0].message).toContain(`has no node '${dropped.nodeId}' at these thresholds`);
  });
});
