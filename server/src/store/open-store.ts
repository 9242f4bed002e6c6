/**
 * Picks and opens the GraphStore from the environment (DESIGN.md, decision 5): Neo4j when
 * NEO4J_URI is set (NEO4J_USER / NEO4J_PASSWORD optional), otherwise the embedded SQLite file at
 * ATLAS_DB (default ./data/atlas.sqlite, its folder created). The store is initialised on return.
 */
import { resolve } from 'node:path';
import type { GraphStore } from './graph-store.js';
import { Neo4jStore } from './neo4j/neo4j-store.js';
import { SqliteStore } from './sqlite/sqlite-store.js';

export const DEFAULT_SQLITE_PATH = './data/atlas.sqlite';

export async function openStore(env: NodeJS.ProcessEnv = process.env): Promise<GraphStore> {
  const store: GraphStore = env.NEO4J_URI
    ? new Neo4jStore({ uri: env.NEO4J_URI, user: env.NEO4J_USER || undefined, password: env.NEO4J_PASSWORD })
    : new SqliteStore(resolve(env.ATLAS_DB || DEFAULT_SQLITE_PATH));
  try {
    await store.init();
  } catch (error) {
    await store.close().catch(() => {});
    throw error;
  }
  return store;
}

/** A one-line description of where the store lives, for CLI and server messages. */
export function describeStore(store: GraphStore): string {
  if (store instanceof Neo4jStore) return `Neo4j at ${store.options.uri}`;
  if (store instanceof SqliteStore) return `SQLite at ${store.path}`;
  return store.kind;
}
