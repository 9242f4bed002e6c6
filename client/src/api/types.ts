/**
 * The API's types as the viewer reads them: each is the generated SDL type (schema/src/generated,
 * from schema/graphql/schema.graphql by `npm run codegen`) narrowed to the fields the viewer asks for,
 * so a change to the contract that breaks the viewer fails the type-check.
 */
import type { Api } from '@circuit-atlas/schema';

export type FeatureLabel = Api.FeatureLabel;

export type ApiNode = Pick<
  Api.Node,
  | 'nodeId'
  | 'kind'
  | 'layer'
  | 'ctxIdx'
  | 'feature'
  | 'activation'
  | 'influence'
  | 'tokenProb'
  | 'isTargetLogit'
  | 'label'
  | 'shownLabel'
>;

export type ApiEdge = Pick<Api.Edge, 'source' | 'target' | 'weight'>;
export type GraphScores = Api.GraphScores;
export type GraphSettings = Pick<Api.GraphSettings, 'nodeThreshold' | 'edgeThreshold'>;
export type Supernode = Api.Supernode;
export type SavedView = Api.SavedView;

export type ApiGraph = Pick<
  Api.Graph,
  'id' | 'prompt' | 'promptTokens' | 'model' | 'transcoderSet' | 'nLayers' | 'createdAt' | 'scores' | 'nodeCount'
> & {
  settings: GraphSettings;
  nodes: ApiNode[];
  /** Empty when read by getGraph: the viewer fetches edges per node (EdgeIndex). */
  edges: ApiEdge[];
  /** Without supernodes (fetched with `view(id)` when opened). */
  views: Omit<SavedView, 'supernodes'>[];
};

export type GraphSummary = Pick<
  Api.GraphSummary,
  'id' | 'prompt' | 'model' | 'transcoderSet' | 'createdAt' | 'nodeCount' | 'edgeCount' | 'scores'
>;

export type Model = Pick<
  Api.Model,
  'id' | 'name' | 'architecture' | 'nLayers' | 'transcoderSet' | 'nFeatures' | 'hasDashboards'
>;

export type JobStatus = Api.JobStatus;
export type TraceJob = Pick<
  Api.TraceJob,
  'id' | 'status' | 'prompt' | 'model' | 'progress' | 'phase' | 'graphId' | 'error'
>;
export type TokenActivation = Api.TokenActivation;

export type FeatureDashboard = Pick<Api.FeatureDashboard, 'activationFrequency' | 'actMax' | 'actMin'> & {
  /** What the feature reads and says, with confidences (computed from the model's dashboards). */
  autoLabels: Api.AutoLabels | null;
  topLogits: Pick<Api.LogitEffect, 'token' | 'value'>[];
  bottomLogits: Pick<Api.LogitEffect, 'token' | 'value'>[];
  quantiles: { name: string; examples: Pick<Api.ActivationExample, 'tokens' | 'trainTokenIndex'>[] }[];
};

export type FeatureOccurrence = Pick<Api.FeatureOccurrence, 'graphId' | 'prompt'> & {
  node: Pick<Api.Node, 'nodeId' | 'activation'>;
};

export type Feature = Pick<Api.Feature, 'model' | 'layer' | 'index' | 'label'> & {
  dashboard: FeatureDashboard | null;
  occurrences: { total: number; items: FeatureOccurrence[] };
};

export type Path = Pick<Api.Path, 'nodeIds' | 'score' | 'weights'>;
export type SharedFeature = Omit<Api.SharedFeature, never>;

export type GraphComparison = Pick<Api.GraphComparison, 'shared' | 'sharedEdges'> & {
  graphA: GraphSummary;
  graphB: GraphSummary;
  onlyInA: ApiNode[];
  onlyInB: ApiNode[];
};

export type LogitProb = Api.LogitProb;
export type InterventionResult = Pick<Api.InterventionResult, 'before' | 'after'>;

/** The circuit view of a graph (Graph.circuit): supernodes, strongest paths to the target logit. */
export type CircuitView = Pick<Api.CircuitView, 'target' | 'supernodes' | 'nodes' | 'edges' | 'paths'>;
export type CircuitNode = Api.CircuitNode;
export type AutoSupernode = Pick<Api.AutoSupernode, 'id' | 'label' | 'named' | 'nodeIds' | 'ctxIdx' | 'layers'>;
export type SupernodeInterventionInput = Api.SupernodeInterventionInput;
