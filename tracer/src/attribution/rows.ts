/**
 * Attribution rows: for a batch of targets (logits or features), one backward pass through the
 * per-block backward graphs gives every edge into each target — A[target, source] for all
 * feature, error and token sources. Targets inject at their own layer and position; blocks above
 * the batch's highest target layer are skipped, since no gradient exists there yet.
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
      const bytes = buildBackwardGraph(model.weights.blocks[layer], shape, skip, layer, site);
      out.push(await GraphSession.create(`backward_${layer}`, bytes, model.executionProvider));
    }
    return out;
  });
}

/** Columns of a row: active features, then errors (layer·T + pos), then tokens. */
export function rowWidth(ctx: AttributionContext, nLayers: number): number {
  return ctx.activations.length + (nLayers + 1) * ctx.nPos;
}

/**
 * Edge rows of a batch of targets. Returns [B, nActive + (L+1)·T] and the multiply-adds spent in
 * the backward graphs (for GFLOP/s).
 */
export async function computeRows(
  model: ReplacementModel,
  ctx: AttributionContext,
  targets: RowTarget[],
  cache: BlockInputCache = new Map(),
): Promise<{ rows: Float32Array; flops: number }> {
  const sessions = await backwardGraphs(model);
  const B = targets.length;
  const { dModel: d, nLayers: L } = model;
  const nActive = ctx.activations.length;
  const width = rowWidth(ctx, L);
  const errorStart = nActive;
  const tokenStart = nActive + L * ctx.nPos;
  const rows = new Float32Array(B * width);
  // Causal attention: a target at position p has no gradient after p, so the batch runs on the
  // first T = max p + 1 positions only (feature batches are sorted by position within a layer).
  const T = Math.max(...targets.map((t) => t.pos)) + 1;

  // Logit targets enter as the gradient of r_L through the frozen final norm.
  let grad: Float32Array = new Float32Array(B * T * d);
  const lnf = model.weights.lnFinal;
  targets.forEach((t, b) => {
    if (t.layer !== L) return;
    const base = (b * T + t.pos) * d;
    const scale = ctx.frozen.lnfScale[t.pos];
    let mean = 0;
    for (let i = 0; i < d; i++) mean += grad[base + i] = (t.vector[i] * lnf.gamma[i]) / scale;
    if (lnf.kind === 'layer') for (let i = 0; i < d; i++) grad[base + i] -= mean / d;
  });
  const top = Math.min(L - 1, Math.max(...targets.map((t) => t.layer)));
  let flops = 0;
  for (let layer = top; layer >= 0; layer--) {
    const onehot = new Float32Array(B * T);
    const injectVec = new Float32Array(B * d);
    targets.forEach((t, b) => {
      if (t.layer !== layer) return;
      onehot[b * T + t.pos] = 1;
      injectVec.set(t.vector, b * d);
    });
    const site = blockInputs(model, ctx, cache, layer, T);
    const K = site.slots;
    const feeds: Record<string, Feed> = {
      grad_resid_post: { data: grad, dims: [B, T, d] },
      inject_onehot: { data: onehot, dims: [B, T] },
      inject_vec: { data: injectVec, dims: [B, d] },
      read_vecs: { data: site.readVecs, dims: [T, d, K] },
      error_vec: { data: site.errors, dims: [T, d] },
      attn_pattern: { data: site.pattern, dims: [1, model.config.nHeads, T, T] },
      ln1_scale: { data: site.ln1Scale, dims: [1, T, 1] },
      ln2_scale: { data: site.ln2Scale, dims: [1, T, 1] },
    };
    if (layer === 0) feeds.token_vec = { data: site.tokenVectors, dims: [T, d] };
    if (site.attnPostScale) feeds.attn_post_scale = { data: site.attnPostScale, dims: [1, T, 1] };
    const out = await sessions[layer].run(feeds);
    flops += backwardFlops(model, B, T, K);
    const edges = out.feature_edges.data; // [T, B, K]
    for (let p = 0; p < T; p++) {
      const columns = site.activeAt[p]; // active-feature column of each used slot
      for (let b = 0; b < B; b++) {
        const row = b * width;
        const base = (p * B + b) * K;
        for (let slot = 0; slot < columns.length; slot++) rows[row + columns[slot]] += edges[base + slot];
      }
    }
    const errorEdges = out.error_edges.data; // [B, T]
    for (let b = 0; b < B; b++)
      rows.set(errorEdges.subarray(b * T, (b + 1) * T), b * width + errorStart + layer * ctx.nPos);
    if (layer === 0) {
      const tokenEdges = out.token_edges.data; // [B, T]
      for (let b = 0; b < B; b++) rows.set(tokenEdges.subarray(b * T, (b + 1) * T), b * width + tokenStart);
    }
    grad = out.grad_resid_pre.data;
  }
  return { rows, flops };
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

/** Per-(layer, length) block inputs of one attribution run, kept by its caller between batches. */
export type BlockInputCache = Map<string, BlockInputs>;

function blockInputs(
  model: ReplacementModel,
  ctx: AttributionContext,
  cache: BlockInputCache,
  layer: number,
  T: number,
): BlockInputs {
  const key = `${layer}:${T}`;
  const cached = cache.get(key);
  if (cached) return cached;
  const d = model.dModel;
  const H = model.config.nHeads;
  const full = ctx.nPos;
  const pattern = new Float32Array(H * T * T);
  const source = ctx.frozen.attnPattern[layer];
  for (let h = 0; h < H; h++) {
    for (let q = 0; q < T; q++)
      pattern.set(source.subarray((h * full + q) * full, (h * full + q) * full + T), (h * T + q) * T);
  }
  const readout = ctx.readouts[layer];
  const byPosition: number[][] = Array.from({ length: T }, () => []);
  readout.pos.forEach((pos, m) => pos < T && byPosition[pos].push(m));
  const slots = Math.max(1, ...byPosition.map((ms) => ms.length)); // at least one (zero) slot
  const readVecs = new Float32Array(T * d * slots);
  byPosition.forEach((ms, p) =>
    ms.forEach((m, slot) => {
      for (let i = 0; i < d; i++) readVecs[(p * d + i) * slots + slot] = readout.vecs[m * d + i];
    }),
  );
  const inputs: BlockInputs = {
    pattern,
    ln1Scale: ctx.frozen.ln1Scale[layer].slice(0, T),
    ln2Scale: ctx.frozen.ln2Scale[layer].slice(0, T),
    attnPostScale: ctx.frozen.attnPostScale?.[layer]?.slice(0, T) ?? null,
    errors: ctx.errors[layer].slice(0, T * d),
    tokenVectors: ctx.tokenVectors.slice(0, T * d),
    readVecs,
    slots,
    activeAt: byPosition.map((ms) => Int32Array.from(ms, (m) => readout.active[m])),
  };
  cache.set(key, inputs);
  return inputs;
}

/** Floating-point operations of one backward block for a batch (2 per multiply-add). */
function backwardFlops(model: ReplacementModel, B: number, T: number, slots: number): number {
  const { dModel: d } = model;
  const { nHeads: H, nKvHeads: KV, headDim: hd } = model.config;
  const skip = model.transcoders.layers[0].skip ? d * d : 0;
  return 2 * B * (T * (d * H * hd + d * KV * hd + skip) + H * T * T * hd + slots * T * d + T * d);
}
