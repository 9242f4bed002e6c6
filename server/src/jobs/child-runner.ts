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
import type { InterventionOutcome, WorkerMessage, WorkerTask } from './worker-protocol.js';

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

/** Names supernodes by their contexts in a child process (it loads the model and replays the dashboards). */
export async function nameSupernodesInChild(
  task: Omit<Extract<WorkerTask, { kind: 'name-supernodes' }>, 'kind'>,
  timeoutMs: number,
): Promise<Supernode[]> {
  const answer = await runInChild({ kind: 'name-supernodes', ...task }, { timeoutMs });
  if (answer.type !== 'names-done') throw new Error(`the tracer process answered '${answer.type}' to naming`);
  return answer.supernodes;
}
