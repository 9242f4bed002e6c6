/**
 * The link graph in Cytoscape: every node at its preset (token column, layer band) position, the
 * prompt tokens under their columns, and only the edges of the clicked and pinned nodes
 * (DESIGN.md, decision 8), coloured by sign and sized by share.
 */
import cytoscape from 'cytoscape';
import { compactLabel, layoutLinkGraph, type FigureGraph, type LinkLayout } from '@circuit-atlas/figure';
import { edgeColour, edgeWidth } from '@circuit-atlas/figure';
import { formatNumber } from '../dom.js';
import type { ApiNode } from '../api/types.js';
import type { EdgeIndex, IndexedEdge } from './edge-index.js';
import { STYLESHEET } from './stylesheet.js';

export interface NodeTapEvent {
  nodeId: string;
  /** Ctrl/Cmd held: pin or unpin instead of click. */
  toggle: boolean;
}

const SHORT_LABEL = 26;
const LABELLED_NEIGHBOURS = 12;

export function shortLabel(label: string): string {
  return label.length > SHORT_LABEL ? `${label.slice(0, SHORT_LABEL - 1)}…` : label;
}

export function nodeTooltip(node: ApiNode): string {
  const lines = [node.label, `${node.kind} · layer ${node.layer} · position ${node.ctxIdx}`];
  if (node.activation !== null) lines.push(`activation ${formatNumber(node.activation)}`);
  if (node.influence !== null) lines.push(`influence ${formatNumber(node.influence)}`);
  if (node.tokenProb !== null) lines.push(`p = ${formatNumber(node.tokenProb)}`);
  return lines.join('\n');
}

/** Shows a tooltip next to the pointer for hovered nodes of a Cytoscape instance. */
export function attachTooltip(cy: cytoscape.Core, container: HTMLElement, text: (id: string) => string | null): void {
  const tip = document.createElement('div');
  tip.className = 'tooltip';
  tip.hidden = true;
  container.append(tip);
  cy.on('mouseover', 'node', (event) => {
    const content = text(event.target.id());
    if (!content) return;
    tip.textContent = content;
    const p = event.renderedPosition;
    tip.style.left = `${p.x + 12}px`;
    tip.style.top = `${p.y + 12}px`;
    tip.hidden = false;
  });
  cy.on('mouseout', 'node', () => {
    tip.hidden = true;
  });
}

export class LinkGraphView {
  readonly cy: cytoscape.Core;
  readonly layout: LinkLayout;
  private readonly nodes: Map<string, ApiNode>;

  constructor(
    container: HTMLElement,
    graph: Omit<FigureGraph, 'nodes'> & { nodes: ApiNode[] },
    private readonly edges: EdgeIndex,
    onTap: (event: NodeTapEvent) => void,
  ) {
    this.layout = layoutLinkGraph(graph);
    this.nodes = new Map(graph.nodes.map((n) => [n.nodeId, n]));
    const elements: cytoscape.ElementDefinition[] = [];
    for (const node of graph.nodes) {
      elements.push({
        group: 'nodes',
        data: { id: node.nodeId, label: node.label, short: shortLabel(compactLabel(node)) },
        position: { ...this.layout.positions.get(node.nodeId)! },
        classes: node.kind,
      });
    }
    const axisY = Math.max(...this.layout.bands.map((b) => b.y + b.height));
    for (const column of this.layout.columns) {
      elements.push({
        group: 'nodes',
        data: { id: `token:${column.ctxIdx}`, label: column.token },
        position: { x: column.x + column.width / 2, y: axisY + 4 },
        classes: 'token-label',
        selectable: false,
        grabbable: false,
      });
    }
    for (const band of this.layout.bands) {
      elements.push({
        group: 'nodes',
        data: { id: `band:${band.layer}`, label: band.label },
        position: { x: 4, y: band.y + band.height / 2 },
        classes: 'band-label',
        selectable: false,
        grabbable: false,
      });
    }
    this.cy = cytoscape({
      container,
      elements,
      style: STYLESHEET,
      layout: { name: 'preset', fit: true, padding: 16 },
      autoungrabify: true,
      boxSelectionEnabled: false,
      selectionType: 'single',
      minZoom: 0.2,
      maxZoom: 6,
      textureOnViewport: true,
    });
    this.cy.on('tap', 'node', (event) => {
      const original = event.originalEvent as MouseEvent | undefined;
      const id = event.target.id() as string;
      if (!this.nodes.has(id)) return;
      onTap({ nodeId: id, toggle: Boolean(original && (original.ctrlKey || original.metaKey)) });
    });
    attachTooltip(this.cy, container, (id) => {
      const node = this.nodes.get(id);
      return node ? nodeTooltip(node) : null;
    });
  }

  /** Marks the clicked and pinned nodes and materialises exactly their edges. */
  setFocus(clicked: string | null, pinned: readonly string[]): void {
    const cy = this.cy;
    cy.batch(() => {
      cy.edges().remove();
      cy.nodes().removeClass('clicked pinned labelled on-path');
      const focus = new Set(pinned);
      if (clicked && this.nodes.has(clicked)) focus.add(clicked);
      const drawn = this.edges.incident(focus);
      // Weak edges first so strong ones are drawn on top.
      drawn.sort((a, b) => Math.abs(a.share) - Math.abs(b.share));
      cy.add(drawn.map((e) => edgeElement(e)));
      // Label only the strongest neighbours: a label per drawn edge would be unreadable.
      for (const e of drawn.slice(-LABELLED_NEIGHBOURS)) {
        cy.getElementById(e.source).addClass('labelled');
        cy.getElementById(e.target).addClass('labelled');
      }
      for (const id of pinned) cy.getElementById(id).addClass('pinned labelled');
      if (clicked) cy.getElementById(clicked).addClass('clicked labelled');
    });
  }

  /** Highlights one path (node ids in order), adding its edges if they are not drawn. */
  highlightPath(nodeIds: readonly string[], weights: readonly number[]): void {
    const cy = this.cy;
    cy.batch(() => {
      cy.elements('.on-path').removeClass('on-path');
      for (let i = 0; i < nodeIds.length; i++) {
        cy.getElementById(nodeIds[i]).addClass('on-path');
        if (i === 0) continue;
        const held = this.edges.between(nodeIds[i - 1], nodeIds[i]);
        // An edge of nodes not shown is not held: its share is unknown, so it is drawn mid-width.
        const edge = held ?? {
          source: nodeIds[i - 1],
          target: nodeIds[i],
          weight: weights[i - 1] ?? 0,
          share: Math.sign(weights[i - 1] ?? 0) * 0.25,
        };
        const id = edgeId(nodeIds[i - 1], nodeIds[i]);
        if (cy.getElementById(id).empty()) cy.add(edgeElement(edge));
        cy.getElementById(id)
          .addClass('on-path')
          .data('weightLabel', formatNumber(weights[i - 1] ?? edge?.weight ?? 0, 2));
      }
    });
  }

  /** Centre of a node on the page (for tests and the benchmark: real mouse clicks). */
  pagePosition(nodeId: string): { x: number; y: number } | null {
    const node = this.cy.getElementById(nodeId);
    if (node.empty()) return null;
    const box = this.cy.container()!.getBoundingClientRect();
    const p = node.renderedPosition();
    return { x: box.left + p.x, y: box.top + p.y };
  }

  destroy(): void {
    this.cy.destroy();
  }
}

export function edgeId(source: string, target: string): string {
  return `e:${source}>${target}`;
}

export function edgeElement(e: IndexedEdge): cytoscape.ElementDefinition {
  return {
    group: 'edges',
    data: {
      id: edgeId(e.source, e.target),
      source: e.source,
      target: e.target,
      weight: e.weight,
      colour: edgeColour(e.share),
      width: edgeWidth(e.share),
    },
  };
}
