/**
 * The replacement model: a Hugging Face checkpoint as per-block ONNX Runtime sessions plus its
 * transcoders, and the forward pass that runs them with optional freezing (attention patterns,
 * norm denominators) and a hook on every MLP output — the one forward used by attribution setup,
 * interventions, generation and the edge checks.
 */
import { Lazy } from './lazy.js';
import { access, readdir } from 'node:fs/promises';
import path from 'node:path';
import { ModelFormatError } from '../errors.js';
import { resolveModelArgument } from '../io/hf-cache.js';
import { readModelConfig, type ModelConfig } from '../io/model-config.js';
import { Checkpoint } from '../io/safetensors.js';
import { PromptTokenizer } from '../io/tokenizer.js';
import type { BuiltGraph } from '../onnx/graph-builder.js';
import { GraphSession, type ExecutionProvider, type Tensor } from '../onnx/session.js';
import {
  buildEncoderGraph,
  loadTranscoderSet,
  readTranscoderConfig,
  transcoderFeatureCount,
  applyTopK,
  type TranscoderSet,
} from '../transcoder/transcoder-set.js';
import {
  checkNoExtraBlocks,
  releaseForwardOnlyWeights,
  type ArchitectureWeights,
  type BlockLoaded,
} from './architecture.js';
import { loadGemmaWeights } from './gemma.js';
import { loadGpt2Weights } from './gpt2.js';
import { loadLlamaWeights } from './llama.js';
import { buildAttentionGraph, buildFinalGraph, buildMlpGraph, type TranscoderInputSite } from './transformer-graphs.js';

/** Architecture files by family: adding one (Gemma-2) is one entry and one file. */
const ARCHITECTURES: Record<
  ModelConfig['family'],
  (config: ModelConfig, checkpoint: Checkpoint, onBlock?: BlockLoaded) => Promise<ArchitectureWeights>
> = {
  llama: loadLlamaWeights,
  gpt2: loadGpt2Weights,
  gemma: loadGemmaWeights,
};

/** Where the set's features read (config.yaml's feature_input_hook), checked against the architecture. */
export function transcoderInputSite(
  set: TranscoderSet,
  weights: ArchitectureWeights,
  dir: string,
): TranscoderInputSite {
  return inputSiteOf(
    set,
    weights.blocks.some((b) => b.postMlpNorm),
    dir,
  );
}

function inputSiteOf(set: TranscoderSet, postNorm: boolean, dir: string): TranscoderInputSite {
  // With a post-MLP norm, mlp.hook_out is before it and would need the norm in the read-out; GemmaScope writes after it.
  if (postNorm && set.outputHook !== undefined && set.outputHook !== 'hook_mlp_out') {
    throw new ModelFormatError(
      `feature_output_hook '${set.outputHook}' is before this model's post-feedforward norm; ` +
        `use hook_mlp_out (the MLP output after post_feedforward_layernorm)`,
      path.join(dir, 'config.yaml'),
    );
  }
  return set.inputHook === 'ln2.hook_normalized' ? 'normalized' : 'mlp_in';
}

/** A loaded model: what `describeModel` tells of its folder, plus everything a run needs. */
export interface ReplacementModel extends Omit<ModelDescription, 'hasDashboards'> {
  tokenizer: PromptTokenizer;
  config: ModelConfig;
  weights: ArchitectureWeights;
  transcoders: TranscoderSet;
  sessions: { attention: GraphSession[]; mlp: GraphSession[]; final: GraphSession; encoders: GraphSession[] };
  /** Built on first use by the phases that need them (attribution), released by `dispose`. */
  derived: {
    /** The per-block backward graphs of attribution (rows.ts). */
    backwardSessions: Lazy<Promise<GraphSession[]>>;
    /** mean_v W_U[:, v], for demeaned logit directions. [d] */
    unembeddingMean: Lazy<Float32Array>;
  };
  executionProvider: ExecutionProvider;
  dispose(): Promise<void>;
}

export interface LoadOptions {
  transcodersDir?: string;
  executionProvider?: ExecutionProvider;
}

/** A model folder, or a Hugging Face repo id (`org/name[@revision]`) resolved in the local cache. */
export async function loadReplacementModel(modelArg: string, options: LoadOptions = {}): Promise<ReplacementModel> {
  const modelDir = resolveModelArgument(modelArg);
  const executionProvider = options.executionProvider ?? 'cpu';
  const config = await readModelConfig(modelDir);
  const checkpoint = await Checkpoint.open(modelDir);
  const transcodersDir = options.transcodersDir
    ? resolveModelArgument(options.transcodersDir)
    : path.join(modelDir, 'transcoders');
  // Blocks past config.json's layer count are the config's fault: say so before the transcoders,
  // whose count is checked against the config, are blamed for it.
  checkNoExtraBlocks(checkpoint, config.nLayers, config.family === 'gpt2' ? 'n_layer' : 'num_hidden_layers');
  const transcoders = await loadTranscoderSet(transcodersDir, config.nLayers, config.dModel);
  const shape = {
    dModel: config.dModel,
    nHeads: config.nHeads,
    nKvHeads: config.nKvHeads,
    headDim: config.headDim,
    rotary: config.family !== 'gpt2', // GPT-2 alone has learned positions
  };
  const create = (name: string, graph: BuiltGraph | Uint8Array) => GraphSession.create(name, graph, executionProvider);
  const attention: GraphSession[] = [];
  const mlp: GraphSession[] = [];
  const encoders: GraphSession[] = [];
  async function buildForward() {
    // Each block's sessions are built as soon as it is read, and its forward-only weights released:
    // each weight is held once, and loading never holds more than one block twice.
    const weights = await ARCHITECTURES[config.family](config, checkpoint, async (layer, block) => {
      const site = inputSiteOf(transcoders, block.postMlpNorm !== undefined, transcodersDir);
      attention.push(await create(`attention_${layer}`, buildAttentionGraph(block, shape, layer)));
      mlp.push(await create(`mlp_${layer}`, buildMlpGraph(block, config.dModel, layer, site)));
      releaseForwardOnlyWeights(block);
    });
    transcoderInputSite(transcoders, weights, transcodersDir); // every block, not only each one alone
    const tokenizer = await PromptTokenizer.load(modelDir, config.vocabSize, config.bosTokenId);
    for (let layer = 0; layer < config.nLayers; layer++) {
      encoders.push(await create(`encoder_${layer}`, await buildEncoderGraph(transcoders, layer)));
    }
    const unembed = await buildFinalGraph(
      weights.lnFinal,
      weights.unembedRows,
      config.dModel,
      weights.finalSoftcap ?? null,
    );
    const final = await create('unembed', unembed);
    return { weights, tokenizer, final };
  }
  let loaded: Awaited<ReturnType<typeof buildForward>>;
  try {
    loaded = await buildForward();
  } catch (error) {
    // A checkpoint refused half-way must not leave the sessions of the blocks read before it.
    for (const session of [...attention, ...mlp, ...encoders]) await session.release();
    checkpoint.close();
    transcoders.close?.();
    throw error;
  }
  const { weights, tokenizer, final } = loaded;
  const sessions = { attention, mlp, final, encoders };
  const derived = { backwardSessions: new Lazy<Promise<GraphSession[]>>(), unembeddingMean: new Lazy<Float32Array>() };
  return {
    name: modelName(modelArg, modelDir),
    architecture: config.architecture,
    nLayers: config.nLayers,
    dModel: config.dModel,
    vocabSize: config.vocabSize,
    transcoderSet: transcoders.name,
    nFeatures: transcoders.nFeatures,
    tokenizer,
    config,
    weights,
    transcoders,
    sessions,
    derived,
    executionProvider,
    async dispose() {
      const backward = (await derived.backwardSessions.peek()?.catch(() => null)) ?? [];
      for (const s of [...attention, ...mlp, ...encoders, final, ...backward]) await s.release();
      checkpoint.close();
      transcoders.close?.();
    },
  };
}

export interface ModelDescription {
  name: string;
  architecture: string;
  nLayers: number;
  dModel: number;
  vocabSize: number;
  /** Name of the transcoder set (its `scan`). */
  transcoderSet: string;
  /** Features per layer. */
  nFeatures: number;
  hasDashboards: boolean;
}

/** What a model folder holds, from its config files only (no weights read). */
export async function describeModel(modelArg: string, transcodersArg?: string): Promise<ModelDescription> {
  const modelDir = resolveModelArgument(modelArg);
  const transcodersDir = transcodersArg ? resolveModelArgument(transcodersArg) : path.join(modelDir, 'transcoders');
  const config = await readModelConfig(modelDir);
  const tc = await readTranscoderConfig(transcodersDir);
  const nFeatures = await transcoderFeatureCount(transcodersDir, tc);
  let hasDashboards = false;
  for (const candidate of [
    path.join(modelDir, 'dashboards'),
    path.join(transcodersDir, 'dashboards'),
    path.join(modelDir, 'features'),
  ]) {
    try {
      await access(candidate);
      hasDashboards = (await readdir(candidate)).length > 0;
      if (hasDashboards) break;
    } catch {
      // no dashboards in this place
    }
  }
  return {
    name: modelName(modelArg, modelDir),
    architecture: config.architecture,
    nLayers: config.nLayers,
    dModel: config.dModel,
    vocabSize: config.vocabSize,
    transcoderSet: tc.name,
    nFeatures,
    hasDashboards,
  };
}

/** The folder's name, or the repo id of a model found in the Hugging Face cache. */
function modelName(modelArg: string, modelDir: string): string {
  return modelDir === modelArg ? path.basename(path.resolve(modelDir)) : modelArg.split('@')[0];
}

/** Attention patterns and norm denominators of a clean run: what the replacement model freezes. */
export interface FrozenState {
  nPos: number;
  attnPattern: Float32Array[]; // per layer [1, H, T, T]
  ln1Scale: Float32Array[]; // per layer [1, T, 1]
  ln2Scale: Float32Array[]; // per layer [1, T, 1]
  lnfScale: Float32Array; // [1, T, 1]
  /** Gemma's post-attention norm denominators, per layer [1, T, 1] (empty without post-norms). */
  attnPostScale?: Float32Array[];
}

export interface ForwardOptions {
  /** Batch of residual streams entering block 0, [N, T, d]; default: the prompt's embeddings (N = 1). */
  residPre?: { data: Float32Array; n: number };
  /** Freeze attention patterns and/or norm denominators at these values. */
  frozen?: { state: FrozenState; patterns: boolean; scales: boolean };
  /** Replaces the MLP output of layer ℓ, given mlp_in and mlp_out ([N, T, d] each). */
  mlpOut?: (layer: number, mlpIn: Tensor, mlpOut: Tensor) => Promise<Float32Array> | Float32Array;
  /** Run blocks 0..lastLayer only (feature dashboards need no logits); unembedIn and logits are then empty. */
  lastLayer?: number;
}

/** Every cached site of one forward pass (names as in architecture.ts). */
export interface ForwardResult {
  n: number;
  nPos: number;
  frozen: FrozenState; // this run's patterns and scales (batch element 0)
  mlpIn: Float32Array[]; // per layer [N, T, d]
  mlpOut: Float32Array[]; // per layer [N, T, d], after the hook
  unembedIn: Float32Array; // [N, T, d]
  logits: Float32Array; // [N, T, V]
}

/** mean_v W_U[:, v], for demeaned logit directions (built once per model). [d] */
export function unembeddingMean(model: ReplacementModel): Float32Array {
  return model.derived.unembeddingMean.get(() => {
    const { rows: V, cols: d } = model.weights.unembedRows;
    const sums = new Float64Array(d);
    const chunk = 4096; // columns per read (a 256k vocabulary in 63 reads)
    for (let first = 0; first < V; first += chunk) {
      const columns = model.weights.unembedRows.range(first, Math.min(V, first + chunk));
      for (let k = 0; k < columns.length; k += d) for (let i = 0; i < d; i++) sums[i] += columns[k + i];
    }
    return Float32Array.from(sums, (sum) => sum / V);
  });
}

/** r_0 = W_E[tok] (+ W_pos[pos]). [T, d] */
export function embed(model: ReplacementModel, tokenIds: ArrayLike<number>): Float32Array {
  const d = model.dModel;
  const out = new Float32Array(tokenIds.length * d);
  for (let pos = 0; pos < tokenIds.length; pos++) {
    out.set(model.weights.tokenEmbedding.row(tokenIds[pos]), pos * d);
    const positions = model.weights.positionEmbedding;
    if (positions) for (let i = 0; i < d; i++) out[pos * d + i] += positions[pos * d + i];
  }
  return out;
}

/** Token embedding rows W_E[tok_p] (the token nodes' vectors, positions excluded). [T, d] */
export function tokenVectors(model: ReplacementModel, tokenIds: ArrayLike<number>): Float32Array {
  const d = model.dModel;
  const out = new Float32Array(tokenIds.length * d);
  for (let pos = 0; pos < tokenIds.length; pos++) out.set(model.weights.tokenEmbedding.row(tokenIds[pos]), pos * d);
  return out;
}

/** Additive mask [T, T]: keys after the query, and with a sliding window keys at or past `window` back, get -1e9. */
export function causalMask(nPos: number, window: number | null = null): Float32Array {
  const mask = new Float32Array(nPos * nPos);
  for (let q = 0; q < nPos; q++) {
    for (let k = 0; k < nPos; k++) if (k > q || (window !== null && q - k >= window)) mask[q * nPos + k] = -1e9;
  }
  return mask;
}

export async function runForward(
  model: ReplacementModel,
  tokenIds: ArrayLike<number>,
  options: ForwardOptions = {},
): Promise<ForwardResult> {
  const T = tokenIds.length;
  const { dModel: d, nLayers: L } = model;
  const H = model.config.nHeads;
  const n = options.residPre?.n ?? 1;
  let resid = options.residPre?.data ?? embed(model, tokenIds);
  const frozen = options.frozen;
  const flag = (on: boolean | undefined) => ({ data: new Float32Array([on ? 1 : 0]), dims: [1] });
  const zeros = (dims: number[]) => ({ data: new Float32Array(dims.reduce((a, b) => a * b, 1)), dims });
  const masks = new Map<number | null, { data: Float32Array; dims: number[] }>();
  const maskOf = (window: number | null) => {
    if (!masks.has(window)) masks.set(window, { data: causalMask(T, window), dims: [T, T] });
    return masks.get(window)!;
  };
  const rotary = model.weights.rotaryTables?.(T);
  const localRotary = model.weights.localRotaryTables?.(T);
  const state: FrozenState = {
    nPos: T,
    attnPattern: [],
    ln1Scale: [],
    ln2Scale: [],
    lnfScale: new Float32Array(T),
    attnPostScale: [],
  };
  const mlpIns: Float32Array[] = [];
  const mlpOuts: Float32Array[] = [];
  const first = (data: Float32Array, size: number) => data.slice(0, size); // batch element 0
  const blocks = Math.min(L, (options.lastLayer ?? L - 1) + 1);
  for (let layer = 0; layer < blocks; layer++) {
    const block = model.weights.blocks[layer];
    const tables = block.attention?.localRotary && localRotary ? localRotary : rotary;
    const attn = await model.sessions.attention[layer].run({
      resid_pre: { data: resid, dims: [n, T, d] },
      causal_mask: maskOf(model.config.slidingWindows?.[layer] ?? null),
      frozen_pattern: frozen ? { data: frozen.state.attnPattern[layer], dims: [1, H, T, T] } : zeros([1, H, T, T]),
      frozen_ln1_scale: frozen ? { data: frozen.state.ln1Scale[layer], dims: [1, T, 1] } : zeros([1, T, 1]),
      freeze_pattern: flag(frozen?.patterns),
      freeze_scale: flag(frozen?.scales),
      ...(tables
        ? {
            rotary_cos: { data: tables.cos, dims: [T, model.config.headDim] },
            rotary_sin: { data: tables.sin, dims: [T, model.config.headDim] },
          }
        : {}),
      ...(block.postAttnNorm
        ? {
            frozen_attn_post_scale: frozen?.state.attnPostScale?.[layer]
              ? { data: frozen.state.attnPostScale[layer], dims: [1, T, 1] }
              : zeros([1, T, 1]),
          }
        : {}),
    });
    state.attnPattern.push(first(attn.attn_pattern.data, H * T * T));
    state.ln1Scale.push(first(attn.ln1_scale.data, T));
    if (attn.attn_post_scale) state.attnPostScale!.push(first(attn.attn_post_scale.data, T));
    const residMid = attn.resid_mid.data;
    const mlp = await model.sessions.mlp[layer].run({
      resid_mid: { data: residMid, dims: [n, T, d] },
      frozen_ln2_scale: frozen ? { data: frozen.state.ln2Scale[layer], dims: [1, T, 1] } : zeros([1, T, 1]),
      freeze_scale: flag(frozen?.scales),
    });
    state.ln2Scale.push(first(mlp.ln2_scale.data, T));
    const y = options.mlpOut ? await options.mlpOut(layer, mlp.mlp_in, mlp.mlp_out) : mlp.mlp_out.data;
    mlpIns.push(mlp.mlp_in.data);
    mlpOuts.push(y);
    const next = new Float32Array(residMid.length);
    for (let i = 0; i < next.length; i++) next[i] = residMid[i] + y[i];
    resid = next;
  }
  if (options.lastLayer !== undefined) {
    const empty = new Float32Array(0);
    return { n, nPos: T, frozen: state, mlpIn: mlpIns, mlpOut: mlpOuts, unembedIn: empty, logits: empty };
  }
  const fin = await model.sessions.final.run({
    resid_final: { data: resid, dims: [n, T, d] },
    frozen_lnf_scale: frozen ? { data: frozen.state.lnfScale, dims: [1, T, 1] } : zeros([1, T, 1]),
    freeze_scale: flag(frozen?.scales),
  });
  state.lnfScale = first(fin.lnf_scale.data, T);
  return {
    n,
    nPos: T,
    frozen: state,
    mlpIn: mlpIns,
    mlpOut: mlpOuts,
    unembedIn: fin.unembed_in.data,
    logits: fin.logits.data,
  };
}

/** Transcoder activations and pre-activations of layer ℓ for mlp_in [N, T, d]; also the skip term. */
export async function encodeLayer(
  model: ReplacementModel,
  layer: number,
  mlpIn: Float32Array,
  n: number,
  nPos: number,
) {
  const out = await model.sessions.encoders[layer].run({ mlp_in: { data: mlpIn, dims: [n, nPos, model.dModel] } });
  const acts = out.feature_acts.data;
  if (model.transcoders.activation === 'topk') {
    if (!model.transcoders.k) throw new ModelFormatError('a TopK transcoder needs k in config.yaml');
    applyTopK(acts, model.nFeatures, model.transcoders.k);
  }
  return { pre: out.feature_pre.data, acts, skip: out.skip?.data ?? null };
}
