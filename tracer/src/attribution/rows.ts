/**
 * Attribution rows: for a batch of targets (logits or features), one backward pass through the
 * per-block backward graphs gives every edge into each target — A[target, source] for all
 * feature, error and token sources. Targets inject at their own layer and position, and only
 * work that can be non-zero is done:
 *   - blocks above the batch's highest target layer are skipped (no gradient exists there yet);
 *   - targets are ordered by layer, highest first, so block ℓ runs on the prefix of targets whose
 *     layer is ≥ ℓ (the rest have no gradient at ℓ yet) instead of the whole batch;
 *   - causal attention: a target at position q has no gradient after q, so the batch runs on the
 *     first T = max q + 1 positions (callers batch targets of nearby positions together).
 * Rows come back sparse (exact zeros dropped): a batch never holds a dense [targets × sources] block.
 */
import { GraphSession, type Feed } from '../onnx/session.js';
import { transcoderInputSite, type ReplacementModel } from '../model/replacement-model.js';
import { buildBackwardGraph } from './backward-graph.js';
import type { AttributionContext } from './context.js';

/** One attribution target: inject `vector` at (layer, pos); layer = nLayers means the final-norm output (logits). */
export interface RowTarget {
  layer: number;
  pos: number;
  vector: Float32Array; // [d]
}

/** One row of the adjacency: the non-zero sources of a target, columns ascending. */
export interface SparseRow {
  cols: Int32Array;
  values: Float32Array;
}

/** The per-block backward sessions of a model, built on first use and released with the model. */
export function backwardGraphs(model: ReplacementModel): Promise<GraphSession[]> {
  return model.derived.backwardSessions.get(async () => {
    const shape = {
      dModel: model.dModel,
      nHeads: model.config.nHeads,
      nKvHeads: model.config.nKvHeads,
      headDim: model.config.headDim,
      rotary: false,
    };
    const out: GraphSession[] = [];
    const site = transcoderInputSite(model.transcoders, model.weights, '');
    for (let layer = 0; layer < model.nLayers; layer++) {
      const skip = model.transcoders.layers[layer].skip;
      const graph = buildBackwardGraph(model.weights.blocks[layer], shape, skip, layer, site);
      out.push(await GraphSession.create(`backward_${layer}`, graph, model.executionProvider));
    }
    return out;
  });
}

/** Columns of a row: active features, then errors (layer·T + pos), then tokens. */
export function rowWidth(ctx: AttributionContext, nLayers: number): number {
  return ctx.activations.length + (nLayers + 1) * ctx.nPos;
}

/** One block's read-outs for the targets active at it: feature edges [T, active, K], error and token edges [active, T]. */
interface BlockEdges {
  layer: number;
  active: number;
  featureEdges: Float32Array;
  errorEdges: Float32Array;
  tokenEdges: Float32Array | null;
  slots: number;
  activeAt: Int32Array[];
}

/**
 * Edge rows of a batch of targets, in the order given, and the floating-point operations spent in
 * the backward graphs (for GFLOP/s).
 */
export async function computeRows(
  model: ReplacementModel,
  ctx: AttributionContext,
  targets: RowTarget[],
  cache: BlockInputCache = new Map(),
): Promise<{ rows: SparseRow[]; flops: number }> {
  const sessions = await backwardGraphs(model);
  const B = targets.length;
  const { dModel: d, nLayers: L } = model;
  const T = Math.max(...targets.map((t) => t.pos)) + 1;
  // Highest layer first: block ℓ's targets are then the prefix order[0 .. activeAt(ℓ)).
  const order = Array.from({ length: B }, (_, i) => i).sort((a, b) => targets[b].layer - targets[a].layer || a - b);
  const activeCount = (layer: number) => {
    let n = 0;
    while (n < B && targets[order[n]].layer >= layer) n++;
    return n;
  };

  const top = Math.min(L - 1, targets[order[0]].layer);
  let active = activeCount(top);
  // Logit targets enter as the gradient of r_L through the frozen final norm.
  let grad: Float32Array = new Float32Array(active * T * d);
  const lnf = model.weights.lnFinal;
  for (let i = 0; i < active; i++) {
    const t = targets[order[i]];
    if (t.layer !== L) continue;
    const base = (i * T + t.pos) * d;
    const scale = ctx.frozen.lnfScale[t.pos];
    let mean = 0;
    for (let k = 0; k < d; k++) mean += grad[base + k] = (t.vector[k] * lnf.gamma[k]) / scale;
    if (lnf.kind === 'layer') for (let k = 0; k < d; k++) grad[base + k] -= mean / d;
  }
  let flops = 0;
  const blocks: BlockEdges[] = [];
  for (let layer = top; layer >= 0; layer--) {
    const nowActive = activeCount(layer);
    if (nowActive > active) {
      // Targets injecting at this layer join with a zero gradient from above.
      const grown = new Float32Array(nowActive * T * d);
      grown.set(grad);
      grad = grown;
      active = nowActive;
    }
    const onehot = new Float32Array(active * T);
    const injectVec = new Float32Array(active * d);
    for (let i = 0; i < active; i++) {
      const t = targets[order[i]];
      if (t.layer !== layer) continue;
      onehot[i * T + t.pos] = 1;
      injectVec.set(t.vector, i * d);
    }
    const site = blockInputs(model, ctx, cache, layer, T);
    const K = site.slots;
    // Targets from the block above first; the rest inject here and have no gradient from above yet.
    // At least one row takes the general path (exact for any row): ORT cannot broadcast the
    // [1, H, T, T] pattern over an empty batch.
    const continuing = Math.max(1, activeCount(layer + 1));
    const feeds: Record<string, Feed> = {
      grad_resid_post: { data: grad, dims: [active, T, d] },
      n_continuing: { data: BigInt64Array.of(BigInt(continuing)), dims: [1] },
      inject_onehot: { data: onehot, dims: [active, T] },
      inject_vec: { data: injectVec, dims: [active, d] },
      read_vecs: { data: site.readVecs, dims: [T, d, K] },
      error_vec: { data: site.errors, dims: [T, d] },
      attn_pattern: { data: site.pattern, dims: [1, model.config.nHeads, T, T] },
      ln1_scale: { data: site.ln1Scale, dims: [1, T, 1] },
      ln2_scale: { data: site.ln2Scale, dims: [1, T, 1] },
    };
    if (layer === 0) feeds.token_vec = { data: site.tokenVectors, dims: [T, d] };
    if (site.attnPostScale) feeds.attn_post_scale = { data: site.attnPostScale, dims: [1, T, 1] };
    const out = await sessions[layer].run(feeds);
    flops += backwardFlops(model, active, continuing, T, K);
    blocks.push({
      layer,
      active,
      featureEdges: out.feature_edges.data,
      errorEdges: out.error_edges.data,
      tokenEdges: layer === 0 ? out.token_edges.data : null,
      slots: K,
      activeAt: site.activeAt,
    });
    grad = out.grad_resid_pre.data;
  }
  blocks.reverse(); // layer 0 first: feature columns (layer, pos, feature) then come out ascending
  const rows = new Array<SparseRow>(B);
  for (let i = 0; i < B; i++) rows[order[i]] = gatherRow(blocks, i, T, ctx, L);
  return { rows, flops };
}

/** Target i's non-zero edges from every block it reached, columns ascending (summed where a CLT column repeats). */
function gatherRow(blocks: BlockEdges[], i: number, T: number, ctx: AttributionContext, L: number): SparseRow {
  const nActive = ctx.activations.length;
  let capacity = 0;
  for (const b of blocks) if (i < b.active) capacity += T * b.slots + T * (b.tokenEdges ? 2 : 1);
  const cols = new Int32Array(capacity);
  const values = new Float32Array(capacity);
  let n = 0;
  let sorted = true;
  for (const b of blocks) {
    if (i >= b.active) continue;
    const K = b.slots;
    for (let p = 0; p < T; p++) {
      const columns = b.activeAt[p];
      const base = (p * b.active + i) * K;
      for (let slot = 0; slot < columns.length; slot++) {
        const v = b.featureEdges[base + slot];
        if (v === 0) continue;
        if (n > 0 && columns[slot] <= cols[n - 1]) sorted = false;
        cols[n] = columns[slot];
        values[n++] = v;
      }
    }
  }
  if (!sorted) n = sortAndMerge(cols, values, n);
  for (const b of blocks) {
    if (i >= b.active) continue;
    for (let p = 0; p < T; p++) {
      const v = b.errorEdges[i * T + p];
      if (v === 0) continue;
      cols[n] = nActive + b.layer * ctx.nPos + p;
      values[n++] = v;
    }
  }
  const tokens = blocks[0].layer === 0 && i < blocks[0].active ? blocks[0].tokenEdges : null;
  if (tokens) {
    for (let p = 0; p < T; p++) {
      const v = tokens[i * T + p];
      if (v === 0) continue;
      cols[n] = nActive + L * ctx.nPos + p;
      values[n++] = v;
    }
  }
  return { cols: cols.slice(0, n), values: values.slice(0, n) };
}

/**
 * Cross-layer transcoders read a feature at every layer it writes to: sort the first n entries by
 * column and sum repeats (in the order they were read, lowest output layer first). Returns the new length.
 */
function sortAndMerge(cols: Int32Array, values: Float32Array, n: number): number {
  const idx = Array.from({ length: n }, (_, k) => k).sort((a, b) => cols[a] - cols[b] || a - b);
  const c = Int32Array.from(idx, (k) => cols[k]);
  const v = Float32Array.from(idx, (k) => values[k]);
  let m = 0;
  for (let k = 0; k < n; k++) {
    if (m > 0 && c[k] === cols[m - 1]) values[m - 1] += v[k];
    else {
      cols[m] = c[k];
      values[m++] = v[k];
    }
  }
  return m;
}

/** The prompt-specific inputs of block ℓ's backward restricted to the first T positions. */
interface BlockInputs {
  pattern: Float32Array; // [1, H, T, T]
  ln1Scale: Float32Array; // [1, T, 1]
  ln2Scale: Float32Array; // [1, T, 1]
  attnPostScale: Float32Array | null; // [1, T, 1], Gemma
  errors: Float32Array; // [T, d]
  tokenVectors: Float32Array; // [T, d]
  /** Decoder vectors a_s · W_dec,s writing into this layer, by position, zero-padded. [T, d, slots] */
  readVecs: Float32Array;
  slots: number;
  /** activeAt[p][slot]: the active-feature column read by that slot. */
  activeAt: Int32Array[];
}

/**
 * Block inputs of one attribution run, kept by its caller between batches: per layer, the
 * full-length inputs (position-major, so the first T positions are a prefix view) and the
 * attention pattern cut to the last length asked for (the only input that is not a prefix).
 */
export type BlockInputCache = Map<number, { full: BlockInputs; cut: BlockInputs }>;

function blockInputs(
  model: ReplacementModel,
  ctx: AttributionContext,
  cache: BlockInputCache,
  layer: number,
  T: number,
): BlockInputs {
  let entry = cache.get(layer);
  if (!entry) {
    const full = fullBlockInputs(model, ctx, layer);
    entry = { full, cut: full };
    cache.set(layer, entry);
  }
  const { full, cut } = entry;
  if (cut.ln1Scale.length === T) return cut;
  const d = model.dModel;
  const H = model.config.nHeads;
  const n = ctx.nPos;
  const pattern = new Float32Array(H * T * T);
  for (let h = 0; h < H; h++)
    for (let q = 0; q < T; q++)
      pattern.set(full.pattern.subarray((h * n + q) * n, (h * n + q) * n + T), (h * T + q) * T);
  entry.cut = {
    pattern,
    ln1Scale: full.ln1Scale.subarray(0, T),
    ln2Scale: full.ln2Scale.subarray(0, T),
    attnPostScale: full.attnPostScale?.subarray(0, T) ?? null,
    errors: full.errors.subarray(0, T * d),
    tokenVectors: full.tokenVectors.subarray(0, T * d),
    readVecs: full.readVecs.subarray(0, T * d * full.slots),
    slots: full.slots,
    activeAt: full.activeAt.slice(0, T),
  };
  return entry.cut;
}

function fullBlockInputs(model: ReplacementModel, ctx: AttributionContext, layer: number): BlockInputs {
  const readout = ctx.readouts[layer];
  return {
    pattern: ctx.frozen.attnPattern[layer],
    ln1Scale: ctx.frozen.ln1Scale[layer],
    ln2Scale: ctx.frozen.ln2Scale[layer],
    attnPostScale: ctx.frozen.attnPostScale?.[layer] ?? null,
    errors: ctx.errors[layer],
    tokenVectors: ctx.tokenVectors,
    readVecs: readout.vecs,
    slots: readout.slots,
    activeAt: readout.activeAt,
  };
}

/**
 * Floating-point operations of one backward block for a batch of B targets, the first `continuing`
 * of them from above (2 per multiply-add); targets injecting here pass one position through W_Oᵀ.
 */
function backwardFlops(model: ReplacementModel, B: number, continuing: number, T: number, slots: number): number {
  const { dModel: d } = model;
  const { nHeads: H, nKvHeads: KV, headDim: hd } = model.config;
  const skip = model.transcoders.layers[0].skip ? d * d : 0;
  const outputProjection = (continuing * T + (B - continuing)) * d * H * hd;
  return 2 * (outputProjection + B * (T * (d * KV * hd + skip) + H * T * T * hd + slots * T * d + T * d));
}
