/**
 * Gemma-2 (`Gemma2ForCausalLM`) and Gemma-3 text (`Gemma3ForCausalLM`, `gemma3_text`). Maps
 * Hugging Face tensor names onto architecture.ts; what differs from Llama:
 *
 *   r_0   = W_E[tok] · √d                              embeddings scaled (the token nodes' vectors too)
 *   RMSNorm(x) = x / √(mean x² + ε) · (1 + w)          every norm's gain is stored as w, used as 1 + w
 *   r_mid = r + PostAttnNorm(Attn(InputNorm(r)))       scores q·kᵀ · query_pre_attn_scalar^-½,
 *                                                      Gemma-2: cap · tanh(s / cap); sliding-window layers
 *   r'    = r_mid + PostFfNorm(W_down(gelu_tanh(W_gate x) ⊙ W_up x)),  x = PreFfNorm(r_mid)
 *   logits = FinalNorm(r_L) · W_Eᵀ,  Gemma-2: cap · tanh(logits / cap)
 *
 * Gemma-3 adds RMSNorm (1 + w) on each head's queries and keys, and rotates its sliding-window
 * layers with `rope_local_base_freq` and its global layers with `rope_theta` (+ linear scaling).
 */
import type { Checkpoint } from '../io/safetensors.js';
import type { ModelConfig } from '../io/model-config.js';
import {
  checkpointLinear,
  type ArchitectureWeights,
  type BlockLoaded,
  type BlockWeights,
  type NormWeights,
} from './architecture.js';
import { rotaryTables } from './llama.js';

export async function loadGemmaWeights(
  config: ModelConfig,
  checkpoint: Checkpoint,
  onBlock?: BlockLoaded,
): Promise<ArchitectureWeights> {
  const { dModel: d, nHeads: H, nKvHeads: KV, headDim: hd, dMlp, vocabSize: V, normEps } = config;
  const read = async (name: string, shape: number[]) => (await checkpoint.read(name, shape)).data;
  // Gemma stores the gain as w and multiplies by (1 + w): folded here once, in float32 as HF does.
  const rms = async (name: string, size: number): Promise<NormWeights> => {
    const w = await read(name, [size]);
    const gamma = new Float32Array(size);
    for (let i = 0; i < size; i++) gamma[i] = 1 + w[i];
    return { kind: 'rms', gamma, beta: null, eps: normEps };
  };
  const lin = async (name: string, outDim: number, inDim: number) => {
    const bias = config.attentionBias && checkpoint.has(`${name}.bias`) ? await read(`${name}.bias`, [outDim]) : null;
    return checkpointLinear(checkpoint, `${name}.weight`, outDim, inDim, bias);
  };

  const blocks: BlockWeights[] = [];
  for (let layer = 0; layer < config.nLayers; layer++) {
    const p = `model.layers.${layer}`;
    const sliding = (config.slidingWindows?.[layer] ?? null) !== null;
    const block: BlockWeights = {
      ln1: await rms(`${p}.input_layernorm.weight`, d),
      q: await lin(`${p}.self_attn.q_proj`, H * hd, d),
      k: await lin(`${p}.self_attn.k_proj`, KV * hd, d),
      v: await lin(`${p}.self_attn.v_proj`, KV * hd, d),
      o: await lin(`${p}.self_attn.o_proj`, d, H * hd),
      qNorm: config.qkNorm ? await rms(`${p}.self_attn.q_norm.weight`, hd) : null,
      kNorm: config.qkNorm ? await rms(`${p}.self_attn.k_norm.weight`, hd) : null,
      postAttnNorm: await rms(`${p}.post_attention_layernorm.weight`, d),
      ln2: await rms(`${p}.pre_feedforward_layernorm.weight`, d),
      postMlpNorm: await rms(`${p}.post_feedforward_layernorm.weight`, d),
      mlp: {
        kind: 'geglu',
        gate: await lin(`${p}.mlp.gate_proj`, dMlp, d),
        up: await lin(`${p}.mlp.up_proj`, dMlp, d),
        down: await lin(`${p}.mlp.down_proj`, d, dMlp),
      },
      attention: {
        scale: config.attentionScale ?? 1 / Math.sqrt(hd),
        softcap: config.attnSoftcap ?? null,
        localRotary: sliding && config.ropeLocalTheta !== undefined,
      },
    };
    blocks.push(block);
    await onBlock?.(layer, block);
  }
  const unembedName =
    config.tiedEmbeddings || !checkpoint.has('lm_head.weight') ? 'model.embed_tokens.weight' : 'lm_head.weight';
  // W_E · √d in float32, the product HF forms (Gemma-2: times a float32 normalizer; Gemma-3: embed_scale).
  const normalizer = Math.fround(Math.sqrt(d));
  const localTheta = config.ropeLocalTheta;
  return {
    nLayers: config.nLayers,
    dModel: d,
    nHeads: H,
    nKvHeads: KV,
    headDim: hd,
    vocabSize: V,
    blocks,
    lnFinal: await rms('model.norm.weight', d),
    tokenEmbedding: checkpoint.rows('model.embed_tokens.weight', [V, d], normalizer),
    positionEmbedding: null,
    unembedRows: checkpoint.rows(unembedName, [V, d]),
    rotaryTables: (nPos) => rotaryTables(nPos, hd, config.ropeTheta, config.ropeScaling),
    localRotaryTables: localTheta === undefined ? undefined : (nPos) => rotaryTables(nPos, hd, localTheta, null),
    finalSoftcap: config.finalSoftcap ?? null,
  };
}
