/**
 * GraphStore: the narrow contract every store implements (DESIGN.md, decision 5). SQLite is the
 * embedded default, Neo4j the shared store. One contract test suite runs against both, and both
 * must give identical answers. Path ranking and graph comparison are NOT here: they are written
 * once over what `getGraph` returns (`server/src/analysis/`).
 */
import type { GraphDocument, GraphNode, GraphEdge, GraphSettings, GraphScores } from '@circuit-atlas/schema';

export interface PruneOptions {
  /** Keep nodes whose cumulative influence share is ≤ this (embeddings and logits always kept). */
  nodeThreshold?: number;
  /** Keep edges whose cumulative edge-score share is ≤ this, between kept nodes. */
  edgeThreshold?: number;
}

export interface GraphSummary {
  id: string;
  prompt: string;
  model: string;
  transcoderSet: string;
  createdAt: string;
  nodeCount: number;
  edgeCount: number;
  scores: GraphScores | null;
  settings: GraphSettings;
}

/** How big a stored graph is: what the API's cost model charges for reading it. */
export interface GraphSize {
  nodeCount: number;
  edgeCount: number;
}

export interface ListGraphsOptions {
  model?: string;
  /** Case-insensitive substring of the prompt. */
  text?: string;
  sortBy?: 'createdAt' | 'prompt' | 'nodeCount';
  order?: 'asc' | 'desc';
  offset?: number;
  limit?: number;
}

export interface Page<T> {
  total: number;
  items: T[];
}

export interface IncidentEdgesOptions {
  direction: 'in' | 'out';
  offset?: number;
  limit?: number;
}

/** Which side of the asked nodes an edge must touch: edges into them, out of them, or either. */
export type EdgeDirection = 'in' | 'out' | 'both';

export interface IncidentEdgesQuery extends PruneOptions {
  direction: EdgeDirection;
}

/** Kept edges touching some asked nodes, with what their shares need. */
export interface IncidentEdges {
  /** In the order of the stored document (deterministic across stores), each edge once. */
  edges: GraphEdge[];
  /**
   * Σ|weight| of the kept inputs of each asked node (the denominator of the share of an edge into
   * it); edges into other nodes have no share here, which would need every input of their targets.
   */
  targetInputTotals: Map<string, number>;
}

/** A node with a page of its incident edges, sorted by |weight| descending, ties by node id. */
export interface NodeWithEdges {
  node: GraphNode;
  edges: GraphEdge[];
  totalEdges: number;
}

export interface FeatureKey {
  model: string;
  transcoderSet: string;
  layer: number;
  index: number;
}

export interface FeatureOccurrence {
  graphId: string;
  prompt: string;
  node: GraphNode;
}

export interface SharedFeaturesSummary {
  graphId: string;
  prompt: string;
  sharedFeatureCount: number;
}

export interface FeatureLabel extends FeatureKey {
  label: string;
  author: string;
  /** ISO 8601. */
  updatedAt: string;
}

export interface Supernode {
  name: string;
  nodeIds: string[];
}

export interface SavedView {
  id: string;
  graphId: string;
  name: string;
  pinnedIds: string[];
  supernodes: Supernode[];
  nodeThreshold: number | null;
  edgeThreshold: number | null;
  createdAt: string;
}

export type NewSavedView = Omit<SavedView, 'id' | 'createdAt'>;

/** How far a save has got: reported after each batch of rows written inside its transaction. */
export interface SaveProgress {
  phase: 'nodes' | 'edges';
  done: number;
  total: number;
}

export interface SaveOptions {
  /** Called as the save goes (for progress bars); nothing is visible to readers until it commits. */
  onProgress?(progress: SaveProgress): void;
}

export interface GraphStore {
  /** Which implementation this is, for messages and benchmarks. */
  readonly kind: 'sqlite' | 'neo4j';
  /** Creates tables/constraints/indexes, runs migrations. Safe to call more than once. */
  init(): Promise<void>;
  close(): Promise<void>;

  /** Saves a whole graph in one transaction. StoreError 'DUPLICATE' if the id exists. */
  saveGraph(graph: GraphDocument, options?: SaveOptions): Promise<void>;
  /** The graph, pruned as asked; null if there is no such graph. */
  getGraph(id: string, prune?: PruneOptions): Promise<GraphDocument | null>;
  /** The graph's record and kept nodes (pruned as asked) with `edges: []`; null if there is no such graph. */
  getGraphNodes(id: string, prune?: PruneOptions): Promise<GraphDocument | null>;
  /**
   * The kept edges (pruned as asked) touching any of `nodeIds`; ids of pruned or unknown nodes touch
   * nothing. What the viewer fetches when a node is clicked or pinned (DESIGN.md decision 8).
   */
  getIncidentEdges(id: string, nodeIds: readonly string[], query: IncidentEdgesQuery): Promise<IncidentEdges | null>;
  listGraphs(options?: ListGraphsOptions): Promise<Page<GraphSummary>>;
  /** The stored node and edge counts, read from the graph's summary (cheap); null if there is no such graph. */
  graphSize(id: string): Promise<GraphSize | null>;
  /** True if a graph was deleted. */
  deleteGraph(id: string): Promise<boolean>;

  /** StoreError 'NOT_FOUND' for an unknown graph or node. */
  getNodeEdges(graphId: string, nodeId: string, options: IncidentEdgesOptions): Promise<NodeWithEdges>;

  /** Every node of this feature across stored graphs, newest graph first. */
  featureOccurrences(feature: FeatureKey, page?: { offset?: number; limit?: number }): Promise<Page<FeatureOccurrence>>;
  /** Graphs sharing at least one feature with the given graph, most shared first. */
  graphsSharingFeatures(graphId: string, limit?: number): Promise<SharedFeaturesSummary[]>;

  setFeatureLabel(feature: FeatureKey, label: string, author: string): Promise<FeatureLabel>;
  getFeatureLabel(feature: FeatureKey): Promise<FeatureLabel | null>;
  /** Labels matching a case-insensitive substring. */
  searchFeatureLabels(text: string, limit?: number): Promise<FeatureLabel[]>;

  saveView(view: NewSavedView): Promise<SavedView>;
  getView(id: string): Promise<SavedView | null>;
  listViews(graphId: string): Promise<SavedView[]>;
}
