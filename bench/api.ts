/**
 * `npm run bench -- api`: the GraphQL API under load. For each store (SQLite on a temp file; Neo4j
 * on NEO4J_URI, or a fresh tools/neo4j started here) a 2,000-node graph is stored, `circuit-atlas
 * serve` is started as its own process, and autocannon drives 50 concurrent clients for 30 s on
 * (a) the graph query the viewer opens a graph with and (b) node queries (a random node's incident
 * edges with their neighbours). Prints requests/s, p50 and p99 latency and errors (which must be 0:
 * HTTP errors, timeouts and GraphQL `errors` all count). Results also go to bench/results/api.json.
 * BENCH_API_SECONDS shortens the runs (default 30); BENCH_API_STORES=sqlite (or neo4j) runs one store;
 * BENCH_API_CASES=hostile runs only the hostile case.
 *
 * The hostile case (issue 15): ordinary reads (node queries, 10 clients) first alone, then while 4
 * clients keep sending 1,000-alias documents and other costly queries; prints the ordinary reads'
 * p99 both times and the server's peak RSS (sampled from /proc), which must stay bounded.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import type { GraphDocument } from '@circuit-atlas/schema';
import { openStore } from '@circuit-atlas/server';
import { randomGraph } from '../test-support/graph-generator.js';
import { startNeo4j } from '../tools/neo4j/launcher.js';
import { median } from './stats.js';

const CONNECTIONS = 50;
const SECONDS = Number(process.env.BENCH_API_SECONDS ?? 30);
const GRAPH = { nodes: 2000, edges: 20_000, nLayers: 16, nPos: 12, featurePool: 2000 };
const STORES = (process.env.BENCH_API_STORES ?? 'sqlite,neo4j').split(',');
const ROOT = fileURLToPath(new URL('..', import.meta.url));

const GRAPH_QUERY = `query($id: ID!) { graph(id: $id) {
  id prompt promptTokens nLayers nodeCount edgeCount scores { replacement completeness }
  nodes { nodeId kind layer ctxIdx feature activation influence tokenProb isTargetLogit label }
  edges { source target weight influence }
} }`;
/** What the viewer sends: the same graph with its edges packed by node index. */
const PACKED_GRAPH_QUERY = GRAPH_QUERY.replace(
  'edges { source target weight influence }',
  'edgeTable { sources targets weights }',
);
/** What a hostile client sends: aliased whole-graph reads, aliased comparisons, and one cheap-looking flood. */
const aliases = (count: number, field: string) =>
  `{ ${Array.from({ length: count }, (_, i) => `a${i}: ${field}`).join(' ')} }`;
const HOSTILE_QUERIES = (id: string) => [
  aliases(1000, `graph(id: "${id}") { edgeTable { sources } }`),
  aliases(1000, `graph(id: "${id}") { id }`),
  aliases(120, `graph(id: "${id}") { edgeTable { sources targets weights } }`),
  aliases(100, `compare(graphA: "${id}", graphB: "${id}") { shared { layer } sharedEdges { weightA } }`),
  aliases(200, `graph(id: "${id}") { id nodeCount }`),
];
const ORDINARY_CONNECTIONS = 10;
/** BENCH_API_CASES=hostile runs only the hostile case. */
const ONLY_HOSTILE = process.env.BENCH_API_CASES === 'hostile';
const HOSTILE_CONNECTIONS = 4;

const NODE_QUERY = `query($g: ID!, $n: ID!, $d: EdgeDirection!) { node(graphId: $g, nodeId: $n, direction: $d, limit: 20) {
  node { nodeId kind layer ctxIdx label } totalEdges
  edges { source target weight } neighbours { nodeId kind layer ctxIdx label }
} }`;

interface HostileResult {
  store: string;
  /** Ordinary reads alone, then with hostile queries arriving. */
  alone: { p50Ms: number; p99Ms: number; requests: number; errors: number };
  underAttack: { p50Ms: number; p99Ms: number; requests: number; errors: number };
  hostileRequests: number;
  /** Hostile answers that were not a clean GraphQL error or data (must be 0). */
  hostileUnclean: number;
  rssBeforeMb: number;
  rssPeakMb: number;
}

interface LoadResult {
  store: string;
  query: string;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  errors: number;
  responseBytesAvg: number;
  /** Median latency with a single client, for scale. */
  oneClientMs?: number;
}

/** Starts `circuit-atlas serve --port 0` with this env and resolves with its URL. */
function startServe(env: NodeJS.ProcessEnv): Promise<{ url: string; child: ChildProcess }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'circuit-atlas.js'), 'serve', '--port', '0'], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /serving at (http:\/\/\S+?)\/\n/.exec(output);
      if (match) resolve({ url: match[1], child });
    });
    child.on('exit', (code) => reject(new Error(`circuit-atlas serve exited (${code}) before listening:\n${output}`)));
  });
}

async function stopServe(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

async function post(url: string, body: string): Promise<string> {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
  const text = await response.text();
  if (!response.ok || text.includes('"errors"'))
    throw new Error(`request failed (${response.status}): ${text.slice(0, 500)}`);
  return text;
}

/** Median latency of one client asking `repeats` times in a row: the unloaded baseline. */
async function singleClientMs(url: string, nextBody: () => string, repeats = 10): Promise<number> {
  await post(url, nextBody());
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    await post(url, nextBody());
    times.push(performance.now() - start);
  }
  return median(times);
}

async function load(
  url: string,
  name: string,
  storeName: string,
  nextBody: () => string,
  connections = CONNECTIONS,
): Promise<LoadResult> {
  let graphqlErrors = 0;
  let firstError: string | null = null;
  const connectionErrors = new Map<string, number>();
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: `${url}/graphql`,
        connections,
        duration: SECONDS,
        // 50 clients queue behind each other on 2 cores: a request may wait many seconds, which is latency, not an error.
        timeout: 120,
        requests: [
          {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            setupRequest: (request) => ({ ...request, body: nextBody() }),
            onResponse: (status, body) => {
              if (status !== 200 || body.includes('"errors"')) {
                if (status === 200) graphqlErrors++;
                firstError ??= `${status} ${body.slice(0, 300)}`;
              }
            },
          },
        ],
      },
      (error, finished) => (error ? reject(error) : resolve(finished)),
    );
    instance.on('reqError', (error: Error & { code?: string }) => {
      const key = error.code ?? error.message;
      connectionErrors.set(key, (connectionErrors.get(key) ?? 0) + 1);
    });
  });
  // Requests sent before the end are still being answered: let them finish before the next run.
  await post(url, nextBody());
  const errors = {
    connection: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    graphql: graphqlErrors,
  };
  if (Object.values(errors).some((count) => count > 0)) {
    process.stdout.write(
      `${storeName} ${name}: errors ${JSON.stringify(errors)}; connection errors ${JSON.stringify(Object.fromEntries(connectionErrors))}; first response error: ${firstError ?? 'none'}\n`,
    );
  }
  return {
    store: storeName,
    query: name,
    requestsPerSecond: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    requests: result.requests.total,
    errors: result.errors + result.timeouts + result.non2xx + graphqlErrors,
    responseBytesAvg: result.requests.total > 0 ? result.throughput.total / result.requests.total : 0,
  };
}

async function benchStore(
  storeName: 'sqlite' | 'neo4j',
  env: NodeJS.ProcessEnv,
  graph: GraphDocument,
): Promise<LoadResult[]> {
  const store = await openStore(env);
  try {
    await store.deleteGraph(graph.id);
    await store.saveGraph(graph);
  } finally {
    await store.close();
  }
  const { url, child } = await startServe(env);
  try {
    const kinds = [
      { name: 'graph (2,000 nodes, all edges)', body: () => graphBody(graph) },
      { name: 'graph (2,000 nodes, edgeTable)', body: () => packedGraphBody(graph) },
      { name: 'node (20 edges + neighbours)', body: () => nodeBody(graph) },
    ];
    const results: LoadResult[] = [];
    for (const kind of ONLY_HOSTILE ? [] : kinds) {
      // A single client first (this also fails fast on a wrong query instead of benchmarking errors).
      const oneClientMs = await singleClientMs(url, kind.body);
      results.push({ ...(await load(url, kind.name, storeName, kind.body)), oneClientMs });
    }
    hostileResults.push(await hostileCase(url, child.pid!, storeName, graph));
    return results;
  } finally {
    await stopServe(child);
    const cleanup = await openStore(env);
    await cleanup.deleteGraph(graph.id);
    await cleanup.close();
  }
}

/** Resident set size of a process, from /proc (Linux), in MB. */
function rssMb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : NaN;
}

/** Ordinary node reads alone, then while hostile clients keep sending costly documents. */
async function hostileCase(url: string, pid: number, storeName: string, graph: GraphDocument): Promise<HostileResult> {
  const summary = (r: LoadResult) => ({ p50Ms: r.p50Ms, p99Ms: r.p99Ms, requests: r.requests, errors: r.errors });
  const alone = await load(url, 'node (alone)', storeName, () => nodeBody(graph), ORDINARY_CONNECTIONS);
  const rssBeforeMb = rssMb(pid);
  let rssPeakMb = rssBeforeMb;
  const sampler = setInterval(() => (rssPeakMb = Math.max(rssPeakMb, rssMb(pid))), 100);
  const hostile = HOSTILE_QUERIES(graph.id).map((query) => JSON.stringify({ query }));
  let attacking = true;
  let hostileRequests = 0;
  let hostileUnclean = 0;
  const attacker = async (offset: number) => {
    for (let i = offset; attacking; i++) {
      const response = await fetch(`${url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: hostile[i % hostile.length],
      });
      const text = await response.text();
      hostileRequests++;
      const body = JSON.parse(text) as { data?: unknown; errors?: { extensions?: { code?: string } }[] };
      const clean =
        response.status !== 500 &&
        !text.includes('    at ') &&
        (body.errors ?? []).every((e) => e.extensions?.code && e.extensions.code !== 'INTERNAL_SERVER_ERROR');
      if (!clean) hostileUnclean++;
    }
  };
  const attackers = Array.from({ length: HOSTILE_CONNECTIONS }, (_, i) => attacker(i));
  try {
    const underAttack = await load(
      url,
      'node (hostile queries arriving)',
      storeName,
      () => nodeBody(graph),
      ORDINARY_CONNECTIONS,
    );
    return {
      store: storeName,
      alone: summary(alone),
      underAttack: summary(underAttack),
      hostileRequests,
      hostileUnclean,
      rssBeforeMb,
      rssPeakMb,
    };
  } finally {
    attacking = false;
    await Promise.all(attackers);
    clearInterval(sampler);
  }
}

const graphBody = (graph: GraphDocument) => JSON.stringify({ query: GRAPH_QUERY, variables: { id: graph.id } });
const packedGraphBody = (graph: GraphDocument) =>
  JSON.stringify({ query: PACKED_GRAPH_QUERY, variables: { id: graph.id } });
function nodeBody(graph: GraphDocument): string {
  const node = graph.nodes[Math.floor(Math.random() * graph.nodes.length)];
  const direction = Math.random() < 0.5 ? 'in' : 'out';
  return JSON.stringify({ query: NODE_QUERY, variables: { g: graph.id, n: node.nodeId, d: direction } });
}

function printTable(results: LoadResult[]): void {
  const header = ['store', 'query', 'req/s', 'p50 ms', 'p99 ms', 'requests', 'errors', 'KB/resp', '1-client ms'];
  const rows = results.map((r) => [
    r.store,
    r.query,
    r.requestsPerSecond.toFixed(0),
    r.p50Ms.toFixed(1),
    r.p99Ms.toFixed(1),
    String(r.requests),
    String(r.errors),
    (r.responseBytesAvg / 1024).toFixed(1),
    r.oneClientMs?.toFixed(1) ?? '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  for (const row of [header, ...rows])
    process.stdout.write(row.map((cell, i) => cell.padEnd(widths[i])).join('  ') + '\n');
}

const hostileResults: HostileResult[] = [];

function printHostile(results: HostileResult[]): void {
  for (const r of results) {
    process.stdout.write(
      `${r.store} hostile case: node reads (${ORDINARY_CONNECTIONS} clients) p50/p99 ${r.alone.p50Ms.toFixed(0)}/${r.alone.p99Ms.toFixed(0)} ms alone, ` +
        `${r.underAttack.p50Ms.toFixed(0)}/${r.underAttack.p99Ms.toFixed(0)} ms with ${HOSTILE_CONNECTIONS} clients sending 1,000-alias and other costly documents ` +
        `(${r.hostileRequests} sent, ${r.hostileUnclean} unclean answers); ordinary errors ${r.underAttack.errors}; ` +
        `server RSS ${r.rssBeforeMb.toFixed(0)} MB before, peak ${r.rssPeakMb.toFixed(0)} MB\n`,
    );
  }
}

export async function run(): Promise<void> {
  const graph = randomGraph({ id: `bench-api-${Date.now().toString(36)}`, seed: 2026, ...GRAPH });
  process.stdout.write(
    `load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(
        ' ',
      )}; graph: ${graph.nodes.length} nodes, ${graph.edges.length} edges; ${CONNECTIONS} connections for ${SECONDS} s per query; ` +
      `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'})\n`,
  );
  const results: LoadResult[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'atlas-bench-api-'));
  try {
    if (STORES.includes('sqlite'))
      results.push(...(await benchStore('sqlite', { NEO4J_URI: '', ATLAS_DB: join(dir, 'atlas.sqlite') }, graph)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  let neo4j: { uri: string; stop(): Promise<void> } | null = null;
  if (!STORES.includes('neo4j')) return finish(results);
  const neo4jDir = mkdtempSync(join(tmpdir(), 'atlas-bench-api-neo4j-'));
  try {
    if (!process.env.NEO4J_URI) neo4j = await startNeo4j({ dataDir: neo4jDir });
    const uri = process.env.NEO4J_URI || neo4j!.uri;
    results.push(...(await benchStore('neo4j', { NEO4J_URI: uri }, graph)));
  } finally {
    await neo4j?.stop();
    rmSync(neo4jDir, { recursive: true, force: true });
  }
  finish(results);
}

function finish(results: LoadResult[]): void {
  printTable(results);
  printHostile(hostileResults);
  const failed = results.filter((r) => r.errors > 0);
  // The hostile case's bar (issue 15): ordinary reads keep p99 ≤ 500 ms, every hostile answer is clean.
  for (const r of hostileResults) {
    if (r.underAttack.p99Ms > 500 || r.hostileUnclean > 0 || r.underAttack.errors > 0) {
      process.stdout.write(
        `HOSTILE CASE FAILED (${r.store}): p99 ${r.underAttack.p99Ms} ms, unclean ${r.hostileUnclean}\n`,
      );
      process.exitCode = 1;
    }
  }
  if (failed.length > 0) process.stdout.write(`ERRORS in: ${failed.map((r) => `${r.store} ${r.query}`).join(', ')}\n`);
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(
    join(ROOT, 'bench', 'results', 'api.json'),
    JSON.stringify(
      {
        at: new Date().toISOString(),
        graph: GRAPH,
        connections: CONNECTIONS,
        seconds: SECONDS,
        results,
        hostile: hostileResults,
      },
      null,
      2,
    ),
  );
  if (failed.length > 0) process.exitCode = 1;
}
