/**
 * The one mapping between GraphDocuments and what the stores hold, so SQLite and Neo4j keep only
 * their SQL and Cypher: the flat graph record both write, and the assembly of documents, summaries,
 * nodes, labels and views from the records both read back (SQLite selects its columns under these
 * camelCase names; Neo4j returns these properties). Absent values (`undefined` from a Neo4j property
 * that was never set) read as null.
 */
import type { GraphDocument, GraphEdge, GraphNode, NodeKind } from '@circuit-atlas/schema';
import type { FeatureLabel, GraphSummary, NewSavedView, SavedView } from './graph-store.js';
import { newViewId } from './view-id.js';

/** A graph's own fields, flat, as both stores keep them (nodes and edges live apart). */
export interface GraphRecord {
  id: string;
  prompt: string;
  promptTokens: string[];
  tokenIds: number[];
  model: string;
  transcoderSet: string;
  nLayers: number;
  createdAt: string;
  /** The same instant as createdAt, for sorting. */
  createdMs: number;
  maxNLogits: number;
  desiredLogitProb: number;
  batchSize: number;
  maxFeatureNodes: number | null;
  nodeThreshold: number;
  edgeThreshold: number;
  replacement: number | null;
  completeness: number | null;
  nodeCount: number;
  edgeCount: number;
}

/** The GraphRecord fields that are integers (Neo4j must be sent them as integers, not floats). */
export const GRAPH_RECORD_INTEGERS = [
  'nLayers',
  'createdMs',
  'maxNLogits',
  'batchSize',
  'maxFeatureNodes',
  'nodeCount',
  'edgeCount',
] as const satisfies readonly (keyof GraphRecord)[];

/** A node as stored, with its position in the saved document. */
export interface NodeRecord extends Omit<GraphNode, 'isTargetLogit'> {
  ord: number;
  /** SQLite keeps booleans as 0/1. */
  isTargetLogit: boolean | number;
}

/** The node properties in the order they are written (both stores). */
export const NODE_RECORD_FIELDS = [
  'nodeId',
  'kind',
  'layer',
  'ctxIdx',
  'feature',
  'activation',
  'influence',
  'tokenProb',
  'isTargetLogit',
  'label',
] as const satisfies readonly (keyof GraphNode)[];

export interface LabelRecord {
  model: string;
  transcoderSet: string;
  layer: number;
  index: number;
  label: string;
  author: string;
  updatedAt: string;
}

/** A saved view as stored: its lists as JSON text. */
export interface ViewRecord {
  id: string;
  graphId: string;
  name: string;
  pinnedIds: string;
  supernodes: string;
  nodeThreshold: number | null;
  edgeThreshold: number | null;
  createdAt: string;
}

const orNull = <T>(value: T | null | undefined): T | null => (value === undefined ? null : value);

export function graphRecordOf(graph: GraphDocument): GraphRecord {
  return {
    id: graph.id,
    prompt: graph.prompt,
    promptTokens: graph.promptTokens,
    tokenIds: graph.tokenIds,
    model: graph.model,
    transcoderSet: graph.transcoderSet,
    nLayers: graph.nLayers,
    createdAt: graph.createdAt,
    createdMs: Date.parse(graph.createdAt),
    maxNLogits: graph.settings.maxNLogits,
    desiredLogitProb: graph.settings.desiredLogitProb,
    batchSize: graph.settings.batchSize,
    maxFeatureNodes: graph.settings.maxFeatureNodes,
    nodeThreshold: graph.settings.nodeThreshold,
    edgeThreshold: graph.settings.edgeThreshold,
    replacement: graph.scores?.replacement ?? null,
    completeness: graph.scores?.completeness ?? null,
    nodeCount: graph.nodes.length,
    edgeCount: graph.edges.length,
  };
}

export function graphSummaryOf(g: GraphRecord): GraphSummary {
  const replacement = orNull(g.replacement);
  const completeness = orNull(g.completeness);
  return {
    id: g.id,
    prompt: g.prompt,
    model: g.model,
    transcoderSet: g.transcoderSet,
    createdAt: g.createdAt,
    nodeCount: g.nodeCount,
    edgeCount: g.edgeCount,
    scores: replacement === null || completeness === null ? null : { replacement, completeness },
    settings: {
      maxNLogits: g.maxNLogits,
      desiredLogitProb: g.desiredLogitProb,
      batchSize: g.batchSize,
      maxFeatureNodes: orNull(g.maxFeatureNodes),
      nodeThreshold: g.nodeThreshold,
      edgeThreshold: g.edgeThreshold,
    },
  };
}

export function graphNodeOf(n: Omit<NodeRecord, 'ord'>): GraphNode {
  return {
    nodeId: n.nodeId,
    kind: n.kind as NodeKind,
    layer: n.layer,
    ctxIdx: n.ctxIdx,
    feature: orNull(n.feature),
    activation: orNull(n.activation),
    influence: orNull(n.influence),
    tokenProb: orNull(n.tokenProb),
    isTargetLogit: n.isTargetLogit === true || n.isTargetLogit === 1,
    label: n.label,
  };
}

/** The document of a graph record, its kept nodes (any order) and its kept edges (in saved order). */
export function graphDocumentOf(g: GraphRecord, nodes: NodeRecord[], edges: GraphEdge[]): GraphDocument {
  const summary = graphSummaryOf(g);
  return {
    id: g.id,
    prompt: g.prompt,
    promptTokens: g.promptTokens ?? [],
    tokenIds: g.tokenIds ?? [],
    model: g.model,
    transcoderSet: g.transcoderSet,
    nLayers: g.nLayers,
    createdAt: g.createdAt,
    settings: summary.settings,
    scores: summary.scores,
    nodes: [...nodes].sort((a, b) => a.ord - b.ord).map(graphNodeOf),
    edges,
  };
}

export function featureLabelOf(f: LabelRecord): FeatureLabel {
  return {
    model: f.model,
    transcoderSet: f.transcoderSet,
    layer: f.layer,
    index: f.index,
    label: f.label,
    author: f.author,
    updatedAt: f.updatedAt,
  };
}

/** A view about to be saved: its new id and creation time (UUIDv7, so the two sort alike). */
export function newSavedView(view: NewSavedView): SavedView {
  return {
    id: newViewId(),
    graphId: view.graphId,
    name: view.name,
    pinnedIds: [...view.pinnedIds],
    supernodes: view.supernodes.map((s) => ({ name: s.name, nodeIds: [...s.nodeIds] })),
    nodeThreshold: view.nodeThreshold,
    edgeThreshold: view.edgeThreshold,
    createdAt: new Date().toISOString(),
  };
}

export function viewRecordOf(view: SavedView): ViewRecord {
  return { ...view, pinnedIds: JSON.stringify(view.pinnedIds), supernodes: JSON.stringify(view.supernodes) };
}

export function savedViewOf(v: ViewRecord): SavedView {
  return {
    id: v.id,
    graphId: v.graphId,
    name: v.name,
    pinnedIds: JSON.parse(v.pinnedIds) as string[],
    supernodes: JSON.parse(v.supernodes) as SavedView['supernodes'],
    nodeThreshold: orNull(v.nodeThreshold),
    edgeThreshold: orNull(v.edgeThreshold),
    createdAt: v.createdAt,
  };
}
