/**
 * The link graph in Cytoscape: every node at its preset (token column, layer band) position, the
 * prompt tokens under their columns, and only the edges of the clicked and pinned nodes
 * (DESIGN.md, decision 8), coloured by sign and sized relative to the strongest drawn edge.
 */
import cytoscape from 'cytoscape';
import { compactLabel, layoutLinkGraph, type FigureGraph, type LinkLayout } from '@circuit-atlas/figure';
import { KIND_STYLE, LINK_SPACING, linkLabelRequests, placeLabels, relativeEdgeLook } from '@circuit-atlas/figure';
import type { LinkLabelNode, Obstacle } from '@circuit-atlas/figure';
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

/** Above this many nodes the first frame holds only the nodes on and near the first screen. */
const PROGRESSIVE_NODES = 1500;
/** Deferred nodes added per task after the first paint (each add restyles only the added nodes). */
const DEFERRED_CHUNK = 1000;

/** Above this many nodes the link graph is drawn without Cytoscape's layered texture cache (drawDirectly). */
const DIRECT_DRAW_NODES = 800;

/**
 * Turns off Cytoscape's layered texture cache for this instance: on its first frame the cache
 * rasterises every element into one bitmap (about 1.5 s at 5,000 nodes on a loaded 2-core machine)
 * and again after each change of the drawn edges; drawn directly, a frame draws only the elements on
 * screen from their own cached textures. Without the internals (another Cytoscape version) nothing changes.
 */
function drawDirectly(cy: cytoscape.Core): void {
  const renderer = (cy as unknown as { renderer(): { data?: { lyrTxrCache?: { getLayers?: unknown } } } }).renderer();
  const layers = renderer.data?.lyrTxrCache;
  if (layers && typeof layers.getLayers === 'function') layers.getLayers = () => null;
}

/** Smallest drawn node diameter, in screen pixels, that the first view may show (else it zooms in and pans). */
const MIN_NODE_PIXELS = 9;

export class LinkGraphView {
  readonly cy: cytoscape.Core;
  readonly layout: LinkLayout;
  private readonly nodes: Map<string, ApiNode>;
  private readonly labelNodes: Map<string, LinkLabelNode>;
  private readonly resizeObserver: ResizeObserver;
  /** |weight| of the strongest drawn edge: every drawn edge is styled relative to it. */
  private strongest = 0;
  private focus: { clicked: string | null; pinned: readonly string[]; drawn: IndexedEdge[] } = {
    clicked: null,
    pinned: [],
    drawn: [],
  };
  private pathIds: readonly string[] = [];
  /** Every node glyph: labels avoid covering them where they can. */
  private readonly obstacles: Obstacle[];
  /** Nodes not in Cytoscape yet (large graphs: those off the first screen), by id. */
  private readonly deferred = new Map<string, cytoscape.ElementDefinition>();
  private destroyed = false;
  /** Resolves when every node is in Cytoscape (at once for graphs up to PROGRESSIVE_NODES nodes). */
  readonly complete: Promise<void>;

  constructor(
    container: HTMLElement,
    graph: Omit<FigureGraph, 'nodes'> & { nodes: ApiNode[] },
    private readonly edges: EdgeIndex,
    onTap: (event: NodeTapEvent) => void,
    options: { legend?: boolean; clicked?: string | null } = {},
  ) {
    this.layout = layoutLinkGraph(graph);
    // The first view centres on the clicked node (fitLegibly) when it has to pan.
    this.focus.clicked = options.clicked ?? null;
    this.nodes = new Map(graph.nodes.map((n) => [n.nodeId, n]));
    this.obstacles = graph.nodes.map((n) => ({ id: n.nodeId, kind: n.kind, at: this.layout.positions.get(n.nodeId)! }));
    this.labelNodes = new Map(
      graph.nodes.map((n) => [
        n.nodeId,
        { nodeId: n.nodeId, kind: n.kind, text: compactLabel(n), tokenProb: n.tokenProb },
      ]),
    );
    const elements: cytoscape.ElementDefinition[] = [];
    // Large graphs start with the nodes of the first screen; the others follow after the first paint.
    const onFirstScreen = graph.nodes.length > PROGRESSIVE_NODES ? this.firstScreen(container) : null;
    for (const node of graph.nodes) {
      const position = this.layout.positions.get(node.nodeId)!;
      const element: cytoscape.ElementDefinition = {
        group: 'nodes',
        data: { id: node.nodeId, label: node.label, short: shortLabel(compactLabel(node)) },
        position: { ...position },
        classes: node.kind,
      };
      if (!onFirstScreen || onFirstScreen(position)) elements.push(element);
      else this.deferred.set(node.nodeId, element);
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
      layout: { name: 'preset', fit: false },
      autoungrabify: true,
      boxSelectionEnabled: false,
      selectionType: 'single',
      minZoom: 0.2,
      maxZoom: 6,
      textureOnViewport: true,
    });
    if (graph.nodes.length > DIRECT_DRAW_NODES) drawDirectly(this.cy);
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
    if (options.legend !== false) container.append(linkLegend());
    this.fitLegibly();
    this.complete = this.deferred.size === 0 ? Promise.resolve() : this.addDeferredAfterPaint();
    // Refit when the pane changes size (window resize, subgraph pane opening or closing).
    let size = `${container.clientWidth}x${container.clientHeight}`;
    this.resizeObserver = new ResizeObserver(() => {
      const now = `${container.clientWidth}x${container.clientHeight}`;
      if (now === size) return;
      size = now;
      this.cy.resize();
      this.fitLegibly();
    });
    this.resizeObserver.observe(container);
  }

  /**
   * Fits the whole graph when its nodes stay legible; otherwise (long prompts) fits the height,
   * keeps nodes at least MIN_NODE_PIXELS wide and shows the start of the prompt (drag to pan, wheel
   * to zoom), centred on the clicked node when there is one.
   */
  fitLegibly(): void {
    const viewport = this.legibleViewport(this.cy.width(), this.cy.height());
    if (!viewport) return;
    this.cy.zoom(viewport.zoom);
    this.cy.pan(viewport.pan);
  }

  /** fitLegibly's zoom and pan for a pane of this size; null for a pane not laid out yet. */
  private legibleViewport(width: number, height: number): { zoom: number; pan: { x: number; y: number } } | null {
    if (width === 0 || height === 0) return null;
    const pad = 16;
    const layoutWidth = this.layout.width;
    const layoutHeight = this.layout.height;
    const fitZoom = Math.min((width - 2 * pad) / layoutWidth, (height - 2 * pad) / layoutHeight);
    const nodeSize = KIND_STYLE.feature.size;
    const legible = MIN_NODE_PIXELS / nodeSize;
    const heightZoom = (height - 2 * pad) / layoutHeight;
    // Too small when fitted whole: fill the height (nodes up to 1.5×), never below legible, and pan.
    const zoom = fitZoom >= legible ? fitZoom : Math.max(legible, Math.min(heightZoom, 1.5));
    const clicked = this.focus.clicked ? this.layout.positions.get(this.focus.clicked) : undefined;
    const graphScreenWidth = layoutWidth * zoom;
    const x =
      graphScreenWidth <= width - 2 * pad
        ? (width - graphScreenWidth) / 2
        : clicked
          ? Math.min(pad, Math.max(width - pad - graphScreenWidth, width / 2 - clicked.x * zoom))
          : pad;
    const y = layoutHeight * zoom <= height - 2 * pad ? (height - layoutHeight * zoom) / 2 : pad;
    return { zoom, pan: { x, y } };
  }

  /** Whether a layout point is on the first screen (or within half a screen of it). */
  private firstScreen(container: HTMLElement): ((at: { x: number; y: number }) => boolean) | null {
    const width = container.clientWidth;
    const height = container.clientHeight;
    const viewport = this.legibleViewport(width, height);
    if (!viewport) return null;
    const { zoom, pan } = viewport;
    const x1 = (-pan.x - width / 2) / zoom;
    const x2 = (1.5 * width - pan.x) / zoom;
    const y1 = (-pan.y - height / 2) / zoom;
    const y2 = (1.5 * height - pan.y) / zoom;
    return (at) => at.x >= x1 && at.x <= x2 && at.y >= y1 && at.y <= y2;
  }

  /** Adds the deferred nodes in chunks, the first after the browser has painted the first screen. */
  private addDeferredAfterPaint(): Promise<void> {
    return new Promise((resolve) => {
      const step = () => {
        if (this.destroyed) return resolve();
        const chunk: cytoscape.ElementDefinition[] = [];
        for (const [id, element] of this.deferred) {
          chunk.push(element);
          this.deferred.delete(id);
          if (chunk.length >= DEFERRED_CHUNK) break;
        }
        this.cy.add(chunk);
        if (this.deferred.size === 0) resolve();
        else setTimeout(step, 0);
      };
      // A timeout set in an animation frame runs after that frame is painted.
      requestAnimationFrame(() => setTimeout(step, 0));
    });
  }

  /** Adds these nodes now if they are still deferred (nodes about to carry edges, labels or a state). */
  private ensureNodes(ids: Iterable<string>): void {
    if (this.deferred.size === 0) return;
    const now: cytoscape.ElementDefinition[] = [];
    for (const id of ids) {
      const element = this.deferred.get(id);
      if (!element) continue;
      now.push(element);
      this.deferred.delete(id);
    }
    if (now.length > 0) this.cy.add(now);
  }

  /** Writes the labels that fit (placeLabels): truncated where needed, never overlapping, never clipped. */
  private placeLabels(): void {
    const cy = this.cy;
    const { clicked, pinned, drawn } = this.focus;
    const strongestFirst = [...drawn].sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight));
    const requests = linkLabelRequests(
      this.labelNodes,
      this.layout.positions,
      { clickedId: clicked, pinnedIds: pinned, pathIds: this.pathIds },
      strongestFirst,
    );
    const bounds = { x1: LINK_SPACING.left - 6, y1: 0, x2: this.layout.width, y2: this.layout.height };
    cy.nodes('.labelled').removeClass('labelled label-left');
    const placed = placeLabels(requests, bounds, undefined, this.obstacles);
    this.ensureNodes(placed.map((label) => label.id));
    for (const label of placed) {
      const node = cy.getElementById(label.id);
      node.data('short', label.text);
      node.addClass(label.side === 'left' ? 'labelled label-left' : 'labelled');
    }
  }

  /** Marks the clicked and pinned nodes and materialises exactly their edges. */
  setFocus(clicked: string | null, pinned: readonly string[]): void {
    const cy = this.cy;
    cy.batch(() => {
      cy.edges().remove();
      // Only the nodes that carry a state: a class change restyles each node it touches (5,000 at real size).
      cy.nodes('.clicked, .pinned, .labelled, .on-path').removeClass('clicked pinned labelled label-left on-path');
      const focus = new Set(pinned);
      if (clicked && this.nodes.has(clicked)) focus.add(clicked);
      const drawn = this.edges.incident(focus);
      this.ensureNodes([...focus, ...drawn.flatMap((e) => [e.source, e.target])]);
      // Weak edges first so strong ones are drawn on top.
      drawn.sort((a, b) => Math.abs(a.weight) - Math.abs(b.weight));
      // Label only the strongest neighbours: a label per drawn edge would be unreadable.
      this.strongest = Math.max(0, ...drawn.map((e) => Math.abs(e.weight)));
      cy.add(drawn.map((e) => edgeElement(e, this.strongest)));
      for (const id of pinned) cy.getElementById(id).addClass('pinned');
      if (clicked) cy.getElementById(clicked).addClass('clicked');
      this.focus = { clicked, pinned, drawn };
      this.pathIds = [];
      this.placeLabels();
    });
  }

  /** Draws exactly these edges (styled relative to the strongest) and labels their ends: the compare view. */
  drawEdges(edges: readonly IndexedEdge[]): void {
    const cy = this.cy;
    cy.batch(() => {
      cy.edges().remove();
      this.ensureNodes(edges.flatMap((e) => [e.source, e.target]));
      const drawn = [...edges].sort((a, b) => Math.abs(a.weight) - Math.abs(b.weight));
      this.strongest = Math.max(0, ...drawn.map((e) => Math.abs(e.weight)));
      cy.add(drawn.map((e) => edgeElement(e, this.strongest)));
      this.focus = { clicked: null, pinned: [], drawn };
      this.pathIds = [];
      this.placeLabels();
    });
  }

  /** Highlights one path (node ids in order), adding its edges if they are not drawn. */
  highlightPath(nodeIds: readonly string[], weights: readonly number[]): void {
    const cy = this.cy;
    cy.batch(() => {
      cy.elements('.on-path').removeClass('on-path');
      this.ensureNodes(nodeIds);
      this.pathIds = nodeIds;
      for (let i = 0; i < nodeIds.length; i++) {
        cy.getElementById(nodeIds[i]).addClass('on-path');
        if (i === 0) continue;
        const held = this.edges.between(nodeIds[i - 1], nodeIds[i]);
        // An edge of nodes not shown is not held: the path gives its weight.
        const edge = held ?? { source: nodeIds[i - 1], target: nodeIds[i], weight: weights[i - 1] ?? 0, share: null };
        const id = edgeId(nodeIds[i - 1], nodeIds[i]);
        if (cy.getElementById(id).empty()) cy.add(edgeElement(edge, Math.max(this.strongest, Math.abs(edge.weight))));
        cy.getElementById(id)
          .addClass('on-path')
          .data('weightLabel', formatNumber(weights[i - 1] ?? edge?.weight ?? 0, 2));
      }
      this.placeLabels();
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
    this.destroyed = true;
    this.resizeObserver.disconnect();
    this.cy.destroy();
  }
}

export function edgeId(source: string, target: string): string {
  return `e:${source}>${target}`;
}

export function edgeElement(e: IndexedEdge, strongest: number): cytoscape.ElementDefinition {
  const look = relativeEdgeLook(e.weight, strongest);
  return {
    group: 'edges',
    data: {
      id: edgeId(e.source, e.target),
      source: e.source,
      target: e.target,
      weight: e.weight,
      colour: look.colour,
      width: look.width,
      opacity: look.opacity,
      share: e.share,
    },
  };
}

/** The link graph's key: node kinds, edge signs, and what width and opacity mean. */
function linkLegend(): HTMLElement {
  const legend = document.createElement('div');
  legend.className = 'link-legend';
  legend.style.cssText =
    'position:absolute;right:8px;top:6px;z-index:5;background:rgba(255,255,255,0.92);border:1px solid #ddd;' +
    'border-radius:4px;padding:4px 8px;font:11px Helvetica,Arial,sans-serif;color:#333;pointer-events:none;line-height:1.5';
  const swatch = (style: string) =>
    `<span style="display:inline-block;vertical-align:middle;margin:0 3px 0 8px;${style}"></span>`;
  const kinds = (['feature', 'error', 'embedding', 'logit'] as const)
    .map((kind) => {
      const k = KIND_STYLE[kind];
      const shape =
        k.shape === 'ellipse' ? 'border-radius:50%;' : k.shape === 'diamond' ? 'transform:rotate(45deg);' : '';
      return `${swatch(`width:9px;height:9px;background:${k.fill};border:1px solid ${k.border};${shape}`)}${kind}`;
    })
    .join('');
  const look = relativeEdgeLook(1, 1);
  const negative = relativeEdgeLook(-1, 1);
  legend.innerHTML =
    `<div>${kinds}</div>` +
    `<div>${swatch(`width:18px;height:3px;background:${look.colour}`)}excites` +
    `${swatch(`width:18px;height:3px;background:${negative.colour}`)}inhibits` +
    `<span style="margin-left:8px;color:#777">width, opacity ∝ |weight| / strongest drawn</span></div>` +
    `<div style="color:#777">click: inputs &amp; outputs · Ctrl/⌘-click: pin · drag: pan · wheel: zoom</div>`;
  return legend;
}
