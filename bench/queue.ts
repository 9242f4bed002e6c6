/**
 * `npm run bench -- queue`: batch tracing on BullMQ with a real redis-server. The same demo prompts
 * (capital questions about the demo world's cities; ATLAS_BENCH_PROMPTS, default 200) traced by one
 * `circuit-atlas worker` process, then by two, each run into a fresh SQLite file. Workers are
 * started and have loaded the model before the clock starts; reported: wall time from submit to the
 * batch's end, prompts per minute, and the throughput ratio of two workers to one on this machine.
 * Results also go to bench/results/queue.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { resolveTraceSettings } from '@circuit-atlas/schema';
import { BullmqBatchQueue, describeBatchCounts, type BatchSpec } from '@circuit-atlas/server';
import { freePort } from '../tools/neo4j/launcher.js';

const REPO = resolve(import.meta.dirname, '..');
const MODEL = join(REPO, 'models/atlas-world');
const CLI = join(REPO, 'bin/circuit-atlas.js');
const PROMPTS = Number(process.env.ATLAS_BENCH_PROMPTS ?? 200);

function log(text: string): void {
  process.stdout.write(`${text}\n`);
}

/** Resolves when the process prints a line matching `pattern`; rejects if it ends first or after `limitMs`. */
function waitForLine(child: ChildProcess, pattern: RegExp, what: string, limitMs: number): Promise<void> {
  return new Promise((done, fail) => {
    let seen = '';
    const timer = setTimeout(() => fail(new Error(`${what}: no line matching ${pattern} in ${limitMs} ms`)), limitMs);
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      if (pattern.test(seen)) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        done();
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => fail(new Error(`${what} ended (exit ${code}) before printing ${pattern}:\n${seen}`)));
  });
}

function demoPrompts(count: number): string[] {
  const world = JSON.parse(readFileSync(join(MODEL, 'world.json'), 'utf8')) as {
    states: { cities: { name: string }[] }[];
  };
  const cities = world.states.flatMap((s) => s.cities.map((c) => c.name));
  const templates = [
    (c: string) => `Fact: the capital of the state containing ${c} is`,
    (c: string) => `Fact: the region of the state containing ${c} is`,
  ];
  return Array.from({ length: count }, (_, i) =>
    templates[Math.floor(i / cities.length) % 2](cities[i % cities.length]),
  );
}

interface RunResult {
  workers: number;
  prompts: number;
  seconds: number;
  promptsPerMinute: number;
  done: number;
  failed: number;
}

async function measure(redisUrl: string, workerCount: number, dir: string): Promise<RunResult> {
  const env = { ...process.env, ATLAS_QUEUE: redisUrl, ATLAS_DB: join(dir, `w${workerCount}.sqlite`), NEO4J_URI: '' };
  const workers: ChildProcess[] = [];
  try {
    for (let i = 0; i < workerCount; i++) {
      const child = spawn(process.execPath, [CLI, 'worker', '--model', MODEL], {
        env,
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      workers.push(child);
      await waitForLine(child, /worker ready:/, `worker ${i + 1}`, 300_000);
    }
    const queue = new BullmqBatchQueue(redisUrl);
    try {
      const batch: BatchSpec = {
        id: `bench-w${workerCount}`,
        model: 'atlas-world',
        attempts: 3,
        prompts: demoPrompts(PROMPTS).map((prompt, i) => ({
          graphId: `bench-w${workerCount}-${i}`,
          prompt,
          target: null,
          settings: resolveTraceSettings(),
        })),
      };
      const start = performance.now();
      await queue.submit(batch);
      let last = '';
      for (;;) {
        const status = (await queue.status(batch.id))!;
        const line = describeBatchCounts(status);
        if (line !== last && status.counts.done % 20 === 0) log(`  ${workerCount} worker(s): ${line}`);
        last = line;
        if (status.finished) {
          const seconds = (performance.now() - start) / 1000;
          return {
            workers: workerCount,
            prompts: PROMPTS,
            seconds,
            promptsPerMinute: (status.counts.done * 60) / seconds,
            done: status.counts.done,
            failed: status.counts.failed,
          };
        }
        await new Promise((wake) => setTimeout(wake, 250));
      }
    } finally {
      await queue.close();
    }
  } finally {
    for (const child of workers) child.kill('SIGTERM');
    await Promise.all(
      workers.map((child) => new Promise((done) => (child.exitCode !== null ? done(null) : child.once('exit', done)))),
    );
  }
}

export async function run(): Promise<void> {
  log(`queue: ${PROMPTS} demo prompts on BullMQ (real redis-server), 1 worker process, then 2`);
  log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}`);
  const dir = mkdtempSync(join(tmpdir(), 'atlas-bench-queue-'));
  const port = await freePort();
  const redis = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  try {
    await waitForLine(redis, /Ready to accept connections/, 'redis-server', 60_000);
    const url = `redis://127.0.0.1:${port}`;
    const results = [await measure(url, 1, dir), await measure(url, 2, dir)];
    log('');
    log(`${'workers'.padEnd(8)} ${'prompts'.padStart(8)} ${'wall'.padStart(10)} ${'prompts/min'.padStart(12)}`);
    for (const r of results)
      log(
        `${String(r.workers).padEnd(8)} ${String(r.done).padStart(8)} ${`${r.seconds.toFixed(1)} s`.padStart(10)} ${r.promptsPerMinute.toFixed(1).padStart(12)}`,
      );
    log(
      `throughput 2 workers / 1 worker: ${(results[1].promptsPerMinute / results[0].promptsPerMinute).toFixed(2)}× on ${cpus().length} cores`,
    );
    mkdirSync('bench/results', { recursive: true });
    writeFileSync(
      'bench/results/queue.json',
      `${JSON.stringify({ date: new Date().toISOString(), results }, null, 2)}\n`,
    );
  } finally {
    redis.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}
