/**
 * Top-k strongest paths through an attribution graph (DESIGN.md, decision 6), written once over a
 * GraphDocument so both stores give the same answer.
 *
 * An edge s → t is scored by its normalized weight |A[t,s]| / Σ_s' |A[t,s']| — its share of the
 * target's absolute input, as the reference normalizes the adjacency (REFERENCE.md, Â). A path's
 * score is the product of its edges' normalized weights. Because every factor is ≤ 1, a path's
 * score never grows when it is extended, so best-first search pops complete paths in score order.
 * Ties are broken by the path's node ids, compared element by element.
 */
import type { GraphDocument } from '@circuit-atlas/schema';
import { UserInputError } from '@circuit-atlas/tracer';

export interface Path {
  nodeIds: string[];
  /** Product of normalized edge weights along the path. */
  score: number;
  /** Raw (signed) edge weights along the path. */
  weights: number[];
}

export interface PathQuery {
  from: string;
  /** A node id, or null for "any logit node". */
  to: string | null;
  /** How many paths (default 5). */
  k?: number;
  /** Most edges on a path (default 6). */
  maxLength?: number;
}

interface OutEdge {
  target: number;
  weight: number;
  normalized: number;
}

interface Partial {
  nodes: number[];
  weights: number[];
  score: number;
}

/** Compares partial paths: higher score first, then node ids in order. */
function makeCompare(ids: string[]) {
  return (a: Partial, b: Partial): number => {
    if (a.score !== b.score) return b.score - a.score;
    const n = Math.min(a.nodes.length, b.nodes.length);
    for (let i = 0; i < n; i++) {
      if (a.nodes[i] !== b.nodes[i]) return ids[a.nodes[i]] < ids[b.nodes[i]] ? -1 : 1;
    }
    return a.nodes.length - b.nodes.length;
  };
}

/** A binary heap ordered by `compare` (smallest first). */
class Heap<T> {
  private items: T[] = [];
  constructor(private readonly compare: (a: T, b: T) => number) {}
  get size() {
    return this.items.length;
  }
  push(item: T): void {
    const items = this.items;
    items.push(item);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.compare(items[i], items[parent]) >= 0) break;
      [items[i], items[parent]] = [items[parent], items[i]];
      i = parent;
    }
  }
  pop(): T | undefined {
    const items = this.items;
    if (items.length === 0) return undefined;
    const top = items[0];
    const last = items.pop()!;
    if (items.length > 0) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < items.length && this.compare(items[l], items[best]) < 0) best = l;
        if (r < items.length && this.compare(items[r], items[best]) < 0) best = r;
        if (best === i) break;
        [items[i], items[best]] = [items[best], items[i]];
        i = best;
      }
    }
    return top;
  }
}

/**
 * The top-k paths from `from` to `to` (or to any logit), strongest first. Exact on a DAG, which an
 * attribution graph is; on a graph with cycles only simple paths are considered.
 */
export function findTopPaths(graph: GraphDocument, query: PathQuery): Path[] {
  const k = query.k ?? 5;
  const maxLength = query.maxLength ?? 6;
  if (!Number.isInteger(k) || k < 1 || k > 100)
    throw new UserInputError(`k must be an integer from 1 to 100 (got ${k})`);
  if (!Number.isInteger(maxLength) || maxLength < 1 || maxLength > 64) {
    throw new UserInputError(`maxLength must be an integer from 1 to 64 (got ${maxLength})`);
  }
  const ids = graph.nodes.map((n) => n.nodeId);
  const indexOf = new Map(ids.map((id, i) => [id, i]));
  const from = indexOf.get(query.from);
  if (from === undefined)
    throw new UserInputError(`graph '${graph.id}' has no node '${query.from}' to start a path from`);
  let isTarget: (i: number) => boolean;
  if (query.to === null) {
    isTarget = (i) => graph.nodes[i].kind === 'logit';
  } else {
    const to = indexOf.get(query.to);
    if (to === undefined) throw new UserInputError(`graph '${graph.id}' has no node '${query.to}' to end a path at`);
    isTarget = (i) => i === to;
  }

  // Σ|w| of each target's inputs: the denominator of the normalized weight.
  const inputTotal = new Float64Array(ids.length);
  for (const e of graph.edges) inputTotal[indexOf.get(e.target)!] += Math.abs(e.weight);
  const outgoing: OutEdge[][] = ids.map(() => []);
  const incoming: number[][] = ids.map(() => []);
  for (const e of graph.edges) {
    const s = indexOf.get(e.source)!;
    const t = indexOf.get(e.target)!;
    if (e.weight === 0) continue; // a zero edge carries nothing: every path through it scores 0
    outgoing[s].push({ target: t, weight: e.weight, normalized: Math.abs(e.weight) / inputTotal[t] });
    incoming[t].push(s);
  }

  // Fewest edges from each node to a target (backward BFS), to expand only what can still arrive in time.
  const hopsToTarget = new Int32Array(ids.length).fill(-1);
  const queue: number[] = [];
  ids.forEach((_, i) => {
    if (isTarget(i)) {
      hopsToTarget[i] = 0;
      queue.push(i);
    }
  });
  for (let head = 0; head < queue.length; head++) {
    const t = queue[head];
    for (const s of incoming[t]) {
      if (hopsToTarget[s] === -1) {
        hopsToTarget[s] = hopsToTarget[t] + 1;
        queue.push(s);
      }
    }
  }

  const paths: Path[] = [];
  if (hopsToTarget[from] === -1 || hopsToTarget[from] > maxLength) return paths;
  // Each (node, length) is expanded at most k times: the k best partial paths there are all a
  // top-k path can extend (standard k-best argument, per length because of the length limit).
  const expansions = new Map<number, number>();
  const heap = new Heap<Partial>(makeCompare(ids));
  heap.push({ nodes: [from], weights: [], score: 1 });
  while (heap.size > 0 && paths.length < k) {
    const path = heap.pop()!;
    const last = path.nodes[path.nodes.length - 1];
    const length = path.weights.length;
    if (length > 0 && isTarget(last)) {
      paths.push({ nodeIds: path.nodes.map((i) => ids[i]), score: path.score, weights: path.weights });
      continue; // a path ends at its target
    }
    const slot = last * 65 + length;
    const used = expansions.get(slot) ?? 0;
    if (used >= k) continue;
    expansions.set(slot, used + 1);
    for (const edge of outgoing[last]) {
      const hops = hopsToTarget[edge.target];
      if (hops === -1 || length + 1 + hops > maxLength) continue;
      if (path.nodes.includes(edge.target)) continue; // simple paths only
      heap.push({
        nodes: [...path.nodes, edge.target],
        weights: [...path.weights, edge.weight],
        score: path.score * edge.normalized,
      });
    }
  }
  return paths;
}
