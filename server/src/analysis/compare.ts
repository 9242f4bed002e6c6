/**
 * Comparison of two attribution graphs (DESIGN.md, decision 6), written once over GraphDocuments so
 * both stores give the same answer. The result maps one-to-one onto the SDL's GraphComparison.
 *
 * Nodes are matched across prompts of different lengths by position counted from the end of the
 * prompt (0 = last token), because the answer is read at the last position:
 *   feature    (model, transcoderSet, layer, feature index, positionFromEnd)
 *   error      (layer, positionFromEnd)
 *   embedding  (token id, positionFromEnd)
 *   logit      (token id)
 * BOS (position 0) matches BOS. Only features are reported as shared / only-in-one; edges are
 * shared when both ends match.
 */
import type { GraphDocument, GraphNode } from '@circuit-atlas/schema';
import type { GraphSummary } from '../store/graph-store.js';

export interface SharedFeature {
  layer: number;
  index: number;
  /** Position counted from the end of the prompt (0 = last token). */
  positionFromEnd: number;
  nodeIdA: string;
  nodeIdB: string;
  activationA: number | null;
  activationB: number | null;
  influenceA: number | null;
  influenceB: number | null;
}

export interface SharedEdge {
  sourceA: string;
  targetA: string;
  sourceB: string;
  targetB: string;
  weightA: number;
  weightB: number;
}

export interface GraphComparison {
  graphA: GraphSummary;
  graphB: GraphSummary;
  /** Sorted by layer, then feature index, then positionFromEnd descending (prompt order). */
  shared: SharedFeature[];
  /** Features of A with no match in B, in A's node order. */
  onlyInA: GraphNode[];
  /** Features of B with no match in A, in B's node order. */
  onlyInB: GraphNode[];
  /** Sorted by |weightA − weightB| descending, then A's source and target ids. */
  sharedEdges: SharedEdge[];
}

/** The summary of a document as compared (its counts are those of the document given). */
export function summaryOf(graph: GraphDocument): GraphSummary {
  return {
    id: graph.id,
    prompt: graph.prompt,
    model: graph.model,
    transcoderSet: graph.transcoderSet,
    createdAt: graph.createdAt,
    nodeCount: graph.nodes.length,
    edgeCount: graph.edges.length,
    scores: graph.scores,
    settings: graph.settings,
  };
}

/** Number of prompt positions: the token list, or (imported graphs without tokens) the largest ctxIdx + 1. */
function positionCount(graph: GraphDocument): number {
  if (graph.promptTokens.length > 0) return graph.promptTokens.length;
  return graph.nodes.reduce((max, n) => Math.max(max, n.ctxIdx + 1), 0);
}

/** The cross-prompt identity of a node (see the header). */
function matchKey(graph: GraphDocument, node: GraphNode, nPos: number): string {
  // BOS (position 0) stays BOS: it starts every prompt, whatever its length.
  const fromEnd = node.ctxIdx === 0 ? 'bos' : String(nPos - 1 - node.ctxIdx);
  switch (node.kind) {
    case 'feature':
      return `F\u0000${graph.model}\u0000${graph.transcoderSet}\u0000${node.layer}\u0000${node.feature}\u0000${fromEnd}`;
    case 'error':
      return `R\u0000${node.layer}\u0000${fromEnd}`;
    case 'embedding':
      return `E\u0000${node.feature}\u0000${fromEnd}`;
    case 'logit':
      return `L\u0000${node.feature}`;
  }
}

export function compareGraphs(a: GraphDocument, b: GraphDocument): GraphComparison {
  const nPosA = positionCount(a);
  const nPosB = positionCount(b);
  const keyOfA = new Map(a.nodes.map((n) => [n.nodeId, matchKey(a, n, nPosA)]));
  const nodeOfB = new Map(b.nodes.map((n) => [matchKey(b, n, nPosB), n]));
  const matchedB = new Map<string, GraphNode>(); // A's node id → B's node

  const shared: SharedFeature[] = [];
  const onlyInA: GraphNode[] = [];
  for (const node of a.nodes) {
    const other = nodeOfB.get(keyOfA.get(node.nodeId)!);
    if (other) matchedB.set(node.nodeId, other);
    if (node.kind !== 'feature') continue;
    if (!other) {
      onlyInA.push(node);
      continue;
    }
    shared.push({
      layer: node.layer,
      index: node.feature!,
      positionFromEnd: nPosA - 1 - node.ctxIdx,
      nodeIdA: node.nodeId,
      nodeIdB: other.nodeId,
      activationA: node.activation,
      activationB: other.activation,
      influenceA: node.influence,
      influenceB: other.influence,
    });
  }
  const matchedInB = new Set([...matchedB.values()].map((n) => n.nodeId));
  const onlyInB = b.nodes.filter((n) => n.kind === 'feature' && !matchedInB.has(n.nodeId));
  shared.sort(
    (x, y) =>
      x.layer - y.layer ||
      x.index - y.index ||
      y.positionFromEnd - x.positionFromEnd ||
      (x.nodeIdA < y.nodeIdA ? -1 : 1),
  );

  const weightOfB = new Map(b.edges.map((e) => [`${e.source}\u0000${e.target}`, e.weight]));
  const sharedEdges: SharedEdge[] = [];
  for (const e of a.edges) {
    const source = matchedB.get(e.source);
    const target = matchedB.get(e.target);
    if (!source || !target) continue;
    const weightB = weightOfB.get(`${source.nodeId}\u0000${target.nodeId}`);
    if (weightB === undefined) continue;
    sharedEdges.push({
      sourceA: e.source,
      targetA: e.target,
      sourceB: source.nodeId,
      targetB: target.nodeId,
      weightA: e.weight,
      weightB,
    });
  }
  sharedEdges.sort(
    (x, y) =>
      Math.abs(y.weightA - y.weightB) - Math.abs(x.weightA - x.weightB) ||
      (x.sourceA < y.sourceA
        ? -1
        : x.sourceA > y.sourceA
          ? 1
          : x.targetA < y.targetA
            ? -1
            : x.targetA > y.targetA
              ? 1
              : 0),
  );

  return { graphA: summaryOf(a), graphB: summaryOf(b), shared, onlyInA, onlyInB, sharedEdges };
}
