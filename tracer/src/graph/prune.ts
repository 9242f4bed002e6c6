/**
 * Pruning ("Circuit Tracing", §3.3; circuit-tracer `graph.py` `prune_graph`), on the sparse
 * adjacency, with the reference's rules in the reference's order:
 *   1. node influence on the unpruned graph; keep the smallest top set of nodes whose cumulative
 *      share reaches `nodeThreshold` (the crossing node and its ties kept); tokens and logits always;
 *   2. zero the rows and columns of dropped nodes and normalize again (Â_pruned);
 *      edge score = Â_pruned[t, s] · (influence_pruned[t] + w[t]); keep the top edges to
 *      cumulative `edgeThreshold`;
 *   3. repeatedly drop features and errors with no kept outgoing edge and features with no kept
 *      incoming edge, and the edges of dropped nodes, until nothing changes.
 */
import { checkTraceSetting, TRACE_SETTING_DEFAULTS } from '@circuit-atlas/schema';
import { UserInputError } from '../errors.js';
import type { AttributionGraph } from './attribution-graph.js';
import { nodeLayout } from './attribution-graph.js';
import { logitWeightsOf, normalizeAdjacency, propagateInfluence } from './influence.js';

export interface PruneResult {
  /** 1 = node kept. [nNodes] */
  nodeMask: Uint8Array;
  /** 1 = adjacency entry kept (both its nodes kept), aligned with `adjacency.values`. [nnz] */
  edgeMask: Uint8Array;
  /** Influence of each node on the unpruned graph (Σ_{k≥1} w Âᵏ). [nNodes] */
  nodeInfluence: Float64Array;
  /**
   * Cumulative influence share of each node (the reference's `cumulative_scores`): the share of
   * total influence held by the nodes ranked at or above it, 0..1, smaller = more influential. [nNodes]
   */
  nodeShare: Float64Array;
  /** Edge score Â_pruned[t, s] · (influence_pruned[t] + w[t]) of each entry. [nnz] */
  edgeScore: Float64Array;
  /**
   * Cumulative edge-score share of each kept entry: the share of the total edge score held by the
   * entries scoring at least as high (0..1, smaller = more important); NaN where not kept. [nnz]
   */
  edgeShare: Float64Array;
}

/** The highest scores, sorted, with their running share of the total of ALL scores. */
interface RankedScores {
  /** The top non-zero scores, descending (all of them, or those at or above a cut). [m] */
  descending: Float64Array;
  /** cumulative[k] = Σ descending[0..k] / Σ all scores. [m] */
  cumulative: Float64Array;
  /** Whether `descending` holds every non-zero score. */
  complete: boolean;
}

/** Below this many non-zero scores, sorting them all is cheaper than looking for a cut first. */
const FULL_SORT_LIMIT = 200_000;

/** Sorts the non-zero scores ≥ `cut` (all non-zero ones when cut is 0) and accumulates their shares. */
function rankAbove(scores: ArrayLike<number>, cut: number, total: number): RankedScores {
  let m = 0;
  for (let i = 0; i < scores.length; i++) if (scores[i] !== 0 && scores[i] >= cut) m++;
  const descending = new Float64Array(m);
  let j = 0;
  let nonZero = 0;
  for (let i = 0; i < scores.length; i++) {
    if (scores[i] === 0) continue;
    nonZero++;
    if (scores[i] >= cut) descending[j++] = scores[i];
  }
  descending.sort().reverse(); // typed-array sort is numeric
  const cumulative = new Float64Array(m);
  let running = 0;
  for (let k = 0; k < m; k++) cumulative[k] = running += descending[k];
  // With every score ranked, the sorted sum is the total, so the last share is exactly 1.
  const complete = m === nonZero;
  const denominator = complete ? running : total;
  for (let k = 0; k < m; k++) cumulative[k] /= denominator;
  return { descending, cumulative, complete };
}

/**
 * Ranks the scores far enough to find where their cumulative share reaches `fraction`. Millions of
 * edge scores take long to sort, and only the top ones matter: a sorted sample proposes a cut low
 * enough that the scores above it hold `fraction` of the total; one pass checks it, and only those
 * scores are sorted. A cut that falls short is lowered until none is left (a full sort).
 */
function rankScores(scores: ArrayLike<number>, fraction: number): RankedScores {
  let total = 0;
  let nonZero = 0;
  for (let i = 0; i < scores.length; i++) {
    total += scores[i];
    if (scores[i] !== 0) nonZero++;
  }
  if (nonZero <= FULL_SORT_LIMIT || fraction >= 1) return rankAbove(scores, 0, total);
  const sample = new Float64Array(4096);
  const stride = scores.length / sample.length;
  for (let k = 0; k < sample.length; k++) sample[k] = scores[Math.floor(k * stride)];
  sample.sort().reverse();
  let sampleTotal = 0;
  for (const v of sample) sampleTotal += v;
  // The sample's crossing rank, then a margin below it that doubles on each failed check.
  let rank = 0;
  for (let running = 0; rank < sample.length - 1 && running < fraction * sampleTotal; rank++) running += sample[rank];
  for (let margin = 64; ; margin *= 2) {
    const cutRank = rank + margin;
    if (cutRank >= sample.length || sample[cutRank] === 0) return rankAbove(scores, 0, total);
    const cut = sample[cutRank];
    let above = 0;
    for (let i = 0; i < scores.length; i++) if (scores[i] >= cut) above += scores[i];
    if (above >= fraction * total * (1 + 1e-9)) return rankAbove(scores, cut, total);
  }
}

/**
 * The score threshold that keeps `fraction` of the total (the reference's `find_threshold`): the
 * score at the first rank whose cumulative share reaches it. `nZeros` zero scores follow the
 * non-zero ones; when the share is only reached among them (fraction 1.0 after rounding), the
 * threshold is 0 and every entry is kept, as in the reference.
 */
function scoreThreshold(ranked: RankedScores, fraction: number, nZeros: number): number {
  const { descending, cumulative } = ranked;
  // First k with cumulative[k] >= fraction (torch.searchsorted, left side).
  let lo = 0;
  let hi = cumulative.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cumulative[mid] < fraction) lo = mid + 1;
    else hi = mid;
  }
  if (lo < descending.length) return descending[lo];
  if (!ranked.complete) throw new Error('internal: a partial ranking must reach the fraction'); // rankScores checks the cut
  if (nZeros > 0 || descending.length === 0) return 0;
  return descending[descending.length - 1]; // index clamped to the last entry
}

/**
 * The reference's `find_threshold`: the score at which the descending cumulative share of
 * `scores` (followed by `nAbsentZeros` zeros) first reaches `fraction`; keep scores ≥ it.
 */
export function findThreshold(scores: Float64Array, fraction: number, nAbsentZeros = 0): number {
  return scoreThreshold(rankScores(scores, fraction), fraction, nAbsentZeros + scores.length - countNonZero(scores));
}

/** Cumulative share at a score: of all scores ≥ it (ties share the share of their last rank). */
function shareAt({ descending, cumulative }: RankedScores, score: number): number {
  if (score === 0 || descending.length === 0) return 1;
  // Last k with descending[k] >= score.
  let lo = 0;
  let hi = descending.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (descending[mid] >= score) lo = mid + 1;
    else hi = mid;
  }
  return cumulative[Math.max(0, lo - 1)];
}

/**
 * Each node's cumulative share at its own rank, as the reference computes `cumulative_scores`.
 * Tied nodes get successive shares; the reference's unstable sort orders them arbitrarily, ours
 * in node order, so runs are reproducible.
 */
function cumulativeNodeShares(influence: Float64Array): Float64Array {
  const order = Int32Array.from(influence.keys());
  order.sort((a, b) => influence[b] - influence[a] || a - b);
  let total = 0;
  for (let n = 0; n < influence.length; n++) total += influence[n];
  const shares = new Float64Array(influence.length);
  let running = 0;
  if (total === 0) return shares.fill(1); // nothing reaches the logits: every node is at the tail
  for (const n of order) shares[n] = (running += influence[n]) / total;
  return shares;
}

function countNonZero(values: Float64Array): number {
  let count = 0;
  for (let i = 0; i < values.length; i++) if (values[i] !== 0) count++;
  return count;
}

/**
 * Re-pruning from stored shares: at `threshold`, the reference keeps everything ranked up to and
 * including the crossing entry, i.e. every share ≤ the smallest share that is ≥ `threshold`.
 * Returns that cutoff (1 when no share reaches the threshold); keep `share <= cutoff`. Pass the
 * shares of everything that was ranked: for nodes, embeddings included (tokens rank too).
 */
export function shareCutoff(shares: Iterable<number>, threshold: number): number {
  let cutoff = Infinity;
  for (const share of shares) if (share >= threshold && share < cutoff) cutoff = share;
  return cutoff === Infinity ? 1 : cutoff;
}

export function pruneGraph(
  graph: AttributionGraph,
  nodeThreshold = TRACE_SETTING_DEFAULTS.nodeThreshold,
  edgeThreshold = TRACE_SETTING_DEFAULTS.edgeThreshold,
): PruneResult {
  checkTraceSetting('nodeThreshold', nodeThreshold);
  checkTraceSetting('edgeThreshold', edgeThreshold);
  const { adjacency } = graph;
  const { errorStart, tokenStart, nNodes } = nodeLayout(graph);
  if (adjacency.nRows !== nNodes || adjacency.nCols !== nNodes) {
    throw new UserInputError(
      `the adjacency is ${adjacency.nRows} × ${adjacency.nCols} but the graph has ${nNodes} nodes`,
    );
  }
  const { rowPtr, colIdx, values } = adjacency;
  const nnz = values.length;
  const logitWeights = logitWeightsOf(graph);

  // 1. Node influence and the node threshold over all nodes (tokens and logits included, as the reference ranks them).
  const nodeInfluence = propagateInfluence(normalizeAdjacency(adjacency), logitWeights, nNodes);
  const rankedNodes = rankScores(nodeInfluence, nodeThreshold);
  const nodeCut = scoreThreshold(rankedNodes, nodeThreshold, nNodes - countNonZero(nodeInfluence));
  const nodeMask = new Uint8Array(nNodes);
  for (let n = 0; n < nNodes; n++) nodeMask[n] = nodeInfluence[n] >= nodeCut || n >= tokenStart ? 1 : 0;
  const nodeShare = cumulativeNodeShares(nodeInfluence);

  // 2. Â of the node-pruned matrix (normalization recomputed), its influence, and edge scores.
  const prunedNormalized = new Float64Array(nnz);
  for (let row = 0; row < nNodes; row++) {
    if (!nodeMask[row]) continue;
    let rowSum = 0;
    for (let k = rowPtr[row]; k < rowPtr[row + 1]; k++) if (nodeMask[colIdx[k]]) rowSum += Math.abs(values[k]);
    const scale = 1 / Math.max(rowSum, 1e-10);
    for (let k = rowPtr[row]; k < rowPtr[row + 1]; k++) {
      if (nodeMask[colIdx[k]]) prunedNormalized[k] = Math.abs(values[k]) * scale;
    }
  }
  const prunedInfluence = propagateInfluence({ ...adjacency, values: prunedNormalized }, logitWeights, nNodes);
  const edgeScore = new Float64Array(nnz);
  for (let row = 0; row < nNodes; row++) {
    const outputInfluence = prunedInfluence[row] + logitWeights[row];
    for (let k = rowPtr[row]; k < rowPtr[row + 1]; k++) edgeScore[k] = prunedNormalized[k] * outputInfluence;
  }
  const rankedEdges = rankScores(edgeScore, edgeThreshold);
  // The reference ranks all nNodes² entries: the absent ones are zeros after the stored ones.
  const nZeroEntries = nNodes * nNodes - countNonZero(edgeScore);
  const edgeCut = scoreThreshold(rankedEdges, edgeThreshold, nZeroEntries);

  const edgeMask = new Uint8Array(nnz);
  if (edgeCut <= 0) {
    // Every entry passes, absent ones included, so every node has kept edges: no dangling clean-up.
    for (let row = 0; row < nNodes; row++) {
      if (!nodeMask[row]) continue;
      for (let k = rowPtr[row]; k < rowPtr[row + 1]; k++) if (nodeMask[colIdx[k]] && values[k] !== 0) edgeMask[k] = 1;
    }
  } else {
    for (let k = 0; k < nnz; k++) if (edgeScore[k] >= edgeCut) edgeMask[k] = 1;
    removeDanglingNodes(graph, nodeMask, edgeMask, errorStart, tokenStart);
  }

  const edgeShare = new Float64Array(nnz).fill(NaN);
  for (let k = 0; k < nnz; k++) if (edgeMask[k]) edgeShare[k] = shareAt(rankedEdges, edgeScore[k]);
  return { nodeMask, edgeMask, nodeInfluence, nodeShare, edgeScore, edgeShare };
}

/**
 * Step 3: drop features and errors without a kept outgoing edge and features without a kept
 * incoming edge, cascading, then clear the edges of dropped nodes. The reference iterates whole
 * rounds; removal is monotone, so a work list reaches the same fixed point in O(kept edges).
 */
function removeDanglingNodes(
  graph: AttributionGraph,
  nodeMask: Uint8Array,
  edgeMask: Uint8Array,
  errorStart: number,
  tokenStart: number,
): void {
  const { rowPtr, colIdx } = graph.adjacency;
  const nNodes = nodeMask.length;
  const nFeatures = errorStart;
  // Kept edges by source (column), as a CSC of entry indices, to reach a node's targets.
  const keptOut = new Int32Array(nNodes); // kept outgoing edges of each source
  const keptIn = new Int32Array(nNodes); // kept incoming edges of each target
  for (let row = 0; row < nNodes; row++) {
    for (let k = rowPtr[row]; k < rowPtr[row + 1]; k++) {
      if (!edgeMask[k]) continue;
      keptOut[colIdx[k]]++;
      keptIn[row]++;
    }
  }
  const outPtr = new Int32Array(nNodes + 1);
  for (let n = 0; n < nNodes; n++) outPtr[n + 1] = outPtr[n] + keptOut[n];
  const outTarget = new Int32Array(outPtr[nNodes]); // [kept edges] target of each, grouped by source
  const fill = outPtr.slice(0, nNodes);
  for (let row = 0; row < nNodes; row++) {
    for (let k = rowPtr[row]; k < rowPtr[row + 1]; k++) if (edgeMask[k]) outTarget[fill[colIdx[k]]++] = row;
  }

  const dangling = (n: number) =>
    nodeMask[n] === 1 && n < tokenStart && (keptOut[n] === 0 || (n < nFeatures && keptIn[n] === 0));
  const toRemove: number[] = [];
  for (let n = 0; n < tokenStart; n++) if (dangling(n)) toRemove.push(n);
  while (toRemove.length > 0) {
    const node = toRemove.pop()!;
    if (!nodeMask[node]) continue;
    nodeMask[node] = 0;
    // Its incoming edges no longer count as outgoing edges of their sources...
    for (let k = rowPtr[node]; k < rowPtr[node + 1]; k++) {
      const source = colIdx[k];
      if (edgeMask[k] && nodeMask[source]) {
        keptOut[source]--;
        if (dangling(source)) toRemove.push(source);
      }
    }
    // ...and its outgoing edges no longer count as incoming edges of their targets.
    for (let e = outPtr[node]; e < outPtr[node + 1]; e++) {
      const target = outTarget[e];
      if (nodeMask[target]) {
        keptIn[target]--;
        if (dangling(target)) toRemove.push(target);
      }
    }
  }
  for (let row = 0; row < nNodes; row++) {
    for (let k = rowPtr[row]; k < rowPtr[row + 1]; k++) {
      if (edgeMask[k] && !(nodeMask[row] && nodeMask[colIdx[k]])) edgeMask[k] = 0;
    }
  }
}
