/**
 * SqliteStore: the embedded GraphStore (DESIGN.md, decision 5) on better-sqlite3. One file, WAL
 * journal, foreign keys on, numbered migrations (migrations.ts), prepared statements only, and
 * one transaction per saved graph so a graph is stored whole or not at all.
 *
 * Orders are defined to match Neo4jStore exactly: nodes and edges in saved-document order,
 * incident edges by |weight| descending then the other node's id, occurrences by graph creation
 * time descending then graph id then node order.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { GraphDocument, GraphEdge, GraphNode, NodeKind } from '@circuit-atlas/schema';
import type {
  FeatureKey,
  FeatureLabel,
  FeatureOccurrence,
  GraphStore,
  GraphSize,
  GraphSummary,
  IncidentEdgesOptions,
  ListGraphsOptions,
  NewSavedView,
  NodeWithEdges,
  Page,
  PruneOptions,
  SavedView,
  SharedFeaturesSummary,
} from '../graph-store.js';
import { StoreError } from '../store-error.js';
import { newViewId } from '../view-id.js';
import {
  checkFeatureKey,
  checkGraphDocument,
  checkGraphId,
  checkNewView,
  checkPrune,
  pageBounds,
} from '../check-graph.js';
import { migrate } from './migrations.js';

interface GraphRow {
  key: number;
  id: string;
  prompt: string;
  prompt_tokens: string;
  token_ids: string;
  model: string;
  transcoder_set: string;
  n_layers: number;
  created_at: string;
  max_n_logits: number;
  desired_logit_prob: number;
  batch_size: number;
  max_feature_nodes: number | null;
  node_threshold: number;
  edge_threshold: number;
  replacement: number | null;
  completeness: number | null;
  node_count: number;
  edge_count: number;
}

interface NodeRow {
  ord: number;
  node_id: string;
  kind: NodeKind;
  layer: number;
  ctx_idx: number;
  feature: number | null;
  activation: number | null;
  influence: number | null;
  token_prob: number | null;
  is_target_logit: number;
  label: string;
}

interface EdgeRow {
  source_ord: number;
  target_ord: number;
  weight: number;
  influence: number | null;
}

interface ViewRow {
  id: string;
  graph_id: string;
  name: string;
  pinned_ids: string;
  supernodes: string;
  node_threshold: number | null;
  edge_threshold: number | null;
  created_at: string;
}

interface LabelRow {
  model: string;
  transcoder_set: string;
  layer: number;
  feature_index: number;
  label: string;
  author: string;
  updated_at: string;
}

const NODE_COLUMNS =
  'n.ord, n.node_id, n.kind, n.layer, n.ctx_idx, n.feature, n.activation, n.influence, n.token_prob, n.is_target_logit, n.label';

// The node-pruning rule of getGraph: embeddings, logits and unscored nodes always stay (graph-store.ts).
const nodeKept = (n: string) =>
  `(@nodeThreshold IS NULL OR ${n}.kind IN ('embedding', 'logit') OR ${n}.influence IS NULL OR ${n}.influence <= @nodeThreshold)`;

// Whitelisted ORDER BY columns: user input picks a key, never supplies SQL.
const SORT_COLUMNS = { createdAt: 'created_ms', prompt: 'prompt', nodeCount: 'node_count' } as const;

function toNode(row: NodeRow): GraphNode {
  return {
    nodeId: row.node_id,
    kind: row.kind,
    layer: row.layer,
    ctxIdx: row.ctx_idx,
    feature: row.feature,
    activation: row.activation,
    influence: row.influence,
    tokenProb: row.token_prob,
    isTargetLogit: row.is_target_logit === 1,
    label: row.label,
  };
}

function toSummary(row: GraphRow): GraphSummary {
  return {
    id: row.id,
    prompt: row.prompt,
    model: row.model,
    transcoderSet: row.transcoder_set,
    createdAt: row.created_at,
    nodeCount: row.node_count,
    edgeCount: row.edge_count,
    scores:
      row.replacement === null || row.completeness === null
        ? null
        : { replacement: row.replacement, completeness: row.completeness },
    settings: {
      maxNLogits: row.max_n_logits,
      desiredLogitProb: row.desired_logit_prob,
      batchSize: row.batch_size,
      maxFeatureNodes: row.max_feature_nodes,
      nodeThreshold: row.node_threshold,
      edgeThreshold: row.edge_threshold,
    },
  };
}

function toView(row: ViewRow): SavedView {
  return {
    id: row.id,
    graphId: row.graph_id,
    name: row.name,
    pinnedIds: JSON.parse(row.pinned_ids) as string[],
    supernodes: JSON.parse(row.supernodes) as SavedView['supernodes'],
    nodeThreshold: row.node_threshold,
    edgeThreshold: row.edge_threshold,
    createdAt: row.created_at,
  };
}

function toLabel(row: LabelRow): FeatureLabel {
  return {
    model: row.model,
    transcoderSet: row.transcoder_set,
    layer: row.layer,
    index: row.feature_index,
    label: row.label,
    author: row.author,
    updatedAt: row.updated_at,
  };
}

export class SqliteStore implements GraphStore {
  readonly kind = 'sqlite' as const;
  private db: Database.Database | null = null;

  /** `path`: the database file (its folder is created), or ':memory:'. */
  constructor(readonly path: string) {}

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

  async init(): Promise<void> {
    if (this.db) return;
    if (this.path !== ':memory:') mkdirSync(dirname(this.path), { recursive: true });
    let db: Database.Database;
    try {
      db = new Database(this.path);
    } catch (error) {
      throw new StoreError('UNAVAILABLE', `cannot open the SQLite database ${this.path}: ${(error as Error).message}`);
    }
    db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
    db.pragma('synchronous = NORMAL'); // WAL + NORMAL is still atomic and consistent after a crash
    db.pragma('busy_timeout = 5000');
    // JavaScript's lower-casing, so the text filter matches Unicode the way Neo4j's toLower does.
    db.function('atlas_lower', { deterministic: true }, (text: unknown) =>
      typeof text === 'string' ? text.toLowerCase() : null,
    );
    try {
      migrate(db);
    } catch (error) {
      db.close();
      throw error;
    }
    this.db = db;
  }

  async close(): Promise<void> {
    this.statements.clear();
    this.db?.close();
    this.db = null;
  }

  async saveGraph(graph: GraphDocument): Promise<void> {
    checkGraphDocument(graph);
    const db = this.open;
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

    const write = db.transaction(() => {
      if (exists.get(graph.id)) throw new StoreError('DUPLICATE', `a graph with id '${graph.id}' is already stored`);
      const { lastInsertRowid } = insertGraph.run({
        id: graph.id,
        prompt: graph.prompt,
        promptTokens: JSON.stringify(graph.promptTokens),
        tokenIds: JSON.stringify(graph.tokenIds),
        model: graph.model,
        transcoderSet: graph.transcoderSet,
        nLayers: graph.nLayers,
        createdAt: graph.createdAt,
        createdMs: Date.parse(graph.createdAt),
        maxNLogits: graph.settings.maxNLogits,
        desiredLogitProb: graph.settings.desiredLogitProb,
        batchSize: graph.settings.batchSize,
        maxFeatureNodes: graph.settings.maxFeatureNodes,
        nodeThreshold: graph.settings.nodeThreshold,
        edgeThreshold: graph.settings.edgeThreshold,
        replacement: graph.scores?.replacement ?? null,
        completeness: graph.scores?.completeness ?? null,
        nodeCount: graph.nodes.length,
        edgeCount: graph.edges.length,
      });
      const graphKey = Number(lastInsertRowid);
      const ordOf = new Map<string, number>();
      graph.nodes.forEach((node, ord) => {
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
      });
      graph.edges.forEach((edge, ord) => {
        insertEdge.run(graphKey, ord, ordOf.get(edge.source), ordOf.get(edge.target), edge.weight, edge.influence);
      });
    });
    try {
      write.immediate();
    } catch (error) {
      if (error instanceof StoreError) throw error;
      if (
        (error as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE' &&
        /graphs\.id/.test((error as Error).message)
      ) {
        throw new StoreError('DUPLICATE', `a graph with id '${graph.id}' is already stored`);
      }
      throw new StoreError(
        'UNAVAILABLE',
        `saving graph '${graph.id}' failed, nothing was stored: ${(error as Error).message}`,
      );
    }
  }

  private graphRow(id: string): GraphRow | undefined {
    return this.statement('SELECT * FROM graphs WHERE id = ?').get(id) as GraphRow | undefined;
  }

  async getGraph(id: string, prune: PruneOptions = {}): Promise<GraphDocument | null> {
    checkPrune(prune);
    const db = this.open;
    const read = db.transaction(() => {
      const row = this.graphRow(id);
      if (!row) return null;
      const thresholds = { graphKey: row.key, nodeThreshold: prune.nodeThreshold ?? null };
      const nodeRows = this.statement(
        `SELECT ${NODE_COLUMNS} FROM nodes n WHERE n.graph_key = @graphKey AND ${nodeKept('n')} ORDER BY n.ord`,
      ).all(thresholds) as NodeRow[];
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
    const keptId = new Map<number, string>(nodeRows.map((n) => [n.ord, n.node_id]));
    const edges: GraphEdge[] = [];
    for (const e of edgeRows) {
      const source = keptId.get(e.source_ord);
      const target = keptId.get(e.target_ord);
      if (source !== undefined && target !== undefined) {
        edges.push({ source, target, weight: e.weight, influence: e.influence });
      }
    }
    const summary = toSummary(row);
    return {
      id: row.id,
      prompt: row.prompt,
      promptTokens: JSON.parse(row.prompt_tokens) as string[],
      tokenIds: JSON.parse(row.token_ids) as number[],
      model: row.model,
      transcoderSet: row.transcoder_set,
      nLayers: row.n_layers,
      createdAt: row.created_at,
      settings: summary.settings,
      scores: summary.scores,
      nodes: nodeRows.map(toNode),
      edges,
    };
  }

  async graphSize(id: string): Promise<GraphSize | null> {
    const row = this.statement('SELECT node_count, edge_count FROM graphs WHERE id = ?').get(id) as
      | { node_count: number; edge_count: number }
      | undefined;
    return row ? { nodeCount: row.node_count, edgeCount: row.edge_count } : null;
  }

  async listGraphs(options: ListGraphsOptions = {}): Promise<Page<GraphSummary>> {
    const { offset, limit } = pageBounds(options, 20);
    const sortColumn = SORT_COLUMNS[options.sortBy ?? 'createdAt'];
    if (!sortColumn)
      throw new StoreError('INVALID', `sortBy must be createdAt, prompt or nodeCount (got ${options.sortBy})`);
    const order = options.order ?? 'desc';
    if (order !== 'asc' && order !== 'desc')
      throw new StoreError('INVALID', `order must be asc or desc (got ${order})`);
    const where = '(@model IS NULL OR model = @model) AND (@text IS NULL OR instr(atlas_lower(prompt), @text) > 0)';
    const params = { model: options.model ?? null, text: options.text ? options.text.toLowerCase() : null };
    const total = this.statement(`SELECT count(*) FROM graphs WHERE ${where}`).pluck().get(params) as number;
    const rows = this.statement(
      `SELECT * FROM graphs WHERE ${where} ORDER BY ${sortColumn} ${order === 'asc' ? 'ASC' : 'DESC'}, id ASC
         LIMIT @limit OFFSET @offset`,
    ).all({ ...params, limit, offset }) as GraphRow[];
    return { total, items: rows.map(toSummary) };
  }

  async deleteGraph(id: string): Promise<boolean> {
    const db = this.open;
    const remove = db.transaction((): boolean => {
      const row = this.graphRow(id);
      if (!row) return false;
      const featureKeys = this.statement(
        'SELECT DISTINCT feature_key FROM nodes WHERE graph_key = ? AND feature_key IS NOT NULL',
      )
        .pluck()
        .all(row.key) as number[];
      this.statement('DELETE FROM graphs WHERE key = ?').run(row.key);
      // Features no other graph uses leave with the graph (labels live in their own table).
      const dropOrphan = this.statement(
        'DELETE FROM features WHERE key = ? AND NOT EXISTS (SELECT 1 FROM nodes WHERE feature_key = ?)',
      );
      for (const key of featureKeys) dropOrphan.run(key, key);
      return true;
    });
    return remove.immediate();
  }

  async getNodeEdges(graphId: string, nodeId: string, options: IncidentEdgesOptions): Promise<NodeWithEdges> {
    const { offset, limit } = pageBounds(options, 20);
    if (options.direction !== 'in' && options.direction !== 'out') {
      throw new StoreError('INVALID', `direction must be 'in' or 'out' (got ${options.direction})`);
    }
    const graph = this.graphRow(graphId);
    if (!graph) throw new StoreError('NOT_FOUND', `no graph with id '${graphId}'`);
    const nodeRow = this.statement(`SELECT ${NODE_COLUMNS} FROM nodes n WHERE n.graph_key = ? AND n.node_id = ?`).get(
      graph.key,
      nodeId,
    ) as NodeRow | undefined;
    if (!nodeRow) throw new StoreError('NOT_FOUND', `graph '${graphId}' has no node '${nodeId}'`);
    const [own, other] = options.direction === 'in' ? ['target_ord', 'source_ord'] : ['source_ord', 'target_ord'];
    const totalEdges = this.statement(`SELECT count(*) FROM edges WHERE graph_key = ? AND ${own} = ?`)
      .pluck()
      .get(graph.key, nodeRow.ord) as number;
    const rows = this.statement(
      `SELECT o.node_id AS other_id, e.weight, e.influence FROM edges e
         JOIN nodes o ON o.graph_key = e.graph_key AND o.ord = e.${other}
         WHERE e.graph_key = ? AND e.${own} = ?
         ORDER BY abs(e.weight) DESC, o.node_id ASC LIMIT ? OFFSET ?`,
    ).all(graph.key, nodeRow.ord, limit, offset) as { other_id: string; weight: number; influence: number | null }[];
    const edges = rows.map((r) =>
      options.direction === 'in'
        ? { source: r.other_id, target: nodeId, weight: r.weight, influence: r.influence }
        : { source: nodeId, target: r.other_id, weight: r.weight, influence: r.influence },
    );
    return { node: toNode(nodeRow), edges, totalEdges };
  }

  async featureOccurrences(
    feature: FeatureKey,
    page?: { offset?: number; limit?: number },
  ): Promise<Page<FeatureOccurrence>> {
    checkFeatureKey(feature);
    const { offset, limit } = pageBounds(page, 20);
    const key = this.statement(
      'SELECT key FROM features WHERE model = ? AND transcoder_set = ? AND layer = ? AND feature_index = ?',
    )
      .pluck()
      .get(feature.model, feature.transcoderSet, feature.layer, feature.index) as number | undefined;
    if (key === undefined) return { total: 0, items: [] };
    const total = this.statement('SELECT count(*) FROM nodes WHERE feature_key = ?').pluck().get(key) as number;
    const rows = this.statement(
      `SELECT g.id AS graph_id, g.prompt AS prompt, ${NODE_COLUMNS} FROM nodes n JOIN graphs g ON g.key = n.graph_key
         WHERE n.feature_key = ? ORDER BY g.created_ms DESC, g.id ASC, n.ord ASC LIMIT ? OFFSET ?`,
    ).all(key, limit, offset) as (NodeRow & { graph_id: string; prompt: string })[];
    return { total, items: rows.map((r) => ({ graphId: r.graph_id, prompt: r.prompt, node: toNode(r) })) };
  }

  async graphsSharingFeatures(graphId: string, limit = 10): Promise<SharedFeaturesSummary[]> {
    pageBounds({ limit }, 10);
    const graph = this.graphRow(graphId);
    if (!graph) throw new StoreError('NOT_FOUND', `no graph with id '${graphId}'`);
    const rows = this.statement(
      `SELECT g.id AS graph_id, g.prompt AS prompt, count(DISTINCT other.feature_key) AS shared
         FROM (SELECT DISTINCT feature_key FROM nodes WHERE graph_key = @key AND feature_key IS NOT NULL) mine
         JOIN nodes other ON other.feature_key = mine.feature_key AND other.graph_key <> @key
         JOIN graphs g ON g.key = other.graph_key
         GROUP BY g.key ORDER BY shared DESC, g.id ASC LIMIT @limit`,
    ).all({ key: graph.key, limit }) as { graph_id: string; prompt: string; shared: number }[];
    return rows.map((r) => ({ graphId: r.graph_id, prompt: r.prompt, sharedFeatureCount: r.shared }));
  }

  async setFeatureLabel(feature: FeatureKey, label: string, author: string): Promise<FeatureLabel> {
    checkFeatureKey(feature);
    if (typeof label !== 'string' || typeof author !== 'string' || author.trim() === '') {
      throw new StoreError('INVALID', 'a feature label needs a label string and a non-empty author');
    }
    const row = this.statement(
      `INSERT INTO feature_labels (model, transcoder_set, layer, feature_index, label, author, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (model, transcoder_set, layer, feature_index)
         DO UPDATE SET label = excluded.label, author = excluded.author, updated_at = excluded.updated_at
         RETURNING *`,
    ).get(
      feature.model,
      feature.transcoderSet,
      feature.layer,
      feature.index,
      label,
      author,
      new Date().toISOString(),
    ) as LabelRow;
    return toLabel(row);
  }

  async getFeatureLabel(feature: FeatureKey): Promise<FeatureLabel | null> {
    checkFeatureKey(feature);
    const row = this.statement(
      'SELECT * FROM feature_labels WHERE model = ? AND transcoder_set = ? AND layer = ? AND feature_index = ?',
    ).get(feature.model, feature.transcoderSet, feature.layer, feature.index) as LabelRow | undefined;
    return row ? toLabel(row) : null;
  }

  async searchFeatureLabels(text: string, limit = 20): Promise<FeatureLabel[]> {
    pageBounds({ limit }, 20);
    const rows = this.statement(
      `SELECT * FROM feature_labels WHERE instr(atlas_lower(label), ?) > 0
         ORDER BY model ASC, transcoder_set ASC, layer ASC, feature_index ASC LIMIT ?`,
    ).all(String(text).toLowerCase(), limit) as LabelRow[];
    return rows.map(toLabel);
  }

  async saveView(view: NewSavedView): Promise<SavedView> {
    const namedIds = checkNewView(view);
    const db = this.open;
    const save = db.transaction((): SavedView => {
      const graph = this.graphRow(view.graphId);
      if (!graph) throw new StoreError('NOT_FOUND', `no graph with id '${view.graphId}' to save a view of`);
      const has = this.statement('SELECT 1 FROM nodes WHERE graph_key = ? AND node_id = ?').pluck();
      const missing = namedIds.filter((id) => !has.get(graph.key, id));
      if (missing.length > 0) {
        throw new StoreError('INVALID', `graph '${view.graphId}' has no node(s) ${missing.slice(0, 5).join(', ')}`);
      }
      const saved: SavedView = {
        id: newViewId(),
        graphId: view.graphId,
        name: view.name,
        pinnedIds: [...view.pinnedIds],
        supernodes: view.supernodes.map((s) => ({ name: s.name, nodeIds: [...s.nodeIds] })),
        nodeThreshold: view.nodeThreshold,
        edgeThreshold: view.edgeThreshold,
        createdAt: new Date().toISOString(),
      };
      this.statement(
        `INSERT INTO views (id, graph_key, name, pinned_ids, supernodes, node_threshold, edge_threshold, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        saved.id,
        graph.key,
        saved.name,
        JSON.stringify(saved.pinnedIds),
        JSON.stringify(saved.supernodes),
        saved.nodeThreshold,
        saved.edgeThreshold,
        saved.createdAt,
      );
      return saved;
    });
    return save.immediate();
  }

  async getView(id: string): Promise<SavedView | null> {
    const row = this.statement(
      'SELECT v.*, g.id AS graph_id FROM views v JOIN graphs g ON g.key = v.graph_key WHERE v.id = ?',
    ).get(id) as ViewRow | undefined;
    return row ? toView(row) : null;
  }

  async listViews(graphId: string): Promise<SavedView[]> {
    checkGraphId(graphId);
    const rows = this.statement(
      `SELECT v.*, g.id AS graph_id FROM views v JOIN graphs g ON g.key = v.graph_key
         WHERE g.id = ? ORDER BY v.created_at ASC, v.id ASC`,
    ).all(graphId) as ViewRow[];
    return rows.map(toView);
  }
}
