/** Messages between SqliteStore and its writer thread (writer-thread.ts). */
import type { GraphDocument } from '@circuit-atlas/schema';
import type { FeatureKey, SaveProgress, SavedView } from '../graph-store.js';
import type { StoreErrorCode } from '../store-error.js';

/** What the writer thread does: each a method of WriteTransactions, with its arguments. */
export type WriteRequest =
  | { op: 'saveGraph'; graph: GraphDocument; reportProgress: boolean }
  | { op: 'deleteGraph'; id: string }
  | { op: 'setFeatureLabel'; feature: FeatureKey; label: string; author: string; updatedAt: string }
  | { op: 'saveView'; view: SavedView; namedIds: string[] };

export interface WriterThreadData {
  path: string;
  busyTimeoutMs: number;
}

export type ToWriter = { seq: number; request: WriteRequest } | { close: true };

export type FromWriter =
  | { seq: number; type: 'progress'; progress: SaveProgress }
  | { seq: number; type: 'done'; value: unknown }
  | { seq: number; type: 'failed'; error: { name: string; code?: StoreErrorCode; message: string } };
