/**
 * openStore picks the store from the environment, and the SQLite schema is versioned: migrations
 * run once, a reopened file is left as it is, and a file from a newer circuit-atlas is refused.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { neo4jUri } from '../../test-support/neo4j.js';
import { describeStore, openStore } from '../src/store/open-store.js';
import { MIGRATIONS } from '../src/store/sqlite/migrations.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { StoreError } from '../src/store/store-error.js';
import { randomGraph } from '../../test-support/graph-generator.js';

const tempDir = mkdtempSync(join(tmpdir(), 'atlas-store-open-'));
afterAll(() => rmSync(tempDir, { recursive: true, force: true }));

describe('openStore', () => {
  it('opens SQLite at ATLAS_DB, creating its folder, when NEO4J_URI is not set', async () => {
    const file = join(tempDir, 'nested', 'deeper', 'atlas.sqlite');
    const store = await openStore({ ATLAS_DB: file });
    try {
      expect(store.kind).toBe('sqlite');
      expect(describeStore(store)).toBe(`SQLite at ${file}`);
      expect(existsSync(file)).toBe(true);
      await store.saveGraph(randomGraph({ id: 'open-1', seed: 1, nodes: 100, edges: 300 }));
    } finally {
      await store.close();
    }
    const db = new Database(file, { readonly: true });
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.prepare('SELECT version FROM schema_version').pluck().get()).toBe(MIGRATIONS.length);
    } finally {
      db.close();
    }
  });

  it('opens Neo4j when NEO4J_URI is set (bolt:// or routing neo4j://), and says clearly when it cannot be reached', async () => {
    const store = await openStore({ NEO4J_URI: neo4jUri() });
    try {
      expect(store.kind).toBe('neo4j');
      expect(describeStore(store)).toBe(`Neo4j at ${neo4jUri()}`);
    } finally {
      await store.close();
    }
    // A routing URI (neo4j://): the driver fetches a routing table, reads go to readers as read transactions.
    const routingUri = neo4jUri().replace(/^bolt:/, 'neo4j:');
    const routed = await openStore({ NEO4J_URI: routingUri });
    try {
      const graph = randomGraph({ id: `routed-${Date.now().toString(36)}`, seed: 3, nodes: 100, edges: 400 });
      await routed.saveGraph(graph);
      expect(await routed.getGraph(graph.id)).toEqual(graph);
      expect(await routed.deleteGraph(graph.id)).toBe(true);
      expect(describeStore(routed)).toBe(`Neo4j at ${routingUri}`);
    } finally {
      await routed.close();
    }
    const error = await openStore({ NEO4J_URI: 'bolt://127.0.0.1:1' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).code).toBe('UNAVAILABLE');
    expect((error as StoreError).message).toMatch(
      /cannot reach Neo4j at bolt:\/\/127\.0\.0\.1:1 .*start it \(npm run neo4j\) or fix NEO4J_URI/,
    );
  });
});

describe('the SQLite schema version', () => {
  it('keeps data across reopening and refuses a database from a newer circuit-atlas', async () => {
    const file = join(tempDir, 'versioned.sqlite');
    const first = new SqliteStore(file);
    await first.init();
    await first.saveGraph(randomGraph({ id: 'kept', seed: 2, nodes: 100, edges: 300 }));
    await first.close();
    const second = new SqliteStore(file);
    await second.init();
    expect((await second.getGraph('kept'))?.edges.length).toBe(300);
    await second.close();

    const db = new Database(file);
    db.prepare('UPDATE schema_version SET version = ?').run(MIGRATIONS.length + 1);
    db.close();
    const newer = new SqliteStore(file);
    const error = await newer.init().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).message).toMatch(
      new RegExp(
        `schema version ${MIGRATIONS.length + 1} but this circuit-atlas knows only ${MIGRATIONS.length}: upgrade`,
      ),
    );
  });
});
