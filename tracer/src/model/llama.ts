/**
 * The Llama family (Llama 2/3, Qwen2, Qwen3, SmolLM): RMSNorm, rotary position embeddings
 * (rope_scaling default / linear / llama3), grouped-query attention, SwiGLU MLP, tied or untied
 * unembedding, Qwen3's per-head q/k RMSNorm. Maps Hugging Face tensor names onto architecture.ts.
 *
 *   r_mid = r + Attn(RMSNorm₁(r))          Attn: q,k with RoPE, GQA, softmax(qkᵀ/√hd + mask) v, o
 *   r'    = r_mid + W_down(silu(W_gate x) ⊙ W_up x),  x = RMSNorm₂(r_mid)
 *   logits = RMSNorm_f(r_L) · W_U
 */
import type { Checkpoint } from '../io/safetensors.js';
import type { ModelConfig, RopeScaling } from '../io/model-config.js';
import {
  checkpointLinear,
  type ArchitectureWeights,
  type BlockLoaded,
  type BlockWeights,
  type NormWeights,
} from './architecture.js';

export async function loadLlamaWeights(
  config: ModelConfig,
  checkpoint: Checkpoint,
  onBlock?: BlockLoaded,
): Promise<ArchitectureWeights> {
  const { dModel: d, nHeads: H, nKvHeads: KV, headDim: hd, dMlp, vocabSize: V, normEps } = config;
  const read = async (name: string, shape: number[]) => (await checkpoint.read(name, shape)).data;
  const readOptional = async (name: string, shape: number[]) => (checkpoint.has(name) ? read(name, shape) : null);
  const rms = async (name: string, size: number): Promise<NormWeights> => ({
    kind: 'rms',
    gamma: await read(name, [size]),
    beta: null,
    eps: normEps,
  });
  const lin = async (name: string, outDim: number, inDim: number, bias: boolean) =>
    checkpointLinear(
      checkpoint,
      `${name}.weight`,
      outDim,
      inDim,
      bias ? await readOptional(`${name}.bias`, [outDim]) : null,
    );

  const blocks: BlockWeights[] = [];
  for (let layer = 0; layer < config.nLayers; layer++) {
    const p = `model.layers.${layer}`;
    const block: BlockWeights = {
      ln1: await rms(`${p}.input_layernorm.weight`, d),
      q: await lin(`${p}.self_attn.q_proj`, H * hd, d, config.attentionBias),
      k: await lin(`${p}.self_attn.k_proj`, KV * hd, d, config.attentionBias),
      v: await lin(`${p}.self_attn.v_proj`, KV * hd, d, config.attentionBias),
      o: await lin(
        `${p}.self_attn.o_proj`,
        d,
        H * hd,
        config.attentionBias && checkpoint.has(`${p}.self_attn.o_proj.bias`),
      ),
      qNorm: config.qkNorm ? await rms(`${p}.self_attn.q_norm.weight`, hd) : null,
      kNorm: config.qkNorm ? await rms(`${p}.self_attn.k_norm.weight`, hd) : null,
      ln2: await rms(`${p}.post_attention_layernorm.weight`, d),
      mlp: {
        kind: 'swiglu',
        gate: await lin(`${p}.mlp.gate_proj`, dMlp, d, config.mlpBias),
        up: await lin(`${p}.mlp.up_proj`, dMlp, d, config.mlpBias),
        down: await lin(`${p}.mlp.down_proj`, d, dMlp, config.mlpBias),
      },
    };
    blocks.push(block);
    await onBlock?.(layer, block);
  }
  const unembedName =
    config.tiedEmbeddings || !checkpoint.has('lm_head.weight') ? 'model.embed_tokens.weight' : 'lm_head.weight';
  return {
    nLayers: config.nLayers,
    dModel: d,
    nHeads: H,
    nKvHeads: KV,
    headDim: hd,
    vocabSize: V,
    blocks,
    lnFinal: await rms('model.norm.weight', d),
    tokenEmbedding: checkpoint.rows('model.embed_tokens.weight', [V, d]),
    positionEmbedding: null,
    unembedRows: checkpoint.rows(unembedName, [V, d]),
    rotaryTables: (nPos) => rotaryTables(nPos, hd, config.ropeTheta, config.ropeScaling),
  };
}

/** Inverse frequencies of RoPE, with HF's llama3 / linear rope_scaling applied. [hd/2] */
export function rotaryInverseFrequencies(hd: number, theta: number, scaling: RopeScaling | null): Float64Array {
  const inv = new Float64Array(hd / 2);
  for (let i = 0; i < hd / 2; i++) inv[i] = Math.fround(1 / Math.fround(theta ** Math.fround((2 * i) / hd)));
  if (!scaling) return inv;
  if (scaling.ropeType === 'linear') return inv.map((f) => f / scaling.factor);
  // llama3: low frequencies divided by factor, high kept, a smooth blend in between.
  const { factor, lowFreqFactor, highFreqFactor, originalMaxPositionEmbeddings: oldContext } = scaling;
  const lowWavelen = oldContext / lowFreqFactor;
  const highWavelen = oldContext / highFreqFactor;
  return inv.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    if (wavelen < highWavelen) return f;
    if (wavelen > lowWavelen) return f / factor;
    const smooth = (oldContext / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
    return (1 - smooth) * (f / factor) + smooth * f;
  });
}

/** cos and sin of position × frequency, the halves duplicated as in HF. [T, hd] each */
export function rotaryTables(nPos: number, hd: number, theta: number, scaling: RopeScaling | null) {
  const inv = rotaryInverseFrequencies(hd, theta, scaling);
  const cos = new Float32Array(nPos * hd);
  const sin = new Float32Array(nPos * hd);
  for (let pos = 0; pos < nPos; pos++) {
    for (let i = 0; i < hd / 2; i++) {
      const angle = Math.fround(pos * Math.fround(inv[i]));
      cos[pos * hd + i] = cos[pos * hd + i + hd / 2] = Math.cos(angle);
      sin[pos * hd + i] = sin[pos * hd + i + hd / 2] = Math.sin(angle);
    }
  }
  return { cos, sin };
}
