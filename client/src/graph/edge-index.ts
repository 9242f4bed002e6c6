/**
 * Incident edges of every node of the open graph, sorted by |weight|, with each edge's signed
 * share of its target's absolute input: what the node panel lists and the link graph draws.
 */
import { signedShare, targetInputTotals, type FigureEdge } from '@circuit-atlas/figure';

export interface IndexedEdge extends FigureEdge {
  /** Signed share of the target's Σ|input| (−1..1). */
  share: number;
}

export class EdgeIndex {
  private readonly inputs = new Map<string, IndexedEdge[]>();
  private readonly outputs = new Map<string, IndexedEdge[]>();

  constructor(edges: readonly FigureEdge[]) {
    const totals = targetInputTotals(edges);
    for (const edge of edges) {
      const indexed = { ...edge, share: signedShare(edge, totals) };
      push(this.inputs, edge.target, indexed);
      push(this.outputs, edge.source, indexed);
    }
    const byMagnitude = (a: IndexedEdge, b: IndexedEdge): number => Math.abs(b.weight) - Math.abs(a.weight);
    for (const list of this.inputs.values()) list.sort(byMagnitude);
    for (const list of this.outputs.values()) list.sort(byMagnitude);
  }

  inputsOf(nodeId: string): IndexedEdge[] {
    return this.inputs.get(nodeId) ?? [];
  }

  outputsOf(nodeId: string): IndexedEdge[] {
    return this.outputs.get(nodeId) ?? [];
  }

  /** Every edge touching one of the nodes, once. */
  incident(nodeIds: Iterable<string>): IndexedEdge[] {
    const seen = new Set<IndexedEdge>();
    for (const id of nodeIds) {
      for (const e of this.inputsOf(id)) seen.add(e);
      for (const e of this.outputsOf(id)) seen.add(e);
    }
    return [...seen];
  }

  /** The edge source → target, if the graph has it. */
  between(source: string, target: string): IndexedEdge | undefined {
    return this.outputsOf(source).find((e) => e.target === target);
  }
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
