/**
 * Two graphs on one canvas: their features placed by (layer, position counted from the end of the
 * prompt), a shared feature drawn once, features of only one graph marked by which; the shared
 * edges drawn by how their weight changed from A to B. Pure data: the compare page draws it with
 * the link graph's view, layout and label placement.
 */
import type { ApiEdge, ApiGraph, ApiNode, GraphComparison } from '../api/types.js';

export type MergedSide = 'shared' | 'only-a' | 'only-b';

export interface MergedNode extends ApiNode {
  side: MergedSide;
  /** The node in A and in B (null where absent). */
  nodeIdA: string | null;
  nodeIdB: string | null;
}

export interface MergedEdge extends ApiEdge {
  weightA: number;
  weightB: number;
  /** weightB − weightA. */
  change: number;
}

export interface MergedGraph {
  prompt: string;
  promptTokens: string[];
  nLayers: number;
  nodes: MergedNode[];
  edges: MergedEdge[];
}

/** The merged picture of a comparison; the graphs' nodes give labels and places. */
export function mergeComparison(
  a: ApiGraph,
  b: ApiGraph,
  comparison: GraphComparison,
  sharedEdges: readonly { sourceA: string; targetA: string; weightA: number; weightB: number }[],
): MergedGraph {
  const length = Math.max(a.promptTokens.length, b.promptTokens.length);
  // Columns aligned at the end of the prompts: position p of a prompt of n tokens is column length − n + p.
  const column = (graph: ApiGraph, ctxIdx: number) => length - graph.promptTokens.length + ctxIdx;
  const tokenAt = (graph: ApiGraph, col: number) => graph.promptTokens[col - (length - graph.promptTokens.length)];
  const promptTokens = Array.from({ length }, (_, col) => {
    const ta = tokenAt(a, col);
    const tb = tokenAt(b, col);
    return ta === tb ? (ta ?? '') : `${ta ?? '·'} / ${tb ?? '·'}`;
  });
  const nodesA = new Map(a.nodes.map((n) => [n.nodeId, n]));
  const nodesB = new Map(b.nodes.map((n) => [n.nodeId, n]));
  const nodes: MergedNode[] = [];
  const mergedIdOfA = new Map<string, string>();
  for (const s of comparison.shared) {
    const nodeA = nodesA.get(s.nodeIdA);
    if (!nodeA) continue;
    const id = `shared:${s.nodeIdA}`;
    mergedIdOfA.set(s.nodeIdA, id);
    nodes.push({
      ...nodeA,
      nodeId: id,
      ctxIdx: column(a, nodeA.ctxIdx),
      side: 'shared',
      nodeIdA: s.nodeIdA,
      nodeIdB: s.nodeIdB,
    });
  }
  const only = (graph: ApiGraph, list: ApiNode[], side: MergedSide, byId: Map<string, ApiNode>) => {
    for (const listed of list) {
      if (listed.kind !== 'feature') continue;
      const node = byId.get(listed.nodeId) ?? listed;
      nodes.push({
        ...node,
        nodeId: `${side}:${node.nodeId}`,
        ctxIdx: column(graph, node.ctxIdx),
        side,
        nodeIdA: side === 'only-a' ? node.nodeId : null,
        nodeIdB: side === 'only-b' ? node.nodeId : null,
      });
    }
  };
  only(a, comparison.onlyInA, 'only-a', nodesA);
  only(b, comparison.onlyInB, 'only-b', nodesB);
  const edges: MergedEdge[] = [];
  for (const e of sharedEdges) {
    const source = mergedIdOfA.get(e.sourceA);
    const target = mergedIdOfA.get(e.targetA);
    if (!source || !target) continue;
    edges.push({
      source,
      target,
      weight: e.weightB - e.weightA,
      weightA: e.weightA,
      weightB: e.weightB,
      change: e.weightB - e.weightA,
    });
  }
  return { prompt: `${a.prompt} ⇄ ${b.prompt}`, promptTokens, nLayers: Math.max(a.nLayers, b.nLayers), nodes, edges };
}
