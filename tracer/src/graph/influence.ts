/**
 * Influence on the output logits ("Circuit Tracing", §3.3 "Pruning"; circuit-tracer `graph.py`).
 *
 *   Â = |A| / rowsum(|A|)                  rows that sum to zero stay zero
 *   influence = Σ_{k≥1} w Âᵏ               w = logit probabilities on logit nodes, 0 elsewhere
 *
 * The reference iterates the dense power series. An attribution graph is a DAG (a node only reads
 * nodes of earlier layers, or earlier positions through attention), so the series is exact after
 * one pass over the nodes in reverse topological order: each node hands its total (w + influence)
 * to its sources in proportion to Â. That is O(edges) on the sparse adjacency, never N × N.
 * The order is derived from the graph itself (Kahn's algorithm on the non-zero entries), so it
 * does not rely on the node order (features sorted by layer, then errors, tokens and logits).
 */
import { UserInputError } from '../errors.js';
import type { AttributionGraph, SparseMatrix } from './attribution-graph.js';
import { nodeLayout } from './attribution-graph.js';

/** The CSR pattern of a matrix with float64 values (normalized adjacencies keep full precision). */
export interface SparseRows {
  nRows: number;
  nCols: number;
  rowPtr: Int32Array; // [nRows + 1]
  colIdx: Int32Array; // [nnz]
  values: Float64Array | Float32Array; // [nnz]
}

/**
 * Rows read one at a time: attribution's growing row store keeps its rows in fixed-size segments
 * (never copied as it grows), so it offers rows rather than one CSR.
 */
export interface RowReader {
  nRows: number;
  nCols: number;
  row(r: number): { cols: Int32Array; values: Float32Array | Float64Array };
}

/** A CSR's rows as views (no copy). */
function csrRows(m: SparseRows): RowReader {
  return {
    nRows: m.nRows,
    nCols: m.nCols,
    row: (r) => ({
      cols: m.colIdx.subarray(m.rowPtr[r], m.rowPtr[r + 1]),
      values: m.values.subarray(m.rowPtr[r], m.rowPtr[r + 1]),
    }),
  };
}

/** The reference's floor on a row sum in `normalize_matrix` (the adjacency). */
export const NORMALIZE_MIN_ROW_SUM = 1e-10;
/** The reference's floor on a row sum in `compute_partial_influences` (max_feature_nodes rounds). */
export const PARTIAL_NORMALIZE_MIN_ROW_SUM = 1e-8;

/** Â = |A| / rowsum(|A|), row sums floored at `minRowSum` as the reference does. Same pattern as A. */
export function normalizeAdjacency(
  adjacency: SparseRows | SparseMatrix,
  minRowSum = NORMALIZE_MIN_ROW_SUM,
): SparseRows {
  const { nRows, rowPtr, values } = adjacency;
  const normalized = new Float64Array(values.length); // [nnz]
  for (let row = 0; row < nRows; row++) {
    const start = rowPtr[row];
    const end = rowPtr[row + 1];
    let rowSum = 0;
    for (let k = start; k < end; k++) rowSum += Math.abs(values[k]);
    const scale = 1 / Math.max(rowSum, minRowSum);
    for (let k = start; k < end; k++) normalized[k] = Math.abs(values[k]) * scale;
  }
  return { nRows, nCols: adjacency.nCols, rowPtr: adjacency.rowPtr, colIdx: adjacency.colIdx, values: normalized };
}

/**
 * Σ_{k≥1} w Âᵏ over the nodes [0, nNodes), computed exactly in one pass in reverse topological order.
 * `rowNode[r]` is the node whose inputs row r holds (identity when omitted: row r is node r);
 * nodes without a row have no inputs. With `rowScale`, `normalized` holds raw A and row r's entries
 * are read as |A| · rowScale[r]. Throws UserInputError when the non-zero pattern has a cycle,
 * where the series is not a finite sum.
 */
export function propagateInfluence(
  normalized: SparseRows | RowReader,
  nodeWeights: ArrayLike<number>,
  nNodes: number = normalized.nCols,
  rowNode?: Int32Array,
  rowScale?: Float64Array,
): Float64Array {
  const rows = 'row' in normalized ? normalized : csrRows(normalized);
  const { nRows } = rows;
  if (nodeWeights.length !== nNodes) {
    throw new UserInputError(
      `influence needs one weight per node: got ${nodeWeights.length} weights for ${nNodes} nodes`,
    );
  }
  // rowOfNode[n]: the row holding node n's inputs, or -1 (errors, tokens, unvisited features).
  const rowOfNode = new Int32Array(nNodes).fill(-1);
  for (let row = 0; row < nRows; row++) {
    const node = rowNode ? rowNode[row] : row;
    if (node < 0 || node >= nNodes)
      throw new UserInputError(`row ${row} names node ${node}, outside the ${nNodes} nodes`);
    rowOfNode[node] = row;
  }
  // pendingTargets[n]: how many targets still have to hand their influence to source n.
  const pendingTargets = new Int32Array(nNodes);
  for (let row = 0; row < nRows; row++) {
    const { cols, values } = rows.row(row);
    for (let k = 0; k < cols.length; k++) if (values[k] !== 0) pendingTargets[cols[k]]++;
  }
  const influence = new Float64Array(nNodes);
  const ready = new Int32Array(nNodes); // a FIFO of nodes whose influence is final
  let head = 0;
  let tail = 0;
  for (let n = 0; n < nNodes; n++) if (pendingTargets[n] === 0) ready[tail++] = n;
  while (head < tail) {
    const node = ready[head++];
    const row = rowOfNode[node];
    if (row < 0) continue;
    const total = nodeWeights[node] + influence[node]; // what node passes down: its own weight plus what reached it
    const scale = rowScale ? rowScale[row] : 1;
    const { cols, values } = rows.row(row);
    for (let k = 0; k < cols.length; k++) {
      const share = rowScale ? Math.abs(values[k]) * scale : values[k];
      if (share === 0) continue;
      const source = cols[k];
      influence[source] += total * share;
      if (--pendingTargets[source] === 0) ready[tail++] = source;
    }
  }
  if (tail < nNodes) {
    let stuck = 0;
    while (pendingTargets[stuck] === 0) stuck++;
    throw new UserInputError(
      `the adjacency has a cycle through node ${stuck}: influence is only defined on an acyclic attribution graph`,
    );
  }
  return influence;
}

/** Σ_{k≥1} w Âᵏ for an already normalized adjacency (the reference's `compute_influence`). */
export function computeInfluence(normalized: SparseRows, logitWeights: ArrayLike<number>): Float64Array {
  return propagateInfluence(normalized, logitWeights, normalized.nRows);
}

/** Influence of every node of an adjacency A (the reference's `compute_node_influence`). */
export function computeNodeInfluence(
  adjacency: SparseRows | SparseMatrix,
  logitWeights: ArrayLike<number>,
): Float64Array {
  return computeInfluence(normalizeAdjacency(adjacency), logitWeights);
}

/** w: the logit probabilities on the logit nodes (the last block), 0 elsewhere. [nNodes] */
export function logitWeightsOf(
  graph: Pick<AttributionGraph, 'selectedFeatures' | 'nLayers' | 'nPos' | 'logitTargets'>,
): Float64Array {
  const { logitStart, nNodes } = nodeLayout(graph);
  const weights = new Float64Array(nNodes);
  graph.logitTargets.forEach((target, i) => (weights[logitStart + i] = target.probability));
  return weights;
}

/**
 * Partial influence during the `max_feature_nodes` rounds (the reference's
 * `compute_partial_influences` in `graph.py`, called from `attribution/attribute.py`).
 *
 * Node space: ALL active features, then errors, tokens and logits (`rows.nCols` nodes; the last
 * `logitProbabilities.length` are the logits). `rows` holds the rows computed so far — the logit
 * rows first, then feature rows in attribution order — and `rowToNode[r]` is the node of row r.
 * Each row is normalized by its own |row| sum (floored at 1e-8, as the reference does); influence
 * then flows from the logits through the computed rows only. Unvisited features have no row, so
 * they receive influence but pass none on. Returns Σ_{k≥1} (influence over all nodes), without w.
 */
export function computePartialInfluence(
  computed: SparseRows | SparseMatrix | RowReader,
  rowToNode: Int32Array,
  logitProbabilities: ArrayLike<number>,
): Float64Array {
  const rows = 'row' in computed ? computed : csrRows(computed);
  const nNodes = rows.nCols;
  if (rowToNode.length < rows.nRows) {
    throw new UserInputError(`rowToNode has ${rowToNode.length} entries for ${rows.nRows} computed rows`);
  }
  const weights = new Float64Array(nNodes);
  const logitStart = nNodes - logitProbabilities.length;
  for (let i = 0; i < logitProbabilities.length; i++) weights[logitStart + i] = logitProbabilities[i];
  // Â's entries are formed as they are read (|A| times the row's scale): no normalized copy of the rows.
  const rowScale = new Float64Array(rows.nRows);
  for (let row = 0; row < rows.nRows; row++) {
    const { values } = rows.row(row);
    let rowSum = 0;
    for (let k = 0; k < values.length; k++) rowSum += Math.abs(values[k]);
    rowScale[row] = 1 / Math.max(rowSum, PARTIAL_NORMALIZE_MIN_ROW_SUM);
  }
  return propagateInfluence(rows, weights, nNodes, rowToNode, rowScale);
}

/**
 * The next features to attribute in a `max_feature_nodes` round: the unvisited active features
 * ranked by partial influence, highest first, at most `queueSize` of them. The reference ranks with
 * an unstable argsort; ties here go to the lower active-feature index so runs are reproducible.
 */
export function rankUnvisitedFeatures(
  partialInfluence: ArrayLike<number>,
  visited: Uint8Array, // [nActive], 1 = its row is computed
  queueSize: number,
): Int32Array {
  const candidates: number[] = [];
  for (let f = 0; f < visited.length; f++) if (!visited[f]) candidates.push(f);
  candidates.sort((a, b) => partialInfluence[b] - partialInfluence[a] || a - b);
  return Int32Array.from(candidates.slice(0, Math.max(0, queueSize)));
}
