/**
 * Runs tracer tasks in child processes (trace-worker.ts, through tsx), one process per task, at a
 * lower CPU priority so the server keeps answering while a trace uses every core. Cancelling kills
 * the process: nothing of the trace survives it.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { setPriority } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CancelledError, ModelFormatError, UserInputError, type Supernode } from '@circuit-atlas/tracer';
import type { GraphDocument } from '@circuit-atlas/schema';
import type { TraceRunner } from './trace-queue.js';
import type { InterventionOutcome, NamingReply, NamingRequest, WorkerMessage, WorkerTask } from './worker-protocol.js';

const WORKER_PATH = fileURLToPath(new URL('./trace-worker.ts', import.meta.url));
/** tsx's ESM loader, by absolute URL so the child finds it whatever its working directory. */
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
/** Nice value of tracer processes (higher = yields the CPU to the server). */
const WORKER_NICENESS = 10;

interface ChildControl {
  onProgress?(phase: string, fraction: number): void;
  signal?: AbortSignal;
  /** Kills the child and rejects after this long. */
  timeoutMs?: number;
}

/** Rebuilds the child's typed error so the API maps it to the right code. */
function reviveError(name: string, message: string): Error {
  switch (name) {
    case 'UserInputError':
      return new UserInputError(message);
    case 'ModelFormatError':
      return new ModelFormatError(message);
    case 'CancelledError':
      return new CancelledError(message);
    default:
      return Object.assign(new Error(message), { name });
  }
}

function runInChild(task: WorkerTask, control: ChildControl): Promise<WorkerMessage> {
  return new Promise((resolve, reject) => {
    if (control.signal?.aborted) {
      reject(new CancelledError('the task was cancelled before it started'));
      return;
    }
    const child: ChildProcess = fork(WORKER_PATH, [], {
      execArgv: ['--import', TSX_LOADER],
      serialization: 'advanced', // structured clone: large graphs without a JSON round trip
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    try {
      if (child.pid !== undefined) setPriority(child.pid, WORKER_NICENESS);
    } catch {
      // Not permitted on this system: the trace still runs, at normal priority.
    }
    let answer: WorkerMessage | null = null;
    let stopReason: Error | null = null;
    const stop = (reason: Error) => {
      stopReason ??= reason;
      child.kill('SIGKILL');
    };
    const onAbort = () => stop(new CancelledError('the trace was cancelled'));
    control.signal?.addEventListener('abort', onAbort, { once: true });
    const timer =
      control.timeoutMs !== undefined
        ? setTimeout(
            () => stop(new Error(`the ${task.kind} task took longer than ${control.timeoutMs} ms`)),
            control.timeoutMs,
          )
        : null;

    child.on('message', (message: WorkerMessage) => {
      if (message.type === 'progress') control.onProgress?.(message.phase, message.fraction);
      else answer = message;
    });
    child.on('error', (error) => stop(error));
    child.on('exit', (code, signal) => {
      control.signal?.removeEventListener('abort', onAbort);
      if (timer) clearTimeout(timer);
      if (stopReason) reject(stopReason);
      else if (answer?.type === 'error') reject(reviveError(answer.name, answer.message));
      else if (answer) resolve(answer);
      else reject(new Error(`the tracer process ended without an answer (exit code ${code}, signal ${signal})`));
    });
    child.send(task);
  });
}

/** The queue's runner: one child process per trace. */
export const childProcessTraceRunner: TraceRunner = async (request, control) => {
  const answer = await runInChild(
    {
      kind: 'trace',
      modelDir: request.modelDir,
      prompt: request.prompt,
      settings: request.settings,
      graphId: request.graphId,
    },
    control,
  );
  if (answer.type !== 'trace-done') throw new Error(`the tracer process answered '${answer.type}' to a trace`);
  return answer.document satisfies GraphDocument;
};

/** Runs an intervention in a child process and returns top logits before and after. */
export async function interveneInChild(
  task: Omit<Extract<WorkerTask, { kind: 'intervene' }>, 'kind'>,
  timeoutMs: number,
): Promise<InterventionOutcome> {
  const answer = await runInChild({ kind: 'intervene', ...task }, { timeoutMs });
  if (answer.type !== 'intervene-done')
    throw new Error(`the tracer process answered '${answer.type}' to an intervention`);
  return answer.outcome;
}

const NAMING_WORKER_PATH = fileURLToPath(new URL('./naming-worker.ts', import.meta.url));
/** A naming worker left idle this long ends (it holds a model in memory). */
const NAMING_IDLE_MS = 5 * 60_000;

interface NamingChild {
  child: ChildProcess;
  pending: Map<number, { resolve(s: Supernode[]): void; reject(e: Error): void; timer: NodeJS.Timeout }>;
  idle: NodeJS.Timeout | null;
}

/**
 * Names automatic supernodes in one long-lived child per model folder (naming-worker.ts): the first
 * request loads the model and replays its dashboards (seconds), later ones reuse them.
 */
export class SupernodeNamingWorkers {
  private readonly children = new Map<string, NamingChild>();
  private nextId = 1;

  constructor(private readonly timeoutMs: number) {}

  name(task: Omit<NamingRequest, 'id'>): Promise<Supernode[]> {
    const worker = this.childFor(task.modelDir);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        worker.pending.delete(id);
        reject(new Error(`naming supernodes took longer than ${this.timeoutMs} ms`));
        this.stop(task.modelDir); // a stuck worker is replaced on the next request
      }, this.timeoutMs);
      worker.pending.set(id, { resolve, reject, timer });
      if (worker.idle) clearTimeout(worker.idle);
      worker.idle = null;
      worker.child.send({ id, ...task } satisfies NamingRequest);
    });
  }

  /** Ends every naming worker (the server is closing). */
  close(): void {
    for (const modelDir of [...this.children.keys()]) this.stop(modelDir);
  }

  private childFor(modelDir: string): NamingChild {
    const existing = this.children.get(modelDir);
    if (existing) return existing;
    const child = fork(NAMING_WORKER_PATH, [], {
      execArgv: ['--import', TSX_LOADER],
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    try {
      if (child.pid !== undefined) setPriority(child.pid, WORKER_NICENESS);
    } catch {
      // Not permitted here: it runs at normal priority.
    }
    const worker: NamingChild = { child, pending: new Map(), idle: null };
    child.on('message', (reply: NamingReply) => {
      const waiting = worker.pending.get(reply.id);
      if (!waiting) return;
      worker.pending.delete(reply.id);
      clearTimeout(waiting.timer);
      if ('error' in reply) waiting.reject(reviveError(reply.error.name, reply.error.message));
      else waiting.resolve(reply.supernodes);
      if (worker.pending.size === 0) {
        worker.idle = setTimeout(() => this.stop(modelDir), NAMING_IDLE_MS);
        worker.idle.unref();
      }
    });
    child.on('exit', (code, signal) => {
      if (this.children.get(modelDir) === worker) this.children.delete(modelDir);
      if (worker.idle) clearTimeout(worker.idle);
      for (const waiting of worker.pending.values()) {
        clearTimeout(waiting.timer);
        waiting.reject(new Error(`the naming process ended (exit code ${code}, signal ${signal})`));
      }
      worker.pending.clear();
    });
    child.on('error', () => child.kill('SIGKILL'));
    this.children.set(modelDir, worker);
    return worker;
  }

  private stop(modelDir: string): void {
    const worker = this.children.get(modelDir);
    if (!worker) return;
    this.children.delete(modelDir);
    worker.child.kill('SIGKILL');
  }
}
