/**
 * Per-request loaders of stored graphs: however many aliases, fields or nested resolvers ask for
 * the same graph (at the same thresholds) in one request, the store reads it once. Reads of
 * different graphs run one after another, so one request never holds several big reads at once.
 */
import DataLoader from 'dataloader';
import type { GraphDocument } from '@circuit-atlas/schema';
import type { GraphSize, GraphStore, PruneOptions } from '../store/graph-store.js';

/** One read of a stored graph: its id and the pruning asked for. */
export interface GraphRead extends PruneOptions {
  id: string;
}

export interface GraphLoaders {
  graphs: DataLoader<GraphRead, GraphDocument | null, string>;
  /** The graph's record and kept nodes, no edges (store.getGraphNodes). */
  graphNodes: DataLoader<GraphRead, GraphDocument | null, string>;
  sizes: DataLoader<string, GraphSize | null>;
}

const keyOf = (read: GraphRead) => `${read.id}\u0000${read.nodeThreshold ?? ''}\u0000${read.edgeThreshold ?? ''}`;

/** Runs `load` for each key in turn; a failed key gets its error, the others their values (DataLoader's contract). */
async function oneByOne<K, V>(keys: readonly K[], load: (key: K) => Promise<V>): Promise<(V | Error)[]> {
  const values: (V | Error)[] = [];
  for (const key of keys) {
    // A synchronous store (SQLite) would otherwise run request after request without reading the sockets.
    await new Promise((resolve) => setImmediate(resolve));
    values.push(await load(key).catch((error: unknown) => error as Error));
  }
  return values;
}

export function graphLoaders(store: GraphStore): GraphLoaders {
  return {
    graphs: new DataLoader((reads) => oneByOne(reads, ({ id, ...prune }) => store.getGraph(id, prune)), {
      cacheKeyFn: keyOf,
    }),
    graphNodes: new DataLoader((reads) => oneByOne(reads, ({ id, ...prune }) => store.getGraphNodes(id, prune)), {
      cacheKeyFn: keyOf,
    }),
    sizes: new DataLoader((ids) => oneByOne(ids, (id) => store.graphSize(id))),
  };
}
