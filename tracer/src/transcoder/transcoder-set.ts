/**
 * Transcoders in circuit-tracer's on-disk layout (REFERENCE.md, "Transcoders"):
 *   config.yaml + layer_{i}.safetensors          per-layer transcoders (PLT)
 *   config.yaml + W_enc_{i} / W_dec_{i}.safetensors   a cross-layer transcoder (CLT)
 * Encode: a = σ(x · W_encᵀ + b_enc) with σ = ReLU, JumpReLU (x·[x > θ]) or TopK.
 * Decode into output layer ℓ: Σ_{features of layers i ≤ ℓ} a · W_dec[i][f, ℓ − i] + b_dec[ℓ] + skip_ℓ(x_ℓ).
 */
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import { ModelFormatError } from '../errors.js';
import { GraphBuilder } from '../onnx/graph-builder.js';
import { SafetensorsFile, checkShape, type RowSource } from '../io/safetensors.js';
import { transpose } from '../model/architecture.js';
import { resolveHfUri } from '../io/hf-cache.js';
import { NpzFile } from '../io/npz.js';
import { loadGemmaScope2Layer, loadGemmaScopeLayer } from './gemma-scope.js';

export type TranscoderKind = 'transcoder_set' | 'cross_layer_transcoder';
export type ActivationFunction = 'relu' | 'jump_relu' | 'topk';

/**
 * The transcoder reading from the MLP input of one layer. Encoder and decoder matrices are not held
 * in memory: the encoder graph reads W_enc once into ONNX Runtime (16-bit kept), and attribution
 * reads the few rows it needs (active features) from the file on demand.
 */
export interface TranscoderLayer {
  /** Encoder rows. [F, d] */
  wEnc: RowSource;
  bEnc: Float32Array; // [F]
  /** JumpReLU thresholds θ. [F] */
  threshold: Float32Array | null;
  /** Decoder vectors into output layers layer..layer+nOutputLayers-1; a row is [nOutputLayers · d]. [F, nOutputLayers, d] */
  wDec: RowSource;
  nOutputLayers: number;
  /** Decoder bias of the output at this layer. [d] */
  bDec: Float32Array;
  /** Skip map S with skip(x) = x · S. [d, d] */
  skip: Float32Array | null;
}

export interface TranscoderSet {
  kind: TranscoderKind;
  /** The reference's `scan`: the transcoder set's name. */
  name: string;
  nLayers: number;
  dModel: number;
  /** Features per layer (d_transcoder). */
  nFeatures: number;
  activation: ActivationFunction;
  /** TopK's k. */
  k: number | null;
  layers: TranscoderLayer[];
  /** The config's feature_input_hook / feature_output_hook (where the features read and write). */
  inputHook?: string;
  outputHook?: string;
  /** Closes the files rows are read from. */
  close?: () => void;
}

const INPUT_SITES = new Set(['mlp.hook_in', 'hook_mlp_in', 'ln2.hook_normalized']);
const OUTPUT_SITES = new Set(['mlp.hook_out', 'hook_mlp_out']);

export interface TranscoderConfig {
  kind: TranscoderKind;
  name: string;
  activation: ActivationFunction | null;
  k: number | null;
  paths: string[] | null;
  inputHook: string;
  outputHook: string;
}

export async function readTranscoderConfig(dir: string): Promise<TranscoderConfig> {
  const file = path.join(dir, 'config.yaml');
  let parsed: unknown;
  try {
    parsed = YAML.parse(await readFile(file, 'utf8')) ?? {};
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ModelFormatError(
        `no transcoder config.yaml; pass --transcoders <dir> with circuit-tracer's layout`,
        file,
      );
    }
    throw new ModelFormatError(`config.yaml is not valid YAML: ${(error as Error).message.split('\n')[0]}`, file);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ModelFormatError(`config.yaml must be a mapping of settings (model_kind, transcoders, ...)`, file);
  }
  const raw = parsed as Record<string, unknown>;
  const wrong = (key: string, must: string) =>
    new ModelFormatError(`config.yaml field '${key}' must be ${must}; got ${JSON.stringify(raw[key])}`, file);
  const optionalString = (key: string): string | null => {
    const value = raw[key];
    if (value === undefined || value === null) return null;
    if (typeof value !== 'string') throw wrong(key, 'a string');
    return value;
  };
  const kind = raw.model_kind;
  if (kind !== 'transcoder_set' && kind !== 'cross_layer_transcoder') {
    throw new ModelFormatError(
      `model_kind must be transcoder_set or cross_layer_transcoder, got '${String(kind)}'`,
      file,
    );
  }
  const inputHook = optionalString('feature_input_hook') ?? 'mlp.hook_in';
  const outputHook = optionalString('feature_output_hook') ?? 'mlp.hook_out';
  if (!INPUT_SITES.has(inputHook) || !OUTPUT_SITES.has(outputHook)) {
    throw new ModelFormatError(
      `transcoders must read the MLP input and write the MLP output (feature_input_hook mlp.hook_in, ` +
        `feature_output_hook mlp.hook_out); got ${inputHook} / ${outputHook}`,
      file,
    );
  }
  let paths: string[] | null = null;
  if (raw.transcoders !== undefined && raw.transcoders !== null) {
    const listed = Array.isArray(raw.transcoders)
      ? raw.transcoders
      : typeof raw.transcoders === 'object'
        ? Object.values(raw.transcoders)
        : null;
    if (!listed || !listed.every((p) => typeof p === 'string' && p.length > 0)) {
      throw wrong('transcoders', 'a list of transcoder file paths');
    }
    paths = listed as string[];
  }
  const activationName = optionalString('activation');
  const activation = activationName ? (activationName.replace('jumprelu', 'jump_relu') as ActivationFunction) : null;
  if (activation && !['relu', 'jump_relu', 'topk'].includes(activation)) {
    throw new ModelFormatError(`activation '${activation}' is not supported (relu, jump_relu or topk)`, file);
  }
  let k: number | null = null;
  if (raw.k !== undefined && raw.k !== null) {
    if (!Number.isSafeInteger(raw.k) || (raw.k as number) < 1) throw wrong('k', 'a positive integer');
    k = raw.k as number;
  }
  if (activation === 'topk' && k === null) throw wrong('k', 'a positive integer with activation topk');
  const name = optionalString('scan') ?? optionalString('model_name') ?? path.basename(path.resolve(dir));
  return { kind, name, activation, k, paths, inputHook, outputHook };
}

/** Loads and checks every transcoder file against the model's width and depth. */
export async function loadTranscoderSet(dir: string, nLayers: number, dModel: number): Promise<TranscoderSet> {
  const config = await readTranscoderConfig(dir);
  const opened: SafetensorsFile[] = [];
  const set = await (config.kind === 'transcoder_set'
    ? loadPerLayer(dir, config, nLayers, dModel, opened)
    : loadCrossLayer(dir, config, nLayers, dModel, opened));
  const close = () => opened.forEach((file) => file.close());
  return { ...set, inputHook: config.inputHook, outputHook: config.outputHook, close };
}

async function loadPerLayer(
  dir: string,
  config: TranscoderConfig,
  nLayers: number,
  d: number,
  opened: SafetensorsFile[],
): Promise<TranscoderSet> {
  const files = Array.from({ length: nLayers }, (_, i) => transcoderFile(dir, config.paths?.[i], i));
  if (config.paths && config.paths.length !== nLayers) {
    throw new ModelFormatError(
      `config.yaml lists ${config.paths.length} transcoders but the model has ${nLayers} layers`,
      path.join(dir, 'config.yaml'),
    );
  }
  const layers: TranscoderLayer[] = [];
  let nFeatures = 0;
  let activation: ActivationFunction = 'relu';
  for (const [layer, file] of files.entries()) {
    if (file.endsWith('.npz')) {
      const gemmaScope = await loadGemmaScopeLayer(file, d, layer === 0 ? null : nFeatures);
      nFeatures = gemmaScope.nFeatures;
      layers.push(gemmaScope.layer);
      activation = 'jump_relu';
      continue;
    }
    const st = await SafetensorsFile.open(file);
    opened.push(st);
    if (st.has('w_enc') && !st.has('W_enc')) {
      const gemmaScope2 = await loadGemmaScope2Layer(st, d, layer === 0 ? null : nFeatures);
      nFeatures = gemmaScope2.nFeatures;
      layers.push(gemmaScope2.layer);
      activation = 'jump_relu';
      continue;
    }
    // Shapes are checked from the header before any data is read.
    const want = async (name: string, shape: number[]) => {
      checkShape(name, st.shape(name), shape, file);
      return (await st.read(name)).data;
    };
    if (layer === 0) nFeatures = featureCount(st, 'b_enc', file);
    const F = nFeatures;
    const bEnc = await want('b_enc', [F]);
    const threshold = st.has('activation_function.threshold') ? await want('activation_function.threshold', [F]) : null;
    if (threshold) activation = 'jump_relu';
    const wSkip = st.has('W_skip') ? await want('W_skip', [d, d]) : null;
    checkShape('W_enc', st.shape('W_enc'), [F, d], file);
    checkShape('W_dec', st.shape('W_dec'), [F, d], file);
    layers.push({
      wEnc: st.rows('W_enc'),
      bEnc,
      threshold,
      wDec: st.rows('W_dec'),
      nOutputLayers: 1,
      bDec: await want('b_dec', [d]),
      skip: wSkip ? transpose(wSkip, d, d) : null, // applied as x · W_skipᵀ
    });
  }
  if (config.activation === 'topk') activation = 'topk';
  return { kind: 'transcoder_set', name: config.name, nLayers, dModel: d, nFeatures, activation, k: config.k, layers };
}

/**
 * The local file of layer i: a path listed in config.yaml (relative to it), an `hf://` URI from the
 * local Hugging Face cache, or `layer_{i}.safetensors` beside config.yaml when none is listed.
 */
export function transcoderFile(dir: string, listed: string | undefined, layer: number): string {
  if (!listed) return path.join(dir, `layer_${layer}.safetensors`);
  if (listed.startsWith('hf://')) return resolveHfUri(listed);
  return path.resolve(dir, listed);
}

/** d_transcoder of a set from its first layer's file, for describing a model without loading it. */
export async function transcoderFeatureCount(dir: string, config: TranscoderConfig): Promise<number> {
  if (config.kind === 'cross_layer_transcoder') {
    const file = path.join(dir, 'W_enc_0.safetensors');
    return featureCount(await SafetensorsFile.open(file), 'b_enc_0', file);
  }
  const file = transcoderFile(dir, config.paths?.[0], 0);
  if (file.endsWith('.npz')) {
    const npz = await NpzFile.open(file);
    try {
      return (await npz.read('b_enc')).shape[0];
    } finally {
      await npz.close();
    }
  }
  return featureCount(await SafetensorsFile.open(file), 'b_enc', file);
}

async function loadCrossLayer(
  dir: string,
  config: TranscoderConfig,
  nLayers: number,
  d: number,
  opened: SafetensorsFile[],
): Promise<TranscoderSet> {
  const encoders = (await readdir(dir)).filter((f) => /^W_enc_\d+\.safetensors$/.test(f));
  if (encoders.length !== nLayers) {
    throw new ModelFormatError(
      `found ${encoders.length} W_enc_{i}.safetensors files but the model has ${nLayers} layers`,
      dir,
    );
  }
  const layers: TranscoderLayer[] = [];
  let nFeatures = 0;
  let activation: ActivationFunction = 'relu';
  for (let layer = 0; layer < nLayers; layer++) {
    const encFile = path.join(dir, `W_enc_${layer}.safetensors`);
    const decFile = path.join(dir, `W_dec_${layer}.safetensors`);
    const enc = await SafetensorsFile.open(encFile);
    const dec = await SafetensorsFile.open(decFile);
    opened.push(enc, dec);
    if (layer === 0) nFeatures = featureCount(enc, `b_enc_${layer}`, encFile);
    const F = nFeatures;
    // Shapes are checked from the header before any data is read.
    const want = async (st: SafetensorsFile, name: string, shape: number[]) => {
      checkShape(name, st.shape(name), shape, st.file);
      return (await st.read(name)).data;
    };
    const bEnc = await want(enc, `b_enc_${layer}`, [F]);
    const threshold = enc.has(`threshold_${layer}`) ? await want(enc, `threshold_${layer}`, [F]) : null;
    if (threshold) activation = 'jump_relu';
    const wSkip = enc.has(`W_skip_${layer}`) ? await want(enc, `W_skip_${layer}`, [d, d]) : null;
    checkShape(`W_enc_${layer}`, enc.shape(`W_enc_${layer}`), [F, d], encFile);
    checkShape(`W_dec_${layer}`, dec.shape(`W_dec_${layer}`), [F, nLayers - layer, d], decFile);
    layers.push({
      wEnc: enc.rows(`W_enc_${layer}`),
      bEnc,
      threshold,
      wDec: dec.rows(`W_dec_${layer}`),
      nOutputLayers: nLayers - layer,
      bDec: await want(enc, `b_dec_${layer}`, [d]),
      skip: wSkip, // the CLT applies x · W_skip[ℓ] (no transpose)
    });
  }
  return {
    kind: 'cross_layer_transcoder',
    name: config.name,
    nLayers,
    dModel: d,
    nFeatures,
    activation,
    k: config.k,
    layers,
  };
}

/** d_transcoder from the encoder bias: a 1-D tensor of at least one feature. */
function featureCount(st: SafetensorsFile, name: string, file: string): number {
  const shape = st.shape(name);
  if (shape.length !== 1 || shape[0] < 1) {
    throw new ModelFormatError(
      `tensor '${name}' has shape [${shape.join(', ')}]; the encoder bias must be [d_transcoder] with at least one feature`,
      file,
    );
  }
  return shape[0];
}

/**
 * Encoder graph of one layer. Input mlp_in [N,T,d]; outputs feature_pre [N,T,F] (pre-activation,
 * bias included), feature_acts [N,T,F] (TopK is applied by the caller) and skip [N,T,d] when present.
 * W_enc is read from its file here, in its stored precision, and lives on only in the session.
 */
export async function buildEncoderGraph(set: TranscoderSet, layer: number): Promise<Uint8Array> {
  const { dModel: d, nFeatures: F } = set;
  const t = set.layers[layer];
  const g = new GraphBuilder(`encoder_${layer}`);
  const x = g.input('mlp_in', 'float32', ['N', 'T', d]);
  const wEncT = transpose(await t.wEnc.readAll(), F, d); // [d, F]
  const pre = g.add(g.matmul(x, g.weight('W_encT', wEncT, [d, F])), g.weight('b_enc', t.bEnc, [F]));
  // Per layer: JumpReLU where a threshold is stored, TopK applied by the caller, ReLU otherwise.
  let acts: string;
  if (t.threshold) {
    acts = g.mul(pre, g.op('Cast', [g.op('Greater', [pre, g.weight('threshold', t.threshold, [F])])], { to: 1 }));
  } else if (set.activation === 'topk') {
    acts = pre;
  } else {
    acts = g.op('Relu', [pre]);
  }
  g.output(pre, 'feature_pre', 'float32', ['N', 'T', F]);
  g.output(acts, 'feature_acts', 'float32', ['N', 'T', F]);
  if (t.skip) g.output(g.matmul(x, g.weight('W_skip', t.skip, [d, d])), 'skip', 'float32', ['N', 'T', d]);
  return g.build();
}

/** TopK over the last axis, in place: keeps the k largest values of each row. [rows, F] */
export function applyTopK(acts: Float32Array, F: number, k: number): void {
  for (let row = 0; row < acts.length / F; row++) {
    const values = acts.subarray(row * F, (row + 1) * F);
    const kth = [...values].sort((a, b) => b - a)[Math.min(k, F) - 1];
    let kept = 0;
    for (let f = 0; f < F; f++) {
      if (values[f] >= kth && kept < k) kept++;
      else values[f] = 0;
    }
  }
}
