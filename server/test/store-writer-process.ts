/**
 * A writer process for the store fault and concurrency tests: generates a big random graph, says
 * SAVING on stdout, saves it, says SAVED. With `pause`, it stops inside its save transaction once
 * the first edges are written, says PAUSED, and waits there (holding SQLite's write lock, or an
 * open Neo4j transaction) until a line or end of input arrives on stdin; the tests kill it there,
 * or let it go on. The pause blocks the whole thread, so for SQLite the store writes inline.
 * Usage: node --import tsx server/test/store-writer-process.ts sqlite <file> <graphId> <nodes> <edges> <model> [pause]
 *        node --import tsx server/test/store-writer-process.ts neo4j <boltUri> <graphId> <nodes> <edges> <model> [pause]
 */
import { readSync, writeSync } from 'node:fs';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { Neo4jStore } from '../src/store/neo4j/neo4j-store.js';
import type { SaveProgress } from '../src/store/graph-store.js';
import { randomGraph } from '../../test-support/graph-generator.js';

const [kind, target, graphId, nodes, edges, model, mode] = process.argv.slice(2);
const pause = mode === 'pause';
const graph = randomGraph({
  id: graphId,
  seed: 99,
  nodes: Number(nodes),
  edges: Number(edges),
  nLayers: 12,
  nPos: 24,
  model,
  featurePool: 2000,
});

/** Blocks this thread until stdin has a byte or is closed. */
function waitForStdin(): void {
  const byte = Buffer.alloc(1);
  const idle = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      readSync(0, byte, 0, 1, null);
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== 'EAGAIN') throw error;
      Atomics.wait(idle, 0, 0, 20); // a non-blocking pipe with nothing in it yet
    }
  }
}

let paused = false;
const onProgress = (progress: SaveProgress) => {
  if (!pause || paused || progress.phase !== 'edges') return;
  paused = true;
  writeSync(1, 'PAUSED\n');
  waitForStdin();
};

const store =
  kind === 'sqlite'
    ? new SqliteStore(target, { writer: pause ? 'inline' : 'thread' })
    : new Neo4jStore({ uri: target, batchSize: 2000 });
await store.init();
writeSync(1, 'SAVING\n');
await store.saveGraph(graph, { onProgress });
writeSync(1, 'SAVED\n');
await store.close();
