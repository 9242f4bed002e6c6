/**
 * Attribution rows: for a batch of targets (logits or features), one backward pass through the
 * per-block backward graphs gives every edge into each target — A[target, source] for all
 * feature, error and token sources. Targets inject at their own layer and position; blocks above
 * the batch's highest target layer are skipped, since no gradient exists there yet.
 */
import { GraphSession, int64, type Tensor } from '../onnx/session.js';
import type { ReplacementModel } from '../model/replacement-model.js';
import { buildBackwardGraph } from './backward-graph.js';
import type { AttributionContext } from './context.js';

/** One attribution target: inject `vector` at (layer, pos); layer = nLayers means the final-norm output (logits). */
export interface RowTarget {
  layer: number;
  pos: number;
  vector: Float32Array; // [d]
}

const backwardSessions = new WeakMap<ReplacementModel, Promise<GraphSession[]>>();

/** The per-block backward sessions of a model, built on first use and kept with the model. */
export function backwardGraphs(model: ReplacementModel): Promise<GraphSession[]> {
  let sessions = backwardSessions.get(model);
  if (!sessions) {
    const shape = { dModel: model.dModel, nHeads: model.config.nHeads, nKvHeads: model.config.nKvHeads, headDim: model.config.headDim, rotary: false };
    sessions = (async () => {
      const out: GraphSession[] = [];
      for (let layer = 0; layer < model.nLayers; layer++) {
        const bytes = buildBackwardGraph(model.weights.blocks[layer], shape, model.transcoders.layers[layer].skip, layer);
        out.push(await GraphSession.create(`backward_${layer}`, bytes, model.executionProvider));
      }
      const dispose = model.dispose;
      model.dispose = async () => {
        for (const s of out) await s.release();
        await dispose();
      };
      return out;
    })();
    backwardSessions.set(model, sessions);
  }
  return sessions;
}

/** Columns of a row: active features, then errors (layer·T + pos), then tokens. */
export function rowWidth(ctx: AttributionContext, nLayers: number): number {
  return ctx.activations.length + (nLayers + 1) * ctx.nPos;
}

/**
 * Edge rows of a batch of targets. Returns [B, nActive + (L+1)·T] and the multiply-adds spent in
 * the backward graphs (for GFLOP/s).
 */
export async function computeRows(model: ReplacementModel, ctx: AttributionContext, targets: RowTarget[]): Promise<{ rows: Float32Array; flops: number }> {
  const sessions = await backwardGraphs(model);
  const B = targets.length;
  const T = ctx.nPos;
  const { dModel: d, nLayers: L } = model;
  const H = model.config.nHeads;
  const nActive = ctx.activations.length;
  const width = rowWidth(ctx, L);
  const errorStart = nActive;
  const tokenStart = nActive + L * T;
  const rows = new Float32Array(B * width);

  // Logit targets enter as the gradient of r_L through the frozen final norm.
  let grad = new Float32Array(B * T * d);
  const lnf = model.weights.lnFinal;
  targets.forEach((t, b) => {
    if (t.layer !== L) return;
    const base = (b * T + t.pos) * d;
    const scale = ctx.frozen.lnfScale[t.pos];
    let mean = 0;
    for (let i = 0; i < d; i++) mean += (grad[base + i] = (t.vector[i] * lnf.gamma[i]) / scale);
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
    const readout = ctx.readouts[layer];
    const empty = readout.pos.length === 0; // Gather needs at least one index: read a zero vector
    const feeds: Record<string, Tensor | ReturnType<typeof int64>> = {
      grad_resid_post: { data: grad, dims: [B, T, d] },
      inject_onehot: { data: onehot, dims: [B, T] },
      inject_vec: { data: injectVec, dims: [B, d] },
      read_vecs: empty ? { data: new Float32Array(d), dims: [1, d] } : { data: readout.vecs, dims: [readout.pos.length, d] },
      read_pos: empty ? int64([0]) : int64(readout.pos),
      error_vec: { data: ctx.errors[layer], dims: [T, d] },
      attn_pattern: { data: ctx.frozen.attnPattern[layer], dims: [1, H, T, T] },
      ln1_scale: { data: ctx.frozen.ln1Scale[layer], dims: [1, T, 1] },
      ln2_scale: { data: ctx.frozen.ln2Scale[layer], dims: [1, T, 1] },
    };
    if (layer === 0) feeds.token_vec = { data: ctx.tokenVectors, dims: [T, d] };
    const out = await sessions[layer].run(feeds);
    flops += backwardFlops(model, B, T, readout.pos.length);
    if (!empty) {
      const edges = out.feature_edges.data; // [B, M]
      const M = readout.pos.length;
      for (let b = 0; b < B; b++) {
        const row = b * width;
        for (let m = 0; m < M; m++) rows[row + readout.active[m]] += edges[b * M + m];
      }
    }
    const errorEdges = out.error_edges.data; // [B, T]
    for (let b = 0; b < B; b++) rows.set(errorEdges.subarray(b * T, (b + 1) * T), b * width + errorStart + layer * T);
    if (layer === 0) {
      const tokenEdges = out.token_edges.data;
      for (let b = 0; b < B; b++) rows.set(tokenEdges.subarray(b * T, (b + 1) * T), b * width + tokenStart);
    }
    grad = out.grad_resid_pre.data;
  }
  return { rows, flops };
}

/** Floating-point operations of one backward block for a batch (2 per multiply-add). */
function backwardFlops(model: ReplacementModel, B: number, T: number, M: number): number {
  const { dModel: d } = model;
  const { nHeads: H, nKvHeads: KV, headDim: hd } = model.config;
  const skip = model.transcoders.layers[0].skip ? d * d : 0;
  return 2 * B * (T * (d * H * hd + d * KV * hd + skip) + H * T * T * hd + M * d + T * d);
}
