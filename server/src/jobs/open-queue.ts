/**
 * Picks the batch queue from the environment (DESIGN.md, decision 11): ATLAS_QUEUE=redis://… is
 * BullMQ on that Redis; unset, the queue lives in this process and needs no setup.
 */
import { UserInputError } from '@circuit-atlas/schema';
import type { GraphStore } from '../store/graph-store.js';
import type { PromptTracer } from './batch-job.js';
import { InProcessBatchQueue, type BatchQueue } from './batch-queue.js';
import { BullmqBatchQueue, checkRedisUrl, DEFAULT_LOCK_MS } from './bullmq-queue.js';

/** ATLAS_QUEUE, checked: the Redis URL, or null for the in-process queue. */
export function queueUrlFromEnv(env: NodeJS.ProcessEnv = process.env): string | null {
  const url = env.ATLAS_QUEUE;
  return url === undefined || url === '' ? null : checkRedisUrl(url);
}

/** ATLAS_QUEUE_LOCK_MS: how long before a dead worker's job is handed on (default 30 s). */
export function lockMsFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.ATLAS_QUEUE_LOCK_MS;
  if (raw === undefined || raw === '') return DEFAULT_LOCK_MS;
  const ms = Number(raw);
  if (!Number.isInteger(ms) || ms < 1000)
    throw new UserInputError(`ATLAS_QUEUE_LOCK_MS must be whole milliseconds ≥ 1000, got '${raw}'`);
  return ms;
}

export interface OpenBatchQueueOptions {
  store: GraphStore;
  /** Tracer of a model id, for the in-process queue (BullMQ's workers bring their own). */
  tracerFor(model: string): Promise<PromptTracer>;
  env?: NodeJS.ProcessEnv;
}

export function openBatchQueue(options: OpenBatchQueueOptions): BatchQueue {
  const url = queueUrlFromEnv(options.env);
  return url
    ? new BullmqBatchQueue(url)
    : new InProcessBatchQueue({ store: options.store, tracerFor: options.tracerFor });
}
