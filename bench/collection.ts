/**
 * `npm run bench -- collection`: questions about a collection of 1,000 stored graphs on both stores.
 * p50 (and p90) of: the common circuit (features and edges in ≥ 30% of the graphs), clustering the
 * 1,000 graphs by circuit similarity, which graphs use the most common feature, and which use the
 * most common edge as a path. Graphs are generated in the real document format (150 nodes, 600
 * edges, a small shared feature pool so features recur). SQLite runs on a temp file; Neo4j on NEO4J_URI,
 * or on a fresh tools/neo4j started here. Results also go to bench/results/collection.json.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Neo4jStore,
  SqliteStore,
  clusterGraphs,
  collectionQueriesOf,
  commonCircuit,
  graphsUsingFeature,
  graphsUsingPath,
  type GraphStore,
} from '@circuit-atlas/server';
import { randomGraph } from '../test-support/graph-generator.js';
import { startNeo4j } from '../tools/neo4j/launcher.js';
import { formatMs, percentile, timeRepeated } from './stats.js';

const GRAPHS = Number(process.env.ATLAS_BENCH_GRAPHS ?? 1000);
const REPEATS = 7;
const MODEL = `bench-collection-${Date.now().toString(36)}`;

function log(text: string): void {
  process.stdout.write(`${text}\n`);
}

interface Timings {
  store: string;
  seedSeconds: number;
  commonMs: number[];
  clusterMs: number[];
  featureMs: number[];
  pathMs: number[];
  sizes: { features: number; edges: number; clusters: number; featureGraphs: number; pathGraphs: number };
}

async function measure(store: GraphStore): Promise<Timings> {
  await store.init();
  const start = performance.now();
  for (let i = 0; i < GRAPHS; i++) {
    await store.saveGraph(
      randomGraph({
        id: `${MODEL}-${i}`,
        seed: 50_000 + i,
        nodes: 150,
        edges: 600,
        nLayers: 8,
        nPos: 10,
        featurePool: 8,
        model: MODEL,
        transcoderSet: `${MODEL}/plt`,
      }),
    );
  }
  const seedSeconds = (performance.now() - start) / 1000;
  log(`  ${store.kind}: ${GRAPHS} graphs stored in ${seedSeconds.toFixed(1)} s`);
  const queries = collectionQueriesOf(store);
  try {
    const selection = { model: MODEL, limit: GRAPHS };
    const circuit = await commonCircuit(queries, selection, { minShare: 0.3 });
    const commonMs = await timeRepeated(() => commonCircuit(queries, selection, { minShare: 0.3 }), REPEATS);
    log(`  ${store.kind}: common circuit p50 ${formatMs(percentile(commonMs, 50))}`);
    const clustering = await clusterGraphs(queries, selection, { minSimilarity: 0.3 });
    const clusterMs = await timeRepeated(() => clusterGraphs(queries, selection, { minSimilarity: 0.3 }), REPEATS);
    log(`  ${store.kind}: clustering p50 ${formatMs(percentile(clusterMs, 50))}`);
    const top = circuit.features[0];
    if (!top) throw new Error('no feature is in 30% of the generated graphs: the feature pool is too large');
    const feature = { layer: top.layer, index: top.index };
    const uses = await graphsUsingFeature(queries, { model: MODEL }, feature);
    const featureMs = await timeRepeated(() => graphsUsingFeature(queries, { model: MODEL }, feature), REPEATS);
    // A common edge as the path, else the top feature to a common feature of a later layer.
    const edge = circuit.edges.find((e) => e.target.kind === 'feature') ?? circuit.edges[0];
    const from = { kind: 'feature' as const, ...(edge ? edge.source : feature) };
    const later = circuit.features.find((f) => f.layer > from.layer) ?? top;
    const to = !edge
      ? { kind: 'feature' as const, layer: later.layer, index: later.index }
      : edge.target.kind === 'feature'
        ? { kind: 'feature' as const, layer: edge.target.layer, index: edge.target.index }
        : { kind: 'logit' as const, token: edge.target.token };
    const paths = await graphsUsingPath(queries, { model: MODEL }, from, to, { maxHops: 2 });
    const pathMs = await timeRepeated(
      () => graphsUsingPath(queries, { model: MODEL }, from, to, { maxHops: 2 }),
      REPEATS,
    );
    return {
      store: store.kind,
      seedSeconds,
      commonMs,
      clusterMs,
      featureMs,
      pathMs,
      sizes: {
        features: circuit.features.length,
        edges: circuit.edges.length,
        clusters: clustering.clusters.length,
        featureGraphs: uses.total,
        pathGraphs: paths.total,
      },
    };
  } finally {
    await queries.close();
  }
}

export async function run(): Promise<void> {
  log(`collection: ${GRAPHS} stored graphs (150 nodes, 600 edges, 8 layers, feature pool 8 per layer) per store`);
  log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}`);
  const results: Timings[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'atlas-bench-collection-'));
  try {
    const sqlite = new SqliteStore(join(dir, 'bench.sqlite'));
    try {
      results.push(await measure(sqlite));
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
      results.push(await measure(neo4jStore));
      // A Neo4j that outlives the benchmark keeps nothing of it.
      if (!stopNeo4j) for (let i = 0; i < GRAPHS; i++) await neo4jStore.deleteGraph(`${MODEL}-${i}`);
    } finally {
      await neo4jStore.close();
      await stopNeo4j?.();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const rows: [string, (t: Timings) => number[]][] = [
    ['common circuit (≥ 30% of graphs)', (t) => t.commonMs],
    [`cluster ${GRAPHS} graphs (avg. linkage, ≥ 0.3)`, (t) => t.clusterMs],
    ['graphs using the top feature', (t) => t.featureMs],
    ['graphs using a common path (≤ 2 hops)', (t) => t.pathMs],
  ];
  log('');
  log(`${'p50 (p90)'.padEnd(44)} ${'sqlite'.padStart(20)} ${'neo4j'.padStart(20)}`);
  for (const [name, pick] of rows) {
    const cells = results.map((r) => `${formatMs(percentile(pick(r), 50))} (${formatMs(percentile(pick(r), 90))})`);
    log(`${name.padEnd(44)} ${cells.map((c) => c.padStart(20)).join(' ')}`);
  }
  const s = results[0].sizes;
  log(
    `answers: ${s.features} common features, ${s.edges} common edges, ${s.clusters} clusters, ` +
      `top feature in ${s.featureGraphs} graphs, path in ${s.pathGraphs} graphs (same on both stores: ${JSON.stringify(results[0].sizes) === JSON.stringify(results[1]?.sizes)})`,
  );
  mkdirSync('bench/results', { recursive: true });
  writeFileSync(
    'bench/results/collection.json',
    `${JSON.stringify({ date: new Date().toISOString(), results }, null, 2)}\n`,
  );
}
