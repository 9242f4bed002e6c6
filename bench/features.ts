/**
 * `npm run bench -- features`: feature-dashboard throughput (tokens/s) and peak memory (RSS) of
 * `computeFeatureDashboards` on a generated model (bench/generate-model.ts; default 12 layers,
 * d_model 768, 16k-feature transcoders, vocabulary 32k) over a generated corpus (default 100k
 * tokens). The run happens in a child process so its peak RSS is its own.
 *
 *   BENCH_FEATURES_DIR     where the model is generated (kept and reused; default: a temp folder, removed)
 *   BENCH_FEATURES_TOKENS  corpus size in tokens (default 100000)
 *   BENCH_FEATURES_SHAPE   e.g. "layers=4,dModel=256,dTranscoder=4096" (overrides the default shape)
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_SHAPE, generateCorpus, generateModel, type GeneratedModelShape } from './generate-model.js';

const CHILD_FLAG = '--features-child';

function shapeFromEnv(): GeneratedModelShape {
  const shape: GeneratedModelShape = { ...DEFAULT_SHAPE };
  for (const pair of (process.env.BENCH_FEATURES_SHAPE ?? '').split(',').filter(Boolean)) {
    const [key, value] = pair.split('=');
    if (!(key in shape)) throw new Error(`BENCH_FEATURES_SHAPE: unknown key '${key}' (keys: ${Object.keys(shape)})`);
    (shape as unknown as Record<string, unknown>)[key] = key === 'dtype' ? value : Number(value);
  }
  return shape;
}

export async function run(): Promise<void> {
  const shape = shapeFromEnv();
  const tokens = Number(process.env.BENCH_FEATURES_TOKENS ?? 100_000);
  const keep = process.env.BENCH_FEATURES_DIR;
  const dir = keep ?? (await mkdtemp(path.join(tmpdir(), 'bench-features-')));
  try {
    const stamp = path.join(dir, 'generated.json');
    const wanted = JSON.stringify(shape);
    if (!existsSync(stamp) || (await readFile(stamp, 'utf8')) !== wanted) {
      const start = performance.now();
      await generateModel(dir, shape);
      await writeFile(stamp, wanted);
      process.stdout.write(`generated the model in ${((performance.now() - start) / 1000).toFixed(1)} s\n`);
    }
    const corpus = path.join(dir, `corpus-${tokens}.txt`);
    if (!existsSync(corpus)) await generateCorpus(corpus, shape.vocab, tokens);
    const child = spawnSync(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(import.meta.url), CHILD_FLAG, dir, corpus],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 },
    );
    if (child.status !== 0) throw new Error(`features benchmark child failed (status ${child.status})`);
    const result = JSON.parse(child.stdout.trim().split('\n').pop()!);
    const t = result.timings;
    const total = t.forward + t.encode + t.collect + t.logits + t.write;
    const pass = t.forward + t.encode + t.collect;
    const share = (ms: number) => `${((100 * ms) / total).toFixed(0)}%`;
    process.stdout.write(
      `model: ${shape.layers} layers, d_model ${shape.dModel}, d_mlp ${shape.dMlp}, ${shape.dTranscoder} features/layer, ` +
        `vocab ${shape.vocab}, ${shape.dtype}\n` +
        `corpus: ${result.tokens} tokens (${result.positions} non-BOS positions), context 128, batch 16\n` +
        `load: ${result.loadSeconds.toFixed(1)} s; dashboards: ${result.seconds.toFixed(1)} s ` +
        `→ ${(result.tokens / result.seconds).toFixed(0)} tokens/s ` +
        `(CPU ${result.cpuSeconds.toFixed(1)} s: ${(result.tokens / result.cpuSeconds).toFixed(0)} tokens per CPU-second)\n` +
        `  forward ${share(t.forward)}, encoders ${share(t.encode)}, collectors ${share(t.collect)}, ` +
        `top/bottom logits ${share(t.logits)} (fixed per model), writing ${share(t.write)}\n` +
        `  CPU seconds: ${(['forward', 'encode', 'collect', 'logits', 'write'] as const)
          .map((phase) => `${phase} ${(result.cpuTimings[phase] / 1000).toFixed(0)}`)
          .join(', ')}\n` +
        `  corpus pass alone: ${(result.tokens / (pass / 1000)).toFixed(0)} tokens/s wall\n` +
        `features written: ${result.features} (all layers); layer files ${(result.bytes / 1e6).toFixed(0)} MB\n` +
        `peak RSS: ${(result.maxRssKb / 1024).toFixed(0)} MB\n`,
    );
  } finally {
    if (!keep) await rm(dir, { recursive: true, force: true });
  }
}

/** The measured run, in its own process: load, compute, report JSON on the last stdout line. */
async function child(dir: string, corpus: string): Promise<void> {
  const { computeFeatureDashboards, loadReplacementModel } = await import('@circuit-atlas/tracer');
  const { stat } = await import('node:fs/promises');
  const cpuStart = process.cpuUsage();
  const loadStart = performance.now();
  const model = await loadReplacementModel(dir);
  const loadSeconds = (performance.now() - loadStart) / 1000;
  const cpuLoaded = process.cpuUsage(cpuStart);
  let last = -1;
  const result = await computeFeatureDashboards(model, {
    corpus,
    outDir: path.join(dir, 'dashboards'),
    force: true,
    onProgress: ({ fraction, phase }) => {
      const percent = Math.floor(fraction * 10) * 10;
      if (percent !== last) process.stderr.write(`  ${percent}% ${phase}\n`);
      last = percent;
    },
  });
  const cpu = process.cpuUsage(cpuStart);
  // CPU seconds of this process while computing: on a shared machine, wall time also counts others' work.
  const cpuSeconds = (cpu.user + cpu.system - cpuLoaded.user - cpuLoaded.system) / 1e6;
  let bytes = 0;
  for (const layer of result.layers) bytes += (await stat(layer.file)).size;
  await model.dispose();
  process.stdout.write(
    JSON.stringify({
      ...result,
      loadSeconds,
      cpuSeconds,
      bytes,
      features: result.layers.reduce((sum, l) => sum + (l.features ?? 0), 0),
      maxRssKb: process.resourceUsage().maxRSS,
    }) + '\n',
  );
}

if (process.argv[2] === CHILD_FLAG) await child(process.argv[3], process.argv[4]);
