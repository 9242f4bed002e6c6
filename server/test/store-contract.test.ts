/**
 * The GraphStore contract, run against both stores: a real SQLite file in a temp folder and the
 * real Neo4j started by tools/neo4j. Every answer is checked against what the contract says
 * (store-answers.ts), and the two stores against each other. Ids carry a per-run prefix and graphs
 * a per-run model name, so the shared Neo4j never mixes this run with other test files.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { neo4jUri } from '../../test-support/neo4j.js';
import type { GraphDocument } from '@circuit-atlas/schema';
import { fromGraphJson } from '@circuit-atlas/tracer';
import type { GraphStore } from '../src/store/graph-store.js';
import { StoreError } from '../src/store/store-error.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { Neo4jStore } from '../src/store/neo4j/neo4j-store.js';
import { findTopPaths } from '../src/analysis/paths.js';
import { compareGraphs } from '../src/analysis/compare.js';
import { randomGraph } from '../../test-support/graph-generator.js';
import { expectSameAnswer, incidentEdges, occurrences, prunedDocument, sharingCounts } from './store-answers.js';

const RUN = `ct${Date.now().toString(36)}`;
const MODEL = `contract-model-${RUN}`;
const TRANSCODERS = `${MODEL}/plt`;
const tempDir = mkdtempSync(join(tmpdir(), 'atlas-store-contract-'));
const FIXTURE = 'tracer/test/fixtures/reference/llama-tiny/capital-of-texas.graph.json';

/** Eight graphs of one model (sharing features from a small pool) and one of another model. */
function contractGraphs(): GraphDocument[] {
  const graphs = Array.from({ length: 8 }, (_, i) =>
    randomGraph({
      id: `${RUN}-g${i}`,
      seed: 100 + i,
      nodes: 80 + 20 * i,
      edges: 600 + 50 * i,
      nPos: 6 + (i % 4),
      featurePool: 40,
      model: MODEL,
      transcoderSet: TRANSCODERS,
      prompt: i % 2 === 0 ? `The capital of Texas is (${i})` : `Dallas is in the state of (${i})`,
      nullEdgeInfluence: i === 3 ? 0.3 : 0,
    }),
  );
  // Imported graphs lack token ids and scores; one has a feature budget.
  graphs[2] = { ...graphs[2], tokenIds: [], scores: null };
  graphs[5] = { ...graphs[5], settings: { ...graphs[5].settings, maxFeatureNodes: 7500 } };
  graphs[6] = { ...graphs[6], createdAt: graphs[1].createdAt }; // a createdAt tie, broken by id
  graphs.push(
    randomGraph({
      id: `${RUN}-other`,
      seed: 300,
      nodes: 60,
      edges: 300,
      featurePool: 40,
      model: `${MODEL}-other`,
      transcoderSet: TRANSCODERS,
    }),
  );
  return graphs;
}

function fixtureGraph(): GraphDocument {
  const doc = fromGraphJson(JSON.parse(readFileSync(FIXTURE, 'utf8')), {
    id: `${RUN}-fixture`,
    createdAt: '2026-02-01T00:00:00.000Z',
  });
  return { ...doc, model: `${MODEL}-fixture` };
}

async function expectStoreError(promise: Promise<unknown>, code: StoreError['code'], message: RegExp): Promise<void> {
  const error = await promise.then(
    () => expect.fail('expected a StoreError'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StoreError);
  expect((error as StoreError).code).toBe(code);
  expect((error as StoreError).message).toMatch(message);
}

const STORES: { name: 'sqlite' | 'neo4j'; open: () => GraphStore }[] = [
  { name: 'sqlite', open: () => new SqliteStore(join(tempDir, 'contract.sqlite')) },
  { name: 'neo4j', open: () => new Neo4jStore({ uri: neo4jUri(), batchSize: 500 }) },
];

/** Answers per store, for the cross-store identity check at the end. */
const answers: Record<string, unknown[]> = { sqlite: [], neo4j: [] };

describe.each(STORES)('GraphStore contract on $name', ({ name, open }) => {
  let store: GraphStore;
  const graphs = contractGraphs();
  const sameModel = graphs.filter((g) => g.model === MODEL);
  const record = <T>(answer: T): T => {
    answers[name].push(answer);
    return answer;
  };

  beforeAll(async () => {
    store = open();
    await store.init();
    await store.init(); // init is idempotent: constraints, indexes and migrations are not re-applied
    for (const graph of graphs) await store.saveGraph(graph);
  });

  afterAll(async () => {
    for (const graph of [...graphs, fixtureGraph()]) await store.deleteGraph(graph.id);
    await store.close();
  });

  it('returns a saved graph exactly as it was saved, nodes and edges in saved order', async () => {
    for (const graph of graphs) expectSameAnswer(record(await store.getGraph(graph.id)), graph);
  });

  it('returns null for a graph id it does not have', async () => {
    expect(await store.getGraph(`${RUN}-missing`)).toBeNull();
  });

  it('prunes by node and edge influence, keeping embeddings, logits and unscored edges', async () => {
    for (const graph of sameModel.slice(0, 4)) {
      for (const [nodeThreshold, edgeThreshold] of [
        [0.5, 0.9],
        [0.3, 0.5],
        [0, 0],
        [0.8, undefined],
        [undefined, 0.2],
      ] as const) {
        const pruned = record(await store.getGraph(graph.id, { nodeThreshold, edgeThreshold }));
        const expected = prunedDocument(graph, nodeThreshold, edgeThreshold);
        expectSameAnswer(pruned, expected);
      }
    }
    const strict = (await store.getGraph(graphs[0].id, { nodeThreshold: 0, edgeThreshold: 0 }))!;
    expect(strict.nodes.every((n) => n.kind === 'embedding' || n.kind === 'logit' || n.influence === 0)).toBe(true);
    expect(strict.nodes.length).toBeGreaterThan(0);
  });

  it('refuses thresholds outside [0, 1]', async () => {
    await expectStoreError(
      store.getGraph(graphs[0].id, { nodeThreshold: 1.5 }),
      'INVALID',
      /thresholds must be numbers in \[0, 1\]/,
    );
  });

  it('lists graphs filtered by model and prompt text, sorted and paginated', async () => {
    const newestFirst = [...sameModel].sort(
      (a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt) || (a.id < b.id ? -1 : 1),
    );
    const page = record(await store.listGraphs({ model: MODEL, limit: 3, offset: 2 }));
    expect(page.total).toBe(sameModel.length);
    expect(page.items.map((g) => g.id)).toEqual(newestFirst.slice(2, 5).map((g) => g.id));
    expect(page.items[0]).toMatchObject({
      model: MODEL,
      transcoderSet: TRANSCODERS,
      nodeCount: newestFirst[2].nodes.length,
      edgeCount: newestFirst[2].edges.length,
    });
    expect(page.items[0].settings).toEqual(newestFirst[2].settings);

    const texas = record(
      await store.listGraphs({ model: MODEL, text: 'TEXAS', sortBy: 'prompt', order: 'asc', limit: 100 }),
    );
    const expectedTexas = sameModel
      .filter((g) => g.prompt.toLowerCase().includes('texas'))
      .sort((a, b) => (a.prompt < b.prompt ? -1 : 1));
    expect(texas.total).toBe(4);
    expect(texas.items.map((g) => g.id)).toEqual(expectedTexas.map((g) => g.id));

    const bySize = record(await store.listGraphs({ model: MODEL, sortBy: 'nodeCount', order: 'desc', limit: 100 }));
    expect(bySize.items.map((g) => g.nodeCount)).toEqual(sameModel.map((g) => g.nodes.length).sort((a, b) => b - a));
    const oldest = record(await store.listGraphs({ model: MODEL, order: 'asc', limit: 100 }));
    expect(oldest.items.map((g) => g.id)).toEqual(
      [...newestFirst]
        .sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt) || (a.id < b.id ? -1 : 1))
        .map((g) => g.id),
    );
    expect((await store.listGraphs({ model: MODEL, text: 'no such prompt' })).total).toBe(0);
    // Text is matched as text, never as a pattern or code.
    expect((await store.listGraphs({ model: MODEL, text: "%' OR 1=1 --" })).total).toBe(0);
    await expectStoreError(store.listGraphs({ limit: -1 }), 'INVALID', /limit must be an integer/);
  });

  it("pages a node's incident edges by |weight|, ties by the other node's id", async () => {
    const graph = graphs[4];
    const inputs = (id: string) => graph.edges.filter((e) => e.target === id).length;
    const busiest = graph.nodes.reduce((best, n) => (inputs(n.nodeId) > inputs(best.nodeId) ? n : best));
    const expected = incidentEdges(graph, busiest.nodeId, 'in');
    expect(expected.length).toBeGreaterThan(8);
    const first = record(await store.getNodeEdges(graph.id, busiest.nodeId, { direction: 'in', limit: 5 }));
    const second = record(await store.getNodeEdges(graph.id, busiest.nodeId, { direction: 'in', offset: 5, limit: 5 }));
    expectSameAnswer(first, { node: busiest, edges: expected.slice(0, 5), totalEdges: expected.length });
    expectSameAnswer(second.edges, expected.slice(5, 10));
    const embedding = graph.nodes.find((n) => n.kind === 'embedding')!;
    const out = record(await store.getNodeEdges(graph.id, embedding.nodeId, { direction: 'out', limit: 1000 }));
    expectSameAnswer(out, {
      node: embedding,
      edges: incidentEdges(graph, embedding.nodeId, 'out'),
      totalEdges: incidentEdges(graph, embedding.nodeId, 'out').length,
    });
    await expectStoreError(
      store.getNodeEdges(`${RUN}-missing`, 'x', { direction: 'in' }),
      'NOT_FOUND',
      /no graph with id/,
    );
    await expectStoreError(
      store.getNodeEdges(graph.id, '99_1_1', { direction: 'in' }),
      'NOT_FOUND',
      /has no node '99_1_1'/,
    );
  });

  it('finds every occurrence of a feature across graphs, newest graph first', async () => {
    const feature = graphs[0].nodes.find((n) => n.kind === 'feature')!;
    const expected = occurrences(graphs, MODEL, TRANSCODERS, feature.layer, feature.feature!);
    expect(expected.length).toBeGreaterThan(1);
    const all = record(
      await store.featureOccurrences(
        { model: MODEL, transcoderSet: TRANSCODERS, layer: feature.layer, index: feature.feature! },
        { limit: 100 },
      ),
    );
    expectSameAnswer(all, { total: expected.length, items: expected });
    const page = await store.featureOccurrences(
      { model: MODEL, transcoderSet: TRANSCODERS, layer: feature.layer, index: feature.feature! },
      { offset: 1, limit: 1 },
    );
    expectSameAnswer(page.items, expected.slice(1, 2));
    const none = await store.featureOccurrences({ model: MODEL, transcoderSet: TRANSCODERS, layer: 0, index: 123456 });
    expect(none).toEqual({ total: 0, items: [] });
  });

  it('ranks the graphs that share features with a graph, most shared first', async () => {
    for (const graph of [graphs[0], graphs[7], graphs[8]]) {
      const expected = sharingCounts(graphs, graph.id);
      const actual = record(await store.graphsSharingFeatures(graph.id, 100));
      expectSameAnswer(actual, expected);
    }
    expect((await store.graphsSharingFeatures(graphs[0].id, 2)).length).toBe(2);
    expect(await store.graphsSharingFeatures(graphs[8].id)).toEqual([]); // another model shares nothing
    await expectStoreError(store.graphsSharingFeatures(`${RUN}-missing`), 'NOT_FOUND', /no graph with id/);
  });

  it('sets, updates, gets and searches feature labels with author and time', async () => {
    const key = { model: MODEL, transcoderSet: TRANSCODERS, layer: 2, index: 17 };
    expect(await store.getFeatureLabel(key)).toBeNull();
    const before = Date.now();
    const first = await store.setFeatureLabel(key, `Texas ${name}`, 'ada');
    expect(first).toMatchObject({ ...key, label: `Texas ${name}`, author: 'ada' });
    expect(Date.parse(first.updatedAt)).toBeGreaterThanOrEqual(before - 1000);
    const second = await store.setFeatureLabel(key, `say Austin ${RUN}`, 'grace');
    expect(await store.getFeatureLabel(key)).toEqual(second);
    expect(second).toMatchObject({ label: `say Austin ${RUN}`, author: 'grace' });
    await store.setFeatureLabel({ ...key, layer: 1, index: 3 }, `Austin (city) ${RUN}`, 'ada');
    await store.setFeatureLabel({ ...key, layer: 0, index: 3 }, `Dallas ${RUN}`, 'ada');
    // Case-insensitive substring; the run id keeps other test files' labels out.
    const found = await store.searchFeatureLabels('AUSTIN ', 1000);
    expect(found.filter((l) => l.model === MODEL).map((l) => [l.layer, l.index])).toEqual([
      [1, 3],
      [2, 17],
    ]);
    const exact = record(await store.searchFeatureLabels(`austin (CITY) ${RUN}`, 10));
    expect(exact.map((l) => [l.model, l.layer, l.index, l.label])).toEqual([[MODEL, 1, 3, `Austin (city) ${RUN}`]]);
    await expectStoreError(store.setFeatureLabel(key, 'x', ''), 'INVALID', /non-empty author/);
  });

  it('saves views with pinned nodes, named supernodes and pruning values', async () => {
    const graph = graphs[1];
    const ids = graph.nodes.slice(0, 4).map((n) => n.nodeId);
    const view = await store.saveView({
      graphId: graph.id,
      name: 'Texas path',
      pinnedIds: ids.slice(0, 2),
      supernodes: [{ name: 'say a capital', nodeIds: ids.slice(2, 4) }],
      nodeThreshold: 0.6,
      edgeThreshold: null,
    });
    expect(view.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(await store.getView(view.id)).toEqual(view);
    const second = await store.saveView({
      graphId: graph.id,
      name: 'empty',
      pinnedIds: [],
      supernodes: [],
      nodeThreshold: null,
      edgeThreshold: 0.9,
    });
    // Views saved within one millisecond still list in the order they were saved.
    const burst = [];
    for (let i = 0; i < 5; i++) {
      burst.push(
        await store.saveView({
          graphId: graph.id,
          name: `burst ${i}`,
          pinnedIds: [],
          supernodes: [],
          nodeThreshold: null,
          edgeThreshold: null,
        }),
      );
    }
    expect((await store.listViews(graph.id)).map((v) => v.id)).toEqual([view.id, second.id, ...burst.map((v) => v.id)]);
    expect(await store.getView('no-such-view')).toBeNull();
    await expectStoreError(
      store.saveView({
        graphId: `${RUN}-missing`,
        name: 'v',
        pinnedIds: [],
        supernodes: [],
        nodeThreshold: null,
        edgeThreshold: null,
      }),
      'NOT_FOUND',
      /no graph with id/,
    );
    await expectStoreError(
      store.saveView({
        graphId: graph.id,
        name: 'v',
        pinnedIds: ['99_9_9'],
        supernodes: [],
        nodeThreshold: null,
        edgeThreshold: null,
      }),
      'INVALID',
      /has no node\(s\) 99_9_9/,
    );
    expect((await store.listViews(graph.id)).length).toBe(7); // the refused views left nothing
  });

  it('refuses a duplicate graph id and keeps the stored graph unchanged', async () => {
    const copy = { ...graphs[3], prompt: 'something else', nodes: graphs[3].nodes.slice(0, 10), edges: [] };
    await expectStoreError(store.saveGraph(copy), 'DUPLICATE', new RegExp(`'${graphs[3].id}' is already stored`));
    expectSameAnswer(await store.getGraph(graphs[3].id), graphs[3]);
  });

  it('refuses an invalid document before writing anything', async () => {
    const broken = {
      ...graphs[0],
      id: `${RUN}-broken`,
      edges: [...graphs[0].edges, { source: graphs[0].nodes[0].nodeId, target: 'nowhere', weight: 1, influence: null }],
    };
    await expectStoreError(store.saveGraph(broken), 'INVALID', /names a node the graph does not have/);
    const twice = { ...graphs[0], id: `${RUN}-twice`, nodes: [...graphs[0].nodes, graphs[0].nodes[3]] };
    await expectStoreError(store.saveGraph(twice), 'INVALID', /appears twice/);
    await expectStoreError(
      store.saveGraph({ ...graphs[0], id: 'bad id; DROP' }),
      'INVALID',
      /graph id "bad id; DROP" is not valid/,
    );
    expect(await store.getGraph(`${RUN}-broken`)).toBeNull();
    expect(await store.getGraph(`${RUN}-twice`)).toBeNull();
  });

  it('stores a real circuit-tracer graph JSON fixture and returns it unchanged', async () => {
    const fixture = fixtureGraph();
    await store.saveGraph(fixture);
    expectSameAnswer(record(await store.getGraph(fixture.id)), fixture);
    const logit = fixture.nodes.find((n) => n.kind === 'logit')!;
    const embedding = fixture.nodes.find(
      (n) => n.kind === 'embedding' && findTopPaths(fixture, { from: n.nodeId, to: logit.nodeId }).length > 0,
    )!;
    record(
      findTopPaths((await store.getGraph(fixture.id))!, {
        from: embedding.nodeId,
        to: logit.nodeId,
        k: 5,
        maxLength: 4,
      }),
    );
  });

  it('deletes a graph with its nodes, edges, views and feature links', async () => {
    const victim = randomGraph({
      id: `${RUN}-victim`,
      seed: 77,
      nodes: 150,
      edges: 400,
      featurePool: 40,
      model: MODEL,
      transcoderSet: TRANSCODERS,
    });
    await store.saveGraph(victim);
    await store.saveView({
      graphId: victim.id,
      name: 'v',
      pinnedIds: [victim.nodes[0].nodeId],
      supernodes: [],
      nodeThreshold: null,
      edgeThreshold: null,
    });
    const feature = victim.nodes.find((n) => n.kind === 'feature')!;
    const key = { model: MODEL, transcoderSet: TRANSCODERS, layer: feature.layer, index: feature.feature! };
    const before = (await store.featureOccurrences(key, { limit: 1000 })).total;
    expect(await store.deleteGraph(victim.id)).toBe(true);
    expect(await store.deleteGraph(victim.id)).toBe(false);
    expect(await store.getGraph(victim.id)).toBeNull();
    expect(await store.listViews(victim.id)).toEqual([]);
    expect((await store.featureOccurrences(key, { limit: 1000 })).total).toBe(before - 1);
    expect((await store.listGraphs({ model: MODEL, limit: 100 })).items.map((g) => g.id)).not.toContain(victim.id);
    await store.saveGraph(victim); // the id is free again
    expect(await store.deleteGraph(victim.id)).toBe(true);
  });

  it('answers paths and comparisons over what it returns', async () => {
    const a = (await store.getGraph(graphs[0].id, { nodeThreshold: 0.8, edgeThreshold: 0.98 }))!;
    const b = (await store.getGraph(graphs[2].id, { nodeThreshold: 0.8, edgeThreshold: 0.98 }))!;
    const logit = a.nodes.find((n) => n.kind === 'logit')!;
    for (const from of a.nodes.filter((n) => n.kind === 'embedding')) {
      record(findTopPaths(a, { from: from.nodeId, to: logit.nodeId, k: 5, maxLength: 4 }));
      record(findTopPaths(a, { from: from.nodeId, to: null, k: 3, maxLength: 3 }));
    }
    const comparison = record(compareGraphs(a, b));
    expect(comparison.shared.length + comparison.onlyInA.length).toBe(
      a.nodes.filter((n) => n.kind === 'feature').length,
    );
  });
});

describe('both stores', () => {
  it('gave identical answers to the same queries on the same graphs', () => {
    expect(answers.sqlite.length).toBeGreaterThan(40);
    expect(answers.neo4j.length).toBe(answers.sqlite.length);
    // Label timestamps differ by when each store ran; everything else must be the same.
    const withoutTimes = (list: unknown[]) =>
      JSON.parse(JSON.stringify(list, (k, v) => (k === 'updatedAt' ? 'time' : v)));
    expectSameAnswer(withoutTimes(answers.neo4j), withoutTimes(answers.sqlite));
  });
});

afterAll(() => rmSync(tempDir, { recursive: true, force: true }));
