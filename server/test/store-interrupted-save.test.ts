/**
 * No partial graph: a save interrupted partway leaves no trace of that graph, and the store keeps
 * working. Interruptions are real: a writer process SIGKILLed in the middle of its transaction
 * (SQLite and Neo4j), the Neo4j driver closed under a running save, the network cut under one.
 * "No trace" is checked on what is physically stored (raw SQL / Cypher counts), not only through
 * the store's API.
 *
 * Every step waits on an event, never on the clock: the writer process pauses inside its
 * transaction and says so, in-process saves are interrupted from their own progress report, and
 * the end of an orphaned Neo4j transaction is awaited however long the server takes to notice.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createServer, connect, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import neo4j from 'neo4j-driver';
import Database from 'better-sqlite3';
import { neo4jUri } from '../../test-support/neo4j.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { Neo4jStore } from '../src/store/neo4j/neo4j-store.js';
import { StoreError } from '../src/store/store-error.js';
import { randomGraph } from '../../test-support/graph-generator.js';
import { killWriter, startWriter } from './store-writer-control.js';

const RUN = `is${Date.now().toString(36)}`;
const tempDir = mkdtempSync(join(tmpdir(), 'atlas-store-interrupt-'));
afterAll(() => rmSync(tempDir, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A graph whose Neo4j save is still running when the test interrupts it (a first report on edges). */
const largeNeo4jGraph = (id: string, seed: number, model: string) =>
  randomGraph({ id, seed, nodes: 3000, edges: 40000, nLayers: 12, nPos: 24, featurePool: 2000, model });

/** Waits until `condition` holds, however long that takes (the test's own limit is only a hang guard). */
async function until(condition: () => Promise<boolean>): Promise<void> {
  while (!(await condition())) await sleep(20);
}

// A hang guard, not a pace: each test waits on events, and a loaded machine only makes them later.
const HANG_GUARD_MS = 15 * 60_000;

function sqliteRowCounts(file: string) {
  const db = new Database(file, { readonly: true });
  try {
    const count = (table: string) => (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
    return { graphs: count('graphs'), nodes: count('nodes'), edges: count('edges'), features: count('features') };
  } finally {
    db.close();
  }
}

/** What Neo4j physically holds of a graph and of its (run-unique) model's features. */
async function neo4jTrace(graphId: string, model: string) {
  const driver = neo4j.driver(neo4jUri(), undefined, { disableLosslessIntegers: true });
  try {
    const { records } = await driver.executeQuery(
      `CALL { MATCH (g:Graph {id: $graphId}) RETURN count(g) AS graphs }
       CALL { MATCH (n:Node {graphId: $graphId}) RETURN count(n) AS nodes }
       CALL { MATCH (f:Feature {model: $model}) RETURN count(f) AS features }
       RETURN graphs, nodes, features`,
      { graphId, model },
    );
    return records[0].toObject() as { graphs: number; nodes: number; features: number };
  } finally {
    await driver.close();
  }
}

/** The query a Neo4j transaction saving `graphId` is running now ('' between statements), or null if none is open. */
async function savingQuery(graphId: string): Promise<string | null> {
  const driver = neo4j.driver(neo4jUri());
  try {
    const { records } = await driver.executeQuery(
      'SHOW TRANSACTIONS YIELD metaData, currentQuery WHERE metaData.savingGraph = $graphId RETURN currentQuery',
      { graphId },
    );
    return records.length === 0 ? null : String(records[0].get('currentQuery') ?? '');
  } finally {
    await driver.close();
  }
}

describe('a save interrupted partway leaves no trace', { timeout: HANG_GUARD_MS }, () => {
  it('SQLite: the writer process killed in the middle of its transaction', async () => {
    const file = join(tempDir, 'killed.sqlite');
    const model = `${RUN}-sqlite-killed`;
    const store = new SqliteStore(file);
    await store.init();
    const survivor = randomGraph({ id: `${RUN}-survivor`, seed: 1, nodes: 200, edges: 1500 });
    await store.saveGraph(survivor);
    await store.close(); // the last connection checkpoints and removes the WAL: it starts empty
    const before = sqliteRowCounts(file);

    const big = `${RUN}-big`;
    // The writer stops inside its transaction, its nodes and first edges written, holding the write lock.
    const writer = startWriter(['sqlite', file, big, '5000', '60000', model, 'pause']);
    await writer.said('PAUSED');
    expect(sqliteRowCounts(file)).toEqual(before); // a reader meanwhile sees only what was committed
    expect(await killWriter(writer)).toBe('SIGKILL');
    expect(writer.output()).not.toContain('SAVED');

    expect(sqliteRowCounts(file)).toEqual(before);
    const reopened = new SqliteStore(file);
    await reopened.init();
    try {
      expect(await reopened.getGraph(big)).toBeNull();
      expect((await reopened.listGraphs({ limit: 100 })).items.map((g) => g.id)).toEqual([survivor.id]);
      expect((await reopened.getGraph(survivor.id))?.edges.length).toBe(survivor.edges.length);
      // The store keeps working, and the interrupted id is free.
      const retry = randomGraph({ id: big, seed: 2, nodes: 300, edges: 2000, model });
      await reopened.saveGraph(retry);
      expect((await reopened.getGraph(big))?.nodes.length).toBe(retry.nodes.length);
    } finally {
      await reopened.close();
    }
  });

  it('Neo4j: the writer process killed in the middle of its transaction', async () => {
    const model = `${RUN}-neo4j-killed`;
    const big = `${RUN}-neo4j-big`;
    // The writer stops inside its transaction once its nodes, features and first edges are created in it.
    const writer = startWriter(['neo4j', neo4jUri(), big, '3000', '40000', model, 'pause']);
    await writer.said('PAUSED');
    expect(await savingQuery(big)).not.toBeNull(); // the transaction is open on the server
    expect(await killWriter(writer)).toBe('SIGKILL');
    expect(writer.output()).not.toContain('SAVED');
    // The server notices the dropped connection and rolls the transaction back.
    await until(async () => (await savingQuery(big)) === null);
    expect(await neo4jTrace(big, model)).toEqual({ graphs: 0, nodes: 0, features: 0 });

    const store = new Neo4jStore({ uri: neo4jUri() });
    await store.init();
    try {
      expect(await store.getGraph(big)).toBeNull();
      const retry = randomGraph({ id: big, seed: 3, nodes: 200, edges: 1000, model });
      await store.saveGraph(retry);
      expect((await store.getGraph(big))?.edges.length).toBe(retry.edges.length);
      expect(await store.deleteGraph(big)).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('Neo4j: the driver closed while a save is running', async () => {
    const model = `${RUN}-neo4j-dropped`;
    const graph = largeNeo4jGraph(`${RUN}-dropped`, 4, model);
    const store = new Neo4jStore({ uri: neo4jUri(), batchSize: 2000 });
    await store.init();
    // Closed from the save's own first report on edges: its nodes and features are created in the transaction.
    let closing: Promise<void> | null = null;
    const error = await store
      .saveGraph(graph, {
        onProgress: ({ phase }) => {
          if (phase === 'edges') closing ??= store.close(); // drops every connection, the transaction's included
        },
      })
      .then(
        () => 'saved',
        (failure: unknown) => failure,
      );
    expect(closing).not.toBeNull();
    await closing;
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).code).toBe('UNAVAILABLE');
    expect((error as StoreError).message).toMatch(/closed during the save \(nothing was stored\)/);
    await until(async () => (await savingQuery(graph.id)) === null);
    expect(await neo4jTrace(graph.id, model)).toEqual({ graphs: 0, nodes: 0, features: 0 });

    const again = new Neo4jStore({ uri: neo4jUri() });
    await again.init();
    try {
      const small = { ...randomGraph({ id: graph.id, seed: 5, nodes: 150, edges: 800, model }) };
      await again.saveGraph(small);
      expect((await again.getGraph(graph.id))?.nodes.length).toBe(small.nodes.length);
      expect(await again.deleteGraph(graph.id)).toBe(true);
    } finally {
      await again.close();
    }
  });

  it('Neo4j: the network connection dropped in the middle of the transaction', async () => {
    // A TCP relay between the driver and Neo4j that the test cuts, as a failing network would.
    const target = new URL(neo4jUri());
    const sockets = new Set<Socket>();
    const relay = createServer((client) => {
      const server = connect(Number(target.port), target.hostname);
      client.pipe(server).pipe(client);
      for (const socket of [client, server]) {
        sockets.add(socket);
        socket.on('error', () => {});
        socket.on('close', () => sockets.delete(socket));
      }
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const relayUri = `bolt://127.0.0.1:${(relay.address() as { port: number }).port}`;
    const model = `${RUN}-neo4j-cut`;
    const graph = largeNeo4jGraph(`${RUN}-cut`, 6, model);
    const store = new Neo4jStore({ uri: relayUri, batchSize: 2000 });
    try {
      await store.init();
      // Cut from the save's own first report on edges: the transaction holds its nodes and first edges.
      let cut = false;
      const error = await store
        .saveGraph(graph, {
          onProgress: ({ phase }) => {
            if (phase !== 'edges' || cut) return;
            cut = true;
            for (const socket of sockets) socket.destroy();
          },
        })
        .then(
          () => 'saved',
          (failure: unknown) => failure,
        );
      expect(cut).toBe(true);
      expect(error).toBeInstanceOf(StoreError);
      expect((error as StoreError).code).toBe('UNAVAILABLE');
      expect((error as StoreError).message).toMatch(/saving graph '.*' \(nothing was stored\) failed/);
      await until(async () => (await savingQuery(graph.id)) === null);
      expect(await neo4jTrace(graph.id, model)).toEqual({ graphs: 0, nodes: 0, features: 0 });
      // The same store object recovers once the network is back (the relay still accepts connections).
      const small = randomGraph({ id: graph.id, seed: 7, nodes: 150, edges: 800, model });
      await store.saveGraph(small);
      expect((await store.getGraph(graph.id))?.edges.length).toBe(small.edges.length);
      expect(await store.deleteGraph(graph.id)).toBe(true);
    } finally {
      await store.close();
      relay.close();
    }
  });
});
