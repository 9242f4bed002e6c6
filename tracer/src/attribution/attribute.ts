/**
 * Attribution ("Circuit Tracing", §3; circuit-tracer `attribution/attribute.py`) as named phases:
 *   1. forward with caches        setupAttribution (context.ts)
 *   2. choose logit targets        chooseLogitTargets
 *   3. logit rows                  one backward per batch of logit targets
 *   4. feature rows                batched backward; with max_feature_nodes, in rounds ranked by
 *                                  partial influence (the graph engineer's computePartialInfluence)
 *   5. assemble                    the AttributionGraph with a CSR adjacency in the reference's node order
 */
import { resolveTraceSettings } from '@circuit-atlas/schema';
import { CancelledError } from '../errors.js';
import type { AttributionGraph, LogitTarget } from '../graph/attribution-graph.js';
import { computePartialInfluence, rankUnvisitedFeatures } from '../graph/influence.js';
import { unembeddingMean, type ReplacementModel } from '../model/replacement-model.js';
import { setupAttribution, type AttributionContext } from './context.js';
import { RowStore } from './row-store.js';
import { computeRows, type BlockInputCache, type RowTarget, type SparseRow } from './rows.js';

export interface AttributionOptions {
  maxNLogits?: number;
  desiredLogitProb?: number;
  batchSize?: number;
  maxFeatureNodes?: number | null;
  /** Batches attributed between re-rankings when max_feature_nodes applies (the reference's update_interval). */
  updateInterval?: number;
}

export interface AttributionProgress {
  phase: 'forward' | 'logits' | 'features' | 'assemble';
  fraction: number;
}

export interface AttributeRunOptions extends AttributionOptions {
  onProgress?(p: AttributionProgress): void;
  signal?: AbortSignal;
  /** Filled with the time of each phase (ms) and the backward's floating-point work. */
  timings?: Record<string, number>;
  /** Targets × positions of one backward pass at most (its memory); the rows do not depend on it. */
  batchPositions?: number;
}

/**
 * Targets × positions × d of one backward pass at most: a [targets, positions, d] buffer of 6 MB
 * (2,048 target-positions at d = 768, 682 at Gemma-2-2B's 2,304). Measured on a 12-layer d-768
 * model at 4,096 targets, 2 cores: batches of 2,048 target-positions ran in 0.93× the time of
 * 9,472 (the whole 256-target batch) and peaked 0.8× as high. Smaller buffers stay in cache, a
 * batch spans fewer positions (less work on positions past a target's own), and freed buffers are
 * reused instead of piling up in the allocator.
 */
const MAX_BATCH_ELEMENTS = 2048 * 768;
/**
 * Targets of one backward pass at least, whatever the prompt's length: each pass feeds every
 * block's [heads, T, T] pattern, which long prompts must share among enough targets.
 */
const MIN_BATCH_TARGETS = 16;

/** Tokenizes a prompt with the reference's rule (BOS prepended unless it starts with a special token). */
export function ensureTokenized(model: ReplacementModel, prompt: string): number[] {
  return model.tokenizer.encodePrompt(prompt, model.config.maxPositions);
}

/** Probability at the last position, highest first, until the cumulative sum reaches `desiredLogitProb` (crossing token included). */
export function chooseLogitTargets(
  model: ReplacementModel,
  ctx: AttributionContext,
  maxNLogits: number,
  desiredLogitProb: number,
): { targets: LogitTarget[]; vectors: Float32Array[] } {
  const V = model.vocabSize;
  const T = ctx.nPos;
  const logits = ctx.logits.subarray((T - 1) * V, T * V);
  const probs = softmax(logits);
  const order = Array.from({ length: V }, (_, i) => i).sort((a, b) => probs[b] - probs[a] || a - b);
  const top = order.slice(0, Math.min(maxNLogits, V));
  let cumulative = 0;
  let cutoff = top.length;
  for (let i = 0; i < top.length; i++) {
    cumulative = Math.fround(cumulative + probs[top[i]]);
    if (cumulative >= desiredLogitProb) {
      cutoff = i + 1;
      break;
    }
  }
  const chosen = top.slice(0, cutoff);
  const targets = chosen.map((tokenId) => ({
    tokenId,
    token: model.tokenizer.tokenString(tokenId),
    probability: probs[tokenId],
  }));
  return { targets, vectors: chosen.map((k) => demeanedUnembedding(model, k)) };
}

/** Softmax in float64, rounded to float32 as the reference's float32 softmax. */
function softmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]);
  const out = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += out[i] = Math.exp(logits[i] - max);
  for (let i = 0; i < logits.length; i++) out[i] = Math.fround(out[i] / sum);
  return out;
}

/** W_U[:, k] − mean_v W_U[:, v]: the direction whose dot product is the demeaned logit of k. [d] */
export function demeanedUnembedding(model: ReplacementModel, k: number): Float32Array {
  const mean = unembeddingMean(model);
  const column = model.weights.unembedRows.row(k); // W_U[:, k], read from the checkpoint
  const out = new Float32Array(model.dModel);
  for (let i = 0; i < out.length; i++) out[i] = column[i] - mean[i];
  return out;
}

/** The encoder row W_enc[f] of active feature `s`: injected to get the feature's pre-activation row. */
export function encoderVector(model: ReplacementModel, ctx: AttributionContext, s: number): RowTarget {
  const [layer, pos, f] = [ctx.activeFeatures[3 * s], ctx.activeFeatures[3 * s + 1], ctx.activeFeatures[3 * s + 2]];
  return { layer, pos, vector: model.transcoders.layers[layer].wEnc.row(f) }; // read from the transcoder file
}

export async function attribute(
  model: ReplacementModel,
  prompt: string,
  options: AttributeRunOptions = {},
): Promise<AttributionGraph> {
  const { maxNLogits, desiredLogitProb, batchSize, maxFeatureNodes } = resolveTraceSettings({
    maxNLogits: options.maxNLogits,
    desiredLogitProb: options.desiredLogitProb,
    batchSize: options.batchSize,
    maxFeatureNodes: options.maxFeatureNodes,
  });
  const updateInterval = options.updateInterval ?? 4;
  const timings = options.timings ?? {};
  const progress = options.onProgress ?? (() => {});
  const checkCancelled = () => {
    if (options.signal?.aborted) throw new CancelledError('attribution cancelled');
  };
  const clock = () => performance.now();

  // Phase 1: forward with caches.
  let start = clock();
  progress({ phase: 'forward', fraction: 0 });
  const tokenIds = ensureTokenized(model, prompt);
  const ctx = await setupAttribution(model, tokenIds);
  timings.forward = clock() - start;
  checkCancelled();

  // Phase 2: logit targets.
  const { targets: logitTargets, vectors: logitVectors } = chooseLogitTargets(model, ctx, maxNLogits, desiredLogitProb);
  const L = model.nLayers;
  const T = ctx.nPos;
  const nActive = ctx.activations.length;
  const nLogits = logitTargets.length;
  const batchPositions =
    options.batchPositions ?? Math.max(Math.floor(MAX_BATCH_ELEMENTS / model.dModel), MIN_BATCH_TARGETS * T);
  let backwardMs = 0;
  let backwardFlops = 0;
  const blockInputs: BlockInputCache = new Map(); // frozen per-block inputs, shared by this run's batches
  const runBatch = async (targets: RowTarget[]) => {
    const t0 = clock();
    const rows: SparseRow[] = [];
    // A backward's buffers are [targets, positions, d]: long prompts split a batch so that stays
    // bounded (rows do not depend on their batch). Targets arrive sorted by position.
    for (let i = 0; i < targets.length;) {
      let n = 1;
      while (i + n < targets.length && (n + 1) * (targets[i + n].pos + 1) <= batchPositions) n++;
      const part = await computeRows(model, ctx, targets.slice(i, i + n), blockInputs);
      rows.push(...part.rows);
      backwardFlops += part.flops;
      i += n;
    }
    backwardMs += clock() - t0;
    return rows;
  };

  // Phase 3: logit rows.
  start = clock();
  progress({ phase: 'logits', fraction: 0 });
  // Logit rows, then feature rows in attribution order; columns: features, errors, tokens, logits.
  const store = new RowStore(nActive + (L + 1) * T + nLogits);
  for (let i = 0; i < nLogits; i += batchSize) {
    const batch = logitVectors.slice(i, i + batchSize).map((vector) => ({ layer: L, pos: T - 1, vector }));
    for (const row of await runBatch(batch)) store.append(row);
    checkCancelled();
  }
  timings.logits = clock() - start;

  // Phase 4: feature rows, all of them or in influence-ranked rounds.
  start = clock();
  const budget = Math.min(maxFeatureNodes ?? nActive, nActive);
  const visited = new Uint8Array(nActive);
  const order: number[] = []; // attribution order (rows after the logit rows)
  progress({ phase: 'features', fraction: 0 });
  while (order.length < budget) {
    let pending: Int32Array;
    if (budget === nActive) {
      pending = Int32Array.from({ length: nActive }, (_, i) => i);
    } else {
      const partial = computePartialInfluence(
        store,
        partialRowNodes(order, nLogits, nActive + (L + 1) * T),
        Float64Array.from(logitTargets, (t) => t.probability),
      );
      pending = rankUnvisitedFeatures(
        partial.subarray(0, nActive),
        visited,
        Math.min(updateInterval * batchSize, budget - order.length),
      );
    }
    // A row does not depend on its batch: batch by position, so each backward runs on the fewest
    // positions (causal attention), and by layer within a position.
    pending = byPosition(pending, ctx.activeFeatures);
    for (let i = 0; i < pending.length; i += batchSize) {
      const batch = Array.from(pending.subarray(i, i + batchSize));
      const rows = await runBatch(batch.map((s) => encoderVector(model, ctx, s)));
      batch.forEach((s, b) => {
        store.append(rows[b]);
        visited[s] = 1;
        order.push(s);
      });
      progress({ phase: 'features', fraction: order.length / budget });
      checkCancelled();
    }
  }
  timings.features = clock() - start;
  timings.backward = backwardMs;
  timings.backwardFlops = backwardFlops;

  // Phase 5: assemble in the reference's node order.
  start = clock();
  progress({ phase: 'assemble', fraction: 0 });
  const graph = assembleGraph(model, prompt, ctx, logitTargets, Int32Array.from(order), store, {
    maxNLogits,
    desiredLogitProb,
    batchSize,
    maxFeatureNodes: maxFeatureNodes,
  });
  timings.assemble = clock() - start;
  progress({ phase: 'assemble', fraction: 1 });
  return graph;
}

/** Active features ordered by (position, layer, feature). */
function byPosition(features: Int32Array, activeFeatures: Int32Array): Int32Array {
  const pos = (s: number) => activeFeatures[3 * s + 1];
  return features.slice().sort((a, b) => pos(a) - pos(b) || a - b);
}

function partialRowNodes(order: number[], nLogits: number, logitStart: number): Int32Array {
  return Int32Array.from([...Array.from({ length: nLogits }, (_, i) => logitStart + i), ...order]);
}

function assembleGraph(
  model: ReplacementModel,
  prompt: string,
  ctx: AttributionContext,
  logitTargets: LogitTarget[],
  order: Int32Array,
  store: RowStore,
  settings: AttributionGraph['settings'],
): AttributionGraph {
  const nLogits = logitTargets.length;
  const rowOf = new Map<number, number>(); // active feature -> its row in the store
  order.forEach((s, i) => rowOf.set(s, nLogits + i));
  const selected = order.slice().sort();
  const L = model.nLayers;
  const T = ctx.nPos;
  const nActive = ctx.activations.length;
  const nSelected = selected.length;
  const nNodes = nSelected + (L + 1) * T + logitTargets.length;
  // Column of each row entry in the final node order: unselected features are dropped.
  const columnOf = new Int32Array(nActive + (L + 1) * T);
  columnOf.fill(-1, 0, nActive);
  selected.forEach((s, i) => (columnOf[s] = i));
  for (let c = nActive; c < columnOf.length; c++) columnOf[c] = c - nActive + nSelected;
  const orderedRows: (SparseRow | null)[] = [
    ...Array.from(selected, (s) => store.row(rowOf.get(s)!)),
    ...Array.from({ length: (L + 1) * T }, () => null),
    ...Array.from({ length: nLogits }, (_, i) => store.row(i)),
  ];
  // Two passes (count, then fill) so the only copy of the edges is the final CSR.
  const rowPtr = new Int32Array(nNodes + 1);
  orderedRows.forEach((row, r) => {
    let kept = 0;
    if (row) for (let k = 0; k < row.cols.length; k++) if (columnOf[row.cols[k]] >= 0) kept++;
    rowPtr[r + 1] = rowPtr[r] + kept;
  });
  const colIdx = new Int32Array(rowPtr[nNodes]);
  const values = new Float32Array(rowPtr[nNodes]);
  orderedRows.forEach((row, r) => {
    if (!row) return;
    let at = rowPtr[r];
    for (let k = 0; k < row.cols.length; k++) {
      const c = columnOf[row.cols[k]];
      if (c >= 0) {
        colIdx[at] = c;
        values[at++] = row.values[k];
      }
    }
  });
  return {
    prompt,
    tokenIds: Int32Array.from(ctx.tokenIds),
    tokenStrings: ctx.tokenIds.map((id) => model.tokenizer.tokenString(id)),
    modelName: model.name,
    transcoderSet: model.transcoderSet,
    nLayers: L,
    nPos: T,
    activeFeatures: ctx.activeFeatures,
    activations: ctx.activations,
    selectedFeatures: selected,
    logitTargets,
    adjacency: { nRows: nNodes, nCols: nNodes, rowPtr, colIdx, values },
    settings,
  };
}
