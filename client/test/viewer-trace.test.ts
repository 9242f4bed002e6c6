/**
 * The viewer end to end on a model the server offers (the demo model when trained, else the tiny
 * llama test model), in Debian's Chromium: trace the demo prompt from the form with live progress,
 * the top logit's inputs, a feature panel with its contexts and an edited label, an intervention,
 * and the graph list (search, filter, delete).
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, screenshot } from '../../test-support/browser.js';
import {
  clickNode,
  gqlData,
  startViewerServer,
  urlState,
  type ViewerServer,
} from '../../test-support/viewer-support.js';
import { builtViewer } from '../../test-support/built-viewer.js';

interface NodeView {
  nodeId: string;
  kind: string;
  layer: number;
  ctxIdx: number;
  feature: number | null;
  activation: number | null;
  influence: number | null;
  tokenProb: number | null;
  label: string;
}

let viewer: ViewerServer;
let clientDir: string | undefined;
let browser: Browser;
let page: Page;
let graphId: string;
let graph: {
  model: string;
  promptTokens: string[];
  nodes: NodeView[];
  edges: { source: string; target: string; weight: number }[];
};

beforeAll(async () => {
  clientDir = builtViewer();
  viewer = await startViewerServer(clientDir);
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  page.on('pageerror', (error) => {
    throw error;
  });
});

afterAll(async () => {
  await browser?.close();
  await viewer?.close();
  if (clientDir) rmSync(clientDir, { recursive: true, force: true });
});

const topFeature = (): NodeView =>
  graph.nodes.filter((n) => n.kind === 'feature').sort((a, b) => (a.influence ?? 1) - (b.influence ?? 1))[0];

/**
 * Dashboards in the reference's feature-detail format for the graph's features, unless the model
 * ships its own: contexts are the traced prompt with the feature's activation at its position.
 */
function ensureDashboards(): void {
  const dir = join(viewer.models.modelDir, 'dashboards');
  if (existsSync(dir)) return;
  mkdirSync(dir);
  const byLayer = new Map<number, NodeView[]>();
  for (const node of graph.nodes.filter((n) => n.kind === 'feature'))
    byLayer.set(node.layer, [...(byLayer.get(node.layer) ?? []), node]);
  for (const [layer, nodes] of byLayer) {
    const details = nodes.map((node) => {
      const acts = graph.promptTokens.map((_, p) =>
        p === node.ctxIdx ? (node.activation ?? 1) : p === node.ctxIdx - 1 ? (node.activation ?? 1) / 3 : 0,
      );
      return {
        index: node.feature,
        examples_quantiles: [
          {
            quantile_name: 'Top activations',
            examples: [
              {
                tokens: graph.promptTokens,
                tokens_acts_list: acts,
                train_token_ind: node.ctxIdx,
                is_repeated_datapoint: false,
              },
            ],
          },
        ],
        top_logits: ['Austin', 'Texas', 'capital'],
        bottom_logits: ['Paris', 'France'],
        act_min: 0,
        act_max: node.activation ?? 1,
        quantile_values: [],
        histogram: null,
        activation_frequency: 0.0125,
      };
    });
    writeFileSync(join(dir, `layer_${layer}.json`), JSON.stringify(details));
  }
}

describe('the viewer on a traced graph', () => {
  it('traces the demo prompt from the form with live progress and opens the graph on its top logit', async () => {
    await page.goto(viewer.url);
    await page.waitForSelector('.trace-form select.trace-model option', { state: 'attached' });
    expect(await page.locator('.trace-model option').first().getAttribute('value')).toBe(viewer.models.modelId);
    // Record every progress text the form shows while the trace runs.
    await page.evaluate(() => {
      const seen: string[] = [];
      (window as unknown as { phases: string[] }).phases = seen;
      const phase = document.querySelector('.trace-phase')!;
      new MutationObserver(() => seen.push(phase.textContent ?? '')).observe(phase, {
        childList: true,
        characterData: true,
        subtree: true,
      });
    });
    // Progress comes by server-sent events, not by polling the job.
    const requests: string[] = [];
    page.on('request', (request) => {
      if (request.url().includes('/jobs/')) requests.push('events');
      else if (request.postData()?.includes('job(')) requests.push('poll');
    });
    await page.fill('.trace-prompt', viewer.models.prompt);
    await page.click('.trace-submit');
    await page.waitForFunction(
      () => document.body.dataset.graphReady || document.querySelector('.trace-phase.error'),
      null,
      {
        timeout: 280_000,
      },
    );
    const failure = await page.evaluate(() => document.querySelector('.trace-phase.error')?.textContent ?? null);
    expect(failure).toBeNull();
    const phases = await page.evaluate(() => (window as unknown as { phases: string[] }).phases);
    expect(phases.some((text) => /^(queued|running)/.test(text))).toBe(true);
    expect(phases.at(-1)).toBe('done');
    expect(requests).toEqual(['events']);

    graphId = urlState(page).get('graph')!;
    const data = await gqlData<{ graph: typeof graph & { prompt: string } }>(
      viewer.url,
      `query($id: ID!) { graph(id: $id) { prompt model promptTokens nodes { nodeId kind layer ctxIdx feature activation influence tokenProb label } edges { source target weight } } }`,
      { id: graphId },
    );
    graph = data.graph;
    expect(data.graph.prompt).toContain('Dallas');
    const top = graph.nodes
      .filter((n) => n.kind === 'logit')
      .sort((a, b) => (b.tokenProb ?? 0) - (a.tokenProb ?? 0))[0];
    expect(urlState(page).get('clicked')).toBe(top.nodeId);
    await clickNode(page, top.nodeId);
    await page.waitForSelector(`.node-panel[data-node-id="${top.nodeId}"] .inputs .edge-row`);
    const inputs = graph.edges.filter((e) => e.target === top.nodeId);
    expect(await page.locator('.node-panel .inputs .edge-row').count()).toBe(
      Math.min(12, inputs.filter((e) => e.weight > 0).length) + Math.min(12, inputs.filter((e) => e.weight < 0).length),
    );
    await screenshot(page, 'viewer-trace-demo-top-logit');
  }, 300_000);

  it('opens a feature panel with its top activating contexts and saves an edited label', async () => {
    ensureDashboards();
    const feature = topFeature();
    await clickNode(page, feature.nodeId);
    await page.waitForSelector('.feature-panel .context', { timeout: 30_000 });
    expect(await page.locator('.feature-panel .context').count()).toBeGreaterThan(0);
    // The token the example was chosen for is marked, and active tokens are shaded.
    expect(await page.locator('.feature-panel .context .tok.train').count()).toBeGreaterThan(0);
    expect(await page.locator('.feature-panel .context .tok[style*="background"]').count()).toBeGreaterThan(0);
    expect(await page.locator('.feature-panel .logits.positive li').count()).toBeGreaterThan(0);
    expect(await page.textContent('.feature-panel .facts')).toContain('activation frequency');
    // The automatic labels from the dashboards, with their confidences.
    expect(await page.textContent('.feature-panel .auto-labels')).toMatch(/^reads .+ \d+%/);

    await page.fill('.feature-panel .label-input', 'Dallas → Texas');
    await page.click('.feature-panel .save-label');
    await page.waitForFunction(() => document.querySelector('.save-status')?.textContent?.startsWith('saved'));
    const stored = await gqlData<{ feature: { label: { label: string } | null } }>(
      viewer.url,
      'query($m: String!, $l: Int!, $i: Int!) { feature(model: $m, layer: $l, index: $i) { label { label } } }',
      { m: graph.model, l: feature.layer, i: feature.feature },
    );
    expect(stored.feature.label?.label).toBe('Dallas → Texas');
    await screenshot(page, 'viewer-trace-feature-panel');
  });

  it('sets a pinned feature to zero and shows how the top logits change', async () => {
    const feature = topFeature();
    await clickNode(page, feature.nodeId, { pin: true });
    await page.waitForSelector(`.intervention-inputs input[data-node-id="${feature.nodeId}"]`);
    await page.fill(`.intervention-inputs input[data-node-id="${feature.nodeId}"]`, '0');
    await page.click('button.run-intervention');
    await page.waitForSelector('.logit-table tr td', { timeout: 120_000 });
    const rows = await page.locator('.logit-table tr').count();
    expect(rows).toBeGreaterThan(1);
    await screenshot(page, 'viewer-trace-intervention');
  });

  it('lists the graph, filters it by prompt and model, opens it, and deletes it', async () => {
    await page.goto(viewer.url);
    await page.waitForSelector(`tr[data-graph-id="${graphId}"]`);
    await page.fill('input.search', 'Dallas');
    await page.waitForSelector(`tr[data-graph-id="${graphId}"]`);
    await page.fill('input.search', 'no prompt has this');
    await page.waitForSelector(`tr[data-graph-id="${graphId}"]`, { state: 'detached' });
    await page.fill('input.search', '');
    await page.selectOption('select.model-filter', graph.model);
    await page.waitForSelector(`tr[data-graph-id="${graphId}"]`);
    expect(urlState(page).get('model')).toBe(graph.model);
    await screenshot(page, 'viewer-graph-list');

    await page.click(`tr[data-graph-id="${graphId}"] a.open`);
    // The link navigates within the app; wait for it rather than reloading, so history is list → graph.
    await page.waitForURL((url) => url.searchParams.get('graph') === graphId);
    await page.waitForSelector('body[data-graph-ready]', { timeout: 60_000 });
    expect(urlState(page).get('graph')).toBe(graphId);
    await page.goBack();
    await page.waitForSelector(`tr[data-graph-id="${graphId}"]`);
    page.once('dialog', (dialog) => void dialog.accept());
    await page.click(`tr[data-graph-id="${graphId}"] button.delete`);
    await page.waitForSelector(`tr[data-graph-id="${graphId}"]`, { state: 'detached' });
    const left = await gqlData<{ graphs: { total: number } }>(viewer.url, 'query { graphs { total } }');
    expect(left.graphs.total).toBe(0);
  });
});
