/**
 * What every architecture provides, in one standard shape: per-block weights in a common layout
 * (the same names TransformerLens gives the activation sites), the token embedding, the
 * unembedding, and position information (RoPE tables or learned positions). The ONNX graphs in
 * `transformer-graphs.ts` and the attribution backward are written once against this shape; an
 * architecture file only maps a checkpoint's tensor names and layouts onto it.
 *
 * Activation sites, named once and used in graph outputs, caches and tests:
 *   resid_pre    r_ℓ        [N, T, d]  residual stream entering block ℓ
 *   attn_pattern P_ℓ        [N, H, T, T]
 *   ln1_scale    s_ℓ        [N, T, 1]  pre-attention norm denominator
 *   resid_mid    r_mid_ℓ    [N, T, d]
 *   ln2_scale    t_ℓ        [N, T, 1]  pre-MLP norm denominator
 *   mlp_in       x_ℓ        [N, T, d]  MLP input after its norm = transcoder input
 *   mlp_out      y_ℓ        [N, T, d]  MLP output = transcoder output site
 *   attn_post_scale         [N, T, 1]  Gemma's post-attention norm denominator
 *   lnf_scale               [N, T, 1]  final norm denominator
 *   unembed_in   h          [N, T, d]  final norm output (logit targets are injected here)
 *   logits                  [N, T, V]
 */

import { ModelFormatError } from '../errors.js';
import { halfToFloat, type Checkpoint, type RowSource, type StoredMatrix } from '../io/safetensors.js';
import type { WeightData } from '../onnx/graph-builder.js';

/**
 * A linear map y = x · weightT + bias with `weightT` stored [inDim, outDim] (row-major), in the
 * checkpoint's precision: BF16/F16 stay 16-bit and are upcast to float32 inside the ONNX graph.
 */
export interface Linear {
  weightT: WeightData;
  inDim: number;
  outDim: number;
  bias: Float32Array | null;
  /** The weight as the checkpoint stores it ([outDim, inDim], PyTorch's layout), for graphs that read it from the file. */
  stored?: StoredMatrix;
}

export interface NormWeights {
  kind: 'rms' | 'layer';
  gamma: Float32Array; // [d]
  beta: Float32Array | null; // [d], LayerNorm only
  eps: number;
}

export interface BlockWeights {
  ln1: NormWeights;
  q: Linear; // [d] -> [H·hd]
  k: Linear; // [d] -> [KV·hd]
  v: Linear; // [d] -> [KV·hd]
  o: Linear; // [H·hd] -> [d]
  /** Qwen3: RMSNorm over each head's query / key vector. [hd] */
  qNorm: NormWeights | null;
  kNorm: NormWeights | null;
  ln2: NormWeights;
  mlp:
    | { kind: 'swiglu'; gate: Linear; up: Linear; down: Linear }
    | { kind: 'geglu'; gate: Linear; up: Linear; down: Linear } // Gemma: gelu_tanh(gate) ⊙ up
    | { kind: 'gelu'; approximate: 'tanh' | 'none'; fc: Linear; proj: Linear };
  /** Gemma: norms on the attention output and the MLP output before they join the residual stream. */
  postAttnNorm?: NormWeights;
  postMlpNorm?: NormWeights;
  /** Attention-score settings that differ from softmax(q·kᵀ/√hd) over all earlier positions. */
  attention?: AttentionSettings;
}

export interface AttentionSettings {
  /** Multiplies q·kᵀ (Gemma: query_pre_attn_scalar^-½). */
  scale: number;
  /** cap · tanh(score / cap) before the mask (Gemma-2); null = none. */
  softcap: number | null;
  /** Gemma-3's sliding layers rotate with the local RoPE base (ArchitectureWeights.localRotaryTables). */
  localRotary: boolean;
}

export interface ArchitectureWeights {
  nLayers: number;
  dModel: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  vocabSize: number;
  blocks: BlockWeights[];
  lnFinal: NormWeights;
  /** Token embedding W_E, rows read from the checkpoint on demand (Gemma's √d applied). [V, d] */
  tokenEmbedding: RowSource;
  /** Learned position embedding (GPT-2). [maxPositions, d] */
  positionEmbedding: Float32Array | null;
  /**
   * Columns of W_U (rows of lm_head.weight, or of the tied embedding) [V, d]: read on demand by
   * host-side code, and by ONNX Runtime from the file for the final graph (logits = h · W_U).
   */
  unembedRows: RowSource;
  /** RoPE: cos and sin tables for positions 0..T-1, [T, hd] each; null without rotary embeddings. */
  rotaryTables: ((nPos: number) => { cos: Float32Array; sin: Float32Array }) | null;
  /** Gemma-3: the tables of the sliding-window layers (their own RoPE base). */
  localRotaryTables?: (nPos: number) => { cos: Float32Array; sin: Float32Array };
  /** Gemma-2: logits = cap · tanh(logits / cap); attribution reads the logits before it, as the reference does. */
  finalSoftcap?: number | null;
}

/** PyTorch's nn.Linear weight [out, in] → our [in, out]. */
export function linearFromTorch(weight: WeightData, outDim: number, inDim: number, bias: Float32Array | null): Linear {
  return { weightT: transpose(weight, outDim, inDim), inDim, outDim, bias };
}

/**
 * A PyTorch nn.Linear weight [out, in] of a checkpoint. Where the file stores it as a float type,
 * ONNX Runtime reads it from the file (`stored`) and JavaScript holds no copy (`weightT` empty);
 * otherwise it is read and transposed to [in, out].
 */
export async function checkpointLinear(
  checkpoint: Checkpoint,
  name: string,
  outDim: number,
  inDim: number,
  bias: Float32Array | null,
): Promise<Linear> {
  const stored = checkpoint.rows(name, [outDim, inDim]).stored;
  if (stored) return { weightT: RELEASED, inDim, outDim, bias, stored };
  return linearFromTorch(await checkpoint.readWeight(name, [outDim, inDim]), outDim, inDim, bias);
}

/** Row-major [rows, cols] → [cols, rows], in the weight's own precision. */
export function transpose(data: Float32Array, rows: number, cols: number): Float32Array;
export function transpose(data: WeightData, rows: number, cols: number): WeightData;
export function transpose(data: WeightData, rows: number, cols: number): WeightData {
  const values = data instanceof Float32Array ? data : data.bits;
  const out = data instanceof Float32Array ? new Float32Array(values.length) : new Uint16Array(values.length);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let c = 0; c < cols; c++) out[c * rows + r] = values[base + c];
  }
  return out instanceof Float32Array ? out : { type: (data as Exclude<WeightData, Float32Array>).type, bits: out };
}

/** A weight as float32 values (16-bit upcast exactly): for host-side math on small weights. */
export function weightValues(data: WeightData): Float32Array {
  if (data instanceof Float32Array) return data;
  const out = new Float32Array(data.bits.length);
  if (data.type === 'bfloat16') {
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < bits.length; i++) bits[i] = data.bits[i] << 16; // bfloat16 is the top half of a float32
  } else {
    for (let i = 0; i < out.length; i++) out[i] = halfToFloat(data.bits[i]);
  }
  return out;
}

const RELEASED = new Float32Array(0);

/**
 * Drops the JavaScript copies of a block's weights that only its forward graphs read (q, k, the MLP),
 * once ONNX Runtime holds them: the weights the checkpoint does not store whole as a float type
 * (GPT-2's Conv1D and c_attn slices); the others were never read (`checkpointLinear`). Kept: norms
 * (small), and such W_O and W_V: attribution builds its backward graphs from them.
 */
export function releaseForwardOnlyWeights(block: BlockWeights): void {
  const release = (linear: Linear) => (linear.weightT = RELEASED);
  release(block.q);
  release(block.k);
  const mlp = block.mlp;
  if (mlp.kind === 'gelu') [mlp.fc, mlp.proj].forEach(release);
  else [mlp.gate, mlp.up, mlp.down].forEach(release);
}

/**
 * Called by an architecture loader after each block is read, so the caller can build the block's
 * sessions and release its weights before the next block is read (load peak: one block, not all).
 */
export type BlockLoaded = (layer: number, block: BlockWeights) => Promise<void>;

/**
 * Refuses a checkpoint with blocks past the config's layer count: loading only the first layers
 * would trace a different, truncated model without a word.
 */
/** A block's tensor: `model.layers.{i}.` (llama family, Gemma) or `[transformer.]h.{i}.` (GPT-2). */
const BLOCK_TENSOR = /^(?:model\.layers|(?:transformer\.)?h)\.(\d+)\./;

export function checkNoExtraBlocks(checkpoint: Checkpoint, nLayers: number, configField: string): void {
  for (const name of checkpoint.names()) {
    const layer = Number(BLOCK_TENSOR.exec(name)?.[1] ?? -1);
    if (layer >= nLayers) {
      throw new ModelFormatError(
        `the checkpoint has tensor '${name}' of layer ${layer}, but config.json's ${configField} is ${nLayers}; ` +
          `use the config.json that came with these weights`,
        checkpoint.fileOf(name),
      );
    }
  }
}
