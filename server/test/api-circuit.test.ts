/**
 * Readable circuits through the API on the demo model (models/atlas-world): Dallas and Fresno traced
 * through the `trace` mutation and stored, then their automatic supernodes, the circuit view (with a
 * user's label winning), saving the automatic grouping as a view, and supernode interventions
 * (zero, and the paper's Texas → California swap) answered with the new top predictions.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  dashboardContextIndex,
  dashboardLabels,
  FeatureLabeller,
  findSupernodes,
  loadReplacementModel,
  renameFromContexts,
} from '@circuit-atlas/tracer';
import { startServer, type RunningServer } from '../src/app.js';
import { ModelCatalog } from '../src/models/catalog.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { gql, gqlData, pollJob, JOB_FIELDS } from './api-support.js';

const DEMO_DIR = fileURLToPath(new URL('../../models/atlas-world', import.meta.url));
const prompt = (city: string) => `Fact: the capital of the state containing ${city} is`;

interface AutoSupernode {
  id: string;
  label: string;
  named: boolean;
  nodeIds: string[];
  ctxIdx: number;
  layers: number[];
  influence: number;
}
interface CircuitNode {
  id: string;
  kind: string;
  label: string;
  ctxIdx: number;
  layers: number[];
  members: string[];
}
interface Circuit {
  target: string;
  supernodes: { name: string; nodeIds: string[] }[];
  nodes: CircuitNode[];
  edges: { source: string; target: string; weight: number; share: number }[];
  paths: { nodeIds: string[]; strength: number; sign: number }[];
}
interface Prediction {
  token: string;
  probability: number;
}

const SUPERNODE_FIELDS = 'id label named nodeIds ctxIdx layers influence';
const CIRCUIT_FIELDS = `target supernodes { name nodeIds } nodes { id kind label ctxIdx layers members }
  edges { source target weight share } paths { nodeIds strength sign }`;
const INTERVENE = `mutation($g: ID!, $i: [SupernodeInterventionInput!]!) {
  interveneSupernodes(graphId: $g, interventions: $i) { before { token probability } after { token probability } } }`;

describe('circuits through the API (demo model)', () => {
  let dir: string;
  let store: SqliteStore;
  let server: RunningServer;
  const graphIds = new Map<string, string>();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'atlas-api-circuit-'));
    mkdirSync(join(dir, 'models'));
    symlinkSync(DEMO_DIR, join(dir, 'models', 'atlas-world'));
    store = new SqliteStore(join(dir, 'api.sqlite'));
    await store.init();
    server = await startServer({ store, catalog: new ModelCatalog(join(dir, 'models')) });
    for (const city of ['Dallas', 'Fresno']) {
      const { trace } = await gqlData<{ trace: { id: string } }>(
        server.url,
        `mutation($p: String!) { trace(prompt: $p, model: "atlas-world") { ${JOB_FIELDS} } }`,
        { p: prompt(city) },
      );
      const done = (await pollJob(server.url, trace.id)).at(-1)!;
      expect(done.status, done.error ?? '').toBe('done');
      graphIds.set(city, done.graphId!);
    }
  }, 400_000);
  afterAll(async () => {
    await server?.close();
    await store?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const autoSupernodes = async (city: string) =>
    (
      await gqlData<{ graph: { autoSupernodes: AutoSupernode[] } }>(
        server.url,
        `query($id: ID!) { graph(id: $id) { autoSupernodes { ${SUPERNODE_FIELDS} } } }`,
        { id: graphIds.get(city) },
      )
    ).graph.autoSupernodes;
  const circuit = async (city: string, args: { auto?: boolean; maxPaths?: number; supernodes?: unknown }) =>
    (
      await gqlData<{ graph: { circuit: Circuit } }>(
        server.url,
        `query($id: ID!, $auto: Boolean, $max: Int, $sn: [SupernodeInput!]) { graph(id: $id) {
          circuit(auto: $auto, maxPaths: $max, supernodes: $sn) { ${CIRCUIT_FIELDS} } } }`,
        { id: graphIds.get(city), auto: args.auto ?? false, max: args.maxPaths ?? 24, sn: args.supernodes ?? null },
      )
    ).graph.circuit;
  /** The most influential automatic supernode at the city (the token before the last). */
  const citySupernode = async (city: string) => {
    const stored = (await store.getGraph(graphIds.get(city)!))!;
    return (await autoSupernodes(city)).find((s) => s.ctxIdx === stored.promptTokens.length - 2)!;
  };

  it('serves the automatic supernodes the tracer finds on the stored graph, named by their contexts as the CLI names them', async () => {
    const served = await autoSupernodes('Dallas');
    const stored = (await store.getGraph(graphIds.get('Dallas')!))!;
    const dashboards = join(DEMO_DIR, 'dashboards');
    const model = await loadReplacementModel(DEMO_DIR);
    let expected;
    try {
      const found = findSupernodes(stored, await dashboardLabels(dashboards, stored.nLayers));
      expected = renameFromContexts(stored, found, await dashboardContextIndex(dashboards, model));
    } finally {
      await model.dispose();
    }
    expect(served.map((s) => [s.id, s.label, s.nodeIds])).toEqual(expected.map((s) => [s.id, s.label, s.members]));
    // Named for the state, which no single member's label says (member labels alone gave "features at …").
    expect((await citySupernode('Dallas')).label).toBe('Texas');
    const features = new Set(stored.nodes.filter((n) => n.kind === 'feature').map((n) => n.nodeId));
    for (const s of served) for (const id of s.nodeIds) expect(features.has(id)).toBe(true);
    const city = await citySupernode('Dallas');
    expect(city.nodeIds.length).toBeGreaterThan(5);
  }, 300_000);

  it('draws a path from the Dallas token to the Austin logit in the automatic circuit view', async () => {
    const view = await circuit('Dallas', { auto: true });
    const byId = new Map(view.nodes.map((n) => [n.id, n]));
    expect(byId.get(view.target)).toMatchObject({ kind: 'logit' });
    expect(byId.get(view.target)!.label).toContain('Austin');
    const fromDallas = view.paths.filter((p) => byId.get(p.nodeIds[0])!.label === 'Dallas');
    expect(fromDallas.length).toBeGreaterThan(0);
    expect(fromDallas[0].nodeIds.at(-1)).toBe(view.target);
    // The path goes through the city's supernode, which the answer lists among the supernodes used.
    const city = await citySupernode('Dallas');
    const cityNode = view.nodes.find((n) => n.kind === 'supernode' && n.members.join() === city.nodeIds.join())!;
    expect(fromDallas.some((p) => p.nodeIds.includes(cityNode.id))).toBe(true);
    expect(view.supernodes.map((s) => s.name)).toContain(city.label);
    for (const e of view.edges) expect(Math.abs(e.share)).toBeLessThanOrEqual(1 + 1e-9);
  });

  it('labels features by the user label first, else the automatic one', async () => {
    const plain = await circuit('Dallas', { maxPaths: 10 });
    const feature = plain.nodes.find((n) => n.kind === 'feature')!;
    const [layer, index] = feature.id.split('_').map(Number);
    const stored = (await store.getGraph(graphIds.get('Dallas')!))!;
    const node = stored.nodes.find((n) => n.nodeId === feature.id)!;
    expect(feature.label).toBe(node.label); // the stored label is the dashboard's automatic one
    await gqlData(
      server.url,
      `mutation { setFeatureLabel(model: "atlas-world", layer: ${layer}, index: ${index}, label: "my Dallas feature") { label } }`,
    );
    const relabelled = await circuit('Dallas', { maxPaths: 10 });
    expect(relabelled.nodes.find((n) => n.id === feature.id)!.label).toBe('my Dallas feature');
  });

  it('serves each feature node’s automatic labels (read, say, confidences) as the tracer computes them', async () => {
    const { graph } = await gqlData<{
      graph: { nodes: { nodeId: string; kind: string; layer: number; feature: number | null; autoLabels: unknown }[] };
    }>(
      server.url,
      `query($id: ID!) { graph(id: $id) { nodes { nodeId kind layer feature
        autoLabels { label weak input { text confidence } output { text confidence } } } } }`,
      { id: graphIds.get('Dallas') },
    );
    const labeller = (await FeatureLabeller.forModel(DEMO_DIR))!;
    const features = graph.nodes.filter((n) => n.kind === 'feature');
    expect(features.length).toBeGreaterThan(10);
    for (const node of features) {
      const expected = labeller.labelsOf(node.layer, node.feature!)!;
      expect(node.autoLabels).toEqual({
        label: expected.label,
        weak: expected.weak,
        input: expected.input,
        output: expected.output,
      });
    }
    for (const node of graph.nodes.filter((n) => n.kind !== 'feature')) expect(node.autoLabels).toBeNull();
  });

  it('saves the automatic grouping as a view, and the view gives the same circuit', async () => {
    const auto = await circuit('Dallas', { auto: true });
    const { saveView } = await gqlData<{ saveView: { id: string; supernodes: { name: string; nodeIds: string[] }[] } }>(
      server.url,
      `mutation($v: ViewInput!) { saveView(view: $v) { id supernodes { name nodeIds } } }`,
      {
        v: {
          graphId: graphIds.get('Dallas'),
          name: 'automatic supernodes',
          pinnedIds: [],
          supernodes: auto.supernodes,
        },
      },
    );
    expect(saveView.supernodes).toEqual(auto.supernodes);
    const fromView = await circuit('Dallas', { supernodes: saveView.supernodes });
    expect(fromView.edges).toEqual(auto.edges);
    expect(fromView.paths).toEqual(auto.paths);
  });

  it('swaps Dallas’s city supernode for Fresno’s: the answer turns from Austin to Sacramento', async () => {
    const [texas, california] = [await citySupernode('Dallas'), await citySupernode('Fresno')];
    const { interveneSupernodes: swap } = await gqlData<{
      interveneSupernodes: { before: Prediction[]; after: Prediction[] };
    }>(server.url, INTERVENE, {
      g: graphIds.get('Dallas'),
      i: [
        {
          supernode: { name: texas.label, nodeIds: texas.nodeIds },
          mode: 'replace',
          donorGraphId: graphIds.get('Fresno'),
          donor: { name: california.label, nodeIds: california.nodeIds },
        },
      ],
    });
    expect(swap.before[0].token).toBe('Austin');
    expect(swap.after[0].token).toBe('Sacramento');
    const { interveneSupernodes: zero } = await gqlData<{
      interveneSupernodes: { before: Prediction[]; after: Prediction[] };
    }>(server.url, INTERVENE, {
      g: graphIds.get('Dallas'),
      i: [{ supernode: { name: texas.label, nodeIds: texas.nodeIds }, mode: 'zero' }],
    });
    const austin = (list: Prediction[]) => list.find((p) => p.token === 'Austin')?.probability ?? 0;
    expect(austin(zero.before)).toBeGreaterThan(0.9);
    expect(austin(zero.after)).toBeLessThan(austin(zero.before) / 2);
  });

  it('answers a scale without a factor, a foreign member and a non-logit target with what to fix', async () => {
    const texas = await citySupernode('Dallas');
    const noFactor = await gql(server.url, INTERVENE, {
      g: graphIds.get('Dallas'),
      i: [{ supernode: { name: 'Texas', nodeIds: texas.nodeIds }, mode: 'scale' }],
    });
    expect(noFactor.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' } });
    expect(noFactor.errors?.[0].message).toMatch(/scale needs a finite factor/);
    const foreign = await gql(server.url, INTERVENE, {
      g: graphIds.get('Dallas'),
      i: [{ supernode: { name: 'x', nodeIds: ['E_1_2'] }, mode: 'zero' }],
    });
    expect(foreign.errors?.[0].message).toMatch(/'E_1_2' is not a feature node/);
    const target = await gql(
      server.url,
      `query($id: ID!) { graph(id: $id) { circuit(target: "${texas.nodeIds[0]}") { target } } }`,
      { id: graphIds.get('Dallas') },
    );
    expect(target.errors?.[0].message).toMatch(/is not a logit node/);
  });
});
