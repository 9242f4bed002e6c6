/**
 * Fuzz and fault suite, the GraphQL API: hostile documents — random alias counts, nested inline
 * fragments, named fragments spread many times, variables of the wrong type or of huge size, long
 * literal lists, damaged syntax, mutations with huge inputs — sent over real HTTP to a server on a
 * real SQLite store holding a 1,000-node graph. Property: every request is answered with data or a
 * clean GraphQL error (never a 500, never a stack trace), and /health keeps answering meanwhile
 * within a bound relative to what one legitimate whole-graph read takes on this machine now.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomGraph } from '../../test-support/graph-generator.js';
import { startServer, type RunningServer } from '../src/app.js';
import { ModelCatalog } from '../src/models/catalog.js';
import type { GraphStore } from '../src/store/graph-store.js';
import { openStore } from '../src/store/open-store.js';
import { FIXTURE_MODELS } from './api-support.js';

const FUZZ_SEED = 20_261_129;
const GRAPH = randomGraph({ id: 'fuzz-graph', seed: 11, nodes: 1000, edges: 10_000, nLayers: 8, nPos: 10 });
const NODE_IDS = GRAPH.nodes.slice(0, 50).map((node) => node.nodeId);

interface Request {
  query: string;
  variables?: Record<string, unknown>;
}

const quoted = (text: string) => JSON.stringify(text);
const graphId = fc.constantFrom(GRAPH.id, GRAPH.id, 'no-such-graph', '', 'x'.repeat(300), '../../etc/passwd');
const nodeId = fc.oneof(fc.constantFrom(...NODE_IDS), fc.string({ maxLength: 20 }));
const anyInt = fc.oneof(fc.integer({ min: -5, max: 600 }), fc.constantFrom(2 ** 31 - 1, -(2 ** 31), 0, 1, 100_000));
const anyFloat = fc.oneof(fc.double({ min: -2, max: 2, noNaN: true }), fc.constantFrom(1e308, -1e308, 0, 1));
const literalFloat = anyFloat.map((value) => (Number.isInteger(value) ? `${value}.0` : String(value)));

const graphSelection = fc
  .subarray(
    [
      'id',
      'nodeCount edgeCount',
      'nodes { nodeId label featureLabel { label } autoLabel }',
      'edges { source target weight }',
      'edgeTable { sources targets weights }',
      'views { id name }',
      'settings { nodeThreshold } scores { replacement }',
      '__typename',
    ],
    { minLength: 1 },
  )
  .map((fields) => fields.join(' '));

/** One root field of a query, with random (often wrong) arguments. */
const rootField: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(graphId, graphSelection).map(([id, selection]) => `graph(id: ${quoted(id)}) { ${selection} }`),
  fc
    .tuple(graphId, literalFloat, literalFloat, graphSelection)
    .map(([id, nt, et, s]) => `graph(id: ${quoted(id)}, nodeThreshold: ${nt}, edgeThreshold: ${et}) { ${s} }`),
  fc
    .tuple(anyInt, anyInt)
    .map(([limit, offset]) => `graphs(limit: ${limit}, offset: ${offset}) { total items { id nodeCount } }`),
  fc
    .tuple(graphId, graphId)
    .map(
      ([a, b]) =>
        `compare(graphA: ${quoted(a)}, graphB: ${quoted(b)}) { shared { layer } onlyInA { nodeId } sharedEdges { weightA } }`,
    ),
  fc
    .tuple(graphId, nodeId, fc.constantFrom('in', 'out'), anyInt)
    .map(
      ([g, n, d, limit]) =>
        `node(graphId: ${quoted(g)}, nodeId: ${quoted(n)}, direction: ${d}, limit: ${limit}) { totalEdges edges { weight } neighbours { nodeId label } }`,
    ),
  fc
    .tuple(graphId, nodeId, nodeId, anyInt, anyInt)
    .map(
      ([g, from, to, k, maxLength]) =>
        `paths(graphId: ${quoted(g)}, from: ${quoted(from)}, to: ${quoted(to)}, k: ${k}, maxLength: ${maxLength}) { score nodeIds }`,
    ),
  fc
    .tuple(fc.string({ maxLength: 300 }), anyInt)
    .map(([text, limit]) => `search(text: ${quoted(text)}, limit: ${limit}) { graphs { id } featureLabels { label } }`),
  fc
    .tuple(fc.constantFrom('llama-tiny', 'circuit-atlas-tests/llama-tiny', 'nope'), anyInt, anyInt, anyInt)
    .map(
      ([model, layer, index, limit]) =>
        `feature(model: ${quoted(model)}, layer: ${layer}, index: ${index}) { label { label } occurrences(limit: ${limit}) { total items { graphId node { nodeId } } } }`,
    ),
  fc.constant('__schema { types { name fields { name type { name ofType { name } } } } }'),
  fc.constant('__typename'),
  fc.constant('jobs { id status }'),
);

/** Many aliases of random root fields; alias counts from a few to thousands. */
const aliased = fc
  .tuple(
    fc.oneof(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 20, max: 3000 })),
    fc.array(rootField, { minLength: 1, maxLength: 4 }),
  )
  .map(([count, fields]): Request => ({
    query: `{ ${Array.from({ length: count }, (_, i) => `a${i}: ${fields[i % fields.length]}`).join(' ')} }`,
  }));

/** A root field inside inline fragments nested `depth` deep. */
const nested = fc
  .tuple(rootField, fc.integer({ min: 1, max: 200 }))
  .map(([field, depth]): Request => ({ query: `{ ${'... on Query { '.repeat(depth)}${field}${' }'.repeat(depth)} }` }));

/** A named fragment spread many times, sometimes undefined, sometimes spreading itself. */
const fragments = fc
  .tuple(rootField, fc.integer({ min: 1, max: 500 }), fc.constantFrom('plain', 'undefined', 'cycle', 'chain'))
  .map(([field, spreads, kind]): Request => {
    const spread = Array.from({ length: spreads }, () => '...F').join(' ');
    if (kind === 'undefined') return { query: `{ ${spread} }` };
    if (kind === 'cycle')
      return { query: `{ ...F } fragment F on Query { ${field} ...G } fragment G on Query { ...F }` };
    if (kind === 'chain') {
      // Each fragment spreads the next twice: the expansion doubles at every link.
      const links = Array.from({ length: 30 }, (_, i) => `fragment F${i} on Query { ...F${i + 1} ...F${i + 1} }`);
      return { query: `{ ...F0 } ${links.join(' ')} fragment F30 on Query { ${field} }` };
    }
    return { query: `{ ${spread} } fragment F on Query { ${field} }` };
  });

/** Variables: declared or not, of the wrong type, huge strings, huge lists. */
const variables = fc
  .tuple(
    fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      fc.integer({ min: 0, max: 200_000 }).map((n) => 'x'.repeat(n)),
      fc.integer({ min: 0, max: 200_000 }).map((n) => Array.from({ length: n }, (_, i) => i)),
      fc.constantFrom(GRAPH.id, 500, null, 1e308),
    ),
    fc.constantFrom(
      'query($id: ID!) { graph(id: $id) { id nodeCount } }',
      'query($n: Int) { graphs(limit: $n) { total } }',
      'query($ids: [ID!]) { graph(id: $ids) { id } }',
      'query($t: Float) { graph(id: "fuzz-graph", nodeThreshold: $t) { nodeCount } }',
      '{ graph(id: $undeclared) { id } }',
      'query($id: ID!, $id: ID!) { graph(id: $id) { id } }',
    ),
  )
  .map(([value, query]): Request => ({ query, variables: { id: value, n: value, ids: value, t: value } }));

/** Long literal lists and long strings inside the document. */
const literals = fc
  .tuple(fc.integer({ min: 1, max: 5000 }), fc.constantFrom('ids', 'string'))
  .map(([n, kind]): Request =>
    kind === 'ids'
      ? { query: `{ graph(id: [${Array.from({ length: n }, (_, i) => `"g${i}"`).join(', ')}]) { id } }` }
      : { query: `{ search(text: ${quoted('y'.repeat(n * 100))}) { graphs { id } } }` },
  );

/** Mutations with huge or malformed inputs (the server has no token, so they run). */
const mutations = fc
  .tuple(fc.integer({ min: 0, max: 100_000 }), fc.jsonValue({ maxDepth: 4 }), graphId)
  .chain(([n, json, id]) =>
    fc.constantFrom<Request>(
      {
        query: 'mutation($v: ViewInput!) { saveView(view: $v) { id } }',
        variables: {
          v: {
            graphId: id,
            name: 'v',
            pinnedIds: Array.from({ length: n }, (_, i) => NODE_IDS[i % 50]),
            supernodes: [],
          },
        },
      },
      { query: 'mutation($j: JSON!) { importGraph(json: $j) { id } }', variables: { j: json } },
      { query: `mutation { deleteGraph(id: "no-such-graph-${n}") }` },
      {
        query: `mutation { setFeatureLabel(model: "llama-tiny", layer: 0, index: ${n}, label: ${quoted('z'.repeat(n % 2000))}) { label } }`,
      },
      { query: 'mutation { trace(prompt: "") { id } }' },
    ),
  );

/** Valid documents with one character removed, duplicated or swapped: syntax errors of every kind. */
const damaged = fc
  .tuple(aliased, fc.nat(), fc.constantFrom('delete', 'duplicate', 'brace'))
  .map(([request, at, how]): Request => {
    const i = at % request.query.length;
    const q = request.query;
    const query =
      how === 'delete'
        ? q.slice(0, i) + q.slice(i + 1)
        : how === 'duplicate'
          ? q.slice(0, i) + q[i] + q.slice(i)
          : q.slice(0, i) + '{' + q.slice(i);
    return { query };
  });

const garbage = fc.oneof(
  fc.string({ maxLength: 500 }).map((query): Request => ({ query })),
  fc.constantFrom<Request>(
    { query: 'subscription { x }' },
    { query: 'subscription { graphs { total } }' },
    { query: '' },
    { query: '{ graphs { total } } { graphs { total } }' },
    { query: 'query A { __typename } query B { __typename }' },
  ),
);

const hostile = fc.oneof(aliased, nested, fragments, variables, literals, mutations, damaged, garbage);

let dir: string;
let store: GraphStore;
let server: RunningServer;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'atlas-api-fuzz-'));
  store = await openStore({ ATLAS_DB: join(dir, 'atlas.sqlite') });
  await store.saveGraph(GRAPH);
  server = await startServer({ store, catalog: new ModelCatalog(FIXTURE_MODELS) });
}, 120_000);

afterAll(async () => {
  await server?.close();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function send(request: Request): Promise<{ status: number; text: string }> {
  const response = await fetch(`${server.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(request),
  });
  return { status: response.status, text: await response.text() };
}

/** Data or a clean GraphQL error: JSON, no 500, every error coded, no internal error, no stack trace. */
function expectCleanAnswer(request: Request, answer: { status: number; text: string }): 'data' | 'error' {
  const where = `${answer.status} for ${request.query.slice(0, 200)}`;
  expect(answer.status, where).not.toBe(500);
  const body = JSON.parse(answer.text) as {
    data?: unknown;
    errors?: { message: string; extensions?: Record<string, unknown> }[];
  };
  expect(answer.text, where).not.toMatch(/\n\s+at |\\n\s+at /);
  if (!body.errors) {
    expect(answer.status, where).toBe(200);
    expect(typeof body.data, where).toBe('object');
    return 'data';
  }
  for (const error of body.errors) {
    expect(typeof error.extensions?.code, where).toBe('string');
    expect(error.extensions?.code, `${where}: ${error.message}`).not.toBe('INTERNAL_SERVER_ERROR');
    expect(error.extensions, where).not.toHaveProperty('stacktrace');
  }
  if (answer.status === 503) expect(body.errors[0].extensions?.code).toBe('SERVICE_UNAVAILABLE');
  return 'error';
}

const quantile = (values: number[], q: number) =>
  [...values].sort((a, b) => a - b)[Math.floor(q * (values.length - 1))];

describe('hostile GraphQL documents', () => {
  it('are each answered with data or a clean GraphQL error while /health keeps answering', async () => {
    // The yardstick: one legitimate read of the whole graph, as the viewer sends it, on this machine now.
    const read = {
      query: `{ graph(id: "${GRAPH.id}") { nodes { nodeId kind layer ctxIdx label } edgeTable { sources targets weights } } }`,
    };
    await send(read);
    const readTimes: number[] = [];
    for (let i = 0; i < 3; i++) {
      const start = performance.now();
      expect(expectCleanAnswer(read, await send(read))).toBe('data');
      readTimes.push(performance.now() - start);
    }
    const oneReadMs = Math.min(...readTimes);

    const health: number[] = [];
    let fuzzing = true;
    const healthLoop = (async () => {
      while (fuzzing) {
        const start = performance.now();
        const response = await fetch(`${server.url}/health`);
        expect(response.status).toBe(200);
        await response.json();
        health.push(performance.now() - start);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    const outcomes = { data: 0, error: 0 };
    try {
      await fc.assert(
        fc.asyncProperty(hostile, async (request) => {
          outcomes[expectCleanAnswer(request, await send(request))]++;
        }),
        { seed: FUZZ_SEED, numRuns: 100 },
      );
    } finally {
      fuzzing = false;
      await healthLoop;
    }
    process.stdout.write(
      `api fuzz: ${outcomes.data} answered with data, ${outcomes.error} with errors; one whole-graph read ${oneReadMs.toFixed(0)} ms; ` +
        `/health p50 ${quantile(health, 0.5).toFixed(0)} ms, p95 ${quantile(health, 0.95).toFixed(0)} ms, max ${Math.max(...health).toFixed(0)} ms over ${health.length}\n`,
    );
    // Both outcomes occur: the generator neither only breaks documents nor only asks harmless ones.
    expect(outcomes.data).toBeGreaterThanOrEqual(5);
    expect(outcomes.error).toBeGreaterThanOrEqual(30);
    expect(health.length).toBeGreaterThan(20);
    // /health waits at most for a few pieces of work the size of one legitimate read, never for a flood.
    expect(quantile(health, 0.95)).toBeLessThan(2 * oneReadMs + 200);
    expect(Math.max(...health)).toBeLessThan(6 * oneReadMs + 500);
  });
});
