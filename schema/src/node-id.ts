/**
 * The one node-id scheme of circuit-atlas, the reference's (REFERENCE.md, "Exchange format"):
 *   feature   `{layer}_{feature}_{ctxIdx}`
 *   error     `{layer}_-1_{ctxIdx}`     (circuit-tracer 0.5.0 wrote `0_{layer}_{ctxIdx}`; read, never written)
 *   embedding `E_{tokenId}_{ctxIdx}`
 *   logit     `{nLayers+1}_{tokenId}_{ctxIdx}`
 * Every producer formats ids here and every consumer parses them here; nothing splits ids by hand.
 */

export const NODE_KINDS = ['feature', 'error', 'embedding', 'logit'] as const;
export type NodeKind = (typeof NODE_KINDS)[number];

/** What a node id says: its kind, layer (embeddings -1, logits nLayers), position and feature/token. */
export interface NodeAddress {
  kind: NodeKind;
  layer: number;
  ctxIdx: number;
  /** Feature index for features, token id for embeddings and logits, null for errors. */
  feature: number | null;
}

/** Builds a node id by the scheme above. */
export function formatNodeId(
  kind: NodeKind,
  layer: number,
  ctxIdx: number,
  feature: number | null,
  nLayers: number,
): string {
  switch (kind) {
    case 'feature':
      return `${layer}_${feature}_${ctxIdx}`;
    case 'error':
      return `${layer}_-1_${ctxIdx}`;
    case 'embedding':
      return `E_${feature}_${ctxIdx}`;
    case 'logit':
      return `${nLayers + 1}_${feature}_${ctxIdx}`;
  }
}

/** The id circuit-tracer 0.5.0 gave an error node (it collides with layer-0 feature ids). */
export function legacyErrorNodeId(layer: number, ctxIdx: number): string {
  return `0_${layer}_${ctxIdx}`;
}

const ID_PATTERN = /^(E|\d+)_(-1|\d+)_(\d+)$/;

/**
 * Reads a node id of a graph with `nLayers` layers; null when the id does not follow the scheme.
 * Legacy 0.5.0 error ids cannot be told from layer-0 feature ids, so they parse as features; the
 * graph-JSON reader, which knows each node's `feature_type`, maps them with `legacyErrorNodeId`.
 */
export function parseNodeId(nodeId: string, nLayers: number): NodeAddress | null {
  const match = ID_PATTERN.exec(nodeId);
  if (!match) return null;
  const [, head, middle, tail] = match;
  const second = Number(middle);
  const ctxIdx = Number(tail);
  if (!Number.isSafeInteger(second) || !Number.isSafeInteger(ctxIdx)) return null;
  if (head === 'E') return second < 0 ? null : { kind: 'embedding', layer: -1, ctxIdx, feature: second };
  const layer = Number(head);
  if (!Number.isSafeInteger(layer)) return null;
  if (second === -1) return layer < nLayers ? { kind: 'error', layer, ctxIdx, feature: null } : null;
  if (layer === nLayers + 1) return { kind: 'logit', layer: nLayers, ctxIdx, feature: second };
  return layer < nLayers ? { kind: 'feature', layer, ctxIdx, feature: second } : null;
}
