/**
 * The trace job queue. A trace takes seconds to minutes of CPU, so the API never runs one inside a
 * request: `submit` records a job and returns at once; at most `concurrency` traces run at a time
 * (ATLAS_TRACE_CONCURRENCY, default 1, because one trace already uses every core); the job lives on
 * whether or not the client that asked for it keeps polling. The runner does the tracing (in a
 * child process, see child-runner.ts) and the queue stores the finished graph.
 */
import { randomUUID } from 'node:crypto';
import type { GraphDocument } from '@circuit-atlas/schema';
import type { GraphStore } from '../store/graph-store.js';

export type JobStatus = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

export interface TraceSettings {
  maxNLogits?: number;
  desiredLogitProb?: number;
  batchSize?: number;
  maxFeatureNodes?: number | null;
  nodeThreshold?: number;
  edgeThreshold?: number;
}

export interface TraceRequest {
  prompt: string;
  /** The model's folder id in the catalog (what the job reports). */
  modelId: string;
  modelDir: string;
  settings: TraceSettings;
  /** Id the stored graph gets. */
  graphId: string;
}

export interface TraceJob {
  id: string;
  status: JobStatus;
  prompt: string;
  model: string;
  /** 0..1 */
  progress: number;
  phase: string | null;
  graphId: string | null;
  error: string | null;
  createdAt: string;
  finishedAt: string | null;
}

export interface RunControl {
  onProgress(phase: string, fraction: number): void;
  /** Fires when the job is cancelled; the runner must stop and reject. */
  signal: AbortSignal;
}

/** Traces one prompt and returns the pruned graph (with `request.graphId` as its id). */
export type TraceRunner = (request: TraceRequest, control: RunControl) => Promise<GraphDocument>;

export interface TraceQueueOptions {
  store: GraphStore;
  runner: TraceRunner;
  concurrency?: number;
  /** Finished jobs kept for polling; older ones are forgotten first. */
  keepFinished?: number;
}

/** Share of the progress bar the tracer's own phases take; the rest is starting up and saving. */
const TRACE_SHARE = 0.95;

interface JobEntry {
  job: TraceJob;
  request: TraceRequest;
  abort: AbortController;
  finished: Promise<TraceJob>;
  settle: (job: TraceJob) => void;
}

export class TraceQueue {
  readonly concurrency: number;
  private readonly store: GraphStore;
  private readonly runner: TraceRunner;
  private readonly keepFinished: number;
  private readonly entries = new Map<string, JobEntry>();
  private readonly waiting: JobEntry[] = [];
  private running = 0;
  /** Who follows each job's changes (server-sent events); told on every change, dropped when it ends. */
  private readonly watchers = new Map<string, Set<(job: TraceJob) => void>>();

  constructor(options: TraceQueueOptions) {
    this.store = options.store;
    this.runner = options.runner;
    this.concurrency = Math.max(1, Math.floor(options.concurrency ?? 1));
    this.keepFinished = options.keepFinished ?? 200;
  }

  /** ATLAS_TRACE_CONCURRENCY, validated; 1 when unset. */
  static concurrencyFromEnv(env: NodeJS.ProcessEnv = process.env): number {
    const raw = env.ATLAS_TRACE_CONCURRENCY;
    if (raw === undefined || raw === '') return 1;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 1) {
      throw new Error(`ATLAS_TRACE_CONCURRENCY must be a whole number ≥ 1, got '${raw}'`);
    }
    return value;
  }

  submit(request: TraceRequest): TraceJob {
    let settle!: (job: TraceJob) => void;
    const finished = new Promise<TraceJob>((resolve) => (settle = resolve));
    const job: TraceJob = {
      id: `job-${randomUUID()}`,
      status: 'queued',
      prompt: request.prompt,
      model: request.modelId,
      progress: 0,
      phase: 'queued',
      graphId: null,
      error: null,
      createdAt: new Date().toISOString(),
      finishedAt: null,
    };
    const entry: JobEntry = { job, request, abort: new AbortController(), finished, settle };
    this.entries.set(job.id, entry);
    this.waiting.push(entry);
    this.pump();
    return { ...job };
  }

  get(id: string): TraceJob | null {
    const entry = this.entries.get(id);
    return entry ? { ...entry.job } : null;
  }

  /** Every job the queue remembers, newest first. */
  list(): TraceJob[] {
    return [...this.entries.values()].map((entry) => ({ ...entry.job })).reverse();
  }

  /**
   * Calls `listener` with the job now and after each change (phase, progress, end); returns the
   * function that stops it. Null for an unknown id. A finished job is reported once.
   */
  watch(id: string, listener: (job: TraceJob) => void): (() => void) | null {
    const entry = this.entries.get(id);
    if (!entry) return null;
    listener({ ...entry.job });
    if (entry.job.finishedAt) return () => {};
    const set = this.watchers.get(id) ?? new Set();
    set.add(listener);
    this.watchers.set(id, set);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.watchers.delete(id);
    };
  }

  private notify(entry: JobEntry): void {
    const set = this.watchers.get(entry.job.id);
    if (!set) return;
    for (const listener of [...set]) listener({ ...entry.job });
    if (entry.job.finishedAt) this.watchers.delete(entry.job.id);
  }

  /** Resolves when the job has finished (done, failed or cancelled). */
  async waitFor(id: string): Promise<TraceJob> {
    const entry = this.entries.get(id);
    if (!entry) throw new Error(`no job with id '${id}'`);
    return { ...(await entry.finished) };
  }

  /** Cancels a queued or running job; a finished job is returned as it is. Null for an unknown id. */
  cancel(id: string): TraceJob | null {
    const entry = this.entries.get(id);
    if (!entry) return null;
    if (entry.job.status === 'queued') {
      this.waiting.splice(this.waiting.indexOf(entry), 1);
      this.finish(entry, { status: 'cancelled', phase: 'cancelled' });
    } else if (entry.job.status === 'running') {
      entry.abort.abort();
      // The runner rejects once its process is gone; the job reads as cancelled from now on.
      Object.assign(entry.job, { status: 'cancelled', phase: 'cancelled' });
      this.notify(entry);
    }
    return { ...entry.job };
  }

  /** Cancels everything and waits for running traces to stop (server shutdown). */
  async close(): Promise<void> {
    const pending = [...this.entries.values()].filter((entry) => !entry.job.finishedAt);
    for (const entry of pending) this.cancel(entry.job.id);
    await Promise.all(pending.map((entry) => entry.finished));
  }

  private pump(): void {
    while (this.running < this.concurrency && this.waiting.length > 0) {
      const entry = this.waiting.shift()!;
      this.running++;
      void this.execute(entry).finally(() => {
        this.running--;
        this.pump();
      });
    }
  }

  private async execute(entry: JobEntry): Promise<void> {
    const { job, request, abort } = entry;
    Object.assign(job, { status: 'running', phase: 'starting', progress: 0 });
    this.notify(entry);
    try {
      const document = await this.runner(request, {
        signal: abort.signal,
        onProgress: (phase, fraction) => {
          if (job.status !== 'running') return;
          job.phase = phase;
          // Never move backwards: phases report their own 0..1, the job one bar.
          job.progress = Math.max(job.progress, Math.min(1, Math.max(0, fraction)) * TRACE_SHARE);
          this.notify(entry);
        },
      });
      if (abort.signal.aborted) {
        this.finish(entry, { status: 'cancelled', phase: 'cancelled' });
        return;
      }
      Object.assign(job, { phase: 'saving graph', progress: TRACE_SHARE });
      this.notify(entry);
      await this.store.saveGraph(document);
      this.finish(entry, { status: 'done', phase: 'done', progress: 1, graphId: document.id });
    } catch (error) {
      if (abort.signal.aborted) this.finish(entry, { status: 'cancelled', phase: 'cancelled' });
      else this.finish(entry, { status: 'failed', phase: 'failed', error: (error as Error).message });
    }
  }

  private finish(entry: JobEntry, update: Partial<TraceJob>): void {
    Object.assign(entry.job, update, { finishedAt: new Date().toISOString() });
    entry.settle({ ...entry.job });
    this.notify(entry);
    this.forgetOldJobs();
  }

  private forgetOldJobs(): void {
    const finished = [...this.entries.values()].filter((entry) => entry.job.finishedAt);
    for (const entry of finished.slice(0, Math.max(0, finished.length - this.keepFinished))) {
      this.entries.delete(entry.job.id);
    }
  }
}
