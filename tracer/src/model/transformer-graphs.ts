/**
 * The forward pass of a transformer block as ONNX graphs, written once for every architecture
 * (see architecture.ts). Each block is two graphs — the attention half and the MLP half — so the
 * caller can freeze attention patterns and norm denominators, and replace or add to the MLP
 * output between them (the replacement model, interventions). All graphs take a batch N of
 * sequences of length T; frozen values are fed with batch 1 and broadcast.
 */
import type { RowSource } from '../io/safetensors.js';
import { GraphBuilder, type BuiltGraph, type WeightData } from '../onnx/graph-builder.js';
import type { BlockWeights, Linear, NormWeights } from './architecture.js';

/**
 * Where transcoders read the MLP input: `mlp_in` after the pre-MLP norm (mlp.hook_in), or
 * `normalized`, the same norm before its gain (TransformerLens' ln2.hook_normalized; GemmaScope's sets).
 */
export type TranscoderInputSite = 'mlp_in' | 'normalized';

/** The norm with gain 1 and no bias: what ln2.hook_normalized reads. */
export function unitGain(w: NormWeights): NormWeights {
  return { ...w, gamma: new Float32Array(w.gamma.length).fill(1), beta: null };
}

/** Frozen-or-live select: live + flag · (frozen − live), flag ∈ {0, 1} fed at run time. */
function freezable(g: GraphBuilder, live: string, frozen: string, flag: string): string {
  return g.add(live, g.mul(flag, g.sub(frozen, live)));
}

/** Norm over the last axis with a freezable denominator; returns [normed, scale]. */
export function norm(
  g: GraphBuilder,
  x: string,
  w: NormWeights,
  prefix: string,
  frozenScale?: string,
  flag?: string,
): [string, string] {
  let centred = x;
  if (w.kind === 'layer') centred = g.sub(x, g.reduceMean(x, [-1])); // LayerNorm's centring stays live
  const meanSquare = g.reduceMean(g.mul(centred, centred), [-1]); // [.., 1]
  let scale = g.sqrt(g.add(meanSquare, g.scalar(w.eps)));
  if (frozenScale && flag) scale = freezable(g, scale, frozenScale, flag);
  let out = g.mul(g.div(centred, scale), g.weight(`${prefix}.gamma`, w.gamma, [w.gamma.length]));
  if (w.beta) out = g.add(out, g.weight(`${prefix}.beta`, w.beta, [w.beta.length]));
  return [out, scale];
}

export function linear(g: GraphBuilder, x: string, w: Linear, name: string): string {
  // A weight read from the checkpoint file is [out, in]: ORT fuses the Transpose into the product.
  const y = w.stored
    ? g.matmul(x, g.transpose(g.storedRows(`${name}.weight`, w.stored, w.inDim, 0, w.outDim), [1, 0]))
    : g.matmul(x, g.weight(`${name}.weightT`, w.weightT, [w.inDim, w.outDim]));
  return w.bias ? g.add(y, g.weight(`${name}.bias`, w.bias, [w.outDim])) : y;
}

export interface BlockShape {
  dModel: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  rotary: boolean;
}

/** cap · tanh(x / cap) (Gemma's soft-capping of attention scores and logits). */
function softcap(g: GraphBuilder, x: string, cap: number): string {
  return g.mul(g.op('Tanh', [g.mul(x, g.scalar(1 / cap))]), g.scalar(cap));
}

/**
 * Attention half of block ℓ: resid_pre → resid_mid.
 * Inputs: resid_pre [N,T,d], causal_mask [T,T], frozen_pattern [1,H,T,T], frozen_ln1_scale [1,T,1],
 * freeze_pattern [1], freeze_scale [1] (0 = live, 1 = frozen), rotary cos/sin [T,hd] when rotary.
 * Outputs: resid_mid [N,T,d], attn_pattern [N,H,T,T], ln1_scale [N,T,1].
 * With a post-attention norm (Gemma) also input frozen_attn_post_scale [1,T,1], output attn_post_scale [N,T,1].
 * causal_mask carries the layer's sliding window, when it has one.
 */
export function buildAttentionGraph(block: BlockWeights, shape: BlockShape, layer: number): BuiltGraph {
  const { dModel: d, nHeads: H, nKvHeads: KV, headDim: hd } = shape;
  const g = new GraphBuilder(`attention_${layer}`);
  const resid = g.input('resid_pre', 'float32', ['N', 'T', d]);
  const mask = g.input('causal_mask', 'float32', ['T', 'T']);
  const frozenPattern = g.input('frozen_pattern', 'float32', [1, H, 'T', 'T']);
  const frozenScale = g.input('frozen_ln1_scale', 'float32', [1, 'T', 1]);
  const freezePattern = g.input('freeze_pattern', 'float32', [1]);
  const freezeScale = g.input('freeze_scale', 'float32', [1]);
  const cos = shape.rotary ? g.input('rotary_cos', 'float32', ['T', hd]) : '';
  const sin = shape.rotary ? g.input('rotary_sin', 'float32', ['T', hd]) : '';

  const [normed, scale] = norm(g, resid, block.ln1, 'ln1', frozenScale, freezeScale); // [N,T,d], [N,T,1]
  const heads = (x: string, n: number, qk: NormWeights | null, name: string): string => {
    let h = g.reshape(x, [0, 0, n, hd]); // [N,T,n,hd]
    if (qk) h = norm(g, h, qk, `${name}_norm`)[0]; // Qwen3 q/k norm over hd
    h = g.transpose(h, [0, 2, 1, 3]); // [N,n,T,hd]
    if (shape.rotary) {
      const rotated = g.op('Concat', [g.op('Neg', [g.slice(h, hd / 2, hd, -1)]), g.slice(h, 0, hd / 2, -1)], {
        axis: -1,
      });
      h = g.add(g.mul(h, cos), g.mul(rotated, sin)); // rotate_half convention of HF Llama
    }
    return h;
  };
  const repeatKv = (x: string): string => {
    if (KV === H) return x;
    const expanded = g.op('Expand', [g.unsqueeze(x, [2]), g.ints([1, 1, H / KV, 1, 1])]); // [N,KV,G,T,hd]
    return g.reshape(expanded, [0, H, -1, hd]); // query head h reads kv head h / G
  };
  const q = heads(linear(g, normed, block.q, 'q'), H, block.qNorm, 'q'); // [N,H,T,hd]
  const k = repeatKv(heads(linear(g, normed, block.k, 'k'), KV, block.kNorm, 'k'));
  const vRaw = g.transpose(g.reshape(linear(g, normed, block.v, 'v'), [0, 0, KV, hd]), [0, 2, 1, 3]);
  const v = repeatKv(vRaw); // [N,H,T,hd]
  const settings = block.attention;
  let scores = g.mul(g.matmul(q, g.transpose(k, [0, 1, 3, 2])), g.scalar(settings?.scale ?? 1 / Math.sqrt(hd)));
  if (settings?.softcap) scores = softcap(g, scores, settings.softcap); // before the mask, as HF Gemma-2
  scores = g.add(scores, mask); // [N,H,T,T]
  const pattern = freezable(g, g.op('Softmax', [scores], { axis: -1 }), frozenPattern, freezePattern);
  const z = g.reshape(g.transpose(g.matmul(pattern, v), [0, 2, 1, 3]), [0, 0, H * hd]); // [N,T,H·hd]
  let attnOut = linear(g, z, block.o, 'o'); // [N,T,d]
  if (block.postAttnNorm) {
    const frozenPost = g.input('frozen_attn_post_scale', 'float32', [1, 'T', 1]);
    const [normedOut, postScale] = norm(g, attnOut, block.postAttnNorm, 'attn_post', frozenPost, freezeScale);
    attnOut = normedOut;
    g.output(postScale, 'attn_post_scale', 'float32', ['N', 'T', 1]);
  }
  const residMid = g.add(resid, attnOut);
  g.output(residMid, 'resid_mid', 'float32', ['N', 'T', d]);
  g.output(pattern, 'attn_pattern', 'float32', ['N', H, 'T', 'T']);
  g.output(scale, 'ln1_scale', 'float32', ['N', 'T', 1]);
  return g.built();
}

/**
 * MLP half of block ℓ: resid_mid → mlp_in (x_ℓ, the transcoder input) and mlp_out (y_ℓ).
 * Inputs: resid_mid [N,T,d], frozen_ln2_scale [1,T,1], freeze_scale [1].
 * Outputs: mlp_in [N,T,d], mlp_out [N,T,d], ln2_scale [N,T,1].
 */
export function buildMlpGraph(
  block: BlockWeights,
  d: number,
  layer: number,
  transcoderInput: TranscoderInputSite = 'mlp_in',
): BuiltGraph {
  const g = new GraphBuilder(`mlp_${layer}`);
  const residMid = g.input('resid_mid', 'float32', ['N', 'T', d]);
  const frozenScale = g.input('frozen_ln2_scale', 'float32', [1, 'T', 1]);
  const freezeScale = g.input('freeze_scale', 'float32', [1]);
  const [x, scale] = norm(g, residMid, block.ln2, 'ln2', frozenScale, freezeScale);
  // gelu_new / gelu_pytorch_tanh: 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))
  const geluTanh = (pre: string) => {
    const cube = g.mul(g.mul(pre, pre), pre);
    const inner = g.mul(g.add(pre, g.mul(cube, g.scalar(0.044715))), g.scalar(Math.sqrt(2 / Math.PI)));
    return g.mul(g.mul(pre, g.scalar(0.5)), g.add(g.scalar(1), g.op('Tanh', [inner])));
  };
  let y: string;
  const mlp = block.mlp;
  if (mlp.kind === 'swiglu') {
    const gate = linear(g, x, mlp.gate, 'gate');
    const hidden = g.mul(g.mul(gate, g.op('Sigmoid', [gate])), linear(g, x, mlp.up, 'up')); // silu(gate) ⊙ up
    y = linear(g, hidden, mlp.down, 'down');
  } else if (mlp.kind === 'geglu') {
    const hidden = g.mul(geluTanh(linear(g, x, mlp.gate, 'gate')), linear(g, x, mlp.up, 'up')); // gelu(gate) ⊙ up
    y = linear(g, hidden, mlp.down, 'down');
  } else {
    const pre = linear(g, x, mlp.fc, 'fc');
    let hidden: string;
    if (mlp.approximate === 'tanh') {
      hidden = geluTanh(pre);
    } else {
      hidden = g.mul(g.mul(pre, g.scalar(0.5)), g.add(g.scalar(1), g.op('Erf', [g.mul(pre, g.scalar(Math.SQRT1_2))])));
    }
    y = linear(g, hidden, mlp.proj, 'proj');
  }
  // Gemma: the MLP output site (hook_mlp_out) is after the post-feedforward norm.
  if (block.postMlpNorm) y = norm(g, y, block.postMlpNorm, 'mlp_post')[0];
  // ln2.hook_normalized reads the norm's output before its gain (TransformerLens, unfolded).
  const site =
    transcoderInput === 'normalized'
      ? norm(g, residMid, unitGain(block.ln2), 'ln2_unit', frozenScale, freezeScale)[0]
      : x;
  g.output(site, 'mlp_in', 'float32', ['N', 'T', d]);
  g.output(y, 'mlp_out', 'float32', ['N', 'T', d]);
  g.output(scale, 'ln2_scale', 'float32', ['N', 'T', 1]);
  return g.built();
}

/** Vocabulary rows per product when W_U is 16-bit: bounds each run's float32 upcast (32k · d · 4 bytes). */
const UNEMBED_CHUNK = 32768;

/**
 * h · W_U from W_U's rows as the checkpoint stores them ([V, d]: lm_head.weight or the tied
 * embedding), read by ONNX Runtime from the file itself: no JavaScript copy and no transpose while
 * loading (at Gemma-2-2B size that was 3–4 GB passing through memory). A 16-bit W_U is upcast a
 * chunk of rows at a time (Gemma-2's 256k vocabulary would otherwise need a 2.4 GB float32 copy
 * during every forward); each logit's dot product is unchanged.
 */
async function unembedLogits(g: GraphBuilder, h: string, rows: RowSource, d: number, chunkRows: number) {
  const V = rows.rows;
  const stored = rows.stored;
  const inMemory = stored ? null : await rows.readAll(); // a matrix not stored as a float type
  const chunk = stored?.type === 'float32' || inMemory instanceof Float32Array ? V : chunkRows;
  const flat = g.reshape(h, [-1, d]); // [N·T, d]
  const parts: string[] = [];
  for (let start = 0; start < V; start += chunk) {
    const end = Math.min(V, start + chunk);
    const w = stored
      ? g.storedRows(`unembed.${start}`, stored, d, start, end)
      : g.weight(`unembed.${start}`, rowRange(inMemory!, d, start, end), [end - start, d]);
    parts.push(g.op('Gemm', [flat, w], { transB: 1 })); // [N·T, rows of the chunk]
  }
  const logits = parts.length === 1 ? parts[0] : g.op('Concat', parts, { axis: -1 });
  const leading = g.op('Slice', [g.op('Shape', [h]), g.ints([0]), g.ints([2])]); // [N, T]
  return g.op('Reshape', [logits, g.op('Concat', [leading, g.ints([V])], { axis: 0 })]);
}

/** Rows [start, end) of a row-major [rows, cols] weight, as a view. */
function rowRange(data: WeightData, cols: number, start: number, end: number): WeightData {
  if (data instanceof Float32Array) return data.subarray(start * cols, end * cols);
  return { type: data.type, bits: data.bits.subarray(start * cols, end * cols) };
}

/**
 * Final norm and unembedding. Inputs: resid_final [N,T,d], frozen_lnf_scale [1,T,1], freeze_scale [1].
 * Outputs: unembed_in [N,T,d], logits [N,T,V], lnf_scale [N,T,1].
 */
export async function buildFinalGraph(
  lnFinal: NormWeights,
  unembedRows: RowSource,
  d: number,
  finalSoftcap: number | null = null,
  chunkRows = UNEMBED_CHUNK,
): Promise<BuiltGraph> {
  const g = new GraphBuilder('unembed');
  const resid = g.input('resid_final', 'float32', ['N', 'T', d]);
  const frozenScale = g.input('frozen_lnf_scale', 'float32', [1, 'T', 1]);
  const freezeScale = g.input('freeze_scale', 'float32', [1]);
  const [h, scale] = norm(g, resid, lnFinal, 'lnf', frozenScale, freezeScale);
  g.output(h, 'unembed_in', 'float32', ['N', 'T', d]);
  const logits = await unembedLogits(g, h, unembedRows, d, chunkRows);
  g.output(finalSoftcap ? softcap(g, logits, finalSoftcap) : logits, 'logits', 'float32', ['N', 'T', unembedRows.rows]);
  g.output(scale, 'lnf_scale', 'float32', ['N', 'T', 1]);
  return g.built();
}
