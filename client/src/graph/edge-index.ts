/**
 * The edges the viewer holds: those of the nodes it has shown (clicked, pinned), fetched from the
 * server on demand (DESIGN.md decision 8), edges into those nodes with their signed share of
 * the node's whole input (computed by the server, which holds every edge). A node is complete once its incident edges have
 * arrived; its inputs and outputs are then its whole lists, sorted by |weight|.
 */
import type { FigureEdge } from '@circuit-atlas/figure';

export interface IndexedEdge extends FigureEdge {
  /** Signed share of the target's Σ|input| (−1..1); null when the target's inputs are not held. */
  share: number | null;
}

/** Fetches every kept edge touching these nodes (both directions). */
export type IncidentFetcher = (nodeIds: string[]) => Promise<IndexedEdge[]>;

export class EdgeIndex {
  private readonly inputs = new Map<string, IndexedEdge[]>();
  private readonly outputs = new Map<string, IndexedEdge[]>();
  private readonly byKey = new Map<string, IndexedEdge>();
  private readonly complete = new Set<string>();
  private readonly pending = new Map<string, Promise<void>>();

  constructor(private readonly fetchIncident: IncidentFetcher) {}

  /** True when every one of these nodes has its edges here. */
  holds(nodeIds: Iterable<string>): boolean {
    for (const id of nodeIds) if (!this.complete.has(id)) return false;
    return true;
  }

  /** Fetches, in one request, the edges of the nodes that do not have them yet. */
  ensure(nodeIds: Iterable<string>): Promise<void> {
    const waits: Promise<void>[] = [];
    const missing: string[] = [];
    for (const id of new Set(nodeIds)) {
      if (this.complete.has(id)) continue;
      const inFlight = this.pending.get(id);
      if (inFlight) waits.push(inFlight);
      else missing.push(id);
    }
    if (missing.length > 0) {
      const request = this.fetchIncident(missing).then((edges) => this.add(edges, missing));
      const settled = request.finally(() => missing.forEach((id) => this.pending.delete(id)));
      missing.forEach((id) => this.pending.set(id, settled));
      waits.push(settled);
    }
    return Promise.all(waits).then(() => undefined);
  }

  private add(edges: readonly IndexedEdge[], completeIds: readonly string[]): void {
    const touched = new Set<string>();
    for (const edge of edges) {
      const key = edgeKey(edge.source, edge.target);
      if (this.byKey.has(key)) continue;
      this.byKey.set(key, edge);
      push(this.inputs, edge.target, edge);
      push(this.outputs, edge.source, edge);
      touched.add(edge.source).add(edge.target);
    }
    for (const id of completeIds) this.complete.add(id);
    const byMagnitude = (a: IndexedEdge, b: IndexedEdge): number => Math.abs(b.weight) - Math.abs(a.weight);
    for (const id of touched) {
      this.inputs.get(id)?.sort(byMagnitude);
      this.outputs.get(id)?.sort(byMagnitude);
    }
  }

  inputsOf(nodeId: string): IndexedEdge[] {
    return this.inputs.get(nodeId) ?? [];
  }

  outputsOf(nodeId: string): IndexedEdge[] {
    return this.outputs.get(nodeId) ?? [];
  }

  /** Every held edge touching one of the nodes, once. */
  incident(nodeIds: Iterable<string>): IndexedEdge[] {
    const seen = new Set<IndexedEdge>();
    for (const id of nodeIds) {
      for (const e of this.inputsOf(id)) seen.add(e);
      for (const e of this.outputsOf(id)) seen.add(e);
    }
    return [...seen];
  }

  /** The edge source → target, if it is held. */
  between(source: string, target: string): IndexedEdge | undefined {
    return this.byKey.get(edgeKey(source, target));
  }

  /** Every held edge (for figures of what is shown). */
  all(): IndexedEdge[] {
    return [...this.byKey.values()];
  }

  get size(): number {
    return this.byKey.size;
  }
}

const edgeKey = (source: string, target: string): string => `${source}\u0000${target}`;

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
