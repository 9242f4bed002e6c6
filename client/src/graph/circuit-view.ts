/**
 * The circuit view in the browser: the figure layout of @circuit-atlas/figure (`circuitFigure`)
 * drawn by Cytoscape with preset positions — the same boxes, labels, edge widths and colours as
 * the exported SVG, so what a researcher sees is what they export.
 */
import cytoscape from 'cytoscape';
import { CIRCUIT_BOX_STYLE, CIRCUIT_FIGURE, STATE_COLOUR, type CircuitFigureSpec } from '@circuit-atlas/figure';
import { attachTooltip } from './link-graph.js';

/** A label's box on the page, in CSS pixels (for the overlap check of the browser tests). */
export interface LabelBox {
  id: string;
  text: string;
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

const STYLE: cytoscape.StylesheetJson = [
  {
    selector: 'node',
    style: {
      shape: 'round-rectangle',
      width: 'data(width)',
      height: 'data(height)',
      label: 'data(text)',
      'font-size': CIRCUIT_FIGURE.fontSize,
      'font-family': CIRCUIT_FIGURE.fontFamily,
      color: STATE_COLOUR.text,
      'text-valign': 'center',
      'text-halign': 'center',
      'background-color': 'data(fill)',
      'border-color': 'data(border)',
      'border-width': 'data(borderWidth)',
    },
  },
  { selector: 'node.selected-box', style: { 'border-color': STATE_COLOUR.clicked, 'border-width': 2.5 } },
  {
    selector: 'edge',
    style: {
      width: 'data(width)',
      'line-color': 'data(colour)',
      'curve-style': 'unbundled-bezier',
      'control-point-distances': 'data(bend)',
      'control-point-weights': 0.5,
      'source-endpoint': '0% -50%',
      'target-endpoint': '0% 50%',
      opacity: 0.85,
    },
  },
  { selector: 'edge.touching', style: { opacity: 1, 'z-index': 10 } },
  { selector: 'edge.faded', style: { opacity: 0.15 } },
];

export class CircuitGraphView {
  readonly cy: cytoscape.Core;
  private spec: CircuitFigureSpec | null = null;

  constructor(
    private readonly container: HTMLElement,
    onTap: (id: string) => void,
  ) {
    this.cy = cytoscape({
      container,
      style: STYLE,
      autoungrabify: true,
      boxSelectionEnabled: false,
      minZoom: 0.2,
      maxZoom: 3,
    });
    this.cy.on('tap', 'node', (event) => onTap(event.target.id()));
    attachTooltip(this.cy, container, (id) => {
      const node = this.cy.getElementById(id);
      return node.empty() ? null : (node.data('title') as string);
    });
  }

  /** Draws the figure's boxes and edges at their layout positions and fits them in the view. */
  show(spec: CircuitFigureSpec): void {
    this.spec = spec;
    // A hovered box may be gone after the redraw: its tooltip must not stay behind.
    for (const tip of this.container.querySelectorAll<HTMLElement>('.tooltip')) tip.hidden = true;
    const cy = this.cy;
    const byId = new Map(spec.boxes.map((b) => [b.id, b]));
    cy.elements().remove();
    cy.add([
      ...spec.boxes.map((b): cytoscape.ElementDefinition => ({
        group: 'nodes',
        data: {
          id: b.id,
          text: b.text,
          title: b.label,
          width: b.width,
          height: b.height,
          fill: CIRCUIT_BOX_STYLE[b.kind].fill,
          border: CIRCUIT_BOX_STYLE[b.kind].border,
          borderWidth: b.kind === 'supernode' || b.kind === 'logit' ? 1.6 : 1,
        },
        position: { x: b.x, y: b.y },
        classes: b.kind,
      })),
      ...spec.edges.map((e, i): cytoscape.ElementDefinition => {
        const [s, t] = [byId.get(e.source)!, byId.get(e.target)!];
        return {
          group: 'edges',
          // A slight bend keeps edges between the same columns apart, as the SVG's curves do.
          data: {
            id: `ce${i}`,
            source: e.source,
            target: e.target,
            width: e.width,
            colour: e.colour,
            bend: (t.x - s.x) * 0.08,
            share: e.share,
          },
        };
      }),
    ]);
    cy.fit(undefined, 16);
  }

  /** Outlines the selected box and brings its edges forward. */
  markSelected(id: string | null): void {
    this.cy.nodes().removeClass('selected-box');
    this.cy.edges().removeClass('touching faded');
    if (!id) return;
    const node = this.cy.getElementById(id);
    if (node.empty()) return;
    node.addClass('selected-box');
    const touching = node.connectedEdges();
    touching.addClass('touching');
    this.cy.edges().difference(touching).addClass('faded');
  }

  /** Every box's label as Cytoscape drew it, in page pixels. */
  labelBoxes(): LabelBox[] {
    const rect = this.container.getBoundingClientRect();
    return this.cy.nodes().map((node) => {
      const box = node.renderedBoundingBox({ includeNodes: false, includeLabels: true, includeEdges: false });
      return {
        id: node.id(),
        text: node.data('text') as string,
        x1: rect.left + box.x1,
        y1: rect.top + box.y1,
        x2: rect.left + box.x2,
        y2: rect.top + box.y2,
      };
    });
  }

  get figure(): CircuitFigureSpec | null {
    return this.spec;
  }

  destroy(): void {
    this.cy.destroy();
  }
}
