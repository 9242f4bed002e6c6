/**
 * `npm run bench -- memory`: peak memory of a trace next to the weights' size on disk (issue 11's
 * target: peak RSS ≤ 1.5× the weights). Each model is loaded and traced in a fresh process (a
 * process's peak RSS only grows), which reports its own peak.
 *
 *   BENCH_MEMORY_MODELS=<model dir>[:<model dir>...] npm run bench -- memory
 *   BENCH_MEMORY_PROMPT_TOKENS (default 32, BOS included), BENCH_MEMORY_MAX_FEATURE_NODES (default 7500),
 *   BENCH_MEMORY_LOCK (a lock file that runs over 4 GB take with flock, for shared machines; default none)
 *
 * Models come from bench/generate-model.ts (e.g. `--arch gemma2-2b`), or any checkpoint folder with
 * transcoders/. Without BENCH_MEMORY_MODELS the bench measures the fixture llama-tiny only.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = (p: string) => fileURLToPath(new URL(`../${p}`, import.meta.url));

interface ChildReport {
  loadMs: number;
  traceMs: number;
  nodes: number;
  edges: number;
  loadRssMb: number;
  peakRssMb: number;
}

/** Bytes of the weight files: *.safetensors / *.npz of the model folder and its transcoders/. */
export function weightBytes(dir: string): number {
  let total = 0;
  for (const folder of [dir, path.join(dir, 'transcoders')]) {
    if (!existsSync(folder)) continue;
    for (const name of readdirSync(folder)) {
      if (name.endsWith('.safetensors') || name.endsWith('.npz')) total += statSync(path.join(folder, name)).size;
    }
  }
  return total;
}

/** A prompt of the generated vocabulary's words (w0 …) or, for other models, repeated plain words. */
function promptOf(dir: string, tokens: number): string {
  const tokenizer = path.join(dir, 'tokenizer.json');
  const generated = existsSync(tokenizer) && readFileSync(tokenizer, 'utf8').includes('"w0":');
  const words = Array.from({ length: tokens - 1 }, (_, i) => (generated ? `w${(i * 37) % 900}` : 'the'));
  return words.join(' ');
}

/** The child: load, trace once, print one JSON line with timings and its own peak RSS. */
async function child(dir: string, prompt: string, maxFeatureNodes: number): Promise<void> {
  const { loadReplacementModel, traceGraph } = await import('@circuit-atlas/tracer');
  const start = performance.now();
  const model = await loadReplacementModel(dir);
  const loadMs = performance.now() - start;
  const loadRssMb = process.memoryUsage().rss / 2 ** 20;
  const traceStart = performance.now();
  const { graph } = await traceGraph(model, prompt, { maxFeatureNodes });
  const traceMs = performance.now() - traceStart;
  await model.dispose();
  const report: ChildReport = {
    loadMs,
    traceMs,
    nodes: graph.adjacency.nRows,
    edges: graph.adjacency.values.length,
    loadRssMb,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

function measure(dir: string, prompt: string, maxFeatureNodes: number): Promise<ChildReport> {
  const script = fileURLToPath(import.meta.url);
  // On a shared machine, runs that may pass 4 GB (peak ≈ 1.5 × weights) can wait on a lock file
  // (BENCH_MEMORY_LOCK, taken with flock) so that no two run at once.
  const lock = process.env.BENCH_MEMORY_LOCK;
  const useLock = lock !== undefined && lock !== '' && weightBytes(dir) * 1.5 > 4e9;
  const command = ['node', '--import', 'tsx', script, '--child', dir, prompt, String(maxFeatureNodes)];
  const argv = useLock ? ['flock', lock, ...command] : command;
  return new Promise((resolve, reject) => {
    const proc = spawn(argv[0], argv.slice(1), { cwd: root(''), stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    proc.on('error', reject);
    proc.on('close', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !line.startsWith('{')) reject(new Error(`trace of ${dir} failed (exit ${code})`));
      else resolve(JSON.parse(line) as ChildReport);
    });
  });
}

export async function run(): Promise<void> {
  const tokens = Number(process.env.BENCH_MEMORY_PROMPT_TOKENS ?? 32);
  const maxFeatureNodes = Number(process.env.BENCH_MEMORY_MAX_FEATURE_NODES ?? 7500);
  const dirs = (process.env.BENCH_MEMORY_MODELS ?? root('tracer/test/fixtures/models/llama-tiny'))
    .split(':')
    .filter((dir) => dir.length > 0);
  process.stdout.write(
    `${tokens}-token prompt, --max-feature-nodes ${maxFeatureNodes}\n` +
      `${'model'.padEnd(14)} ${'weights'.padStart(9)} ${'after load'.padStart(11)} ${'peak RSS'.padStart(9)} ` +
      `${'peak/weights'.padStart(13)} ${'load'.padStart(8)} ${'trace'.padStart(8)} ${'nodes'.padStart(7)} ${'edges'.padStart(10)}\n`,
  );
  const gb = (bytes: number) => (bytes < 1e9 ? `${(bytes / 1e6).toFixed(1)} MB` : `${(bytes / 1e9).toFixed(2)} GB`);
  for (const dir of dirs) {
    if (!existsSync(path.join(dir, 'config.json'))) {
      process.stdout.write(`${path.basename(dir).padEnd(14)} (no config.json, skipped)\n`);
      continue;
    }
    const weights = weightBytes(dir);
    const r = await measure(dir, promptOf(dir, tokens), maxFeatureNodes);
    const peak = r.peakRssMb * 2 ** 20;
    process.stdout.write(
      `${path.basename(dir).padEnd(14)} ${gb(weights).padStart(9)} ${gb(r.loadRssMb * 2 ** 20).padStart(11)} ` +
        `${gb(peak).padStart(9)} ${(peak / weights).toFixed(2).padStart(12)}× ${`${(r.loadMs / 1000).toFixed(1)} s`.padStart(8)} ` +
        `${`${(r.traceMs / 1000).toFixed(1)} s`.padStart(8)} ${String(r.nodes).padStart(7)} ${String(r.edges).padStart(10)}\n`,
    );
  }
}

if (process.argv[2] === '--child') {
  await child(process.argv[3], process.argv[4], Number(process.argv[5]));
}
