/**
 * The subgraph of pinned nodes, laid out by layer with dagre; supernodes merge their members
 * and sum their edges (figure/graph-layout.ts `buildSubgraph`). Box- or Shift-select nodes to
 * group them.
 */
import cytoscape from 'cytoscape';
import { buildSubgraph, type FigureGraph, type Point, type Supernode } from '@circuit-atlas/figure';
import { relativeEdgeLook } from '@circuit-atlas/figure';
import { dagreOptions, registerDagre } from '@circuit-atlas/figure';
import { formatNumber } from '../dom.js';
import { attachTooltip, shortLabel } from './link-graph.js';
import { STYLESHEET } from './stylesheet.js';

export class SubgraphView {
  readonly cy: cytoscape.Core;

  constructor(container: HTMLElement, onTap: (nodeId: string) => void) {
    registerDagre();
    this.cy = cytoscape({
      container,
      style: [
        ...STYLESHEET,
        {
          selector: 'node',
          style: {
            label: 'data(short)',
            'font-size': 12,
            'text-valign': 'center',
            'text-halign': 'right',
            'text-margin-x': 4,
          },
        },
        // Pinned nodes are the ones under study: drawn at twice the link graph's size.
        { selector: 'node.feature, node.error, node.embedding, node.logit', style: { width: 20, height: 20 } },
        { selector: 'node.supernode', style: { width: 28, height: 28, 'font-size': 13 } },
      ],
      boxSelectionEnabled: true,
      selectionType: 'additive',
      minZoom: 0.2,
      maxZoom: 4,
    });
    this.cy.on('tap', 'node', (event) => onTap(event.target.id()));
    attachTooltip(this.cy, container, (id) => {
      const node = this.cy.getElementById(id);
      return node.empty() ? null : (node.data('tooltip') as string);
    });
  }

  /** Redraws the subgraph for these pinned nodes and supernodes. */
  show(graph: FigureGraph, pinnedIds: readonly string[], supernodes: readonly Supernode[]): void {
    const subgraph = buildSubgraph(graph, pinnedIds, supernodes);
    const layer = new Map(subgraph.nodes.map((n) => [n.id, n.layer]));
    const strongest = Math.max(0, ...subgraph.edges.map((e) => Math.abs(e.share)));
    const cy = this.cy;
    cy.resize(); // the pane may have just been opened (it is hidden while empty)
    cy.elements().remove();
    cy.add([
      ...subgraph.nodes.map((n): cytoscape.ElementDefinition => ({
        group: 'nodes',
        data: {
          id: n.id,
          label: n.label,
          short: shortLabel(n.label),
          members: n.members,
          tooltip: n.kind === 'supernode' ? `${n.label}\n${n.members.length} nodes: ${n.members.join(', ')}` : n.label,
        },
        classes: n.kind,
      })),
      ...subgraph.edges.map((e): cytoscape.ElementDefinition => ({
        group: 'edges',
        data: {
          id: `s:${e.source}>${e.target}`,
          source: e.source,
          target: e.target,
          ...relativeEdgeLook(e.share, strongest),
          weightLabel: formatNumber(e.weight, 2),
        },
        classes: 'subgraph-edge',
      })),
    ]);
    // Labels count in the spacing: nodes of one layer sit in a row, and their labels must not overlap.
    cy.layout({
      ...dagreOptions((id) => layer.get(id) ?? 0),
      nodeDimensionsIncludeLabels: true,
      nodeSep: 44,
    } as unknown as cytoscape.LayoutOptions).run();
    cy.fit(undefined, 24);
    // A few nodes would otherwise be blown up to fill the pane.
    if (cy.zoom() > 1.2) {
      cy.zoom(1.2);
      cy.center();
    }
    // Many pinned nodes: keep them legible and let the pane pan rather than shrink them to dots.
    if (cy.zoom() < 0.85) {
      cy.zoom(0.85);
      cy.center();
    }
  }

  markClicked(nodeId: string | null): void {
    this.cy.nodes('.clicked').removeClass('clicked');
    if (nodeId) this.cy.getElementById(nodeId).addClass('clicked');
  }

  /** Ids of the selected nodes; supernodes expand to their members. */
  selectedMembers(): string[] {
    return this.cy
      .nodes(':selected')
      .map((n) => n.data('members') as string[])
      .flat();
  }

  selectedSupernodeNames(): string[] {
    return this.cy.nodes(':selected.supernode').map((n) => n.data('label') as string);
  }

  /** The drawn positions, for exporting exactly what is on screen. */
  positions(): Map<string, Point> {
    return new Map(this.cy.nodes().map((n) => [n.id(), { ...n.position() }]));
  }

  destroy(): void {
    this.cy.destroy();
  }
}
