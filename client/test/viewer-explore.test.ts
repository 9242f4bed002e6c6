/**
 * The viewer on real reference graphs (circuit-tracer JSON fixtures imported through the API), in
 * Debian's Chromium: node panel, pinning and supernodes, state in the URL, paths, comparison,
 * figure export, and a 2,000-node graph. Every test keeps a screenshot in test-results/screenshots.
 */
import { readFileSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, screenshot } from '../../test-support/browser.js';
import { toGraphJson } from '@circuit-atlas/tracer';
import { randomGraph } from '../../test-support/graph-generator.js';
import {
  clickNode,
  gqlData,
  importGraphJson,
  openGraph,
  readReferenceGraph,
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
  influence: number | null;
  tokenProb: number | null;
  label: string;
}

interface GraphView {
  id: string;
  prompt: string;
  nodes: NodeView[];
  edges: { source: string; target: string; weight: number }[];
}

let viewer: ViewerServer;
let clientDir: string | undefined;
let browser: Browser;
let dallas: GraphView;
let capital: GraphView;

async function fetchGraph(id: string): Promise<GraphView> {
  const data = await gqlData<{ graph: GraphView }>(
    viewer.url,
    `query($id: ID!) { graph(id: $id) { id prompt nodes { nodeId kind layer ctxIdx influence tokenProb label } edges { source target weight } } }`,
    { id },
  );
  return data.graph;
}

const topLogitOf = (graph: GraphView): NodeView =>
  graph.nodes.filter((n) => n.kind === 'logit').sort((a, b) => (b.tokenProb ?? 0) - (a.tokenProb ?? 0))[0];

/** The most influential features (smallest cumulative influence share first). */
const topFeatures = (graph: GraphView, count: number): NodeView[] =>
  graph.nodes
    .filter((n) => n.kind === 'feature')
    .sort((a, b) => (a.influence ?? 1) - (b.influence ?? 1))
    .slice(0, count);

async function newPage(): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 }, acceptDownloads: true });
  page.on('pageerror', (error) => {
    throw error;
  });
  return page;
}

beforeAll(async () => {
  clientDir = builtViewer();
  viewer = await startViewerServer(clientDir);
  browser = await launchChromium();
  dallas = await fetchGraph(await importGraphJson(viewer.url, readReferenceGraph('llama-tiny', 'dallas-state')));
  capital = await fetchGraph(await importGraphJson(viewer.url, readReferenceGraph('llama-tiny', 'capital-of-texas')));
});

afterAll(async () => {
  await browser?.close();
  await viewer?.close();
  if (clientDir) rmSync(clientDir, { recursive: true, force: true });
});

describe('the viewer on imported reference graphs', () => {
  it('clicking the top logit shows its inputs, positive and negative, sorted by weight', async () => {
    const page = await newPage();
    const top = topLogitOf(dallas);
    const feature = topFeatures(dallas, 1)[0];
    await openGraph(page, `${viewer.url}/?graph=${dallas.id}&clicked=${feature.nodeId}`);
    expect(urlState(page).get('clicked')).toBe(feature.nodeId);

    await clickNode(page, top.nodeId);
    // The panel shows the node at once and its inputs when its edges have arrived.
    await page.waitForSelector(`.node-panel[data-node-id="${top.nodeId}"]:not(.edges-pending)`);
    expect(urlState(page).get('clicked')).toBe(top.nodeId);
    expect(await page.textContent('.node-panel h3')).toBe(top.label);

    const inputs = dallas.edges.filter((e) => e.target === top.nodeId);
    const positive = inputs.filter((e) => e.weight > 0).sort((a, b) => b.weight - a.weight);
    const rows = page.locator('.inputs .edge-list.positive .edge-row');
    expect(await rows.count()).toBe(Math.min(12, positive.length));
    expect(await rows.first().getAttribute('data-node-id')).toBe(positive[0].source);
    const shown = (await page.locator('.inputs .edge-list.positive .edge-row .weight').allTextContents()).map(Number);
    expect(shown).toEqual([...shown].sort((a, b) => b - a));
    // Exactly the clicked node's edges are drawn in the link graph.
    const drawn = await page.evaluate(
      () => (window as unknown as { atlas: { link: { cy: import('cytoscape').Core } } }).atlas.link.cy.edges().length,
    );
    expect(drawn).toBe(dallas.edges.filter((e) => e.target === top.nodeId || e.source === top.nodeId).length);

    // A row of the panel opens that node.
    await rows.first().click();
    await page.waitForSelector(`.node-panel[data-node-id="${positive[0].source}"]`);
    await clickNode(page, top.nodeId);
    await page.waitForSelector(`.node-panel[data-node-id="${top.nodeId}"]`);
    await screenshot(page, 'viewer-top-logit-inputs');
    await page.close();
  });

  it('pins three nodes, groups two into a supernode, and a reload reopens the same state', async () => {
    const page = await newPage();
    await openGraph(page, `${viewer.url}/?graph=${dallas.id}`);
    const [a, b, c] = topFeatures(dallas, 3);
    for (const [i, node] of [a, b, c].entries()) {
      await clickNode(page, node.nodeId, { pin: true });
      // Each pin registers (in the URL) before the next click: the first one opens the subgraph pane.
      await page.waitForFunction(
        (n) => new URL(location.href).searchParams.get('pinned')?.split(',').length === n,
        i + 1,
      );
    }
    expect(urlState(page).get('pinned')?.split(',')).toEqual([a.nodeId, b.nodeId, c.nodeId]);
    const subgraphCount = (): Promise<number> =>
      page.evaluate(
        () =>
          (window as unknown as { atlas: { subgraph: { cy: import('cytoscape').Core } } }).atlas.subgraph.cy.nodes()
            .length,
      );
    // A pin fetches the node's edges first: the subgraph follows once they arrive.
    await page.waitForFunction(
      () =>
        (window as unknown as { atlas: { subgraph: { cy: import('cytoscape').Core } } }).atlas.subgraph.cy.nodes()
          .length === 3,
    );
    expect(await subgraphCount()).toBe(3);

    await clickNode(page, a.nodeId, { view: 'subgraph' });
    await clickNode(page, b.nodeId, { view: 'subgraph', shift: true });
    await page.fill('.group-name', 'Dallas group');
    await page.click('button.group');
    expect(JSON.parse(urlState(page).get('sn')!)).toEqual([['Dallas group', a.nodeId, b.nodeId]]);
    expect(await subgraphCount()).toBe(2);
    const before = page.url();

    await page.reload();
    await page.waitForSelector('body[data-graph-ready]');
    expect(page.url()).toBe(before);
    const state = await page.evaluate(() => {
      const atlas = (window as unknown as { atlas: Record<string, { cy: import('cytoscape').Core }> }).atlas;
      return {
        pinned: atlas.link.cy
          .nodes('.pinned')
          .map((n) => n.id())
          .sort(),
        supernodes: atlas.subgraph.cy.nodes('.supernode').map((n) => n.data('label') as string),
        subgraphNodes: atlas.subgraph.cy.nodes().length,
      };
    });
    expect(state.pinned).toEqual([a.nodeId, b.nodeId, c.nodeId].sort());
    expect(state.supernodes).toEqual(['Dallas group']);
    expect(state.subgraphNodes).toBe(2);

    // Saving the view stores it; the graph lists it after a reload.
    await page.fill('.view-name', 'three pinned');
    await page.click('button.save-view');
    await page.waitForSelector('.saved-views li');
    await page.reload();
    await page.waitForSelector('body[data-graph-ready]');
    expect(await page.textContent('.saved-views')).toContain('three pinned');
    await screenshot(page, 'viewer-pinned-supernode-reloaded');
    await page.close();
  });

  it('finds the top paths from an embedding to the top logit and highlights them with weights', async () => {
    const page = await newPage();
    const top = topLogitOf(dallas);
    const lastPosition = Math.max(...dallas.nodes.map((n) => n.ctxIdx));
    const embedding = dallas.nodes.find((n) => n.kind === 'embedding' && n.ctxIdx === lastPosition)!;
    await openGraph(page, `${viewer.url}/?graph=${dallas.id}`);
    await clickNode(page, embedding.nodeId);
    await page.click('button.path-from');
    await clickNode(page, top.nodeId);
    await page.click('button.path-to');
    await page.waitForSelector('.path-row');
    expect(urlState(page).get('from')).toBe(embedding.nodeId);
    expect(urlState(page).get('to')).toBe(top.nodeId);

    const paths = await gqlData<{ paths: { nodeIds: string[]; weights: number[] }[] }>(
      viewer.url,
      'query($g: ID!, $f: ID!, $t: ID!) { paths(graphId: $g, from: $f, to: $t, k: 5) { nodeIds weights } }',
      { g: dallas.id, f: embedding.nodeId, t: top.nodeId },
    );
    expect(paths.paths.length).toBeGreaterThan(0);
    expect(await page.locator('.path-row').count()).toBe(paths.paths.length);
    const highlighted = await page.evaluate(() => {
      const cy = (window as unknown as { atlas: { link: { cy: import('cytoscape').Core } } }).atlas.link.cy;
      return {
        nodes: cy.nodes('.on-path').map((n) => n.id()),
        edges: cy.edges('.on-path').map((e) => e.data('weightLabel') as string),
      };
    });
    expect(highlighted.nodes.sort()).toEqual([...paths.paths[0].nodeIds].sort());
    expect(highlighted.edges.length).toBe(paths.paths[0].nodeIds.length - 1);
    expect(await page.locator('.path-row.active .step-weight').count()).toBe(paths.paths[0].weights.length);
    await screenshot(page, 'viewer-paths');
    await page.close();
  });

  it('compares two graphs on one canvas: shared, only-A and only-B features, shared edges by change, labelled tables', async () => {
    const page = await newPage();
    await page.goto(`${viewer.url}/?compare=${dallas.id},${capital.id}`);
    await page.waitForSelector('body[data-compare-ready]');
    const comparison = await gqlData<{
      compare: {
        shared: { nodeIdA: string; nodeIdB: string }[];
        onlyInA: { nodeId: string; kind: string }[];
        onlyInB: { nodeId: string; kind: string }[];
        sharedEdges: { sourceA: string; targetA: string }[];
      };
    }>(
      viewer.url,
      `query($a: ID!, $b: ID!) { compare(graphA: $a, graphB: $b) {
        shared { nodeIdA nodeIdB } onlyInA { nodeId kind } onlyInB { nodeId kind } sharedEdges { sourceA targetA } } }`,
      { a: dallas.id, b: capital.id },
    );
    const { shared, onlyInA, onlyInB, sharedEdges } = comparison.compare;
    expect(shared.length).toBeGreaterThan(0);
    // A researcher named one shared feature: the table and the canvas use the name.
    const named = dallas.nodes.find((n) => n.nodeId === shared[0].nodeIdA)!;
    const [layer, index] = [named.layer, Number(named.nodeId.split('_')[1])];
    const model = (
      await gqlData<{ graph: { model: string } }>(viewer.url, 'query($id: ID!) { graph(id: $id) { model } }', {
        id: dallas.id,
      })
    ).graph.model;
    await gqlData(
      viewer.url,
      'mutation($m: String!, $l: Int!, $i: Int!) { setFeatureLabel(model: $m, layer: $l, index: $i, label: "Dallas (city)") { label } }',
      { m: model, l: layer, i: index },
    );
    await page.reload();
    await page.waitForSelector('body[data-compare-ready]');
    expect(await page.locator('.shared-row').count()).toBe(shared.length);
    const drawn = await page.evaluate(() => {
      const atlas = (window as unknown as { atlas: { compare: { cy: import('cytoscape').Core }[] } }).atlas;
      {
        const cy = atlas.compare[0].cy;
        const ids = (selector: string) =>
          cy
            .nodes(selector)
            .map((n) => n.id())
            .sort();
        const labels = cy.nodes('.labelled').map((n) => {
          const b = n.boundingBox({
            includeNodes: false,
            includeEdges: false,
            includeLabels: true,
            includeOverlays: false,
          });
          return { text: n.data('short') as string, x1: b.x1, x2: b.x2, y1: b.y1, y2: b.y2 };
        });
        return {
          views: atlas.compare.length,
          shared: ids('.shared'),
          onlyA: ids('.only-a'),
          onlyB: ids('.only-b'),
          edges: cy.edges().length,
          labels,
        };
      }
    });
    // One canvas holding both graphs' features.
    expect(drawn.views).toBe(1);
    expect(drawn.shared).toEqual(shared.map((s) => `shared:${s.nodeIdA}`).sort());
    expect(drawn.onlyA).toEqual(
      onlyInA
        .filter((n) => n.kind === 'feature')
        .map((n) => `only-a:${n.nodeId}`)
        .sort(),
    );
    expect(drawn.onlyB).toEqual(
      onlyInB
        .filter((n) => n.kind === 'feature')
        .map((n) => `only-b:${n.nodeId}`)
        .sort(),
    );
    const sharedA = new Set(shared.map((s) => s.nodeIdA));
    expect(drawn.edges).toBe(sharedEdges.filter((e) => sharedA.has(e.sourceA) && sharedA.has(e.targetA)).length);
    for (const [i, a] of drawn.labels.entries()) {
      for (const b of drawn.labels.slice(i + 1)) {
        const overlap = a.x1 < b.x2 - 0.5 && b.x1 < a.x2 - 0.5 && a.y1 < b.y2 - 0.5 && b.y1 < a.y2 - 0.5;
        expect(overlap, `"${a.text}" overlaps "${b.text}"`).toBe(false);
      }
    }
    // The tables name features by label, numbers right-aligned.
    const rows = await page
      .locator('.shared-row')
      .evaluateAll((trs) => trs.map((tr) => tr.querySelector('td')!.textContent));
    expect(rows).toContain('Dallas (city)');
    expect(
      await page
        .locator('.shared-row td.num')
        .first()
        .evaluate((td) => getComputedStyle(td).textAlign),
    ).toBe('right');
    expect(await page.locator('.compare-legend').textContent()).toMatch(/only in A.*only in B/);
    await screenshot(page, 'viewer-compare');
    await page.close();
  });

  it('exports the link graph as SVG with its node labels, and the subgraph as a PNG at 2×', async () => {
    const page = await newPage();
    const top = topLogitOf(dallas);
    const pinned = topFeatures(dallas, 3);
    await openGraph(
      page,
      `${viewer.url}/?graph=${dallas.id}&clicked=${top.nodeId}&pinned=${pinned.map((n) => n.nodeId).join(',')}`,
    );

    const [svgDownload] = await Promise.all([page.waitForEvent('download'), page.click('button.export-svg')]);
    const svg = readFileSync((await svgDownload.path())!, 'utf8');
    const parsed = await page.evaluate((text) => {
      const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
      return {
        error: doc.querySelector('parsererror')?.textContent ?? null,
        title: doc.querySelector('text.title')?.textContent ?? null,
        // node id → [full label (<title>), written label (<text>)]
        labels: Object.fromEntries(
          [...doc.querySelectorAll('g.node')].map((g) => [
            g.getAttribute('data-node-id'),
            [g.querySelector('title')?.textContent ?? '', g.querySelector('text.label')?.textContent ?? null],
          ]),
        ),
        nodes: doc.querySelectorAll('g.node').length,
        edges: doc.querySelectorAll('g.edges line').length,
        width: Number(doc.documentElement.getAttribute('width')),
      };
    }, svg);
    expect(parsed.error).toBeNull();
    expect(parsed.title).toBe(dallas.prompt);
    expect(parsed.nodes).toBe(dallas.nodes.length);
    const focus = new Set([top.nodeId, ...pinned.map((n) => n.nodeId)]);
    expect(parsed.edges).toBe(dallas.edges.filter((e) => focus.has(e.source) || focus.has(e.target)).length);
    // Every focus node carries its label as <title> and writes it (shortened) as <text>.
    const shown = await page.evaluate(() => {
      const cy = (window as unknown as { atlas: { link: { cy: import('cytoscape').Core } } }).atlas.link.cy;
      return Object.fromEntries(cy.nodes().map((n) => [n.id(), n.data('label') as string]));
    });
    for (const node of [top, ...pinned]) {
      const [title, text] = parsed.labels[node.nodeId];
      expect(title).toBe(shown[node.nodeId]);
      expect(text).not.toBeNull();
      expect(title.includes(text!.replace(/…$/, '')) || node.kind === 'logit').toBe(true);
    }
    // The logit's token is written next to it.
    expect(parsed.labels[top.nodeId][1]).toContain(/Output "(.*)"/.exec(top.label)![1]);

    await page.selectOption('select.export-view', 'subgraph');
    const [pngDownload] = await Promise.all([page.waitForEvent('download'), page.click('button.export-png')]);
    const png = readFileSync((await pngDownload.path())!);
    const subgraphSvg = await page.evaluate(() =>
      (window as unknown as { atlas: { page: { figureSvg(v: string): string } } }).atlas.page.figureSvg('subgraph'),
    );
    const svgWidth = Number(/width="(\d+)"/.exec(subgraphSvg)![1]);
    const svgHeight = Number(/height="(\d+)"/.exec(subgraphSvg)![1]);
    // PNG signature, then IHDR: width and height as big-endian 32-bit integers.
    expect(png.subarray(1, 4).toString('ascii')).toBe('PNG');
    expect(png.readUInt32BE(16)).toBeGreaterThanOrEqual(2 * svgWidth);
    expect(png.readUInt32BE(20)).toBeGreaterThanOrEqual(2 * svgHeight);
    const decoded = await page.evaluate(async (base64) => {
      const bitmap = await createImageBitmap(await (await fetch(`data:image/png;base64,${base64}`)).blob());
      return { width: bitmap.width, height: bitmap.height };
    }, png.toString('base64'));
    expect(decoded).toEqual({ width: png.readUInt32BE(16), height: png.readUInt32BE(20) });
    await page.setContent(`<img src="data:image/png;base64,${png.toString('base64')}" style="max-width:100%">`);
    await screenshot(page, 'viewer-export-subgraph-png');
    await page.setContent(svg);
    await screenshot(page, 'viewer-export-link-svg');
    await page.close();
  });

  it("asks the server for the graph at the pruning slider's threshold and keeps it in the URL", async () => {
    const page = await newPage();
    await openGraph(page, `${viewer.url}/?graph=${dallas.id}`);
    const pruned = await gqlData<{ graph: { nodes: { nodeId: string }[] } }>(
      viewer.url,
      'query($id: ID!) { graph(id: $id, nodeThreshold: 0.5) { nodes { nodeId } } }',
      { id: dallas.id },
    );
    expect(pruned.graph.nodes.length).toBeLessThan(dallas.nodes.length);
    await page.evaluate(() => delete document.body.dataset.graphReady);
    await page.locator('input.threshold').fill('0.5');
    await page.waitForSelector('body[data-graph-ready]');
    expect(urlState(page).get('nt')).toBe('0.5');
    const drawn = (): Promise<string[]> =>
      page.evaluate(() =>
        (window as unknown as { atlas: { link: { cy: import('cytoscape').Core } } }).atlas.link.cy
          .nodes()
          .filter((n) => !n.hasClass('token-label') && !n.hasClass('band-label'))
          .map((n) => n.id())
          .sort(),
      );
    expect(await drawn()).toEqual(pruned.graph.nodes.map((n) => n.nodeId).sort());
    await page.reload();
    await page.waitForSelector('body[data-graph-ready]');
    expect(await drawn()).toEqual(pruned.graph.nodes.map((n) => n.nodeId).sort());
    await screenshot(page, 'viewer-pruned-0.5');
    await page.close();
  });

  it('finds a node inside the graph by its label', async () => {
    const page = await newPage();
    await openGraph(page, `${viewer.url}/?graph=${dallas.id}`);
    const target = topFeatures(dallas, 2)[1];
    const label = await page.evaluate(
      (id) =>
        (window as unknown as { atlas: { link: { cy: import('cytoscape').Core } } }).atlas.link.cy
          .getElementById(id)
          .data('label') as string,
      target.nodeId,
    );
    await page.fill('input.find-node', label);
    await page.press('input.find-node', 'Enter');
    await page.waitForSelector(`.node-panel[data-node-id="${target.nodeId}"]`);
    expect(urlState(page).get('clicked')).toBe(target.nodeId);
    await page.close();
  });

  it('stays responsive with a 2,000-node graph', async () => {
    const doc = randomGraph({ id: 'big-2000', seed: 7, nodes: 2000, edges: 30_000, nLayers: 8, nPos: 14 });
    const id = await importGraphJson(viewer.url, toGraphJson(doc));
    const big = await fetchGraph(id);
    expect(big.nodes.length).toBeGreaterThanOrEqual(1900);
    const page = await newPage();
    const started = Date.now();
    await openGraph(page, `${viewer.url}/?graph=${id}`);
    const drawnIn = Date.now() - started;
    const feature = topFeatures(big, 1)[0];
    const clickStarted = Date.now();
    await clickNode(page, feature.nodeId);
    await page.waitForSelector(`.node-panel[data-node-id="${feature.nodeId}"]`);
    const panelIn = Date.now() - clickStarted;
    console.log(`2,000-node graph: drawn in ${drawnIn} ms, node panel in ${panelIn} ms`);
    // Generous bounds for a shared 2-core machine; the benchmark reports the medians.
    expect(drawnIn).toBeLessThan(15_000);
    expect(panelIn).toBeLessThan(2_000);
    await screenshot(page, 'viewer-2000-nodes');
    await page.close();
  });
});
