/**
 * The API under bad input, over real HTTP against started servers with a real SQLite store:
 * malformed and too-deep or too-costly queries, unknown ids, oversized bodies, missing or wrong
 * tokens, CORS — each answered with the right code and a message that says what to fix, never a
 * stack trace, and the server keeps serving.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getIntrospectionQuery } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../src/app.js';
import { ModelCatalog } from '../src/models/catalog.js';
import type { GraphStore } from '../src/store/graph-store.js';
import { openStore } from '../src/store/open-store.js';
import { FIXTURE_MODELS, REFERENCE_FIXTURES, gql, gqlData, type GraphQLResponse } from './api-support.js';

const TOKEN = 'test-token-5b0c';
const referenceJson = () =>
  JSON.parse(readFileSync(join(REFERENCE_FIXTURES, 'llama-tiny', 'dallas-state.graph.json'), 'utf8'));

let dir: string;
let store: GraphStore;
let open: RunningServer;
let guarded: RunningServer;
const responses: GraphQLResponse[] = [];

/** Records every response so the last test can check that none carried a stack trace. */
async function ask(
  server: RunningServer,
  query: string,
  variables: Record<string, unknown> = {},
  headers: Record<string, string> = {},
) {
  const response = await gql(server.url, query, variables, headers);
  responses.push(response);
  return response;
}

function codeOf(response: GraphQLResponse): string | undefined {
  return response.errors?.[0]?.extensions?.code;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'atlas-api-protection-'));
  store = await openStore({ ATLAS_DB: join(dir, 'atlas.sqlite') });
  const clientDir = join(dir, 'client');
  mkdirSync(clientDir);
  writeFileSync(join(clientDir, 'index.html'), '<!doctype html><title>viewer</title><p id="viewer">viewer</p>');
  const catalog = new ModelCatalog(FIXTURE_MODELS);
  open = await startServer({ store, catalog, clientDir, corsOrigin: 'http://viewer.example' });
  guarded = await startServer({
    store,
    catalog,
    clientDir,
    token: TOKEN,
    bodyLimit: '32kb',
    inputLimits: { maxPromptChars: 100 },
  });
});

afterAll(async () => {
  await open?.close();
  await guarded?.close();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('malformed and oversized requests', () => {
  it('answers a query that does not parse with GRAPHQL_PARSE_FAILED and where it broke', async () => {
    const response = await ask(open, '{ graphs { total ');
    expect(response.status).toBe(400);
    expect(codeOf(response)).toBe('GRAPHQL_PARSE_FAILED');
    expect(response.errors![0].message).toMatch(/Syntax Error/);
  });

  it('answers a query naming an unknown field with GRAPHQL_VALIDATION_FAILED and a suggestion', async () => {
    const response = await ask(open, '{ graphs { totl } }');
    expect(response.status).toBe(400);
    expect(codeOf(response)).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(response.errors![0].message).toContain('Did you mean "total"');
  });

  it('rejects a body that is not JSON with BAD_USER_INPUT', async () => {
    const response = await fetch(`${open.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"query": "{ graphs { total } }"',
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as GraphQLResponse;
    expect(body.errors![0].extensions?.code).toBe('BAD_USER_INPUT');
    expect(body.errors![0].message).toMatch(/not valid JSON/);
  });

  it('rejects a body over the size limit with 413 and names the limit', async () => {
    const json = referenceJson();
    const body = JSON.stringify({
      query: 'mutation($json: JSON!) { importGraph(json: $json) { id } }',
      variables: { json },
    });
    expect(body.length).toBeGreaterThan(32 * 1024);
    const response = await fetch(`${guarded.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body,
    });
    expect(response.status).toBe(413);
    const parsed = (await response.json()) as GraphQLResponse;
    expect(parsed.errors![0].extensions?.code).toBe('BAD_USER_INPUT');
    expect(parsed.errors![0].message).toContain('32kb');
  });

  it('rejects a prompt longer than the limit and an empty prompt before touching a model', async () => {
    const long = await ask(
      guarded,
      'mutation($p: String!) { trace(prompt: $p) { id } }',
      { p: 'word '.repeat(30) },
      {
        authorization: `Bearer ${TOKEN}`,
      },
    );
    expect(codeOf(long)).toBe('BAD_USER_INPUT');
    expect(long.errors![0].message).toMatch(/150 characters long; the limit is 100/);
    const empty = await ask(
      guarded,
      'mutation { trace(prompt: "   ") { id } }',
      {},
      { authorization: `Bearer ${TOKEN}` },
    );
    expect(codeOf(empty)).toBe('BAD_USER_INPUT');
    expect(empty.errors![0].message).toMatch(/prompt is empty/);
  });
});

describe('depth and cost limits', () => {
  it("accepts GraphiQL's full introspection query", async () => {
    const response = await ask(open, getIntrospectionQuery());
    expect(response.errors).toBeUndefined();
    expect(response.data).toHaveProperty('__schema');
  });

  it('rejects an introspection query nested deeper than the limit', async () => {
    const nested = 'ofType { '.repeat(18) + 'name' + ' }'.repeat(18);
    const response = await ask(open, `{ __schema { types { fields { type { ${nested} } } } } }`);
    expect(response.status).toBe(400);
    expect(codeOf(response)).toBe('BAD_USER_INPUT');
    expect(response.errors![0].message).toMatch(/nested \d+ levels deep; the limit is 16/);
  });

  it('rejects a query deeper than a server’s depth limit', async () => {
    const shallow = await startServer({
      store,
      catalog: new ModelCatalog(FIXTURE_MODELS),
      queryLimits: { maxDepth: 3 },
    });
    try {
      const query = '{ feature(model: "m", layer: 0, index: 1) { occurrences { items { node { nodeId } } } } }';
      const response = await gql(shallow.url, query);
      responses.push(response);
      expect(response.status).toBe(400);
      expect(codeOf(response)).toBe('BAD_USER_INPUT');
      expect(response.errors![0].message).toBe(
        'query is nested 5 levels deep; the limit is 3: select fewer nested fields or split the query',
      );
    } finally {
      await shallow.close();
    }
  });

  it('rejects a query whose aliased pages cost more than the limit, counting limits given as variables', async () => {
    const tight = await startServer({
      store,
      catalog: new ModelCatalog(FIXTURE_MODELS),
      queryLimits: { maxCost: 10_000 },
    });
    try {
      const aliases = Array.from(
        { length: 40 },
        (_, i) => `g${i}: graphs(limit: $n) { items { id scores { replacement } } }`,
      );
      const response = await gql(tight.url, `query($n: Int!) { ${aliases.join(' ')} }`, { n: 500 });
      responses.push(response);
      expect(response.status).toBe(400);
      expect(codeOf(response)).toBe('BAD_USER_INPUT');
      expect(response.errors![0].message).toMatch(/query cost 60000 exceeds the limit of 10000/);
      // The same query with small pages is within the limit.
      const small = await gql(tight.url, `query($n: Int!) { ${aliases.join(' ')} }`, { n: 2 });
      expect(small.errors).toBeUndefined();
    } finally {
      await tight.close();
    }
  });

  it('rejects a page larger than the largest allowed', async () => {
    const response = await ask(open, '{ graphs(limit: 5000) { total } }');
    expect(codeOf(response)).toBe('BAD_USER_INPUT');
    expect(response.errors![0].message).toBe('limit must be between 0 and 500, got 5000');
  });
});

describe('unknown ids', () => {
  it('answers null for a graph, job or view that does not exist', async () => {
    const data = await gqlData<Record<string, unknown>>(
      open.url,
      '{ graph(id: "nope") { id } job(id: "nope") { id } view(id: "nope") { id } }',
    );
    expect(data).toEqual({ graph: null, job: null, view: null });
  });

  it.each([
    ['node', '{ node(graphId: "nope", nodeId: "E_1_0", direction: in) { totalEdges } }', /no graph with id 'nope'/],
    ['paths', '{ paths(graphId: "nope", from: "a", to: "b") { score } }', /no graph with id 'nope'/],
    ['compare', '{ compare(graphA: "nope", graphB: "nope2") { shared { layer } } }', /no graph with id 'nope/],
    ['graphsSharingFeatures', '{ graphsSharingFeatures(graphId: "nope") { graphId } }', /no graph with id 'nope'/],
    [
      'feature of an unknown model',
      '{ feature(model: "no-such-model", layer: 0, index: 0) { index } }',
      /no model 'no-such-model'/,
    ],
    ['deleteGraph', 'mutation { deleteGraph(id: "nope") }', /no graph with id 'nope' to delete/],
    ['cancelJob', 'mutation { cancelJob(id: "nope") { id } }', /no trace job with id 'nope'/],
  ])('answers NOT_FOUND for %s', async (_name, query, message) => {
    const response = await ask(open, query);
    expect(codeOf(response)).toBe('NOT_FOUND');
    expect(response.errors![0].message).toMatch(message);
  });

  it('answers NOT_FOUND for an unknown node of a stored graph, BAD_USER_INPUT for a bad graph JSON', async () => {
    const imported = await gqlData<{ importGraph: { id: string } }>(
      open.url,
      'mutation($json: JSON!) { importGraph(json: $json, id: "protection-dallas") { id } }',
      { json: referenceJson() },
    );
    expect(imported.importGraph.id).toBe('protection-dallas');
    const node = await ask(
      open,
      '{ node(graphId: "protection-dallas", nodeId: "9_9_9", direction: in) { totalEdges } }',
    );
    expect(codeOf(node)).toBe('NOT_FOUND');
    const duplicate = await ask(
      open,
      'mutation($json: JSON!) { importGraph(json: $json, id: "protection-dallas") { id } }',
      {
        json: referenceJson(),
      },
    );
    expect(codeOf(duplicate)).toBe('BAD_USER_INPUT');
    const malformed = await ask(open, 'mutation($json: JSON!) { importGraph(json: $json) { id } }', {
      json: { metadata: { slug: 'x' }, nodes: [{ node_id: 1 }], links: 'none' },
    });
    expect(codeOf(malformed)).toBe('BAD_USER_INPUT');
    expect(malformed.errors![0].message).toMatch(/does not match the circuit-tracer graph format/);
  });
});

describe('authentication', () => {
  it('lets anyone query but asks mutations for the bearer token', async () => {
    const query = await ask(guarded, '{ graphs { total } }');
    expect(query.errors).toBeUndefined();

    const missing = await ask(guarded, 'mutation { deleteGraph(id: "protection-dallas") }');
    expect(missing.status).toBe(401);
    expect(codeOf(missing)).toBe('UNAUTHENTICATED');
    expect(missing.errors![0].message).toMatch(/Authorization: Bearer/);

    const wrong = await ask(
      guarded,
      'mutation { deleteGraph(id: "protection-dallas") }',
      {},
      { authorization: 'Bearer not-it' },
    );
    expect(wrong.status).toBe(401);
    expect(codeOf(wrong)).toBe('UNAUTHENTICATED');
    expect(wrong.errors![0].message).toMatch(/token is wrong/);

    // Nothing was deleted by the refused mutations.
    expect(
      (await gqlData<{ graph: { id: string } }>(open.url, '{ graph(id: "protection-dallas") { id } }')).graph,
    ).not.toBeNull();

    const right = await ask(
      guarded,
      'mutation { deleteGraph(id: "protection-dallas") }',
      {},
      { authorization: `Bearer ${TOKEN}` },
    );
    expect(right.errors).toBeUndefined();
    expect(right.data).toEqual({ deleteGraph: true });
  });
});

describe('HTTP surface', () => {
  it('allows the configured CORS origin only', async () => {
    const preflight = (origin: string, server: RunningServer) =>
      fetch(`${server.url}/graphql`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
      });
    expect((await preflight('http://viewer.example', open)).headers.get('access-control-allow-origin')).toBe(
      'http://viewer.example',
    );
    expect((await preflight('http://elsewhere.example', open)).headers.get('access-control-allow-origin')).toBeNull();
    expect((await preflight('http://viewer.example', guarded)).headers.get('access-control-allow-origin')).toBeNull();
  });

  it('serves the viewer at / and at its own routes, and sends browsers on /graphql to the IDE', async () => {
    for (const path of ['/', '/graph/some-id', '/compare?a=1&b=2']) {
      const response = await fetch(`${open.url}${path}`);
      expect(response.status).toBe(200);
      expect(await response.text()).toContain('id="viewer"');
    }
    const ide = await fetch(`${open.url}/graphql`, { headers: { accept: 'text/html' }, redirect: 'manual' });
    expect(ide.status).toBe(302);
    expect(ide.headers.get('location')).toBe('/graphiql');
  });

  it('never sends a stack trace, and keeps serving after all of the above', async () => {
    expect(responses.length).toBeGreaterThan(15);
    for (const response of responses) {
      for (const error of response.errors ?? []) {
        expect(error.extensions).not.toHaveProperty('stacktrace');
        expect(error.message).not.toMatch(/\n\s+at /);
      }
    }
    expect(
      (await gqlData<{ graphs: { total: number } }>(open.url, '{ graphs { total } }')).graphs.total,
    ).toBeGreaterThanOrEqual(0);
    expect(await (await fetch(`${guarded.url}/health`)).json()).toEqual({ ok: true, store: 'sqlite' });
  });
});
