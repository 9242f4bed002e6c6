/**
 * `npm run bench -- viewer`: the viewer in headless Chromium against the real server.
 * - navigation → a drawn 1,000-node graph (the viewer's `atlas:graph-drawn` mark, taken after the
 *   browser painted the link graph; performance time starts at navigation);
 * - click → node panel (mousedown on a node to the `atlas:node-panel` mark after paint).
 * Baseline in the same run: the same page with a 2,000-node graph, to show how it scales.
 * Graphs are generated (realistic DAGs, seeded) and imported as circuit-tracer JSON via the API.
 */
import { rmSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../test-support/browser.js';
import { toGraphJson } from '@circuit-atlas/tracer';
import { randomGraph } from '../test-support/graph-generator.js';
import { buildViewer, importGraphJson, nodePagePosition, startViewerServer } from '../test-support/viewer-support.js';
import { formatMs, median, percentile } from './stats.js';

const REPEATS = 7;
const CLICKS_PER_LOAD = 5;

interface Sizes {
  nodes: number;
  edges: number;
}

async function measure(browser: Browser, url: string, graphId: string, nodeIds: string[]) {
  const drawn: number[] = [];
  const panel: number[] = [];
  for (let run = 0; run <= REPEATS; run++) {
    const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    await page.goto(`${url}/?graph=${graphId}`);
    await page.waitForSelector('body[data-graph-ready]', { timeout: 120_000 });
    const drawnAt = await page.evaluate(() => performance.getEntriesByName('atlas:graph-drawn')[0].startTime);
    await page.evaluate(() => {
      window.addEventListener('mousedown', () => performance.mark('bench:mousedown'), true);
    });
    for (let k = 0; k < CLICKS_PER_LOAD; k++) {
      const nodeId = nodeIds[(run * CLICKS_PER_LOAD + k) % nodeIds.length];
      const { x, y } = await nodePagePosition(page, nodeId);
      await page.evaluate(() => {
        performance.clearMarks('bench:mousedown');
        performance.clearMarks('atlas:node-panel');
      });
      await page.mouse.click(x, y);
      await page.waitForFunction(() => performance.getEntriesByName('atlas:node-panel').length > 0);
      const ms = await page.evaluate(
        () =>
          performance.getEntriesByName('atlas:node-panel')[0].startTime -
          performance.getEntriesByName('bench:mousedown')[0].startTime,
      );
      if (run > 0) panel.push(ms);
    }
    // Run 0 warms the server's caches and Chromium's code cache; it is not counted.
    if (run > 0) drawn.push(drawnAt);
    await page.close();
  }
  return { drawn, panel };
}

export async function run(): Promise<void> {
  const clientDir = await buildViewer();
  const viewer = await startViewerServer(clientDir);
  const browser = await launchChromium();
  try {
    const cases: Sizes[] = [
      { nodes: 1000, edges: 15_000 },
      { nodes: 2000, edges: 30_000 },
    ];
    for (const size of cases) {
      const doc = randomGraph({
        id: `bench-${size.nodes}`,
        seed: 11,
        nodes: size.nodes,
        edges: size.edges,
        nLayers: 12,
        nPos: 16,
      });
      const id = await importGraphJson(viewer.url, toGraphJson(doc));
      const features = doc.nodes.filter((n) => n.kind === 'feature').map((n) => n.nodeId);
      const picks = Array.from({ length: 16 }, (_, i) => features[Math.floor((i * features.length) / 16)]);
      const { drawn, panel } = await measure(browser, viewer.url, id, picks);
      process.stdout.write(
        `${size.nodes} nodes / ${size.edges} edges (${REPEATS} loads, ${panel.length} clicks, headless Chromium):\n` +
          `  navigation → drawn graph   median ${formatMs(median(drawn))}  p90 ${formatMs(percentile(drawn, 90))}\n` +
          `  click → node panel         median ${formatMs(median(panel))}  p90 ${formatMs(percentile(panel, 90))}\n`,
      );
    }
  } finally {
    await browser.close();
    await viewer.close();
    rmSync(clientDir, { recursive: true, force: true });
  }
}
