/**
 * Real processes for the queue tests: a redis-server of Debian on a free port (with or without
 * persistence), `circuit-atlas worker` processes whose stdout lines the tests wait on, and demo
 * prompts. Every wait is on an event (a line, a state) and bounded by a generous limit that fails
 * with a message naming what did not happen.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '../../tools/neo4j/launcher.js';

export const REPO = resolve(import.meta.dirname, '../..');
export const CLI = join(REPO, 'bin/circuit-atlas.js');
export const DEMO_MODEL = join(REPO, 'models/atlas-world');

/** A line-reading handle on a child process's stdout and stderr. */
export class ProcessLines {
  readonly lines: string[] = [];
  private readonly waiters = new Set<() => void>();
  exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  readonly exit: Promise<void>;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    for (const stream of [child.stdout, child.stderr]) {
      let partial = '';
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => {
        partial += chunk;
        const parts = partial.split('\n');
        partial = parts.pop()!;
        for (const line of parts) this.lines.push(line);
        for (const wake of this.waiters) wake();
      });
    }
    this.exit = new Promise((done) =>
      child.once('exit', (code, signal) => {
        this.exited = { code, signal };
        for (const wake of this.waiters) wake();
        done();
      }),
    );
  }

  /** The first line (from `from` on) matching `pattern`; fails after `limitMs` or if the process ends first. */
  async waitForLine(pattern: RegExp, limitMs: number, from = 0): Promise<string> {
    const deadline = Date.now() + limitMs;
    for (;;) {
      const found = this.lines.slice(from).find((line) => pattern.test(line));
      if (found !== undefined) return found;
      if (this.exited)
        throw new Error(
          `${this.name} ended (${JSON.stringify(this.exited)}) before printing ${pattern}:\n${this.tail()}`,
        );
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`${this.name} printed no line matching ${pattern} within ${limitMs} ms:\n${this.tail()}`);
      await new Promise<void>((wake) => {
        const done = () => {
          clearTimeout(timer);
          this.waiters.delete(done);
          wake();
        };
        const timer = setTimeout(done, left);
        this.waiters.add(done);
      });
    }
  }

  tail(n = 30): string {
    return this.lines.slice(-n).join('\n');
  }
}

export interface RunningRedis {
  url: string;
  port: number;
  dir: string;
  /** Shuts Redis down (persisting first when it persists) and waits for the process to end. */
  stop(): Promise<void>;
  /** Starts it again on the same port and folder. */
  start(): Promise<void>;
  /** Stops it and removes its folder. */
  dispose(): Promise<void>;
}

/** A real redis-server on a free port; `persistent` keeps an append-only file across restarts. */
export async function startRedis(persistent = false): Promise<RunningRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'atlas-redis-'));
  const args = persistent
    ? ['--port', String(port), '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'always']
    : ['--port', String(port), '--dir', dir, '--save', '', '--appendonly', 'no'];
  let current: ProcessLines | null = null;
  const start = async () => {
    const child = spawn('redis-server', [...args, '--bind', '127.0.0.1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    current = new ProcessLines(`redis-server :${port}`, child);
    await current.waitForLine(/Ready to accept connections/, 60_000);
  };
  const stop = async () => {
    if (!current || current.exited) return;
    current.child.kill('SIGTERM'); // redis-server flushes its append-only file and exits on SIGTERM
    await current.exit;
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    stop,
    start,
    dispose: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface WorkerProcess extends ProcessLines {
  pid: number;
}

/** `circuit-atlas worker --model <demo>` with the given environment; resolves once it is ready. */
export async function startWorker(
  name: string,
  env: NodeJS.ProcessEnv,
  readyLimitMs = 180_000,
): Promise<WorkerProcess> {
  const child = spawn(process.execPath, [CLI, 'worker', '--model', DEMO_MODEL], {
    cwd: REPO,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const worker = Object.assign(new ProcessLines(name, child), { pid: child.pid! });
  await worker.waitForLine(/^worker ready:/, readyLimitMs);
  return worker;
}

/** Stops a worker with SIGTERM (it finishes its prompt first) and waits for it to end. */
export async function stopWorker(worker: ProcessLines, limitMs = 120_000): Promise<void> {
  if (worker.exited) return;
  worker.child.kill('SIGTERM');
  const timer = setTimeout(() => worker.child.kill('SIGKILL'), limitMs);
  await worker.exit;
  clearTimeout(timer);
}

/** The Redis servers and workers a test file starts, stopped together when it ends. */
export class QueueProcesses {
  private readonly workers: WorkerProcess[] = [];
  private readonly redises: RunningRedis[] = [];

  async redis(persistent = false): Promise<RunningRedis> {
    const redis = await startRedis(persistent);
    this.redises.push(redis);
    return redis;
  }

  async worker(name: string, env: NodeJS.ProcessEnv): Promise<WorkerProcess> {
    const worker = await startWorker(name, env);
    this.workers.push(worker);
    return worker;
  }

  /** Workers first (each finishes its prompt, which needs Redis), then the Redis servers and their folders. */
  async stopAll(workerLimitMs = 120_000): Promise<void> {
    await Promise.all(this.workers.map((worker) => stopWorker(worker, workerLimitMs)));
    for (const redis of this.redises) await redis.dispose();
  }
}

/** Capital prompts about the demo world's cities, in a fixed order. */
export function demoPrompts(count: number, offset = 0): string[] {
  const world = JSON.parse(readFileSync(join(DEMO_MODEL, 'world.json'), 'utf8')) as {
    states: { cities: { name: string }[] }[];
  };
  const cities = world.states.flatMap((state) => state.cities.map((city) => city.name));
  return cities.slice(offset, offset + count).map((city) => `Fact: the capital of the state containing ${city} is`);
}

/** Polls `check` until it returns a value other than undefined; fails naming `what` after `limitMs`. */
export async function eventually<T>(what: string, limitMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + limitMs;
  let last: unknown = null;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline)
      throw new Error(
        `${what} did not happen within ${limitMs} ms${last ? ` (last error: ${(last as Error).message})` : ''}`,
      );
    await new Promise((wake) => setTimeout(wake, 250));
  }
}
