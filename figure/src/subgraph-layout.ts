/**
 * Lays out the subgraph of pinned nodes with dagre, ranked by layer (inputs at the bottom, logits
 * at the top). Runs Cytoscape headless, so the viewer and the server's figure export (Node, no
 * DOM) place the nodes identically.
 */
import cytoscape from 'cytoscape';
import dagre from 'cytoscape-dagre';
import type { Point, Subgraph } from './graph-layout.js';

let registered = false;

export function registerDagre(): void {
  if (!registered) cytoscape.use(dagre);
  registered = true;
}

/** Dagre options shared by the live subgraph and the exported one. */
export function dagreOptions(layerOf: (id: string) => number): cytoscape.LayoutOptions {
  return {
    name: 'dagre',
    rankDir: 'BT',
    nodeSep: 26,
    rankSep: 46,
    // An edge spanning k layers spans k ranks, so nodes line up by layer.
    minLen: (edge: cytoscape.EdgeSingular) =>
      Math.max(1, Math.round(layerOf(edge.target().id()) - layerOf(edge.source().id()))),
    fit: false,
    animate: false,
  } as cytoscape.LayoutOptions;
}

/** Positions of the subgraph's nodes (node id → centre). */
export function layoutSubgraph(subgraph: Subgraph): Map<string, Point> {
  registerDagre();
  const layer = new Map(subgraph.nodes.map((n) => [n.id, n.layer]));
  const cy = cytoscape({
    headless: true,
    styleEnabled: true,
    elements: [
      ...subgraph.nodes.map((n) => ({ data: { id: n.id } })),
      ...subgraph.edges.map((e, i) => ({ data: { id: `e${i}`, source: e.source, target: e.target } })),
    ],
    style: [{ selector: 'node', style: { width: 120, height: 26 } }],
  });
  try {
    cy.layout(dagreOptions((id) => layer.get(id) ?? 0)).run();
    return new Map(cy.nodes().map((n) => [n.id(), { ...n.position() }]));
  } finally {
    cy.destroy();
  }
}
