/**
 * The batch queue: one contract, two engines (DESIGN.md, decision 11). Without configuration the
 * queue lives in this process and runs its prompts here (InProcessBatchQueue, below); with
 * ATLAS_QUEUE=redis://… it is BullMQ on Redis, and `circuit-atlas worker` processes anywhere take
 * the jobs (bullmq-queue.ts). Both give the same states, retries, cancellation and idempotent ids.
 */
import type { GraphStore } from '../store/graph-store.js';
import {
  summarizeBatch,
  type BatchJobData,
  type BatchSpec,
  type BatchStatus,
  type PromptState,
  type PromptStatus,
} from './batch.js';
import { isPermanentError, runBatchPrompt, type PromptTracer } from './batch-job.js';

export interface BatchQueue {
  readonly kind: 'in-process' | 'bullmq';
  /** Where the queue lives, for messages (never a password). */
  readonly description: string;
  /**
   * Queues every prompt of the batch. Prompts whose job already exists are left as they are, except
   * failed or cancelled ones, which are tried again; prompts whose graph is stored finish at once.
   */
  submit(batch: BatchSpec): Promise<BatchStatus>;
  /** Null for a batch this queue does not know. */
  status(batchId: string): Promise<BatchStatus | null>;
  /** Cancels the batch's queued and running prompts; finished ones stay. Null for an unknown batch. */
  cancel(batchId: string): Promise<BatchStatus | null>;
  close(): Promise<void>;
}

export interface InProcessBatchQueueOptions {
  store: GraphStore;
  /** The tracer of a model id (loaded once and kept by the caller). */
  tracerFor(model: string): Promise<PromptTracer>;
  /** Prompts traced at once (default 1: one trace already uses every core). */
  concurrency?: number;
  /** Wait before a retry, doubled each time (default 1000 ms). */
  retryDelayMs?: number;
}

interface Job {
  data: BatchJobData;
  attemptsAllowed: number;
  state: PromptState;
  attempts: number;
  progress: number;
  error: string | null;
  abort: AbortController | null;
}

interface Batch {
  spec: BatchSpec;
  jobKeys: string[];
  cancelled: boolean;
}

const jobKey = (model: string, graphId: string) => `${model}\u0000${graphId}`;

/** The embedded engine: no setup; jobs live as long as this process. */
export class InProcessBatchQueue implements BatchQueue {
  readonly kind = 'in-process' as const;
  readonly description = 'in-process queue';
  private readonly jobs = new Map<string, Job>();
  private readonly batches = new Map<string, Batch>();
  private readonly waiting: Job[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly running = new Set<Promise<void>>();
  private readonly concurrency: number;
  private readonly retryDelayMs: number;
  private closed = false;

  constructor(private readonly options: InProcessBatchQueueOptions) {
    this.concurrency = Math.max(1, Math.floor(options.concurrency ?? 1));
    this.retryDelayMs = options.retryDelayMs ?? 1000;
  }

  async submit(spec: BatchSpec): Promise<BatchStatus> {
    const batch = this.batches.get(spec.id) ?? { spec, jobKeys: [], cancelled: false };
    batch.cancelled = false; // submitting a cancelled batch again resumes it
    this.batches.set(spec.id, batch);
    for (const prompt of spec.prompts) {
      const key = jobKey(spec.model, prompt.graphId);
      if (!batch.jobKeys.includes(key)) batch.jobKeys.push(key);
      const existing = this.jobs.get(key);
      if (existing && existing.state !== 'failed' && existing.state !== 'cancelled') continue;
      const job: Job = existing ?? {
        data: { batchId: spec.id, model: spec.model, ...prompt },
        attemptsAllowed: spec.attempts,
        state: 'queued',
        attempts: 0,
        progress: 0,
        error: null,
        abort: null,
      };
      Object.assign(job, { state: 'queued', attempts: 0, progress: 0, error: null, attemptsAllowed: spec.attempts });
      this.jobs.set(key, job);
      this.waiting.push(job);
    }
    this.pump();
    return this.statusOf(batch);
  }

  async status(batchId: string): Promise<BatchStatus | null> {
    const batch = this.batches.get(batchId);
    return batch ? this.statusOf(batch) : null;
  }

  async cancel(batchId: string): Promise<BatchStatus | null> {
    const batch = this.batches.get(batchId);
    if (!batch) return null;
    batch.cancelled = true;
    for (const key of batch.jobKeys) {
      const job = this.jobs.get(key)!;
      if (job.state === 'queued' || job.state === 'retrying') {
        const at = this.waiting.indexOf(job);
        if (at >= 0) this.waiting.splice(at, 1);
        Object.assign(job, { state: 'cancelled', error: 'cancelled' });
      } else if (job.state === 'running') {
        job.abort?.abort(); // the try rejects and is recorded as cancelled
      }
    }
    return this.statusOf(batch);
  }

  /** Stops taking prompts, cancels running ones and waits for them to stop. */
  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const job of this.jobs.values()) job.abort?.abort();
    await Promise.allSettled([...this.running]);
  }

  private statusOf(batch: Batch): BatchStatus {
    const prompts: PromptStatus[] = batch.jobKeys.map((key) => {
      const job = this.jobs.get(key)!;
      return {
        graphId: job.data.graphId,
        prompt: job.data.prompt,
        state: job.state,
        attempts: job.attempts,
        progress: job.progress,
        error: job.error,
      };
    });
    return summarizeBatch(batch.spec.id, batch.spec.model, prompts, batch.cancelled);
  }

  private pump(): void {
    while (!this.closed && this.running.size < this.concurrency && this.waiting.length > 0) {
      const job = this.waiting.shift()!;
      const run = this.execute(job).finally(() => {
        this.running.delete(run);
        this.pump();
      });
      this.running.add(run);
    }
  }

  private async execute(job: Job): Promise<void> {
    const abort = new AbortController();
    Object.assign(job, { state: 'running', progress: 0, abort, attempts: job.attempts + 1 });
    try {
      const trace = await this.options.tracerFor(job.data.model);
      await runBatchPrompt(job.data, this.options.store, trace, {
        signal: abort.signal,
        onProgress: (fraction) => (job.progress = Math.max(job.progress, fraction)),
      });
      Object.assign(job, { state: 'done', progress: 1, error: null });
    } catch (error) {
      const message = (error as Error).message ?? String(error);
      if (abort.signal.aborted) Object.assign(job, { state: 'cancelled', error: 'cancelled' });
      else if (isPermanentError(error) || job.attempts >= job.attemptsAllowed || this.closed)
        Object.assign(job, { state: 'failed', error: message });
      else this.retryLater(job, message);
    } finally {
      job.abort = null;
    }
  }

  private retryLater(job: Job, message: string): void {
    Object.assign(job, { state: 'retrying', error: message, progress: 0 });
    const timer = setTimeout(
      () => {
        this.timers.delete(timer);
        if (job.state !== 'retrying') return; // cancelled meanwhile
        this.waiting.push(job);
        this.pump();
      },
      this.retryDelayMs * 2 ** (job.attempts - 1),
    );
    this.timers.add(timer);
  }
}
