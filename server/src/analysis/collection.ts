/**
 * Questions about a collection of graphs (issue 13): the common circuit of a set of prompts
 * (features and edges present in at least a share of them, with the mean and spread of their
 * weights), clusters of prompts by circuit similarity, and which prompts use a feature or a path.
 * The stores aggregate (SQL / Cypher, store/collection-queries.ts); shares, ranking and clustering
 * are written here once, so both stores give the same answers (DESIGN.md, decision 6).
 */
import { UserInputError } from '@circuit-atlas/schema';
import type { GraphStore } from '../store/graph-store.js';
import {
  tokenOfLogitLabel,
  type Aggregate,
  type CollectionQueries,
  type FeatureRef,
  type FeatureUse,
  type GraphSelection,
  type PathEnd,
  type PathUse,
  type SelectedGraph,
} from '../store/collection-queries.js';
import { Neo4jStore } from '../store/neo4j/neo4j-store.js';
import { Neo4jCollectionQueries } from '../store/neo4j/collection-queries.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import { SqliteCollectionQueries } from '../store/sqlite/collection-queries.js';
import { StoreError } from '../store/store-error.js';
import { averageLinkageClusters, jaccardMatrix } from './collection-clusters.js';

export type { GraphSelection, PathEnd, FeatureRef } from '../store/collection-queries.js';

/** The collection queries of a store; close them when done (SQLite reads on a connection of its own). */
export function collectionQueriesOf(store: GraphStore): CollectionQueries {
  if (store instanceof Neo4jStore) return new Neo4jCollectionQueries(store.driver);
  if (store instanceof SqliteStore) {
    if (store.path === ':memory:')
      throw new StoreError('INVALID', 'collection queries need a SQLite file (ATLAS_DB), not an in-memory store');
    return new SqliteCollectionQueries(store.path, store.busyTimeoutMs);
  }
  throw new StoreError('INVALID', `collection queries are not written for the '${store.kind}' store`);
}

/** Mean and (population) standard deviation of a per-graph value. */
export interface Spread {
  mean: number;
  spread: number;
}

export interface CommonFeature extends FeatureRef {
  graphCount: number;
  /** graphCount / graphs in the collection. */
  share: number;
  /** Of the feature's largest activation in each graph it occurs in. */
  activation: Spread;
}

export type EdgeTarget = ({ kind: 'feature' } & FeatureRef) | { kind: 'logit'; tokenId: number; token: string };

export interface CommonEdge {
  source: FeatureRef;
  target: EdgeTarget;
  graphCount: number;
  share: number;
  /** Of the edge's weight in each graph (summed over positions). */
  weight: Spread;
}

export interface CommonCircuit {
  model: string;
  transcoderSet: string;
  graphCount: number;
  minShare: number;
  features: CommonFeature[];
  edges: CommonEdge[];
}

export interface CommonCircuitOptions {
  /** Keep features and edges present in at least this share of the graphs (0 < k ≤ 1; default 0.5). */
  minShare?: number;
  maxFeatures?: number;
  maxEdges?: number;
}

export interface GraphCluster {
  graphIds: string[];
  prompts: string[];
  /** Mean Jaccard similarity of the members' feature sets (1 for one graph). */
  cohesion: number;
  /** The features most members share, most shared first. */
  features: (FeatureRef & { graphCount: number })[];
}

export interface Clustering {
  model: string;
  graphCount: number;
  minSimilarity: number;
  clusters: GraphCluster[];
}

export interface UsesPage<T> {
  /** Graphs in the collection asked about (all of the model's when no ids were given). */
  collectionSize: number | null;
  total: number;
  items: T[];
}

const MAX_GRAPHS = 10_000;

function checkShare(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0 || value > 1)
    throw new UserInputError(`${name} must be a number in (0, 1], got ${value}`);
  return value;
}

function checkCount(name: string, value: number, max: number): number {
  if (!Number.isInteger(value) || value < 1 || value > max)
    throw new UserInputError(`${name} must be a whole number from 1 to ${max}, got ${value}`);
  return value;
}

function spreadOf(a: Aggregate): Spread {
  const mean = a.sum / a.graphCount;
  return { mean, spread: Math.sqrt(Math.max(0, a.sumSquares / a.graphCount - mean * mean)) };
}

/** The selected graphs and their one transcoder set; UserInputError for an empty or mixed collection. */
async function collection(
  queries: CollectionQueries,
  selection: GraphSelection,
): Promise<{ graphs: SelectedGraph[]; transcoderSet: string }> {
  if (!selection.model) throw new UserInputError('name the model of the collection (its folder name)');
  if (selection.graphIds && selection.graphIds.length > MAX_GRAPHS)
    throw new UserInputError(`a collection holds at most ${MAX_GRAPHS} graphs, got ${selection.graphIds.length}`);
  if (selection.limit !== undefined) checkCount('limit', selection.limit, MAX_GRAPHS);
  const graphs = await queries.selectGraphs(selection);
  if (graphs.length === 0)
    throw new UserInputError(
      `no stored graphs of model '${selection.model}'${selection.text ? ` with '${selection.text}' in the prompt` : ''}`,
    );
  const sets = [...new Set(graphs.map((g) => g.transcoderSet))];
  if (sets.length > 1)
    throw new UserInputError(
      `the graphs use ${sets.length} transcoder sets (${sets.join(', ')}): features are comparable within one; pick graphs of one set`,
    );
  return { graphs, transcoderSet: sets[0] };
}

const byFeature = (a: FeatureRef, b: FeatureRef) => a.layer - b.layer || a.index - b.index;

function targetOrder(a: EdgeTarget, b: EdgeTarget): number {
  if (a.kind !== b.kind) return a.kind === 'feature' ? -1 : 1;
  if (a.kind === 'feature' && b.kind === 'feature') return byFeature(a, b);
  return (a as { tokenId: number }).tokenId - (b as { tokenId: number }).tokenId;
}

export async function commonCircuit(
  queries: CollectionQueries,
  selection: GraphSelection,
  options: CommonCircuitOptions = {},
): Promise<CommonCircuit> {
  const minShare = checkShare('minShare', options.minShare ?? 0.5);
  const maxFeatures = checkCount('maxFeatures', options.maxFeatures ?? 100, 10_000);
  const maxEdges = checkCount('maxEdges', options.maxEdges ?? 200, 100_000);
  const { graphs, transcoderSet } = await collection(queries, selection);
  const n = graphs.length;
  const ids = graphs.map((g) => g.id);
  // The smallest count that is at least minShare of the graphs (a tolerance for shares like 0.3 × 10).
  const minCount = Math.max(1, Math.ceil(minShare * n - 1e-9));
  const scope = { model: selection.model, transcoderSet, graphIds: ids };
  const features: CommonFeature[] = (await queries.commonFeatures(scope, minCount))
    .map((a) => ({
      layer: a.layer,
      index: a.index,
      graphCount: a.graphCount,
      share: a.graphCount / n,
      activation: spreadOf(a),
    }))
    .sort((a, b) => b.graphCount - a.graphCount || byFeature(a, b))
    .slice(0, maxFeatures);
  const edges: CommonEdge[] = (await queries.commonEdges(scope, features, minCount))
    .map((a) => ({
      source: a.source,
      target:
        a.target.kind === 'logit'
          ? { kind: 'logit' as const, tokenId: a.target.tokenId, token: tokenOfLogitLabel(a.target.label) }
          : a.target,
      graphCount: a.graphCount,
      share: a.graphCount / n,
      weight: spreadOf(a),
    }))
    .sort(
      (a, b) =>
        b.graphCount - a.graphCount ||
        Math.abs(b.weight.mean) - Math.abs(a.weight.mean) ||
        byFeature(a.source, b.source) ||
        targetOrder(a.target, b.target),
    )
    .slice(0, maxEdges);
  return { model: selection.model, transcoderSet, graphCount: n, minShare, features, edges };
}

export interface ClusterOptions {
  /** Merge clusters while their average Jaccard similarity is at least this (default 0.5). */
  minSimilarity?: number;
  /** Shared features listed per cluster (default 5). */
  topFeatures?: number;
}

/** Groups graphs by the Jaccard similarity of their feature sets (average linkage, cut at minSimilarity). */
export async function clusterGraphs(
  queries: CollectionQueries,
  selection: GraphSelection,
  options: ClusterOptions = {},
): Promise<Clustering> {
  const minSimilarity = checkShare('minSimilarity', options.minSimilarity ?? 0.5);
  const topFeatures = checkCount('topFeatures', options.topFeatures ?? 5, 100);
  const { graphs } = await collection(queries, selection);
  // A fixed order (by id) makes ties break the same way on both stores.
  const ordered = [...graphs].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const sets = await queries.featureSets(ordered.map((g) => g.id));
  const featureSets = ordered.map((g) => sets.get(g.id) ?? []);
  const similarity = jaccardMatrix(featureSets);
  const groups = averageLinkageClusters(similarity, ordered.length, minSimilarity);
  const clusters = groups.map((members): GraphCluster => {
    let pairs = 0;
    let total = 0;
    for (let i = 0; i < members.length; i++)
      for (let j = i + 1; j < members.length; j++) {
        total += similarity[members[i] * ordered.length + members[j]];
        pairs++;
      }
    const counts = new Map<string, number>();
    for (const m of members) for (const f of featureSets[m]) counts.set(f, (counts.get(f) ?? 0) + 1);
    const features = [...counts.entries()]
      .map(([key, graphCount]) => {
        const [layer, index] = key.split(':').map(Number);
        return { layer, index, graphCount };
      })
      .sort((a, b) => b.graphCount - a.graphCount || byFeature(a, b))
      .slice(0, topFeatures);
    return {
      graphIds: members.map((m) => ordered[m].id),
      prompts: members.map((m) => ordered[m].prompt),
      cohesion: pairs === 0 ? 1 : total / pairs,
      features,
    };
  });
  clusters.sort((a, b) => b.graphIds.length - a.graphIds.length || (a.graphIds[0] < b.graphIds[0] ? -1 : 1));
  return { model: selection.model, graphCount: ordered.length, minSimilarity, clusters };
}

export interface UsesOptions {
  /** The transcoder set; needed only when the model's graphs use more than one. */
  transcoderSet?: string;
  offset?: number;
  limit?: number;
}

async function resolveScope(queries: CollectionQueries, selection: GraphSelection, transcoderSet?: string) {
  if (!selection.model) throw new UserInputError('name the model (its folder name)');
  if (selection.graphIds || selection.text) {
    const { graphs, transcoderSet: set } = await collection(queries, selection);
    if (transcoderSet && transcoderSet !== set)
      throw new UserInputError(`the graphs use transcoder set '${set}', not '${transcoderSet}'`);
    return { graphIds: graphs.map((g) => g.id), transcoderSet: set, size: graphs.length };
  }
  if (transcoderSet) return { graphIds: null, transcoderSet, size: null };
  const sets = await queries.transcoderSets(selection.model);
  if (sets.length === 0) throw new UserInputError(`no stored graphs of model '${selection.model}'`);
  if (sets.length > 1)
    throw new UserInputError(`model '${selection.model}' has graphs of transcoder sets ${sets.join(', ')}: name one`);
  return { graphIds: null, transcoderSet: sets[0], size: null };
}

function pageOf(options: UsesOptions): { offset: number; limit: number } {
  const offset = options.offset ?? 0;
  if (!Number.isInteger(offset) || offset < 0)
    throw new UserInputError(`offset must be a whole number ≥ 0, got ${offset}`);
  return { offset, limit: checkCount('limit', options.limit ?? 20, 1000) };
}

function checkEnd(name: string, end: PathEnd): PathEnd {
  if (end.kind === 'feature') {
    if (!Number.isInteger(end.layer) || end.layer < 0 || !Number.isInteger(end.index) || end.index < 0)
      throw new UserInputError(`${name} must name a feature as layer:index with whole numbers ≥ 0`);
  } else if (typeof end.token !== 'string' || end.token === '') {
    throw new UserInputError(`${name} must name a logit by its token text`);
  }
  return end;
}

/** Which prompts use feature X: the graphs where it is a node, largest activation first. */
export async function graphsUsingFeature(
  queries: CollectionQueries,
  selection: GraphSelection,
  feature: FeatureRef,
  options: UsesOptions = {},
): Promise<UsesPage<FeatureUse>> {
  checkEnd('the feature', { kind: 'feature', ...feature });
  const page = pageOf(options);
  const scope = await resolveScope(queries, selection, options.transcoderSet);
  const found = await queries.graphsWithFeature({ model: selection.model, ...scope }, feature, page);
  return { collectionSize: scope.size, ...found };
}

/** Which prompts use the path X → Y (1..maxHops edges): counts per graph, strongest path first. */
export async function graphsUsingPath(
  queries: CollectionQueries,
  selection: GraphSelection,
  from: PathEnd,
  to: PathEnd,
  options: UsesOptions & { maxHops?: number } = {},
): Promise<UsesPage<PathUse>> {
  checkEnd('the path start', from);
  checkEnd('the path end', to);
  const maxHops = options.maxHops ?? 1;
  if (!Number.isInteger(maxHops) || maxHops < 1 || maxHops > 3)
    throw new UserInputError(`maxHops must be 1, 2 or 3, got ${maxHops}`);
  const page = pageOf(options);
  const scope = await resolveScope(queries, selection, options.transcoderSet);
  const found = await queries.graphsWithPath({ model: selection.model, ...scope }, { from, to, maxHops }, page);
  return { collectionSize: scope.size, ...found };
}

/** Parses `L:I` (a feature) or `logit:<token>` (a logit by its token text). */
export function parsePathEnd(text: string, name: string): PathEnd {
  if (text.startsWith('logit:')) return checkEnd(name, { kind: 'logit', token: text.slice('logit:'.length) });
  const match = /^(\d+):(\d+)$/.exec(text.trim());
  if (!match)
    throw new UserInputError(`${name} '${text}' is not a feature 'layer:index' (e.g. 2:647) or 'logit:<token>'`);
  return { kind: 'feature', layer: Number(match[1]), index: Number(match[2]) };
}
