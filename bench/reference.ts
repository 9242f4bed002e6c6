/**
 * `npm run bench:reference`: circuit-tracer 0.5.0 (the reference, Python, PyTorch CPU) and our
 * tracer attribute the same prompts on the same models and transcoders in one run; prints both
 * median times and the ratio. Both sides time attribution only (model loading excluded, one
 * warm-up run each), with the same settings (max_n_logits 10, desired_logit_prob 0.95, batch 256).
 * The reference runs through training/reference/run_reference.py in training/.venv-reference
 * (made by training/reference/setup.sh on first use). The two never run at the same time.
 * BENCH_REPEATS (default 5) sets the number of timed runs.
 *
 * At size: BENCH_REFERENCE_MODELS (colon-separated folders made by bench/generate-model.ts, e.g. the
 * 12-layer d-768 model with 16k-feature transcoders) are run beside the fixtures on a 37-token prompt
 * in their own vocabulary with max_feature_nodes 4096 (BENCH_REFERENCE_FEATURES), BENCH_SIZE_REPEATS
 * (default 1) timed runs each, so the speed-up at size is printed on every run that names one.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { attribute, loadReplacementModel } from '@circuit-atlas/tracer';
import { formatMs, median, timeRepeated } from './stats.js';
import { vocabularyPrompt } from './trace.js';

const root = (p: string) => fileURLToPath(new URL(`../${p}`, import.meta.url));

const VENV_PYTHON = root('training/.venv-reference/bin/python');
const SETUP = root('training/reference/setup.sh');
const RUNNER = root('training/reference/run_reference.py');
const BATCH_SIZE = 256;

/** A longer prompt in the fixture tokenizers' vocabulary (35 word-level tokens with BOS). */
const FIXTURE_PROMPT =
  'The capital of Texas is Austin . Dallas is a city in the state of Texas . The capital of California is Sacramento . one two three four five six seven eight nine';

interface Case {
  dir: string;
  /** null: a 37-token prompt in the model's own vocabulary (generated models know no English). */
  prompt: string | null;
  maxFeatureNodes?: number;
  repeats?: number;
}

const SIZE_FEATURES = Number(process.env.BENCH_REFERENCE_FEATURES ?? 4096);
const SIZE_REPEATS = Number(process.env.BENCH_SIZE_REPEATS ?? 1);

const CASES: Case[] = [
  { dir: root('tracer/test/fixtures/models/llama-tiny'), prompt: FIXTURE_PROMPT },
  { dir: root('tracer/test/fixtures/models/qwen3-tiny'), prompt: FIXTURE_PROMPT },
  { dir: root('tracer/test/fixtures/models/gpt2-tiny'), prompt: FIXTURE_PROMPT },
  { dir: root('tracer/test/fixtures/models/llama-clt-tiny'), prompt: FIXTURE_PROMPT },
  { dir: root('models/atlas-world'), prompt: 'Fact: the capital of the state containing Dallas is' },
  ...(process.env.BENCH_REFERENCE_MODELS ?? '')
    .split(':')
    .filter((dir) => dir.length > 0)
    .map((dir) => ({ dir, prompt: null, maxFeatureNodes: SIZE_FEATURES, repeats: SIZE_REPEATS })),
];

interface ReferenceTiming {
  seconds: number[];
  median_seconds: number;
  torch_threads: number;
}

function ensureReferenceEnvironment(): void {
  if (existsSync(VENV_PYTHON)) return;
  process.stdout.write('making training/.venv-reference (circuit-tracer 0.5.0, pinned) ...\n');
  const setup = spawnSync('bash', [SETUP], { stdio: 'inherit' });
  if (setup.status !== 0)
    throw new Error(`${SETUP} failed (exit ${setup.status}); it needs PyPI and python3 with torch`);
}

function timeReference(dir: string, prompt: string, repeats: number, maxFeatureNodes?: number): ReferenceTiming {
  const args = [
    RUNNER,
    'bench',
    '--model',
    dir,
    '--prompt',
    prompt,
    '--repeats',
    String(repeats),
    '--batch-size',
    String(BATCH_SIZE),
    ...(maxFeatureNodes ? ['--max-feature-nodes', String(maxFeatureNodes)] : []),
  ];
  const result = spawnSync(VENV_PYTHON, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) {
    throw new Error(
      `circuit-tracer bench failed on ${dir} (exit ${result.status}):\n${result.stderr.split('\n').slice(-15).join('\n')}`,
    );
  }
  return JSON.parse(result.stdout.trim().split('\n').at(-1)!) as ReferenceTiming;
}

export async function run(): Promise<void> {
  const repeats = Number(process.env.BENCH_REPEATS ?? 5);
  ensureReferenceEnvironment();
  process.stdout.write(
    `${'model'.padEnd(16)} ${'tokens'.padStart(6)} ${'features'.padStart(8)} ${'circuit-tracer'.padStart(15)} ${'circuit-atlas'.padStart(14)} ${'speed-up'.padStart(9)}\n`,
  );
  for (const { dir, prompt: given, maxFeatureNodes, repeats: caseRepeats } of CASES) {
    const name = dir.split('/').pop()!;
    if (!existsSync(`${dir}/config.json`)) {
      process.stdout.write(`${name.padEnd(16)} (not present, skipped)\n`);
      continue;
    }
    const runs = caseRepeats ?? repeats;
    const model = await loadReplacementModel(dir);
    try {
      const prompt = given ?? vocabularyPrompt(model, 37);
      // The two sides never run at once: the model is loaded but idle while the reference runs.
      const reference = timeReference(dir, prompt, runs, maxFeatureNodes);
      let graph: Awaited<ReturnType<typeof attribute>> | null = null;
      const ours = await timeRepeated(
        async () => (graph = await attribute(model, prompt, { batchSize: BATCH_SIZE, maxFeatureNodes })),
        runs,
        1,
      );
      const referenceMs = reference.median_seconds * 1000;
      const oursMs = median(ours);
      process.stdout.write(
        `${name.padEnd(16)} ${String(graph!.nPos).padStart(6)} ${String(graph!.selectedFeatures.length).padStart(8)} ${formatMs(referenceMs).padStart(15)} ${formatMs(oursMs).padStart(14)} ${`${(referenceMs / oursMs).toFixed(2)}×`.padStart(9)}\n`,
      );
    } finally {
      await model.dispose();
    }
  }
  process.stdout.write(
    `(medians of ${repeats} runs (${SIZE_REPEATS} at size) after one warm-up; circuit-tracer on PyTorch CPU with its default threads, ours on ONNX Runtime CPU)\n`,
  );
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await run();
}
