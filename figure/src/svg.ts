/**
 * The figure writer: one SVG of the link graph or of the pinned subgraph, with the prompt as
 * title, node labels as <text> and a legend. Pure TypeScript (no DOM), so the viewer's export
 * button and the server's `renderFigure` write the same file.
 */
import {
  buildSubgraph,
  compactLabel,
  focusEdges,
  nodeLabel,
  layoutLinkGraph,
  LINK_SPACING,
  type FigureGraph,
  type LayerBand,
  type Point,
  type Supernode,
  type TokenColumn,
} from './graph-layout.js';
import type { NodeKind } from '@circuit-atlas/schema';
import { KIND_STYLE, STATE_COLOUR } from './palette.js';
import {
  LINK_LABEL_FONT,
  linkLabelRequests,
  placeLabels,
  relativeEdgeLook,
  truncateLabel,
  type LinkLabelNode,
} from './link-labels.js';

export type NodeState = 'clicked' | 'pinned' | 'plain';

export interface FigureNodeMark {
  id: string;
  kind: NodeKind | 'supernode';
  /** Full label, written as the glyph's <title>. */
  label: string;
  /** The label written next to the glyph. */
  text: string;
  x: number;
  y: number;
  state: NodeState;
  /** Whether the label is written next to the glyph (always kept in <title>). */
  showLabel: boolean;
  /** Which side of the glyph the label goes (link graph: decided by placeLabels). */
  labelSide?: 'right' | 'left';
}

export interface FigureEdgeMark {
  source: string;
  target: string;
  from: Point;
  to: Point;
  colour: string;
  width: number;
  /** Relative strength as opacity (relativeEdgeLook). */
  opacity: number;
}

/** Everything the SVG shows, in layout units; `writeFigureSvg` only draws it. */
export interface FigureSpec {
  view: 'link' | 'subgraph';
  title: string;
  nodes: FigureNodeMark[];
  edges: FigureEdgeMark[];
  columns: TokenColumn[];
  bands: LayerBand[];
  width: number;
  height: number;
}

export interface LinkFigureOptions {
  title?: string;
  clickedId?: string | null;
  pinnedIds?: readonly string[];
}

const MAX_LABEL = 30;

function shortLabel(label: string): string {
  return truncateLabel(label, MAX_LABEL);
}

function stateOf(id: string, clickedId: string | null | undefined, pinned: ReadonlySet<string>): NodeState {
  if (id === clickedId) return 'clicked';
  return pinned.has(id) ? 'pinned' : 'plain';
}

/** The link graph as drawn in the viewer: preset layout, edges of the clicked and pinned nodes. */
export function linkFigure(graph: FigureGraph, options: LinkFigureOptions = {}): FigureSpec {
  const layout = layoutLinkGraph(graph);
  const pinned = new Set(options.pinnedIds ?? []);
  const focus = new Set(pinned);
  if (options.clickedId) focus.add(options.clickedId);
  const drawn = focusEdges(graph.edges, focus).filter(
    (e) => layout.positions.has(e.source) && layout.positions.has(e.target),
  );
  // As in the viewer: sign colour, width and opacity by |weight| relative to the strongest drawn edge.
  const drawnShares = drawn.map((e) => ({ e })).sort((a, b) => Math.abs(a.e.weight) - Math.abs(b.e.weight));
  const strongest = Math.max(0, ...drawn.map((e) => Math.abs(e.weight)));
  // As in the viewer (link-graph.ts): the same label requests and placement.
  const labelNodes = new Map<string, LinkLabelNode>(
    graph.nodes.map((n) => [
      n.nodeId,
      { nodeId: n.nodeId, kind: n.kind, text: compactLabel(n), tokenProb: n.tokenProb },
    ]),
  );
  const requests = linkLabelRequests(
    labelNodes,
    layout.positions,
    { clickedId: options.clickedId, pinnedIds: options.pinnedIds },
    [...drawnShares].reverse().map((d) => d.e),
  );
  const placed = new Map(
    placeLabels(
      requests,
      { x1: LINK_SPACING.left - 6, y1: 0, x2: layout.width, y2: layout.height },
      undefined,
      graph.nodes.map((n) => ({ id: n.nodeId, kind: n.kind, at: layout.positions.get(n.nodeId)! })),
    ).map((p) => [p.id, p]),
  );
  const nodes = graph.nodes.map((n): FigureNodeMark => ({
    id: n.nodeId,
    kind: n.kind,
    label: nodeLabel(n),
    text: placed.get(n.nodeId)?.text ?? compactLabel(n),
    ...layout.positions.get(n.nodeId)!,
    state: stateOf(n.nodeId, options.clickedId, pinned),
    showLabel: placed.has(n.nodeId),
    labelSide: placed.get(n.nodeId)?.side ?? 'right',
  }));
  const edges = drawnShares.map(({ e }): FigureEdgeMark => {
    const look = relativeEdgeLook(e.weight, strongest);
    return {
      source: e.source,
      target: e.target,
      from: layout.positions.get(e.source)!,
      to: layout.positions.get(e.target)!,
      ...look,
    };
  });
  return {
    view: 'link',
    title: options.title ?? graph.prompt,
    nodes,
    edges,
    columns: layout.columns,
    bands: layout.bands,
    width: layout.width,
    height: layout.height,
  };
}

export interface SubgraphFigureOptions {
  title?: string;
  pinnedIds: readonly string[];
  supernodes?: readonly Supernode[];
  /** Centres of the subgraph's nodes: the drawn positions, or `layoutSubgraph`'s. */
  positions: ReadonlyMap<string, Point>;
}

/** The subgraph of pinned nodes (supernodes merged, edges summed) at the given positions. */
export function subgraphFigure(graph: FigureGraph, options: SubgraphFigureOptions): FigureSpec {
  const subgraph = buildSubgraph(graph, options.pinnedIds, options.supernodes ?? []);
  const placed = subgraph.nodes.filter((n) => options.positions.has(n.id));
  const xs = placed.map((n) => options.positions.get(n.id)!.x);
  const ys = placed.map((n) => options.positions.get(n.id)!.y);
  // Shift so the leftmost label and the top node have room.
  const dx = 110 - Math.min(0, ...xs) - (xs.length ? Math.min(...xs) : 0);
  const dy = 30 - (ys.length ? Math.min(...ys) : 0);
  const at = (id: string): Point => {
    const p = options.positions.get(id)!;
    return { x: p.x + dx, y: p.y + dy };
  };
  const nodes = placed.map((n): FigureNodeMark => ({
    id: n.id,
    kind: n.kind,
    label: n.label,
    text: n.label,
    ...at(n.id),
    state: 'plain',
    showLabel: true,
  }));
  const shown = subgraph.edges.filter((e) => options.positions.has(e.source) && options.positions.has(e.target));
  const strongest = Math.max(0, ...shown.map((e) => Math.abs(e.share)));
  const edges = shown
    .sort((a, b) => Math.abs(a.share) - Math.abs(b.share))
    .map((e): FigureEdgeMark => ({
      source: e.source,
      target: e.target,
      from: at(e.source),
      to: at(e.target),
      ...relativeEdgeLook(e.share, strongest),
    }));
  const width = Math.max(320, ...nodes.map((n) => n.x + 120));
  const height = Math.max(120, ...nodes.map((n) => n.y + 40));
  return {
    view: 'subgraph',
    title: options.title ?? graph.prompt,
    nodes,
    edges,
    columns: [],
    bands: [],
    width,
    height,
  };
}

export function escapeXml(text: string): string {
  return text.replace(
    /[<>&"']/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!,
  );
}

const fmt = (v: number): string => (Math.round(v * 10) / 10).toString();
const fmt2 = (v: number): string => (Math.round(v * 100) / 100).toString();

function glyph(kind: NodeKind | 'supernode', x: number, y: number, stroke: string, strokeWidth: number): string {
  const style = KIND_STYLE[kind];
  const r = style.size / 2;
  const paint = `fill="${style.fill}" stroke="${stroke}" stroke-width="${strokeWidth}"`;
  switch (style.shape) {
    case 'ellipse':
      return `<circle cx="${fmt(x)}" cy="${fmt(y)}" r="${fmt(r)}" ${paint}/>`;
    case 'diamond':
      return `<polygon points="${fmt(x)},${fmt(y - r)} ${fmt(x + r)},${fmt(y)} ${fmt(x)},${fmt(y + r)} ${fmt(x - r)},${fmt(y)}" ${paint}/>`;
    case 'rectangle':
      return `<rect x="${fmt(x - r)}" y="${fmt(y - r)}" width="${fmt(2 * r)}" height="${fmt(2 * r)}" ${paint}/>`;
  }
}

const TITLE_HEIGHT = 38;
const LEGEND_HEIGHT = 44;
const FONT = `font-family="Helvetica, Arial, sans-serif"`;

function legend(y: number): string {
  const parts: string[] = [];
  let x = 16;
  for (const kind of ['feature', 'error', 'embedding', 'logit', 'supernode'] as const) {
    parts.push(glyph(kind, x + 6, y, KIND_STYLE[kind].border, 1));
    parts.push(
      `<text x="${x + KIND_STYLE[kind].size + 6}" y="${y + 4}" font-size="11">${escapeXml(KIND_STYLE[kind].legend)}</text>`,
    );
    x += 28 + KIND_STYLE[kind].legend.length * 5.6;
  }
  for (const [label, share] of [
    ['excites', 1],
    ['inhibits', -1],
  ] as const) {
    const look = relativeEdgeLook(share, 1);
    parts.push(`<line x1="${x}" y1="${y}" x2="${x + 26}" y2="${y}" stroke="${look.colour}" stroke-width="3"/>`);
    parts.push(`<text x="${x + 32}" y="${y + 4}" font-size="11">${label}</text>`);
    x += 40 + label.length * 5.6;
  }
  const y2 = y + 18;
  parts.push(
    `<text x="16" y="${y2 + 4}" font-size="10" fill="${STATE_COLOUR.muted}">edge width and opacity ∝ |weight| relative to the strongest edge drawn (subgraph: |share of the target's input|)</text>`,
  );
  return `<g class="legend">${parts.join('')}</g>`;
}

/** The legend's width, so the figure is never narrower than it. */
const LEGEND_WIDTH = 760;

/** Writes the figure as a standalone SVG document. */
export function writeFigureSvg(spec: FigureSpec): string {
  const width = Math.ceil(Math.max(spec.width, LEGEND_WIDTH));
  const height = Math.ceil(spec.height + TITLE_HEIGHT + LEGEND_HEIGHT);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT} fill="${STATE_COLOUR.text}">`,
  );
  out.push(`<rect width="100%" height="100%" fill="${STATE_COLOUR.background}"/>`);
  out.push(`<text class="title" x="16" y="24" font-size="15" font-weight="600">${escapeXml(spec.title)}</text>`);
  out.push(`<g class="graph" transform="translate(0,${TITLE_HEIGHT})">`);
  // Layer bands and token columns (link graph only).
  for (const band of spec.bands) {
    out.push(
      `<line x1="${LINK_LEFT}" y1="${fmt(band.y)}" x2="${fmt(spec.width)}" y2="${fmt(band.y)}" stroke="${STATE_COLOUR.grid}"/>`,
      `<text x="8" y="${fmt(band.y + band.height / 2 + 4)}" font-size="10" fill="${STATE_COLOUR.muted}">${band.label}</text>`,
    );
  }
  const axisY = spec.bands.length ? Math.max(...spec.bands.map((b) => b.y + b.height)) : 0;
  for (const column of spec.columns) {
    const cx = column.x + column.width / 2;
    out.push(
      `<text class="token" x="${fmt(cx)}" y="${fmt(axisY + 16)}" font-size="11" text-anchor="end" transform="rotate(-30 ${fmt(cx)} ${fmt(axisY + 16)})">${escapeXml(column.token)}</text>`,
    );
  }
  out.push(`<g class="edges" stroke-linecap="round" fill="none">`);
  for (const edge of spec.edges) {
    out.push(
      `<line x1="${fmt(edge.from.x)}" y1="${fmt(edge.from.y)}" x2="${fmt(edge.to.x)}" y2="${fmt(edge.to.y)}" stroke="${edge.colour}" stroke-width="${fmt(edge.width)}" stroke-opacity="${fmt2(edge.opacity)}"><title>${escapeXml(`${edge.source} → ${edge.target}`)}</title></line>`,
    );
  }
  out.push(`</g><g class="nodes">`);
  for (const node of spec.nodes) {
    const stroke =
      node.state === 'clicked'
        ? STATE_COLOUR.clicked
        : node.state === 'pinned'
          ? STATE_COLOUR.pinned
          : KIND_STYLE[node.kind].border;
    const strokeWidth = node.state === 'plain' ? 1 : 2.5;
    out.push(
      `<g class="node ${node.kind}" data-node-id="${escapeXml(node.id)}"><title>${escapeXml(node.label)}</title>`,
    );
    out.push(glyph(node.kind, node.x, node.y, stroke, strokeWidth));
    if (node.showLabel) {
      const offset = KIND_STYLE[node.kind].size / 2 + 3;
      if (spec.view === 'link') {
        // Placed by placeLabels: beside the glyph, vertically centred (baseline at +0.35 em).
        const left = node.labelSide === 'left';
        const x = fmt(left ? node.x - offset : node.x + offset);
        const y = fmt(node.y + LINK_LABEL_FONT * 0.35);
        out.push(
          `<text class="label" x="${x}" y="${y}" font-size="${LINK_LABEL_FONT}"${left ? ' text-anchor="end"' : ''}>${escapeXml(node.text)}</text>`,
        );
      } else {
        out.push(
          `<text class="label" x="${fmt(node.x + offset)}" y="${fmt(node.y - offset)}" font-size="11">${escapeXml(shortLabel(node.text))}</text>`,
        );
      }
    }
    out.push(`</g>`);
  }
  out.push(`</g></g>`);
  out.push(legend(TITLE_HEIGHT + spec.height + 16));
  out.push(`</svg>`);
  return out.join('\n');
}

const LINK_LEFT = 40;
