/**
 * Questions about a collection of stored graphs, answered by the store where the data lives: the
 * features and edges that recur across a set of graphs (aggregated in SQL / Cypher), each graph's
 * feature set (for clustering), and which graphs use a feature or a path. Written for both stores
 * (sqlite/collection-queries.ts, neo4j/collection-queries.ts) with the same answers; ranking,
 * shares and clustering are written once over these answers (server/src/analysis/collection.ts).
 * Features across graphs are matched by (model, transcoder set, layer, index), positions ignored.
 */
import { StoreError } from './store-error.js';

export interface FeatureRef {
  layer: number;
  index: number;
}

/** One end of a path: a transcoder feature, or a logit by its token text (as in the graph's label). */
export type PathEnd = ({ kind: 'feature' } & FeatureRef) | { kind: 'logit'; token: string };

export interface SelectedGraph {
  id: string;
  prompt: string;
  transcoderSet: string;
}

/** Which graphs of one model: the given ids, or the newest ones whose prompt contains `text`. */
export interface GraphSelection {
  model: string;
  graphIds?: string[];
  /** Case-insensitive substring of the prompt. */
  text?: string;
  /** At most this many graphs (newest first) when ids are not given. */
  limit?: number;
}

/** Sums over the graphs a feature or an edge occurs in: count, Σx and Σx² of its per-graph value. */
export interface Aggregate {
  graphCount: number;
  sum: number;
  sumSquares: number;
}

/** Per graph: the feature's largest activation over positions. */
export interface FeatureAggregate extends FeatureRef, Aggregate {}

/** Per graph: the sum of the edge weights from the source feature to the target, over positions. */
export interface EdgeAggregate extends Aggregate {
  source: FeatureRef;
  target: ({ kind: 'feature' } & FeatureRef) | { kind: 'logit'; tokenId: number; label: string };
}

export interface FeatureUse {
  graphId: string;
  prompt: string;
  /** Positions where the feature is a node of the graph. */
  occurrences: number;
  maxActivation: number | null;
}

export interface PathUse {
  graphId: string;
  prompt: string;
  /** Paths of at most maxHops edges from a node of the start to a node of the end. */
  paths: number;
  /** The largest |product of edge weights| along one path. */
  strongest: number;
  /** Σ over paths of the product of their edge weights. */
  total: number;
}

export interface Paged<T> {
  total: number;
  items: T[];
}

/** The graphs a question is about: these graphs of one model and transcoder set. */
export interface GraphScope {
  model: string;
  transcoderSet: string;
  graphIds: string[];
}

/** As GraphScope; `graphIds` null: every stored graph of the model and transcoder set. */
export type UsesScope = Omit<GraphScope, 'graphIds'> & { graphIds: string[] | null };

export interface PageWindow {
  offset: number;
  limit: number;
}

export interface CollectionQueries {
  /** The selected graphs, newest first; StoreError NOT_FOUND naming ids that are not stored. */
  selectGraphs(selection: GraphSelection): Promise<SelectedGraph[]>;
  /** Transcoder sets the model's stored graphs use. */
  transcoderSets(model: string): Promise<string[]>;
  /** Features present in at least `minCount` of the graphs. */
  commonFeatures(scope: GraphScope, minCount: number): Promise<FeatureAggregate[]>;
  /** Edges from one of `features` to one of `features` or a logit, present in at least `minCount` graphs. */
  commonEdges(scope: GraphScope, features: FeatureRef[], minCount: number): Promise<EdgeAggregate[]>;
  /** Each graph's distinct features as `layer:index` keys. */
  featureSets(graphIds: string[]): Promise<Map<string, string[]>>;
  /** Graphs of the scope with the feature, largest activation first. */
  graphsWithFeature(scope: UsesScope, feature: FeatureRef, page: PageWindow): Promise<Paged<FeatureUse>>;
  /** Graphs of the scope with a path from → to of 1..maxHops edges, strongest path first. */
  graphsWithPath(
    scope: UsesScope,
    path: { from: PathEnd; to: PathEnd; maxHops: number },
    page: PageWindow,
  ): Promise<Paged<PathUse>>;
  close(): Promise<void>;
}

/** Every asked-for id must be stored, and of the selection's model. */
export function checkSelected(selection: GraphSelection, found: { id: string; model: string }[]): void {
  const byId = new Map(found.map((g) => [g.id, g]));
  const missing = (selection.graphIds ?? []).filter((id) => !byId.has(id));
  if (missing.length > 0)
    throw new StoreError(
      'NOT_FOUND',
      `no stored graph with id ${missing
        .slice(0, 5)
        .map((id) => `'${id}'`)
        .join(', ')}`,
    );
  const other = found.find((g) => g.model !== selection.model);
  if (other)
    throw new StoreError('INVALID', `graph '${other.id}' is of model '${other.model}', not '${selection.model}'`);
}

/** A common-edge row of either store's query: source feature, target (feature or logit token), sums. */
export interface EdgeAggregateRow extends Aggregate {
  sLayer: number;
  sIndex: number;
  tkind: string;
  /** The target feature's layer and index (null for a logit). */
  tLayer: number | null;
  tIndex: number | null;
  /** The logit's token id (a feature target's value is unused). */
  ttoken: number | null;
  tlabel: string;
}

export function edgeAggregateOf(row: EdgeAggregateRow): EdgeAggregate {
  return {
    source: { layer: row.sLayer, index: row.sIndex },
    target:
      row.tkind === 'logit'
        ? { kind: 'logit', tokenId: row.ttoken!, label: row.tlabel }
        : { kind: 'feature', layer: row.tLayer!, index: row.tIndex! },
    graphCount: row.graphCount,
    sum: row.sum,
    sumSquares: row.sumSquares,
  };
}

/** `logit` node labels read `Output "<token>" (p=…)`: this is the prefix that names the token. */
export function logitLabelPrefix(token: string): string {
  return `Output "${token}" (`;
}

/** The token of a logit node label, or the label itself when it has another form. */
export function tokenOfLogitLabel(label: string): string {
  return /^Output "(.*)" \(p=[^)]*\)$/s.exec(label)?.[1] ?? label;
}
