/**
 * The viewer's batch and collection pages in Debian's Chromium, on a real server: a batch traced
 * through the API shows its progress to the end with the failing prompt's reason, and the traced
 * graphs as a collection show the common circuit, which prompts use a clicked feature, and the
 * clusters — each the same as the API answers.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, screenshot } from '../../test-support/browser.js';
import { gqlData, startViewerServer, type ViewerServer } from '../../test-support/viewer-support.js';
import { builtViewer } from '../../test-support/built-viewer.js';

let viewer: ViewerServer;
let clientDir: string | undefined;
let browser: Browser;
let page: Page;
// Tracer processes on a loaded two-core machine: the limit guards against a hang, not a pace.
const LIMIT_MS = 600_000;

beforeAll(async () => {
  clientDir = builtViewer();
  viewer = await startViewerServer(clientDir);
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.on('pageerror', (error) => {
    throw error;
  });
});

afterAll(async () => {
  await browser?.close();
  await viewer?.close();
  if (clientDir) rmSync(clientDir, { recursive: true, force: true });
});

/** Three prompts the model can trace: capital questions on the demo model, else its reference prompt. */
function batchPrompts(): string[] {
  if (viewer.models.modelId !== 'atlas-world')
    return [viewer.models.prompt, `${viewer.models.prompt} the`, `The ${viewer.models.prompt}`];
  const world = JSON.parse(readFileSync(join(viewer.models.modelDir, 'world.json'), 'utf8')) as {
    states: { cities: { name: string }[] }[];
  };
  return world.states.slice(0, 3).map((s) => `Fact: the capital of the state containing ${s.cities[0].name} is`);
}

describe('batches and collections in the viewer', { timeout: 2 * LIMIT_MS }, () => {
  const ids = ['vc-0', 'vc-1', 'vc-2'];

  it('follows a batch to its end, each prompt with its state and the failing one with its reason', async () => {
    const prompts = batchPrompts();
    await gqlData(
      viewer.url,
      `mutation($p: [BatchPromptInput!]!, $m: ID) { traceBatch(prompts: $p, id: "vc", model: $m) { id } }`,
      {
        m: viewer.models.modelId,
        p: [
          ...prompts.map((prompt, i) => ({ prompt, id: ids[i] })),
          { prompt: prompts[0], id: 'vc-bad', target: ' Atlantis' },
        ],
      },
    );
    await page.goto(`${viewer.url}/?batch=vc`);
    await page.waitForSelector('body[data-batch-state="finished"]', { timeout: LIMIT_MS });
    expect(await page.locator('tr.batch-prompt').count()).toBe(4);
    expect(await page.locator('tr.batch-prompt.state-done').count()).toBe(3);
    const failed = page.locator('tr.batch-prompt.state-failed');
    expect(await failed.count()).toBe(1);
    expect(await failed.locator('td.error').textContent()).toMatch(/target " Atlantis" .* is not among its top logits/);
    expect(await page.locator('.batch-counts').textContent()).toMatch(/100% · 3 done · 1 failed/);
    await screenshot(page, 'viewer-batch');
  });

  it('shows the common circuit, the prompts using a clicked feature, and the clusters as the API does', async () => {
    const { graph } = await gqlData<{ graph: { model: string } }>(viewer.url, `query { graph(id: "vc-0") { model } }`);
    const api = await gqlData<{
      commonCircuit: { features: { layer: number; index: number; graphCount: number }[] };
      graphClusters: { clusters: { graphIds: string[] }[] };
    }>(
      viewer.url,
      `query($c: CollectionInput!) { commonCircuit(collection: $c, minShare: 0.5, maxFeatures: 50) { features { layer index graphCount } }
         graphClusters(collection: $c, minSimilarity: 0.5) { clusters { graphIds } } }`,
      { c: { model: graph.model } },
    );
    await page.goto(`${viewer.url}/?collection=${encodeURIComponent(graph.model)}`);
    await page.waitForSelector('body[data-collection-ready]', { timeout: LIMIT_MS });
    const rows = page.locator('tr.common-feature');
    expect(await rows.count()).toBe(api.commonCircuit.features.length);
    expect(api.commonCircuit.features.length).toBeGreaterThan(0);
    const first = api.commonCircuit.features[0];
    expect(await rows.first().getAttribute('data-feature')).toBe(`${first.layer}:${first.index}`);
    await rows.first().locator('button').click();
    await page.waitForSelector(`body[data-uses-ready="${first.layer}:${first.index}"]`, { timeout: LIMIT_MS });
    expect(await page.locator('.feature-use-list li').count()).toBe(first.graphCount);
    expect(await page.locator('.clusters .cluster').count()).toBe(api.graphClusters.clusters.length);
    expect(await page.locator('.clusters .cluster li').count()).toBe(3);
    await screenshot(page, 'viewer-collection');
    // A prompt in a cluster opens its graph.
    await page.locator('.clusters .cluster li a').first().click();
    await page.waitForURL(/\?graph=vc-\d/, { timeout: LIMIT_MS });
  });
});
