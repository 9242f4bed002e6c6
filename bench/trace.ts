/**
 * `npm run bench -- trace`: median trace time, peak memory (RSS), and the backward phase's achieved
 * GFLOP/s next to ONNX Runtime's measured MatMul peak on the same machine, for the fixture models,
 * the demo model (models/atlas-world) when it exists, and the folders in BENCH_TRACE_MODELS.
 *
 * BENCH_TRACE_MODELS (colon-separated folders, e.g. a model from bench/generate-model.ts) are traced
 * with BENCH_TRACE_FEATURES feature rows (default 4096) on a prompt in their own vocabulary, and, with
 * BENCH_TRACE_LENGTHS="64,256,1024", once per prompt length in a fresh process each, so the peak RSS
 * of every length is its own: the long-prompt memory curve.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { GraphBuilder } from '@circuit-atlas/tracer';
import { GraphSession } from '@circuit-atlas/tracer';
import { loadReplacementModel, traceGraph, attribute, type ReplacementModel } from '@circuit-atlas/tracer';
import { formatMs, median, timeRepeated } from './stats.js';

const root = (p: string) => fileURLToPath(new URL(`../${p}`, import.meta.url));

const ENGLISH_PROMPT =
  'The capital of Texas is Austin . Dallas is a city in the state of Texas . The capital of California is';
const EXTRA_MODELS = (process.env.BENCH_TRACE_MODELS ?? '').split(':').filter((dir) => dir.length > 0);
const EXTRA_FEATURES = Number(process.env.BENCH_TRACE_FEATURES ?? 4096);
const LENGTHS = (process.env.BENCH_TRACE_LENGTHS ?? '')
  .split(',')
  .filter((s) => s.trim().length > 0)
  .map(Number);

const MODELS: { dir: string; prompt: string | null; maxFeatureNodes?: number }[] = [
  { dir: root('tracer/test/fixtures/models/llama-tiny'), prompt: 'Dallas is a city in the state of' },
  { dir: root('tracer/test/fixtures/models/gpt2-tiny'), prompt: 'Dallas is a city in the state of' },
  { dir: root('tracer/test/fixtures/models/llama-clt-tiny'), prompt: 'Dallas is a city in the state of' },
  { dir: root('models/atlas-world'), prompt: 'Fact: the capital of the state containing Dallas is' },
  // null: the English prompt when the model knows its words, else one in its own vocabulary.
  ...EXTRA_MODELS.map((dir) => ({ dir, prompt: null, maxFeatureNodes: EXTRA_FEATURES })),
];

/**
 * A prompt of exactly `nTokens` tokens (BOS included) made of the model's own whole-word tokens,
 * for models whose vocabulary has no English (generated models: w0 … w31999).
 */
export function vocabularyPrompt(model: ReplacementModel, nTokens: number): string {
  const { tokenizer } = model;
  const words: string[] = [];
  // A fixed stride through the vocabulary: deterministic, and no word repeats before it wraps.
  for (let i = 0; words.length < nTokens - 1 && i < 64 * nTokens; i++) {
    const id = (101 + i * 7919) % model.vocabSize;
    const word = tokenizer.tokenString(id).trim();
    if (/^[\p{L}\p{N}]+$/u.test(word) && tokenizer.tokenId(word) === id) words.push(word);
  }
  let prompt = words.join(' ');
  // Word-level vocabularies give one token per word; BPE ones may split or merge: trim to length.
  while (words.length > 0 && tokenizer.encodePrompt(prompt, Infinity).length > nTokens) {
    words.pop();
    prompt = words.join(' ');
  }
  const got = words.length === 0 ? 0 : tokenizer.encodePrompt(prompt, Infinity).length;
  if (got !== nTokens)
    throw new Error(`could not build a ${nTokens}-token prompt from ${model.name}'s vocabulary (got ${got} tokens)`);
  return prompt;
}

function promptFor(model: ReplacementModel, prompt: string | null): string {
  if (prompt !== null) return prompt;
  try {
    model.tokenizer.encodePrompt(ENGLISH_PROMPT, model.config.maxPositions);
    return ENGLISH_PROMPT;
  } catch {
    return vocabularyPrompt(model, 37);
  }
}

/** ORT's MatMul throughput on an n×n·n×n product (the ceiling the backward is compared with). */
async function matmulPeak(n = 1024): Promise<number> {
  const g = new GraphBuilder('matmul_peak');
  const a = g.input('a', 'float32', [n, n]);
  const b = g.weight(
    'b',
    Float32Array.from({ length: n * n }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5),
    [n, n],
  );
  g.output(g.matmul(a, b), 'c', 'float32', [n, n]);
  const session = await GraphSession.create('matmul_peak', g.build());
  const input = {
    data: Float32Array.from({ length: n * n }, (_, i) => ((i * 104729) % 1000) / 1000 - 0.5),
    dims: [n, n],
  };
  const times = await timeRepeated(() => session.run({ a: input }), 7, 2);
  await session.release();
  return (2 * n ** 3) / (median(times) / 1000) / 1e9;
}

interface LengthResult {
  tokens: number;
  activeFeatures: number;
  rows: number;
  edges: number;
  attributionMs: number;
  backwardMs: number;
  backwardFlops: number;
  peakRssMb: number;
}

/** One attribution of a `nTokens` prompt in this process (run as a child: its peak RSS is its own). */
async function measureLength(dir: string, nTokens: number, maxFeatureNodes: number): Promise<LengthResult> {
  const model = await loadReplacementModel(dir);
  try {
    const prompt = vocabularyPrompt(model, nTokens);
    const timings: Record<string, number> = {};
    const start = performance.now();
    const graph = await attribute(model, prompt, { batchSize: 256, maxFeatureNodes, timings });
    return {
      tokens: graph.nPos,
      activeFeatures: graph.activations.length,
      rows: graph.selectedFeatures.length + graph.logitTargets.length,
      edges: graph.adjacency.values.length,
      attributionMs: performance.now() - start,
      backwardMs: timings.backward,
      backwardFlops: timings.backwardFlops,
      peakRssMb: process.resourceUsage().maxRSS / 1024,
    };
  } finally {
    await model.dispose();
  }
}

function runLengthCurve(dir: string, peak: number): void {
  const results: LengthResult[] = [];
  process.stdout.write(
    `\nprompt length curve, ${dir} (${EXTRA_FEATURES} feature rows, batch 256; one process per length)\n` +
      `${'tokens'.padStart(6)} ${'active'.padStart(8)} ${'edges kept'.padStart(11)} ${'attribution'.padStart(12)} ` +
      `${'backward'.padStart(10)} ${'% peak'.padStart(7)} ${'peak RSS'.padStart(9)} ${'bytes/edge'.padStart(10)}\n`,
  );
  for (const tokens of LENGTHS) {
    const child = spawnSync(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(import.meta.url), '--length', dir, String(tokens), String(EXTRA_FEATURES)],
      { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 },
    );
    if (child.status !== 0) {
      const why = child.signal ? `killed by ${child.signal}` : `exit ${child.status}`;
      process.stdout.write(
        `${String(tokens).padStart(6)} failed (${why}): ${child.stderr.trim().split('\n').at(-1)}\n`,
      );
      continue;
    }
    const r = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as LengthResult;
    results.push(r);
    const gflops = r.backwardFlops / (r.backwardMs / 1000) / 1e9;
    process.stdout.write(
      `${String(r.tokens).padStart(6)} ${String(r.activeFeatures).padStart(8)} ${String(r.edges).padStart(11)} ` +
        `${formatMs(r.attributionMs).padStart(12)} ${formatMs(r.backwardMs).padStart(10)} ` +
        `${((100 * gflops) / peak).toFixed(1).padStart(6)}% ${`${r.peakRssMb.toFixed(0)} MB`.padStart(9)} ` +
        `${((r.peakRssMb * 1024 * 1024) / r.edges).toFixed(0).padStart(10)}\n`,
    );
  }
  mkdirSync(root('bench/results'), { recursive: true });
  const file = root('bench/results/trace-lengths.json');
  writeFileSync(
    file,
    `${JSON.stringify({ date: new Date().toISOString(), model: dir, featureRows: EXTRA_FEATURES, results }, null, 2)}\n`,
  );
  process.stdout.write(`(written to ${file})\n`);
}

export async function run(): Promise<void> {
  const peak = await matmulPeak();
  process.stdout.write(`ORT MatMul peak (1024³, CPU): ${peak.toFixed(1)} GFLOP/s\n`);
  process.stdout.write(
    `${'model'.padEnd(16)} ${'tokens'.padStart(6)} ${'nodes'.padStart(6)} ${'edges'.padStart(8)} ${'median trace'.padStart(13)} ${'backward'.padStart(10)} ${'GFLOP/s'.padStart(8)} ${'% peak'.padStart(7)} ${'peak RSS'.padStart(9)}\n`,
  );
  for (const { dir, prompt, maxFeatureNodes } of MODELS) {
    if (!existsSync(`${dir}/config.json`) || !existsSync(`${dir}/transcoders/config.yaml`)) {
      process.stdout.write(`${dir.split('/').pop()!.padEnd(16)} (model or transcoders not present, skipped)\n`);
      continue;
    }
    const model = await loadReplacementModel(dir);
    try {
      const text = promptFor(model, prompt);
      let last: Awaited<ReturnType<typeof traceGraph>> | null = null;
      const repeats = maxFeatureNodes ? 2 : 5;
      const times = await timeRepeated(
        async () => (last = await traceGraph(model, text, { batchSize: 256, maxFeatureNodes })),
        repeats,
        1,
      );
      const { graph, timings } = last!;
      const gflops = timings.backwardFlops / (timings.backward / 1000) / 1e9;
      const rssMb = process.resourceUsage().maxRSS / 1024;
      process.stdout.write(
        `${model.name.padEnd(16)} ${String(graph.nPos).padStart(6)} ${String(graph.adjacency.nRows).padStart(6)} ${String(graph.adjacency.values.length).padStart(8)} ` +
          `${formatMs(median(times)).padStart(13)} ${formatMs(timings.backward).padStart(10)} ${gflops.toFixed(2).padStart(8)} ` +
          `${((100 * gflops) / peak).toFixed(1).padStart(6)}% ${`${rssMb.toFixed(0)} MB`.padStart(9)}\n`,
      );
    } finally {
      await model.dispose();
    }
  }
  if (LENGTHS.length > 0) for (const dir of EXTRA_MODELS) runLengthCurve(dir, peak);
}

// Child mode of the length curve: `trace.ts --length <dir> <tokens> <maxFeatureNodes>` prints one JSON line.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1] && process.argv[2] === '--length') {
  const [dir, tokens, features] = process.argv.slice(3);
  const result = await measureLength(dir, Number(tokens), Number(features));
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
