/**
 * The distributed engine: BullMQ on Redis (or Valkey), chosen with ATLAS_QUEUE=redis://…. One
 * BullMQ queue per model; a job per prompt whose BullMQ job id is the graph id, so adding a prompt
 * twice is a no-op; `attempts` with exponential backoff for retries; BullMQ's stalled-job check
 * hands the job of a worker that died (kill -9, lost machine) to another one. A batch is a Redis
 * record listing its job ids; cancelling sets a flag workers read while they trace.
 */
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { UserInputError } from '@circuit-atlas/schema';
import type { GraphStore } from '../store/graph-store.js';
import {
  checkBatchId,
  summarizeBatch,
  type BatchJobData,
  type BatchSpec,
  type BatchStatus,
  type PromptState,
  type PromptStatus,
} from './batch.js';
import { isPermanentError, runBatchPrompt, type PromptOutcome, type PromptTracer } from './batch-job.js';
import type { BatchQueue } from './batch-queue.js';

/** Prefix of every Redis key circuit-atlas writes (BullMQ's and the batch records). */
const PREFIX = 'atlas';
const batchKey = (id: string) => `${PREFIX}:batch:${id}`;
const cancelKey = (id: string) => `${PREFIX}:batch:${id}:cancelled`;
export const queueNameOf = (model: string) => `trace.${model}`;

/** How long a worker's lock on a job lasts without renewal; a dead worker's job moves on after it. */
export const DEFAULT_LOCK_MS = 30_000;
/** First retry waits this long; each next one twice as long. */
const RETRY_BACKOFF_MS = 2000;
const CANCELLED = 'cancelled';

/** Checks ATLAS_QUEUE's form; the URL as given. */
export function checkRedisUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UserInputError(`ATLAS_QUEUE='${url}' is not a URL: give redis://host:port (or leave it unset)`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:')
    throw new UserInputError(`ATLAS_QUEUE='${url}' must start with redis:// or rediss://`);
  return url;
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}

/** A Redis connection as BullMQ needs it: commands wait through a restart instead of failing. */
export function redisConnection(url: string): Redis {
  return new Redis(checkRedisUrl(url), {
    maxRetriesPerRequest: null,
    // Reconnect quickly at first, then every 2 s: a restarted Redis is picked up within seconds.
    retryStrategy: (times) => Math.min(100 * times, 2000),
  });
}

export interface LockOptions {
  /** Job lock duration (ms): a killed worker's job is handed on after about this long. */
  lockMs?: number;
}

interface BatchRecord {
  model: string;
  attempts: number;
  graphIds: string[];
}

export class BullmqBatchQueue implements BatchQueue {
  readonly kind = 'bullmq' as const;
  readonly description: string;
  private readonly redis: Redis;
  private readonly queues = new Map<string, Queue>();

  constructor(readonly url: string) {
    this.redis = redisConnection(url);
    this.description = `BullMQ on ${redactUrl(url)}`;
  }

  private queue(model: string): Queue {
    let queue = this.queues.get(model);
    if (!queue) {
      queue = new Queue(queueNameOf(model), { connection: this.redis, prefix: PREFIX });
      this.queues.set(model, queue);
    }
    return queue;
  }

  async submit(spec: BatchSpec): Promise<BatchStatus> {
    checkBatchId(spec.id);
    const earlier = await this.record(spec.id);
    if (earlier && earlier.model !== spec.model)
      throw new UserInputError(`batch '${spec.id}' was submitted for model '${earlier.model}', not '${spec.model}'`);
    const graphIds = [...new Set([...(earlier?.graphIds ?? []), ...spec.prompts.map((p) => p.graphId)])];
    const record: BatchRecord = { model: spec.model, attempts: spec.attempts, graphIds };
    await this.redis.multi().set(batchKey(spec.id), JSON.stringify(record)).del(cancelKey(spec.id)).exec();
    const queue = this.queue(spec.model);
    const data = spec.prompts.map((prompt): BatchJobData => ({ batchId: spec.id, model: spec.model, ...prompt }));
    // A job id that exists already is not added again (BullMQ): this is what makes re-runs idempotent.
    const jobs = await queue.addBulk(
      data.map((job) => ({
        name: 'trace',
        data: job,
        opts: {
          jobId: job.graphId,
          attempts: spec.attempts,
          backoff: { type: 'exponential', delay: RETRY_BACKOFF_MS },
          removeOnComplete: false,
          removeOnFail: false,
        },
      })),
    );
    // Failed or cancelled prompts of an earlier run are tried again.
    await Promise.all(
      jobs.map(async (job) => {
        if ((await job.getState()) === 'failed')
          await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
      }),
    );
    return (await this.status(spec.id))!;
  }

  private async record(batchId: string): Promise<BatchRecord | null> {
    const text = await this.redis.get(batchKey(batchId));
    return text ? (JSON.parse(text) as BatchRecord) : null;
  }

  async status(batchId: string): Promise<BatchStatus | null> {
    const record = await this.record(batchId);
    if (!record) return null;
    const cancelled = (await this.redis.exists(cancelKey(batchId))) === 1;
    const queue = this.queue(record.model);
    const prompts = await Promise.all(
      record.graphIds.map(async (graphId): Promise<PromptStatus> => {
        // The state first: a job read after its state is seen as failed carries its reason (read the
        // other way round, a job failing in between showed as failed with no reason).
        const jobState = await queue.getJobState(graphId);
        const job = await queue.getJob(graphId);
        if (!job)
          return {
            graphId,
            prompt: '',
            state: cancelled ? 'cancelled' : 'failed',
            attempts: 0,
            progress: 0,
            error: cancelled ? CANCELLED : 'the job is gone from the queue: submit the batch again',
          };
        const state = stateOf(jobState, job);
        return {
          graphId,
          prompt: (job.data as BatchJobData).prompt,
          state,
          attempts: job.attemptsStarted ?? job.attemptsMade,
          progress: state === 'done' ? 1 : typeof job.progress === 'number' ? job.progress : 0,
          error: state === 'failed' || state === 'cancelled' || state === 'retrying' ? job.failedReason || null : null,
        };
      }),
    );
    return summarizeBatch(batchId, record.model, prompts, cancelled);
  }

  async cancel(batchId: string): Promise<BatchStatus | null> {
    const record = await this.record(batchId);
    if (!record) return null;
    await this.redis.set(cancelKey(batchId), '1');
    const queue = this.queue(record.model);
    // Waiting jobs are removed; running ones see the flag and stop (startBullmqWorker).
    await Promise.all(
      record.graphIds.map(async (graphId) => {
        const job = await queue.getJob(graphId);
        if (!job) return;
        const state = await job.getState();
        if (state === 'waiting' || state === 'delayed' || state === 'prioritized') await job.remove().catch(() => {}); // taken by a worker meanwhile: the flag stops it
      }),
    );
    return this.status(batchId);
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((queue) => queue.close()));
    this.redis.disconnect();
  }
}

function stateOf(state: string, job: Job): PromptState {
  switch (state) {
    case 'completed':
      return 'done';
    case 'active':
      return 'running';
    case 'failed':
      return job.failedReason?.startsWith(CANCELLED) ? 'cancelled' : 'failed';
    case 'delayed':
      return job.attemptsMade > 0 ? 'retrying' : 'queued';
    default:
      return 'queued'; // waiting, prioritized, paused, waiting-children
  }
}

export interface WorkerEvents {
  started?(job: BatchJobData, attempt: number): void;
  finished?(job: BatchJobData, outcome: PromptOutcome, ms: number): void;
  failed?(job: BatchJobData, message: string, willRetry: boolean): void;
  error?(error: Error): void;
}

export interface BullmqWorkerOptions extends LockOptions {
  url: string;
  model: string;
  store: GraphStore;
  trace: PromptTracer;
  /** Prompts this worker traces at once (default 1). */
  concurrency?: number;
  events?: WorkerEvents;
}

export interface RunningWorker {
  /** Resolves once the worker listens for jobs. */
  ready: Promise<void>;
  /** Finishes the prompt in hand, then stops. */
  close(): Promise<void>;
}

/** How often a tracing worker looks at its batch's cancel flag. */
const CANCEL_POLL_MS = 500;

/** Takes jobs of `model` from the queue at `url` and stores their graphs in `store`. */
export function startBullmqWorker(options: BullmqWorkerOptions): RunningWorker {
  const lockMs = options.lockMs ?? DEFAULT_LOCK_MS;
  const redis = redisConnection(options.url);
  const events = options.events ?? {};
  const processor = async (job: Job<BatchJobData, PromptOutcome>): Promise<PromptOutcome> => {
    const data = job.data;
    if ((await redis.exists(cancelKey(data.batchId))) === 1)
      throw new UnrecoverableError(`${CANCELLED} before it started`);
    events.started?.(data, job.attemptsStarted ?? job.attemptsMade + 1);
    const start = performance.now();
    const abort = new AbortController();
    const poll = setInterval(() => {
      redis.exists(cancelKey(data.batchId)).then(
        (flag) => flag === 1 && abort.abort(),
        () => {}, // Redis unreachable for a moment: keep tracing
      );
    }, CANCEL_POLL_MS);
    let lastReported = 0;
    try {
      const outcome = await runBatchPrompt(data, options.store, options.trace, {
        signal: abort.signal,
        onProgress: (fraction) => {
          if (fraction - lastReported < 0.05) return; // progress to Redis at 5% steps
          lastReported = fraction;
          job.updateProgress(fraction).catch(() => {});
        },
      });
      events.finished?.(data, outcome, performance.now() - start);
      return outcome;
    } catch (error) {
      const message = (error as Error).message ?? String(error);
      if (abort.signal.aborted) throw new UnrecoverableError(`${CANCELLED} while tracing`);
      // The prompt or the model is at fault: retrying cannot help, so fail it now with the reason.
      if (isPermanentError(error)) throw new UnrecoverableError(message);
      throw error;
    } finally {
      clearInterval(poll);
    }
  };
  const worker = new Worker<BatchJobData, PromptOutcome>(queueNameOf(options.model), processor, {
    connection: redis,
    prefix: PREFIX,
    concurrency: Math.max(1, options.concurrency ?? 1),
    lockDuration: lockMs,
    stalledInterval: Math.max(1000, Math.round(lockMs / 2)),
    // A job whose worker died goes back to the queue; only a job that keeps killing workers fails.
    maxStalledCount: 3,
    autorun: false,
  });
  worker.on('failed', (job, error) => {
    if (!job) return;
    const willRetry = !(error instanceof UnrecoverableError) && job.attemptsMade < (job.opts.attempts ?? 1);
    events.failed?.(job.data, error.message, willRetry);
  });
  worker.on('error', (error) => events.error?.(error));
  void worker.run().catch((error: Error) => events.error?.(error));
  return {
    ready: worker.waitUntilReady().then(() => undefined),
    close: async () => {
      await worker.close();
      redis.disconnect();
    },
  };
}
