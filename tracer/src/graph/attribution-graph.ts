/**
 * AttributionGraph: the unpruned result of one attribution run, as plain data that influence,
 * pruning, scores and export read (STYLE.md: the graph is data). Mirrors the reference's
 * `Graph` object (circuit-tracer `graph.py`), with the adjacency kept sparse.
 *
 * Node order in the adjacency (REFERENCE.md, "Attribution"):
 *   [0, nFeatureNodes)                      selected features, in `selectedFeatures` order
 *   [nFeatureNodes, + nLayers·nPos)         error nodes, layer-major: layer·nPos + pos
 *   [.., + nPos)                            token (embedding) nodes, one per position
 *   [.., + logitTargets.length)             logit nodes, in target order
 * Rows of error and token nodes are empty (they have no inputs).
 */

/** Compressed sparse rows: row r holds entries colIdx[rowPtr[r]..rowPtr[r+1]) with those values. */
export interface SparseMatrix {
  nRows: number;
  nCols: number;
  rowPtr: Int32Array; // [nRows + 1]
  colIdx: Int32Array; // [nnz], ascending within each row
  values: Float32Array; // [nnz]
}

export interface LogitTarget {
  tokenId: number;
  token: string;
  /** Probability at the last position (not renormalized). */
  probability: number;
}

export interface AttributionGraph {
  prompt: string;
  /** Token ids, BOS included. [nPos] */
  tokenIds: Int32Array;
  /** Decoded token strings. [nPos] */
  tokenStrings: string[];
  modelName: string;
  transcoderSet: string;
  nLayers: number;
  nPos: number;
  /** Every active feature as (layer, pos, featureIndex) triples, sorted. [nActive · 3] */
  activeFeatures: Int32Array;
  /** Activation of each active feature. [nActive] */
  activations: Float32Array;
  /** Indices into activeFeatures of the features that are graph nodes, in node order. [nFeatureNodes] */
  selectedFeatures: Int32Array;
  logitTargets: LogitTarget[];
  /** A[target, source], nNodes × nNodes, in the node order above. */
  adjacency: SparseMatrix;
  /** The settings used, for export. */
  settings: {
    maxNLogits: number;
    desiredLogitProb: number;
    batchSize: number;
    maxFeatureNodes: number | null;
  };
}

/** Offsets of each node block in the adjacency. */
export function nodeLayout(graph: Pick<AttributionGraph, 'selectedFeatures' | 'nLayers' | 'nPos' | 'logitTargets'>) {
  const nFeatureNodes = graph.selectedFeatures.length;
  const errorStart = nFeatureNodes;
  const tokenStart = errorStart + graph.nLayers * graph.nPos;
  const logitStart = tokenStart + graph.nPos;
  const nNodes = logitStart + graph.logitTargets.length;
  return { nFeatureNodes, errorStart, tokenStart, logitStart, nNodes };
}
