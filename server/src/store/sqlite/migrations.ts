/**
 * The SQLite schema as numbered migrations. `schema_version` holds the number of the last one
 * applied; opening a database runs the ones after it, each in its own transaction. Append new
 * migrations at the end; never edit one that has shipped.
 */
import type Database from 'better-sqlite3';
import { StoreError } from '../store-error.js';

export const MIGRATIONS: readonly string[] = [
  // 1: graphs, their nodes and edges, global features, feature labels, saved views.
  `
  CREATE TABLE graphs (
    key                INTEGER PRIMARY KEY,
    id                 TEXT    NOT NULL UNIQUE,
    prompt             TEXT    NOT NULL,
    prompt_tokens      TEXT    NOT NULL,            -- JSON array of strings
    token_ids          TEXT    NOT NULL,            -- JSON array of integers
    model              TEXT    NOT NULL,
    transcoder_set     TEXT    NOT NULL,
    n_layers           INTEGER NOT NULL,
    created_at         TEXT    NOT NULL,            -- ISO 8601 as given
    created_ms         INTEGER NOT NULL,            -- the same instant, for sorting
    max_n_logits       INTEGER NOT NULL,
    desired_logit_prob REAL    NOT NULL,
    batch_size         INTEGER NOT NULL,
    max_feature_nodes  INTEGER,
    node_threshold     REAL    NOT NULL,
    edge_threshold     REAL    NOT NULL,
    replacement        REAL,
    completeness       REAL,
    node_count         INTEGER NOT NULL,
    edge_count         INTEGER NOT NULL
  );
  CREATE INDEX graphs_by_model ON graphs (model, created_ms);
  CREATE INDEX graphs_by_created ON graphs (created_ms, id);

  CREATE TABLE features (
    key            INTEGER PRIMARY KEY,
    model          TEXT    NOT NULL,
    transcoder_set TEXT    NOT NULL,
    layer          INTEGER NOT NULL,
    feature_index  INTEGER NOT NULL,
    UNIQUE (model, transcoder_set, layer, feature_index)
  );

  CREATE TABLE nodes (
    graph_key       INTEGER NOT NULL REFERENCES graphs (key) ON DELETE CASCADE,
    ord             INTEGER NOT NULL,               -- position in the saved document
    node_id         TEXT    NOT NULL,
    kind            TEXT    NOT NULL CHECK (kind IN ('feature', 'error', 'embedding', 'logit')),
    layer           INTEGER NOT NULL,
    ctx_idx         INTEGER NOT NULL,
    feature         INTEGER,
    activation      REAL,
    influence       REAL,
    token_prob      REAL,
    is_target_logit INTEGER NOT NULL,
    label           TEXT    NOT NULL,
    feature_key     INTEGER REFERENCES features (key),
    PRIMARY KEY (graph_key, ord)
  ) WITHOUT ROWID;
  CREATE UNIQUE INDEX nodes_by_id ON nodes (graph_key, node_id);
  CREATE INDEX nodes_by_influence ON nodes (graph_key, influence);
  CREATE INDEX nodes_by_feature ON nodes (feature_key, graph_key);

  CREATE TABLE edges (
    graph_key  INTEGER NOT NULL REFERENCES graphs (key) ON DELETE CASCADE,
    ord        INTEGER NOT NULL,                    -- position in the saved document
    source_ord INTEGER NOT NULL,
    target_ord INTEGER NOT NULL,
    weight     REAL    NOT NULL,
    influence  REAL,
    PRIMARY KEY (graph_key, ord),
    FOREIGN KEY (graph_key, source_ord) REFERENCES nodes (graph_key, ord) ON DELETE CASCADE,
    FOREIGN KEY (graph_key, target_ord) REFERENCES nodes (graph_key, ord) ON DELETE CASCADE
  ) WITHOUT ROWID;
  CREATE INDEX edges_by_source ON edges (graph_key, source_ord);
  CREATE INDEX edges_by_target ON edges (graph_key, target_ord);
  CREATE INDEX edges_by_influence ON edges (graph_key, influence);

  CREATE TABLE feature_labels (
    model          TEXT    NOT NULL,
    transcoder_set TEXT    NOT NULL,
    layer          INTEGER NOT NULL,
    feature_index  INTEGER NOT NULL,
    label          TEXT    NOT NULL,
    author         TEXT    NOT NULL,
    updated_at     TEXT    NOT NULL,
    PRIMARY KEY (model, transcoder_set, layer, feature_index)
  ) WITHOUT ROWID;

  CREATE TABLE views (
    id             TEXT    PRIMARY KEY,
    graph_key      INTEGER NOT NULL REFERENCES graphs (key) ON DELETE CASCADE,
    name           TEXT    NOT NULL,
    pinned_ids     TEXT    NOT NULL,                -- JSON array of node ids
    supernodes     TEXT    NOT NULL,                -- JSON array of { name, nodeIds }
    node_threshold REAL,
    edge_threshold REAL,
    created_at     TEXT    NOT NULL
  );
  CREATE INDEX views_by_graph ON views (graph_key, created_at, id);
  `,
];

/**
 * Brings the database to the newest schema version; refuses a database newer than this code.
 * Runs under one IMMEDIATE transaction so two processes opening the same file cannot both migrate.
 */
function checkNotNewer(current: number): void {
  if (current > MIGRATIONS.length) {
    throw new StoreError(
      'INVALID',
      `the database is at schema version ${current} but this circuit-atlas knows only ${MIGRATIONS.length}: upgrade circuit-atlas`,
    );
  }
}

export function migrate(db: Database.Database): number {
  // Read first: a database already up to date needs no write lock, which another process may hold for minutes.
  const hasVersion = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").get();
  if (hasVersion) {
    const row = db.prepare('SELECT version FROM schema_version').get() as { version: number } | undefined;
    if (row) checkNotNewer(row.version);
    if (row?.version === MIGRATIONS.length) return MIGRATIONS.length;
  }
  const apply = db.transaction((): number => {
    db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
    const row = db.prepare('SELECT version FROM schema_version').get() as { version: number } | undefined;
    if (!row) db.prepare('INSERT INTO schema_version (version) VALUES (0)').run();
    const current = row?.version ?? 0;
    checkNotNewer(current);
    for (let next = current + 1; next <= MIGRATIONS.length; next++) db.exec(MIGRATIONS[next - 1]);
    db.prepare('UPDATE schema_version SET version = ?').run(MIGRATIONS.length);
    return MIGRATIONS.length;
  });
  return apply.immediate();
}
