/**
 * `computeFeatureDashboards`: streams a corpus through the model in batches of equal-length
 * contexts, encodes every requested layer's transcoder input (the existing encoder sessions),
 * collects bounded per-feature statistics (collect.ts) and writes one dashboard file per layer
 * (dashboard.ts). Layers are done in passes of `layersPerPass` layers (all by default: one forward
 * serves every layer); each pass writes its files when it ends, and a layer whose file exists is
 * skipped unless `force` — so an interrupted run restarts where its last finished pass ended.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { CancelledError, ModelFormatError, UserInputError } from '../errors.js';
import { embed, runForward, type ReplacementModel } from '../model/replacement-model.js';
import { applyTopK } from '../transcoder/transcoder-set.js';
import { ContextStore, DEFAULT_COLLECTOR_OPTIONS, LayerCollector, sparseOf, type FeatureSummary } from './collect.js';
import {
  batchContexts,
  corpusFormatOf,
  corpusSize,
  readCorpus,
  type ContextBatch,
  type CorpusFormat,
} from './corpus.js';
import { featureDashboard, writeLayerFile, type FeatureDashboard } from './dashboard.js';
import { writeAutomaticLabels } from './label-files.js';
import { LogitEffectsGraph } from './logit-effects.js';
import { SparseEncoder } from './sparse-encoder.js';

export interface FeatureDashboardOptions {
  /** Plain text (one document per line) or JSONL ({"text": ...} per line). */
  corpus: string;
  format?: CorpusFormat;
  /** Folder of the layer files; default `<model dir>/dashboards` is the caller's choice. */
  outDir: string;
  /** Layers to compute (default: all). */
  layers?: number[];
  /** Tokens per context, BOS included (default 128, at most the model's context). */
  contextLength?: number;
  /** Contexts per forward pass (default 16). */
  batchSize?: number;
  /** Stop reading the corpus after this many tokens (BOS included). */
  maxTokens?: number;
  /** Top contexts per feature (default 10). */
  topK?: number;
  /** Layers collected per pass over the corpus (default: all requested layers in one pass). */
  layersPerPass?: number;
  /** Recompute layers whose file exists. */
  force?: boolean;
  /** Afterwards, write each feature's automatic label into every layer file of outDir (label-files.ts). */
  label?: boolean;
  seed?: number;
  onProgress?: (progress: FeatureProgress) => void;
  signal?: AbortSignal;
}

export interface FeatureProgress {
  /** Human-readable: which layers and how far. */
  phase: string;
  /** 0..1 over the whole run. */
  fraction: number;
  tokens: number;
}

export interface LayerResult {
  layer: number;
  file: string;
  /** Features written (active at least once); null when the layer was skipped. */
  features: number | null;
  skipped: boolean;
}

export interface FeatureDashboardResult {
  layers: LayerResult[];
  /** Tokens run through the model (BOS included), summed over passes. */
  tokens: number;
  /** Non-BOS positions each layer's statistics were computed over. */
  positions: number;
  seconds: number;
  /** Features given an automatic label (0 unless `label`). */
  labelled: number;
  /**
   * Mean final-norm scale (1/rms of the last residual) over the corpus's first contexts: the top/bottom
   * logit values are direct effects times it, so they read as logit changes per unit of activation.
   */
  finalNormScale: number;
  /**
   * Milliseconds spent in the model's forward, the encoders, the collectors (JS), the top/bottom
   * logits (F × V × d per layer: a fixed cost per model, whatever the corpus) and writing files.
   */
  timings: { forward: number; encode: number; collect: number; logits: number; write: number };
  /** CPU milliseconds of this process (ONNX Runtime's threads included) in the same phases. */
  cpuTimings: FeatureDashboardResult['timings'];
}

type Phase = keyof FeatureDashboardResult['timings'];

/** Wall and CPU time per phase: on a shared machine wall time also counts other processes' work. */
class PhaseMeter {
  readonly wall = { forward: 0, encode: 0, collect: 0, logits: 0, write: 0 };
  readonly cpu = { forward: 0, encode: 0, collect: 0, logits: 0, write: 0 };
  private wallMark = performance.now();
  private cpuMark = cpuMilliseconds();

  /** Starts timing from now (time before it is charged to no phase). */
  mark(): void {
    this.wallMark = performance.now();
    this.cpuMark = cpuMilliseconds();
  }

  /** Charges the time since the last mark or charge to `phase`. */
  charge(phase: Phase): void {
    const wall = performance.now();
    const cpu = cpuMilliseconds();
    this.wall[phase] += wall - this.wallMark;
    this.cpu[phase] += cpu - this.cpuMark;
    this.wallMark = wall;
    this.cpuMark = cpu;
  }
}

function cpuMilliseconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

export async function computeFeatureDashboards(
  model: ReplacementModel,
  options: FeatureDashboardOptions,
): Promise<FeatureDashboardResult> {
  const start = performance.now();
  const layers = options.layers ?? Array.from({ length: model.nLayers }, (_, i) => i);
  for (const layer of layers) {
    if (!Number.isInteger(layer) || layer < 0 || layer >= model.nLayers) {
      throw new UserInputError(`layer ${layer} does not exist; the model has layers 0..${model.nLayers - 1}`);
    }
  }
  const contextLength = options.contextLength ?? Math.min(128, model.config.maxPositions);
  if (!Number.isInteger(contextLength) || contextLength < 2 || contextLength > model.config.maxPositions) {
    throw new UserInputError(
      `--context-length must be an integer in 2..${model.config.maxPositions} (the model's context), got ${contextLength}`,
    );
  }
  const positive = (value: number | undefined, name: string, fallback: number) => {
    const n = value ?? fallback;
    if (!Number.isInteger(n) || n < 1) throw new UserInputError(`--${name} must be a positive integer, got ${value}`);
    return n;
  };
  const batchSize = positive(options.batchSize, 'batch-size', 16);
  const topK = positive(options.topK, 'top-k', DEFAULT_COLLECTOR_OPTIONS.topK);
  const layersPerPass = positive(options.layersPerPass, 'layers-per-pass', layers.length || 1);
  if (options.maxTokens !== undefined) positive(options.maxTokens, 'max-tokens', 1);
  const bosId = model.tokenizer.bosId;
  if (bosId === null)
    throw new UserInputError(`the model's tokenizer has no BOS or other special token to start contexts with`);
  const format = options.format ?? corpusFormatOf(options.corpus);
  const bytes = await corpusSize(options.corpus);
  await mkdir(options.outDir, { recursive: true });

  const fileOf = (layer: number) => path.join(options.outDir, `layer_${layer}.json`);
  const results: LayerResult[] = [];
  const todo: number[] = [];
  for (const layer of [...new Set(layers)].sort((a, b) => a - b)) {
    if (!options.force && existsSync(fileOf(layer))) {
      results.push({ layer, file: fileOf(layer), features: null, skipped: true });
    } else todo.push(layer);
  }
  // Partial files of an interrupted run (dashboard.ts writes `<file>.partial-<pid>`) are rewritten now.
  for (const name of await readdir(options.outDir)) {
    const layer = /^layer_(\d+)\.json\.partial-\d+$/.exec(name)?.[1];
    if (layer !== undefined && todo.includes(Number(layer))) await rm(path.join(options.outDir, name), { force: true });
  }
  const passes: number[][] = [];
  for (let i = 0; i < todo.length; i += layersPerPass) passes.push(todo.slice(i, i + layersPerPass));

  const tokenStrings = new Map<number, string>();
  const tokenString = (id: number) => {
    let text = tokenStrings.get(id);
    if (text === undefined) tokenStrings.set(id, (text = model.tokenizer.tokenString(id)));
    return text;
  };
  const batching = { contextLength, maxTokens: options.maxTokens, bosId };
  const finalNormScale = passes.length > 0 ? await meanFinalNormScale(model, options.corpus, format, batching) : 1;
  const logits = passes.length > 0 ? await LogitEffectsGraph.create(model, finalNormScale) : null;
  let tokens = 0;
  let positions = 0;
  const meter = new PhaseMeter();
  try {
    for (const [passIndex, pass] of passes.entries()) {
      const label = pass.length === 1 ? `layer ${pass[0]}` : `layers ${pass[0]}-${pass[pass.length - 1]}`;
      const report = (fraction: number, what: string) =>
        options.onProgress?.({ phase: `${label}: ${what}`, fraction: (passIndex + fraction) / passes.length, tokens });
      const store = new ContextStore();
      // Encoders that return only active entries (TopK transcoders: the model's dense ones, sparsified in JS).
      const encoders =
        model.transcoders.activation === 'topk'
          ? null
          : await Promise.all(pass.map((layer) => SparseEncoder.create(model, layer)));
      const collectors = pass.map(
        (layer) =>
          new LayerCollector(layer, store, {
            ...DEFAULT_COLLECTOR_OPTIONS,
            nFeatures: model.nFeatures,
            topK,
            seed: options.seed ?? 0,
          }),
      );
      let readBytes = 0;
      let passTokens = 0;
      const documents = tokenized(
        model,
        readCorpus(options.corpus, format, (n) => (readBytes = n)),
      );
      try {
        for await (const batch of batchContexts(documents, { ...batching, batchSize })) {
          if (options.signal?.aborted) throw new CancelledError('feature dashboards cancelled');
          await observeBatch(model, batch, collectors, encoders, meter);
          const batchTokens = batch.contexts.reduce((sum, c) => sum + c.tokenIds.length, 0);
          passTokens += batchTokens;
          tokens += batchTokens;
          const fraction = options.maxTokens ? passTokens / options.maxTokens : readBytes / Math.max(1, bytes);
          report(Math.min(0.99, fraction), `${formatCount(passTokens)} tokens`);
        }
      } finally {
        for (const encoder of encoders ?? []) await encoder.release();
      }
      if (collectors[0].positions === 0) {
        throw new UserInputError(`the corpus ${options.corpus} has no text to compute dashboards from`);
      }
      positions = collectors[0].positions;
      meter.mark();
      for (const collector of collectors) {
        report(0.99, `writing layer ${collector.layer}`);
        const features = await writeLayerFile(
          fileOf(collector.layer),
          dashboardsOf(collector, logits!, `${model.transcoderSet}/layer_${collector.layer}`, tokenString, meter),
        );
        results.push({ layer: collector.layer, file: fileOf(collector.layer), features, skipped: false });
      }
      meter.charge('write');
      report(1, 'done');
    }
  } finally {
    await logits?.release();
  }
  results.sort((a, b) => a.layer - b.layer);
  let labelled = 0;
  if (options.label) {
    options.onProgress?.({ phase: 'automatic labels', fraction: 1, tokens });
    labelled = await writeAutomaticLabels(options.outDir);
  }
  const seconds = (performance.now() - start) / 1000;
  const timings = meter.wall;
  return { layers: results, tokens, positions, seconds, labelled, finalNormScale, timings, cpuTimings: meter.cpu };
}

/** Contexts the final-norm scale is averaged over (full forwards, one context each: a small fixed cost). */
const SCALE_CONTEXTS = 16;

/**
 * Mean of the final norm's scale 1/σ (σ its denominator, frozen in attribution) over the non-BOS positions of the
 * corpus's first contexts. The direct effect W_dec · diag(γ) · W_U skips this division; without it a
 * decoder's logit effects read about 1/scale times too large (≈ 11× on the demo model).
 */
async function meanFinalNormScale(
  model: ReplacementModel,
  corpus: string,
  format: CorpusFormat,
  batching: { contextLength: number; maxTokens?: number; bosId: number },
): Promise<number> {
  let sum = 0;
  let count = 0;
  let contexts = 0;
  for await (const batch of batchContexts(tokenized(model, readCorpus(corpus, format)), {
    ...batching,
    batchSize: 1,
  })) {
    for (const context of batch.contexts) {
      const denominator = (await runForward(model, context.tokenIds)).frozen.lnfScale; // [T]: the rms σ
      for (let p = 1; p < context.tokenIds.length; p++) sum += 1 / denominator[p];
      count += context.tokenIds.length - 1;
    }
    if (++contexts === SCALE_CONTEXTS) break;
  }
  return count > 0 ? sum / count : 1;
}

/** Token ids of every document (no special tokens added: each context gets its own BOS). */
async function* tokenized(model: ReplacementModel, documents: AsyncIterable<{ text: string }>) {
  for await (const document of documents) {
    const tokenIds = model.tokenizer.encodeText(document.text);
    if (tokenIds.length > 0) yield { tokenIds };
  }
}

/** One forward over the batch up to the deepest layer of the pass, then each layer's encoder. */
async function observeBatch(
  model: ReplacementModel,
  batch: ContextBatch,
  collectors: LayerCollector[],
  encoders: SparseEncoder[] | null,
  meter: PhaseMeter,
) {
  meter.mark();
  const { nPos: T, contexts } = batch;
  const d = model.dModel;
  const resid = new Float32Array(contexts.length * T * d); // [N, T, d]
  // Right padding repeats the context's last token: causal attention keeps it out of every real position.
  contexts.forEach((context, n) => {
    const padded = new Int32Array(T).fill(context.tokenIds[context.tokenIds.length - 1]);
    padded.set(context.tokenIds);
    resid.set(embed(model, padded), n * T * d);
  });
  const lastLayer = Math.max(...collectors.map((c) => c.layer));
  const forward = await runForward(model, new Int32Array(T), {
    residPre: { data: resid, n: contexts.length },
    lastLayer,
  });
  meter.charge('forward');
  for (const [i, collector] of collectors.entries()) {
    const mlpIn = forward.mlpIn[collector.layer];
    const active = encoders
      ? await encoders[i].activeEntries(mlpIn, contexts.length, T)
      : sparseOf(await featureActivations(model, collector.layer, mlpIn, contexts.length, T), T, model.nFeatures);
    meter.charge('encode');
    collector.observeSparse(batch, active);
    meter.charge('collect');
  }
}

/**
 * The layer's feature activations [N, T, F], as encodeLayer computes them, fetching only
 * `feature_acts` (not the pre-activations and skip term: at 16k features each is another N·T·F copy).
 */
async function featureActivations(
  model: ReplacementModel,
  layer: number,
  mlpIn: Float32Array,
  n: number,
  nPos: number,
): Promise<Float32Array> {
  const feeds = { mlp_in: { data: mlpIn, dims: [n, nPos, model.dModel] } };
  const acts = (await model.sessions.encoders[layer].run(feeds, ['feature_acts'])).feature_acts.data;
  if (model.transcoders.activation === 'topk') {
    if (!model.transcoders.k) throw new ModelFormatError('a TopK transcoder needs k in config.yaml');
    applyTopK(acts, model.nFeatures, model.transcoders.k);
  }
  return acts;
}

async function* dashboardsOf(
  collector: LayerCollector,
  logits: LogitEffectsGraph,
  transcoderId: string,
  tokenString: (id: number) => string,
  meter: PhaseMeter,
): AsyncGenerator<FeatureDashboard> {
  const CHUNK = 512; // features whose logit effects are computed together
  let chunk: FeatureSummary[] = [];
  const flush = async function* (summaries: FeatureSummary[]) {
    meter.charge('write'); // building and writing the dashboards so far
    const effects = await logits.effects(
      collector.layer,
      summaries.map((s) => s.feature),
    );
    meter.charge('logits');
    for (const [i, summary] of summaries.entries()) {
      yield featureDashboard({
        summary,
        layer: collector.layer,
        transcoderId,
        tokenString,
        topLogits: effects.top[i],
        bottomLogits: effects.bottom[i],
      });
    }
  };
  for (const summary of collector.summaries()) {
    chunk.push(summary);
    if (chunk.length === CHUNK) {
      yield* flush(chunk);
      chunk = [];
    }
  }
  if (chunk.length > 0) yield* flush(chunk);
}

function formatCount(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : String(n);
}
