/**
 * Hostile queries against started servers over real HTTP (issue 15): many aliases of a whole-graph
 * read, amplifying comparisons, subscriptions, floods of heavy reads. Each is answered with data or
 * a clean GraphQL error that says what to change, and /health keeps answering while they run.
 * Timing bounds are relative to what the same machine measured for a legitimate read in this run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomGraph } from '../../test-support/graph-generator.js';
import { startServer, type RunningServer } from '../src/app.js';
import { ModelCatalog } from '../src/models/catalog.js';
import type { GraphStore } from '../src/store/graph-store.js';
import { openStore } from '../src/store/open-store.js';
import { FIXTURE_MODELS, STORE_CASES, gql, gqlData, type GraphQLResponse } from './api-support.js';

const BIG = { id: 'hostile-big5k', seed: 15, nodes: 5000, edges: 50_000, nLayers: 16, nPos: 12, featurePool: 4000 };
const aliases = (count: number, field: string) =>
  `{ ${Array.from({ length: count }, (_, i) => `a${i}: ${field}`).join(' ')} }`;
const codeOf = (response: GraphQLResponse) => response.errors?.[0]?.extensions?.code;

/** Latencies of /health asked one after another until `activity` settles. */
async function healthDuring(url: string, activity: Promise<unknown>): Promise<number[]> {
  let settled = false;
  void activity.finally(() => (settled = true)).catch(() => {});
  const latencies: number[] = [];
  while (!settled || latencies.length === 0) {
    const start = performance.now();
    const response = await fetch(`${url}/health`);
    expect(response.status).toBe(200);
    await response.json();
    latencies.push(performance.now() - start);
  }
  return latencies;
}

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  const value = await work();
  return { value, ms: performance.now() - start };
}

function expectCleanError(response: GraphQLResponse): void {
  expect(response.status).toBeLessThan(500);
  expect(response.errors?.length).toBeGreaterThan(0);
  for (const error of response.errors ?? []) {
    expect(error.extensions?.code).not.toBe('INTERNAL_SERVER_ERROR');
    expect(error.extensions).not.toHaveProperty('stacktrace');
    expect(error.message).not.toMatch(/\n\s+at /);
  }
}

describe('a 5,000-node graph under hostile queries (SQLite)', () => {
  let dir: string;
  let store: GraphStore;
  let server: RunningServer;
  /** Time of one ordinary whole-graph read on this machine, now: the yardstick of the bounds below. */
  let oneReadMs: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'atlas-api-hostile-'));
    store = await openStore({ ATLAS_DB: join(dir, 'atlas.sqlite') });
    await store.saveGraph(randomGraph(BIG));
    server = await startServer({ store, catalog: new ModelCatalog(FIXTURE_MODELS) });
    const read = `{ graph(id: "${BIG.id}") { nodes { nodeId } edgeTable { sources targets weights } } }`;
    await gqlData(server.url, read); // warm up
    const times: number[] = [];
    for (let i = 0; i < 3; i++) times.push((await timed(() => gqlData(server.url, read))).ms);
    oneReadMs = Math.min(...times);
  }, 120_000);

  afterAll(async () => {
    await server?.close();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers 20 aliases of graph(id) { id } from one read of the graph, and /health keeps answering', async () => {
    const one = await timed(() => gqlData(server.url, `{ graph(id: "${BIG.id}") { id } }`));
    const query = aliases(20, `graph(id: "${BIG.id}") { id }`);
    const request = timed(() => gqlData<Record<string, { id: string }>>(server.url, query));
    const health = await healthDuring(server.url, request);
    const { value, ms } = await request;
    expect(Object.keys(value)).toHaveLength(20);
    expect(Object.values(value).every((graph) => graph.id === BIG.id)).toBe(true);
    // Twenty reads would take about twenty times one; one read takes about one.
    expect(ms).toBeLessThan(5 * one.ms + 200);
    expect(Math.max(...health)).toBeLessThan(3 * oneReadMs + 200);
  });

  it('refuses 1,000 aliases of graph { edgeTable { sources } } (a 60 KB request) at once, with a message saying what to change', async () => {
    const query = aliases(1000, `graph(id: "${BIG.id}") { edgeTable { sources } }`);
    expect(query.length).toBeGreaterThan(50_000);
    const request = timed(() => gql(server.url, query));
    const health = await healthDuring(server.url, request);
    const { value: response, ms } = await request;
    expectCleanError(response);
    expect(response.errors![0]).toMatchObject({
      extensions: { code: 'GRAPHQL_PARSE_FAILED' },
      message: expect.stringMatching(/more than 2000 tokens.*fewer aliased fields/),
    });
    expect(ms).toBeLessThan(oneReadMs + 500);
    expect(Math.max(...health)).toBeLessThan(oneReadMs + 500);
    const after = await fetch(`${server.url}/health`);
    expect(await after.json()).toEqual({ ok: true, store: 'sqlite' });
  });

  it('charges each alias of an edge table its edges, so many aliases under the token limit still cost too much', async () => {
    const response = await gql(server.url, aliases(60, `graph(id: "${BIG.id}") { edgeTable { sources } }`));
    expectCleanError(response);
    expect(codeOf(response)).toBe('BAD_USER_INPUT');
    expect(response.errors![0].message).toMatch(/query cost \d+ exceeds the limit of 500000: .*prune it/);
  });

  it('charges compare by the sizes of both graphs, so aliased comparisons are refused', async () => {
    const single = await gql(server.url, `{ compare(graphA: "${BIG.id}", graphB: "${BIG.id}") { shared { layer } } }`);
    expect(single.errors).toBeUndefined();
    const many = await gql(
      server.url,
      aliases(30, `compare(graphA: "${BIG.id}", graphB: "${BIG.id}") { shared { layer } sharedEdges { weightA } }`),
    );
    expectCleanError(many);
    expect(codeOf(many)).toBe('BAD_USER_INPUT');
    expect(many.errors![0].message).toMatch(/query cost \d+ exceeds the limit/);
  });

  it('refuses fragments that double at every link (a billion fields in 1 KB) without expanding them', async () => {
    const links = Array.from({ length: 30 }, (_, i) => `fragment F${i} on Query { ...F${i + 1} ...F${i + 1} }`);
    const query = `{ ...F0 } ${links.join(' ')} fragment F30 on Query { graph(id: "${BIG.id}") { id } }`;
    const request = timed(() => gql(server.url, query));
    const health = await healthDuring(server.url, request);
    const { value: response, ms } = await request;
    expectCleanError(response);
    expect(response.errors![0]).toMatchObject({
      extensions: { code: 'BAD_USER_INPUT' },
      message: expect.stringMatching(/more than 10000 fields once its fragments are expanded/),
    });
    expect(ms).toBeLessThan(oneReadMs + 500);
    expect(Math.max(...health)).toBeLessThan(oneReadMs + 500);
  });

  it('answers a subscription with a clear BAD_USER_INPUT, not an internal error', async () => {
    const response = await gql(server.url, 'subscription { x }');
    expectCleanError(response);
    // Validation or the protection plugin: either way the client learns what to send instead.
    expect(['GRAPHQL_VALIDATION_FAILED', 'BAD_USER_INPUT']).toContain(codeOf(response));
    const plain = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'subscription { graphs { total } }' }),
    });
    const body = (await plain.json()) as GraphQLResponse;
    expect(plain.status).toBe(400);
    expect(body.errors![0].message).toMatch(/no subscriptions: send a query or a mutation/);
  });
});

describe.each(STORE_CASES)('the cost of graph reads from the $name store', (storeCase) => {
  let store: GraphStore;
  let cleanup: () => void;
  let server: RunningServer;
  const graph = randomGraph({ id: `hostile-cost-${Date.now().toString(36)}`, seed: 7, nodes: 300, edges: 2000 });

  beforeAll(async () => {
    ({ store, cleanup } = await storeCase.open());
    await store.saveGraph(graph);
    // A cost limit of 0 refuses everything and so reports every query's cost.
    server = await startServer({ store, catalog: new ModelCatalog(FIXTURE_MODELS), queryLimits: { maxCost: 0 } });
  }, 120_000);

  afterAll(async () => {
    await server?.close();
    await store?.deleteGraph(graph.id);
    await store?.close();
    cleanup?.();
  });

  const costOf = async (query: string): Promise<number> => {
    const response = await gql(server.url, query);
    expect(response.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' } });
    return response.errors![0].extensions!.cost as number;
  };

  it('charges a read of the graph once however many aliases ask, and each alias what it returns', async () => {
    const one = await costOf(`{ graph(id: "${graph.id}") { id } }`);
    const twenty = await costOf(aliases(20, `graph(id: "${graph.id}") { id }`));
    expect(twenty - one).toBe(19);
    // The read itself is charged the stored size, which the store reports.
    const unknown = await costOf('{ graph(id: "no-such-graph") { id } }');
    // Asking for no edges reads the node rows only: the stored node count, as the store reports it.
    expect(one - unknown, JSON.stringify({ one, twenty, unknown })).toBe(graph.nodes.length);
    const table = await costOf(`{ graph(id: "${graph.id}") { edgeTable { sources } } }`);
    const tables = await costOf(aliases(3, `graph(id: "${graph.id}") { edgeTable { sources } }`));
    const read = graph.nodes.length + graph.edges.length;
    expect(tables - table).toBe(2 * (table - read));
    expect(table - read).toBeGreaterThan(graph.edges.length); // the edge table's array is charged per edge
  });
});

describe('heavy reads from the Neo4j store', () => {
  let neo4j: GraphStore;
  const medium = randomGraph({ id: `hostile-busy-${Date.now().toString(36)}`, seed: 9, nodes: 1000, edges: 10_000 });

  beforeAll(async () => {
    neo4j = (await STORE_CASES.find((storeCase) => storeCase.name === 'neo4j')!.open()).store;
    await neo4j.saveGraph(medium);
  }, 120_000);

  afterAll(async () => {
    await neo4j?.deleteGraph(medium.id);
    await neo4j?.close();
  });

  it('runs heavy reads in a few slots and answers the overflow "busy, retry" with 503 and Retry-After', async () => {
    const narrow = await startServer({
      store: neo4j,
      catalog: new ModelCatalog(FIXTURE_MODELS),
      queryLimits: { heavySlots: 1, heavyQueue: 1 },
    });
    try {
      const read = `{ graph(id: "${medium.id}") { nodes { nodeId } edgeTable { sources targets weights } } }`;
      const answers = await Promise.all(
        Array.from({ length: 12 }, async () => {
          const response = await fetch(`${narrow.url}/graphql`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ query: read }),
          });
          return {
            status: response.status,
            retryAfter: response.headers.get('retry-after'),
            body: await response.json(),
          };
        }),
      );
      const served = answers.filter((answer) => answer.status === 200);
      const refused = answers.filter((answer) => answer.status === 503);
      expect(served.length + refused.length).toBe(answers.length);
      expect(served.length).toBeGreaterThanOrEqual(2); // one running, one waiting
      expect(refused.length).toBeGreaterThanOrEqual(1);
      for (const answer of refused) {
        expect(answer.retryAfter).toBe('2');
        expect(answer.body.errors[0].extensions.code).toBe('SERVICE_UNAVAILABLE');
        expect(answer.body.errors[0].message).toMatch(/busy .* retry in 2 s/);
      }
      // Cheap queries are never refused, however many heavy ones wait.
      expect(
        (await gqlData<{ graphs: { total: number } }>(narrow.url, '{ graphs { total } }')).graphs.total,
      ).toBeGreaterThan(0);
    } finally {
      await narrow.close();
    }
  });
});
