/**
 * Opens one better-sqlite3 connection the way every SqliteStore connection is opened (the reading
 * one on the main thread and the writing one in the writer thread): WAL journal, so readers never
 * wait on the writer and the writer never waits on readers; foreign keys on; a busy timeout for
 * the lock that writers of other processes hold.
 */
import Database from 'better-sqlite3';
import { StoreError } from '../store-error.js';

export function openConnection(path: string, busyTimeoutMs: number): Database.Database {
  let db: Database.Database;
  try {
    db = new Database(path);
  } catch (error) {
    throw new StoreError('UNAVAILABLE', `cannot open the SQLite database ${path}: ${(error as Error).message}`);
  }
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
    db.pragma('synchronous = NORMAL'); // WAL + NORMAL is still atomic and consistent after a crash
    db.pragma(`busy_timeout = ${Math.max(0, Math.round(busyTimeoutMs))}`);
  } catch (error) {
    db.close();
    throw new StoreError('UNAVAILABLE', `cannot set up the SQLite database ${path}: ${(error as Error).message}`);
  }
  // JavaScript's lower-casing, so the text filter matches Unicode the way Neo4j's toLower does.
  db.function('atlas_lower', { deterministic: true }, (text: unknown) =>
    typeof text === 'string' ? text.toLowerCase() : null,
  );
  return db;
}

/** True for SQLite's "the lock is held by another connection" errors. */
export function isBusyError(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}
