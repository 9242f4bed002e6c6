/**
 * GraphDocument: a pruned attribution graph as the rest of circuit-atlas sees it — what the tracer
 * hands over, what a GraphStore saves and returns, what the API serves. It carries the same
 * information as circuit-tracer's graph JSON (see `graph-json.ts`), with typed fields.
 *
 * Node ids: see node-id.ts (the one scheme, the reference's).
 */

import type { NodeKind } from './node-id.js';

export interface GraphNode {
  nodeId: string;
  kind: NodeKind;
  /** Transformer layer; embeddings are -1, logits are nLayers. */
  layer: number;
  /** Token position in the prompt (BOS is position 0). */
  ctxIdx: number;
  /** Transcoder feature index for features; the token id for embeddings and logits; null for errors. */
  feature: number | null;
  /** Feature activation; null for other kinds. */
  activation: number | null;
  /**
   * Cumulative influence share at which the node was kept by node pruning (0..1, smaller = more
   * influential); null for logits. Embeddings have one too (circuit-tracer writes it), though
   * embeddings and logits are always kept.
   */
  influence: number | null;
  /** Probability of the logit's token; null for other kinds. */
  tokenProb: number | null;
  isTargetLogit: boolean;
  /** Human-readable label ("clerp"): `Output "Austin" (p=0.812)`, a feature label, ... */
  label: string;
}

export interface GraphEdge {
  source: string;
  target: string;
  /** Signed attribution A[target, source]: the change in the target when the source is removed. */
  weight: number;
  /**
   * Cumulative edge-score share at which the edge was kept by edge pruning (0..1, smaller = more
   * important); null when unknown (imported graphs without scores).
   */
  influence: number | null;
}

export interface GraphSettings {
  maxNLogits: number;
  desiredLogitProb: number;
  batchSize: number;
  maxFeatureNodes: number | null;
  nodeThreshold: number;
  edgeThreshold: number;
}

export interface GraphScores {
  /** Replacement score of the unpruned graph (REFERENCE.md, "Influence, pruning, scores"). */
  replacement: number;
  /** Completeness score of the unpruned graph. */
  completeness: number;
}

export interface GraphDocument {
  /** Unique id (the reference's `slug`): letters, digits, '-', '_' and '.'. */
  id: string;
  prompt: string;
  /** Token strings, one per position, BOS included. */
  promptTokens: string[];
  /** Token ids, one per position; empty when imported from a JSON that lacks them. */
  tokenIds: number[];
  /** Model name (the reference's `scan`), e.g. `atlas-world-llama`. */
  model: string;
  /** Transcoder set name, e.g. `atlas-world-llama/plt`. */
  transcoderSet: string;
  nLayers: number;
  /** ISO 8601 time of the trace (or import). */
  createdAt: string;
  settings: GraphSettings;
  scores: GraphScores | null;
  nodes: GraphNode[];
  edges: GraphEdge[];
}
