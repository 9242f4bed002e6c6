/**
 * The link graph read as a researcher reads it, in Debian's Chromium: a 64-token prompt with long
 * feature labels (nodes stay legible, the graph pans instead of shrinking, no two labels overlap and
 * none leaves the drawing), edges coloured by sign and sized relative to the strongest drawn one, a
 * legend, refit on resize, and a subgraph pane that takes room only when something is pinned.
 * Screenshots in test-results/screenshots/viewer-legibility-*.png.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { GraphDocument } from '@circuit-atlas/schema';
import { launchChromium, screenshot } from '../../test-support/browser.js';
import { randomGraph } from '../../test-support/graph-generator.js';
import { clickNode, openGraph, startViewerServer, type ViewerServer } from '../../test-support/viewer-support.js';
import { builtViewer } from '../../test-support/built-viewer.js';

/** Labels as dashboards name features: short names, phrases, and a few very long ones. */
const LABEL_WORDS = [
  'Texas',
  'say Austin',
  'Rosa Ann',
  'Albuquerque',
  'New Mexico (state)',
  'capital cities',
  'Utah',
  'the state of …',
  'US state names in a list of places',
  'Dallas / Houston / San Antonio',
  'Err: mlp',
];

let viewer: ViewerServer;
let clientDir: string | undefined;
let browser: Browser;
let long: GraphDocument;
let small: GraphDocument;

/** A random graph whose features carry dashboard-like labels. */
function labelledGraph(id: string, nodes: number, edges: number, nPos: number): GraphDocument {
  const doc = randomGraph({ id, seed: 5, nodes, edges, nLayers: 8, nPos });
  let i = 0;
  for (const node of doc.nodes) if (node.kind === 'feature') node.label = LABEL_WORDS[i++ % LABEL_WORDS.length];
  return doc;
}

async function newPage(width = 1600, height = 1000): Promise<Page> {
  const page = await browser.newPage({ viewport: { width, height } });
  page.on('pageerror', (error) => {
    throw error;
  });
  return page;
}

interface LabelBox {
  id: string;
  text: string;
  x1: number;
  x2: number;
  y1: number;
  y2: number;
}

/** Model-space boxes of every written node label of the link graph. */
function labelBoxes(page: Page): Promise<LabelBox[]> {
  return page.evaluate(() => {
    const atlas = (window as unknown as { atlas: { link: { cy: import('cytoscape').Core } } }).atlas;
    return atlas.link.cy
      .nodes('.labelled')
      .map((n) => {
        const box = n.boundingBox({
          includeNodes: false,
          includeEdges: false,
          includeLabels: true,
          includeOverlays: false,
        });
        return { id: n.id(), text: n.data('short') as string, x1: box.x1, x2: box.x2, y1: box.y1, y2: box.y2 };
      })
      .filter((b) => b.text && b.x2 > b.x1);
  });
}

/** Pairs of written labels whose boxes overlap (by more than half a unit). */
function overlaps(boxes: LabelBox[]): string[] {
  const found: string[] = [];
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i];
      const b = boxes[j];
      if (a.x1 < b.x2 - 0.5 && b.x1 < a.x2 - 0.5 && a.y1 < b.y2 - 0.5 && b.y1 < a.y2 - 0.5)
        found.push(`"${a.text}" (${a.id}) overlaps "${b.text}" (${b.id})`);
    }
  }
  return found;
}

/** Features on screen, from the token column holding the most of them. */
function crowdedVisibleFeatures(page: Page, count: number): Promise<string[]> {
  return page.evaluate((n) => {
    const atlas = (window as unknown as { atlas: { link: { cy: import('cytoscape').Core } } }).atlas;
    const cy = atlas.link.cy;
    const byColumn = new Map<number, string[]>();
    cy.nodes('.feature').forEach((node) => {
      const p = node.renderedPosition();
      if (p.x < 40 || p.x > cy.width() - 40 || p.y < 40 || p.y > cy.height() - 40) return;
      const column = Math.round(node.position().x / 20);
      byColumn.set(column, [...(byColumn.get(column) ?? []), node.id()]);
    });
    return [...byColumn.values()].sort((a, b) => b.length - a.length)[0].slice(0, n);
  }, count);
}

function linkState(page: Page) {
  return page.evaluate(() => {
    const atlas = (
      window as unknown as {
        atlas: {
          link: {
            cy: import('cytoscape').Core;
            layout: { width: number; height: number; columns: { width: number }[] };
          };
        };
      }
    ).atlas;
    const cy = atlas.link.cy;
    return {
      zoom: cy.zoom(),
      pan: cy.pan(),
      width: cy.width(),
      height: cy.height(),
      layoutWidth: atlas.link.layout.width,
      layoutHeight: atlas.link.layout.height,
      columnWidths: atlas.link.layout.columns.map((c) => c.width),
      edges: cy.edges().map((e) => ({
        weight: e.data('weight') as number,
        width: e.data('width') as number,
        opacity: e.data('opacity') as number,
        colour: e.data('colour') as string,
      })),
    };
  });
}

beforeAll(async () => {
  clientDir = builtViewer();
  viewer = await startViewerServer(clientDir);
  browser = await launchChromium();
  long = labelledGraph('legible-64', 1400, 20_000, 64);
  small = labelledGraph('legible-8', 160, 1500, 8);
  await viewer.store.saveGraph(long);
  await viewer.store.saveGraph(small);
});

afterAll(async () => {
  await browser?.close();
  await viewer?.close();
  if (clientDir) rmSync(clientDir, { recursive: true, force: true });
});

describe('a legible link graph', () => {
  it('draws a 64-token prompt with legible nodes, content-sized columns and no overlapping or clipped label', async () => {
    const page = await newPage();
    await openGraph(page, `${viewer.url}/?graph=${long.id}`);
    const state = await linkState(page);
    // Nodes at least 9 px wide on screen: the graph is wider than the pane and pans.
    expect(state.zoom * 11).toBeGreaterThanOrEqual(8.9);
    expect(state.layoutWidth * state.zoom).toBeGreaterThan(state.width);
    // Columns are sized by what they hold: crowded token columns are wider than sparse ones.
    expect(Math.max(...state.columnWidths)).toBeGreaterThan(2 * Math.min(...state.columnWidths));
    expect(overlaps(await labelBoxes(page))).toEqual([]);
    // A crowded feature and three pins: more labels compete for room.
    const crowded = await crowdedVisibleFeatures(page, 4);
    await clickNode(page, crowded[0]);
    await page.waitForFunction((id) => new URL(location.href).searchParams.get('clicked') === id, crowded[0]);
    for (const id of crowded.slice(1)) await clickNode(page, id, { pin: true });
    await page.waitForFunction(() => document.querySelectorAll('.subgraph canvas').length > 0);
    await page.waitForTimeout(300);
    const boxes = await labelBoxes(page);
    expect(boxes.length).toBeGreaterThan(8);
    expect(overlaps(boxes)).toEqual([]);
    // Inside the drawing: nothing written past its right edge or left of the layer names.
    for (const box of boxes) {
      expect(box.x2, `label "${box.text}"`).toBeLessThanOrEqual(state.layoutWidth + 1);
      expect(box.x1, `label "${box.text}"`).toBeGreaterThanOrEqual(30);
    }
    // Truncated labels keep their full text in the tooltip.
    expect(boxes.some((b) => b.text.endsWith('…'))).toBe(true);
    await screenshot(page, 'viewer-legibility-64-tokens');
    await page.close();
  });

  it('colours edges by sign and sizes them relative to the strongest drawn edge; shows a legend', async () => {
    const page = await newPage();
    await openGraph(page, `${viewer.url}/?graph=${small.id}`);
    const { edges } = await linkState(page);
    expect(edges.length).toBeGreaterThan(5);
    const strongest = edges.reduce((a, b) => (Math.abs(b.weight) > Math.abs(a.weight) ? b : a));
    expect(strongest.width).toBe(Math.max(...edges.map((e) => e.width)));
    expect(strongest.opacity).toBeCloseTo(1, 6);
    // Two colours only, one per sign, whatever the strength.
    const colours = new Map(edges.map((e) => [Math.sign(e.weight), e.colour]));
    expect(new Set(edges.map((e) => e.colour)).size).toBe(colours.size);
    expect(await page.locator('.link-legend').textContent()).toMatch(/excites.*inhibits/);
    // The whole small graph fits: every written label lies inside the canvas on screen.
    const rendered = await page.evaluate(() => {
      const atlas = (window as unknown as { atlas: { link: { cy: import('cytoscape').Core } } }).atlas;
      const cy = atlas.link.cy;
      return {
        width: cy.width(),
        height: cy.height(),
        boxes: cy.nodes('.labelled').map((n) => n.renderedBoundingBox({ includeNodes: false, includeLabels: true })),
      };
    });
    for (const box of rendered.boxes) {
      expect(box.x1).toBeGreaterThanOrEqual(0);
      expect(box.x2).toBeLessThanOrEqual(rendered.width);
    }
    await screenshot(page, 'viewer-legibility-edges-legend');
    await page.close();
  });

  it('refits on resize, and opens the subgraph pane only when a node is pinned', async () => {
    const page = await newPage(1600, 1000);
    await openGraph(page, `${viewer.url}/?graph=${small.id}`);
    const paneHeight = () => page.evaluate(() => document.querySelector('.link-graph')!.getBoundingClientRect().height);
    const emptyPane = await paneHeight();
    const before = await linkState(page);
    await page.setViewportSize({ width: 1100, height: 800 });
    await page.waitForFunction((w) => {
      const atlas = (window as unknown as { atlas: { link: { cy: import('cytoscape').Core } } }).atlas;
      return atlas.link.cy.width() !== w;
    }, before.width);
    await page.waitForTimeout(200);
    const after = await linkState(page);
    expect(after.zoom).toBeLessThan(before.zoom);
    // Still all on screen after the refit.
    expect(after.layoutWidth * after.zoom).toBeLessThanOrEqual(after.width);
    await page.setViewportSize({ width: 1600, height: 1000 });
    await page.waitForTimeout(200);
    const feature = small.nodes.find((n) => n.kind === 'feature')!;
    await clickNode(page, feature.nodeId, { pin: true });
    await page.waitForFunction(() => !document.querySelector('.subgraph-box')!.classList.contains('empty'));
    await page.waitForTimeout(200);
    const withPins = await paneHeight();
    // Empty, the subgraph pane keeps only its title row; with a pin it takes its share.
    expect(emptyPane).toBeGreaterThan(
      0.85 * (await page.evaluate(() => document.querySelector('.canvas-column')!.getBoundingClientRect().height)),
    );
    expect(withPins).toBeLessThan(emptyPane * 0.8);
    await screenshot(page, 'viewer-legibility-subgraph-open');
    await page.close();
  });
});
