/**
 * The tracer's public API: load a model with its transcoders, attribute a prompt, prune it into a
 * GraphDocument, intervene on features, generate. Nothing here knows about stores or HTTP.
 */
import { attribute, type AttributeRunOptions } from './attribution/attribute.js';
import type { AttributionGraph } from './graph/attribution-graph.js';
import type { GraphDocument } from '@circuit-atlas/schema';
import { toGraphDocument } from './graph/to-document.js';
import type { ReplacementModel } from './model/replacement-model.js';

export { loadReplacementModel, describeModel } from './model/replacement-model.js';
export type { ReplacementModel, ModelDescription, LoadOptions } from './model/replacement-model.js';
export { attribute, ensureTokenized } from './attribution/attribute.js';
export type { AttributionOptions, AttributeRunOptions, AttributionProgress } from './attribution/attribute.js';
export { intervene, generate } from './intervention/intervene.js';
export type { FeatureIntervention, LogitProb, ActivationChange, InterventionResult } from './intervention/intervene.js';
export { ModelFormatError, UserInputError, CancelledError } from './errors.js';
export { labelFeature, DEFAULT_LABEL_PARAMETERS } from './labels/feature-labels.js';
export type { FeatureLabels, LabelPart, LabelParameters } from './labels/feature-labels.js';
export { LabelContext } from './labels/label-context.js';
export { FeatureLabeller, labelDocument } from './labels/feature-labeller.js';
export { readDashboardFolder, readLayerDashboards, logitEntryOf, topLogitsOf } from './labels/feature-dashboard.js';
export type { FeatureDetail, DetailExample, DetailQuantile, LogitEntry } from './labels/feature-dashboard.js';
export type { AttributionGraph } from './graph/attribution-graph.js';
export type { GraphDocument, GraphNode, GraphEdge } from '@circuit-atlas/schema';
export { toGraphDocument } from './graph/to-document.js';
export type { ToDocumentOptions } from './graph/to-document.js';
export { toGraphJson, fromGraphJson, validateGraphJson } from './graph/graph-json.js';
export type { GraphJson, GraphJsonNode, GraphJsonLink, FromGraphJsonOptions } from './graph/graph-json.js';
/** The ONNX graph builder and session, for benchmarks that measure Runtime itself. */
export { GraphBuilder } from './onnx/graph-builder.js';
export { GraphSession } from './onnx/session.js';
export type { ExecutionProvider } from './onnx/session.js';

export interface TraceOptions extends AttributeRunOptions {
  nodeThreshold?: number;
  edgeThreshold?: number;
  /** Graph id; a random UUID when omitted. */
  id?: string;
}

/** attribute + prune/score/label: the unpruned graph, its pruned document and the phase timings (ms). */
export async function traceGraph(
  model: ReplacementModel,
  prompt: string,
  options: TraceOptions = {},
): Promise<{ graph: AttributionGraph; document: GraphDocument; timings: Record<string, number> }> {
  const timings: Record<string, number> = {};
  const start = performance.now();
  const graph = await attribute(model, prompt, { ...options, timings });
  const pruneStart = performance.now();
  const document = toGraphDocument(graph, {
    nodeThreshold: options.nodeThreshold,
    edgeThreshold: options.edgeThreshold,
    id: options.id,
  });
  timings.prune = performance.now() - pruneStart;
  timings.total = performance.now() - start;
  return { graph, document, timings };
}
// Feature dashboards computed over a corpus (features/).
export { computeFeatureDashboards } from './features/compute.js';
export type {
  FeatureDashboardOptions,
  FeatureDashboardResult,
  FeatureProgress,
  LayerResult,
} from './features/compute.js';
export type { FeatureDashboard, DashboardExample } from './features/dashboard.js';
export { readCorpus, corpusFormatOf, type CorpusFormat } from './features/corpus.js';
// Readable circuits: automatic supernodes, the circuit view, supernode interventions (circuit/).
export {
  findSupernodes,
  supernodesToQParams,
  supernodesFromQParams,
  SUPERNODE_DEFAULTS,
} from './circuit/supernodes.js';
export type { Supernode, SupernodeOptions, FeatureLabelLookup, MemberLabels, LabelText } from './circuit/supernodes.js';
export { buildCircuitView, CIRCUIT_VIEW_DEFAULTS } from './circuit/circuit-view.js';
export type {
  CircuitView,
  CircuitViewNode,
  CircuitViewEdge,
  CircuitPath,
  CircuitViewOptions,
} from './circuit/circuit-view.js';
export { dashboardLabels } from './circuit/dashboard-labels.js';
export { documentInfluence } from './circuit/document-influence.js';
export {
  interveneOnSupernodes,
  supernodeFeatureInterventions,
  supernodeMembers,
} from './intervention/supernode-intervention.js';
export type { SupernodeIntervention, SupernodeMember } from './intervention/supernode-intervention.js';
export {
  dashboardContexts,
  indexContexts,
  dashboardContextIndex,
  nameFromContexts,
  renameFromContexts,
  contextIndexFor,
  CONTEXT_NAME_DEFAULTS,
} from './circuit/supernode-contexts.js';
export type { ContextIndex, ContextName, ContextNameOptions } from './circuit/supernode-contexts.js';
