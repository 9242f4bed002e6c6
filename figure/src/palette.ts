/**
 * The one palette of circuit-atlas figures: the Cytoscape stylesheet and the SVG writer both read
 * these, so the browser and an exported figure look the same.
 */
import type { NodeKind } from '@circuit-atlas/schema';

export interface KindStyle {
  /** Cytoscape shape name; the SVG writer draws the same glyph. */
  shape: 'ellipse' | 'diamond' | 'rectangle';
  fill: string;
  border: string;
  /** Diameter in layout units. */
  size: number;
  legend: string;
}

export const KIND_STYLE: Record<NodeKind | 'supernode', KindStyle> = {
  feature: { shape: 'ellipse', fill: '#efe6cf', border: '#8a7650', size: 11, legend: 'feature' },
  error: { shape: 'diamond', fill: '#d9d9d9', border: '#6f6f6f', size: 11, legend: 'error (MLP reconstruction)' },
  embedding: { shape: 'rectangle', fill: '#cfe3f1', border: '#3d6f93', size: 11, legend: 'embedding' },
  logit: { shape: 'rectangle', fill: '#f8d3b0', border: '#b0601c', size: 12, legend: 'logit' },
  supernode: { shape: 'rectangle', fill: '#e4def3', border: '#5b4a8b', size: 16, legend: 'supernode' },
};

export const STATE_COLOUR = {
  clicked: '#d7301f',
  pinned: '#2166ac',
  shared: '#1b9e77',
  path: '#e6550d',
  text: '#222222',
  muted: '#777777',
  grid: '#ececec',
  background: '#ffffff',
};

/** Edge colours at full strength: green for positive, purple for negative attribution. */
export const EDGE_POSITIVE = [26, 152, 80] as const;
export const EDGE_NEGATIVE = [118, 42, 131] as const;
const EDGE_NEUTRAL = [200, 200, 200] as const;

/** The share (of the target's absolute input) at which an edge's colour saturates (REFERENCE.md). */
export const EDGE_SATURATION_SHARE = 0.4;

/**
 * Colour of an edge from its signed share of the target's absolute input: grey at 0, full green
 * (+) or purple (−) at ±0.4 and beyond.
 */
export function edgeColour(signedShare: number): string {
  const t = Math.min(1, Math.abs(signedShare) / EDGE_SATURATION_SHARE);
  const full = signedShare >= 0 ? EDGE_POSITIVE : EDGE_NEGATIVE;
  const channel = (i: number): string =>
    Math.round(EDGE_NEUTRAL[i] + (full[i] - EDGE_NEUTRAL[i]) * t)
      .toString(16)
      .padStart(2, '0');
  return `#${channel(0)}${channel(1)}${channel(2)}`;
}

/** Edge width ∝ √share, so small edges stay visible and big ones do not swamp the figure. */
export function edgeWidth(share: number): number {
  return 0.6 + 7 * Math.sqrt(Math.min(1, Math.abs(share)));
}
