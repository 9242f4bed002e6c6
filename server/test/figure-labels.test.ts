/**
 * CLI figures show the labels the viewer shows (issue 12): `circuit-atlas export --format svg`, run
 * as the real command on a real SQLite file and the demo model's real dashboards, writes for every
 * node the same label the API's `shownLabel` gives the viewer — a saved label, else the dashboard's
 * automatic label, else the stored one, else a name from the node's place ("L5 #759").
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { randomGraph } from '../../test-support/graph-generator.js';
import { ModelCatalog } from '../src/models/catalog.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { startServer, type RunningServer } from '../src/app.js';

const run = promisify(execFile);
const DEMO_MODEL = 'models/atlas-world';
const tempDir = mkdtempSync(join(tmpdir(), 'atlas-figure-labels-'));
const DB = join(tempDir, 'labels.sqlite');
const MODELS = join(tempDir, 'models');
const GRAPH_ID = 'figure-labels';

/** The demo model's dashboards label its features; the graph is one of that model with stored labels cleared on some. */
const doc = randomGraph({
  id: GRAPH_ID,
  seed: 5,
  nodes: 160,
  edges: 900,
  nLayers: 6,
  nPos: 6,
  model: 'atlas-world',
  transcoderSet: 'atlas-world/plt',
  featurePool: 1024,
});
// Imported graphs often carry no label: every third feature has none.
doc.nodes.filter((n) => n.kind === 'feature').forEach((n, i) => i % 3 === 0 && (n.label = ''));
const savedNode = doc.nodes.find((n) => n.kind === 'feature' && n.label !== '')!;

let server: RunningServer;
let store: SqliteStore;

beforeAll(async () => {
  mkdirSync(MODELS);
  symlinkSync(join(process.cwd(), DEMO_MODEL), join(MODELS, 'atlas-world'));
  store = new SqliteStore(DB);
  await store.init();
  await store.saveGraph(doc);
  await store.setFeatureLabel(
    { model: doc.model, transcoderSet: doc.transcoderSet, layer: savedNode.layer, index: savedNode.feature! },
    'my Texas feature',
    'tester',
  );
  server = await startServer({ store, catalog: new ModelCatalog(MODELS), port: 0 });
});

afterAll(async () => {
  await server?.close();
  await store?.close();
  rmSync(tempDir, { recursive: true, force: true });
});

/** Each node's label in an SVG figure: the <title> of its glyph group. */
function svgNodeLabels(svg: string): Map<string, string> {
  const unescape = (text: string) =>
    text
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&quot;/g, '"')
      .replace(/&#39;/g, "'")
      .replace(/&apos;/g, "'")
      .replace(/&amp;/g, '&');
  const labels = new Map<string, string>();
  for (const match of svg.matchAll(/<g class="node [^"]*" data-node-id="([^"]+)"><title>([^<]*)<\/title>/g))
    labels.set(unescape(match[1]), unescape(match[2]));
  return labels;
}

describe('labels in CLI figures', () => {
  it('an exported SVG labels every node exactly as the API labels it for the viewer', async () => {
    const response = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        query: `{ graph(id: "${GRAPH_ID}") { nodes { nodeId kind layer feature label autoLabel shownLabel } } }`,
      }),
    });
    const body = (await response.json()) as {
      data: {
        graph: {
          nodes: {
            nodeId: string;
            kind: string;
            layer: number;
            feature: number | null;
            label: string;
            autoLabel: string | null;
            shownLabel: string;
          }[];
        };
      };
    };
    const apiNodes = body.data.graph.nodes;
    expect(apiNodes.length).toBe(doc.nodes.length);

    const { NEO4J_URI: _ignored, ...env } = process.env;
    const exported = await run(process.execPath, ['bin/circuit-atlas.js', 'export', GRAPH_ID, '--format', 'svg'], {
      env: { ...env, ATLAS_DB: DB, ATLAS_MODELS: MODELS },
      maxBuffer: 64 * 2 ** 20,
    });
    const drawn = svgNodeLabels(exported.stdout);
    expect(drawn.size).toBe(apiNodes.length);
    for (const node of apiNodes) expect(drawn.get(node.nodeId), node.nodeId).toBe(node.shownLabel);

    // Each rule of the order is exercised: saved label, dashboard label over a stored one, place name.
    const byId = new Map(apiNodes.map((n) => [n.nodeId, n]));
    expect(byId.get(savedNode.nodeId)!.shownLabel).toBe('my Texas feature');
    const automatic = apiNodes.filter((n) => n.autoLabel && n.nodeId !== savedNode.nodeId);
    expect(automatic.length).toBeGreaterThan(0);
    for (const node of automatic) expect(node.shownLabel).toBe(node.autoLabel);
    expect(automatic.some((n) => n.label !== '' && n.label !== n.autoLabel)).toBe(true);
    const unlabelled = apiNodes.filter((n) => n.kind === 'feature' && n.label === '' && !n.autoLabel);
    expect(unlabelled.length).toBeGreaterThan(0);
    for (const node of unlabelled) expect(drawn.get(node.nodeId)).toBe(`L${node.layer} #${node.feature}`);
  });
});
