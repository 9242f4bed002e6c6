/**
 * Legible link graphs, decided once for the viewer and the exported figure: which node labels are
 * written and where (no two overlap, none leaves the drawing; long ones are truncated and the full
 * text stays in the tooltip / <title>), and how a drawn edge looks relative to the strongest one
 * drawn with it.
 */
import { estimateTextWidth } from './circuit-figure.js';
import { EDGE_NEGATIVE, EDGE_POSITIVE, KIND_STYLE } from './palette.js';
import type { Point } from './graph-layout.js';
import type { NodeKind } from '@circuit-atlas/schema';

/** Label font size of the link graph, in layout units (the viewer zooms them with the nodes). */
export const LINK_LABEL_FONT = 10;
/** Longest label written in full; longer ones end in "…". */
export const LINK_LABEL_MAX_CHARS = 28;
/** Shortest truncation worth writing ("Texa…" says little, but more than nothing). */
const MIN_CHARS = 5;
const GAP = 3;

export interface LabelRequest {
  id: string;
  kind: NodeKind | 'supernode';
  at: Point;
  text: string;
  /** Higher first: placed labels never move for lower ones. */
  priority: number;
}

export interface PlacedLabel {
  id: string;
  /** What is written (maybe truncated). */
  text: string;
  /** Written to the right of the node, or to its left. */
  side: 'right' | 'left';
  box: Box;
}

export interface Box {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

export function truncateLabel(text: string, maxChars: number): string {
  return text.length > maxChars ? `${text.slice(0, Math.max(1, maxChars - 1))}…` : text;
}

export function boxesOverlap(a: Box, b: Box): boolean {
  return a.x1 < b.x2 && b.x1 < a.x2 && a.y1 < b.y2 && b.y1 < a.y2;
}

/** The box of a label written beside a node, with the shared text-width estimate. */
export function labelBox(
  at: Point,
  kind: LabelRequest['kind'],
  text: string,
  side: 'right' | 'left',
  font = LINK_LABEL_FONT,
): Box {
  const offset = KIND_STYLE[kind].size / 2 + GAP;
  const width = estimateTextWidth(text, font);
  const x1 = side === 'right' ? at.x + offset : at.x - offset - width;
  return { x1, x2: x1 + width, y1: at.y - font * 0.65, y2: at.y + font * 0.65 };
}

/** A node glyph a label should not cover (every drawn node, labelled or not). */
export interface Obstacle {
  id: string;
  kind: LabelRequest['kind'];
  at: Point;
}

const GRID = 32;

/** Glyph boxes bucketed by grid cell, so a label checks only the glyphs near it. */
class GlyphGrid {
  private readonly cells = new Map<string, { id: string; box: Box }[]>();

  constructor(obstacles: readonly Obstacle[]) {
    for (const o of obstacles) {
      const half = KIND_STYLE[o.kind].size / 2;
      const box = { x1: o.at.x - half, x2: o.at.x + half, y1: o.at.y - half, y2: o.at.y + half };
      for (const key of this.keys(box)) {
        const list = this.cells.get(key);
        if (list) list.push({ id: o.id, box });
        else this.cells.set(key, [{ id: o.id, box }]);
      }
    }
  }

  private *keys(box: Box): Generator<string> {
    for (let gx = Math.floor(box.x1 / GRID); gx <= Math.floor(box.x2 / GRID); gx++)
      for (let gy = Math.floor(box.y1 / GRID); gy <= Math.floor(box.y2 / GRID); gy++) yield `${gx},${gy}`;
  }

  /** True when the box covers a glyph other than `ownId`'s. */
  covers(box: Box, ownId: string): boolean {
    for (const key of this.keys(box))
      for (const glyph of this.cells.get(key) ?? [])
        if (glyph.id !== ownId && boxesOverlap(glyph.box, box)) return true;
    return false;
  }
}

/**
 * Places labels greedily by priority: right of the node, else left, each at full length (up to
 * LINK_LABEL_MAX_CHARS) and then shorter; never over another label or outside `bounds`, and over no
 * node glyph where any candidate allows it (`obstacles`: all drawn nodes; labelled nodes always
 * count). Labels that find no room are left out (their node keeps its tooltip / <title>).
 */
export function placeLabels(
  requests: readonly LabelRequest[],
  bounds: Box,
  font = LINK_LABEL_FONT,
  obstacles: readonly Obstacle[] = requests,
): PlacedLabel[] {
  const ordered = [...requests].sort((a, b) => b.priority - a.priority || (a.id < b.id ? -1 : 1));
  const labelled = new GlyphGrid(requests);
  const glyphs = obstacles === requests ? labelled : new GlyphGrid(obstacles);
  const placed: PlacedLabel[] = [];
  for (const request of ordered) {
    const full = truncateLabel(request.text, LINK_LABEL_MAX_CHARS);
    const lengths: number[] = [];
    for (let n = full.length; n >= MIN_CHARS; n = n === full.length ? Math.min(n - 1, 18) : n - 4) lengths.push(n);
    if (lengths.length === 0) lengths.push(full.length);
    let found: PlacedLabel | null = null;
    // First over no glyph at all, then (crowded rows) over unlabelled glyphs only.
    search: for (const strict of [true, false]) {
      for (const length of lengths) {
        const text = length === full.length ? full : truncateLabel(full, length);
        for (const side of ['right', 'left'] as const) {
          const box = labelBox(request.at, request.kind, text, side, font);
          if (box.x1 < bounds.x1 || box.x2 > bounds.x2 || box.y1 < bounds.y1 || box.y2 > bounds.y2) continue;
          if (placed.some((p) => boxesOverlap(p.box, box))) continue;
          if ((strict ? glyphs : labelled).covers(box, request.id)) continue;
          found = { id: request.id, text, side, box };
          break search;
        }
      }
    }
    if (found) placed.push(found);
  }
  return placed;
}

export interface EdgeLook {
  colour: string;
  width: number;
  opacity: number;
}

const hex = (rgb: readonly number[]): string => `#${rgb.map((c) => c.toString(16).padStart(2, '0')).join('')}`;

/**
 * How a drawn edge looks: its sign's colour (green +, purple −) at any strength, width and opacity
 * growing with |share| relative to the strongest edge drawn with it, so the strongest is always bold.
 */
export function relativeEdgeLook(share: number, strongest: number): EdgeLook {
  const t = strongest > 0 ? Math.min(1, Math.abs(share) / strongest) : 0;
  return {
    colour: hex(share >= 0 ? EDGE_POSITIVE : EDGE_NEGATIVE),
    width: 0.5 + 5.5 * Math.sqrt(t),
    opacity: 0.15 + 0.85 * t,
  };
}

/** Label priorities: the clicked node, pinned nodes, nodes on a highlighted path, logits, then neighbours by edge strength. */
const PRIORITY = { clicked: 10_000, pinned: 9_000, path: 8_000, logit: 7_000, neighbour: 1_000 };

export interface LinkLabelNode {
  nodeId: string;
  kind: NodeKind;
  /** The text to write (before truncation). */
  text: string;
  tokenProb?: number | null;
}

/**
 * Which link-graph nodes ask for a label, most important first: the clicked and pinned nodes, the
 * nodes of a highlighted path, the logits, and the ends of the `neighbours` strongest drawn edges.
 */
export function linkLabelRequests(
  nodes: ReadonlyMap<string, LinkLabelNode>,
  positions: ReadonlyMap<string, Point>,
  focus: { clickedId?: string | null; pinnedIds?: readonly string[]; pathIds?: readonly string[] },
  drawnStrongestFirst: readonly { source: string; target: string }[],
  neighbours = 12,
): LabelRequest[] {
  const priority = new Map<string, number>();
  const raise = (id: string, value: number) => priority.set(id, Math.max(priority.get(id) ?? 0, value));
  drawnStrongestFirst.slice(0, neighbours).forEach((e, rank) => {
    raise(e.source, PRIORITY.neighbour - rank);
    raise(e.target, PRIORITY.neighbour - rank);
  });
  for (const node of nodes.values()) {
    if (node.kind === 'logit') raise(node.nodeId, PRIORITY.logit + Math.round(100 * (node.tokenProb ?? 0)));
  }
  (focus.pathIds ?? []).forEach((id) => raise(id, PRIORITY.path));
  (focus.pinnedIds ?? []).forEach((id) => raise(id, PRIORITY.pinned));
  if (focus.clickedId) raise(focus.clickedId, PRIORITY.clicked);
  const requests: LabelRequest[] = [];
  for (const [id, value] of priority) {
    const node = nodes.get(id);
    const at = positions.get(id);
    if (node && at) requests.push({ id, kind: node.kind, at, text: node.text, priority: value });
  }
  return requests;
}
