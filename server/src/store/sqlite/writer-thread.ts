/**
 * The SQLite store's writer thread: one connection that does every write of its SqliteStore, one
 * request at a time, so a long transaction or a wait for another process's lock (busy timeout)
 * never stops the main thread, which keeps reading through its own connection (WAL).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { StoreError } from '../store-error.js';
import { openConnection } from './connection.js';
import { WriteTransactions } from './write-transactions.js';
import type { FromWriter, ToWriter, WriteRequest, WriterThreadData } from './writer-protocol.js';

const { path, busyTimeoutMs } = workerData as WriterThreadData;
const port = parentPort!;
const db = openConnection(path, busyTimeoutMs);
const writes = new WriteTransactions(db, path, busyTimeoutMs);

function perform(seq: number, request: WriteRequest): unknown {
  switch (request.op) {
    case 'saveGraph':
      return writes.saveGraph(
        request.graph,
        request.reportProgress
          ? (progress) => port.postMessage({ seq, type: 'progress', progress } satisfies FromWriter)
          : undefined,
      );
    case 'deleteGraph':
      return writes.deleteGraph(request.id);
    case 'setFeatureLabel':
      return writes.setFeatureLabel(request.feature, request.label, request.author, request.updatedAt);
    case 'saveView':
      return writes.saveView(request.view, request.namedIds);
  }
}

port.on('message', (message: ToWriter) => {
  if ('close' in message) {
    db.close();
    port.close();
    return;
  }
  let reply: FromWriter;
  try {
    reply = { seq: message.seq, type: 'done', value: perform(message.seq, message.request) };
  } catch (error) {
    const { name, message: text } = error as Error;
    reply = {
      seq: message.seq,
      type: 'failed',
      error: { name, message: text, code: error instanceof StoreError ? error.code : undefined },
    };
  }
  port.postMessage(reply);
});
