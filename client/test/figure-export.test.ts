/**
 * Figure export without the viewer window (server/src/figure/render-figure.ts), on a real
 * reference graph: the SVG parses and carries the prompt, every node and the labels as text; the
 * subgraph figure holds exactly the pinned nodes; the PNG decodes at ≥ 2× the SVG's size.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, screenshot } from '../../test-support/browser.js';
import { fromGraphJson } from '@circuit-atlas/tracer';
import type { GraphDocument } from '@circuit-atlas/schema';
import { renderFigure } from '@circuit-atlas/server';
import { compactLabel, nodeLabel } from '@circuit-atlas/figure';
import { readReferenceGraph } from '../../test-support/viewer-support.js';

let browser: Browser;
let page: Page;
let doc: GraphDocument;

interface ParsedSvg {
  error: string | null;
  title: string | null;
  width: number;
  height: number;
  /** node id → [<title>, written <text> or null] */
  nodes: Record<string, [string, string | null]>;
  edges: number;
  legend: string;
}

function parseSvg(svg: string): Promise<ParsedSvg> {
  return page.evaluate((text) => {
    const parsed = new DOMParser().parseFromString(text, 'image/svg+xml');
    return {
      error: parsed.querySelector('parsererror')?.textContent ?? null,
      title: parsed.querySelector('text.title')?.textContent ?? null,
      width: Number(parsed.documentElement.getAttribute('width')),
      height: Number(parsed.documentElement.getAttribute('height')),
      nodes: Object.fromEntries(
        [...parsed.querySelectorAll('g.node')].map((g) => [
          g.getAttribute('data-node-id') ?? '',
          [g.querySelector('title')?.textContent ?? '', g.querySelector('text.label')?.textContent ?? null] as [
            string,
            string | null,
          ],
        ]),
      ),
      edges: parsed.querySelectorAll('g.edges line').length,
      legend: parsed.querySelector('g.legend')?.textContent ?? '',
    };
  }, svg);
}

beforeAll(async () => {
  doc = fromGraphJson(readReferenceGraph('llama-tiny', 'dallas-state'));
  browser = await launchChromium();
  page = await browser.newPage();
});

afterAll(async () => {
  await browser?.close();
});

const topLogit = () =>
  doc.nodes.filter((n) => n.kind === 'logit').sort((a, b) => (b.tokenProb ?? 0) - (a.tokenProb ?? 0))[0];

describe('renderFigure', () => {
  it("writes the link graph as SVG with the prompt as title, every node, the top logit's edges and a legend", async () => {
    const svg = (await renderFigure(doc, 'svg')).toString('utf8');
    const parsed = await parseSvg(svg);
    expect(parsed.error).toBeNull();
    expect(parsed.title).toBe(doc.prompt);
    expect(Object.keys(parsed.nodes).sort()).toEqual(doc.nodes.map((n) => n.nodeId).sort());
    for (const node of doc.nodes) expect(parsed.nodes[node.nodeId][0]).toBe(nodeLabel(node));
    const top = topLogit();
    expect(parsed.nodes[top.nodeId][1]).toBe(compactLabel(top));
    expect(parsed.edges).toBe(doc.edges.filter((e) => e.source === top.nodeId || e.target === top.nodeId).length);
    expect(parsed.legend).toContain('excites');
    expect(parsed.legend).toContain('inhibits');
    expect(parsed.legend).toContain('error (MLP reconstruction)');
    await page.setContent(svg);
    // As drawn by the browser: no two node labels overlap and none runs past the figure's edge.
    const labels = await page.evaluate(() => {
      const root = document.querySelector('svg')!;
      return {
        width: root.viewBox.baseVal.width,
        boxes: [...root.querySelectorAll('text.label')].map((t) => {
          const b = (t as SVGTextElement).getBBox();
          return { text: t.textContent, x1: b.x, x2: b.x + b.width, y1: b.y, y2: b.y + b.height };
        }),
      };
    });
    expect(labels.boxes.length).toBeGreaterThan(5);
    for (const [i, a] of labels.boxes.entries()) {
      expect(a.x1, a.text ?? '').toBeGreaterThanOrEqual(0);
      expect(a.x2, a.text ?? '').toBeLessThanOrEqual(labels.width);
      for (const b of labels.boxes.slice(i + 1)) {
        const overlap = a.x1 < b.x2 - 0.5 && b.x1 < a.x2 - 0.5 && a.y1 < b.y2 - 0.5 && b.y1 < a.y2 - 0.5;
        expect(overlap, `"${a.text}" overlaps "${b.text}"`).toBe(false);
      }
    }
    await screenshot(page, 'figure-export-link-svg');
  });

  it('writes the subgraph of pinned nodes with their labels and a custom title', async () => {
    const pinned = doc.nodes
      .filter((n) => n.kind === 'feature')
      .sort((a, b) => (a.influence ?? 1) - (b.influence ?? 1))
      .slice(0, 4)
      .map((n) => n.nodeId);
    const svg = (
      await renderFigure(doc, 'svg', { pinnedIds: [...pinned, topLogit().nodeId], title: 'Dallas → state' })
    ).toString('utf8');
    const parsed = await parseSvg(svg);
    expect(parsed.error).toBeNull();
    expect(parsed.title).toBe('Dallas → state');
    expect(Object.keys(parsed.nodes).sort()).toEqual([...pinned, topLogit().nodeId].sort());
    for (const id of pinned) expect(parsed.nodes[id][1]).toBe(nodeLabel(doc.nodes.find((n) => n.nodeId === id)!));
    const pinnedSet = new Set([...pinned, topLogit().nodeId]);
    expect(parsed.edges).toBe(doc.edges.filter((e) => pinnedSet.has(e.source) && pinnedSet.has(e.target)).length);
    await page.setContent(svg);
    await screenshot(page, 'figure-export-subgraph-svg');
  });

  it('renders a PNG at the asked scale (≥ 2×) that decodes', async () => {
    const svg = await parseSvg((await renderFigure(doc, 'svg')).toString('utf8'));
    for (const scale of [2, 3]) {
      const png = await renderFigure(doc, 'png', { scale });
      expect(png.subarray(1, 4).toString('ascii')).toBe('PNG');
      expect(png.readUInt32BE(16)).toBe(svg.width * scale);
      expect(png.readUInt32BE(20)).toBe(svg.height * scale);
      const decoded = await page.evaluate(async (base64) => {
        const bitmap = await createImageBitmap(await (await fetch(`data:image/png;base64,${base64}`)).blob());
        return [bitmap.width, bitmap.height];
      }, png.toString('base64'));
      expect(decoded).toEqual([svg.width * scale, svg.height * scale]);
      if (scale === 2) {
        await page.setContent(`<img src="data:image/png;base64,${png.toString('base64')}" style="width:100%">`);
        await screenshot(page, 'figure-export-link-png');
      }
    }
  });

  it('rejects pinned ids the graph does not have and a scale below 2, saying what to fix', async () => {
    await expect(renderFigure(doc, 'svg', { pinnedIds: ['9_9999_1'] })).rejects.toThrow(
      /has no node '9_9999_1'.*pin node ids that the graph contains/,
    );
    await expect(renderFigure(doc, 'png', { scale: 1 })).rejects.toThrow(/scale 1 is out of range: use 2 to 8/);
  });
});
