/**
 * What the viewer's browser tests and benchmark share: the viewer built by Vite into a temp
 * folder, the real server (server/src/app.ts) over a fresh SQLite store and a models folder,
 * graphs imported through the API's importGraph, and real-mouse clicks on Cytoscape nodes.
 * Not a test file itself (no `.test.ts`).
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { build } from 'vite';
import { startServer, type RunningServer } from '@circuit-atlas/server';
import { ModelCatalog } from '@circuit-atlas/server';
import { openStore } from '@circuit-atlas/server';
import type { GraphStore } from '@circuit-atlas/server';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
export const FIXTURE_MODELS = join(REPO_ROOT, 'tracer/test/fixtures/models');
export const REFERENCE_FIXTURES = join(REPO_ROOT, 'tracer/test/fixtures/reference');
export const DEMO_MODEL_DIR = join(REPO_ROOT, 'models/atlas-world');
export const DEMO_PROMPT = 'Fact: the capital of the state containing Dallas is';
/** The prompt of the tiny test model's reference fixture `dallas-state`. */
export const TEST_MODEL_PROMPT = 'Dallas is a city in the state of';

/** Builds the viewer with client/vite.config.ts into a fresh folder (test files run in parallel). */
export async function buildViewer(): Promise<string> {
  const outDir = mkdtempSync(join(tmpdir(), 'atlas-viewer-'));
  await build({
    configFile: join(REPO_ROOT, 'client/vite.config.ts'),
    logLevel: 'warn',
    build: { outDir, emptyOutDir: true, sourcemap: false },
  });
  return outDir;
}

/**
 * A models folder for the server: the demo model when it is trained (config.json present),
 * otherwise the tiny llama test model. Model folders are linked file by file so a test may add
 * a `dashboards/` folder without touching the originals.
 */
export function makeModelsRoot(): { root: string; modelId: string; modelDir: string; prompt: string } {
  const root = mkdtempSync(join(tmpdir(), 'atlas-models-'));
  const demoReady =
    existsSync(join(DEMO_MODEL_DIR, 'config.json')) && existsSync(join(DEMO_MODEL_DIR, 'transcoders/config.yaml'));
  const source = demoReady ? DEMO_MODEL_DIR : join(FIXTURE_MODELS, 'llama-tiny');
  const modelId = source === DEMO_MODEL_DIR ? 'atlas-world' : 'llama-tiny';
  const modelDir = join(root, modelId);
  mkdirSync(modelDir);
  for (const entry of readdirSync(source)) symlinkSync(join(source, entry), join(modelDir, entry));
  // The test model's small vocabulary lacks "Fact:" and "containing": it gets its reference prompt.
  return { root, modelId, modelDir, prompt: demoReady ? DEMO_PROMPT : TEST_MODEL_PROMPT };
}

export interface ViewerServer {
  url: string;
  server: RunningServer;
  store: GraphStore;
  models: ReturnType<typeof makeModelsRoot>;
  close(): Promise<void>;
}

export async function startViewerServer(clientDir: string): Promise<ViewerServer> {
  const dir = mkdtempSync(join(tmpdir(), 'atlas-viewer-db-'));
  const store = await openStore({ ATLAS_DB: join(dir, 'atlas.sqlite') });
  const models = makeModelsRoot();
  const server = await startServer({ store, catalog: new ModelCatalog(models.root), clientDir, port: 0 });
  return {
    url: server.url,
    server,
    store,
    models,
    close: async () => {
      await server.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
      rmSync(models.root, { recursive: true, force: true });
    },
  };
}

export async function gqlData<T>(url: string, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: T; errors?: { message: string }[] };
  if (body.errors?.length || !body.data)
    throw new Error(`GraphQL failed (${response.status}): ${JSON.stringify(body.errors)}`);
  return body.data;
}

/** Imports a circuit-tracer graph JSON through the API; returns the stored graph's id. */
export async function importGraphJson(url: string, json: unknown): Promise<string> {
  const data = await gqlData<{ importGraph: { id: string } }>(
    url,
    'mutation($json: JSON!) { importGraph(json: $json) { id } }',
    { json },
  );
  return data.importGraph.id;
}

export function readReferenceGraph(model: string, name: string): unknown {
  return JSON.parse(readFileSync(join(REFERENCE_FIXTURES, model, `${name}.graph.json`), 'utf8'));
}

/** Opens a viewer URL and waits until the graph page has drawn its graph. */
export async function openGraph(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await page.waitForSelector('body[data-graph-ready]', { timeout: 60_000 });
}

/** Where a link-graph (or subgraph) node is drawn on the page right now. */
export async function nodePagePosition(
  page: Page,
  nodeId: string,
  view: 'link' | 'subgraph' = 'link',
): Promise<{ x: number; y: number }> {
  // The canvas may still be moving (a pane opening refits the graph): read the position once it holds
  // still over three animation frames (at most ~2 s of frames), so the click lands on the node.
  const position = await page.evaluate(
    ([id, which]) =>
      new Promise<{ x: number; y: number } | null>((resolve) => {
        const atlas = (window as unknown as { atlas: Record<string, { cy: import('cytoscape').Core }> }).atlas;
        const cy = atlas[which].cy;
        const read = () => {
          const node = cy.getElementById(id);
          if (node.empty()) return null;
          const box = cy.container()!.getBoundingClientRect();
          const p = node.renderedPosition();
          return { x: box.left + p.x, y: box.top + p.y };
        };
        let last = read();
        let still = 0;
        let frames = 0;
        const step = () => {
          const now = read();
          still = now && last && Math.abs(now.x - last.x) < 0.5 && Math.abs(now.y - last.y) < 0.5 ? still + 1 : 0;
          last = now;
          if (now === null || still >= 3 || ++frames > 120) resolve(now);
          else requestAnimationFrame(step);
        };
        requestAnimationFrame(step);
      }),
    [nodeId, view] as const,
  );
  if (!position) throw new Error(`node '${nodeId}' is not drawn in the ${view} view`);
  return position;
}

/** Clicks a node with the real mouse (Ctrl held to pin). */
export async function clickNode(
  page: Page,
  nodeId: string,
  options: { pin?: boolean; view?: 'link' | 'subgraph'; shift?: boolean } = {},
): Promise<void> {
  const { x, y } = await nodePagePosition(page, nodeId, options.view);
  const modifiers: ('Control' | 'Shift')[] = [];
  if (options.pin) modifiers.push('Control');
  if (options.shift) modifiers.push('Shift');
  for (const key of modifiers) await page.keyboard.down(key);
  await page.mouse.click(x, y);
  for (const key of modifiers) await page.keyboard.up(key);
}

/** The viewer state as the URL carries it. */
export function urlState(page: Page): URLSearchParams {
  return new URL(page.url()).searchParams;
}
