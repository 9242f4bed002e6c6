/**
 * `npm run bench -- trace`: median trace time, peak memory (RSS), and the backward phase's achieved
 * GFLOP/s next to ONNX Runtime's measured MatMul peak on the same machine, for the fixture models
 * the demo model (models/atlas-world) when it exists, and the folders in BENCH_TRACE_MODELS.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { GraphBuilder } from '@circuit-atlas/tracer';
import { GraphSession } from '@circuit-atlas/tracer';
import { loadReplacementModel, traceGraph } from '@circuit-atlas/tracer';
import { formatMs, median, timeRepeated } from './stats.js';

const root = (p: string) => fileURLToPath(new URL(`../${p}`, import.meta.url));

const MODELS: { dir: string; prompt: string; maxFeatureNodes?: number }[] = [
  { dir: root('tracer/test/fixtures/models/llama-tiny'), prompt: 'Dallas is a city in the state of' },
  { dir: root('tracer/test/fixtures/models/gpt2-tiny'), prompt: 'Dallas is a city in the state of' },
  { dir: root('tracer/test/fixtures/models/llama-clt-tiny'), prompt: 'Dallas is a city in the state of' },
  { dir: root('models/atlas-world'), prompt: 'Fact: the capital of the state containing Dallas is' },
  // More model folders to measure (colon-separated), traced on a longer prompt.
  ...(process.env.BENCH_TRACE_MODELS ?? '')
    .split(':')
    .filter((dir) => dir.length > 0)
    .map((dir) => ({
      dir,
      prompt: 'The capital of Texas is Austin . Dallas is a city in the state of Texas . The capital of California is',
      maxFeatureNodes: 2048, // the CLI's default is 7500; 2048 keeps a run within a minute on 2 cores
    })),
];

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

export async function run(): Promise<void> {
  const peak = await matmulPeak();
  process.stdout.write(`ORT MatMul peak (1024³, CPU): ${peak.toFixed(1)} GFLOP/s\n`);
  process.stdout.write(
    `${'model'.padEnd(16)} ${'nodes'.padStart(6)} ${'edges'.padStart(8)} ${'median trace'.padStart(13)} ${'backward'.padStart(10)} ${'GFLOP/s'.padStart(8)} ${'% peak'.padStart(7)} ${'peak RSS'.padStart(9)}\n`,
  );
  for (const { dir, prompt, maxFeatureNodes } of MODELS) {
    if (!existsSync(`${dir}/config.json`) || !existsSync(`${dir}/transcoders/config.yaml`)) {
      process.stdout.write(`${dir.split('/').pop()!.padEnd(16)} (model or transcoders not present, skipped)\n`);
      continue;
    }
    const model = await loadReplacementModel(dir);
    try {
      let last: Awaited<ReturnType<typeof traceGraph>> | null = null;
      const repeats = maxFeatureNodes ? 2 : 5;
      const times = await timeRepeated(
        async () => (last = await traceGraph(model, prompt, { batchSize: 256, maxFeatureNodes })),
        repeats,
        1,
      );
      const { graph, timings } = last!;
      const gflops = timings.backwardFlops / (timings.backward / 1000) / 1e9;
      const rssMb = process.resourceUsage().maxRSS / 1024;
      process.stdout.write(
        `${model.name.padEnd(16)} ${String(graph.adjacency.nRows).padStart(6)} ${String(graph.adjacency.values.length).padStart(8)} ` +
          `${formatMs(median(times)).padStart(13)} ${formatMs(timings.backward).padStart(10)} ${gflops.toFixed(2).padStart(8)} ` +
          `${((100 * gflops) / peak).toFixed(1).padStart(6)}% ${`${rssMb.toFixed(0)} MB`.padStart(9)}\n`,
      );
    } finally {
      await model.dispose();
    }
  }
}
