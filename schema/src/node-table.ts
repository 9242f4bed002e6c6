/**
 * The API's compact node encoding: a graph's nodes as parallel arrays, one per field, in the order
 * of `Graph.nodes` (the order edge tables index). A 5,000-node graph is one object of eleven arrays
 * instead of 5,000 objects, which the server builds and the browser parses several times faster.
 * Defined here once: the server packs with `packNodeTable`, the viewer decodes with `unpackNodeTable`.
 */
import type { GraphNode } from './graph-document.js';
import type { NodeKind } from './node-id.js';

export interface NodeTable {
  nodeIds: string[];
  kinds: NodeKind[];
  layers: number[];
  ctxIdx: number[];
  features: (number | null)[];
  activations: (number | null)[];
  influences: (number | null)[];
  tokenProbs: (number | null)[];
  isTargetLogit: boolean[];
  /** The stored labels. */
  labels: string[];
  /** What each node is shown with (saved label, else automatic, else stored, else a place name). */
  shownLabels: string[];
}

/** A node as the table carries it: the graph node plus the label it is shown with. */
export type TableNode = GraphNode & { shownLabel: string };

export function packNodeTable(nodes: readonly GraphNode[], shownLabels: readonly string[]): NodeTable {
  if (shownLabels.length !== nodes.length) {
    throw new Error(`a node table needs one shown label per node (${shownLabels.length} for ${nodes.length} nodes)`);
  }
  return {
    nodeIds: nodes.map((n) => n.nodeId),
    kinds: nodes.map((n) => n.kind),
    layers: nodes.map((n) => n.layer),
    ctxIdx: nodes.map((n) => n.ctxIdx),
    features: nodes.map((n) => n.feature),
    activations: nodes.map((n) => n.activation),
    influences: nodes.map((n) => n.influence),
    tokenProbs: nodes.map((n) => n.tokenProb),
    isTargetLogit: nodes.map((n) => n.isTargetLogit),
    labels: nodes.map((n) => n.label),
    shownLabels: [...shownLabels],
  };
}

export function unpackNodeTable(table: NodeTable): TableNode[] {
  const count = table.nodeIds.length;
  const columns = Object.entries(table) as [string, unknown[]][];
  const uneven = columns.find(([, values]) => values.length !== count);
  if (uneven) throw new Error(`node table column '${uneven[0]}' has ${uneven[1].length} entries for ${count} nodes`);
  return table.nodeIds.map((nodeId, i) => ({
    nodeId,
    kind: table.kinds[i],
    layer: table.layers[i],
    ctxIdx: table.ctxIdx[i],
    feature: table.features[i],
    activation: table.activations[i],
    influence: table.influences[i],
    tokenProb: table.tokenProbs[i],
    isTargetLogit: table.isTargetLogit[i],
    label: table.labels[i],
    shownLabel: table.shownLabels[i],
  }));
}
