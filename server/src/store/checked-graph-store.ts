/**
 * CheckedGraphStore: the public side of GraphStore written once for both stores. Each method runs
 * the shared input checks (check-graph.ts), asks the store's own read or write for records, and
 * maps those records to documents, nodes, labels and views (graph-records.ts). SqliteStore and
 * Neo4jStore extend it and hold only their SQL and Cypher, so both refuse the same input with the
 * same message and answer with the same shapes.
 */
import type { GraphDocument, GraphEdge } from '@circuit-atlas/schema';
import type {
  EdgeDirection,
  FeatureKey,
  FeatureLabel,
  FeatureOccurrence,
  GraphSize,
  GraphStore,
  GraphSummary,
  IncidentEdges,
  IncidentEdgesOptions,
  IncidentEdgesQuery,
  ListGraphsOptions,
  NewSavedView,
  NodeWithEdges,
  Page,
  PruneOptions,
  SaveOptions,
  SavedView,
  SharedFeaturesSummary,
} from './graph-store.js';
import { StoreError } from './store-error.js';
import {
  checkEdgeDirection,
  checkFeatureKey,
  checkFeatureLabel,
  checkGraphId,
  checkIncidentEdges,
  checkListGraphs,
  checkNewView,
  checkPrune,
  pageBounds,
} from './check-graph.js';
import {
  featureLabelOf,
  graphDocumentOf,
  graphNodeOf,
  graphSummaryOf,
  newSavedView,
  savedViewOf,
  type GraphRecord,
  type LabelRecord,
  type NodeRecord,
  type ViewRecord,
} from './graph-records.js';

/** A stored graph as read back: its record, its kept nodes and its kept edges in saved order. */
export interface GraphRecords {
  record: GraphRecord;
  nodes: NodeRecord[];
  edges: GraphEdge[];
}

/** A stored graph's record and kept nodes, without edges (getGraphNodes). */
export type GraphNodeRecords = Omit<GraphRecords, 'edges'>;

/** A checked page: offset and limit within the bounds of pageBounds. */
export interface PageBounds {
  offset: number;
  limit: number;
}

/** A checked listGraphs query: filters (the text lower-cased) and page. */
export interface GraphListQuery extends PageBounds {
  model: string | null;
  text: string | null;
  sortBy: 'createdAt' | 'prompt' | 'nodeCount';
  order: 'asc' | 'desc';
}

/** A node with one page of its edges on one side, each named by the node at the other end. */
export type NodeEdgeRecords =
  | { node: NodeRecord; totalEdges: number; edges: { otherId: string; weight: number; influence: number | null }[] }
  | 'no graph'
  | 'no node';

/** A node of a feature in some stored graph. */
export interface OccurrenceRecord {
  graphId: string;
  prompt: string;
  node: NodeRecord;
}

/** A checked getIncidentEdges query: the asked nodes, the side and the thresholds. */
export type IncidentEdgesRead = IncidentEdgesQuery & { direction: EdgeDirection; nodeIds: readonly string[] };

/** A checked page of one side of a node's edges. */
export type NodeEdgesPage = PageBounds & { direction: 'in' | 'out' };

/** A checked label to store, with the time it is set (the writer thread's setFeatureLabel arguments). */
export interface FeatureLabelWrite {
  feature: FeatureKey;
  label: string;
  author: string;
  updatedAt: string;
}

/** A view built by newSavedView and every node id it names (the writer thread's saveView arguments). */
export interface ViewWrite {
  view: SavedView;
  namedIds: string[];
}

export abstract class CheckedGraphStore implements GraphStore {
  abstract readonly kind: 'sqlite' | 'neo4j';
  abstract init(): Promise<void>;
  abstract close(): Promise<void>;
  /** Each store checks the document where it writes it (SQLite in its writer thread). */
  abstract saveGraph(graph: GraphDocument, options?: SaveOptions): Promise<void>;
  abstract graphSize(id: string): Promise<GraphSize | null>;
  abstract deleteGraph(id: string): Promise<boolean>;

  /** The graph, its nodes and its edges (both kept as `prune` asks), from one snapshot; null if none. */
  protected abstract readGraph(id: string, prune: PruneOptions): Promise<GraphRecords | null>;
  /** The graph and its kept nodes only. */
  protected abstract readGraphNodes(id: string, prune: PruneOptions): Promise<GraphNodeRecords | null>;
  protected abstract readIncidentEdges(id: string, query: IncidentEdgesRead): Promise<IncidentEdges | null>;
  protected abstract readGraphList(query: GraphListQuery): Promise<{ total: number; records: GraphRecord[] }>;
  /** Edges of one side, by |weight| descending then the other node's id. */
  protected abstract readNodeEdges(graphId: string, nodeId: string, page: NodeEdgesPage): Promise<NodeEdgeRecords>;
  /** Newest graph first, then graph id, then node order. */
  protected abstract readFeatureOccurrences(feature: FeatureKey, page: PageBounds): Promise<Page<OccurrenceRecord>>;
  /** null if there is no such graph. */
  protected abstract readGraphsSharingFeatures(graphId: string, limit: number): Promise<SharedFeaturesSummary[] | null>;
  protected abstract writeFeatureLabel(write: FeatureLabelWrite): Promise<FeatureLabel>;
  protected abstract readFeatureLabel(feature: FeatureKey): Promise<LabelRecord | null>;
  /** Labels containing `text` (already lower-cased), by model, transcoder set, layer, index. */
  protected abstract readFeatureLabels(text: string, limit: number): Promise<LabelRecord[]>;
  /** Stores the view if its graph has every node in `namedIds`; StoreError NOT_FOUND / INVALID otherwise. */
  protected abstract writeView(write: ViewWrite): Promise<void>;
  protected abstract readView(id: string): Promise<ViewRecord | null>;
  /** Oldest view first, ties by id. */
  protected abstract readViews(graphId: string): Promise<ViewRecord[]>;

  async getGraph(id: string, prune: PruneOptions = {}): Promise<GraphDocument | null> {
    checkPrune(prune);
    const found = await this.readGraph(id, prune);
    return found ? graphDocumentOf(found.record, found.nodes, found.edges) : null;
  }

  async getGraphNodes(id: string, prune: PruneOptions = {}): Promise<GraphDocument | null> {
    checkPrune(prune);
    const found = await this.readGraphNodes(id, prune);
    return found ? graphDocumentOf(found.record, found.nodes, []) : null;
  }

  async getIncidentEdges(
    id: string,
    nodeIds: readonly string[],
    query: IncidentEdgesQuery,
  ): Promise<IncidentEdges | null> {
    checkPrune(query);
    const direction = checkEdgeDirection(query.direction);
    return this.readIncidentEdges(id, { ...query, direction, nodeIds });
  }

  async listGraphs(options: ListGraphsOptions = {}): Promise<Page<GraphSummary>> {
    const checked = checkListGraphs(options);
    const model = options.model ?? null;
    const text = options.text ? options.text.toLowerCase() : null;
    const { total, records } = await this.readGraphList({ ...checked, model, text });
    return { total, items: records.map(graphSummaryOf) };
  }

  async getNodeEdges(graphId: string, nodeId: string, options: IncidentEdgesOptions): Promise<NodeWithEdges> {
    const checked = checkIncidentEdges(options);
    const found = await this.readNodeEdges(graphId, nodeId, checked);
    if (found === 'no graph') throw new StoreError('NOT_FOUND', `no graph with id '${graphId}'`);
    if (found === 'no node') throw new StoreError('NOT_FOUND', `graph '${graphId}' has no node '${nodeId}'`);
    const edges = found.edges.map(({ otherId, weight, influence }) =>
      checked.direction === 'in'
        ? { source: otherId, target: nodeId, weight, influence: influence ?? null }
        : { source: nodeId, target: otherId, weight, influence: influence ?? null },
    );
    return { node: graphNodeOf(found.node), edges, totalEdges: found.totalEdges };
  }

  async featureOccurrences(
    feature: FeatureKey,
    page?: { offset?: number; limit?: number },
  ): Promise<Page<FeatureOccurrence>> {
    checkFeatureKey(feature);
    const { total, items } = await this.readFeatureOccurrences(feature, pageBounds(page, 20));
    return { total, items: items.map((r) => ({ graphId: r.graphId, prompt: r.prompt, node: graphNodeOf(r.node) })) };
  }

  async graphsSharingFeatures(graphId: string, limit = 10): Promise<SharedFeaturesSummary[]> {
    pageBounds({ limit }, 10);
    const found = await this.readGraphsSharingFeatures(graphId, limit);
    if (!found) throw new StoreError('NOT_FOUND', `no graph with id '${graphId}'`);
    return found;
  }

  async setFeatureLabel(feature: FeatureKey, label: string, author: string): Promise<FeatureLabel> {
    checkFeatureKey(feature);
    checkFeatureLabel(label, author);
    // Only the key's four fields travel (the caller's object may carry more).
    const key = {
      model: feature.model,
      transcoderSet: feature.transcoderSet,
      layer: feature.layer,
      index: feature.index,
    };
    return this.writeFeatureLabel({ feature: key, label, author, updatedAt: new Date().toISOString() });
  }

  async getFeatureLabel(feature: FeatureKey): Promise<FeatureLabel | null> {
    checkFeatureKey(feature);
    const found = await this.readFeatureLabel(feature);
    return found ? featureLabelOf(found) : null;
  }

  async searchFeatureLabels(text: string, limit = 20): Promise<FeatureLabel[]> {
    pageBounds({ limit }, 20);
    return (await this.readFeatureLabels(String(text).toLowerCase(), limit)).map(featureLabelOf);
  }

  async saveView(view: NewSavedView): Promise<SavedView> {
    const namedIds = checkNewView(view);
    const saved = newSavedView(view);
    await this.writeView({ view: saved, namedIds });
    return saved;
  }

  async getView(id: string): Promise<SavedView | null> {
    const found = await this.readView(String(id));
    return found ? savedViewOf(found) : null;
  }

  async listViews(graphId: string): Promise<SavedView[]> {
    checkGraphId(graphId);
    return (await this.readViews(graphId)).map(savedViewOf);
  }
}
