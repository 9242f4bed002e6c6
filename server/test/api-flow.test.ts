/**
 * The API end to end over real HTTP, on both real stores (a SQLite file and the test run's Neo4j):
 * trace the demo prompt through the queue, poll the job to done, read the graph, a node's edges,
 * paths, compare two graphs, label a feature, import a graph JSON, save a view, intervene, delete.
 *
 * The model is the demo model (models/atlas-world) when it is there; otherwise the fixture model
 * llama-tiny, whose vocabulary lacks "Fact:" and "containing", with the nearest prompt it can read.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../src/app.js';
import { ModelCatalog } from '../src/models/catalog.js';
import type { GraphStore } from '../src/store/graph-store.js';
import {
  DEMO_PROMPT,
  FIXTURE_MODELS,
  JOB_FIELDS,
  REFERENCE_FIXTURES,
  STORE_CASES,
  gql,
  gqlData,
  pollJob,
  type JobView,
} from './api-support.js';

const DEMO_MODELS = fileURLToPath(new URL('../../models', import.meta.url));
/** The demo model counts once its transcoders are written (it is built while others work). */
const demoModelPresent = ['config.json', 'transcoders/config.yaml', 'transcoders/layer_0.safetensors'].every((file) =>
  existsSync(join(DEMO_MODELS, 'atlas-world', file)),
);
const MODEL = demoModelPresent
  ? {
      root: DEMO_MODELS,
      id: 'atlas-world',
      prompt: DEMO_PROMPT,
      secondPrompt: 'Fact: the capital of the state containing Houston is',
    }
  : {
      root: FIXTURE_MODELS,
      id: 'llama-tiny',
      prompt: 'The capital of the state with Dallas is',
      secondPrompt: 'Dallas is a city in the state of',
    };

interface NodeView {
  nodeId: string;
  kind: string;
  layer: number;
  ctxIdx: number;
  feature: number | null;
  tokenProb: number | null;
  isTargetLogit: boolean;
  label: string;
  featureLabel: { label: string; author: string } | null;
}
interface EdgeView {
  source: string;
  target: string;
  weight: number;
}
interface GraphView {
  id: string;
  prompt: string;
  model: string;
  transcoderSet: string;
  nLayers: number;
  nodeCount: number;
  edgeCount: number;
  scores: { replacement: number; completeness: number } | null;
  nodes: NodeView[];
  edges: EdgeView[];
  views: { id: string; name: string }[];
}

const NODE_FIELDS = 'nodeId kind layer ctxIdx feature tokenProb isTargetLogit label featureLabel { label author }';
const GRAPH_QUERY = `query($id: ID!, $nodeThreshold: Float) {
  graph(id: $id, nodeThreshold: $nodeThreshold) {
    id prompt model transcoderSet nLayers nodeCount edgeCount scores { replacement completeness }
    nodes { ${NODE_FIELDS} } edges { source target weight } views { id name }
  }
}`;

describe.each(STORE_CASES)('the API on $name', (storeCase) => {
  let store: GraphStore;
  let cleanup: () => void;
  let server: RunningServer;
  const run = randomBytes(3).toString('hex');
  const created: string[] = [];
  let graph: GraphView;
  let secondGraphId: string;

  const trace = async (prompt: string): Promise<JobView[]> => {
    const { trace: job } = await gqlData<{ trace: JobView }>(
      server.url,
      `mutation($prompt: String!, $model: ID) { trace(prompt: $prompt, model: $model) { ${JOB_FIELDS} } }`,
      { prompt, model: MODEL.id },
    );
    expect(['queued', 'running']).toContain(job.status);
    const states = await pollJob(server.url, job.id);
    const last = states[states.length - 1];
    expect(last, `job ended ${last.status}: ${last.error}`).toMatchObject({
      status: 'done',
      progress: 1,
      phase: 'done',
    });
    created.push(last.graphId!);
    return [job, ...states];
  };

  beforeAll(async () => {
    ({ store, cleanup } = await storeCase.open());
    server = await startServer({ store, catalog: new ModelCatalog(MODEL.root) });
  });

  afterAll(async () => {
    await server?.close();
    for (const id of created) await store?.deleteGraph(id).catch(() => false);
    await store?.close();
    cleanup?.();
  });

  it('lists the models it can trace with, with their sizes and transcoder set', async () => {
    const { models } = await gqlData<{
      models: { id: string; architecture: string; nLayers: number; nFeatures: number; transcoderSet: string }[];
    }>(
      server.url,
      '{ models { id name architecture nLayers dModel vocabSize transcoderSet nFeatures hasDashboards } }',
    );
    const model = models.find((entry) => entry.id === MODEL.id);
    expect(model).toBeDefined();
    expect(model!.nLayers).toBeGreaterThan(0);
    expect(model!.nFeatures).toBeGreaterThan(0);
    expect(model!.transcoderSet).not.toBe('');
  });

  it('traces the demo prompt through the job queue, reporting progress until the graph is stored', async () => {
    const states = await trace(MODEL.prompt);
    const progress = states.map((state) => state.progress);
    expect(progress).toEqual([...progress].sort((a, b) => a - b)); // never moves backwards
    expect(progress[0]).toBeLessThan(1);
    const { graph: stored } = await gqlData<{ graph: GraphView }>(server.url, GRAPH_QUERY, {
      id: states.at(-1)!.graphId,
    });
    graph = stored;
    expect(graph.prompt).toBe(MODEL.prompt);
    expect(graph.nodeCount).toBe(graph.nodes.length);
    expect(graph.edgeCount).toBe(graph.edges.length);
    expect(graph.nodes.filter((node) => node.kind === 'logit').length).toBeGreaterThan(0);
    expect(graph.nodes.filter((node) => node.kind === 'feature').length).toBeGreaterThan(0);
    expect(graph.scores!.replacement).toBeGreaterThan(0);
    expect(graph.scores!.completeness).toBeLessThanOrEqual(1);
    const { graphs } = await gqlData<{ graphs: { total: number; items: { id: string }[] } }>(
      server.url,
      'query($text: String) { graphs(text: $text, limit: 50) { total items { id } } }',
      { text: MODEL.prompt.slice(0, 20) },
    );
    expect(graphs.items.map((item) => item.id)).toContain(graph.id);
  });

  it('serves the graph pruned to a tighter node threshold', async () => {
    const { graph: pruned } = await gqlData<{ graph: GraphView }>(server.url, GRAPH_QUERY, {
      id: graph.id,
      nodeThreshold: 0.3,
    });
    expect(pruned.nodeCount).toBeLessThan(graph.nodeCount);
    const kept = new Set(pruned.nodes.map((node) => node.nodeId));
    for (const edge of pruned.edges) expect(kept.has(edge.source) && kept.has(edge.target)).toBe(true);
  });

  it('serves the same edges packed by node index in edgeTable', async () => {
    const { graph: packed } = await gqlData<{
      graph: {
        nodes: { nodeId: string }[];
        edges: EdgeView[];
        edgeTable: { sources: number[]; targets: number[]; weights: number[] };
      };
    }>(
      server.url,
      'query($id: ID!) { graph(id: $id) { nodes { nodeId } edges { source target weight } edgeTable { sources targets weights } } }',
      { id: graph.id },
    );
    const { nodes, edges, edgeTable } = packed;
    expect(edges.length).toBeGreaterThan(0);
    expect(edgeTable.sources).toHaveLength(edges.length);
    const unpacked = edgeTable.weights.map((weight, i) => ({
      source: nodes[edgeTable.sources[i]].nodeId,
      target: nodes[edgeTable.targets[i]].nodeId,
      weight,
    }));
    expect(unpacked).toEqual(edges);
  });

  it('gives each feature node the automatic label of its dashboard', async () => {
    type LabelledNode = { kind: string; layer: number; feature: number | null; autoLabel: string | null };
    const { graph: labelled } = await gqlData<{ graph: { model: string; nodes: LabelledNode[] } }>(
      server.url,
      'query($id: ID!) { graph(id: $id) { model nodes { kind layer feature autoLabel } } }',
      { id: graph.id },
    );
    const features = labelled.nodes.filter((node) => node.kind === 'feature');
    for (const node of features.slice(0, 12)) {
      const { feature } = await gqlData<{ feature: { dashboard: { autoLabel: string | null } | null } }>(
        server.url,
        'query($m: String!, $l: Int!, $i: Int!) { feature(model: $m, layer: $l, index: $i) { dashboard { autoLabel } } }',
        { m: labelled.model, l: node.layer, i: node.feature },
      );
      expect(node.autoLabel).toBe(feature.dashboard?.autoLabel ?? null);
    }
    for (const node of labelled.nodes.filter((n) => n.kind !== 'feature')) expect(node.autoLabel).toBeNull();
    if (demoModelPresent) expect(features.some((node) => node.autoLabel)).toBe(true);
  });

  it("pages a node's inputs by |weight| with the node at the other end of each edge", async () => {
    const topLogit = graph.nodes.filter((node) => node.kind === 'logit').sort((a, b) => b.tokenProb! - a.tokenProb!)[0];
    const query = `query($graphId: ID!, $nodeId: ID!, $offset: Int) {
      node(graphId: $graphId, nodeId: $nodeId, direction: in, offset: $offset, limit: 3) {
        node { nodeId } direction totalEdges edges { source target weight } neighbours { nodeId kind }
      }
    }`;
    type NodeEdgesView = {
      node: { nodeId: string };
      totalEdges: number;
      edges: EdgeView[];
      neighbours: { nodeId: string }[];
    };
    const first = (
      await gqlData<{ node: NodeEdgesView }>(server.url, query, { graphId: graph.id, nodeId: topLogit.nodeId })
    ).node;
    const second = (
      await gqlData<{ node: NodeEdgesView }>(server.url, query, {
        graphId: graph.id,
        nodeId: topLogit.nodeId,
        offset: 3,
      })
    ).node;
    const incoming = graph.edges.filter((edge) => edge.target === topLogit.nodeId);
    expect(first.totalEdges).toBe(incoming.length);
    const expected = incoming.map((edge) => Math.abs(edge.weight)).sort((a, b) => b - a);
    expect([...first.edges, ...second.edges].map((edge) => Math.abs(edge.weight))).toEqual(expected.slice(0, 6));
    expect(first.neighbours.map((node) => node.nodeId)).toEqual(first.edges.map((edge) => edge.source));
    expect(first.edges.every((edge) => edge.target === topLogit.nodeId)).toBe(true);
  });

  it('finds the strongest paths from a prompt token to the top logit, best first', async () => {
    const topLogit = graph.nodes.filter((node) => node.kind === 'logit').sort((a, b) => b.tokenProb! - a.tokenProb!)[0];
    const lastToken = graph.nodes.filter((node) => node.kind === 'embedding').sort((a, b) => b.ctxIdx - a.ctxIdx)[0];
    const { paths } = await gqlData<{ paths: { nodeIds: string[]; score: number; weights: number[] }[] }>(
      server.url,
      'query($g: ID!, $from: ID!, $to: ID!) { paths(graphId: $g, from: $from, to: $to, k: 3, maxLength: 4) { nodeIds score weights } }',
      { g: graph.id, from: lastToken.nodeId, to: topLogit.nodeId },
    );
    expect(paths.length).toBeGreaterThan(0);
    for (const path of paths) {
      expect(path.nodeIds[0]).toBe(lastToken.nodeId);
      expect(path.nodeIds.at(-1)).toBe(topLogit.nodeId);
      expect(path.weights.length).toBe(path.nodeIds.length - 1);
    }
    const scores = paths.map((path) => path.score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
  });

  it('compares two traced prompts: features shared by both, and those only in one', async () => {
    const states = await trace(MODEL.secondPrompt);
    secondGraphId = states.at(-1)!.graphId!;
    const { compare } = await gqlData<{
      compare: {
        graphA: { id: string };
        graphB: { id: string };
        shared: { layer: number; nodeIdA: string; nodeIdB: string }[];
        onlyInA: { nodeId: string }[];
        onlyInB: { nodeId: string }[];
      };
    }>(
      server.url,
      'query($a: ID!, $b: ID!) { compare(graphA: $a, graphB: $b) { graphA { id } graphB { id } shared { layer index positionFromEnd nodeIdA nodeIdB } onlyInA { nodeId } onlyInB { nodeId } sharedEdges { sourceA targetA weightA weightB } } }',
      { a: graph.id, b: secondGraphId },
    );
    expect(compare.graphA.id).toBe(graph.id);
    expect(compare.graphB.id).toBe(secondGraphId);
    const featuresA = graph.nodes.filter((node) => node.kind === 'feature').map((node) => node.nodeId);
    // Every feature of A is either shared with B or only in A.
    const accounted = new Set([
      ...compare.shared.map((shared) => shared.nodeIdA),
      ...compare.onlyInA.map((node) => node.nodeId),
    ]);
    for (const id of featuresA) expect(accounted.has(id)).toBe(true);
    const { graphsSharingFeatures } = await gqlData<{
      graphsSharingFeatures: { graphId: string; sharedFeatureCount: number }[];
    }>(server.url, 'query($g: ID!) { graphsSharingFeatures(graphId: $g, limit: 50) { graphId sharedFeatureCount } }', {
      g: graph.id,
    });
    if (compare.shared.length > 0) expect(graphsSharingFeatures.map((entry) => entry.graphId)).toContain(secondGraphId);
  });

  it('labels a feature, and the label shows on the graph, the feature and in search', async () => {
    const feature = graph.nodes.find((node) => node.kind === 'feature')!;
    const label = `state feature ${run} ${storeCase.name}`;
    const { setFeatureLabel } = await gqlData<{
      setFeatureLabel: { label: string; author: string; layer: number; index: number };
    }>(
      server.url,
      'mutation($m: String!, $l: Int!, $i: Int!, $label: String!) { setFeatureLabel(model: $m, layer: $l, index: $i, label: $label) { label author layer index updatedAt } }',
      { m: MODEL.id, l: feature.layer, i: feature.feature, label },
      { 'x-atlas-author': 'api-test' },
    );
    expect(setFeatureLabel).toMatchObject({ label, author: 'api-test', layer: feature.layer, index: feature.feature });

    const { graph: relabelled } = await gqlData<{ graph: GraphView }>(server.url, GRAPH_QUERY, { id: graph.id });
    expect(relabelled.nodes.find((node) => node.nodeId === feature.nodeId)!.featureLabel).toEqual({
      label,
      author: 'api-test',
    });

    const { feature: detail } = await gqlData<{
      feature: {
        label: { label: string };
        occurrences: { total: number; items: { graphId: string; node: { nodeId: string } }[] };
      };
    }>(
      server.url,
      'query($m: String!, $l: Int!, $i: Int!) { feature(model: $m, layer: $l, index: $i) { model transcoderSet label { label } dashboard { actMax } occurrences(limit: 50) { total items { graphId prompt node { nodeId } } } } }',
      { m: MODEL.id, l: feature.layer, i: feature.feature },
    );
    expect(detail.label.label).toBe(label);
    expect(detail.occurrences.items).toContainEqual({
      graphId: graph.id,
      prompt: MODEL.prompt,
      node: { nodeId: feature.nodeId },
    });

    const { search } = await gqlData<{ search: { featureLabels: { label: string }[] } }>(
      server.url,
      'query($t: String!) { search(text: $t) { graphs { id } featureLabels { label } } }',
      { t: run },
    );
    expect(search.featureLabels.map((found) => found.label)).toContain(label);
  });

  it('imports a circuit-tracer graph JSON and serves it like a traced one', async () => {
    const json = JSON.parse(
      readFileSync(join(REFERENCE_FIXTURES, 'llama-tiny', 'capital-of-texas.graph.json'), 'utf8'),
    );
    const id = `api-import-${run}`;
    const { importGraph } = await gqlData<{
      importGraph: { id: string; nodeCount: number; edgeCount: number; model: string };
    }>(
      server.url,
      'mutation($json: JSON!, $id: ID) { importGraph(json: $json, id: $id) { id model nodeCount edgeCount } }',
      { json, id },
    );
    created.push(id);
    expect(importGraph).toMatchObject({ id, nodeCount: json.nodes.length, edgeCount: json.links.length });
    const { graph: imported } = await gqlData<{ graph: GraphView }>(server.url, GRAPH_QUERY, { id });
    expect(imported.nodes.map((node) => node.nodeId).sort()).toEqual(
      // The reference writes v0.5.0 error ids `0_{layer}_{pos}`; stored ids are `{layer}_-1_{pos}`.
      json.nodes
        .map((node: { node_id: string; feature_type: string; layer: string; ctx_idx: number }) =>
          node.feature_type === 'mlp reconstruction error' ? `${node.layer}_-1_${node.ctx_idx}` : node.node_id,
        )
        .sort(),
    );
  });

  it('saves a view of pinned nodes and supernodes and lists it with the graph', async () => {
    const features = graph.nodes
      .filter((node) => node.kind === 'feature')
      .slice(0, 3)
      .map((node) => node.nodeId);
    const { saveView } = await gqlData<{
      saveView: { id: string; pinnedIds: string[]; supernodes: { name: string; nodeIds: string[] }[] };
    }>(
      server.url,
      'mutation($view: ViewInput!) { saveView(view: $view) { id graphId name pinnedIds supernodes { name nodeIds } nodeThreshold } }',
      {
        view: {
          graphId: graph.id,
          name: 'state circuit',
          pinnedIds: features,
          supernodes: [{ name: 'state', nodeIds: features.slice(0, 2) }],
          nodeThreshold: 0.6,
        },
      },
    );
    expect(saveView.pinnedIds).toEqual(features);
    const { view } = await gqlData<{ view: { name: string; supernodes: { name: string; nodeIds: string[] }[] } }>(
      server.url,
      'query($id: ID!) { view(id: $id) { name supernodes { name nodeIds } } }',
      { id: saveView.id },
    );
    expect(view).toEqual({ name: 'state circuit', supernodes: [{ name: 'state', nodeIds: features.slice(0, 2) }] });
    const { graph: withViews } = await gqlData<{ graph: GraphView }>(server.url, GRAPH_QUERY, { id: graph.id });
    expect(withViews.views).toContainEqual({ id: saveView.id, name: 'state circuit' });
    const unknown = await gql(server.url, 'mutation($view: ViewInput!) { saveView(view: $view) { id } }', {
      view: { graphId: graph.id, name: 'bad', pinnedIds: ['99_99_99'], supernodes: [] },
    });
    expect(unknown.errors![0].extensions!.code).toBe('BAD_USER_INPUT');
  });

  it('intervenes on the strongest feature input of the top logit and shows the logits move', async () => {
    const topLogit = graph.nodes.filter((node) => node.kind === 'logit').sort((a, b) => b.tokenProb! - a.tokenProb!)[0];
    const byId = new Map(graph.nodes.map((node) => [node.nodeId, node]));
    const strongest = graph.edges
      .filter((edge) => edge.target === topLogit.nodeId && byId.get(edge.source)!.kind === 'feature')
      .sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight))[0];
    const feature = byId.get(strongest.source)!;
    const { intervene } = await gqlData<{
      intervene: {
        before: { token: string; tokenId: number; probability: number }[];
        after: { tokenId: number; probability: number }[];
      };
    }>(
      server.url,
      'mutation($p: String!, $m: ID, $iv: [FeatureIntervention!]!) { intervene(prompt: $p, model: $m, interventions: $iv) { before { token tokenId probability } after { token tokenId probability } } }',
      {
        p: MODEL.prompt,
        m: MODEL.id,
        iv: [{ layer: feature.layer, position: feature.ctxIdx, feature: feature.feature, mode: 'set', value: 0 }],
      },
    );
    expect(intervene.before[0].tokenId).toBe(topLogit.feature);
    expect(intervene.before[0].probability).toBeCloseTo(topLogit.tokenProb!, 4);
    const after = intervene.after.find((entry) => entry.tokenId === topLogit.feature);
    // Removing a feature with a direct edge into the top logit moves its probability.
    expect(Math.abs((after?.probability ?? 0) - intervene.before[0].probability)).toBeGreaterThan(1e-6);
  });

  it('deletes a graph: it is gone from reads, and a second delete is NOT_FOUND', async () => {
    const deleted = await gqlData<{ deleteGraph: boolean }>(server.url, 'mutation($id: ID!) { deleteGraph(id: $id) }', {
      id: secondGraphId,
    });
    expect(deleted.deleteGraph).toBe(true);
    expect((await gqlData<{ graph: null }>(server.url, GRAPH_QUERY, { id: secondGraphId })).graph).toBeNull();
    const node = await gql(
      server.url,
      'query($g: ID!) { node(graphId: $g, nodeId: "E_1_0", direction: out) { totalEdges } }',
      { g: secondGraphId },
    );
    expect(node.errors![0].extensions!.code).toBe('NOT_FOUND');
    const again = await gql(server.url, 'mutation($id: ID!) { deleteGraph(id: $id) }', { id: secondGraphId });
    expect(again.errors![0].extensions!.code).toBe('NOT_FOUND');
  });
});
