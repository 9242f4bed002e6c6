/**
 * The feature × prompt matrix over 12 stored graphs of one model, in Debian's Chromium: one column
 * per graph linking to it, one row per feature the collection analysis finds in at least two of
 * them, a cell where (and only where) that graph has the feature, holding its largest activation.
 * Screenshot: test-results/screenshots/viewer-matrix.png.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import type { GraphDocument } from '@circuit-atlas/schema';
import { launchChromium, screenshot } from '../../test-support/browser.js';
import { randomGraph } from '../../test-support/graph-generator.js';
import { startViewerServer, type ViewerServer } from '../../test-support/viewer-support.js';
import { builtViewer } from '../../test-support/built-viewer.js';

const PROMPTS = [
  'Dallas',
  'Houston',
  'Austin',
  'Paris',
  'Lyon',
  'Denver',
  'Boise',
  'Reno',
  'Tulsa',
  'Omaha',
  'Fresno',
  'Miami',
];

let viewer: ViewerServer;
let clientDir: string | undefined;
let browser: Browser;
let graphs: GraphDocument[];

beforeAll(async () => {
  clientDir = builtViewer();
  viewer = await startViewerServer(clientDir);
  browser = await launchChromium();
  // A small feature pool makes features recur across prompts, as real circuits do.
  graphs = PROMPTS.map((city, i) =>
    randomGraph({
      id: `matrix-${i}`,
      seed: 40 + i,
      nodes: 90,
      edges: 500,
      nPos: 6,
      featurePool: 12,
      model: 'matrix-model',
      prompt: `${city} is a city in the state of`,
    }),
  );
  for (const graph of graphs) await viewer.store.saveGraph(graph);
});

afterAll(async () => {
  await browser?.close();
  await viewer?.close();
  if (clientDir) rmSync(clientDir, { recursive: true, force: true });
});

describe('the feature × prompt matrix', () => {
  it('shows every recurring feature against 12 prompts, with activations where present and links to each graph', async () => {
    const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    page.on('pageerror', (error) => {
      throw error;
    });
    await page.goto(`${viewer.url}/?matrix=${graphs.map((g) => g.id).join(',')}`);
    await page.waitForSelector('body[data-matrix-ready], p.error');
    expect(await page.locator('p.error').count(), (await page.locator('#app').textContent()) ?? '').toBe(0);
    const links = await page.locator('a.matrix-graph').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
    expect(links).toEqual(graphs.map((g) => `?graph=${g.id}`));
    const rows = await page.locator('tr.matrix-row').evaluateAll((trs) =>
      trs.map((tr) => ({
        feature: tr.getAttribute('data-feature')!,
        cells: [...tr.querySelectorAll('td.cell')].map((td) =>
          td.classList.contains('present') ? td.textContent : null,
        ),
      })),
    );
    expect(rows.length).toBeGreaterThan(5);
    // Expected from the documents: the largest activation of the feature in each graph, or absent.
    for (const row of rows) {
      const [layer, index] = row.feature.split(':').map(Number);
      const expected = graphs.map((g) => {
        const acts = g.nodes
          .filter((n) => n.kind === 'feature' && n.layer === layer && n.feature === index)
          .map((n) => n.activation ?? 0);
        return acts.length ? Math.max(...acts).toFixed(2) : null;
      });
      expect(row.cells, row.feature).toEqual(expected);
      expect(expected.filter((v) => v !== null).length).toBeGreaterThanOrEqual(2);
    }
    await screenshot(page, 'viewer-matrix');
    await page.close();
  });
});
