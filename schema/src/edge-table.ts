/**
 * The API's compact edge encoding: a graph's edges as three parallel arrays, endpoints given as
 * indices into the node list sent beside them (the order of `Graph.nodes`). Defined here once;
 * the server packs with `packEdgeTable`, the viewer decodes with `unpackEdgeTable`, nothing else
 * turns ids into indices or back.
 */
import type { GraphEdge, GraphNode } from './graph-document.js';

export interface EdgeTable {
  /** Index of each edge's source in the node list. */
  sources: number[];
  /** Index of each edge's target in the node list. */
  targets: number[];
  /** Signed attribution of each edge. */
  weights: number[];
}

export function packEdgeTable(
  nodes: readonly Pick<GraphNode, 'nodeId'>[],
  edges: readonly Pick<GraphEdge, 'source' | 'target' | 'weight'>[],
): EdgeTable {
  const indexOf = new Map(nodes.map((node, index) => [node.nodeId, index]));
  const index = (nodeId: string): number => {
    const found = indexOf.get(nodeId);
    if (found === undefined) throw new Error(`an edge names node '${nodeId}', which is not in the node list`);
    return found;
  };
  const table: EdgeTable = {
    sources: new Array(edges.length),
    targets: new Array(edges.length),
    weights: new Array(edges.length),
  };
  edges.forEach((edge, i) => {
    table.sources[i] = index(edge.source);
    table.targets[i] = index(edge.target);
    table.weights[i] = edge.weight;
  });
  return table;
}

export function unpackEdgeTable(
  nodes: readonly Pick<GraphNode, 'nodeId'>[],
  table: EdgeTable,
): { source: string; target: string; weight: number }[] {
  const count = table.weights.length;
  if (table.sources.length !== count || table.targets.length !== count) {
    throw new Error(`edge table arrays differ in length (${table.sources.length}/${table.targets.length}/${count})`);
  }
  const idAt = (i: number): string => {
    const node = nodes[i];
    if (!node) throw new Error(`edge table names node index ${i}; the graph has ${nodes.length} nodes`);
    return node.nodeId;
  };
  return table.weights.map((weight, i) => ({ source: idAt(table.sources[i]), target: idAt(table.targets[i]), weight }));
}
