/**
 * `npm run bench -- viewer`: the viewer in headless Chromium against the real server, at real size.
 * - navigation → a drawn graph (the viewer's `atlas:graph-drawn` mark, taken after the browser
 *   painted the link graph with the top logit's edges; performance time starts at navigation), and
 *   → every node in the graph (`atlas:graph-complete`: large graphs paint the first screen first);
 * - click → node panel (mousedown on a node to the `atlas:node-panel` mark after paint: the panel
 *   with what the page knows of the node) and click → its edges drawn (`atlas:node-edges`: the click
 *   fetched the node's incident edges from the server, drew them and filled the panel's lists);
 * - where the time goes: the viewer's marks between phases and the GraphQL requests' timings;
 * - the page's JS heap after the clicks (CDP Runtime.getHeapUsage after a forced GC), and the bytes
 *   of GraphQL answers the page received.
 * The graph under test has 5,000 nodes and 1,000,000 edges (issue 12's target: drawn ≤ 2 s, click →
 * panel ≤ 100 ms); a 1,000-node, 15,000-edge graph is the baseline in the same run. Graphs are
 * generated (realistic DAGs, seeded) and saved straight into the viewer server's SQLite store.
 */
import type { Browser, Page } from 'playwright-core';
import { rmSync } from 'node:fs';
import { launchChromium } from '../test-support/browser.js';
import { randomGraph } from '../test-support/graph-generator.js';
import { buildViewer, nodePagePosition, startViewerServer } from '../test-support/viewer-support.js';
import { formatMs, median, percentile } from './stats.js';

const REPEATS = 5;
const CLICKS_PER_LOAD = 6;

interface Sizes {
  nodes: number;
  edges: number;
  nPos: number;
}

async function measure(browser: Browser, url: string, graphId: string, nodeIds: string[]) {
  const drawn: number[] = [];
  const complete: number[] = [];
  const panel: number[] = [];
  const panelEdges: number[] = [];
  const heapMb: number[] = [];
  const receivedKb: number[] = [];
  const phases: Record<string, number[]> = {};
  const record = (name: string, ms: number) => (phases[name] ??= []).push(ms);
  for (let run = 0; run <= REPEATS; run++) {
    const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    // tsx compiles this file with esbuild's keepNames: functions sent to the page call its `__name` helper.
    await page.addInitScript({ content: 'globalThis.__name = (fn) => fn;' });
    await page.goto(`${url}/?graph=${graphId}`);
    await page.waitForSelector('body[data-graph-ready]', { timeout: 120_000 });
    const [drawnAt, completeAt] = await page.evaluate(() => [
      performance.getEntriesByName('atlas:graph-drawn')[0].startTime,
      performance.getEntriesByName('atlas:graph-complete')[0].startTime,
    ]);
    if (run > 0) for (const [name, ms] of Object.entries(await loadPhases(page))) record(name, ms);
    await page.evaluate(() => {
      window.addEventListener('mousedown', () => performance.mark('bench:mousedown'), true);
    });
    // Long prompts open panned to a legible zoom: click features that are on screen.
    const visible = await page.evaluate((ids) => {
      const cy = (window as unknown as { atlas: { link: { cy: import('cytoscape').Core } } }).atlas.link.cy;
      return ids.filter((id) => {
        const p = cy.getElementById(id).renderedPosition();
        return p.x > 30 && p.x < cy.width() - 30 && p.y > 30 && p.y < cy.height() - 30;
      });
    }, nodeIds);
    if (visible.length === 0) throw new Error('no feature of the sample is on screen');
    for (let k = 0; k < CLICKS_PER_LOAD; k++) {
      const nodeId = visible[(run * CLICKS_PER_LOAD + k) % visible.length];
      const { x, y } = await nodePagePosition(page, nodeId);
      await page.evaluate(() => {
        performance.clearMarks('bench:mousedown');
        performance.clearMarks('atlas:node-panel');
        performance.clearMarks('atlas:node-edges');
      });
      await page.mouse.click(x, y);
      await page
        .waitForFunction(() => performance.getEntriesByName('atlas:node-edges').length > 0, undefined, {
          timeout: 120_000,
        })
        .catch((error: Error) => {
          throw new Error(`a click on '${nodeId}' drew no edges: ${error.message}`);
        });
      const [ms, edgesMs] = await page.evaluate(() => {
        const down = performance.getEntriesByName('bench:mousedown')[0].startTime;
        return [
          performance.getEntriesByName('atlas:node-panel')[0].startTime - down,
          performance.getEntriesByName('atlas:node-edges')[0].startTime - down,
        ];
      });
      if (run > 0) {
        panel.push(ms);
        panelEdges.push(edgesMs);
        for (const [name, phaseMs] of Object.entries(await clickPhases(page))) record(name, phaseMs);
      }
    }
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('HeapProfiler.collectGarbage');
    const { usedSize } = (await cdp.send('Runtime.getHeapUsage')) as { usedSize: number };
    const received = await page.evaluate(() =>
      (performance.getEntriesByType('resource') as PerformanceResourceTiming[])
        .filter((entry) => entry.name.endsWith('/graphql'))
        .reduce((sum, entry) => sum + entry.encodedBodySize, 0),
    );
    // Run 0 warms the server's caches and Chromium's code cache; it is not counted.
    if (run > 0) {
      drawn.push(drawnAt);
      complete.push(completeAt);
      heapMb.push(usedSize / 2 ** 20);
      receivedKb.push(received / 1024);
    }
    await page.close();
  }
  return { drawn, complete, panel, panelEdges, heapMb, receivedKb, phases };
}

/**
 * Where the first draw's time goes: the viewer's marks (graph-page.ts) and the GraphQL requests'
 * resource timings (waiting = request sent → first byte: the server's time; body = first → last byte).
 */
async function loadPhases(page: Page): Promise<Record<string, number>> {
  return page.evaluate(() => {
    const at = (name: string) => performance.getEntriesByName(name)[0]?.startTime ?? NaN;
    const requests = (performance.getEntriesByType('resource') as PerformanceResourceTiming[]).filter((entry) =>
      entry.name.endsWith('/graphql'),
    );
    const nodes = requests[0];
    const edges = requests.find((entry) => entry.startTime >= at('atlas:nodes-received'));
    const script = (performance.getEntriesByType('resource') as PerformanceResourceTiming[]).find((entry) =>
      entry.name.endsWith('.js'),
    );
    return {
      'load: navigation → script loaded': script ? script.responseEnd : NaN,
      'load: nodes query, server wait': nodes ? nodes.responseStart - nodes.requestStart : NaN,
      'load: nodes query, body': nodes ? nodes.responseEnd - nodes.responseStart : NaN,
      'load: nodes answer → parsed': nodes ? at('atlas:nodes-received') - nodes.responseEnd : NaN,
      'load: focus edges query, server wait': edges ? edges.responseStart - edges.requestStart : NaN,
      'load: nodes parsed → focus edges in': at('atlas:edges-received') - at('atlas:nodes-received'),
      'load: render (layout, Cytoscape)': at('atlas:page-rendered') - at('atlas:edges-received'),
      'load: apply (edges, labels, panels)': at('atlas:edges-applied') - at('atlas:page-rendered'),
      'load: applied → painted': at('atlas:graph-drawn') - at('atlas:edges-applied'),
      'load: painted → every node added': at('atlas:graph-complete') - at('atlas:graph-drawn'),
    };
  });
}

/** Where one click's time goes: mousedown → edges received → applied → painted. */
async function clickPhases(page: Page): Promise<Record<string, number>> {
  return page.evaluate(() => {
    const at = (name: string) => performance.getEntriesByName(name).at(-1)?.startTime ?? NaN;
    return {
      'click: mousedown → edges received': at('atlas:click-edges-received') - at('bench:mousedown'),
      'click: apply (edges, labels, panels)': at('atlas:click-applied') - at('atlas:click-edges-received'),
      'click: applied → painted': at('atlas:node-edges') - at('atlas:click-applied'),
    };
  });
}

export async function run(): Promise<void> {
  const clientDir = await buildViewer();
  const viewer = await startViewerServer(clientDir);
  const browser = await launchChromium();
  try {
    const cases: Sizes[] = [
      { nodes: 1000, edges: 15_000, nPos: 16 },
      { nodes: 5000, edges: 1_000_000, nPos: 64 },
    ];
    for (const size of cases) {
      const doc = randomGraph({
        id: `bench-${size.nodes}-${size.edges}`,
        seed: 11,
        nodes: size.nodes,
        edges: size.edges,
        nLayers: 12,
        nPos: size.nPos,
      });
      const saveStart = performance.now();
      await viewer.store.saveGraph(doc);
      const saveSeconds = (performance.now() - saveStart) / 1000;
      const features = doc.nodes.filter((n) => n.kind === 'feature').map((n) => n.nodeId);
      const picks = Array.from({ length: 400 }, (_, i) => features[Math.floor((i * features.length) / 400)]);
      const { drawn, complete, panel, panelEdges, heapMb, receivedKb, phases } = await measure(
        browser,
        viewer.url,
        doc.id,
        picks,
      );
      process.stdout.write(
        `${size.nodes} nodes / ${size.edges} edges, ${size.nPos} tokens (saved in ${saveSeconds.toFixed(1)} s; ` +
          `${REPEATS} loads, ${panel.length} clicks, headless Chromium):\n` +
          `  navigation → drawn graph   median ${formatMs(median(drawn))}  p90 ${formatMs(percentile(drawn, 90))}\n` +
          `  navigation → all nodes in  median ${formatMs(median(complete))}  p90 ${formatMs(percentile(complete, 90))}\n` +
          `  click → node panel         median ${formatMs(median(panel))}  p90 ${formatMs(percentile(panel, 90))}\n` +
          `  click → its edges drawn    median ${formatMs(median(panelEdges))}  p90 ${formatMs(percentile(panelEdges, 90))}\n` +
          `  JS heap after ${CLICKS_PER_LOAD} clicks    median ${median(heapMb).toFixed(1)} MB\n` +
          `  GraphQL bytes received     median ${median(receivedKb).toFixed(0)} KB\n` +
          `  where the time goes (medians):\n` +
          Object.entries(phases)
            .map(([name, values]) => {
              const finite = values.filter(Number.isFinite);
              return `    ${name.padEnd(40)} ${finite.length ? formatMs(median(finite)) : 'not measured'}\n`;
            })
            .join(''),
      );
    }
  } finally {
    await browser.close();
    await viewer.close();
    rmSync(clientDir, { recursive: true, force: true });
  }
}
