/**
 * The circuit figure: a graph collapsed into supernodes and reduced to its strongest token → logit
 * paths (the tracer's CircuitView), drawn as a paper would — prompt tokens along the bottom in
 * prompt order, the target logit at the top, supernodes and features in rows by their lowest layer,
 * each a labelled box; edges curve upwards, width by |share|, colour by sign.
 *
 * Labels sit inside their boxes and a box is as wide as its label's estimated width
 * (`estimateTextWidth`: per-character widths of a wide sans-serif, the same numbers in the browser
 * and the CLI), so boxes placed side by side never overlap and neither do their labels. Long labels
 * are cut with an ellipsis; the full text stays in the box's <title>. Pure TypeScript: the viewer's
 * Cytoscape preset positions and `circuit-atlas export --view circuit` both come from `circuitFigure`.
 */
import { edgeColour, edgeWidth, KIND_STYLE, STATE_COLOUR } from './palette.js';
import { escapeXml } from './svg.js';

export type CircuitFigureNodeKind = 'supernode' | 'feature' | 'token' | 'logit';

/** What the figure reads of a circuit view; the tracer's CircuitView and the API's both fit. */
export interface CircuitFigureInput {
  prompt: string;
  promptTokens: string[];
  target: string;
  nodes: {
    id: string;
    kind: CircuitFigureNodeKind;
    label: string;
    ctxIdx: number;
    layers: number[];
    members: string[];
    influence: number;
  }[];
  edges: { source: string; target: string; weight: number; share: number }[];
  paths: { nodes?: string[]; nodeIds?: string[] }[];
}

export interface CircuitBox {
  id: string;
  kind: CircuitFigureNodeKind;
  /** Full label (the <title>). */
  label: string;
  /** Label as written in the box (cut with an ellipsis when long). */
  text: string;
  /** Centre and size, in layout units. */
  x: number;
  y: number;
  width: number;
  height: number;
  memberCount: number;
  /** Lowest and highest layer. */
  layers: [number, number];
  /** On one of the drawn paths (everything is, except nodes the caller adds). */
  onPath: boolean;
}

export interface CircuitEdgeMark {
  source: string;
  target: string;
  weight: number;
  share: number;
  colour: string;
  width: number;
  /** SVG path data of the curve from the source's top to the target's bottom. */
  d: string;
}

export interface CircuitAxisToken {
  ctxIdx: number;
  text: string;
  x: number;
  /** False when the token is not on any path (written muted, no box). */
  inCircuit: boolean;
}

export interface CircuitFigureSpec {
  title: string;
  target: string;
  boxes: CircuitBox[];
  edges: CircuitEdgeMark[];
  /** Every prompt token, in order, under its column (tokens on a path also have a box). */
  axis: CircuitAxisToken[];
  /** Row labels at the left: layer of each row's boxes ('tokens', 'L3', 'logit'). */
  rows: { y: number; label: string }[];
  width: number;
  height: number;
}

/** Sizes of the circuit figure, in layout units (CSS pixels at zoom 1). */
export const CIRCUIT_FIGURE = {
  fontSize: 12,
  fontFamily: 'DejaVu Sans, Verdana, Helvetica, Arial, sans-serif',
  boxHeight: 26,
  boxPadX: 9,
  /** Horizontal gap between boxes of one row, and between columns. */
  gap: 14,
  /** Vertical distance between row centres. */
  rowStep: 78,
  /** Longest label written in a box, in characters (the rest goes to <title>). */
  maxLabelChars: 26,
  marginLeft: 56,
  marginTop: 18,
  /** Room under the token row. */
  axisHeight: 14,
  minColumnWidth: 40,
  /** Edges off the drawn paths below this |share| are left out. */
  minEdgeShare: 0.05,
};

/**
 * Estimated width of `text` at `fontSize`, from per-character widths (em) of DejaVu Sans, the
 * widest of the usual sans-serif fonts, so the real text is never wider than the estimate.
 */
export function estimateTextWidth(text: string, fontSize: number = CIRCUIT_FIGURE.fontSize): number {
  let em = 0;
  for (const ch of text) {
    if (/[ .,:;'|!()[\]{}`ijlI]/.test(ch)) em += 0.36;
    else if (/[ftr"-]/.test(ch)) em += 0.45;
    else if (/[mwMW@%]/.test(ch)) em += 1.0;
    else if (/[A-Z]/.test(ch)) em += 0.78;
    else if (/[0-9a-z#$&*+<=>?^_~\\/]/.test(ch)) em += 0.66;
    else em += 1.0; // anything else (accents, symbols, CJK): as wide as an M
  }
  return Math.ceil(em * fontSize);
}

/** Cuts `text` to at most `max` characters with an ellipsis. */
export function ellipsize(text: string, max: number = CIRCUIT_FIGURE.maxLabelChars): string {
  const chars = [...text];
  return chars.length > max
    ? `${chars
        .slice(0, max - 1)
        .join('')
        .trimEnd()}…`
    : text;
}

/** A token as written on the figure: visible whitespace, no leading-space marker. */
export function tokenText(token: string): string {
  const shown = token.replace(/^[\sĠ▁]+/, '').replace(/\n/g, '⏎');
  return shown === '' ? '␣' : shown;
}

/** The label written in a box: a logit's `Output "Austin" (p=0.993)` becomes `Austin (p=0.99)`. */
export function circuitNodeText(node: CircuitFigureInput['nodes'][number], promptTokens: string[]): string {
  if (node.kind === 'token') return tokenText(promptTokens[node.ctxIdx] ?? node.label);
  const logit = /^Output "(.*)" \(p=([0-9.eE+-]+)\)$/.exec(node.label);
  if (node.kind === 'logit' && logit) return `${tokenText(logit[1])} (p=${Number(logit[2]).toFixed(2)})`;
  return node.label;
}

/** The row a node sits in: tokens at the bottom, the logit on top, the rest by lowest layer. */
function rowKey(node: CircuitFigureInput['nodes'][number]): number {
  if (node.kind === 'token') return -Infinity;
  if (node.kind === 'logit') return Infinity;
  return Math.min(...node.layers);
}

/** Lays out the circuit view (see the header). */
export function circuitFigure(
  view: CircuitFigureInput,
  options: { title?: string; minEdgeShare?: number } = {},
): CircuitFigureSpec {
  const F = CIRCUIT_FIGURE;
  const rowKeys = [...new Set(view.nodes.map(rowKey))].sort((a, b) => b - a); // top row first
  if (!rowKeys.includes(-Infinity)) rowKeys.push(-Infinity);
  const rowY = new Map(rowKeys.map((key, i) => [key, F.marginTop + F.boxHeight / 2 + i * F.rowStep]));
  const onPath = new Set(view.paths.flatMap((p) => p.nodes ?? p.nodeIds ?? []));

  // Box sizes, then the cells (row, column) they sit in, strongest first within a cell.
  const sized = view.nodes.map((node) => {
    const full = circuitNodeText(node, view.promptTokens);
    const text = ellipsize(full);
    return { node, full, text, width: Math.max(F.boxHeight, estimateTextWidth(text) + 2 * F.boxPadX) };
  });
  const cells = new Map<string, typeof sized>();
  for (const entry of sized) {
    const key = `${rowKey(entry.node)}|${entry.node.ctxIdx}`;
    if (!cells.has(key)) cells.set(key, []);
    cells.get(key)!.push(entry);
  }
  for (const cell of cells.values())
    cell.sort((a, b) => b.node.influence - a.node.influence || (a.node.id < b.node.id ? -1 : 1));
  const cellWidth = (cell: typeof sized) => cell.reduce((s, e) => s + e.width, 0) + F.gap * (cell.length - 1);

  // Column widths: the widest cell of the column, or its token's text.
  const nColumns = Math.max(view.promptTokens.length, ...view.nodes.map((n) => n.ctxIdx + 1));
  const columnWidth = Array.from({ length: nColumns }, (_, c) =>
    Math.max(F.minColumnWidth, estimateTextWidth(ellipsize(tokenText(view.promptTokens[c] ?? ''))) + 2 * F.boxPadX),
  );
  for (const [key, cell] of cells) {
    const c = Number(key.split('|')[1]);
    columnWidth[c] = Math.max(columnWidth[c], cellWidth(cell));
  }
  const columnLeft: number[] = [];
  let x = F.marginLeft;
  for (const w of columnWidth) {
    columnLeft.push(x);
    x += w + F.gap;
  }
  const width = x - F.gap + F.marginLeft / 2;

  const boxes: CircuitBox[] = [];
  for (const [key, cell] of cells) {
    const [row, column] = [Number(key.split('|')[0]), Number(key.split('|')[1])];
    let left = columnLeft[column] + (columnWidth[column] - cellWidth(cell)) / 2;
    for (const { node, full, text, width: w } of cell) {
      boxes.push({
        id: node.id,
        kind: node.kind,
        label: node.kind === 'supernode' ? `${full} (${node.members.length} features)` : full,
        text,
        x: left + w / 2,
        y: rowY.get(row)!,
        width: w,
        height: F.boxHeight,
        memberCount: node.members.length,
        layers: [Math.min(...node.layers), Math.max(...node.layers)],
        onPath: onPath.has(node.id),
      });
      left += w + F.gap;
    }
  }
  const byId = new Map(boxes.map((b) => [b.id, b]));
  // Steps of the drawn paths always show; other edges only when strong (weak ones are clutter).
  const steps = new Set(
    view.paths.flatMap((p) => {
      const ids = p.nodes ?? p.nodeIds ?? [];
      return ids.slice(1).map((id, i) => `${ids[i]}\u0000${id}`);
    }),
  );
  const minShare = options.minEdgeShare ?? F.minEdgeShare;
  const edges = view.edges
    .filter((e) => byId.has(e.source) && byId.has(e.target))
    .filter((e) => Math.abs(e.share) >= minShare || steps.has(`${e.source}\u0000${e.target}`))
    .sort((a, b) => Math.abs(a.share) - Math.abs(b.share)) // strongest drawn last, on top
    .map((e): CircuitEdgeMark => {
      const s = byId.get(e.source)!;
      const t = byId.get(e.target)!;
      const [x1, y1, x2, y2] = [s.x, s.y - s.height / 2, t.x, t.y + t.height / 2];
      const bend = Math.max(20, (y1 - y2) / 2);
      return {
        source: e.source,
        target: e.target,
        weight: e.weight,
        share: e.share,
        colour: edgeColour(e.share),
        width: edgeWidth(e.share),
        d: `M${r(x1)},${r(y1)} C${r(x1)},${r(y1 - bend)} ${r(x2)},${r(y2 + bend)} ${r(x2)},${r(y2)}`,
      };
    });
  const tokenY = rowY.get(-Infinity)!;
  const axis = Array.from({ length: nColumns }, (_, c): CircuitAxisToken => ({
    ctxIdx: c,
    text: ellipsize(tokenText(view.promptTokens[c] ?? '')),
    x: columnLeft[c] + columnWidth[c] / 2,
    inCircuit: boxes.some((b) => b.kind === 'token' && b.x >= columnLeft[c] && b.x <= columnLeft[c] + columnWidth[c]),
  }));
  const rows = rowKeys.map((key) => ({
    y: rowY.get(key)!,
    label: key === Infinity ? 'logit' : key === -Infinity ? 'tokens' : `L${key}`,
  }));
  return {
    title: options.title ?? view.prompt,
    target: view.target,
    boxes,
    edges,
    axis,
    rows,
    width: Math.ceil(width),
    height: Math.ceil(tokenY + F.boxHeight / 2 + F.axisHeight),
  };
}

/** Pairs of boxes whose rectangles overlap (none in a figure from `circuitFigure`). */
export function overlappingBoxes(
  boxes: readonly Pick<CircuitBox, 'id' | 'x' | 'y' | 'width' | 'height'>[],
): [string, string][] {
  const found: [string, string][] = [];
  for (let i = 0; i < boxes.length; i++)
    for (let j = i + 1; j < boxes.length; j++) {
      const [a, b] = [boxes[i], boxes[j]];
      if (Math.abs(a.x - b.x) * 2 < a.width + b.width && Math.abs(a.y - b.y) * 2 < a.height + b.height)
        found.push([a.id, b.id]);
    }
  return found;
}

const r = (v: number): string => (Math.round(v * 10) / 10).toString();

/** Box fill and border by kind: tokens and logits as in the link graph, supernodes stronger. */
export const CIRCUIT_BOX_STYLE: Record<CircuitFigureNodeKind, { fill: string; border: string }> = {
  token: { fill: KIND_STYLE.embedding.fill, border: KIND_STYLE.embedding.border },
  feature: { fill: KIND_STYLE.feature.fill, border: KIND_STYLE.feature.border },
  supernode: { fill: KIND_STYLE.supernode.fill, border: KIND_STYLE.supernode.border },
  logit: { fill: KIND_STYLE.logit.fill, border: KIND_STYLE.logit.border },
};

const TITLE_HEIGHT = 40;
const LEGEND_HEIGHT = 48;
const LEGEND_WIDTH = 640;

function circuitLegend(y: number): string {
  const parts: string[] = [];
  let x = 16;
  const entries: [CircuitFigureNodeKind, string][] = [
    ['token', 'prompt token'],
    ['supernode', 'supernode (group of features)'],
    ['feature', 'feature'],
    ['logit', 'target logit'],
  ];
  for (const [kind, text] of entries) {
    const style = CIRCUIT_BOX_STYLE[kind];
    parts.push(
      `<rect x="${x}" y="${y - 6}" width="16" height="12" rx="3" fill="${style.fill}" stroke="${style.border}"/>`,
    );
    parts.push(`<text x="${x + 21}" y="${y + 4}" font-size="11">${escapeXml(text)}</text>`);
    x += 30 + estimateTextWidth(text, 11);
  }
  const y2 = y + 20;
  x = 16;
  for (const [text, share] of [
    ['excites', 0.4],
    ['inhibits', -0.4],
  ] as const) {
    parts.push(`<line x1="${x}" y1="${y2}" x2="${x + 26}" y2="${y2}" stroke="${edgeColour(share)}" stroke-width="3"/>`);
    parts.push(`<text x="${x + 32}" y="${y2 + 4}" font-size="11">${text}</text>`);
    x += 44 + estimateTextWidth(text, 11);
  }
  parts.push(
    `<text x="${x}" y="${y2 + 4}" font-size="10" fill="${STATE_COLOUR.muted}">edge width ∝ √|share of the target's input|</text>`,
  );
  return `<g class="legend">${parts.join('')}</g>`;
}

/** Writes the circuit figure as a standalone SVG document. */
export function writeCircuitSvg(spec: CircuitFigureSpec): string {
  const F = CIRCUIT_FIGURE;
  const width = Math.ceil(Math.max(spec.width, LEGEND_WIDTH));
  const height = Math.ceil(spec.height + TITLE_HEIGHT + LEGEND_HEIGHT);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="circuit-figure" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${F.fontFamily}" fill="${STATE_COLOUR.text}">`,
  );
  out.push(`<rect width="100%" height="100%" fill="${STATE_COLOUR.background}"/>`);
  out.push(`<text class="title" x="16" y="26" font-size="15" font-weight="600">${escapeXml(spec.title)}</text>`);
  out.push(`<g class="graph" transform="translate(0,${TITLE_HEIGHT})">`);
  for (const row of spec.rows)
    out.push(
      `<text class="row" x="8" y="${r(row.y + 4)}" font-size="10" fill="${STATE_COLOUR.muted}">${row.label}</text>`,
    );
  const tokenRow = spec.rows.find((row) => row.label === 'tokens')!;
  for (const token of spec.axis)
    if (!token.inCircuit)
      out.push(
        `<text class="axis-token" x="${r(token.x)}" y="${r(tokenRow.y + F.fontSize * 0.36)}" font-size="${F.fontSize}" text-anchor="middle" fill="${STATE_COLOUR.muted}">${escapeXml(token.text)}</text>`,
      );
  out.push(`<g class="edges" fill="none" stroke-linecap="round">`);
  for (const e of spec.edges)
    out.push(
      `<path d="${e.d}" stroke="${e.colour}" stroke-width="${r(e.width)}" stroke-opacity="0.85" data-source="${escapeXml(e.source)}" data-target="${escapeXml(e.target)}"><title>${escapeXml(`${e.source} → ${e.target}: share ${e.share.toFixed(3)}`)}</title></path>`,
    );
  out.push(`</g><g class="nodes">`);
  for (const b of spec.boxes) {
    const style = CIRCUIT_BOX_STYLE[b.kind];
    const strong = b.kind === 'supernode' || b.kind === 'logit'; // a thicker border, not bold text: the width estimate is for regular weight
    out.push(`<g class="node ${b.kind}" data-node-id="${escapeXml(b.id)}"><title>${escapeXml(b.label)}</title>`);
    out.push(
      `<rect x="${r(b.x - b.width / 2)}" y="${r(b.y - b.height / 2)}" width="${r(b.width)}" height="${r(b.height)}" rx="5" fill="${style.fill}" stroke="${style.border}" stroke-width="${strong ? 1.6 : 1}"/>`,
    );
    out.push(
      `<text class="label" x="${r(b.x)}" y="${r(b.y + F.fontSize * 0.36)}" font-size="${F.fontSize}" text-anchor="middle">${escapeXml(b.text)}</text>`,
    );
    out.push(`</g>`);
  }
  out.push(`</g></g>`);
  out.push(circuitLegend(TITLE_HEIGHT + spec.height + 14));
  out.push(`</svg>`);
  return out.join('\n');
}
