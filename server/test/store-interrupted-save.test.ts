/**
 * No partial graph: a save interrupted partway leaves no trace of that graph, and the store keeps
 * working. Interruptions are real: a writer process SIGKILLed in the middle of its transaction
 * (SQLite and Neo4j), and the Neo4j driver closed under a running save. "No trace" is checked on
 * what is physically stored (raw SQL / Cypher counts), not only through the store's API.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, connect, type Socket } from 'node:net';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import neo4j from 'neo4j-driver';
import Database from 'better-sqlite3';
import { neo4jUri } from '../../test-support/neo4j.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { Neo4jStore } from '../src/store/neo4j/neo4j-store.js';
import { StoreError } from '../src/store/store-error.js';
import { randomGraph } from '../../test-support/graph-generator.js';

const RUN = `is${Date.now().toString(36)}`;
const tempDir = mkdtempSync(join(tmpdir(), 'atlas-store-interrupt-'));
afterAll(() => rmSync(tempDir, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Starts store-writer-process.ts; resolves once it says SAVING (its graph is generated, the save begins). */
async function startWriter(args: string[]): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(import.meta.dirname, 'store-writer-process.ts'), ...args],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  await waitFor(() => output.includes('SAVING') || child.exitCode !== null, 'the writer to start saving');
  if (!output.includes('SAVING')) throw new Error(`the writer process failed before saving:\n${output}`);
  return { child, output: () => output };
}

async function killAndWait(child: ChildProcess): Promise<NodeJS.Signals | null> {
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.once('exit', (_code, signal) => resolve(signal)),
  );
  child.kill('SIGKILL');
  return exited;
}

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

describe('a save interrupted partway leaves no trace', () => {
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
    const { child, output } = await startWriter(['sqlite', file, big, '20000', '400000', model]);
    // Uncommitted pages spill into the WAL as the transaction grows: 8 MB of it means we are mid-write.
    await waitFor(() => existsSync(`${file}-wal`) && statSync(`${file}-wal`).size > 8 * 2 ** 20, 'the WAL to grow');
    const signal = await killAndWait(child);
    expect(signal).toBe('SIGKILL');
    expect(output()).not.toContain('SAVED');

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
    const { child, output } = await startWriter(['neo4j', neo4jUri(), big, '3000', '40000', model]);
    // Kill once the transaction is writing edges: its nodes and features are already created in it.
    await waitFor(async () => /:EDGE/.test((await savingQuery(big)) ?? ''), 'the save to be writing edges');
    const signal = await killAndWait(child);
    expect(signal).toBe('SIGKILL');
    expect(output()).not.toContain('SAVED');
    // The server notices the dropped connection and rolls the transaction back.
    await waitFor(async () => (await savingQuery(big)) === null, 'Neo4j to end the orphaned transaction');
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
    const graph = randomGraph({
      id: `${RUN}-dropped`,
      seed: 4,
      nodes: 3000,
      edges: 40000,
      nLayers: 12,
      nPos: 24,
      featurePool: 2000,
      model,
    });
    const store = new Neo4jStore({ uri: neo4jUri(), batchSize: 2000 });
    await store.init();
    const saving = store.saveGraph(graph).then(
      () => 'saved',
      (error: unknown) => error,
    );
    await waitFor(async () => /:EDGE/.test((await savingQuery(graph.id)) ?? ''), 'the save to be writing edges');
    await store.close(); // drops every connection, the one carrying the open transaction included
    const error = await saving;
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).code).toBe('UNAVAILABLE');
    expect((error as StoreError).message).toMatch(/closed during the save \(nothing was stored\)/);
    await waitFor(async () => (await savingQuery(graph.id)) === null, 'Neo4j to end the orphaned transaction');
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
    const graph = randomGraph({
      id: `${RUN}-cut`,
      seed: 6,
      nodes: 3000,
      edges: 40000,
      nLayers: 12,
      nPos: 24,
      featurePool: 2000,
      model,
    });
    const store = new Neo4jStore({ uri: relayUri, batchSize: 2000 });
    try {
      await store.init();
      const saving = store.saveGraph(graph).then(
        () => 'saved',
        (error: unknown) => error,
      );
      await waitFor(async () => /:EDGE/.test((await savingQuery(graph.id)) ?? ''), 'the save to be writing edges');
      for (const socket of sockets) socket.destroy();
      const error = await saving;
      expect(error).toBeInstanceOf(StoreError);
      expect((error as StoreError).code).toBe('UNAVAILABLE');
      expect((error as StoreError).message).toMatch(/saving graph '.*' \(nothing was stored\) failed/);
      await waitFor(async () => (await savingQuery(graph.id)) === null, 'Neo4j to end the orphaned transaction');
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
