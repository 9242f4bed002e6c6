/**
 * Figure export without the viewer window (`circuit-atlas export --format svg|png`): the same
 * layout and SVG writer as the viewer's export button (client/src/figure/), PNG by rendering that
 * SVG in headless Chromium at ≥ 2× scale.
 */
import type { GraphDocument } from '@circuit-atlas/schema';
import { buildCircuitView, supernodesFromQParams, UserInputError } from '@circuit-atlas/tracer';
import { buildSubgraph, topLogit, type Supernode } from '@circuit-atlas/figure';
import { layoutSubgraph } from '@circuit-atlas/figure';
import { linkFigure, subgraphFigure, writeFigureSvg } from '@circuit-atlas/figure';
import { circuitFigure, writeCircuitSvg } from '@circuit-atlas/figure';

export interface RenderFigureOptions {
  /** Defaults to the prompt. */
  title?: string;
  /** Pixel scale of the PNG (≥ 2; default 2). */
  scale?: number;
  /** With pinned nodes the figure is their subgraph (dagre, by layer); without, the link graph. */
  pinnedIds?: string[];
  supernodes?: Supernode[];
  /** Force the link graph (pinned nodes outlined, their edges drawn) even with pinned nodes. */
  view?: 'link' | 'subgraph' | 'circuit';
  /**
   * Circuit figure: the graph collapsed into these supernodes (e.g. a saved view's, or the automatic
   * ones: `findSupernodes`), reduced to the strongest paths to `target` (default: the top logit).
   */
  circuit?: { supernodes: Supernode[]; target?: string; maxPaths?: number };
}

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** The figure's SVG text. */
export function figureSvg(doc: GraphDocument, options: RenderFigureOptions = {}): string {
  const pinnedIds = options.pinnedIds ?? [];
  const known = new Set(doc.nodes.map((n) => n.nodeId));
  const unknown = pinnedIds.filter((id) => !known.has(id));
  if (unknown.length > 0) {
    throw new UserInputError(
      `graph '${doc.id}' has no node ${unknown.map((id) => `'${id}'`).join(', ')} (after pruning); pin node ids that the graph contains`,
    );
  }
  const view = options.view ?? (pinnedIds.length > 0 ? 'subgraph' : 'link');
  if (view === 'circuit') {
    // The viewer's circuit view draws the same spec from the API's circuit (same library call).
    const circuit = options.circuit ?? { supernodes: [] };
    const collapsed = supernodesFromQParams(
      doc,
      circuit.supernodes.map((s) => [s.name, ...s.nodeIds]),
    );
    const built = buildCircuitView(doc, collapsed, {
      ...(circuit.target ? { target: circuit.target } : {}),
      ...(circuit.maxPaths ? { maxPaths: circuit.maxPaths } : {}),
    });
    return writeCircuitSvg(circuitFigure(built, { title: options.title }));
  }
  if (view === 'subgraph') {
    if (pinnedIds.length === 0)
      throw new UserInputError('a subgraph figure needs pinned node ids (--pinned id,id,...)');
    const positions = layoutSubgraph(buildSubgraph(doc, pinnedIds, options.supernodes ?? []));
    return writeFigureSvg(
      subgraphFigure(doc, { title: options.title, pinnedIds, supernodes: options.supernodes, positions }),
    );
  }
  // Without a clicked node the figure shows the inputs of the top logit, as the viewer opens.
  const clickedId = pinnedIds.length > 0 ? null : (topLogit(doc)?.nodeId ?? null);
  return writeFigureSvg(linkFigure(doc, { title: options.title, clickedId, pinnedIds }));
}

/** `renderFigure`: the figure as an SVG file's bytes, or a PNG rendered at `scale` (≥ 2). */
export async function renderFigure(
  doc: GraphDocument,
  format: 'svg' | 'png',
  options: RenderFigureOptions = {},
): Promise<Buffer> {
  if (format !== 'svg' && format !== 'png')
    throw new UserInputError(`unknown figure format '${String(format)}': use svg or png`);
  const scale = options.scale ?? 2;
  if (!(scale >= 2 && scale <= 8)) throw new UserInputError(`figure scale ${scale} is out of range: use 2 to 8`);
  const svg = figureSvg(doc, options);
  if (format === 'svg') return Buffer.from(svg, 'utf8');
  return svgToPng(svg, scale);
}

/** Rasterises an SVG document in headless Chromium at `scale` device pixels per SVG unit. */
export async function svgToPng(svg: string, scale: number): Promise<Buffer> {
  const width = Number(/width="(\d+)"/.exec(svg)?.[1] ?? 800);
  const height = Number(/height="(\d+)"/.exec(svg)?.[1] ?? 600);
  // playwright-core is loaded only for PNG, so SVG export works without a browser.
  const { chromium } = await import('playwright-core');
  const browser = await chromium
    .launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true })
    .catch((error: Error) => {
      throw new UserInputError(
        `PNG export needs Chromium at ${CHROMIUM_PATH} (set CHROMIUM_PATH, or export --format svg): ${error.message}`,
      );
    });
  try {
    const page = await browser.newPage({ viewport: { width, height }, deviceScaleFactor: scale });
    await page.setContent(`<!doctype html><html><body style="margin:0">${svg}</body></html>`);
    return await page.locator('svg').first().screenshot({ type: 'png' });
  } finally {
    await browser.close();
  }
}
