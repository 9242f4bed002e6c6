/**
 * SqliteStore: the embedded GraphStore (DESIGN.md, decision 5) on better-sqlite3. One file, WAL
 * journal, foreign keys on, numbered migrations (migrations.ts), prepared statements only, and
 * one transaction per saved graph so a graph is stored whole or not at all.
 *
 * Reads run on this thread's connection and never wait: in WAL mode they see the last commit while
 * a write is in progress. Writes queue behind each other and run in a writer thread (writer.ts), so
 * a long save, or a wait for another process's write lock, never stops this thread. Across
 * processes a writer waits for the lock up to a busy timeout sized to the largest saves, then fails
 * with a message that says what to do.
 *
 * Orders are defined to match Neo4jStore exactly: nodes and edges in saved-document order,
 * incident edges by |weight| descending then the other node's id, occurrences by graph creation
 * time descending then graph id then node order.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type Database from 'better-sqlite3';
import type { GraphDocument, GraphEdge } from '@circuit-atlas/schema';
import { StoreError } from '../store-error.js';
import type { GraphRecord, LabelRecord, NodeRecord, ViewRecord } from '../graph-records.js';
import type * as Store from '../graph-store.js';
import type * as Checked from '../checked-graph-store.js';
import { CheckedGraphStore } from '../checked-graph-store.js';
import { openConnection } from './connection.js';
import { migrate } from './migrations.js';
import { BUSY_TIMEOUT_VARIABLE, LABEL_COLUMNS } from './write-transactions.js';
import { InlineWriter, ThreadWriter, type Writer } from './writer.js';

/** A graphs row: the GraphRecord, its JSON columns still text, and its row key. */
type GraphRow = Omit<GraphRecord, 'promptTokens' | 'tokenIds'> & {
  key: number;
  promptTokens: string;
  tokenIds: string;
};

const GRAPH_COLUMNS = `key, id, prompt, prompt_tokens AS promptTokens, token_ids AS tokenIds, model,
  transcoder_set AS transcoderSet, n_layers AS nLayers, created_at AS createdAt, created_ms AS createdMs,
  max_n_logits AS maxNLogits, desired_logit_prob AS desiredLogitProb, batch_size AS batchSize,
  max_feature_nodes AS maxFeatureNodes, node_threshold AS nodeThreshold, edge_threshold AS edgeThreshold,
  replacement, completeness, node_count AS nodeCount, edge_count AS edgeCount`;

const NODE_COLUMNS = `n.ord, n.node_id AS nodeId, n.kind, n.layer, n.ctx_idx AS ctxIdx, n.feature, n.activation,
  n.influence, n.token_prob AS tokenProb, n.is_target_logit AS isTargetLogit, n.label`;

const VIEW_COLUMNS = `v.id, g.id AS graphId, v.name, v.pinned_ids AS pinnedIds, v.supernodes,
  v.node_threshold AS nodeThreshold, v.edge_threshold AS edgeThreshold, v.created_at AS createdAt`;

interface EdgeRow {
  source_ord: number;
  target_ord: number;
  weight: number;
  influence: number | null;
}

// The node-pruning rule of getGraph: embeddings, logits and unscored nodes always stay (graph-store.ts).
const nodeKept = (n: string) =>
  `(@nodeThreshold IS NULL OR ${n}.kind IN ('embedding', 'logit') OR ${n}.influence IS NULL OR ${n}.influence <= @nodeThreshold)`;

// Whitelisted ORDER BY columns: user input picks a key, never supplies SQL.
const SORT_COLUMNS = { createdAt: 'created_ms', prompt: 'prompt', nodeCount: 'node_count' } as const;

/**
 * How long a write waits for another process's write lock. Sized to the work: on a loaded two-core
 * machine a save writes about 16,000 edges a second, so another process's save of a graph with
 * millions of edges (an unpruned trace) holds the lock for minutes; 10 minutes covers ~10M edges.
 */
export const DEFAULT_BUSY_TIMEOUT_MS = 10 * 60_000;
/** Reads do not take the lock in WAL mode; they wait only while SQLite recovers the WAL index. */
const READ_BUSY_TIMEOUT_MS = 5000;

export interface SqliteStoreOptions {
  /** How long a write waits for another process's lock (default ATLAS_DB_BUSY_TIMEOUT_MS, else 10 min). */
  busyTimeoutMs?: number;
  /**
   * 'thread' (default for files): writes run in a writer thread. 'inline': on this thread, which
   * then waits during a write; for ':memory:' and single-purpose processes.
   */
  writer?: 'thread' | 'inline';
}

function busyTimeoutFromEnv(): number {
  const value = process.env[BUSY_TIMEOUT_VARIABLE];
  if (value === undefined || value === '') return DEFAULT_BUSY_TIMEOUT_MS;
  const ms = Number(value);
  if (!Number.isFinite(ms) || ms < 0) {
    throw new StoreError('INVALID', `${BUSY_TIMEOUT_VARIABLE}=${value} is not valid: give milliseconds, a number ≥ 0`);
  }
  return ms;
}

function graphRecordOfRow(row: GraphRow): GraphRecord {
  return {
    ...row,
    promptTokens: JSON.parse(row.promptTokens) as string[],
    tokenIds: JSON.parse(row.tokenIds) as number[],
  };
}

export class SqliteStore extends CheckedGraphStore {
  readonly kind = 'sqlite' as const;
  private db: Database.Database | null = null;
  private writer: Writer | null = null;
  readonly busyTimeoutMs: number;
  private readonly writerKind: 'thread' | 'inline';

  /** `path`: the database file (its folder is created), or ':memory:'. */
  constructor(
    readonly path: string,
    options: SqliteStoreOptions = {},
  ) {
    super();
    this.busyTimeoutMs = options.busyTimeoutMs ?? busyTimeoutFromEnv();
    this.writerKind = path === ':memory:' ? 'inline' : (options.writer ?? 'thread');
  }

  /** Prepared statements, compiled once per SQL text and reused. */
  private readonly statements = new Map<string, Database.Statement>();

  private statement(sql: string): Database.Statement {
    let prepared = this.statements.get(sql);
    if (!prepared) {
      prepared = this.open.prepare(sql);
      this.statements.set(sql, prepared);
    }
    return prepared;
  }

  private get open(): Database.Database {
    if (!this.db)
      throw new StoreError('UNAVAILABLE', `the SQLite store at ${this.path} is not open: call init() first`);
    return this.db;
  }

  private get write(): Writer {
    if (!this.writer)
      throw new StoreError('UNAVAILABLE', `the SQLite store at ${this.path} is not open: call init() first`);
    return this.writer;
  }

  async init(): Promise<void> {
    if (this.db) return;
    if (this.path !== ':memory:') mkdirSync(dirname(this.path), { recursive: true });
    // Migrations may wait for another process's write lock like any write; reads need no lock.
    const db = openConnection(this.path, this.busyTimeoutMs);
    try {
      migrate(db);
      db.pragma(`busy_timeout = ${READ_BUSY_TIMEOUT_MS}`);
    } catch (error) {
      db.close();
      throw error;
    }
    this.db = db;
    this.writer =
      this.writerKind === 'inline'
        ? new InlineWriter(db, this.path, this.busyTimeoutMs)
        : new ThreadWriter(this.path, this.busyTimeoutMs);
  }

  /** Waits for the writes already asked for, then closes. */
  async close(): Promise<void> {
    const writer = this.writer;
    this.writer = null; // writes asked for from now on are refused
    await writer?.close();
    this.statements.clear();
    this.db?.close();
    this.db = null;
  }

  /** The document is checked where it is written (write-transactions.ts): off this thread. */
  async saveGraph(graph: GraphDocument, options: Store.SaveOptions = {}): Promise<void> {
    const { onProgress } = options;
    await this.write.write<void>({ op: 'saveGraph', graph, reportProgress: onProgress !== undefined }, onProgress);
  }

  private graphRow(id: string): GraphRow | undefined {
    return this.statement(`SELECT ${GRAPH_COLUMNS} FROM graphs WHERE id = ?`).get(id) as GraphRow | undefined;
  }

  protected async readGraph(id: string, prune: Store.PruneOptions): Promise<Checked.GraphRecords | null> {
    const db = this.open;
    // One read transaction: the graph, its nodes and its edges from the same snapshot.
    const read = db.transaction(() => {
      const row = this.graphRow(id);
      if (!row) return null;
      const thresholds = { graphKey: row.key, nodeThreshold: prune.nodeThreshold ?? null };
      const nodeRows = this.statement(
        `SELECT ${NODE_COLUMNS} FROM nodes n WHERE n.graph_key = @graphKey AND ${nodeKept('n')} ORDER BY n.ord`,
      ).all(thresholds) as NodeRecord[];
      // Without a node threshold every edge's ends are kept: scan the graph's edges in order.
      // With one, walk the kept targets' inputs (edges_by_target) and keep those whose source is kept.
      const edgeKept = '(@edgeThreshold IS NULL OR e.influence IS NULL OR e.influence <= @edgeThreshold)';
      const edgeParams = {
        graphKey: row.key,
        nodeThreshold: prune.nodeThreshold ?? null,
        edgeThreshold: prune.edgeThreshold ?? null,
      };
      const edgeRows = (
        prune.nodeThreshold === undefined
          ? this.statement(
              `SELECT e.source_ord, e.target_ord, e.weight, e.influence FROM edges e
               WHERE e.graph_key = @graphKey AND ${edgeKept} ORDER BY e.ord`,
            )
          : this.statement(
              `SELECT e.source_ord, e.target_ord, e.weight, e.influence FROM nodes n
               JOIN edges e ON e.graph_key = n.graph_key AND e.target_ord = n.ord
               JOIN nodes s ON s.graph_key = e.graph_key AND s.ord = e.source_ord
               WHERE n.graph_key = @graphKey AND ${nodeKept('n')} AND ${nodeKept('s')} AND ${edgeKept}
               ORDER BY e.ord`,
            )
      ).all(edgeParams) as EdgeRow[];
      return { row, nodeRows, edgeRows };
    });
    const result = read();
    if (!result) return null;
    const { row, nodeRows, edgeRows } = result;
    // Kept nodes by ord; an edge stays only when both of its ends do.
    const keptId = new Map<number, string>(nodeRows.map((n) => [n.ord, n.nodeId]));
    const edges: GraphEdge[] = [];
    for (const e of edgeRows) {
      const source = keptId.get(e.source_ord);
      const target = keptId.get(e.target_ord);
      if (source !== undefined && target !== undefined) {
        edges.push({ source, target, weight: e.weight, influence: e.influence });
      }
    }
    return { record: graphRecordOfRow(row), nodes: nodeRows, edges };
  }

  protected async readGraphNodes(id: string, prune: Store.PruneOptions): Promise<Checked.GraphNodeRecords | null> {
    const read = this.open.transaction(() => {
      const row = this.graphRow(id);
      if (!row) return null;
      const nodeRows = this.statement(
        `SELECT ${NODE_COLUMNS} FROM nodes n WHERE n.graph_key = @graphKey AND ${nodeKept('n')} ORDER BY n.ord`,
      ).all({ graphKey: row.key, nodeThreshold: prune.nodeThreshold ?? null }) as NodeRecord[];
      return { row, nodeRows };
    });
    const result = read();
    return result ? { record: graphRecordOfRow(result.row), nodes: result.nodeRows } : null;
  }

  protected async readIncidentEdges(id: string, query: Checked.IncidentEdgesRead): Promise<Store.IncidentEdges | null> {
    const { direction, nodeIds } = query;
    const edgeKept = '(@edgeThreshold IS NULL OR e.influence IS NULL OR e.influence <= @edgeThreshold)';
    // Both ends kept and the edge kept; `a` is the asked end, `o` the other one.
    const sideSql = (asked: 'source' | 'target') => {
      const [own, other] = asked === 'target' ? ['target_ord', 'source_ord'] : ['source_ord', 'target_ord'];
      const [source, target] = asked === 'target' ? ['o', 'a'] : ['a', 'o'];
      return `SELECT e.ord, ${source}.node_id AS source, ${target}.node_id AS target, e.weight, e.influence
         FROM nodes a INDEXED BY nodes_by_id
         CROSS JOIN edges e INDEXED BY ${asked === 'target' ? 'edges_by_target' : 'edges_by_source'}
           ON e.graph_key = a.graph_key AND e.${own} = a.ord
         CROSS JOIN nodes o ON o.graph_key = e.graph_key AND o.ord = e.${other}
        WHERE a.graph_key = @graphKey AND a.node_id IN (SELECT value FROM json_each(@ids))
          AND ${nodeKept('a')} AND ${nodeKept('o')} AND ${edgeKept}`;
    };
    const read = this.open.transaction(() => {
      const row = this.graphRow(id);
      if (!row) return null;
      const params = {
        graphKey: row.key,
        ids: JSON.stringify(nodeIds),
        nodeThreshold: query.nodeThreshold ?? null,
        edgeThreshold: query.edgeThreshold ?? null,
      };
      const sides: string[] = [];
      if (direction !== 'out') sides.push(sideSql('target'));
      if (direction !== 'in') sides.push(sideSql('source'));
      // UNION drops an edge between two asked nodes found from both ends.
      const edgeRows = this.statement(`${sides.join(' UNION ')} ORDER BY 1`).all(params) as (GraphEdge & {
        ord: number;
      })[];
      const totals = this.statement(
        `SELECT t.node_id AS nodeId, sum(abs(e.weight)) AS total
           FROM nodes t
           CROSS JOIN edges e INDEXED BY edges_by_target ON e.graph_key = t.graph_key AND e.target_ord = t.ord
           CROSS JOIN nodes s ON s.graph_key = e.graph_key AND s.ord = e.source_ord
          WHERE t.graph_key = @graphKey AND t.node_id IN (SELECT value FROM json_each(@ids))
            AND ${nodeKept('t')} AND ${nodeKept('s')} AND ${edgeKept}
          GROUP BY t.node_id`,
      ).all(params) as { nodeId: string; total: number }[];
      return { edgeRows, totals };
    });
    const result = read();
    if (!result) return null;
    return {
      edges: result.edgeRows.map((e) => ({
        source: e.source,
        target: e.target,
        weight: e.weight,
        influence: e.influence,
      })),
      targetInputTotals: new Map(result.totals.map((t) => [t.nodeId, t.total])),
    };
  }

  async graphSize(id: string): Promise<Store.GraphSize | null> {
    const row = this.statement('SELECT node_count AS nodeCount, edge_count AS edgeCount FROM graphs WHERE id = ?').get(
      id,
    ) as Store.GraphSize | undefined;
    return row ?? null;
  }

  protected async readGraphList(query: Checked.GraphListQuery): Promise<{ total: number; records: GraphRecord[] }> {
    const { offset, limit, sortBy, order } = query;
    const where = '(@model IS NULL OR model = @model) AND (@text IS NULL OR instr(atlas_lower(prompt), @text) > 0)';
    const params = { model: query.model, text: query.text };
    const read = this.open.transaction(() => {
      const total = this.statement(`SELECT count(*) FROM graphs WHERE ${where}`).pluck().get(params) as number;
      const rows = this.statement(
        `SELECT ${GRAPH_COLUMNS} FROM graphs WHERE ${where}
           ORDER BY ${SORT_COLUMNS[sortBy]} ${order === 'asc' ? 'ASC' : 'DESC'}, id ASC LIMIT @limit OFFSET @offset`,
      ).all({ ...params, limit, offset }) as GraphRow[];
      return { total, rows };
    });
    const { total, rows } = read();
    return { total, records: rows.map(graphRecordOfRow) };
  }

  async deleteGraph(id: string): Promise<boolean> {
    return this.write.write<boolean>({ op: 'deleteGraph', id });
  }

  protected async readNodeEdges(
    graphId: string,
    nodeId: string,
    { offset, limit, direction }: Checked.NodeEdgesPage,
  ): Promise<Checked.NodeEdgeRecords> {
    const read = this.open.transaction((): Checked.NodeEdgeRecords => {
      const graph = this.graphRow(graphId);
      if (!graph) return 'no graph';
      const node = this.statement(`SELECT ${NODE_COLUMNS} FROM nodes n WHERE n.graph_key = ? AND n.node_id = ?`).get(
        graph.key,
        nodeId,
      ) as NodeRecord | undefined;
      if (!node) return 'no node';
      const [own, other] = direction === 'in' ? ['target_ord', 'source_ord'] : ['source_ord', 'target_ord'];
      const totalEdges = this.statement(`SELECT count(*) FROM edges WHERE graph_key = ? AND ${own} = ?`)
        .pluck()
        .get(graph.key, node.ord) as number;
      const rows = this.statement(
        `SELECT o.node_id AS otherId, e.weight, e.influence FROM edges e
           JOIN nodes o ON o.graph_key = e.graph_key AND o.ord = e.${other}
           WHERE e.graph_key = ? AND e.${own} = ?
           ORDER BY abs(e.weight) DESC, o.node_id ASC LIMIT ? OFFSET ?`,
      ).all(graph.key, node.ord, limit, offset) as { otherId: string; weight: number; influence: number | null }[];
      return { node, totalEdges, edges: rows };
    });
    return read();
  }

  protected async readFeatureOccurrences(
    feature: Store.FeatureKey,
    { offset, limit }: Checked.PageBounds,
  ): Promise<Store.Page<Checked.OccurrenceRecord>> {
    const read = this.open.transaction(() => {
      const key = this.statement(
        'SELECT key FROM features WHERE model = ? AND transcoder_set = ? AND layer = ? AND feature_index = ?',
      )
        .pluck()
        .get(feature.model, feature.transcoderSet, feature.layer, feature.index) as number | undefined;
      if (key === undefined) return { total: 0, rows: [] };
      const total = this.statement('SELECT count(*) FROM nodes WHERE feature_key = ?').pluck().get(key) as number;
      const rows = this.statement(
        `SELECT g.id AS graphId, g.prompt AS prompt, ${NODE_COLUMNS} FROM nodes n JOIN graphs g ON g.key = n.graph_key
           WHERE n.feature_key = ? ORDER BY g.created_ms DESC, g.id ASC, n.ord ASC LIMIT ? OFFSET ?`,
      ).all(key, limit, offset) as (NodeRecord & { graphId: string; prompt: string })[];
      return { total, rows };
    });
    const { total, rows } = read();
    return { total, items: rows.map((r) => ({ graphId: r.graphId, prompt: r.prompt, node: r })) };
  }

  protected async readGraphsSharingFeatures(
    graphId: string,
    limit: number,
  ): Promise<Store.SharedFeaturesSummary[] | null> {
    const read = this.open.transaction(() => {
      const graph = this.graphRow(graphId);
      if (!graph) return null;
      return this.statement(
        `SELECT g.id AS graphId, g.prompt AS prompt, count(DISTINCT other.feature_key) AS sharedFeatureCount
           FROM (SELECT DISTINCT feature_key FROM nodes WHERE graph_key = @key AND feature_key IS NOT NULL) mine
           JOIN nodes other ON other.feature_key = mine.feature_key AND other.graph_key <> @key
           JOIN graphs g ON g.key = other.graph_key
           GROUP BY g.key ORDER BY sharedFeatureCount DESC, g.id ASC LIMIT @limit`,
      ).all({ key: graph.key, limit }) as Store.SharedFeaturesSummary[];
    });
    return read();
  }

  protected async writeFeatureLabel(write: Checked.FeatureLabelWrite): Promise<Store.FeatureLabel> {
    return this.write.write<Store.FeatureLabel>({ op: 'setFeatureLabel', ...write });
  }

  protected async readFeatureLabel(feature: Store.FeatureKey): Promise<LabelRecord | null> {
    const row = this.statement(
      `SELECT ${LABEL_COLUMNS} FROM feature_labels
         WHERE model = ? AND transcoder_set = ? AND layer = ? AND feature_index = ?`,
    ).get(feature.model, feature.transcoderSet, feature.layer, feature.index) as LabelRecord | undefined;
    return row ?? null;
  }

  protected async readFeatureLabels(text: string, limit: number): Promise<LabelRecord[]> {
    return this.statement(
      `SELECT ${LABEL_COLUMNS} FROM feature_labels WHERE instr(atlas_lower(label), ?) > 0
         ORDER BY model ASC, transcoder_set ASC, layer ASC, feature_index ASC LIMIT ?`,
    ).all(text, limit) as LabelRecord[];
  }

  protected async writeView(write: Checked.ViewWrite): Promise<void> {
    await this.write.write<Store.SavedView>({ op: 'saveView', ...write });
  }

  protected async readView(id: string): Promise<ViewRecord | null> {
    const row = this.statement(
      `SELECT ${VIEW_COLUMNS} FROM views v JOIN graphs g ON g.key = v.graph_key WHERE v.id = ?`,
    ).get(id) as ViewRecord | undefined;
    return row ?? null;
  }

  protected async readViews(graphId: string): Promise<ViewRecord[]> {
    return this.statement(
      `SELECT ${VIEW_COLUMNS} FROM views v JOIN graphs g ON g.key = v.graph_key
         WHERE g.id = ? ORDER BY v.created_at ASC, v.id ASC`,
    ).all(graphId) as ViewRecord[];
  }
}
