/**
 * The one writer of a SqliteStore: writes queue behind each other (a promise chain), so a store
 * never has two write transactions of its own competing for SQLite's single write lock. For a file
 * they run in a writer thread (writer-thread.ts), started at the first write; for ':memory:', which
 * a second connection cannot see, they run inline on the store's own connection.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import type { SaveProgress } from '../graph-store.js';
import { StoreError } from '../store-error.js';
import { WriteTransactions } from './write-transactions.js';
import type { FromWriter, ToWriter, WriteRequest, WriterThreadData } from './writer-protocol.js';

export interface Writer {
  write<T>(request: WriteRequest, onProgress?: (progress: SaveProgress) => void): Promise<T>;
  /** Waits for the queued writes, then stops. */
  close(): Promise<void>;
}

/** Serialises the writes of one store. */
class WriteQueue {
  private tail: Promise<unknown> = Promise.resolve();

  enqueue<T>(work: () => Promise<T> | T): Promise<T> {
    const result = this.tail.then(work);
    this.tail = result.catch(() => {}); // a failed write does not stop the ones queued after it
    return result;
  }

  drained(): Promise<unknown> {
    return this.tail;
  }
}

/** Writes on the caller's connection, in the caller's thread. */
export class InlineWriter implements Writer {
  private readonly queue = new WriteQueue();
  private readonly writes: WriteTransactions;

  constructor(db: Database.Database, path: string, busyTimeoutMs: number) {
    this.writes = new WriteTransactions(db, path, busyTimeoutMs);
  }

  write<T>(request: WriteRequest, onProgress?: (progress: SaveProgress) => void): Promise<T> {
    return this.queue.enqueue(() => {
      switch (request.op) {
        case 'saveGraph':
          return this.writes.saveGraph(request.graph, onProgress) as T;
        case 'deleteGraph':
          return this.writes.deleteGraph(request.id) as T;
        case 'setFeatureLabel':
          return this.writes.setFeatureLabel(request.feature, request.label, request.author, request.updatedAt) as T;
        case 'saveView':
          return this.writes.saveView(request.view, request.namedIds) as T;
      }
    });
  }

  async close(): Promise<void> {
    await this.queue.drained();
  }
}

/** tsx's ESM API, by absolute path: the writer thread is TypeScript, and workers do not inherit --import. */
function tsxApiUrl(): string {
  const require = createRequire(import.meta.url);
  const packageJson = require.resolve('tsx/package.json');
  const exports = (require(packageJson) as { exports: Record<string, { import: { default: string } }> }).exports;
  return pathToFileURL(join(dirname(packageJson), exports['./esm/api'].import.default)).href;
}

const THREAD_ENTRY = new URL('./writer-thread.ts', import.meta.url);

function revive(error: { name: string; code?: StoreError['code']; message: string }): Error {
  if (error.name === 'StoreError' && error.code) return new StoreError(error.code, error.message);
  return Object.assign(new Error(error.message), { name: error.name });
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  onProgress?: (progress: SaveProgress) => void;
}

/** Writes in a worker thread with its own connection to the file. */
export class ThreadWriter implements Writer {
  private readonly queue = new WriteQueue();
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextSeq = 0;

  constructor(
    private readonly path: string,
    private readonly busyTimeoutMs: number,
  ) {}

  private thread(): Worker {
    if (this.worker) return this.worker;
    if (!existsSync(this.path)) {
      throw new StoreError('UNAVAILABLE', `the SQLite database ${this.path} is gone: was it deleted while open?`);
    }
    // An eval'd bootstrap registers tsx in the new thread, then loads the TypeScript entry.
    const bootstrap = `import(${JSON.stringify(tsxApiUrl())}).then((tsx) => { tsx.register(); return import(${JSON.stringify(THREAD_ENTRY.href)}); })`;
    const worker = new Worker(bootstrap, {
      eval: true,
      workerData: { path: this.path, busyTimeoutMs: this.busyTimeoutMs } satisfies WriterThreadData,
    });
    worker.on('message', (message: FromWriter) => {
      const pending = this.pending.get(message.seq);
      if (!pending) return;
      if (message.type === 'progress') {
        pending.onProgress?.(message.progress);
        return;
      }
      this.pending.delete(message.seq);
      if (this.pending.size === 0) worker.unref(); // an idle writer does not keep the process alive
      if (message.type === 'done') pending.resolve(message.value);
      else pending.reject(revive(message.error));
    });
    const fail = (error: Error) => {
      if (this.worker !== worker) return; // 'exit' after 'error', or a thread already replaced
      this.worker = null; // the next write starts a new thread
      for (const pending of this.pending.values()) pending.reject(error);
      this.pending.clear();
    };
    worker.on('error', (error: Error) =>
      fail(new StoreError('UNAVAILABLE', `the SQLite writer thread for ${this.path} failed: ${error.message}`)),
    );
    worker.on('exit', (code) =>
      fail(new StoreError('UNAVAILABLE', `the SQLite writer thread for ${this.path} stopped (exit ${code})`)),
    );
    worker.unref();
    this.worker = worker;
    return worker;
  }

  write<T>(request: WriteRequest, onProgress?: (progress: SaveProgress) => void): Promise<T> {
    return this.queue.enqueue(
      () =>
        new Promise<T>((resolve, reject) => {
          const worker = this.thread();
          const seq = this.nextSeq++;
          try {
            worker.postMessage({ seq, request } satisfies ToWriter);
          } catch (error) {
            // Not structured-cloneable (a function, a symbol): not a document either.
            throw new StoreError('INVALID', `the ${request.op} request cannot be stored: ${(error as Error).message}`);
          }
          this.pending.set(seq, { resolve: resolve as (value: unknown) => void, reject, onProgress });
          worker.ref();
        }),
    );
  }

  async close(): Promise<void> {
    await this.queue.drained();
    const worker = this.worker;
    if (!worker) return;
    this.worker = null;
    worker.removeAllListeners('exit');
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.ref(); // keep the process alive until the thread has closed its connection
    worker.postMessage({ close: true } satisfies ToWriter);
    await exited;
  }
}
