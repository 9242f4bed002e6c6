/**
 * The circuit view in Debian's Chromium on the demo model (models/atlas-world): the Dallas graph
 * (and Fresno, the donor) traced through the API, opened in the circuit view; Auto-group fills the
 * supernodes; label boxes do not overlap and fit their boxes; a path from the "Dallas" token to the
 * "Austin" logit is drawn; a supernode's members, rename, split, the Texas → California swap with
 * its new top predictions; and `circuit-atlas export --view circuit --format svg` writes the same
 * labels as the viewer's export; and the link `circuit-atlas demo` prints opens the circuit view
 * with its saved automatic supernodes, Dallas → Texas → say Austin → Austin. Screenshots go to
 * test-results/screenshots/.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type cytoscape from 'cytoscape';
import type { CircuitGraphView } from '../src/graph/circuit-view.js';
import { startServer, ModelCatalog, openStore, type GraphStore, type RunningServer } from '@circuit-atlas/server';
import { launchChromium, screenshot } from '../../test-support/browser.js';
import { gqlData, makeModelsRoot, openGraph, REPO_ROOT } from '../../test-support/viewer-support.js';
import { builtViewer } from '../../test-support/built-viewer.js';

const run = promisify(execFile);

/** What the viewer puts on `window.atlas` for tests (graph-page.ts). */
type AtlasWindow = Window & {
  atlas: {
    circuit: CircuitGraphView;
    subgraph: { cy: cytoscape.Core };
    page: { figureSvg(view: string): string };
  };
};
const prompt = (city: string) => `Fact: the capital of the state containing ${city} is`;

interface Box {
  id: string;
  text: string;
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

let dir: string;
let clientDir: string | undefined;
let store: GraphStore;
let server: RunningServer;
let models: ReturnType<typeof makeModelsRoot>;
let browser: Browser;
let page: Page;
const graphIds = new Map<string, string>();

async function traceThroughApi(city: string): Promise<string> {
  const { trace } = await gqlData<{ trace: { id: string } }>(
    server.url,
    'mutation($p: String!, $m: ID) { trace(prompt: $p, model: $m) { id } }',
    { p: prompt(city), m: models.modelId },
  );
  for (;;) {
    const { job } = await gqlData<{ job: { status: string; graphId: string | null; error: string | null } }>(
      server.url,
      'query($id: ID!) { job(id: $id) { status graphId error } }',
      { id: trace.id },
    );
    if (job.status === 'done') return job.graphId!;
    if (job.status !== 'queued' && job.status !== 'running')
      throw new Error(`trace of ${city} ${job.status}: ${job.error}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Runs the CLI against the test's store and models folder. */
async function atlas(args: string[]): Promise<string> {
  const { NEO4J_URI: _ignored, ...base } = process.env;
  const { stdout } = await run(process.execPath, ['bin/circuit-atlas.js', ...args], {
    cwd: REPO_ROOT,
    env: { ...base, ATLAS_DB: join(dir, 'atlas.sqlite'), ATLAS_MODELS: models.root },
    maxBuffer: 64 * 2 ** 20,
  });
  return stdout;
}

/** Checks that no two label boxes overlap. */
function expectNoOverlap(boxes: Box[]): void {
  for (let i = 0; i < boxes.length; i++)
    for (let j = i + 1; j < boxes.length; j++) {
      const [a, b] = [boxes[i], boxes[j]];
      const overlap = a.x1 < b.x2 && b.x1 < a.x2 && a.y1 < b.y2 && b.y1 < a.y2;
      expect(overlap, `labels '${a.text}' and '${b.text}' overlap`).toBe(false);
    }
}

/** The texts written in the boxes of a circuit SVG, sorted. */
function svgLabels(svg: string): Promise<string[]> {
  return page.evaluate((text) => {
    const parsed = new DOMParser().parseFromString(text, 'image/svg+xml');
    return [...parsed.querySelectorAll('g.node text.label')].map((t) => t.textContent ?? '').sort();
  }, svg);
}

const labelBoxes = () => page.evaluate(() => (window as unknown as AtlasWindow).atlas.circuit.labelBoxes() as Box[]);
const circuitReady = () => page.evaluate(() => document.body.dataset.circuitReady ?? '');
async function waitForNewCircuit(before: string, timeout = 60_000): Promise<void> {
  await page.waitForFunction((old) => (document.body.dataset.circuitReady ?? '') !== old, before, { timeout });
}

/** Clicks a circuit box with the real mouse. */
async function clickBox(id: string): Promise<void> {
  const { x, y } = await page.evaluate((boxId) => {
    const cy = (window as unknown as AtlasWindow).atlas.circuit.cy;
    const p = cy.getElementById(boxId).renderedPosition();
    const rect = cy.container()!.getBoundingClientRect();
    return { x: rect.left + p.x, y: rect.top + p.y };
  }, id);
  await page.mouse.click(x, y);
}

/** The drawn circuit: boxes (id, class, text) and edges. */
const drawn = () =>
  page.evaluate(() => {
    const cy = (window as unknown as AtlasWindow).atlas.circuit.cy;
    return {
      nodes: cy.nodes().map((n: cytoscape.NodeSingular) => ({
        id: n.id(),
        kind: n.classes()[0] as string,
        text: n.data('text') as string,
      })),
      edges: cy.edges().map((e: cytoscape.EdgeSingular) => ({
        source: e.source().id(),
        target: e.target().id(),
        share: e.data('share'),
      })),
    } as {
      nodes: { id: string; kind: string; text: string }[];
      edges: { source: string; target: string; share: number }[];
    };
  });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'atlas-viewer-circuit-'));
  clientDir = builtViewer();
  store = await openStore({ ATLAS_DB: join(dir, 'atlas.sqlite') });
  models = makeModelsRoot();
  server = await startServer({ store, catalog: new ModelCatalog(models.root), clientDir, port: 0 });
  for (const city of ['Dallas', 'Fresno']) graphIds.set(city, await traceThroughApi(city));
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1600, height: 900 } });
  page.on('pageerror', (error) => {
    throw error;
  });
}, 400_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await store?.close();
  if (clientDir) rmSync(clientDir, { recursive: true, force: true });
  if (models) rmSync(models.root, { recursive: true, force: true });
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the circuit view of the demo graph', () => {
  let autoLabels: string[];

  it('auto-groups into supernodes and draws Dallas → … → Austin with labels that do not overlap', async () => {
    await openGraph(page, `${server.url}/?graph=${encodeURIComponent(graphIds.get('Dallas')!)}&mode=circuit`);
    await page.waitForFunction(() => document.body.dataset.circuitReady, undefined, { timeout: 60_000 });
    const ungrouped = await drawn();
    expect(ungrouped.nodes.some((n) => n.kind === 'supernode')).toBe(false);
    const before = await circuitReady();
    await page.click('button.auto-group');
    // The server names the groups by their contexts: the first request loads the model and replays
    // its dashboards (seconds when idle, longer on a loaded machine).
    await waitForNewCircuit(before, 200_000);
    expect(new URL(page.url()).searchParams.get('mode')).toBe('circuit');
    expect(JSON.parse(new URL(page.url()).searchParams.get('sn')!).length).toBeGreaterThan(2);

    const circuit = await drawn();
    expect(circuit.nodes.filter((n) => n.kind === 'supernode').length).toBeGreaterThan(2);
    expect(circuit.nodes.filter((n) => n.kind === 'supernode').map((n) => n.text)).toContain('Texas');
    // Every label is written, and no two label boxes overlap.
    const boxes = await labelBoxes();
    expect(boxes.length).toBe(circuit.nodes.length);
    for (const b of boxes) expect(b.text.trim().length).toBeGreaterThan(0);
    expectNoOverlap(boxes);
    // Each label fits inside its own box (the shared width estimate is never too small).
    const fits = await page.evaluate(() =>
      (window as unknown as AtlasWindow).atlas.circuit.cy.nodes().map((n: cytoscape.NodeSingular) => {
        const label = n.renderedBoundingBox({ includeNodes: false, includeLabels: true });
        const body = n.renderedBoundingBox({ includeNodes: true, includeLabels: false });
        return { text: n.data('text'), fits: label.x1 >= body.x1 - 0.5 && label.x2 <= body.x2 + 0.5 };
      }),
    );
    for (const f of fits) expect(f.fits, `label '${f.text}' is wider than its box`).toBe(true);

    // A drawn path from the "Dallas" token up to the "Austin" logit.
    const dallas = circuit.nodes.find((n) => n.kind === 'token' && n.text === 'Dallas')!;
    const austin = circuit.nodes.find((n) => n.kind === 'logit')!;
    expect(austin.text).toMatch(/^Austin \(p=0\.\d\d\)$/);
    const reached = new Set([dallas.id]);
    for (let grew = true; grew;) {
      grew = false;
      for (const e of circuit.edges)
        if (reached.has(e.source) && !reached.has(e.target) && e.share > 0) grew = Boolean(reached.add(e.target));
    }
    expect(reached.has(austin.id)).toBe(true);
    autoLabels = (await labelBoxes()).map((b) => b.text).sort();
    await screenshot(page, 'circuit-view-demo');
  }, 300_000);

  it('writes the same labels in the viewer export and in circuit-atlas export --view circuit', async () => {
    const viewerSvg = await page.evaluate(
      () => (window as unknown as AtlasWindow).atlas.page.figureSvg('circuit') as string,
    );
    const cliSvg = await atlas(['export', graphIds.get('Dallas')!, '--view', 'circuit', '--format', 'svg']);
    expect(await svgLabels(viewerSvg)).toEqual(autoLabels);
    expect(await svgLabels(cliSvg)).toEqual(autoLabels);
  });

  it('lists a supernode’s members, renames and splits it, swaps it for Fresno’s and saves the view', async () => {
    const circuit = await drawn();
    const dallas = circuit.nodes.find((n) => n.kind === 'token' && n.text === 'Dallas')!;
    // The city supernode: the supernode the Dallas token feeds most strongly.
    const city = circuit.edges
      .filter((e) => e.source === dallas.id && circuit.nodes.find((n) => n.id === e.target)?.kind === 'supernode')
      .sort((a, b) => b.share - a.share)[0].target;
    await clickBox(city);
    await page.waitForSelector('.supernode-members li');
    const sn = JSON.parse(new URL(page.url()).searchParams.get('sn')!) as string[][];
    const name = new URL(page.url()).searchParams.get('sel')!;
    const members = sn.find((s) => s[0] === name)!.slice(1);
    expect(await page.locator('.supernode-members li').count()).toBe(members.length);
    for (const text of await page.locator('.supernode-members .member-label').allTextContents())
      expect(text.trim().length).toBeGreaterThan(0);

    // The Texas → California swap: the answer becomes Sacramento.
    await page.selectOption('select.donor-graph', graphIds.get('Fresno')!);
    await page.waitForSelector('select.donor-supernode[data-ready]');
    const options = await page
      .locator('select.donor-supernode option')
      .evaluateAll((os) => os.map((o) => ({ value: (o as HTMLOptionElement).value, text: o.textContent ?? '' })));
    // Fresno's city sits at the same position as Dallas: its most influential supernode there.
    const donor = options.find((o) => o.text.endsWith('position 9)'))!;
    await page.selectOption('select.donor-supernode', donor.value);
    await page.click('button.swap-supernode');
    await page.waitForSelector('.supernode-intervention-result[data-done]', { timeout: 120_000 });
    const firstAfter = await page.locator('.supernode-intervention-result tr:nth-child(2) td.tok').textContent();
    expect(firstAfter).toBe('Sacramento');
    await screenshot(page, 'circuit-view-swap');
    // The same swap with attention free to change (the heads re-attend to the swapped state).
    await page.check('input.free-attention');
    await page.click('button.swap-supernode');
    await page.waitForSelector('.supernode-intervention-result[data-done][data-attention="free"]', {
      timeout: 120_000,
    });
    expect(await page.locator('.supernode-intervention-result tr:nth-child(2) td.tok').textContent()).toBe(
      'Sacramento',
    );

    // Rename, then split one member off: the URL state and the drawing follow.
    let before = await circuitReady();
    await page.fill('input.supernode-name', 'Texas (mine)');
    await page.click('button.rename-supernode');
    await waitForNewCircuit(before);
    expect((await drawn()).nodes.some((n) => n.text === 'Texas (mine)')).toBe(true);
    before = await circuitReady();
    await page.locator('.supernode-members button.remove-member').first().click();
    await waitForNewCircuit(before);
    const after = JSON.parse(new URL(page.url()).searchParams.get('sn')!) as string[][];
    expect(after.find((s) => s[0] === 'Texas (mine)')!.length - 1).toBe(members.length - 1);

    // Saved as a view; the CLI draws that view with the viewer's labels.
    await page.fill('input.view-name', 'my circuit');
    await page.click('button.save-view');
    await page.waitForFunction(() => document.querySelector('.saved-views')?.textContent?.includes('my circuit'));
    const views = await store.listViews(graphIds.get('Dallas')!);
    const saved = views.find((v) => v.name === 'my circuit')!;
    expect(saved.supernodes.find((s) => s.name === 'Texas (mine)')!.nodeIds.length).toBe(members.length - 1);
    const viewerLabels = (await labelBoxes()).map((b) => b.text).sort();
    const cliSvg = await atlas([
      'export',
      graphIds.get('Dallas')!,
      '--figure',
      'circuit',
      '--view',
      saved.id,
      '--format',
      'svg',
    ]);
    expect(await svgLabels(cliSvg)).toEqual(viewerLabels);
    await screenshot(page, 'circuit-view-edited');
  });
});

describe('Auto-group on the link graph', () => {
  it('fills the subgraph with the automatic supernodes, their members pinned, in the URL', async () => {
    await openGraph(page, `${server.url}/?graph=${encodeURIComponent(graphIds.get('Dallas')!)}`);
    await page.click('button.auto-group');
    await page.waitForFunction(() => new URL(location.href).searchParams.has('sn'), undefined, { timeout: 60_000 });
    const state = new URL(page.url()).searchParams;
    const sn = JSON.parse(state.get('sn')!) as string[][];
    const pinned = new Set(state.get('pinned')!.split(','));
    expect(sn.length).toBeGreaterThan(2);
    for (const [, ...members] of sn) for (const id of members) expect(pinned.has(id)).toBe(true);
    await page.waitForFunction(
      (count) => (window as unknown as AtlasWindow).atlas.subgraph.cy.nodes('.supernode').length === count,
      sn.length,
      { timeout: 30_000 },
    );
    await screenshot(page, 'link-graph-auto-group');
  });
});

describe('the demo link', () => {
  it('opens the Dallas graph in the circuit view with named automatic supernodes: Dallas → Texas → say Austin → Austin', async () => {
    const demo = spawn(process.execPath, ['bin/circuit-atlas.js', 'demo', '--port', '0'], {
      cwd: REPO_ROOT,
      env: { ...process.env, NEO4J_URI: '', ATLAS_DB: join(dir, 'demo.sqlite'), ATLAS_MODELS: models.root },
    });
    let stdout = '';
    demo.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    demo.stderr.on('data', () => {});
    try {
      const deadline = Date.now() + 300_000;
      let link: RegExpExecArray | null = null;
      while (!(link = /open the demo graph in the circuit view: (\S+)/.exec(stdout))) {
        if (demo.exitCode !== null || Date.now() > deadline) throw new Error(`demo printed no link:\n${stdout}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(link[1]).toMatch(/mode=circuit&view=/);
      await openGraph(page, link[1]);
      await page.waitForFunction(() => document.body.dataset.circuitReady, undefined, { timeout: 60_000 });
      const circuit = await drawn();
      expectNoOverlap(await labelBoxes());
      const text = new Map(circuit.nodes.map((n) => [n.id, n.text]));
      const find = (label: string) => circuit.nodes.find((n) => n.text === label)?.id;
      const chain = ['Dallas', 'Texas', 'say Austin'].map(find);
      const austin = circuit.nodes.find((n) => n.kind === 'logit')!;
      expect(chain.every(Boolean), `boxes: ${[...text.values()].join(', ')}`).toBe(true);
      const edge = (a: string, b: string) => circuit.edges.find((e) => e.source === a && e.target === b && e.share > 0);
      expect(edge(chain[0]!, chain[1]!)).toBeDefined();
      expect(edge(chain[1]!, chain[2]!)).toBeDefined();
      expect(edge(chain[2]!, austin.id)).toBeDefined();
      await screenshot(page, 'circuit-view-demo-link');
    } finally {
      demo.kill('SIGINT');
      await new Promise((resolve) => (demo.exitCode !== null ? resolve(null) : demo.on('exit', resolve)));
    }
  }, 400_000);
});
