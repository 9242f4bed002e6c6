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
    };

export type WorkerMessage =
  | { type: 'progress'; phase: string; fraction: number }
  | { type: 'trace-done'; document: GraphDocument }
  | { type: 'intervene-done'; outcome: InterventionOutcome }
  /** `name` keeps the error type (UserInputError, ModelFormatError, ...) across the process boundary. */
  | { type: 'error'; name: string; message: string };

/** To the naming worker (naming-worker.ts): name supernodes found on `graph` by the model's dashboard contexts. */
export interface NamingRequest {
  id: number;
  modelDir: string;
  graph: GraphDocument;
  supernodes: Supernode[];
}

export type NamingReply =
  { id: number; supernodes: Supernode[] } | { id: number; error: { name: string; message: string } };
