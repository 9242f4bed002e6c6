/**
 * Messages between the server and a tracer child process (child-runner.ts ⇄ trace-worker.ts).
 * One task per child: the parent sends it, the child answers with progress and one result.
 */
import type { GraphDocument } from '@circuit-atlas/schema';
import type { Supernode } from '@circuit-atlas/tracer';
import type { TraceSettings } from './trace-queue.js';

export interface FeatureInterventionSpec {
  layer: number;
  /** Token position (BOS = 0). */
  position: number;
  feature: number;
  mode: 'set' | 'scale';
  value: number;
}

export interface LogitProbability {
  token: string;
  tokenId: number;
  probability: number;
}

export interface InterventionOutcome {
  before: LogitProbability[];
  after: LogitProbability[];
}

export type WorkerTask =
  | { kind: 'trace'; modelDir: string; prompt: string; settings: TraceSettings; graphId: string }
  | {
      kind: 'intervene';
      modelDir: string;
      prompt: string;
      interventions: FeatureInterventionSpec[];
      frozenAttention: boolean;
      topK: number;
    }
  /** Names supernodes found on `graph` by the contexts of the model's dashboards (supernode-contexts.ts). */
  | { kind: 'name-supernodes'; modelDir: string; graph: GraphDocument; supernodes: Supernode[] };

export type WorkerMessage =
  | { type: 'progress'; phase: string; fraction: number }
  | { type: 'trace-done'; document: GraphDocument }
  | { type: 'intervene-done'; outcome: InterventionOutcome }
  | { type: 'names-done'; supernodes: Supernode[] }
  /** `name` keeps the error type (UserInputError, ModelFormatError, ...) across the process boundary. */
  | { type: 'error'; name: string; message: string };
