/**
 * Every write of the SQLite store, each one transaction on the connection it is given: run in the
 * writer thread (writer-thread.ts) for a file, or inline for ':memory:'. Callers check small inputs
 * first (check-graph.ts); a graph document is checked here, off the main thread. A write that waits on another process's lock longer
 * than the busy timeout fails with a StoreError that says what to do.
 */
import type Database from 'better-sqlite3';
import type { GraphDocument } from '@circuit-atlas/schema';
import type { FeatureKey, FeatureLabel, SaveProgress, SavedView } from '../graph-store.js';
import { featureLabelOf, graphRecordOf, viewRecordOf, type LabelRecord } from '../graph-records.js';
import { StoreError } from '../store-error.js';
import { checkGraphDocument } from '../check-graph.js';
import { isBusyError } from './connection.js';

/** Rows written between two progress reports. */
const PROGRESS_ROWS = 5000;

/** The environment variable that sets how long a writer waits for another process's lock. */
export const BUSY_TIMEOUT_VARIABLE = 'ATLAS_DB_BUSY_TIMEOUT_MS';

export const LABEL_COLUMNS =
  'model, transcoder_set AS transcoderSet, layer, feature_index AS "index", label, author, updated_at AS updatedAt';

export class WriteTransactions {
  private readonly statements = new Map<string, Database.Statement>();

  constructor(
    private readonly db: Database.Database,
    private readonly path: string,
    private readonly busyTimeoutMs: number,
  ) {}

  private statement(sql: string): Database.Statement {
    let prepared = this.statements.get(sql);
    if (!prepared) {
      prepared = this.db.prepare(sql);
      this.statements.set(sql, prepared);
    }
    return prepared;
  }

  /** Runs `work` as one IMMEDIATE transaction; a lock wait past the busy timeout becomes a StoreError. */
  private transaction<T>(doing: string, work: () => T): T {
    try {
      return this.db.transaction(work).immediate();
    } catch (error) {
      if (error instanceof StoreError) throw error;
      if (isBusyError(error)) {
        throw new StoreError(
          'UNAVAILABLE',
          `${doing}: another process kept the SQLite database ${this.path} locked for writing longer than ` +
            `${this.busyTimeoutMs / 1000} s, so nothing was stored; retry once its write has finished, ` +
            `or set ${BUSY_TIMEOUT_VARIABLE} to wait longer`,
        );
      }
      throw new StoreError('UNAVAILABLE', `${doing} failed, nothing was stored: ${(error as Error).message}`);
    }
  }

  /** Checks the document here too: in the writer thread that O(edges) pass costs the main thread nothing. */
  saveGraph(graph: GraphDocument, onProgress?: (progress: SaveProgress) => void): void {
    checkGraphDocument(graph);
    const insertGraph = this.statement(`
      INSERT INTO graphs (id, prompt, prompt_tokens, token_ids, model, transcoder_set, n_layers, created_at, created_ms,
        max_n_logits, desired_logit_prob, batch_size, max_feature_nodes, node_threshold, edge_threshold,
        replacement, completeness, node_count, edge_count)
      VALUES (@id, @prompt, @promptTokens, @tokenIds, @model, @transcoderSet, @nLayers, @createdAt, @createdMs,
        @maxNLogits, @desiredLogitProb, @batchSize, @maxFeatureNodes, @nodeThreshold, @edgeThreshold,
        @replacement, @completeness, @nodeCount, @edgeCount)`);
    const upsertFeature = this.statement(`
      INSERT INTO features (model, transcoder_set, layer, feature_index) VALUES (?, ?, ?, ?)
      ON CONFLICT (model, transcoder_set, layer, feature_index) DO UPDATE SET model = excluded.model
      RETURNING key`);
    const insertNode = this.statement(`
      INSERT INTO nodes (graph_key, ord, node_id, kind, layer, ctx_idx, feature, activation, influence, token_prob,
        is_target_logit, label, feature_key)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    const insertEdge = this.statement(
      'INSERT INTO edges (graph_key, ord, source_ord, target_ord, weight, influence) VALUES (?, ?, ?, ?, ?, ?)',
    );
    const exists = this.statement('SELECT 1 FROM graphs WHERE id = ?').pluck();
    const record = graphRecordOf(graph);

    this.transaction(`saving graph '${graph.id}'`, () => {
      if (exists.get(graph.id)) throw new StoreError('DUPLICATE', `a graph with id '${graph.id}' is already stored`);
      const { lastInsertRowid } = insertGraph.run({
        ...record,
        promptTokens: JSON.stringify(record.promptTokens),
        tokenIds: JSON.stringify(record.tokenIds),
      });
      const graphKey = Number(lastInsertRowid);
      const ordOf = new Map<string, number>();
      const nodes = graph.nodes;
      for (let ord = 0; ord < nodes.length; ord++) {
        const node = nodes[ord];
        ordOf.set(node.nodeId, ord);
        const featureKey =
          node.kind === 'feature'
            ? (upsertFeature.get(graph.model, graph.transcoderSet, node.layer, node.feature) as { key: number }).key
            : null;
        insertNode.run(
          graphKey,
          ord,
          node.nodeId,
          node.kind,
          node.layer,
          node.ctxIdx,
          node.feature,
          node.activation,
          node.influence,
          node.tokenProb,
          node.isTargetLogit ? 1 : 0,
          node.label,
          featureKey,
        );
        if ((ord + 1) % PROGRESS_ROWS === 0 || ord + 1 === nodes.length) {
          onProgress?.({ phase: 'nodes', done: ord + 1, total: nodes.length });
        }
      }
      const edges = graph.edges;
      for (let ord = 0; ord < edges.length; ord++) {
        const edge = edges[ord];
        insertEdge.run(graphKey, ord, ordOf.get(edge.source), ordOf.get(edge.target), edge.weight, edge.influence);
        if ((ord + 1) % PROGRESS_ROWS === 0 || ord + 1 === edges.length) {
          onProgress?.({ phase: 'edges', done: ord + 1, total: edges.length });
        }
      }
    });
  }

  deleteGraph(id: string): boolean {
    return this.transaction(`deleting graph '${id}'`, () => {
      const key = this.statement('SELECT key FROM graphs WHERE id = ?').pluck().get(id) as number | undefined;
      if (key === undefined) return false;
      const featureKeys = this.statement(
        'SELECT DISTINCT feature_key FROM nodes WHERE graph_key = ? AND feature_key IS NOT NULL',
      )
        .pluck()
        .all(key) as number[];
      this.statement('DELETE FROM graphs WHERE key = ?').run(key);
      // Features no other graph uses leave with the graph (labels live in their own table).
      const dropOrphan = this.statement(
        'DELETE FROM features WHERE key = ? AND NOT EXISTS (SELECT 1 FROM nodes WHERE feature_key = ?)',
      );
      for (const featureKey of featureKeys) dropOrphan.run(featureKey, featureKey);
      return true;
    });
  }

  setFeatureLabel(feature: FeatureKey, label: string, author: string, updatedAt: string): FeatureLabel {
    return this.transaction('setting a feature label', () => {
      const row = this.statement(
        `INSERT INTO feature_labels (model, transcoder_set, layer, feature_index, label, author, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (model, transcoder_set, layer, feature_index)
           DO UPDATE SET label = excluded.label, author = excluded.author, updated_at = excluded.updated_at
           RETURNING ${LABEL_COLUMNS}`,
      ).get(
        feature.model,
        feature.transcoderSet,
        feature.layer,
        feature.index,
        label,
        author,
        updatedAt,
      ) as LabelRecord;
      return featureLabelOf(row);
    });
  }

  /** Saves a view built by newSavedView after checking that its graph has every node it names. */
  saveView(view: SavedView, namedIds: string[]): SavedView {
    return this.transaction(`saving a view of graph '${view.graphId}'`, () => {
      const key = this.statement('SELECT key FROM graphs WHERE id = ?').pluck().get(view.graphId) as number | undefined;
      if (key === undefined) throw new StoreError('NOT_FOUND', `no graph with id '${view.graphId}' to save a view of`);
      const has = this.statement('SELECT 1 FROM nodes WHERE graph_key = ? AND node_id = ?').pluck();
      const missing = namedIds.filter((id) => !has.get(key, id));
      if (missing.length > 0) {
        throw new StoreError('INVALID', `graph '${view.graphId}' has no node(s) ${missing.slice(0, 5).join(', ')}`);
      }
      const row = viewRecordOf(view);
      this.statement(
        `INSERT INTO views (id, graph_key, name, pinned_ids, supernodes, node_threshold, edge_threshold, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(row.id, key, row.name, row.pinnedIds, row.supernodes, row.nodeThreshold, row.edgeThreshold, row.createdAt);
      return view;
    });
  }
}
