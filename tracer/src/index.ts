/**
 * The tracer's public API: load a model with its transcoders, attribute a prompt, prune it into a
 * GraphDocument, intervene on features, generate. Nothing here knows about stores or HTTP.
 */
import { attribute, type AttributeRunOptions } from './attribution/attribute.js';
import type { AttributionGraph } from './graph/attribution-graph.js';
import type { GraphDocument } from './graph/document.js';
import { toGraphDocument } from './graph/to-document.js';
import type { ReplacementModel } from './model/replacement-model.js';

export { loadReplacementModel, describeModel } from './model/replacement-model.js';
export type { ReplacementModel, ModelDescription, LoadOptions } from './model/replacement-model.js';
export { attribute, ensureTokenized } from './attribution/attribute.js';
export type { AttributionOptions, AttributeRunOptions, AttributionProgress } from './attribution/attribute.js';
export { intervene, generate } from './intervention/intervene.js';
export type { FeatureIntervention, LogitProb, ActivationChange, InterventionResult } from './intervention/intervene.js';
export { ModelFormatError, UserInputError, CancelledError } from './errors.js';
export type { AttributionGraph } from './graph/attribution-graph.js';
export type { GraphDocument } from './graph/document.js';

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
    nodeThreshold: options.nodeThreshold ?? 0.8,
    edgeThreshold: options.edgeThreshold ?? 0.98,
    id: options.id,
  });
  timings.prune = performance.now() - pruneStart;
  timings.total = performance.now() - start;
  return { graph, document, timings };
}
