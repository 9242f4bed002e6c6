/**
 * Neo4jStore: the shared GraphStore (DESIGN.md, decision 5) through neo4j-driver.
 *
 * Model: (:Graph {id, ...}); (:Node {graphId, nodeId, ord, kind, layer, ctxIdx, feature, activation,
 * influence, tokenProb, isTargetLogit, label}) unique on (graphId, nodeId);
 * (:Node)-[:EDGE {ord, weight, influence}]->(:Node); global
 * (:Feature {model, transcoderSet, layer, index, label?, author?, updatedAt?}) unique on its four
 * key properties, with (:Node)-[:OF_FEATURE]->(:Feature); (:View {id, ...})-[:OF_GRAPH]->(:Graph).
 *
 * A graph is written by batched UNWIND statements inside ONE explicit transaction, so it is stored
 * whole or rolled back. Values always travel as parameters; integers as neo4j.int. Orders match
 * SqliteStore exactly (see sqlite-store.ts).
 */
import neo4j, { type Driver, type ManagedTransaction, type QueryResult, type RecordShape } from 'neo4j-driver';
import type { GraphDocument, GraphEdge } from '@circuit-atlas/schema';
import { StoreError } from '../store-error.js';
import { checkGraphDocument } from '../check-graph.js';
import {
  GRAPH_RECORD_INTEGERS,
  featureLabelOf,
  graphRecordOf,
  viewRecordOf,
  type GraphRecord,
  type LabelRecord,
  type NodeRecord,
  type ViewRecord,
} from '../graph-records.js';
import type * as Store from '../graph-store.js';
import type * as Checked from '../checked-graph-store.js';
import { CheckedGraphStore } from '../checked-graph-store.js';

export interface Neo4jStoreOptions {
  uri: string;
  user?: string;
  password?: string;
  /** Rows per UNWIND statement when saving a graph. */
  batchSize?: number;
}

const SCHEMA = [
  'CREATE CONSTRAINT atlas_graph_id IF NOT EXISTS FOR (g:Graph) REQUIRE g.id IS UNIQUE',
  'CREATE CONSTRAINT atlas_node_id IF NOT EXISTS FOR (n:Node) REQUIRE (n.graphId, n.nodeId) IS UNIQUE',
  'CREATE CONSTRAINT atlas_feature_key IF NOT EXISTS FOR (f:Feature) REQUIRE (f.model, f.transcoderSet, f.layer, f.index) IS UNIQUE',
  'CREATE CONSTRAINT atlas_view_id IF NOT EXISTS FOR (v:View) REQUIRE v.id IS UNIQUE',
  'CREATE INDEX atlas_node_influence IF NOT EXISTS FOR (n:Node) ON (n.graphId, n.influence)',
  'CREATE INDEX atlas_node_graph IF NOT EXISTS FOR (n:Node) ON (n.graphId)',
  'CREATE INDEX atlas_edge_influence IF NOT EXISTS FOR ()-[e:EDGE]-() ON (e.influence)',
  'CREATE INDEX atlas_graph_model IF NOT EXISTS FOR (g:Graph) ON (g.model)',
  'CREATE INDEX atlas_graph_created IF NOT EXISTS FOR (g:Graph) ON (g.createdMs)',
  'CREATE INDEX atlas_feature_label IF NOT EXISTS FOR (f:Feature) ON (f.label)',
];

const int = (n: number) => neo4j.int(n);
const intOrNull = (n: number | null) => (n === null ? null : neo4j.int(n));

// The node-pruning rule of getGraph, for a node bound to `n` (graph-store.ts).
const nodeKept = (n: string) =>
  `($nodeThreshold IS NULL OR ${n}.kind IN ['embedding', 'logit'] OR ${n}.influence IS NULL OR ${n}.influence <= $nodeThreshold)`;

const NODE_FIELDS = (n: string) =>
  `{ord: ${n}.ord, nodeId: ${n}.nodeId, kind: ${n}.kind, layer: ${n}.layer, ctxIdx: ${n}.ctxIdx, feature: ${n}.feature,
    activation: ${n}.activation, influence: ${n}.influence, tokenProb: ${n}.tokenProb,
    isTargetLogit: ${n}.isTargetLogit, label: ${n}.label}`;

/** The graph record as Neo4j properties: its integer fields as Neo4j integers. */
function graphProperties(record: GraphRecord): Record<string, unknown> {
  const properties: Record<string, unknown> = { ...record, tokenIds: record.tokenIds.map(int) };
  for (const field of GRAPH_RECORD_INTEGERS) properties[field] = intOrNull(record[field]);
  return properties;
}

// Whitelisted ORDER BY properties: user input picks a key, never supplies Cypher.
const SORT_PROPERTIES = { createdAt: 'g.createdMs', prompt: 'g.prompt', nodeCount: 'g.nodeCount' } as const;

function rows<T>(result: QueryResult<RecordShape>, key = 'row'): T[] {
  return result.records.map((record) => record.get(key) as T);
}

/** Maps a driver error to StoreError; StoreErrors pass through. */
function storeErrorOf(error: unknown, doing: string): StoreError {
  if (error instanceof StoreError) return error;
  const code = (error as { code?: string }).code ?? '';
  const message = (error as Error).message ?? String(error);
  if (code === 'Neo.ClientError.Schema.ConstraintValidationFailed')
    return new StoreError('DUPLICATE', `${doing}: ${message}`);
  return new StoreError('UNAVAILABLE', `${doing} failed (Neo4j ${code || 'error'}): ${message}`);
}

export class Neo4jStore extends CheckedGraphStore {
  readonly kind = 'neo4j' as const;
  readonly driver: Driver;
  private readonly batchSize: number;
  /** Rejecters of saves in flight: close() fails them at once (the driver would leave them pending forever). */
  private readonly savesInFlight = new Set<(error: StoreError) => void>();

  constructor(readonly options: Neo4jStoreOptions) {
    super();
    const auth = options.user ? neo4j.auth.basic(options.user, options.password ?? '') : undefined;
    // Lossy integers are safe here: every integer we store (layers, positions, indices, counts) is < 2^53.
    this.driver = neo4j.driver(options.uri, auth, { disableLosslessIntegers: true });
    this.batchSize = options.batchSize ?? 5000;
  }

  private async read<T>(work: (tx: ManagedTransaction) => Promise<T>, doing: string): Promise<T> {
    const session = this.driver.session({ defaultAccessMode: neo4j.session.READ });
    try {
      return await session.executeRead(work);
    } catch (error) {
      throw storeErrorOf(error, doing);
    } finally {
      await session.close();
    }
  }

  private async write<T>(work: (tx: ManagedTransaction) => Promise<T>, doing: string): Promise<T> {
    const session = this.driver.session({ defaultAccessMode: neo4j.session.WRITE });
    try {
      return await session.executeWrite(work);
    } catch (error) {
      throw storeErrorOf(error, doing);
    } finally {
      await session.close();
    }
  }

  async init(): Promise<void> {
    try {
      await this.driver.verifyConnectivity();
    } catch (error) {
      throw new StoreError(
        'UNAVAILABLE',
        `cannot reach Neo4j at ${this.options.uri} (${(error as Error).message}): start it (npm run neo4j) or fix NEO4J_URI`,
      );
    }
    const session = this.driver.session();
    try {
      // Schema statements run one per transaction (Neo4j does not mix schema and data writes).
      for (const statement of SCHEMA) await session.run(statement);
      await session.run('CALL db.awaitIndexes(300)');
    } catch (error) {
      throw storeErrorOf(error, 'creating the Neo4j constraints and indexes');
    } finally {
      await session.close();
    }
  }

  async close(): Promise<void> {
    for (const reject of this.savesInFlight) {
      reject(new StoreError('UNAVAILABLE', 'the store was closed during the save (nothing was stored)'));
    }
    // Closing drops the connections; the server rolls back any transaction they still carried.
    await this.driver.close();
  }

  async saveGraph(graph: GraphDocument, options: Store.SaveOptions = {}): Promise<void> {
    checkGraphDocument(graph);
    let rejectSave: (error: StoreError) => void = () => {};
    const closed = new Promise<never>((_, reject) => (rejectSave = reject));
    this.savesInFlight.add(rejectSave);
    try {
      await Promise.race([this.writeGraph(graph, options), closed]);
    } finally {
      this.savesInFlight.delete(rejectSave);
    }
  }

  /** The save itself: one explicit transaction, batched UNWIND statements. */
  private async writeGraph(graph: GraphDocument, { onProgress }: Store.SaveOptions): Promise<void> {
    const graphProps = graphProperties(graphRecordOf(graph));
    const session = this.driver.session({ defaultAccessMode: neo4j.session.WRITE });
    // One explicit transaction for the whole graph: any failure (or a dropped connection) rolls it all back.
    // The metadata names the graph in SHOW TRANSACTIONS, so an operator can see (and end) a long save.
    const tx = session.beginTransaction({ metadata: { app: 'circuit-atlas', savingGraph: graph.id } });
    try {
      const existing = await tx.run('MATCH (g:Graph {id: $id}) RETURN count(g) AS n', { id: graph.id });
      if ((existing.records[0].get('n') as number) > 0) {
        throw new StoreError('DUPLICATE', `a graph with id '${graph.id}' is already stored`);
      }
      await tx.run('CREATE (g:Graph) SET g = $props', { props: graphProps });
      // Edges find their ends by element id (a direct lookup), not by an index seek per end.
      const elementIdOf = new Map<string, string>();
      for (let start = 0; start < graph.nodes.length; start += this.batchSize) {
        const batch = graph.nodes.slice(start, start + this.batchSize).map((node, i) => ({
          graphId: graph.id,
          nodeId: node.nodeId,
          ord: int(start + i),
          kind: node.kind,
          layer: int(node.layer),
          ctxIdx: int(node.ctxIdx),
          feature: intOrNull(node.feature),
          activation: node.activation,
          influence: node.influence,
          tokenProb: node.tokenProb,
          isTargetLogit: node.isTargetLogit,
          label: node.label,
        }));
        const created = await tx.run(
          `UNWIND $rows AS row
           CREATE (n:Node) SET n = row
           WITH n, row
           CALL (n, row) {
             WITH n, row WHERE row.kind = 'feature'
             MERGE (f:Feature {model: $model, transcoderSet: $transcoderSet, layer: row.layer, index: row.feature})
             CREATE (n)-[:OF_FEATURE]->(f)
           }
           RETURN row.nodeId AS nodeId, elementId(n) AS elementId`,
          { rows: batch, model: graph.model, transcoderSet: graph.transcoderSet },
        );
        for (const record of created.records)
          elementIdOf.set(record.get('nodeId') as string, record.get('elementId') as string);
        onProgress?.({ phase: 'nodes', done: start + batch.length, total: graph.nodes.length });
      }
      for (let start = 0; start < graph.edges.length; start += this.batchSize) {
        const batch = graph.edges.slice(start, start + this.batchSize).map((edge, i) => ({
          s: elementIdOf.get(edge.source),
          t: elementIdOf.get(edge.target),
          ord: int(start + i),
          weight: edge.weight,
          influence: edge.influence,
        }));
        await tx.run(
          `UNWIND $rows AS row
           MATCH (s:Node) WHERE elementId(s) = row.s
           MATCH (t:Node) WHERE elementId(t) = row.t
           CREATE (s)-[:EDGE {ord: row.ord, weight: row.weight, influence: row.influence}]->(t)`,
          { rows: batch },
        );
        onProgress?.({ phase: 'edges', done: start + batch.length, total: graph.edges.length });
      }
      await tx.commit();
    } catch (error) {
      await tx.rollback().catch(() => {}); // the connection may already be gone; the server rolls back then
      throw storeErrorOf(error, `saving graph '${graph.id}' (nothing was stored)`);
    } finally {
      await session.close().catch(() => {});
    }
  }

  protected async readGraph(id: string, prune: Store.PruneOptions): Promise<Checked.GraphRecords | null> {
    const params = { id, nodeThreshold: prune.nodeThreshold ?? null, edgeThreshold: prune.edgeThreshold ?? null };
    const result = await this.read(async (tx) => {
      const graphResult = await tx.run('MATCH (g:Graph {id: $id}) RETURN properties(g) AS row', params);
      if (graphResult.records.length === 0) return null;
      const nodeResult = await tx.run(
        `MATCH (n:Node {graphId: $id}) WHERE ${nodeKept('n')}
         RETURN ${NODE_FIELDS('n')} AS row`,
        params,
      );
      // One record holding parallel lists: far fewer Bolt records than one per edge.
      const edgeResult = await tx.run(
        `MATCH (s:Node {graphId: $id})-[e:EDGE]->(t:Node)
         WHERE ($edgeThreshold IS NULL OR e.influence IS NULL OR e.influence <= $edgeThreshold)
           AND ${nodeKept('s')} AND ${nodeKept('t')}
         RETURN collect(e.ord) AS ords, collect(s.nodeId) AS sources, collect(t.nodeId) AS targets,
                collect(e.weight) AS weights, collect(coalesce(e.influence, 'null')) AS influences`,
        params,
      );
      return { graphResult, nodeResult, edgeResult };
    }, `reading graph '${id}'`);
    if (!result) return null;
    const e = result.edgeResult.records[0];
    const ords = e.get('ords') as number[];
    const sources = e.get('sources') as string[];
    const targets = e.get('targets') as string[];
    const weights = e.get('weights') as number[];
    const influences = e.get('influences') as (number | 'null')[];
    const order = ords.map((_, i) => i).sort((a, b) => ords[a] - ords[b]);
    const edges: GraphEdge[] = order.map((i) => ({
      source: sources[i],
      target: targets[i],
      weight: weights[i],
      influence: influences[i] === 'null' ? null : (influences[i] as number),
    }));
    return {
      record: result.graphResult.records[0].get('row') as GraphRecord,
      nodes: rows<NodeRecord>(result.nodeResult),
      edges,
    };
  }

  protected async readGraphNodes(id: string, prune: Store.PruneOptions): Promise<Checked.GraphNodeRecords | null> {
    const params = { id, nodeThreshold: prune.nodeThreshold ?? null };
    const result = await this.read(async (tx) => {
      const graphResult = await tx.run('MATCH (g:Graph {id: $id}) RETURN properties(g) AS row', params);
      if (graphResult.records.length === 0) return null;
      const nodeResult = await tx.run(
        `MATCH (n:Node {graphId: $id}) WHERE ${nodeKept('n')} RETURN ${NODE_FIELDS('n')} AS row`,
        params,
      );
      return { graphResult, nodeResult };
    }, `reading the nodes of graph '${id}'`);
    if (!result) return null;
    return {
      record: result.graphResult.records[0].get('row') as GraphRecord,
      nodes: rows<NodeRecord>(result.nodeResult),
    };
  }

  protected async readIncidentEdges(id: string, query: Checked.IncidentEdgesRead): Promise<Store.IncidentEdges | null> {
    const { direction, nodeIds } = query;
    const params = {
      id,
      ids: [...nodeIds],
      nodeThreshold: query.nodeThreshold ?? null,
      edgeThreshold: query.edgeThreshold ?? null,
    };
    const edgeKept = '($edgeThreshold IS NULL OR e.influence IS NULL OR e.influence <= $edgeThreshold)';
    // `a` is the asked end; both ends and the edge must be kept.
    const side = (asked: 'source' | 'target') => {
      const [pattern, source, target] =
        asked === 'target' ? ['(o:Node)-[e:EDGE]->(a)', 'o', 'a'] : ['(a)-[e:EDGE]->(o:Node)', 'a', 'o'];
      return `MATCH (a:Node {graphId: $id}) WHERE a.nodeId IN $ids AND ${nodeKept('a')}
       MATCH ${pattern} WHERE ${nodeKept('o')} AND ${edgeKept}
       RETURN collect(e.ord) AS ords, collect(${source}.nodeId) AS sources, collect(${target}.nodeId) AS targets,
              collect(e.weight) AS weights, collect(coalesce(e.influence, 'null')) AS influences`;
    };
    const result = await this.read(async (tx) => {
      const graph = await tx.run('MATCH (g:Graph {id: $id}) RETURN count(g) AS n', { id });
      if ((graph.records[0].get('n') as number) === 0) return null;
      const sides: QueryResult<RecordShape>[] = [];
      if (direction !== 'out') sides.push(await tx.run(side('target'), params));
      if (direction !== 'in') sides.push(await tx.run(side('source'), params));
      // An edge between two asked nodes comes from both sides: keep it once, in document order.
      const byOrd = new Map<number, GraphEdge>();
      for (const sideResult of sides) {
        const r = sideResult.records[0];
        const ords = r.get('ords') as number[];
        const sources = r.get('sources') as string[];
        const targets = r.get('targets') as string[];
        const weights = r.get('weights') as number[];
        const influences = r.get('influences') as (number | 'null')[];
        ords.forEach((ord, i) =>
          byOrd.set(ord, {
            source: sources[i],
            target: targets[i],
            weight: weights[i],
            influence: influences[i] === 'null' ? null : (influences[i] as number),
          }),
        );
      }
      const edges = [...byOrd.entries()].sort((x, y) => x[0] - y[0]).map(([, edge]) => edge);
      const totals = await tx.run(
        `MATCH (t:Node {graphId: $id}) WHERE t.nodeId IN $ids AND ${nodeKept('t')}
         MATCH (s:Node)-[e:EDGE]->(t) WHERE ${nodeKept('s')} AND ${edgeKept}
         RETURN t.nodeId AS nodeId, sum(abs(e.weight)) AS total`,
        params,
      );
      return {
        edges,
        targetInputTotals: new Map(totals.records.map((r) => [r.get('nodeId') as string, r.get('total') as number])),
      };
    }, `reading edges of graph '${id}'`);
    return result;
  }

  async graphSize(id: string): Promise<Store.GraphSize | null> {
    return this.read(async (tx) => {
      const result = await tx.run(
        'MATCH (g:Graph {id: $id}) RETURN g.nodeCount AS nodeCount, g.edgeCount AS edgeCount',
        { id },
      );
      const record = result.records[0];
      if (!record) return null;
      return { nodeCount: Number(record.get('nodeCount')), edgeCount: Number(record.get('edgeCount')) };
    }, `reading the size of graph '${id}'`);
  }

  protected async readGraphList(query: Checked.GraphListQuery): Promise<{ total: number; records: GraphRecord[] }> {
    const { offset, limit, sortBy, order } = query;
    const sortProperty = SORT_PROPERTIES[sortBy];
    const params = { model: query.model, text: query.text, offset: int(offset), limit: int(limit) };
    const where = '($model IS NULL OR g.model = $model) AND ($text IS NULL OR toLower(g.prompt) CONTAINS $text)';
    return this.read(async (tx) => {
      const total = await tx.run(`MATCH (g:Graph) WHERE ${where} RETURN count(g) AS n`, params);
      const page = await tx.run(
        `MATCH (g:Graph) WHERE ${where}
         RETURN properties(g) AS row ORDER BY ${sortProperty} ${order === 'asc' ? 'ASC' : 'DESC'}, g.id ASC
         SKIP $offset LIMIT $limit`,
        params,
      );
      return { total: total.records[0].get('n') as number, records: rows<GraphRecord>(page) };
    }, 'listing graphs');
  }

  async deleteGraph(id: string): Promise<boolean> {
    return this.write(async (tx) => {
      const found = await tx.run('MATCH (g:Graph {id: $id}) RETURN count(g) AS n', { id });
      if ((found.records[0].get('n') as number) === 0) return false;
      const features = await tx.run(
        'MATCH (:Node {graphId: $id})-[:OF_FEATURE]->(f:Feature) RETURN collect(DISTINCT elementId(f)) AS ids',
        { id },
      );
      await tx.run('MATCH (n:Node {graphId: $id}) DETACH DELETE n', { id });
      await tx.run('MATCH (g:Graph {id: $id}) OPTIONAL MATCH (v:View)-[:OF_GRAPH]->(g) DETACH DELETE v, g', { id });
      // Features no other graph uses leave with the graph, unless someone labelled them.
      await tx.run(
        `UNWIND $ids AS fid MATCH (f:Feature) WHERE elementId(f) = fid
           AND f.label IS NULL AND NOT EXISTS { (f)<-[:OF_FEATURE]-() }
         DELETE f`,
        { ids: features.records[0].get('ids') as string[] },
      );
      return true;
    }, `deleting graph '${id}'`);
  }

  protected async readNodeEdges(
    graphId: string,
    nodeId: string,
    { offset, limit, direction }: Checked.NodeEdgesPage,
  ): Promise<Checked.NodeEdgeRecords> {
    const pattern = direction === 'in' ? '(o:Node)-[e:EDGE]->(n)' : '(n)-[e:EDGE]->(o:Node)';
    return this.read(async (tx): Promise<Checked.NodeEdgeRecords> => {
      const graph = await tx.run('MATCH (g:Graph {id: $graphId}) RETURN count(g) AS n', { graphId });
      if ((graph.records[0].get('n') as number) === 0) return 'no graph';
      const node = await tx.run(
        `MATCH (n:Node {graphId: $graphId, nodeId: $nodeId})
         RETURN ${NODE_FIELDS('n')} AS row, COUNT { MATCH ${pattern} } AS total`,
        { graphId, nodeId },
      );
      if (node.records.length === 0) return 'no node';
      const edges = await tx.run(
        `MATCH (n:Node {graphId: $graphId, nodeId: $nodeId}) MATCH ${pattern}
         RETURN {otherId: o.nodeId, weight: e.weight, influence: e.influence} AS row
         ORDER BY abs(e.weight) DESC, o.nodeId ASC SKIP $offset LIMIT $limit`,
        { graphId, nodeId, offset: int(offset), limit: int(limit) },
      );
      const record = node.records[0];
      return {
        node: record.get('row') as NodeRecord,
        totalEdges: record.get('total') as number,
        edges: rows<{ otherId: string; weight: number; influence: number | null }>(edges),
      };
    }, `reading node '${nodeId}' of graph '${graphId}'`);
  }

  protected async readFeatureOccurrences(
    feature: Store.FeatureKey,
    { offset, limit }: Checked.PageBounds,
  ): Promise<Store.Page<Checked.OccurrenceRecord>> {
    const params = {
      model: feature.model,
      transcoderSet: feature.transcoderSet,
      layer: int(feature.layer),
      index: int(feature.index),
      offset: int(offset),
      limit: int(limit),
    };
    const match =
      'MATCH (f:Feature {model: $model, transcoderSet: $transcoderSet, layer: $layer, index: $index})<-[:OF_FEATURE]-(n:Node)';
    return this.read(async (tx) => {
      const total = await tx.run(`${match} RETURN count(n) AS n`, params);
      const page = await tx.run(
        `${match} MATCH (g:Graph {id: n.graphId})
         RETURN {graphId: g.id, prompt: g.prompt, node: ${NODE_FIELDS('n')}} AS row
         ORDER BY g.createdMs DESC, g.id ASC, n.ord ASC SKIP $offset LIMIT $limit`,
        params,
      );
      return { total: total.records[0].get('n') as number, items: rows<Checked.OccurrenceRecord>(page) };
    }, 'listing feature occurrences');
  }

  protected async readGraphsSharingFeatures(
    graphId: string,
    limit: number,
  ): Promise<Store.SharedFeaturesSummary[] | null> {
    const result = await this.read(async (tx) => {
      const graph = await tx.run('MATCH (g:Graph {id: $graphId}) RETURN count(g) AS n', { graphId });
      if ((graph.records[0].get('n') as number) === 0) return null;
      // Cross-prompt question in one query: my nodes → shared Feature ← other graphs' nodes.
      return tx.run(
        `MATCH (:Node {graphId: $graphId})-[:OF_FEATURE]->(f:Feature)
         WITH DISTINCT f
         MATCH (f)<-[:OF_FEATURE]-(other:Node) WHERE other.graphId <> $graphId
         WITH other.graphId AS otherId, count(DISTINCT f) AS shared
         MATCH (g:Graph {id: otherId})
         RETURN {graphId: g.id, prompt: g.prompt, sharedFeatureCount: shared} AS row
         ORDER BY shared DESC, g.id ASC LIMIT $limit`,
        { graphId, limit: int(limit) },
      );
    }, `finding graphs that share features with '${graphId}'`);
    return result && rows<Store.SharedFeaturesSummary>(result);
  }

  protected async writeFeatureLabel({
    feature,
    label,
    author,
    updatedAt,
  }: Checked.FeatureLabelWrite): Promise<Store.FeatureLabel> {
    const result = await this.write(
      (tx) =>
        tx.run(
          `MERGE (f:Feature {model: $model, transcoderSet: $transcoderSet, layer: $layer, index: $index})
           SET f.label = $label, f.author = $author, f.updatedAt = $updatedAt
           RETURN properties(f) AS row`,
          {
            model: feature.model,
            transcoderSet: feature.transcoderSet,
            layer: int(feature.layer),
            index: int(feature.index),
            label,
            author,
            updatedAt,
          },
        ),
      'setting a feature label',
    );
    return featureLabelOf(rows<LabelRecord>(result)[0]);
  }

  protected async readFeatureLabel(feature: Store.FeatureKey): Promise<LabelRecord | null> {
    const result = await this.read(
      (tx) =>
        tx.run(
          `MATCH (f:Feature {model: $model, transcoderSet: $transcoderSet, layer: $layer, index: $index})
           WHERE f.label IS NOT NULL RETURN properties(f) AS row`,
          {
            model: feature.model,
            transcoderSet: feature.transcoderSet,
            layer: int(feature.layer),
            index: int(feature.index),
          },
        ),
      'reading a feature label',
    );
    return rows<LabelRecord>(result)[0] ?? null;
  }

  protected async readFeatureLabels(text: string, limit: number): Promise<LabelRecord[]> {
    const result = await this.read(
      (tx) =>
        tx.run(
          `MATCH (f:Feature) WHERE f.label IS NOT NULL AND toLower(f.label) CONTAINS $text
           RETURN properties(f) AS row ORDER BY f.model ASC, f.transcoderSet ASC, f.layer ASC, f.index ASC LIMIT $limit`,
          { text, limit: int(limit) },
        ),
      'searching feature labels',
    );
    return rows<LabelRecord>(result);
  }

  protected async writeView({ view, namedIds }: Checked.ViewWrite): Promise<void> {
    await this.write(async (tx) => {
      const graph = await tx.run('MATCH (g:Graph {id: $graphId}) RETURN count(g) AS n', { graphId: view.graphId });
      if ((graph.records[0].get('n') as number) === 0) {
        throw new StoreError('NOT_FOUND', `no graph with id '${view.graphId}' to save a view of`);
      }
      const missing = await tx.run(
        `UNWIND $ids AS id WITH id WHERE NOT EXISTS { MATCH (:Node {graphId: $graphId, nodeId: id}) }
         RETURN collect(id) AS ids`,
        { ids: namedIds, graphId: view.graphId },
      );
      const missingIds = missing.records[0].get('ids') as string[];
      if (missingIds.length > 0) {
        throw new StoreError('INVALID', `graph '${view.graphId}' has no node(s) ${missingIds.slice(0, 5).join(', ')}`);
      }
      await tx.run(
        `MATCH (g:Graph {id: $graphId})
         CREATE (v:View {id: $id, graphId: $graphId, name: $name, pinnedIds: $pinnedIds, supernodes: $supernodes,
                         nodeThreshold: $nodeThreshold, edgeThreshold: $edgeThreshold, createdAt: $createdAt})
         CREATE (v)-[:OF_GRAPH]->(g)`,
        viewRecordOf(view),
      );
    }, `saving a view of graph '${view.graphId}'`);
  }

  protected async readView(id: string): Promise<ViewRecord | null> {
    const result = await this.read(
      (tx) => tx.run('MATCH (v:View {id: $id}) RETURN properties(v) AS row', { id }),
      'reading a view',
    );
    return rows<ViewRecord>(result)[0] ?? null;
  }

  protected async readViews(graphId: string): Promise<ViewRecord[]> {
    const result = await this.read(
      (tx) =>
        tx.run(
          `MATCH (v:View)-[:OF_GRAPH]->(:Graph {id: $graphId})
           RETURN properties(v) AS row ORDER BY v.createdAt ASC, v.id ASC`,
          { graphId },
        ),
      'listing views',
    );
    return rows<ViewRecord>(result);
  }
}
