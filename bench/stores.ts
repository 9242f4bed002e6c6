/**
 * `npm run bench -- stores`: both GraphStores on the same work, with 1,000 smaller graphs already
 * stored. Medians of: saving a 5,000-node / 100,000-edge graph, loading it pruned (0.8 / 0.98),
 * finding its top-5 paths (load pruned + rank), comparing two such graphs (load both + compare).
 * SQLite runs on a temp file; Neo4j on NEO4J_URI, or on a fresh tools/neo4j started here.
 * Results also go to bench/results/stores.json.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GraphDocument } from '@circuit-atlas/schema';
import type { GraphStore } from '@circuit-atlas/server';
import { SqliteStore } from '@circuit-atlas/server';
import { Neo4jStore } from '@circuit-atlas/server';
import { findTopPaths } from '@circuit-atlas/server';
import { compareGraphs } from '@circuit-atlas/server';
import { randomGraph } from '../test-support/graph-generator.js';
import { startNeo4j } from '../tools/neo4j/launcher.js';
import { formatMs, median, timeRepeated } from './stats.js';

const BACKGROUND_GRAPHS = 1000;
const BIG = { nodes: 5000, edges: 100_000, nLayers: 16, nPos: 24, featurePool: 3000 };
const PRUNE = { nodeThreshold: 0.8, edgeThreshold: 0.98 };
const PREFIX = `bench-${Date.now().toString(36)}`;

interface StoreResult {
  store: 'sqlite' | 'neo4j';
  seedSeconds: number;
  saveMs: number[];
  deleteMs: number[];
  loadPrunedMs: number[];
  loadFullMs: number[];
  pathsMs: number[];
  pathsRankOnlyMs: number[];
  compareMs: number[];
  compareOnlyMs: number[];
  prunedSize: { nodes: number; edges: number };
}

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

function log(text: string): void {
  process.stdout.write(`${text}\n`);
}

async function measure(store: GraphStore, saveRepeats: number, readRepeats: number): Promise<StoreResult> {
  await store.init();
  // 1,000 smaller graphs (pruned-graph scale, shared feature pool), as a collection would hold.
  let start = performance.now();
  for (let i = 0; i < BACKGROUND_GRAPHS; i++) {
    await store.saveGraph(
      randomGraph({
        id: `${PREFIX}-bg${i}`,
        seed: 10_000 + i,
        nodes: 120,
        edges: 600,
        nLayers: 16,
        nPos: 12,
        featurePool: 3000,
      }),
    );
  }
  const seedSeconds = (performance.now() - start) / 1000;
  log(`  ${store.kind}: ${BACKGROUND_GRAPHS} background graphs stored in ${seedSeconds.toFixed(1)} s`);

  const big = (seed: number, id: string): GraphDocument => randomGraph({ id, seed, ...BIG });
  const saveMs: number[] = [];
  const deleteMs: number[] = [];
  for (let i = 0; i < saveRepeats; i++) {
    const graph = big(1, `${PREFIX}-save${i}`);
    gc();
    start = performance.now();
    await store.saveGraph(graph);
    saveMs.push(performance.now() - start);
    start = performance.now();
    await store.deleteGraph(graph.id);
    deleteMs.push(performance.now() - start);
    log(`  ${store.kind}: save ${formatMs(saveMs.at(-1)!)}, delete ${formatMs(deleteMs.at(-1)!)}`);
  }

  const a = big(1, `${PREFIX}-a`);
  const b = big(2, `${PREFIX}-b`);
  await store.saveGraph(a);
  await store.saveGraph(b);
  const from = a.nodes.filter((n) => n.kind === 'embedding').at(-1)!.nodeId;
  const to = a.nodes.filter((n) => n.kind === 'logit').sort((x, y) => y.tokenProb! - x.tokenProb!)[0].nodeId;

  const loadPrunedMs = await timeRepeated(() => store.getGraph(a.id, PRUNE), readRepeats);
  const loadFullMs = await timeRepeated(() => store.getGraph(a.id), readRepeats);
  const pruned = (await store.getGraph(a.id, PRUNE))!;
  const pathsMs = await timeRepeated(
    async () => findTopPaths((await store.getGraph(a.id, PRUNE))!, { from, to, k: 5, maxLength: 6 }),
    readRepeats,
  );
  const pathsRankOnlyMs = await timeRepeated(() => findTopPaths(pruned, { from, to, k: 5, maxLength: 6 }), readRepeats);
  const compareMs = await timeRepeated(async () => {
    const [ga, gb] = await Promise.all([store.getGraph(a.id, PRUNE), store.getGraph(b.id, PRUNE)]);
    return compareGraphs(ga!, gb!);
  }, readRepeats);
  const prunedB = (await store.getGraph(b.id, PRUNE))!;
  const compareOnlyMs = await timeRepeated(() => compareGraphs(pruned, prunedB), readRepeats);
  return {
    store: store.kind,
    seedSeconds,
    saveMs,
    deleteMs,
    loadPrunedMs,
    loadFullMs,
    pathsMs,
    pathsRankOnlyMs,
    compareMs,
    compareOnlyMs,
    prunedSize: { nodes: pruned.nodes.length, edges: pruned.edges.length },
  };
}

/** Removes what this run stored (only needed on a Neo4j that outlives the benchmark). */
async function cleanUp(store: GraphStore): Promise<void> {
  const ids = [
    `${PREFIX}-a`,
    `${PREFIX}-b`,
    ...Array.from({ length: BACKGROUND_GRAPHS }, (_, i) => `${PREFIX}-bg${i}`),
  ];
  for (const id of ids) await store.deleteGraph(id);
}

export async function run(): Promise<void> {
  log(
    `stores: ${BACKGROUND_GRAPHS} background graphs (120 nodes, 600 edges each), then a ${BIG.nodes}-node / ${BIG.edges}-edge graph`,
  );
  log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}`);
  const results: StoreResult[] = [];

  const dir = mkdtempSync(join(tmpdir(), 'atlas-bench-stores-'));
  try {
    const sqlite = new SqliteStore(join(dir, 'bench.sqlite'));
    try {
      results.push(await measure(sqlite, 5, 7));
    } finally {
      await sqlite.close();
    }

    let uri = process.env.NEO4J_URI;
    let stopNeo4j: (() => Promise<void>) | null = null;
    if (!uri) {
      log('  starting Neo4j (tools/neo4j) ...');
      const neo4j = await startNeo4j({ dataDir: join(dir, 'neo4j') });
      uri = neo4j.uri;
      stopNeo4j = neo4j.stop;
    }
    const neo4jStore = new Neo4jStore({ uri, user: process.env.NEO4J_USER, password: process.env.NEO4J_PASSWORD });
    try {
      results.push(await measure(neo4jStore, 3, 5));
      if (!stopNeo4j) await cleanUp(neo4jStore);
    } finally {
      await neo4jStore.close();
      await stopNeo4j?.();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const rows: [string, (r: StoreResult) => number[]][] = [
    [`save ${BIG.nodes} nodes / ${BIG.edges} edges`, (r) => r.saveMs],
    ['delete it', (r) => r.deleteMs],
    ['load it whole', (r) => r.loadFullMs],
    [`load it pruned (${PRUNE.nodeThreshold} / ${PRUNE.edgeThreshold})`, (r) => r.loadPrunedMs],
    ['top-5 paths (load pruned + rank)', (r) => r.pathsMs],
    ['  of which ranking', (r) => r.pathsRankOnlyMs],
    ['compare two graphs (load both + compare)', (r) => r.compareMs],
    ['  of which comparing', (r) => r.compareOnlyMs],
  ];
  log('');
  log(`${'median'.padEnd(44)} ${'sqlite'.padStart(10)} ${'neo4j'.padStart(10)}  neo4j/sqlite`);
  for (const [name, pick] of rows) {
    const [s, n] = results.map((r) => median(pick(r)));
    log(`${name.padEnd(44)} ${formatMs(s).padStart(10)} ${formatMs(n).padStart(10)}  ${(n / s).toFixed(1)}×`);
  }
  log(`pruned graph: ${results[0].prunedSize.nodes} nodes, ${results[0].prunedSize.edges} edges`);
  mkdirSync('bench/results', { recursive: true });
  writeFileSync(
    'bench/results/stores.json',
    `${JSON.stringify({ date: new Date().toISOString(), results }, null, 2)}\n`,
  );
}
