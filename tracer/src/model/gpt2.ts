/**
 * GPT-2: LayerNorm, learned position embeddings, fused qkv projection, GELU MLP, tied unembedding.
 * Conv1D weights are stored [in, out] — already our `weightT` layout, so they are not transposed.
 * Tensor names with or without the `transformer.` prefix.
 *
 *   r_0 = W_E[tok] + W_pos[pos];  r_mid = r + Attn(LN₁(r));  r' = r_mid + proj(gelu(fc(LN₂(r_mid))))
 */
import { ModelFormatError } from '../errors.js';
import type { Checkpoint } from '../io/safetensors.js';
import type { ModelConfig } from '../io/model-config.js';
import {
  type ArchitectureWeights,
  type BlockLoaded,
  type BlockWeights,
  type Linear,
  type NormWeights,
} from './architecture.js';
import { GraphBuilder } from '../onnx/graph-builder.js';

export async function loadGpt2Weights(
  config: ModelConfig,
  checkpoint: Checkpoint,
  onBlock?: BlockLoaded,
): Promise<ArchitectureWeights> {
  const { dModel: d, nHeads: H, headDim: hd, dMlp, vocabSize: V, normEps } = config;
  const prefix = checkpoint.has('transformer.wte.weight') ? 'transformer.' : '';
  const read = async (name: string, shape: number[]) => (await checkpoint.read(`${prefix}${name}`, shape)).data;
  const ln = async (name: string): Promise<NormWeights> => ({
    kind: 'layer',
    gamma: await read(`${name}.weight`, [d]),
    beta: await read(`${name}.bias`, [d]),
    eps: normEps,
  });
  const conv1d = async (name: string, inDim: number, outDim: number): Promise<Linear> => ({
    weightT: await checkpoint.readWeight(`${prefix}${name}.weight`, [inDim, outDim]),
    inDim,
    outDim,
    bias: await read(`${name}.bias`, [outDim]),
  });
  if (!['gelu_new', 'gelu', 'gelu_pytorch_tanh', 'gelu_fast'].includes(config.activation)) {
    throw new ModelFormatError(`GPT-2 activation_function '${config.activation}' is not supported (gelu_new or gelu)`);
  }
  const blocks: BlockWeights[] = [];
  for (let layer = 0; layer < config.nLayers; layer++) {
    const p = `h.${layer}`;
    const qkv = await conv1d(`${p}.attn.c_attn`, d, 3 * d);
    const block: BlockWeights = {
      ln1: await ln(`${p}.ln_1`),
      q: columns(qkv, 0, d),
      k: columns(qkv, d, 2 * d),
      v: columns(qkv, 2 * d, 3 * d),
      o: await conv1d(`${p}.attn.c_proj`, d, d),
      qNorm: null,
      kNorm: null,
      ln2: await ln(`${p}.ln_2`),
      mlp: {
        kind: 'gelu',
        approximate: config.activation === 'gelu' ? 'none' : 'tanh',
        fc: await conv1d(`${p}.mlp.c_fc`, d, dMlp),
        proj: await conv1d(`${p}.mlp.c_proj`, dMlp, d),
      },
    };
    blocks.push(block);
    await onBlock?.(layer, block);
  }
  const unembedName =
    checkpoint.has('lm_head.weight') && !config.tiedEmbeddings ? 'lm_head.weight' : `${prefix}wte.weight`;
  return {
    nLayers: config.nLayers,
    dModel: d,
    nHeads: H,
    nKvHeads: H,
    headDim: hd,
    vocabSize: V,
    blocks,
    lnFinal: await ln('ln_f'),
    tokenEmbedding: checkpoint.rows(`${prefix}wte.weight`, [V, d]),
    positionEmbedding: await read('wpe.weight', [config.maxPositions, d]),
    unembedRows: checkpoint.rows(unembedName, [V, d]),
    rotaryTables: null,
  };
}

/** Output columns [from, to) of a linear map (splits the fused qkv projection). */
function columns(w: Linear, from: number, to: number): Linear {
  const weightT = GraphBuilder.columns(w.weightT, w.inDim, w.outDim, from, to);
  return { weightT, inDim: w.inDim, outDim: to - from, bias: w.bias ? w.bias.slice(from, to) : null };
}
