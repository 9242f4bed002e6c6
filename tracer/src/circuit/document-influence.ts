/**
 * Influence on the target logits within a pruned GraphDocument, and the per-node edge lists the
 * circuit code reads. Same definition as the tracer's pruning ("Circuit Tracing", §3.3):
 * Â = |A| / rowsum(|A|), influence = Σ_{k≥1} w Âᵏ with w = logit probabilities, computed in one
 * pass from the top layer down (a pruned graph's edges always go from a lower layer to a higher one).
 */
import type { GraphDocument, GraphEdge } from '@circuit-atlas/schema';

export interface IncidentEdges {
  /** Edges into each node, keyed by target id. */
  incoming: Map<string, GraphEdge[]>;
  /** Edges out of each node, keyed by source id. */
  outgoing: Map<string, GraphEdge[]>;
  /** Σ |weight| of the edges into each node: the denominator of an edge's share of its target's input. */
  inputTotal: Map<string, number>;
}

export function incidentEdges(doc: GraphDocument): IncidentEdges {
  const incoming = new Map<string, GraphEdge[]>();
  const outgoing = new Map<string, GraphEdge[]>();
  const inputTotal = new Map<string, number>();
  for (const edge of doc.edges) {
    if (!incoming.has(edge.target)) incoming.set(edge.target, []);
    if (!outgoing.has(edge.source)) outgoing.set(edge.source, []);
    incoming.get(edge.target)!.push(edge);
    outgoing.get(edge.source)!.push(edge);
    inputTotal.set(edge.target, (inputTotal.get(edge.target) ?? 0) + Math.abs(edge.weight));
  }
  return { incoming, outgoing, inputTotal };
}

/** Influence of every node on the graph's logits (logits themselves: 0), by node id. */
export function documentInfluence(doc: GraphDocument, edges = incidentEdges(doc)): Map<string, number> {
  const influence = new Map<string, number>();
  const total = new Map<string, number>(); // influence + w: what a node hands down to its sources
  for (const node of doc.nodes) {
    influence.set(node.nodeId, 0);
    total.set(node.nodeId, node.kind === 'logit' ? (node.tokenProb ?? 0) : 0);
  }
  const byLayerDown = [...doc.nodes].sort((a, b) => b.layer - a.layer);
  for (const node of byLayerDown) {
    const handed = total.get(node.nodeId) ?? 0;
    const denominator = edges.inputTotal.get(node.nodeId) ?? 0;
    if (handed === 0 || denominator === 0) continue;
    for (const edge of edges.incoming.get(node.nodeId) ?? []) {
      const share = (Math.abs(edge.weight) / denominator) * handed;
      influence.set(edge.source, (influence.get(edge.source) ?? 0) + share);
      total.set(edge.source, (total.get(edge.source) ?? 0) + share);
    }
  }
  return influence;
}
