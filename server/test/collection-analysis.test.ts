/**
 * Collection analysis on both stores (a real SQLite file, the suite's real Neo4j): the common
 * circuit, clusters by circuit similarity, and which graphs use a feature or a path. Each answer is
 * checked against a direct count over the saved documents, and the two stores must agree exactly
 * (up to float rounding in sums). The collection is two families of generated graphs in the real
 * graph-document format whose features come from disjoint pools, so the clusters are known.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatNodeId, type GraphDocument } from '@circuit-atlas/schema';
import { randomGraph } from '../../test-support/graph-generator.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { Neo4jStore } from '../src/store/neo4j/neo4j-store.js';
import type { GraphStore } from '../src/store/graph-store.js';
import type { CollectionQueries } from '../src/store/collection-queries.js';
import {
  clusterGraphs,
  collectionQueriesOf,
  commonCircuit,
  graphsUsingFeature,
  graphsUsingPath,
  parsePathEnd,
} from '../src/analysis/collection.js';

const model = `coll-${randomUUID().slice(0, 8)}`; // a model of its own: the shared Neo4j holds other graphs
const transcoderSet = `${model}/plt`;
const dir = mkdtempSync(join(tmpdir(), 'atlas-collection-'));
const POOL_B_OFFSET = 5000;

/** Family B: the same generator, its feature indices moved past family A's pool. */
function shiftFeatures(doc: GraphDocument, offset: number): GraphDocument {
  const renamed = new Map<string, string>();
  const nodes = doc.nodes.map((node) => {
    if (node.kind !== 'feature') return node;
    const feature = node.feature! + offset;
    const nodeId = formatNodeId('feature', node.layer, node.ctxIdx, feature, doc.nLayers);
    renamed.set(node.nodeId, nodeId);
    return { ...node, feature, nodeId };
  });
  const edges = doc.edges.map((e) => ({
    ...e,
    source: renamed.get(e.source) ?? e.source,
    target: renamed.get(e.target) ?? e.target,
  }));
  return { ...doc, nodes, edges };
}

const graphs: GraphDocument[] = [];
for (let i = 0; i < 12; i++) {
  const family = i < 7 ? 'a' : 'b';
  const doc = randomGraph({
    id: `${model}-${family}${i}`,
    seed: 100 + i,
    nodes: 90,
    edges: 500,
    featurePool: 15,
    nLayers: 4,
    nPos: 6,
    model,
    transcoderSet,
    prompt: `family ${family} prompt ${i}`,
  });
  graphs.push(family === 'a' ? doc : shiftFeatures(doc, POOL_B_OFFSET));
}
const familyA = graphs.filter((g) => g.prompt.startsWith('family a')).map((g) => g.id);
const familyB = graphs.filter((g) => g.prompt.startsWith('family b')).map((g) => g.id);

/** Per graph: each feature's largest activation, and each feature→(feature|logit) edge's summed weight. */
function reference(docs: GraphDocument[]) {
  const features = new Map<string, number[]>();
  const edges = new Map<string, number[]>();
  for (const doc of docs) {
    const byId = new Map(doc.nodes.map((n) => [n.nodeId, n]));
    const act = new Map<string, number>();
    for (const n of doc.nodes)
      if (n.kind === 'feature')
        act.set(`${n.layer}:${n.feature}`, Math.max(act.get(`${n.layer}:${n.feature}`) ?? -Infinity, n.activation!));
    for (const [key, value] of act) features.set(key, [...(features.get(key) ?? []), value]);
    const sums = new Map<string, number>();
    for (const e of doc.edges) {
      const s = byId.get(e.source)!;
      const t = byId.get(e.target)!;
      if (s.kind !== 'feature' || (t.kind !== 'feature' && t.kind !== 'logit')) continue;
      const key = `${s.layer}:${s.feature}>${t.kind === 'logit' ? `logit:${t.feature}` : `${t.layer}:${t.feature}`}`;
      sums.set(key, (sums.get(key) ?? 0) + e.weight);
    }
    for (const [key, value] of sums) edges.set(key, [...(edges.get(key) ?? []), value]);
  }
  return { features, edges };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const spread = (xs: number[]) => Math.sqrt(Math.max(0, mean(xs.map((x) => x * x)) - mean(xs) ** 2));

const stores: { name: string; store: GraphStore; queries: CollectionQueries }[] = [];

beforeAll(async () => {
  const sqlite = new SqliteStore(join(dir, 'collection.sqlite'));
  const neo = new Neo4jStore({ uri: inject('neo4jUri') });
  for (const store of [sqlite, neo]) {
    await store.init();
    for (const g of graphs) await store.saveGraph(g);
    stores.push({ name: store.kind, store, queries: collectionQueriesOf(store) });
  }
});

afterAll(async () => {
  for (const { store, queries } of stores) {
    await queries.close();
    if (store.kind === 'neo4j') for (const g of graphs) await store.deleteGraph(g.id);
    await store.close();
  }
  rmSync(dir, { recursive: true, force: true });
});

describe.each(['sqlite', 'neo4j'])('collection analysis on %s', (kind) => {
  const queries = () => stores.find((s) => s.name === kind)!.queries;

  it('finds the common circuit: features and edges in at least k% of the graphs, with mean and spread', async () => {
    const circuit = await commonCircuit(queries(), { model, graphIds: familyA }, { minShare: 0.4, maxEdges: 10_000 });
    const expected = reference(graphs.filter((g) => familyA.includes(g.id)));
    const minCount = Math.ceil(0.4 * familyA.length);
    const expectedFeatures = [...expected.features].filter(([, xs]) => xs.length >= minCount);
    expect(circuit.graphCount).toBe(familyA.length);
    expect(circuit.transcoderSet).toBe(transcoderSet);
    expect(circuit.features.length).toBe(expectedFeatures.length);
    expect(circuit.features.length).toBeGreaterThan(3);
    for (const f of circuit.features) {
      const xs = expected.features.get(`${f.layer}:${f.index}`)!;
      expect(f.graphCount).toBe(xs.length);
      expect(f.share).toBeCloseTo(xs.length / familyA.length, 12);
      expect(f.activation.mean).toBeCloseTo(mean(xs), 9);
      expect(f.activation.spread).toBeCloseTo(spread(xs), 6);
    }
    // Most shared first.
    for (let i = 1; i < circuit.features.length; i++)
      expect(circuit.features[i - 1].graphCount).toBeGreaterThanOrEqual(circuit.features[i].graphCount);
    const kept = new Set(circuit.features.map((f) => `${f.layer}:${f.index}`));
    const expectedEdges = [...expected.edges].filter(([key, xs]) => {
      const [source, target] = key.split('>');
      return xs.length >= minCount && kept.has(source) && (target.startsWith('logit:') || kept.has(target));
    });
    expect(circuit.edges.length).toBe(expectedEdges.length);
    expect(circuit.edges.length).toBeGreaterThan(3);
    for (const e of circuit.edges) {
      const target = e.target.kind === 'logit' ? `logit:${e.target.tokenId}` : `${e.target.layer}:${e.target.index}`;
      const xs = expected.edges.get(`${e.source.layer}:${e.source.index}>${target}`)!;
      expect(e.graphCount).toBe(xs.length);
      expect(e.weight.mean).toBeCloseTo(mean(xs), 9);
      expect(e.weight.spread).toBeCloseTo(spread(xs), 6);
      if (e.target.kind === 'logit') expect(['Dallas', 'Texas', 'capital']).toContain(e.target.token);
    }
  });

  it('clusters the two families of graphs apart', async () => {
    const clustering = await clusterGraphs(queries(), { model }, { minSimilarity: 0.2 });
    expect(clustering.graphCount).toBe(graphs.length);
    const groups = clustering.clusters.map((c) => [...c.graphIds].sort());
    expect(groups).toEqual([[...familyA].sort(), [...familyB].sort()]);
    for (const c of clustering.clusters) {
      expect(c.cohesion).toBeGreaterThan(0.2);
      expect(c.features[0].graphCount).toBeLessThanOrEqual(c.graphIds.length);
    }
    expect(clustering.clusters[1].features.every((f) => f.index >= POOL_B_OFFSET)).toBe(true);
    // At a similarity no two graphs reach, every graph is its own cluster.
    const apart = await clusterGraphs(queries(), { model }, { minSimilarity: 1 });
    expect(apart.clusters.length).toBe(graphs.length);
  });

  it('says which graphs use a feature, with counts, most active first', async () => {
    const { features } = reference(graphs);
    const [key] = [...features].sort((a, b) => b[1].length - a[1].length)[0];
    const [layer, index] = key.split(':').map(Number);
    const page = await graphsUsingFeature(queries(), { model }, { layer, index }, { limit: 100 });
    const expected = graphs.filter((g) =>
      g.nodes.some((n) => n.kind === 'feature' && n.layer === layer && n.feature === index),
    );
    expect(page.total).toBe(expected.length);
    expect(page.items.map((i) => i.graphId).sort()).toEqual(expected.map((g) => g.id).sort());
    for (const item of page.items) {
      const doc = graphs.find((g) => g.id === item.graphId)!;
      const nodes = doc.nodes.filter((n) => n.kind === 'feature' && n.layer === layer && n.feature === index);
      expect(item.occurrences).toBe(nodes.length);
      expect(item.maxActivation).toBeCloseTo(Math.max(...nodes.map((n) => n.activation!)), 12);
    }
    const second = await graphsUsingFeature(queries(), { model }, { layer, index }, { limit: 2, offset: 1 });
    expect(second.items).toEqual(page.items.slice(1, 3));
    // Within a selection, the share of the collection is known.
    const inA = await graphsUsingFeature(queries(), { model, graphIds: familyA }, { layer, index });
    expect(inA.collectionSize).toBe(familyA.length);
    expect(inA.items.every((i) => familyA.includes(i.graphId))).toBe(true);
  });

  it('says which graphs use the path X → Y in one and two hops', async () => {
    const { edges } = reference(graphs);
    const [key] = [...edges].filter(([k]) => !k.includes('logit')).sort((a, b) => b[1].length - a[1].length)[0];
    const [from, to] = key.split('>').map((k) => parsePathEnd(k, 'end'));
    for (const maxHops of [1, 2]) {
      const page = await graphsUsingPath(queries(), { model }, from, to, { maxHops, limit: 100 });
      const expected = graphs
        .map((doc) => ({ doc, walks: walks(doc, from, to, maxHops) }))
        .filter((x) => x.walks.length > 0);
      expect(page.total).toBe(expected.length);
      for (const item of page.items) {
        const { walks: ws } = expected.find((x) => x.doc.id === item.graphId)!;
        expect(item.paths).toBe(ws.length);
        expect(item.strongest).toBeCloseTo(Math.max(...ws.map(Math.abs)), 9);
        expect(item.total).toBeCloseTo(
          ws.reduce((a, b) => a + b, 0),
          9,
        );
      }
    }
    const toLogit = await graphsUsingPath(queries(), { model }, from, parsePathEnd('logit:Dallas', 'to'), {
      maxHops: 2,
    });
    expect(toLogit.total).toBe(
      graphs.filter((doc) => walks(doc, from, { kind: 'logit', token: 'Dallas' }, 2).length > 0).length,
    );
  });

  it('refuses questions it cannot answer with a message that says why', async () => {
    await expect(commonCircuit(queries(), { model: `${model}-none` })).rejects.toThrow(/no stored graphs of model/);
    await expect(commonCircuit(queries(), { model, graphIds: ['nope'] })).rejects.toThrow(
      /no stored graph with id 'nope'/,
    );
    await expect(commonCircuit(queries(), { model }, { minShare: 0 })).rejects.toThrow(
      /minShare must be a number in \(0, 1\]/,
    );
    expect(() => parsePathEnd('2-647', 'from')).toThrow(/from '2-647' is not a feature 'layer:index'/);
    await expect(
      graphsUsingPath(
        queries(),
        { model },
        { kind: 'feature', layer: 0, index: 0 },
        { kind: 'logit', token: 'x' },
        { maxHops: 4 },
      ),
    ).rejects.toThrow(/maxHops must be 1, 2 or 3/);
  });
});

describe('both stores', () => {
  it('give the same answers', async () => {
    const [a, b] = stores.map((s) => s.queries);
    const round = (x: unknown) =>
      JSON.parse(JSON.stringify(x, (_, v) => (typeof v === 'number' ? Number(v.toPrecision(10)) : v)));
    expect(round(await commonCircuit(a, { model }, { minShare: 0.3 }))).toEqual(
      round(await commonCircuit(b, { model }, { minShare: 0.3 })),
    );
    expect(round(await clusterGraphs(a, { model }, { minSimilarity: 0.3 }))).toEqual(
      round(await clusterGraphs(b, { model }, { minSimilarity: 0.3 })),
    );
  });
});

/** Products of edge weights along every path of 1..maxHops edges from a node of `from` to one of `to`. */
function walks(
  doc: GraphDocument,
  from: ReturnType<typeof parsePathEnd>,
  to: ReturnType<typeof parsePathEnd>,
  maxHops: number,
): number[] {
  const byId = new Map(doc.nodes.map((n) => [n.nodeId, n]));
  const is = (id: string, end: ReturnType<typeof parsePathEnd>) => {
    const n = byId.get(id)!;
    return end.kind === 'feature'
      ? n.kind === 'feature' && n.layer === end.layer && n.feature === end.index
      : n.kind === 'logit' && n.label.startsWith(`Output "${end.token}" (`);
  };
  const out = new Map<string, { target: string; weight: number }[]>();
  for (const e of doc.edges) out.set(e.source, [...(out.get(e.source) ?? []), { target: e.target, weight: e.weight }]);
  const found: number[] = [];
  const walk = (node: string, product: number, hops: number) => {
    if (hops > 0 && is(node, to)) found.push(product);
    if (hops === maxHops) return;
    for (const e of out.get(node) ?? []) walk(e.target, product * e.weight, hops + 1);
  };
  for (const n of doc.nodes) if (is(n.nodeId, from)) walk(n.nodeId, 1, 0);
  return found;
}
