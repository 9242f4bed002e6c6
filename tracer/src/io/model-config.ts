/**
 * Hugging Face `config.json`, read into the few numbers the architectures need. Unknown
 * architectures and missing fields are ModelFormatErrors that say which field to add.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ModelFormatError } from '../errors.js';

export type ArchitectureFamily = 'llama' | 'gpt2';

/** `rope_scaling` as HF writes it (llama3 and linear are applied; others are refused). */
export interface RopeScaling {
  ropeType: 'default' | 'linear' | 'llama3';
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositionEmbeddings: number;
}

export interface ModelConfig {
  /** `architectures[0]` or `model_type`, e.g. `LlamaForCausalLM`, `Qwen3ForCausalLM`, `GPT2LMHeadModel`. */
  architecture: string;
  family: ArchitectureFamily;
  modelType: string;
  nLayers: number;
  dModel: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  dMlp: number;
  vocabSize: number;
  /** Longest prompt the model accepts (max_position_embeddings / n_positions). */
  maxPositions: number;
  normEps: number;
  tiedEmbeddings: boolean;
  ropeTheta: number;
  ropeScaling: RopeScaling | null;
  /** Qwen3: RMSNorm on each head's queries and keys. */
  qkNorm: boolean;
  attentionBias: boolean;
  mlpBias: boolean;
  /** GPT-2's MLP activation (`gelu_new` = tanh approximation). */
  activation: string;
  bosTokenId: number | null;
  eosTokenId: number | null;
  raw: Record<string, unknown>;
}

const LLAMA_TYPES = new Set(['llama', 'qwen2', 'qwen3', 'mistral', 'smollm', 'smollm3']);

export async function readModelConfig(modelDir: string): Promise<ModelConfig> {
  const file = path.join(modelDir, 'config.json');
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ModelFormatError(`no config.json; point --model at a Hugging Face model folder`, file);
    }
    throw new ModelFormatError(`config.json is not valid JSON`, file);
  }
  const modelType = String(raw.model_type ?? '');
  const architecture = String((raw.architectures as string[] | undefined)?.[0] ?? modelType);
  const num = (key: string, fallback?: number): number => {
    const value = raw[key] ?? fallback;
    if (typeof value !== 'number') throw new ModelFormatError(`config.json lacks the number '${key}'`, file);
    return value;
  };
  const firstId = (value: unknown): number | null =>
    typeof value === 'number' ? value : Array.isArray(value) && typeof value[0] === 'number' ? value[0] : null;

  if (modelType === 'gpt2') {
    const dModel = num('n_embd');
    const nHeads = num('n_head');
    return {
      architecture,
      family: 'gpt2',
      modelType,
      nLayers: num('n_layer'),
      dModel,
      nHeads,
      nKvHeads: nHeads,
      headDim: dModel / nHeads,
      dMlp: (raw.n_inner as number | null) ?? 4 * dModel,
      vocabSize: num('vocab_size'),
      maxPositions: num('n_positions'),
      normEps: num('layer_norm_epsilon', 1e-5),
      tiedEmbeddings: raw.tie_word_embeddings !== false,
      ropeTheta: 0,
      ropeScaling: null,
      qkNorm: false,
      attentionBias: true,
      mlpBias: true,
      activation: String(raw.activation_function ?? 'gelu_new'),
      bosTokenId: firstId(raw.bos_token_id),
      eosTokenId: firstId(raw.eos_token_id),
      raw,
    };
  }
  if (LLAMA_TYPES.has(modelType)) {
    const dModel = num('hidden_size');
    const nHeads = num('num_attention_heads');
    return {
      architecture,
      family: 'llama',
      modelType,
      nLayers: num('num_hidden_layers'),
      dModel,
      nHeads,
      nKvHeads: num('num_key_value_heads', nHeads),
      headDim: (raw.head_dim as number | undefined) ?? dModel / nHeads,
      dMlp: num('intermediate_size'),
      vocabSize: num('vocab_size'),
      maxPositions: num('max_position_embeddings'),
      normEps: num('rms_norm_eps', 1e-6),
      tiedEmbeddings: raw.tie_word_embeddings === true,
      ropeTheta: num('rope_theta', (raw.rope_parameters as { rope_theta?: number } | undefined)?.rope_theta ?? 10000),
      ropeScaling: readRopeScaling(raw, file),
      qkNorm: modelType === 'qwen3',
      attentionBias: modelType === 'qwen2' ? true : raw.attention_bias === true,
      mlpBias: raw.mlp_bias === true,
      activation: String(raw.hidden_act ?? 'silu'),
      bosTokenId: firstId(raw.bos_token_id),
      eosTokenId: firstId(raw.eos_token_id),
      raw,
    };
  }
  throw new ModelFormatError(
    `unknown architecture '${architecture || '(none)'}' (model_type '${modelType}'); supported: ` +
      `Llama, Qwen2, Qwen3, SmolLM (llama family) and GPT-2`,
    file,
  );
}

function readRopeScaling(raw: Record<string, unknown>, file: string): RopeScaling | null {
  // transformers 5 writes `rope_parameters`; older files `rope_scaling`.
  const scaling = (raw.rope_scaling ?? raw.rope_parameters) as Record<string, unknown> | null | undefined;
  if (!scaling) return null;
  const ropeType = String(scaling.rope_type ?? scaling.type ?? 'default');
  if (ropeType === 'default') return null;
  if (ropeType !== 'linear' && ropeType !== 'llama3') {
    throw new ModelFormatError(
      `rope_scaling type '${ropeType}' is not supported (use default, linear or llama3)`,
      file,
    );
  }
  return {
    ropeType,
    factor: Number(scaling.factor ?? 1),
    lowFreqFactor: Number(scaling.low_freq_factor ?? 1),
    highFreqFactor: Number(scaling.high_freq_factor ?? 4),
    originalMaxPositionEmbeddings: Number(scaling.original_max_position_embeddings ?? 8192),
  };
}
