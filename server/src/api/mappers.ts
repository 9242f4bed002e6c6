/**
 * What the resolvers of each GraphQL type receive as their parent: the data layer's own types, so
 * resolvers only translate (codegen.ts maps the SDL types onto these).
 */
import type { GraphDocument, GraphNode } from '@circuit-atlas/schema';
import type { FeatureOccurrence, NodeWithEdges } from '../store/graph-store.js';
import type { FeatureDetail } from '../models/catalog.js';
import type { GraphNodeLabels } from '../figure/node-labels.js';

/** The model a node's features belong to, which the node alone does not carry. */
export interface FeatureOwner {
  model: string;
  transcoderSet: string;
}

export type GraphParent = GraphDocument;

export type NodeParent = GraphNode & {
  owner: FeatureOwner;
  /** The labels of the whole graph the node was served in, resolved once for all its nodes (graph-labels.ts). */
  graphLabels?: GraphNodeLabels;
};

export interface NodeEdgesParent extends NodeWithEdges {
  graphId: string;
  direction: 'in' | 'out';
  owner: FeatureOwner;
}

export interface FeatureParent extends FeatureOwner {
  layer: number;
  index: number;
  /** The catalog folder of the model, when the server has it (dashboards live there). */
  modelDir: string | null;
}

export type FeatureOccurrenceParent = FeatureOccurrence & { owner: FeatureOwner };

export type FeatureDashboardParent = FeatureDetail;

/** Attaches the owning model to a node so its `featureLabel` can be looked up. */
export function ownedNode(node: GraphNode, owner: FeatureOwner): NodeParent {
  return { ...node, owner };
}

/**
 * One entry of a dashboard's top/bottom logits. The reference writes bare token strings; a writer
 * that keeps the direct effect writes {token, value} or [token, value].
 */
export function logitEffectOf(entry: unknown): { token: string; value: number | null } {
  if (typeof entry === 'string') return { token: entry, value: null };
  if (Array.isArray(entry)) return { token: String(entry[0]), value: typeof entry[1] === 'number' ? entry[1] : null };
  const object = entry as { token?: unknown; value?: unknown };
  return { token: String(object.token ?? ''), value: typeof object.value === 'number' ? object.value : null };
}

/** A dashboard's example quantiles with each token paired with its activation. */
export function quantilesOf(detail: FeatureDetail) {
  return detail.examples_quantiles.map((quantile) => ({
    name: quantile.quantile_name,
    examples: quantile.examples.map((example) => ({
      tokens: example.tokens.map((token, i) => ({ token, activation: example.tokens_acts_list[i] ?? 0 })),
      trainTokenIndex: example.train_token_ind,
    })),
  }));
}
