/**
 * SQLite writes queue behind each other, and reads never wait on a writer:
 * - two processes importing large graphs into one file at once both succeed;
 * - while another process holds the write lock in the middle of a large save, the server answers
 *   reads over HTTP, its own write waits without stopping it, and completes once the lock is free;
 * - a write that waits longer than the busy timeout fails with a message that says what to do;
 * - many writes started at once from one store all succeed, one after another.
 * The other writer is a real process (store-writer-process.ts) paused inside its transaction, so
 * "during the write" is a fact each test arranges, not a matter of timing.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { StoreError } from '../src/store/store-error.js';
import { startServer } from '../src/app.js';
import { ModelCatalog } from '../src/models/catalog.js';
import { randomGraph } from '../../test-support/graph-generator.js';
import { gql } from './api-support.js';
import { startWriter } from './store-writer-control.js';

const tempDir = mkdtempSync(join(tmpdir(), 'atlas-sqlite-writers-'));
afterAll(() => rmSync(tempDir, { recursive: true, force: true }));
const FIXTURE_MODELS = fileURLToPath(new URL('../../tracer/test/fixtures/models', import.meta.url));

// A hang guard, not a pace: each step waits on an event, and a loaded machine only makes it later.
const HANG_GUARD_MS = 15 * 60_000;

/** A fresh database file with its schema, and one small committed graph. */
async function freshDatabase(name: string): Promise<string> {
  const file = join(tempDir, `${name}.sqlite`);
  const store = new SqliteStore(file);
  await store.init();
  await store.saveGraph(randomGraph({ id: 'committed', seed: 1, nodes: 120, edges: 600 }));
  await store.close();
  return file;
}

/** Settles to 'pending' while `promise` has not settled (checked after the current tasks run). */
async function stateOf(promise: Promise<unknown>): Promise<'pending' | 'fulfilled' | 'rejected'> {
  const marker = Symbol('pending');
  const outcome = await Promise.race([
    promise.then(
      () => 'fulfilled' as const,
      () => 'rejected' as const,
    ),
    new Promise<symbol>((resolve) => setImmediate(() => resolve(marker))),
  ]);
  return outcome === marker ? 'pending' : (outcome as 'fulfilled' | 'rejected');
}

describe('SQLite writers', { timeout: HANG_GUARD_MS }, () => {
  it('two processes importing large graphs into one file at once both succeed', async () => {
    const file = await freshDatabase('two-imports');
    // The first import stops inside its transaction, holding the write lock, until the second has begun.
    const first = startWriter(['sqlite', file, 'import-a', '20000', '200000', 'model-a', 'pause']);
    await first.said('PAUSED');
    const second = startWriter(['sqlite', file, 'import-b', '20000', '200000', 'model-b']);
    await second.said('SAVING');
    first.resume();
    const [a, b] = await Promise.all([first.exited, second.exited]);
    expect(a, first.output()).toEqual({ code: 0, signal: null });
    expect(b, second.output()).toEqual({ code: 0, signal: null });
    expect(first.output()).toContain('SAVED');
    expect(second.output()).toContain('SAVED');

    const store = new SqliteStore(file);
    await store.init();
    try {
      for (const [id, model] of [
        ['import-a', 'model-a'],
        ['import-b', 'model-b'],
      ]) {
        const expected = randomGraph({
          id,
          seed: 99,
          nodes: 20000,
          edges: 200000,
          nLayers: 12,
          nPos: 24,
          model,
          featurePool: 2000,
        });
        expect(await store.getGraph(id)).toEqual(expected);
      }
    } finally {
      await store.close();
    }
  });

  it('the server answers reads while another process holds the write lock, and its own write waits for it', async () => {
    const file = await freshDatabase('server-during-write');
    const store = new SqliteStore(file);
    await store.init();
    const server = await startServer({ store, catalog: new ModelCatalog(FIXTURE_MODELS) });
    const other = startWriter(['sqlite', file, 'long-import', '20000', '200000', 'model-long', 'pause']);
    try {
      await other.said('PAUSED');
      // A server-side write now has to wait for the lock: in the writer thread, not on the server's.
      const waitingSave = store.saveGraph(randomGraph({ id: 'server-side', seed: 5, nodes: 200, edges: 1500 }));
      const label = store.setFeatureLabel({ model: 'm', transcoderSet: 't', layer: 1, index: 2 }, 'Texas', 'tester');

      const listed = await gql<{ graphs: { total: number; items: { id: string }[] } }>(
        server.url,
        '{ graphs { total items { id } } }',
      );
      expect(listed.errors).toBeUndefined();
      expect(listed.data?.graphs.items.map((g) => g.id)).toEqual(['committed']);
      const graph = await store.getGraph('committed');
      expect(graph?.edges.length).toBe(600);
      expect(await stateOf(waitingSave)).toBe('pending');
      expect(await stateOf(label)).toBe('pending');

      other.resume();
      expect(await other.exited, other.output()).toEqual({ code: 0, signal: null });
      await waitingSave;
      expect((await label).label).toBe('Texas');
      const after = await gql<{ graphs: { items: { id: string }[] } }>(
        server.url,
        '{ graphs(sortBy: prompt, limit: 10) { items { id } } }',
      );
      expect(after.data?.graphs.items.map((g) => g.id).sort()).toEqual(['committed', 'long-import', 'server-side']);
    } finally {
      other.child.kill('SIGKILL');
      await server.close();
      await store.close();
    }
  });

  it('a write that waits longer than the busy timeout says who holds the lock and what to do', async () => {
    const file = await freshDatabase('busy-timeout');
    const other = startWriter(['sqlite', file, 'holder', '5000', '60000', 'model-holder', 'pause']);
    const impatient = new SqliteStore(file, { busyTimeoutMs: 200 });
    await impatient.init();
    try {
      await other.said('PAUSED');
      const error = await impatient
        .saveGraph(randomGraph({ id: 'too-late', seed: 7, nodes: 100, edges: 300 }))
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreError);
      expect((error as StoreError).code).toBe('UNAVAILABLE');
      expect((error as StoreError).message).toBe(
        `saving graph 'too-late': another process kept the SQLite database ${file} locked for writing longer than ` +
          '0.2 s, so nothing was stored; retry once its write has finished, or set ATLAS_DB_BUSY_TIMEOUT_MS to wait longer',
      );
      // Reads went on meanwhile, and the store writes again once the lock is free.
      expect((await impatient.listGraphs()).items.map((g) => g.id)).toEqual(['committed']);
      other.resume();
      expect((await other.exited).code).toBe(0);
      await impatient.saveGraph(randomGraph({ id: 'too-late', seed: 7, nodes: 100, edges: 300 }));
      expect((await impatient.getGraph('too-late'))?.edges.length).toBe(300);
    } finally {
      other.child.kill('SIGKILL');
      await impatient.close();
    }
  });

  it('rejects a busy timeout that is not a number of milliseconds, naming the variable', () => {
    const previous = process.env.ATLAS_DB_BUSY_TIMEOUT_MS;
    process.env.ATLAS_DB_BUSY_TIMEOUT_MS = 'soon';
    try {
      expect(() => new SqliteStore(join(tempDir, 'never.sqlite'))).toThrow(
        'ATLAS_DB_BUSY_TIMEOUT_MS=soon is not valid: give milliseconds, a number ≥ 0',
      );
    } finally {
      if (previous === undefined) delete process.env.ATLAS_DB_BUSY_TIMEOUT_MS;
      else process.env.ATLAS_DB_BUSY_TIMEOUT_MS = previous;
    }
  });

  it('many writes started at once from one store queue and all succeed', async () => {
    const file = await freshDatabase('one-store-many-writes');
    const store = new SqliteStore(file);
    await store.init();
    try {
      const graphs = Array.from({ length: 12 }, (_, i) =>
        randomGraph({ id: `queued-${i}`, seed: 200 + i, nodes: 300, edges: 3000 }),
      );
      const progress: number[] = [];
      const writes = await Promise.allSettled([
        ...graphs.map((graph, i) =>
          store.saveGraph(graph, i === 0 ? { onProgress: (p) => progress.push(p.done) } : {}),
        ),
        ...graphs.map((_, i) =>
          store.setFeatureLabel({ model: 'm', transcoderSet: 't', layer: i, index: i }, `label ${i}`, 'tester'),
        ),
        store.deleteGraph('committed'),
      ]);
      expect(writes.filter((w) => w.status === 'rejected')).toEqual([]);
      expect(progress.at(-1)).toBe(3000);
      const listed = await store.listGraphs({ limit: 100, sortBy: 'prompt' });
      expect(listed.items.map((g) => g.id).sort()).toEqual(graphs.map((g) => g.id).sort());
      for (const graph of graphs) expect(await store.getGraph(graph.id)).toEqual(graph);
      expect((await store.searchFeatureLabels('label', 100)).length).toBe(12);
      // A write after close is refused with a clear message.
      await store.close();
      const refused = await store.saveGraph(graphs[0]).catch((e: unknown) => e);
      expect((refused as StoreError).message).toBe(`the SQLite store at ${file} is not open: call init() first`);
    } finally {
      await store.close();
    }
  });
});
