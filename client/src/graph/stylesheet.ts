/**
 * The one Cytoscape stylesheet of the viewer (STYLE.md: appearance is data keyed by classes).
 * Node kinds are classes (feature, error, embedding, logit, supernode); states are classes
 * (clicked, pinned, shared, on-path, faded); colours and sizes come from figure/palette.ts.
 */
import type cytoscape from 'cytoscape';
import { KIND_STYLE, LINK_LABEL_FONT, STATE_COLOUR } from '@circuit-atlas/figure';

const kindRules = (Object.keys(KIND_STYLE) as (keyof typeof KIND_STYLE)[]).map(
  (kind): cytoscape.StylesheetJson[number] => ({
    selector: `node.${kind}`,
    style: {
      shape: KIND_STYLE[kind].shape,
      'background-color': KIND_STYLE[kind].fill,
      'border-color': KIND_STYLE[kind].border,
      width: KIND_STYLE[kind].size,
      height: KIND_STYLE[kind].size,
    },
  }),
);

export const STYLESHEET: cytoscape.StylesheetJson = [
  {
    selector: 'node',
    style: {
      'border-width': 1,
      label: '',
      'font-size': 8,
      'font-family': 'Helvetica, Arial, sans-serif',
      color: STATE_COLOUR.text,
      'text-valign': 'top',
      'text-halign': 'right',
      'text-margin-x': 2,
      'min-zoomed-font-size': 4,
    },
  },
  ...kindRules,
  // Placed by placeLabels (figure/link-labels.ts): beside the node, right or left, never overlapping.
  {
    selector: 'node.labelled',
    style: {
      label: 'data(short)',
      'font-size': LINK_LABEL_FONT,
      'text-valign': 'center',
      'text-halign': 'right',
      'text-margin-x': 3,
      // Readable where a label crosses unlabelled nodes or edges (labels never cross each other).
      'text-background-color': '#ffffff',
      'text-background-opacity': 0.85,
      'text-background-padding': '1px',
      'text-background-shape': 'roundrectangle',
    },
  },
  { selector: 'node.labelled.label-left', style: { 'text-halign': 'left', 'text-margin-x': -3 } },
  {
    selector: 'node.token-label',
    style: {
      shape: 'rectangle',
      width: 1,
      height: 1,
      'background-opacity': 0,
      'border-width': 0,
      label: 'data(label)',
      'font-size': 10,
      'text-valign': 'bottom',
      'text-halign': 'center',
      'text-rotation': -0.5,
      // Axis labels stay readable at any zoom (2,000-node graphs are drawn zoomed out).
      'min-zoomed-font-size': 0,
      events: 'no',
    },
  },
  {
    selector: 'node.band-label',
    style: {
      shape: 'rectangle',
      width: 1,
      height: 1,
      'background-opacity': 0,
      'border-width': 0,
      label: 'data(label)',
      'font-size': 9,
      color: STATE_COLOUR.muted,
      'text-halign': 'right',
      'text-valign': 'center',
      'min-zoomed-font-size': 0,
      events: 'no',
    },
  },
  { selector: 'node.supernode', style: { label: 'data(label)', 'font-size': 10, 'font-weight': 'bold' } },
  { selector: 'node.pinned', style: { 'border-color': STATE_COLOUR.pinned, 'border-width': 2.5 } },
  { selector: 'node.clicked', style: { 'border-color': STATE_COLOUR.clicked, 'border-width': 3 } },
  { selector: 'node.on-path', style: { 'border-color': STATE_COLOUR.path, 'border-width': 3 } },
  {
    selector: 'node:selected',
    style: { 'overlay-color': STATE_COLOUR.pinned, 'overlay-opacity': 0.18, 'overlay-padding': 4 },
  },
  { selector: 'node.faded', style: { opacity: 0.25 } },
  // The merged compare view (compare-page.ts SIDE_COLOURS): in both graphs, only in A, only in B.
  { selector: 'node.shared', style: { 'background-color': '#9fd9c1', 'border-color': '#0d5c45' } },
  { selector: 'node.only-a', style: { 'background-color': '#b9d3ee', 'border-color': '#2166ac' } },
  { selector: 'node.only-b', style: { 'background-color': '#f8c99a', 'border-color': '#b0601c' } },
  {
    selector: 'edge',
    style: {
      'curve-style': 'straight',
      width: 'data(width)',
      'line-color': 'data(colour)',
      opacity: 0.85,
      'target-arrow-shape': 'none',
      events: 'no',
    },
  },
  // Link-graph edges carry their opacity relative to the strongest drawn edge (relativeEdgeLook).
  // A data mapper, not a function: Cytoscape caches mapped styles, a function runs per edge on every restyle
  // (its types list no mapper string for opacity, which Cytoscape accepts).
  { selector: 'edge[opacity]', style: { opacity: 'data(opacity)' as unknown as number } },
  {
    selector: 'edge.subgraph-edge',
    style: {
      'target-arrow-shape': 'triangle',
      'target-arrow-color': 'data(colour)',
      'arrow-scale': 0.7,
      'curve-style': 'bezier',
    },
  },
  {
    selector: 'edge.on-path',
    style: {
      'line-color': STATE_COLOUR.path,
      'target-arrow-color': STATE_COLOUR.path,
      opacity: 1,
      label: 'data(weightLabel)',
      'font-size': 9,
      'text-background-color': '#fff',
      'text-background-opacity': 0.8,
    },
  },
];
