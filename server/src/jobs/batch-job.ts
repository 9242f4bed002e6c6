/**
 * What a worker does with one batch prompt, whichever queue it came from: skip it if its graph is
 * already stored, trace it with the model the worker loaded once, check the target token, and save
 * the graph in one transaction. A try that dies anywhere leaves nothing behind (the save is whole
 * or nothing), and a retry after a save that did commit finds the graph and stores nothing twice.
 */
import type { GraphDocument } from '@circuit-atlas/schema';
import { UserInputError } from '@circuit-atlas/schema';
import type { ReplacementModel } from '@circuit-atlas/tracer';
import type { GraphStore } from '../store/graph-store.js';
import { StoreError } from '../store/store-error.js';
import type { BatchJobData } from './batch.js';

export interface PromptControl {
  /** Aborts the trace (cancellation); the tracer then rejects with a CancelledError. */
  signal: AbortSignal;
  /** 0..1 within this try. */
  onProgress(fraction: number): void;
}

/** Traces one prompt into a graph document with `job.graphId` as its id. */
export type PromptTracer = (job: BatchJobData, control: PromptControl) => Promise<GraphDocument>;

export type PromptOutcome = 'stored' | 'already stored';

/** Errors a retry cannot fix: the prompt, the model or the user's cancel. They fail the prompt at once. */
const PERMANENT_ERRORS = new Set(['UserInputError', 'ModelFormatError', 'CancelledError']);

export function isPermanentError(error: unknown): boolean {
  return error instanceof Error && PERMANENT_ERRORS.has(error.name);
}

/** Rough share of a trace's time per tracer phase, so a job shows one bar. */
const PHASE_SPAN: Record<string, [number, number]> = {
  forward: [0, 0.1],
  logits: [0.1, 0.2],
  features: [0.2, 0.9],
  assemble: [0.9, 1],
};

/** A PromptTracer on a model loaded once: the worker's way to trace (no process per prompt). */
export function modelPromptTracer(model: ReplacementModel): PromptTracer {
  return async (job, control) => {
    const { traceGraph } = await import('@circuit-atlas/tracer');
    const { document } = await traceGraph(model, job.prompt, {
      ...job.settings,
      id: job.graphId,
      signal: control.signal,
      onProgress: ({ phase, fraction }) => {
        const [start, end] = PHASE_SPAN[phase] ?? [0, 0];
        control.onProgress(start + (end - start) * Math.min(1, Math.max(0, fraction)));
      },
    });
    return document;
  };
}

/** The target token must be one of the graph's logit targets, or the graph does not explain it. */
function checkTarget(job: BatchJobData, document: GraphDocument): void {
  if (job.target === null) return;
  // Logit labels read `Output "<token>" (p=…)` (tracer's logitNodeLabel).
  const tokens = document.nodes
    .filter((n) => n.kind === 'logit')
    .map((n) => /^Output "(.*)" \(p=[^)]*\)$/s.exec(n.label)?.[1] ?? n.label);
  if (tokens.includes(job.target) || tokens.some((token) => token.trim() === job.target!.trim())) return;
  throw new UserInputError(
    `target ${JSON.stringify(job.target)} of prompt '${job.graphId}' is not among its top logits ` +
      `(${tokens.map((t) => JSON.stringify(t)).join(', ')}); raise maxNLogits / desiredLogitProb in its settings`,
  );
}

/** Runs one prompt: stores its graph unless it is already stored. */
export async function runBatchPrompt(
  job: BatchJobData,
  store: GraphStore,
  trace: PromptTracer,
  control: PromptControl,
): Promise<PromptOutcome> {
  if ((await store.graphSize(job.graphId)) !== null) return 'already stored';
  const document = await trace(job, control);
  checkTarget(job, document);
  try {
    await store.saveGraph(document);
  } catch (error) {
    // Another worker (or this prompt's earlier try) committed it first: stored once, as asked.
    if (error instanceof StoreError && error.code === 'DUPLICATE') return 'already stored';
    throw error;
  }
  return 'stored';
}

/**
 * A PromptTracer that runs each prompt in a tracer child process (child-runner.ts): what the server
 * uses for its in-process batch queue, so a trace never blocks the API's event loop.
 */
export function childProcessPromptTracer(modelDir: string): PromptTracer {
  return async (job, control) => {
    const { childProcessTraceRunner } = await import('./child-runner.js');
    return childProcessTraceRunner(
      { prompt: job.prompt, modelId: job.model, modelDir, settings: job.settings, graphId: job.graphId },
      { signal: control.signal, onProgress: (_phase, fraction) => control.onProgress(fraction) },
    );
  };
}
