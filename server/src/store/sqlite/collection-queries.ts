/**
 * Collection queries on the SQLite store (see ../collection-queries.ts), in SQL over the indexes of
 * migrations.ts: nodes_by_feature finds a feature's nodes in every graph, edges_by_source their
 * outgoing edges. A set of graphs travels as one JSON array parameter (json_each), never as SQL text.
 * Runs on its own reading connection: in WAL mode it never waits on the store's writer.
 */
import type Database from 'better-sqlite3';
import type * as Collection from '../collection-queries.js';
import { checkSelected, edgeAggregateOf, logitLabelPrefix, type EdgeAggregateRow } from '../collection-queries.js';
import { StoreError } from '../store-error.js';
import { openConnection } from './connection.js';

const SELECTED = `sel AS (SELECT g.key FROM graphs g JOIN json_each(@ids) j ON g.id = j.value)`;

/** The SQL condition that node `n` is the path end `end` (parameters prefixed with `p`). */
function endCondition(n: string, p: string, end: Collection.PathEnd): string {
  return end.kind === 'feature'
    ? `${n}.kind = 'feature' AND ${n}.layer = @${p}Layer AND ${n}.feature = @${p}Index`
    : `${n}.kind = 'logit' AND substr(${n}.label, 1, length(@${p}Prefix)) = @${p}Prefix`;
}

function endParams(p: string, end: Collection.PathEnd): Record<string, unknown> {
  return end.kind === 'feature'
    ? { [`${p}Layer`]: end.layer, [`${p}Index`]: end.index }
    : { [`${p}Prefix`]: logitLabelPrefix(end.token) };
}

/** A scope as parameters: its set of graphs as one JSON array (null: all of the model's). */
function scopeParams(scope: Collection.UsesScope) {
  const { model, transcoderSet, graphIds } = scope;
  return { model, transcoderSet, ids: graphIds ? JSON.stringify(graphIds) : null };
}

/** The nodes a path starts from: a feature's through nodes_by_feature, a logit's through its graphs. */
function startNodes(from: Collection.PathEnd): string {
  const inSelection = '(@ids IS NULL OR g.id IN (SELECT value FROM json_each(@ids)))';
  return from.kind === 'feature'
    ? `SELECT n.graph_key, n.ord FROM features f JOIN nodes n ON n.feature_key = f.key JOIN graphs g ON g.key = n.graph_key
       WHERE f.model = @model AND f.transcoder_set = @transcoderSet AND f.layer = @fromLayer
         AND f.feature_index = @fromIndex AND ${inSelection}`
    : `SELECT n.graph_key, n.ord FROM graphs g JOIN nodes n ON n.graph_key = g.key
       WHERE g.model = @model AND g.transcoder_set = @transcoderSet AND ${endCondition('n', 'from', from)}
         AND ${inSelection}`;
}

export class SqliteCollectionQueries implements Collection.CollectionQueries {
  private db: Database.Database | null;

  constructor(
    readonly path: string,
    busyTimeoutMs: number,
  ) {
    this.db = openConnection(path, Math.min(busyTimeoutMs, 5000));
  }

  private get open(): Database.Database {
    if (!this.db) throw new StoreError('UNAVAILABLE', `the collection queries on ${this.path} were closed`);
    return this.db;
  }

  async selectGraphs(selection: Collection.GraphSelection): Promise<Collection.SelectedGraph[]> {
    const db = this.open;
    if (selection.graphIds) {
      const rows = db
        .prepare(
          `SELECT g.id, g.prompt, g.model, g.transcoder_set AS transcoderSet FROM graphs g
           JOIN json_each(@ids) j ON g.id = j.value ORDER BY g.created_ms DESC, g.id ASC`,
        )
        .all({ ids: JSON.stringify(selection.graphIds) }) as (Collection.SelectedGraph & { model: string })[];
      checkSelected(selection, rows);
      return rows.map(({ id, prompt, transcoderSet }) => ({ id, prompt, transcoderSet }));
    }
    return db
      .prepare(
        `SELECT id, prompt, transcoder_set AS transcoderSet FROM graphs
         WHERE model = @model AND (@text IS NULL OR instr(atlas_lower(prompt), @text) > 0)
         ORDER BY created_ms DESC, id ASC LIMIT @limit`,
      )
      .all({
        model: selection.model,
        text: selection.text ? selection.text.toLowerCase() : null,
        limit: selection.limit ?? 1000,
      }) as Collection.SelectedGraph[];
  }

  async transcoderSets(model: string): Promise<string[]> {
    const rows = this.open
      .prepare('SELECT DISTINCT transcoder_set AS t FROM graphs WHERE model = ? ORDER BY t')
      .all(model) as { t: string }[];
    return rows.map((r) => r.t);
  }

  async commonFeatures(scope: Collection.GraphScope, minCount: number): Promise<Collection.FeatureAggregate[]> {
    const { model, transcoderSet, graphIds } = scope;
    // Per (feature, graph) the largest activation over positions, then sums over graphs.
    return this.open
      .prepare(
        `WITH ${SELECTED},
         per AS (SELECT n.feature_key AS fk, max(n.activation) AS act FROM nodes n
                 WHERE n.graph_key IN (SELECT key FROM sel) AND n.feature_key IS NOT NULL
                 GROUP BY n.feature_key, n.graph_key)
         SELECT f.layer, f.feature_index AS "index", count(*) AS graphCount,
                total(per.act) AS sum, total(per.act * per.act) AS sumSquares
         FROM per JOIN features f ON f.key = per.fk
         WHERE f.model = @model AND f.transcoder_set = @transcoderSet
         GROUP BY per.fk HAVING count(*) >= @minCount`,
      )
      .all({ ids: JSON.stringify(graphIds), model, transcoderSet, minCount }) as Collection.FeatureAggregate[];
  }

  async commonEdges(
    scope: Collection.GraphScope,
    features: Collection.FeatureRef[],
    minCount: number,
  ): Promise<Collection.EdgeAggregate[]> {
    const { model, transcoderSet, graphIds } = scope;
    const db = this.open;
    const keys = db
      .prepare(
        `SELECT f.key FROM features f JOIN json_each(@features) j
           ON f.layer = json_extract(j.value, '$[0]') AND f.feature_index = json_extract(j.value, '$[1]')
         WHERE f.model = @model AND f.transcoder_set = @transcoderSet`,
      )
      .pluck()
      .all({ features: JSON.stringify(features.map((f) => [f.layer, f.index])), model, transcoderSet });
    // Start from the kept features' nodes (nodes_by_feature) and follow their outgoing edges
    // (edges_by_source); CROSS JOIN fixes that order, which the planner would otherwise turn around.
    const rows = db
      .prepare(
        `WITH ${SELECTED},
         per AS (SELECT s.feature_key AS sk, t.kind AS tkind, t.feature_key AS tk, t.feature AS ttoken,
                        max(t.label) AS tlabel, sum(e.weight) AS w
                 FROM json_each(@keys) k CROSS JOIN nodes s ON s.feature_key = k.value
                 CROSS JOIN edges e INDEXED BY edges_by_source ON e.graph_key = s.graph_key AND e.source_ord = s.ord
                 CROSS JOIN nodes t ON t.graph_key = e.graph_key AND t.ord = e.target_ord
                 WHERE s.graph_key IN (SELECT key FROM sel)
                   AND (t.kind = 'logit' OR t.feature_key IN (SELECT value FROM json_each(@keys)))
                 GROUP BY s.feature_key, t.kind, t.feature_key, t.feature, s.graph_key)
         SELECT sf.layer AS sLayer, sf.feature_index AS sIndex, per.tkind, tf.layer AS tLayer,
                tf.feature_index AS tIndex, per.ttoken, min(per.tlabel) AS tlabel,
                count(*) AS graphCount, total(per.w) AS sum, total(per.w * per.w) AS sumSquares
         FROM per JOIN features sf ON sf.key = per.sk LEFT JOIN features tf ON tf.key = per.tk
         GROUP BY per.sk, per.tkind, per.tk, per.ttoken HAVING count(*) >= @minCount`,
      )
      .all({ ids: JSON.stringify(graphIds), keys: JSON.stringify(keys), minCount }) as EdgeAggregateRow[];
    return rows.map(edgeAggregateOf);
  }

  async featureSets(graphIds: string[]): Promise<Map<string, string[]>> {
    const rows = this.open
      .prepare(
        `SELECT g.id AS graphId, n.layer || ':' || n.feature AS feature
         FROM graphs g JOIN json_each(@ids) j ON g.id = j.value
         JOIN nodes n ON n.graph_key = g.key AND n.kind = 'feature'
         GROUP BY g.key, n.layer, n.feature`,
      )
      .all({ ids: JSON.stringify(graphIds) }) as { graphId: string; feature: string }[];
    const sets = new Map<string, string[]>(graphIds.map((id) => [id, []]));
    for (const row of rows) sets.get(row.graphId)!.push(row.feature);
    return sets;
  }

  async graphsWithFeature(
    scope: Collection.UsesScope,
    feature: Collection.FeatureRef,
    page: Collection.PageWindow,
  ): Promise<Collection.Paged<Collection.FeatureUse>> {
    const params = { ...scopeParams(scope), layer: feature.layer, index: feature.index, ...page };
    const from = `FROM features f JOIN nodes n ON n.feature_key = f.key JOIN graphs g ON g.key = n.graph_key
      WHERE f.model = @model AND f.transcoder_set = @transcoderSet AND f.layer = @layer AND f.feature_index = @index
        AND (@ids IS NULL OR g.id IN (SELECT value FROM json_each(@ids)))`;
    const db = this.open;
    const read = db.transaction(() => {
      const { total } = db.prepare(`SELECT count(DISTINCT g.key) AS total ${from}`).get(params) as { total: number };
      const items = db
        .prepare(
          `SELECT g.id AS graphId, g.prompt, count(*) AS occurrences, max(n.activation) AS maxActivation ${from}
           GROUP BY g.key ORDER BY maxActivation DESC, g.id ASC LIMIT @limit OFFSET @offset`,
        )
        .all(params) as Collection.FeatureUse[];
      return { total, items };
    });
    return read();
  }

  async graphsWithPath(
    scope: Collection.UsesScope,
    { from, to, maxHops }: { from: Collection.PathEnd; to: Collection.PathEnd; maxHops: number },
    page: Collection.PageWindow,
  ): Promise<Collection.Paged<Collection.PathUse>> {
    const ends = { ...endParams('from', from), ...endParams('to', to) };
    const params = { ...scopeParams(scope), maxHops, ...ends, ...page };
    // Walks forward from every node of the start, multiplying edge weights, up to maxHops edges.
    const paths = `WITH RECURSIVE
      start(gk, ord) AS (${startNodes(from)}),
      walk(gk, ord, w, hops) AS (
        SELECT gk, ord, 1.0, 0 FROM start
        UNION ALL
        SELECT e.graph_key, e.target_ord, walk.w * e.weight, walk.hops + 1
        FROM walk JOIN edges e INDEXED BY edges_by_source ON e.graph_key = walk.gk AND e.source_ord = walk.ord
        WHERE walk.hops < @maxHops),
      found AS (
        SELECT walk.gk, count(*) AS paths, max(abs(walk.w)) AS strongest, total(walk.w) AS total
        FROM walk JOIN nodes t ON t.graph_key = walk.gk AND t.ord = walk.ord
        WHERE walk.hops >= 1 AND ${endCondition('t', 'to', to)}
        GROUP BY walk.gk)`;
    const db = this.open;
    const read = db.transaction(() => {
      const { total } = db.prepare(`${paths} SELECT count(*) AS total FROM found`).get(params) as { total: number };
      const items = db
        .prepare(
          `${paths} SELECT g.id AS graphId, g.prompt, found.paths, found.strongest, found.total
           FROM found JOIN graphs g ON g.key = found.gk
           ORDER BY found.strongest DESC, g.id ASC LIMIT @limit OFFSET @offset`,
        )
        .all(params) as Collection.PathUse[];
      return { total, items };
    });
    return read();
  }

  async close(): Promise<void> {
    this.db?.close();
    this.db = null;
  }
}
