/**
 * Hugging Face `config.json`, read into the few numbers the architectures need. Unknown
 * architectures and missing fields are ModelFormatErrors that say which field to add.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ModelFormatError } from '../errors.js';

export type ArchitectureFamily = 'llama' | 'gpt2' | 'gemma';

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
  /** Per layer: keys within this many positions of the query (itself included) are seen; null = global. */
  slidingWindows?: (number | null)[];
  /** Gemma: attention scores scaled by query_pre_attn_scalar^-½ instead of head_dim^-½. */
  attentionScale?: number;
  /** Gemma-2: cap · tanh(score / cap) on attention scores (before the mask), and on the final logits. */
  attnSoftcap?: number | null;
  finalSoftcap?: number | null;
  /** Gemma-3: RoPE base of the sliding-window layers (the global layers use ropeTheta and ropeScaling). */
  ropeLocalTheta?: number;
}

const LLAMA_TYPES = new Set(['llama', 'qwen2', 'qwen3', 'mistral', 'smollm', 'smollm3']);

export async function readModelConfig(modelDir: string): Promise<ModelConfig> {
  const file = path.join(modelDir, 'config.json');
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ModelFormatError(`no config.json; point --model at a Hugging Face model folder`, file);
    }
    throw new ModelFormatError(`config.json is not valid JSON`, file);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ModelFormatError(`config.json must be a JSON object of model settings`, file);
  }
  const raw = parsed as Record<string, unknown>;
  const field = new ConfigFields(raw, file);
  const modelType = field.string('model_type', '');
  const architectures = field.stringList('architectures');
  const architecture = architectures[0] ?? modelType;

  if (modelType === 'gpt2') {
    const dModel = field.count('n_embd');
    const nHeads = field.count('n_head');
    field.divides('n_head', nHeads, 'n_embd', dModel);
    return {
      architecture,
      family: 'gpt2',
      modelType,
      nLayers: field.count('n_layer'),
      dModel,
      nHeads,
      nKvHeads: nHeads,
      headDim: dModel / nHeads,
      dMlp: field.count('n_inner', 4 * dModel),
      vocabSize: field.count('vocab_size'),
      maxPositions: field.count('n_positions'),
      normEps: field.positive('layer_norm_epsilon', 1e-5),
      tiedEmbeddings: field.boolean('tie_word_embeddings', true),
      ropeTheta: 0,
      ropeScaling: null,
      qkNorm: false,
      attentionBias: true,
      mlpBias: true,
      activation: field.string('activation_function', 'gelu_new'),
      bosTokenId: field.tokenId('bos_token_id'),
      eosTokenId: field.tokenId('eos_token_id'),
      raw,
    };
  }
  if (LLAMA_TYPES.has(modelType)) {
    const dModel = field.count('hidden_size');
    const nHeads = field.count('num_attention_heads');
    const nKvHeads = field.count('num_key_value_heads', nHeads);
    field.divides('num_key_value_heads', nKvHeads, 'num_attention_heads', nHeads);
    if (raw.head_dim === undefined || raw.head_dim === null)
      field.divides('num_attention_heads', nHeads, 'hidden_size', dModel);
    const headDim = field.count('head_dim', dModel / nHeads);
    // Rotary embeddings rotate pairs of dimensions.
    if (headDim % 2 !== 0) {
      throw new ModelFormatError(`head_dim is ${headDim}; rotary position embeddings need an even head_dim`, file);
    }
    const ropeParameters = raw.rope_parameters;
    const nestedTheta =
      typeof ropeParameters === 'object' && ropeParameters !== null
        ? (ropeParameters as { rope_theta?: unknown }).rope_theta
        : undefined;
    return {
      architecture,
      family: 'llama',
      modelType,
      nLayers: field.count('num_hidden_layers'),
      dModel,
      nHeads,
      nKvHeads,
      headDim,
      dMlp: field.count('intermediate_size'),
      vocabSize: field.count('vocab_size'),
      maxPositions: field.count('max_position_embeddings'),
      normEps: field.positive('rms_norm_eps', 1e-6),
      tiedEmbeddings: field.boolean('tie_word_embeddings', false),
      ropeTheta: field.positive('rope_theta', typeof nestedTheta === 'number' ? nestedTheta : 10000),
      ropeScaling: readRopeScaling(raw, file),
      qkNorm: modelType === 'qwen3',
      attentionBias: modelType === 'qwen2' ? true : field.boolean('attention_bias', false),
      mlpBias: field.boolean('mlp_bias', false),
      activation: field.string('hidden_act', 'silu'),
      bosTokenId: field.tokenId('bos_token_id'),
      eosTokenId: field.tokenId('eos_token_id'),
      raw,
      slidingWindows: llamaSlidingWindows(raw, field, modelType),
    };
  }
  if (GEMMA_TYPES.has(modelType)) return readGemmaConfig(raw, field, file, architecture, modelType);
  throw new ModelFormatError(
    `unknown architecture '${architecture || '(none)'}' (model_type '${modelType}'); supported: ` +
      `Llama, Qwen2, Qwen3, SmolLM and Mistral (llama family), Gemma-2, Gemma-3 text and GPT-2`,
    file,
  );
}

const GEMMA_TYPES = new Set(['gemma2', 'gemma3_text']);

/**
 * Gemma-2 (`Gemma2ForCausalLM`) and Gemma-3 text (`Gemma3ForCausalLM`): the llama-family numbers
 * plus the attention scale, soft-caps, sliding-window layers and Gemma-3's two RoPE bases, in both
 * the transformers-4 (`rope_theta`, `rope_local_base_freq`) and -5 (`rope_parameters` per layer type) layouts.
 */
function readGemmaConfig(
  raw: Record<string, unknown>,
  field: ConfigFields,
  file: string,
  architecture: string,
  modelType: string,
): ModelConfig {
  const gemma3 = modelType === 'gemma3_text';
  const dModel = field.count('hidden_size');
  const nHeads = field.count('num_attention_heads');
  const nKvHeads = field.count('num_key_value_heads', nHeads);
  field.divides('num_key_value_heads', nKvHeads, 'num_attention_heads', nHeads);
  const headDim = field.count('head_dim', 256);
  if (headDim % 2 !== 0) {
    throw new ModelFormatError(`head_dim is ${headDim}; rotary position embeddings need an even head_dim`, file);
  }
  const nLayers = field.count('num_hidden_layers');
  const activation = field.string('hidden_activation', field.string('hidden_act', 'gelu_pytorch_tanh'));
  if (!['gelu_pytorch_tanh', 'gelu_new', 'gelu_fast'].includes(activation)) {
    throw new ModelFormatError(
      `config.json field 'hidden_activation' is '${activation}'; Gemma's GeGLU needs gelu_pytorch_tanh`,
      file,
    );
  }
  // transformers 5 nests RoPE settings per layer type; transformers 4 has flat fields.
  const perType = raw.rope_parameters as Record<string, Record<string, unknown> | undefined> | undefined;
  const nested = (type: string, key: string): unknown =>
    typeof perType === 'object' && perType !== null && typeof perType[type] === 'object' && perType[type] !== null
      ? perType[type]![key]
      : undefined;
  const fullTheta = nested('full_attention', 'rope_theta') ?? nested('full_attention', 'base');
  const localTheta = nested('sliding_attention', 'rope_theta');
  const window = field.count('sliding_window', 4096);
  const types = gemmaLayerTypes(raw, field, nLayers, gemma3);
  const softcap = (key: string): number | null =>
    raw[key] === undefined || raw[key] === null ? null : field.positive(key, 1);
  return {
    architecture,
    family: 'gemma',
    modelType,
    nLayers,
    dModel,
    nHeads,
    nKvHeads,
    headDim,
    dMlp: field.count('intermediate_size'),
    vocabSize: field.count('vocab_size'),
    maxPositions: field.count('max_position_embeddings'),
    normEps: field.positive('rms_norm_eps', 1e-6),
    tiedEmbeddings: field.boolean('tie_word_embeddings', true),
    ropeTheta: field.positive('rope_theta', typeof fullTheta === 'number' ? fullTheta : gemma3 ? 1e6 : 10000),
    ropeScaling: gemma3 ? readGemmaRopeScaling(raw, file) : null,
    qkNorm: gemma3,
    attentionBias: field.boolean('attention_bias', false),
    mlpBias: false,
    activation,
    bosTokenId: field.tokenId('bos_token_id'),
    eosTokenId: field.tokenId('eos_token_id'),
    raw,
    slidingWindows: types.map((t) => (t === 'sliding_attention' ? window : null)),
    attentionScale: 1 / Math.sqrt(field.positive('query_pre_attn_scalar', headDim)),
    attnSoftcap: softcap('attn_logit_softcapping'),
    finalSoftcap: softcap('final_logit_softcapping'),
    ropeLocalTheta: gemma3
      ? field.positive('rope_local_base_freq', typeof localTheta === 'number' ? localTheta : 10000)
      : undefined,
  };
}

/** `layer_types` when given; else Gemma-2 alternates (even layers sliding), Gemma-3 has every 6th layer global. */
function gemmaLayerTypes(
  raw: Record<string, unknown>,
  field: ConfigFields,
  nLayers: number,
  gemma3: boolean,
): string[] {
  const listed = raw.layer_types === undefined || raw.layer_types === null ? null : field.stringList('layer_types');
  if (listed) return checkLayerTypes(listed, nLayers, field);
  const pattern = gemma3 ? field.count('sliding_window_pattern', 6) : 2;
  return Array.from({ length: nLayers }, (_, i) => ((i + 1) % pattern !== 0 ? 'sliding_attention' : 'full_attention'));
}

function checkLayerTypes(types: string[], nLayers: number, field: ConfigFields): string[] {
  const bad = types.find((t) => t !== 'sliding_attention' && t !== 'full_attention');
  if (types.length !== nLayers || bad !== undefined) {
    throw field.error(
      `config.json field 'layer_types' must list sliding_attention or full_attention for each of the ${nLayers} layers`,
    );
  }
  return types;
}

/** Mistral: every layer slides when `sliding_window` is set; Qwen2: layers from max_window_layers on, when use_sliding_window. */
function llamaSlidingWindows(raw: Record<string, unknown>, field: ConfigFields, modelType: string): (number | null)[] {
  const nLayers = field.count('num_hidden_layers');
  const window = raw.sliding_window === undefined || raw.sliding_window === null ? null : field.count('sliding_window');
  if (window === null) return Array.from({ length: nLayers }, () => null);
  if (raw.layer_types !== undefined && raw.layer_types !== null) {
    return checkLayerTypes(field.stringList('layer_types'), nLayers, field).map((t) =>
      t === 'sliding_attention' ? window : null,
    );
  }
  if (modelType === 'mistral') return Array.from({ length: nLayers }, () => window);
  if (modelType === 'qwen2') {
    const on = field.boolean('use_sliding_window', false);
    const from = raw.max_window_layers === undefined ? nLayers : field.count('max_window_layers', nLayers);
    return Array.from({ length: nLayers }, (_, i) => (on && i >= from ? window : null));
  }
  return Array.from({ length: nLayers }, () => null);
}

/** Gemma-3's global layers: linear rope_scaling (4B and larger), from either config layout. */
function readGemmaRopeScaling(raw: Record<string, unknown>, file: string): RopeScaling | null {
  const perType = raw.rope_parameters as Record<string, unknown> | undefined;
  const full =
    typeof perType === 'object' && perType !== null && typeof perType.full_attention === 'object'
      ? perType.full_attention
      : null;
  if (full) return readRopeScaling({ rope_scaling: full }, file);
  return readRopeScaling({ rope_scaling: raw.rope_scaling }, file);
}

/** Typed reads of config.json fields; a wrong or missing field is a ModelFormatError naming it. */
class ConfigFields {
  constructor(
    private readonly raw: Record<string, unknown>,
    private readonly file: string,
    /** Where a nested object sits, e.g. `rope_scaling.`, for the messages. */
    private readonly prefix = '',
  ) {}

  private value(key: string, fallback: unknown): unknown {
    const value = this.raw[key];
    return value === undefined || value === null ? fallback : value;
  }

  private wrong(key: string, must: string, value: unknown): ModelFormatError {
    const got = value === undefined ? 'it is missing' : `got ${JSON.stringify(value)}`;
    return new ModelFormatError(`config.json field '${this.prefix}${key}' must be ${must}; ${got}`, this.file);
  }

  /** A size or count: a positive integer (layers, widths, heads, vocabulary, context). */
  count(key: string, fallback?: number): number {
    const value = this.value(key, fallback);
    if (!Number.isSafeInteger(value) || (value as number) < 1) throw this.wrong(key, 'a positive integer', value);
    return value as number;
  }

  /** A positive finite number (epsilons, RoPE base). */
  positive(key: string, fallback: number): number {
    const value = this.value(key, fallback);
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      throw this.wrong(key, 'a positive number', value);
    }
    return value;
  }

  boolean(key: string, fallback: boolean): boolean {
    const value = this.value(key, fallback);
    if (typeof value !== 'boolean') throw this.wrong(key, 'true or false', value);
    return value;
  }

  string(key: string, fallback: string): string {
    const value = this.value(key, fallback);
    if (typeof value !== 'string') throw this.wrong(key, 'a string', value);
    return value;
  }

  stringList(key: string): string[] {
    const value = this.value(key, []);
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
      throw this.wrong(key, 'a list of strings', value);
    }
    return value;
  }

  /** A token id, or a list of them (the first is used), or null. */
  tokenId(key: string): number | null {
    const value = this.value(key, null);
    const first = Array.isArray(value) ? (value[0] ?? null) : value;
    if (first === null) return null;
    if (!Number.isSafeInteger(first) || first < 0) throw this.wrong(key, 'a token id (a non-negative integer)', value);
    return first;
  }

  /** A ModelFormatError about this file. */
  error(message: string): ModelFormatError {
    return new ModelFormatError(message, this.file);
  }

  /** `part` must divide `whole` (heads over width, KV groups over heads). */
  divides(partKey: string, part: number, wholeKey: string, whole: number): void {
    if (whole % part !== 0) {
      throw new ModelFormatError(
        `config.json field '${this.prefix}${wholeKey}' (${whole}) must be a multiple of '${this.prefix}${partKey}' (${part})`,
        this.file,
      );
    }
  }
}

function readRopeScaling(raw: Record<string, unknown>, file: string): RopeScaling | null {
  // transformers 5 writes `rope_parameters`; older files `rope_scaling`.
  const key = raw.rope_scaling !== undefined && raw.rope_scaling !== null ? 'rope_scaling' : 'rope_parameters';
  const scaling = raw[key];
  if (scaling === undefined || scaling === null) return null;
  if (typeof scaling !== 'object' || Array.isArray(scaling)) {
    throw new ModelFormatError(`config.json field '${key}' must be an object; got ${JSON.stringify(scaling)}`, file);
  }
  const field = new ConfigFields(scaling as Record<string, unknown>, file, `${key}.`);
  const typeKey = (scaling as Record<string, unknown>).rope_type !== undefined ? 'rope_type' : 'type';
  const ropeType = field.string(typeKey, 'default');
  if (ropeType === 'default') return null;
  if (ropeType !== 'linear' && ropeType !== 'llama3') {
    throw new ModelFormatError(
      `rope_scaling type '${ropeType}' is not supported (use default, linear or llama3)`,
      file,
    );
  }
  const lowFreqFactor = field.positive('low_freq_factor', 1);
  const highFreqFactor = field.positive('high_freq_factor', 4);
  // llama3 blends between the two wavelengths; equal factors would divide by zero.
  if (ropeType === 'llama3' && highFreqFactor <= lowFreqFactor) {
    throw new ModelFormatError(
      `config.json field '${key}.high_freq_factor' (${highFreqFactor}) must be above low_freq_factor (${lowFreqFactor})`,
      file,
    );
  }
  return {
    ropeType,
    factor: field.positive('factor', 1),
    lowFreqFactor,
    highFreqFactor,
    originalMaxPositionEmbeddings: field.positive('original_max_position_embeddings', 8192),
  };
}
