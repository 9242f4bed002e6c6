/**
 * Where every node of a graph goes, in pure TypeScript (no DOM): the link graph's preset layout
 * (x = token column, y = layer band, embeddings at the bottom, logits at the top), the edges'
 * shares of their targets' input, and the subgraph of pinned nodes with supernodes merged.
 * The viewer (Cytoscape, preset layout) and the figure writer (svg.ts) both use it.
 */
import type { GraphEdge, GraphNode, NodeKind } from '@circuit-atlas/schema';

/** The node fields a figure needs; a GraphDocument node and an API Node both fit. */
export type FigureNode = Pick<
  GraphNode,
  'nodeId' | 'kind' | 'layer' | 'ctxIdx' | 'feature' | 'activation' | 'influence' | 'tokenProb' | 'label'
>;

export type FigureEdge = Pick<GraphEdge, 'source' | 'target' | 'weight'> & {
  /**
   * The edge's signed share of its target's whole input, when known: the viewer holds only some
   * edges (DESIGN.md decision 8), so the server computes it; absent, it is computed from the edges given.
   */
  share?: number | null;
};

/** A graph as a figure sees it; GraphDocument and the API's Graph both fit. */
export interface FigureGraph {
  prompt: string;
  promptTokens: string[];
  nLayers: number;
  nodes: FigureNode[];
  edges: FigureEdge[];
}

export interface Point {
  x: number;
  y: number;
}

export interface TokenColumn {
  ctxIdx: number;
  token: string;
  /** Left edge and width of the column. */
  x: number;
  width: number;
}

export interface LayerBand {
  /** -1 = embeddings, nLayers = logits. */
  layer: number;
  label: string;
  /** Top edge and height of the band. */
  y: number;
  height: number;
}

export interface LinkLayout {
  positions: Map<string, Point>;
  columns: TokenColumn[];
  bands: LayerBand[];
  width: number;
  height: number;
}

/** Spacing of the link graph, in layout units (pixels at zoom 1). */
export const LINK_SPACING = {
  node: 17,
  row: 17,
  columnPad: 14,
  minColumn: 34,
  bandPad: 10,
  /** Nodes per row inside one (token, layer) cell before it wraps to another row. */
  maxPerRow: 10,
  /** Room at the left for the layer labels and under the graph for the prompt tokens. */
  left: 44,
  bottom: 40,
  top: 44,
};

/** The label to show: the stored one, else a name built from the node's place (imported graphs often have none). */
export function nodeLabel(node: Pick<FigureNode, 'label' | 'kind' | 'layer' | 'feature' | 'ctxIdx'>): string {
  if (node.label) return node.label;
  if (node.kind === 'feature') return `L${node.layer} #${node.feature}`;
  if (node.kind === 'error') return `Err L${node.layer} @${node.ctxIdx}`;
  return `${node.kind} @${node.ctxIdx}`;
}

/**
 * The label a node is shown with, in the viewer and in every figure: a researcher's saved label,
 * else the automatic one from the model's feature dashboards, else `nodeLabel`.
 */
export function shownLabel(
  node: Pick<FigureNode, 'label' | 'kind' | 'layer' | 'feature' | 'ctxIdx'>,
  labels: { user?: string | null; auto?: string | null },
): string {
  return labels.user || labels.auto || nodeLabel(node);
}

/** A short form for dense places: a logit's token instead of `Output "tok" (p=0.123)`. */
export function compactLabel(node: Pick<FigureNode, 'label' | 'kind' | 'layer' | 'feature' | 'ctxIdx'>): string {
  const label = nodeLabel(node);
  const output = node.kind === 'logit' ? /^Output "(.*)" \(p=([0-9.e-]+)\)$/.exec(label) : null;
  return output ? `${output[1]} ${Number(output[2]).toFixed(2)}` : label;
}

export function bandLabel(layer: number, nLayers: number): string {
  if (layer < 0) return 'Emb';
  if (layer >= nLayers) return 'Logit';
  return `L${layer}`;
}

/** Order inside a cell: logits by probability, features by influence, errors last. */
function cellOrder(a: FigureNode, b: FigureNode): number {
  const rank = (n: FigureNode): number => (n.kind === 'error' ? 1 : 0);
  if (rank(a) !== rank(b)) return rank(a) - rank(b);
  if (a.kind === 'logit') return (b.tokenProb ?? 0) - (a.tokenProb ?? 0);
  const ia = a.influence ?? 1;
  const ib = b.influence ?? 1;
  if (ia !== ib) return ia - ib;
  return a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0;
}

/** Preset positions of the link graph (REFERENCE.md, "What the viewers do"). */
export function layoutLinkGraph(graph: FigureGraph): LinkLayout {
  const s = LINK_SPACING;
  const nPositions = Math.max(graph.promptTokens.length, 1 + Math.max(0, ...graph.nodes.map((n) => n.ctxIdx)));
  const bandLayers: number[] = [];
  for (let layer = -1; layer <= graph.nLayers; layer++) bandLayers.push(layer);
  // cells[layer + 1][ctxIdx]: the nodes of one (layer band, token column) cell
  const cells = bandLayers.map(() => Array.from({ length: nPositions }, (): FigureNode[] => []));
  for (const node of graph.nodes) {
    const layer = Math.max(-1, Math.min(graph.nLayers, node.layer));
    cells[layer + 1][node.ctxIdx].push(node);
  }
  for (const band of cells) for (const cell of band) cell.sort(cellOrder);

  const columns: TokenColumn[] = [];
  let x = s.left;
  for (let pos = 0; pos < nPositions; pos++) {
    const widest = Math.max(0, ...cells.map((band) => Math.min(band[pos].length, s.maxPerRow)));
    const width = Math.max(s.minColumn, widest * s.node + s.columnPad);
    columns.push({ ctxIdx: pos, token: graph.promptTokens[pos] ?? '', x, width });
    x += width;
  }
  const bandRows = cells.map((band) => Math.max(1, ...band.map((cell) => Math.ceil(cell.length / s.maxPerRow))));
  const bandHeights = bandRows.map((rows) => rows * s.row + s.bandPad);
  const graphHeight = bandHeights.reduce((a, b) => a + b, 0);
  const bands: LayerBand[] = [];
  const positions = new Map<string, Point>();
  // Embeddings (index 0) at the bottom, logits at the top: y grows downwards on screen.
  let bottom = s.top + graphHeight;
  bandLayers.forEach((layer, i) => {
    const top = bottom - bandHeights[i];
    bands.push({ layer, label: bandLabel(layer, graph.nLayers), y: top, height: bandHeights[i] });
    for (let pos = 0; pos < nPositions; pos++) {
      const cell = cells[i][pos];
      const column = columns[pos];
      cell.forEach((node, k) => {
        const row = Math.floor(k / s.maxPerRow);
        const inRow = Math.min(s.maxPerRow, cell.length - row * s.maxPerRow);
        const slot = k % s.maxPerRow;
        const cx = column.x + column.width / 2 + (slot - (inRow - 1) / 2) * s.node;
        const cy = bottom - s.bandPad / 2 - (row + 0.5) * s.row;
        positions.set(node.nodeId, { x: cx, y: cy });
      });
    }
    bottom = top;
  });
  return { positions, columns, bands, width: x + 8, height: s.top + graphHeight + s.bottom };
}

/** Σ|weight| of each target's incoming edges: the denominator of an edge's share. */
export function targetInputTotals(edges: readonly FigureEdge[]): Map<string, number> {
  const totals = new Map<string, number>();
  for (const edge of edges) totals.set(edge.target, (totals.get(edge.target) ?? 0) + Math.abs(edge.weight));
  return totals;
}

/** Signed share of the target's absolute input carried by one edge (−1..1). */
export function signedShare(edge: FigureEdge, totals: ReadonlyMap<string, number>): number {
  if (edge.share !== undefined && edge.share !== null) return edge.share;
  const total = totals.get(edge.target) ?? 0;
  return total > 0 ? edge.weight / total : 0;
}

/** The edges drawn in the link graph: those touching a focus (clicked or pinned) node. */
export function focusEdges(edges: readonly FigureEdge[], focusIds: Iterable<string>): FigureEdge[] {
  const focus = new Set(focusIds);
  return edges.filter((e) => focus.has(e.source) || focus.has(e.target));
}

/** The most probable target logit: what the viewer selects first, and what a figure focuses on. */
export function topLogit(graph: FigureGraph): FigureNode | undefined {
  let best: FigureNode | undefined;
  for (const node of graph.nodes) {
    if (node.kind === 'logit' && (!best || (node.tokenProb ?? 0) > (best.tokenProb ?? 0))) best = node;
  }
  return best;
}

export interface Supernode {
  name: string;
  nodeIds: string[];
}

/** A node of the subgraph: a pinned node, or a supernode standing for several. */
export interface SubgraphNode {
  id: string;
  kind: NodeKind | 'supernode';
  label: string;
  /** Mean layer of its members, for the layer-ranked layout. */
  layer: number;
  ctxIdx: number;
  members: string[];
}

export interface SubgraphEdge {
  source: string;
  target: string;
  /** Sum of the member edges' weights (supernodes sum their edges, as in the reference viewer). */
  weight: number;
  /** Share of the target's absolute input in the whole graph, summed over member edges. */
  share: number;
}

export interface Subgraph {
  nodes: SubgraphNode[];
  edges: SubgraphEdge[];
}

export const SUPERNODE_PREFIX = 'sn:';

/**
 * The subgraph of the pinned nodes: every edge among them, with the members of each supernode
 * merged into one node and their edges summed.
 */
export function buildSubgraph(
  graph: FigureGraph,
  pinnedIds: readonly string[],
  supernodes: readonly Supernode[],
): Subgraph {
  const byId = new Map(graph.nodes.map((n) => [n.nodeId, n]));
  const owner = new Map<string, string>();
  const nodes: SubgraphNode[] = [];
  for (const supernode of supernodes) {
    const members = supernode.nodeIds.filter((id) => byId.has(id));
    if (members.length === 0) continue;
    const id = SUPERNODE_PREFIX + supernode.name;
    for (const m of members) owner.set(m, id);
    const layers = members.map((m) => byId.get(m)!.layer);
    nodes.push({
      id,
      kind: 'supernode',
      label: supernode.name,
      layer: layers.reduce((a, b) => a + b, 0) / layers.length,
      ctxIdx: Math.max(...members.map((m) => byId.get(m)!.ctxIdx)),
      members,
    });
  }
  for (const id of pinnedIds) {
    const node = byId.get(id);
    if (!node || owner.has(id)) continue;
    owner.set(id, id);
    nodes.push({ id, kind: node.kind, label: nodeLabel(node), layer: node.layer, ctxIdx: node.ctxIdx, members: [id] });
  }
  const totals = targetInputTotals(graph.edges);
  const merged = new Map<string, SubgraphEdge>();
  for (const edge of graph.edges) {
    const source = owner.get(edge.source);
    const target = owner.get(edge.target);
    if (!source || !target || source === target) continue;
    const key = `${source}\u0000${target}`;
    const entry = merged.get(key) ?? { source, target, weight: 0, share: 0 };
    entry.weight += edge.weight;
    entry.share += signedShare(edge, totals);
    merged.set(key, entry);
  }
  return { nodes, edges: [...merged.values()] };
}
