/**
 * Collections and batches over real HTTP, on both stores: traceBatch queues demo prompts on the
 * server's in-process queue (each traced in a tracer process), `batch` reports progress and
 * per-prompt failures, a second traceBatch stores nothing twice, cancelBatch answers for unknown
 * batches; then the traced graphs answer commonCircuit, graphClusters, graphsUsingFeature and
 * graphsUsingPath with what the library says about the same store.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolve } from 'node:path';
import { startServer, type RunningServer } from '../src/app.js';
import { ModelCatalog } from '../src/models/catalog.js';
import type { GraphStore } from '../src/store/graph-store.js';
import { collectionQueriesOf, commonCircuit, graphsUsingFeature, graphsUsingPath } from '../src/analysis/collection.js';
import { STORE_CASES, gql, gqlData } from './api-support.js';
import { demoPrompts, eventually } from './queue-support.js';

const MODELS = resolve(import.meta.dirname, '../../models');
const LIMIT_MS = 300_000;
const run = `capi-${Date.now().toString(36)}`;

const BATCH = `
  fragment B on Batch {
    id model queue total progress finished cancelled
    counts { queued running retrying done failed cancelled }
    prompts { graphId prompt state attempts error }
  }`;

// Tracer processes on a loaded two-core machine: limits that guard against hangs, not a pace.
describe.each(STORE_CASES)('collections and batches over the API on $name', { timeout: 900_000 }, (storeCase) => {
  let store: GraphStore;
  let cleanup: () => void;
  let server: RunningServer;
  const prompts = demoPrompts(3, 70 + (storeCase.name === 'neo4j' ? 5 : 0));
  const ids = prompts.map((_, i) => `${run}-${storeCase.name}-${i}`);

  beforeAll(async () => {
    ({ store, cleanup } = await storeCase.open());
    server = await startServer({ store, catalog: new ModelCatalog(MODELS) });
  });
  afterAll(async () => {
    await server?.close();
    for (const id of ids) await store.deleteGraph(id).catch(() => false);
    await store?.close();
    cleanup?.();
  });

  it('traces a batch, reports each prompt, and stores nothing twice when it is sent again', async () => {
    const variables = {
      prompts: [
        ...prompts.map((prompt, i) => ({ prompt, id: ids[i] })),
        { prompt: prompts[0], id: `${run}-${storeCase.name}-bad`, target: ' Atlantis' },
      ],
      id: `${run}-${storeCase.name}`,
      model: 'atlas-world',
    };
    const mutation = `${BATCH} mutation($prompts: [BatchPromptInput!]!, $id: ID, $model: ID) {
      traceBatch(prompts: $prompts, id: $id, model: $model) { ...B } }`;
    const submitted = await gqlData<{ traceBatch: { total: number; queue: string } }>(server.url, mutation, variables);
    expect(submitted.traceBatch).toMatchObject({ total: 4, queue: 'in-process queue' });
    type Batch = {
      finished: boolean;
      counts: Record<string, number>;
      prompts: { graphId: string; state: string; error: string | null }[];
    };
    const query = `${BATCH} query($id: ID!) { batch(id: $id) { ...B } }`;
    const done = await eventually('the batch finishing', LIMIT_MS, async () => {
      const { batch } = await gqlData<{ batch: Batch }>(server.url, query, { id: variables.id });
      return batch.finished ? batch : undefined;
    });
    expect(done.counts).toMatchObject({ done: 3, failed: 1 });
    expect(done.prompts.find((p) => p.state === 'failed')!.error).toMatch(
      /target " Atlantis" .* is not among its top logits/,
    );
    for (const id of ids) expect(await store.graphSize(id)).not.toBeNull();

    const again = await gqlData<{ traceBatch: Batch }>(server.url, mutation, variables);
    expect(again.traceBatch.counts.done).toBe(3);
    const failedOnly = await gqlData<{ batch: { prompts: { graphId: string }[] } }>(
      server.url,
      `query($id: ID!) { batch(id: $id) { prompts(state: done) { graphId } } }`,
      { id: variables.id },
    );
    expect(failedOnly.batch.prompts.map((p) => p.graphId).sort()).toEqual([...ids].sort());

    const unknown = await gql(server.url, `mutation { cancelBatch(id: "no-such-batch") { id } }`);
    expect(unknown.errors?.[0].extensions?.code).toBe('NOT_FOUND');
    expect(unknown.errors?.[0].message).toMatch(/no batch 'no-such-batch'/);
    const none = await gqlData<{ batch: null }>(server.url, `query { batch(id: "no-such-batch") { id } }`);
    expect(none.batch).toBeNull();
  });

  it('answers collection questions about the traced graphs as the library does', async () => {
    const collection = { model: 'atlas-world', graphIds: ids };
    const { commonCircuit: circuit } = await gqlData<{
      commonCircuit: {
        graphCount: number;
        features: { layer: number; index: number; graphCount: number; activation: { mean: number } }[];
        edges: { targetKind: string; targetToken: string | null }[];
      };
    }>(
      server.url,
      `query($c: CollectionInput!) { commonCircuit(collection: $c, minShare: 1) {
         graphCount features { layer index graphCount activation { mean spread } }
         edges { sourceLayer sourceIndex targetKind targetLayer targetIndex targetToken graphCount weight { mean spread } } } }`,
      { c: collection },
    );
    const queries = collectionQueriesOf(store);
    try {
      const expected = await commonCircuit(queries, collection, { minShare: 1 });
      expect(circuit.graphCount).toBe(3);
      expect(circuit.features.map((f) => `${f.layer}:${f.index}`)).toEqual(
        expected.features.map((f) => `${f.layer}:${f.index}`),
      );
      expect(circuit.features.length).toBeGreaterThan(0);
      expect(circuit.edges.length).toBe(expected.edges.length);
      const top = expected.features[0];
      const uses = await gqlData<{
        graphsUsingFeature: { total: number; items: { graphId: string; occurrences: number }[] };
      }>(
        server.url,
        `query($c: CollectionInput!, $l: Int!, $i: Int!) { graphsUsingFeature(collection: $c, layer: $l, index: $i) { collectionSize total items { graphId occurrences maxActivation } } }`,
        { c: collection, l: top.layer, i: top.index },
      );
      const direct = await graphsUsingFeature(queries, collection, top);
      expect(uses.graphsUsingFeature.total).toBe(3);
      expect(uses.graphsUsingFeature.items.map((i) => i.graphId)).toEqual(direct.items.map((i) => i.graphId));
    } finally {
      await queries.close();
    }
    const clusters = await gqlData<{ graphClusters: { graphCount: number; clusters: { graphIds: string[] }[] } }>(
      server.url,
      `query($c: CollectionInput!) { graphClusters(collection: $c, minSimilarity: 0.1) { graphCount clusters { graphIds cohesion features { layer index graphCount } } } }`,
      { c: collection },
    );
    expect(clusters.graphClusters.graphCount).toBe(3);
    expect(clusters.graphClusters.clusters.flatMap((c) => c.graphIds).sort()).toEqual([...ids].sort());
    const top = circuit.features[0];
    const path = await gqlData<{ graphsUsingPath: { total: number; items: { graphId: string; paths: number }[] } }>(
      server.url,
      `query($c: CollectionInput!, $from: String!) { graphsUsingPath(collection: $c, from: $from, to: "logit: Austin", maxHops: 3) { total items { graphId paths strongest total } } }`,
      { c: collection, from: `${top.layer}:${top.index}` },
    );
    const pathQueries = collectionQueriesOf(store);
    try {
      const direct = await graphsUsingPath(
        pathQueries,
        collection,
        { kind: 'feature', layer: top.layer, index: top.index },
        { kind: 'logit', token: ' Austin' },
        { maxHops: 3 },
      );
      expect(path.graphsUsingPath.total).toBe(direct.total);
      expect(path.graphsUsingPath.items.map((i) => [i.graphId, i.paths])).toEqual(
        direct.items.map((i) => [i.graphId, i.paths]),
      );
    } finally {
      await pathQueries.close();
    }
    const bad = await gql(
      server.url,
      `query($c: CollectionInput!) { graphsUsingPath(collection: $c, from: "x", to: "1:2") { total } }`,
      { c: collection },
    );
    expect(bad.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
    expect(bad.errors?.[0].message).toMatch(/from 'x' is not a feature 'layer:index'/);
  });
});
