/**
 * The API's types as the viewer reads them, transcribed from schema/graphql/schema.graphql (the
 * contract; DESIGN.md allows the client types only). Only the fields the viewer asks for.
 */
import type { NodeKind } from '@circuit-atlas/schema';

export interface FeatureLabel {
  model: string;
  transcoderSet: string;
  layer: number;
  index: number;
  label: string;
  author: string;
  updatedAt: string;
}

export interface ApiNode {
  nodeId: string;
  kind: NodeKind;
  layer: number;
  ctxIdx: number;
  feature: number | null;
  activation: number | null;
  influence: number | null;
  tokenProb: number | null;
  isTargetLogit: boolean;
  label: string;
  /** The dashboard's automatic label (features of models with dashboards). */
  autoLabel?: string | null;
  /** The label a researcher saved for this feature. */
  featureLabel?: { label: string } | null;
}

export interface ApiEdge {
  source: string;
  target: string;
  weight: number;
}

export interface GraphScores {
  replacement: number;
  completeness: number;
}

export interface GraphSettings {
  nodeThreshold: number;
  edgeThreshold: number;
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

export interface ApiGraph {
  id: string;
  prompt: string;
  promptTokens: string[];
  model: string;
  transcoderSet: string;
  nLayers: number;
  createdAt: string;
  settings: GraphSettings;
  scores: GraphScores | null;
  nodeCount: number;
  edgeCount: number;
  nodes: ApiNode[];
  edges: ApiEdge[];
  /** Without supernodes (fetched with `view(id)` when opened). */
  views: Omit<SavedView, 'supernodes'>[];
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
}

export interface Model {
  id: string;
  name: string;
  architecture: string;
  nLayers: number;
  transcoderSet: string;
  nFeatures: number;
  hasDashboards: boolean;
}

export type JobStatus = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

export interface TraceJob {
  id: string;
  status: JobStatus;
  prompt: string;
  model: string;
  progress: number;
  phase: string | null;
  graphId: string | null;
  error: string | null;
}

export interface TokenActivation {
  token: string;
  activation: number;
}

export interface FeatureDashboard {
  activationFrequency: number;
  actMax: number;
  actMin: number;
  topLogits: { token: string; value: number }[];
  bottomLogits: { token: string; value: number }[];
  quantiles: { name: string; examples: { tokens: TokenActivation[]; trainTokenIndex: number }[] }[];
}

export interface FeatureOccurrence {
  graphId: string;
  prompt: string;
  node: { nodeId: string; activation: number | null };
}

export interface Feature {
  model: string;
  layer: number;
  index: number;
  label: FeatureLabel | null;
  dashboard: FeatureDashboard | null;
  occurrences: { total: number; items: FeatureOccurrence[] };
}

export interface Path {
  nodeIds: string[];
  score: number;
  weights: number[];
}

export interface SharedFeature {
  layer: number;
  index: number;
  positionFromEnd: number;
  nodeIdA: string;
  nodeIdB: string;
  activationA: number | null;
  activationB: number | null;
  influenceA: number | null;
  influenceB: number | null;
}

export interface GraphComparison {
  graphA: GraphSummary;
  graphB: GraphSummary;
  shared: SharedFeature[];
  onlyInA: ApiNode[];
  onlyInB: ApiNode[];
}

export interface LogitProb {
  token: string;
  tokenId: number;
  probability: number;
}

export interface InterventionResult {
  before: LogitProb[];
  after: LogitProb[];
}
