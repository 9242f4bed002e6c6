/**
 * Node lookup by id for the neighbours of a node's edges: a few recently used graphs, indexed by
 * node id. Stored graphs never change (only save and delete), so an entry stays right until the
 * graph is deleted; deletes through this server evict it, and the short lifetime bounds what a
 * delete by another server sharing a Neo4j store can leave behind.
 */
import type { GraphNode } from '@circuit-atlas/schema';
import type { GraphStore } from '../store/graph-store.js';
import type { FeatureOwner } from './mappers.js';

/** What node lookups need of a stored graph. */
export interface IndexedGraph {
  owner: FeatureOwner;
  nodes: Map<string, GraphNode>;
}

export interface NodeIndexCacheOptions {
  maxGraphs?: number;
  ttlMs?: number;
}

interface Entry {
  at: number;
  graph: Promise<IndexedGraph | null>;
}

export class NodeIndexCache {
  private readonly entries = new Map<string, Entry>();
  private readonly maxGraphs: number;
  private readonly ttlMs: number;

  constructor(
    private readonly store: GraphStore,
    options: NodeIndexCacheOptions = {},
  ) {
    this.maxGraphs = options.maxGraphs ?? 8;
    this.ttlMs = options.ttlMs ?? 60_000;
  }

  /** The graph's owner and nodes by id; null when the graph does not exist. */
  graphOf(graphId: string): Promise<IndexedGraph | null> {
    const cached = this.entries.get(graphId);
    if (cached && Date.now() - cached.at < this.ttlMs) {
      // Map order is recency order: move the entry to the end.
      this.entries.delete(graphId);
      this.entries.set(graphId, cached);
      return cached.graph;
    }
    const indexed = this.store.getGraph(graphId).then((graph) => {
      if (!graph) {
        this.entries.delete(graphId); // a missing graph may be saved later: do not remember it
        return null;
      }
      const owner = { model: graph.model, transcoderSet: graph.transcoderSet };
      return { owner, nodes: new Map(graph.nodes.map((node) => [node.nodeId, node])) };
    });
    indexed.catch(() => this.entries.delete(graphId));
    this.entries.set(graphId, { at: Date.now(), graph: indexed });
    while (this.entries.size > this.maxGraphs) this.entries.delete(this.entries.keys().next().value!);
    return indexed;
  }

  /** True when a lookup of this graph would not read the store. */
  has(graphId: string): boolean {
    const cached = this.entries.get(graphId);
    return cached !== undefined && Date.now() - cached.at < this.ttlMs;
  }

  evict(graphId: string): void {
    this.entries.delete(graphId);
  }
}
