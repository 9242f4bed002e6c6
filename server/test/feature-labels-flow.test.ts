/**
 * Feature labels computed from the demo model's dashboards, end to end: `circuit-atlas trace` writes
 * them as the graph JSON's clerp, `import` stores the graph in a real SQLite file, `export` keeps the
 * labels in JSON and figures with a user's own label winning, and the API serves them with their
 * confidences. Real commands, the real demo model.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FeatureLabeller } from '@circuit-atlas/tracer';
import { startServer, type RunningServer } from '../src/app.js';
import { ModelCatalog } from '../src/models/catalog.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { gqlData } from './api-support.js';

const run = promisify(execFile);
const DEMO_DIR = fileURLToPath(new URL('../../models/atlas-world', import.meta.url));
const PROMPT = (JSON.parse(readFileSync(join(DEMO_DIR, 'world.json'), 'utf8')) as { demo_prompt: string }).demo_prompt;
const tempDir = mkdtempSync(join(tmpdir(), 'atlas-labels-flow-'));
const DB = join(tempDir, 'labels.sqlite');
const GRAPH = join(tempDir, 'dallas-labels.json');

interface GraphJson {
  metadata: { slug: string };
  nodes: { node_id: string; feature_type: string; layer: string; feature: number; clerp: string }[];
}

async function atlas(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { NEO4J_URI: _ignored, ...base } = process.env;
  try {
    const { stdout, stderr } = await run(process.execPath, ['bin/circuit-atlas.js', ...args], {
      env: { ...base, ATLAS_DB: DB },
      maxBuffer: 64 * 2 ** 20,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const isFeature = (n: GraphJson['nodes'][number]) => n.feature_type === 'cross layer transcoder';
/** Layer and transcoder feature index of a feature node, from its id `{layer}_{feature}_{pos}`. */
const featureOf = (n: GraphJson['nodes'][number]) => {
  const [layer, index] = n.node_id.split('_').map(Number);
  return { layer, index };
};

let labeller: FeatureLabeller;
let traced: GraphJson;

beforeAll(async () => {
  labeller = (await FeatureLabeller.forModel(DEMO_DIR))!;
  const result = await atlas(['trace', PROMPT, '--model', DEMO_DIR, '--out', GRAPH]);
  expect(result.code).toBe(0);
  traced = JSON.parse(readFileSync(GRAPH, 'utf8')) as GraphJson;
});

afterAll(() => rmSync(tempDir, { recursive: true, force: true }));

describe('labels in traced, stored and exported graphs', () => {
  it('trace writes each feature’s dashboard label as its clerp', () => {
    const features = traced.nodes.filter(isFeature);
    expect(features.length).toBeGreaterThan(20);
    for (const node of features) {
      const { layer, index } = featureOf(node);
      expect(node.clerp).toBe(labeller.labelsOf(layer, index)!.label);
    }
    // Weak labels are marked, so "is"-like labels read as guesses.
    expect(features.some((n) => /^\(.+\)$/.test(n.clerp))).toBe(true);
    expect(features.some((n) => !n.clerp.startsWith('('))).toBe(true);
  });

  it('export keeps the labels in JSON and figures, and a user’s own label wins', async () => {
    const imported = await atlas(['import', GRAPH]);
    expect(imported.stderr).toBe('');
    expect(imported.code).toBe(0);
    const mine = featureOf(traced.nodes.filter(isFeature)[0]);
    const store = new SqliteStore(DB);
    await store.init();
    try {
      const graph = (await store.getGraph(traced.metadata.slug))!;
      await store.setFeatureLabel(
        { model: graph.model, transcoderSet: graph.transcoderSet, layer: mine.layer, index: mine.index },
        'my own label',
        'tester',
      );
    } finally {
      await store.close();
    }
    const exported = await atlas(['export', traced.metadata.slug, '--format', 'json']);
    expect(exported.code).toBe(0);
    const json = JSON.parse(exported.stdout) as GraphJson;
    const before = new Map(traced.nodes.map((n) => [n.node_id, n.clerp]));
    for (const node of json.nodes.filter(isFeature)) {
      const { layer, index } = featureOf(node);
      const same = layer === mine.layer && index === mine.index;
      expect(node.clerp).toBe(same ? 'my own label' : before.get(node.node_id));
    }
    const svg = (await atlas(['export', traced.metadata.slug, '--format', 'svg'])).stdout;
    const shownInFigure = json.nodes.filter(isFeature).filter((n) => svg.includes(`<title>${n.clerp}</title>`));
    expect(shownInFigure.length).toBeGreaterThan(0);
  });
});

describe('labels in the API', () => {
  let dir: string;
  let store: SqliteStore;
  let server: RunningServer;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'atlas-labels-api-'));
    mkdirSync(join(dir, 'models'));
    if (existsSync(DEMO_DIR)) symlinkSync(DEMO_DIR, join(dir, 'models', 'atlas-world'));
    store = new SqliteStore(join(dir, 'api.sqlite'));
    await store.init();
    server = await startServer({ store, catalog: new ModelCatalog(join(dir, 'models')) });
  });
  afterAll(async () => {
    await server?.close();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves autoLabel and autoLabels (input, output, confidences, weak) as the tracer computes them', async () => {
    const query = `query($l: Int!, $i: Int!) { feature(model: "atlas-world", layer: $l, index: $i) {
      dashboard { autoLabel autoLabels { label weak input { text confidence } output { text confidence } } } } }`;
    // The graph's features: a strong and a weak label among them.
    const features = traced.nodes.filter(isFeature).slice(0, 12);
    for (const node of features) {
      const { layer, index } = featureOf(node);
      const { feature } = await gqlData<{
        feature: { dashboard: { autoLabel: string; autoLabels: Record<string, unknown> } };
      }>(server.url, query, { l: layer, i: index });
      const expected = labeller.labelsOf(layer, index)!;
      expect(feature.dashboard.autoLabel).toBe(expected.label);
      expect(feature.dashboard.autoLabels).toEqual({
        label: expected.label,
        weak: expected.weak,
        input: expected.input,
        output: expected.output,
      });
    }
  });
});
