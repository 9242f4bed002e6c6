/**
 * Graph.nodeTable, the compact node encoding the viewer reads (issue 12): over the real server and a
 * real SQLite store, it carries exactly the nodes of `Graph.nodes` in the same order, with each
 * node's shownLabel, so edge tables index it as they index `nodes`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unpackEdgeTable, unpackNodeTable, type EdgeTable, type NodeTable } from '@circuit-atlas/schema';
import { randomGraph } from '../../test-support/graph-generator.js';
import { ModelCatalog } from '../src/models/catalog.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { startServer, type RunningServer } from '../src/app.js';

const tempDir = mkdtempSync(join(tmpdir(), 'atlas-node-table-'));
const doc = randomGraph({ id: 'node-table', seed: 3, nodes: 400, edges: 6000, nLayers: 6, nPos: 8 });
const labelled = doc.nodes.find((n) => n.kind === 'feature')!;
let server: RunningServer;
let store: SqliteStore;

const NODE_FIELDS = 'nodeId kind layer ctxIdx feature activation influence tokenProb isTargetLogit label shownLabel';
const TABLE_FIELDS =
  'nodeIds kinds layers ctxIdx features activations influences tokenProbs isTargetLogit labels shownLabels';

async function query<T>(text: string, variables: Record<string, unknown>): Promise<T> {
  const response = await fetch(`${server.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: text, variables }),
  });
  const body = (await response.json()) as { data?: T; errors?: { message: string }[] };
  if (!body.data) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

beforeAll(async () => {
  store = new SqliteStore(join(tempDir, 'atlas.sqlite'));
  await store.init();
  await store.saveGraph(doc);
  await store.setFeatureLabel(
    { model: doc.model, transcoderSet: doc.transcoderSet, layer: labelled.layer, index: labelled.feature! },
    'a saved label',
    'tester',
  );
  server = await startServer({ store, catalog: new ModelCatalog(join(tempDir, 'no-models')), port: 0 });
});

afterAll(async () => {
  await server?.close();
  await store?.close();
  rmSync(tempDir, { recursive: true, force: true });
});

describe('Graph.nodeTable', () => {
  it.each([null, 0.5])('holds the nodes of Graph.nodes in their order (node threshold %s)', async (threshold) => {
    const ids = doc.nodes.filter((n) => n.kind === 'logit').map((n) => n.nodeId);
    const data = await query<{
      graph: {
        nodes: Record<string, unknown>[];
        nodeTable: NodeTable;
        incidentEdges: { table: EdgeTable };
      };
    }>(
      `query($id: ID!, $nt: Float, $ids: [ID!]!) { graph(id: $id, nodeThreshold: $nt) {
        nodes { ${NODE_FIELDS} } nodeTable { ${TABLE_FIELDS} } incidentEdges(nodeIds: $ids) { table { sources targets weights } } } }`,
      { id: doc.id, nt: threshold, ids },
    );
    const { nodes, nodeTable, incidentEdges } = data.graph;
    const unpacked = unpackNodeTable(nodeTable);
    expect(unpacked).toEqual(nodes);
    if (threshold !== null) expect(unpacked.length).toBeLessThan(doc.nodes.length);
    // Edge tables index the table as they index the node list.
    expect(unpackEdgeTable(unpacked, incidentEdges.table)).toEqual(
      unpackEdgeTable(nodes as { nodeId: string }[], incidentEdges.table),
    );
    const saved = unpacked.find((n) => n.nodeId === labelled.nodeId);
    if (saved) expect(saved.shownLabel).toBe('a saved label');
  });

  it('keeps the stored labels when shownLabels is not asked for', async () => {
    const data = await query<{ graph: { nodeTable: Pick<NodeTable, 'nodeIds' | 'labels'> } }>(
      'query($id: ID!) { graph(id: $id) { nodeTable { nodeIds labels } } }',
      { id: doc.id },
    );
    expect(data.graph.nodeTable.nodeIds).toEqual(doc.nodes.map((n) => n.nodeId));
    expect(data.graph.nodeTable.labels).toEqual(doc.nodes.map((n) => n.label));
  });
});
