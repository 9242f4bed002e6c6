/**
 * The batched backward through the frozen replacement model, one ONNX graph per block, written
 * as the transposed linear ops (no autograd). With attention patterns and norm denominators
 * frozen and the MLP cut (its output is transcoder output + constant error), the residual stream
 * is linear in the sources (DESIGN.md, "The attribution engine in one page"):
 *
 *   g(x_ℓ)      = inject (target encoder rows at their positions) + g(r_ℓ+1) · Sᵀ   (skip path)
 *   g(r_mid_ℓ)  = g(r_ℓ+1) + Nᵀ₂ g(x_ℓ)                     Nᵀ g = C(g ⊙ γ / scale), C = centring (LayerNorm)
 *   g(r_ℓ)      = g(r_mid_ℓ) + Nᵀ₁ W_Vᵀ Σ_q P[h,q,k] (g(a_ℓ)[q] W_Oʰᵀ)
 *   g(a_ℓ)      = g(r_mid_ℓ), or Nᵀ_post g(r_mid_ℓ) through Gemma's frozen post-attention norm
 * Gemma's post-feedforward norm sits inside the cut MLP (transcoders write after it): no term.
 * With ln2.hook_normalized transcoders, Nᵀ₂ carries no gain (the site is before it).
 *
 * Read-outs at block ℓ's output site (the MLP output, whose gradient is g(r_ℓ+1)):
 *   feature edges  (a_s W_dec,s) · g(r_ℓ+1)[pos_s]      for the decoder vectors writing to layer ℓ
 *   error edges    e_ℓ[p] · g(r_ℓ+1)[p]
 *   token edges    W_E[tok_p] · g(r_0)[p]                (block 0 only)
 */
import { GraphBuilder, type BuiltGraph } from '../onnx/graph-builder.js';
import type { BlockWeights, Linear, NormWeights } from '../model/architecture.js';
import { transpose } from '../model/architecture.js';
import { unitGain, type BlockShape, type TranscoderInputSite } from '../model/transformer-graphs.js';

/** Nᵀ: gradient through a norm with a frozen denominator. g [B,T,d], scale [1,T,1]. */
function normTransposed(g: GraphBuilder, grad: string, w: NormWeights, scale: string, name: string): string {
  const out = g.div(g.mul(grad, g.weight(`${name}.gamma`, w.gamma, [w.gamma.length])), scale);
  return w.kind === 'layer' ? g.sub(out, g.reduceMean(out, [-1])) : out;
}

/**
 * Inputs: grad_resid_post [B,T,d] = g(r_ℓ+1); inject_onehot [B,T]; inject_vec [B,d]; n_continuing [1]
 * (the first rows are targets from above, the rest inject here and have no gradient from above);
 * read_vecs [T,d,K] (the decoder vectors of the sources at each position, zero-padded to K slots);
 * error_vec [T,d]; attn_pattern [1,H,T,T]; ln1_scale, ln2_scale [1,T,1]; token_vec [T,d] (block 0).
 * Outputs: grad_resid_pre [B,T,d] = g(r_ℓ); feature_edges [T,B,K]; error_edges [B,T]; token_edges [B,T] (block 0).
 */
export function buildBackwardGraph(
  block: BlockWeights,
  shape: BlockShape,
  skip: Float32Array | null,
  layer: number,
  transcoderInput: TranscoderInputSite = 'mlp_in',
): BuiltGraph {
  const { dModel: d, nHeads: H, nKvHeads: KV, headDim: hd } = shape;
  const g = new GraphBuilder(`backward_${layer}`);
  const gradPost = g.input('grad_resid_post', 'float32', ['B', 'T', d]);
  const onehot = g.input('inject_onehot', 'float32', ['B', 'T']);
  const injectVec = g.input('inject_vec', 'float32', ['B', d]);
  const readVecs = g.input('read_vecs', 'float32', ['T', d, 'K']);
  const errorVec = g.input('error_vec', 'float32', ['T', d]);
  const pattern = g.input('attn_pattern', 'float32', [1, H, 'T', 'T']);
  const ln1Scale = g.input('ln1_scale', 'float32', [1, 'T', 1]);
  const ln2Scale = g.input('ln2_scale', 'float32', [1, 'T', 1]);

  // Read-outs at the MLP output of this layer: one [B,d]·[d,K] product per position.
  const byPosition = g.transpose(gradPost, [1, 0, 2]); // [T,B,d]
  g.output(g.matmul(byPosition, readVecs), 'feature_edges', 'float32', ['T', 'B', 'K']);
  g.output(g.reduceSum(g.mul(gradPost, errorVec), [-1], 0), 'error_edges', 'float32', ['B', 'T']);

  // g(x_ℓ): injected encoder rows, plus the skip path of the transcoder.
  let gradX = g.mul(g.unsqueeze(onehot, [-1]), g.unsqueeze(injectVec, [1])); // [B,T,d]
  if (skip) gradX = g.add(gradX, g.matmul(gradPost, g.weight('skipT', transpose(skip, d, d), [d, d])));
  const ln2 = transcoderInput === 'normalized' ? unitGain(block.ln2) : block.ln2;
  const gradMid = g.add(gradPost, normTransposed(g, gradX, ln2, ln2Scale, 'ln2')); // [B,T,d]
  let gradAttnOut = gradMid;
  if (block.postAttnNorm) {
    const postScale = g.input('attn_post_scale', 'float32', [1, 'T', 1]);
    gradAttnOut = normTransposed(g, gradMid, block.postAttnNorm, postScale, 'attn_post');
  }

  // Value path of attention with the frozen pattern, transposed: Σ_q P[h,q,k] (g(a)[q] W_Oʰᵀ).
  // Targets that continue from the block above carry a gradient at every position ≤ their own;
  // targets injecting at this block (the last rows, from n_continuing on) carry one at their own
  // position only, so their W_Oᵀ product is one row each instead of T (the pattern row of that
  // position then spreads it over k).
  // W_O and W_V are needed in PyTorch's layout: read from the checkpoint file where it stores them.
  const torchLayout = (name: string, w: Linear) =>
    w.stored
      ? g.storedRows(name, w.stored, w.inDim, 0, w.outDim)
      : g.weight(name, transpose(w.weightT, w.inDim, w.outDim), [w.outDim, w.inDim]);
  const woT = torchLayout('W_oT', block.o); // [d, H·hd]
  const nContinuing = g.input('n_continuing', 'int64', [1]);
  const continuing = g.slice(gradAttnOut, 0, nContinuing, 0); // [B1,T,d]
  const gradZ = g.transpose(g.reshape(g.matmul(continuing, woT), [0, 0, H, hd]), [0, 2, 1, 3]); // [B1,H,T,hd]
  const patternT = g.transpose(pattern, [0, 1, 3, 2]);
  const gradVContinuing = g.matmul(patternT, gradZ); // [B1,H,T,hd]
  const injectAt = g.slice(onehot, nContinuing, 2 ** 53, 0); // [B2,T]
  const injected = g.reduceSum(
    g.mul(g.slice(gradAttnOut, nContinuing, 2 ** 53, 0), g.unsqueeze(injectAt, [-1])),
    [1],
    0,
  ); // [B2,d]
  const gradZInjected = g.reshape(g.matmul(injected, woT), [0, H, 1, hd]); // [B2,H,1,hd]
  // P[h, q_j, k] of each injecting target's position q_j: [B2,H,T,1].
  const injectPos = g.op('ArgMax', [injectAt], { axis: 1, keepdims: 0 }); // [B2]
  const rowsAtPos = g.op('Gather', [g.op('Squeeze', [pattern, g.ints([0])]), injectPos], { axis: 1 }); // [H,B2,T]
  const patternRow = g.unsqueeze(g.transpose(rowsAtPos, [1, 0, 2]), [-1]);
  const gradVInjected = g.mul(patternRow, gradZInjected); // [B2,H,T,hd]
  let gradV = g.op('Concat', [gradVContinuing, gradVInjected], { axis: 0 }); // [B,H,T,hd]
  if (KV !== H) gradV = g.reduceSum(g.reshape(gradV, [0, KV, H / KV, -1, hd]), [2], 0); // query heads share kv heads
  const gradVFlat = g.reshape(g.transpose(gradV, [0, 2, 1, 3]), [0, 0, KV * hd]); // [B,T,KV·hd]
  const wvT = torchLayout('W_vT', block.v); // [KV·hd, d]
  const gradNormed = g.matmul(gradVFlat, wvT); // [B,T,d]
  const gradPre = g.add(gradMid, normTransposed(g, gradNormed, block.ln1, ln1Scale, 'ln1'));
  g.output(gradPre, 'grad_resid_pre', 'float32', ['B', 'T', d]);

  if (layer === 0) {
    const tokenVec = g.input('token_vec', 'float32', ['T', d]);
    g.output(g.reduceSum(g.mul(gradPre, tokenVec), [-1], 0), 'token_edges', 'float32', ['B', 'T']);
  }
  return g.built();
}
