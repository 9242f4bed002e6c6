/** What every resolver gets: the shared services, plus per-request state (caller, label loader). */
import type { GraphStore } from '../store/graph-store.js';
import type { ModelCatalog } from '../models/catalog.js';
import type { TraceQueue } from '../jobs/trace-queue.js';
import type { BatchQueue } from '../jobs/batch-queue.js';
import type { Supernode } from '@circuit-atlas/tracer';
import type { InterventionOutcome, NamingRequest, WorkerTask } from '../jobs/worker-protocol.js';
import type { FeatureLabelLoader } from './feature-label-loader.js';
import type { GraphLoaders } from './graph-loaders.js';
import type { NodeIndexCache } from './node-index-cache.js';

export type Intervener = (
  task: Omit<Extract<WorkerTask, { kind: 'intervene' }>, 'kind'>,
) => Promise<InterventionOutcome>;

/** Names automatic supernodes by the contexts they fire in (a tracer process with the model loaded). */
export type SupernodeNamer = (task: Omit<NamingRequest, 'id'>) => Promise<Supernode[]>;

export interface InputLimits {
  /** Longest prompt a trace or intervention accepts, in characters. */
  maxPromptChars: number;
  /** Largest `limit` a paginated field accepts. */
  maxPageSize: number;
  /** Most paths a `paths` query may ask for, and their longest length. */
  maxPaths: number;
  maxPathLength: number;
  maxInterventions: number;
}

export const DEFAULT_INPUT_LIMITS: InputLimits = {
  maxPromptChars: 2000,
  maxPageSize: 500,
  maxPaths: 50,
  maxPathLength: 12,
  maxInterventions: 64,
};

/** Shared by all requests of one server. */
export interface ApiServices {
  store: GraphStore;
  catalog: ModelCatalog;
  queue: TraceQueue;
  /** Batch tracing: in-process, or BullMQ on ATLAS_QUEUE (jobs/open-queue.ts). */
  batches: BatchQueue;
  intervene: Intervener;
  nameSupernodes: SupernodeNamer;
  nodeIndex: NodeIndexCache;
  inputLimits: InputLimits;
}

export interface ApiContext extends ApiServices {
  /** Who is asking, for label authorship (`X-Atlas-Author` header, else 'anonymous'). */
  author: string;
  labels: FeatureLabelLoader;
  /** This request's graph reads: each graph (and its size) read once however often it is asked for. */
  loaders: GraphLoaders;
}
