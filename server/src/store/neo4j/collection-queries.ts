/**
 * Collection queries on the Neo4j store (see ../collection-queries.ts), in Cypher, as read
 * transactions (routed to readers in a cluster). Cross-graph questions start from the global
 * (:Feature) nodes: a feature's nodes in every graph are one hop away, so the common edges of a
 * collection touch only the edges of its frequent features, not every edge of every graph.
 */
import neo4j, { type Driver, type ManagedTransaction } from 'neo4j-driver';
import type * as Collection from '../collection-queries.js';
import { checkSelected, edgeAggregateOf, logitLabelPrefix, type EdgeAggregateRow } from '../collection-queries.js';
import { StoreError } from '../store-error.js';

const int = (n: number) => neo4j.int(n);
const pageParams = (page: Collection.PageWindow) => ({ offset: int(page.offset), limit: int(page.limit) });

/** The Cypher condition that node `n` is the path end (parameters prefixed with `p`). */
function endCondition(n: string, p: string, end: Collection.PathEnd): string {
  return end.kind === 'feature'
    ? `${n}.kind = 'feature' AND ${n}.layer = $${p}Layer AND ${n}.feature = $${p}Index`
    : `${n}.kind = 'logit' AND ${n}.label STARTS WITH $${p}Prefix`;
}

function endParams(p: string, end: Collection.PathEnd): Record<string, unknown> {
  return end.kind === 'feature'
    ? { [`${p}Layer`]: int(end.layer), [`${p}Index`]: int(end.index) }
    : { [`${p}Prefix`]: logitLabelPrefix(end.token) };
}

export class Neo4jCollectionQueries implements Collection.CollectionQueries {
  constructor(private readonly driver: Driver) {}

  private async read<T>(work: (tx: ManagedTransaction) => Promise<T>, doing: string): Promise<T> {
    const session = this.driver.session({ defaultAccessMode: neo4j.session.READ });
    try {
      return await session.executeRead(work);
    } catch (error) {
      if (error instanceof StoreError) throw error;
      const code = (error as { code?: string }).code ?? 'error';
      throw new StoreError('UNAVAILABLE', `${doing} failed (Neo4j ${code}): ${(error as Error).message}`);
    } finally {
      await session.close();
    }
  }

  async selectGraphs(selection: Collection.GraphSelection): Promise<Collection.SelectedGraph[]> {
    return this.read(async (tx) => {
      if (selection.graphIds) {
        const result = await tx.run(
          `UNWIND $ids AS id MATCH (g:Graph {id: id})
           RETURN g.id AS id, g.prompt AS prompt, g.model AS model, g.transcoderSet AS transcoderSet
           ORDER BY g.createdMs DESC, g.id ASC`,
          { ids: selection.graphIds },
        );
        const rows = result.records.map((r) => r.toObject() as Collection.SelectedGraph & { model: string });
        checkSelected(selection, rows);
        return rows.map(({ id, prompt, transcoderSet }) => ({ id, prompt, transcoderSet }));
      }
      const result = await tx.run(
        `MATCH (g:Graph {model: $model}) WHERE $text IS NULL OR toLower(g.prompt) CONTAINS $text
         RETURN g.id AS id, g.prompt AS prompt, g.transcoderSet AS transcoderSet
         ORDER BY g.createdMs DESC, g.id ASC LIMIT $limit`,
        {
          model: selection.model,
          text: selection.text ? selection.text.toLowerCase() : null,
          limit: int(selection.limit ?? 1000),
        },
      );
      return result.records.map((r) => r.toObject() as Collection.SelectedGraph);
    }, 'selecting graphs');
  }

  async transcoderSets(model: string): Promise<string[]> {
    return this.read(async (tx) => {
      const result = await tx.run('MATCH (g:Graph {model: $model}) RETURN DISTINCT g.transcoderSet AS t ORDER BY t', {
        model,
      });
      return result.records.map((r) => r.get('t') as string);
    }, 'listing transcoder sets');
  }

  async commonFeatures(scope: Collection.GraphScope, minCount: number): Promise<Collection.FeatureAggregate[]> {
    return this.read(async (tx) => {
      // Per (feature, graph) the largest activation over positions, then sums over graphs.
      const result = await tx.run(
        `UNWIND $ids AS gid
         MATCH (n:Node {graphId: gid})-[:OF_FEATURE]->(f:Feature)
         WHERE f.model = $model AND f.transcoderSet = $transcoderSet
         WITH f, gid, max(n.activation) AS act
         WITH f, count(gid) AS graphCount, sum(coalesce(act, 0.0)) AS s, sum(coalesce(act * act, 0.0)) AS ss
         WHERE graphCount >= $minCount
         RETURN f.layer AS layer, f.index AS index, graphCount, s AS sum, ss AS sumSquares`,
        { ids: scope.graphIds, model: scope.model, transcoderSet: scope.transcoderSet, minCount: int(minCount) },
      );
      return result.records.map((r) => r.toObject() as Collection.FeatureAggregate);
    }, 'finding the common features');
  }

  async commonEdges(
    scope: Collection.GraphScope,
    features: Collection.FeatureRef[],
    minCount: number,
  ): Promise<Collection.EdgeAggregate[]> {
    return this.read(async (tx) => {
      const result = await tx.run(
        `UNWIND $features AS key
         MATCH (f:Feature {model: $model, transcoderSet: $transcoderSet, layer: key[0], index: key[1]})
         WITH collect(f) AS kept, collect(key) AS keys
         UNWIND kept AS f
         MATCH (f)<-[:OF_FEATURE]-(s:Node)-[e:EDGE]->(t:Node)
         WHERE s.graphId IN $ids AND (t.kind = 'logit' OR (t.kind = 'feature' AND [t.layer, t.feature] IN keys))
         WITH s.graphId AS gid, f.layer AS sLayer, f.index AS sIndex, t.kind AS tkind, t.layer AS tLayer,
              t.feature AS tFeature, min(t.label) AS tlabel, sum(e.weight) AS w
         WITH sLayer, sIndex, tkind, tLayer, tFeature, min(tlabel) AS tlabel,
              count(gid) AS graphCount, sum(w) AS s, sum(w * w) AS ss
         WHERE graphCount >= $minCount
         RETURN sLayer, sIndex, tkind, tLayer, tFeature AS tIndex, tFeature AS ttoken, tlabel, graphCount,
                s AS sum, ss AS sumSquares`,
        {
          ids: scope.graphIds,
          features: features.map((f) => [int(f.layer), int(f.index)]),
          model: scope.model,
          transcoderSet: scope.transcoderSet,
          minCount: int(minCount),
        },
      );
      // A node's `feature` is the feature index, or the token id of a logit node.
      return result.records.map((r) => edgeAggregateOf(r.toObject() as EdgeAggregateRow));
    }, 'finding the common edges');
  }

  async featureSets(graphIds: string[]): Promise<Map<string, string[]>> {
    return this.read(async (tx) => {
      const result = await tx.run(
        `UNWIND $ids AS gid
         MATCH (n:Node {graphId: gid}) WHERE n.kind = 'feature'
         WITH gid, collect(DISTINCT toString(n.layer) + ':' + toString(n.feature)) AS features
         RETURN gid, features`,
        { ids: graphIds },
      );
      const sets = new Map<string, string[]>(graphIds.map((id) => [id, []]));
      for (const r of result.records) sets.set(r.get('gid') as string, r.get('features') as string[]);
      return sets;
    }, 'reading feature sets');
  }

  async graphsWithFeature(
    scope: Collection.UsesScope,
    feature: Collection.FeatureRef,
    page: Collection.PageWindow,
  ): Promise<Collection.Paged<Collection.FeatureUse>> {
    const { model, transcoderSet, graphIds: ids } = scope;
    const layer = int(feature.layer);
    const params = { model, transcoderSet, ids, layer, index: int(feature.index), ...pageParams(page) };
    const match = `MATCH (f:Feature {model: $model, transcoderSet: $transcoderSet, layer: $layer, index: $index})<-[:OF_FEATURE]-(n:Node)
      WHERE $ids IS NULL OR n.graphId IN $ids`;
    return this.read(async (tx) => {
      const total = await tx.run(`${match} RETURN count(DISTINCT n.graphId) AS total`, params);
      const items = await tx.run(
        `${match}
         WITH n.graphId AS graphId, count(n) AS occurrences, max(n.activation) AS maxActivation
         MATCH (g:Graph {id: graphId})
         RETURN graphId, g.prompt AS prompt, occurrences, maxActivation
         ORDER BY maxActivation DESC, graphId ASC SKIP $offset LIMIT $limit`,
        params,
      );
      return {
        total: total.records[0].get('total') as number,
        items: items.records.map((r) => r.toObject() as Collection.FeatureUse),
      };
    }, 'finding the graphs that use a feature');
  }

  async graphsWithPath(
    scope: Collection.UsesScope,
    { from, to, maxHops }: { from: Collection.PathEnd; to: Collection.PathEnd; maxHops: number },
    page: Collection.PageWindow,
  ): Promise<Collection.Paged<Collection.PathUse>> {
    // maxHops is written into the Cypher text (a pattern length cannot be a parameter).
    if (!Number.isInteger(maxHops) || maxHops < 1 || maxHops > 3)
      throw new StoreError('INVALID', `maxHops must be 1, 2 or 3, got ${maxHops}`);
    const { model, transcoderSet, graphIds: ids } = scope;
    const ends = { ...endParams('from', from), ...endParams('to', to) };
    const params = { model, transcoderSet, ids, ...ends, ...pageParams(page) };
    // The start nodes are found through their graph (indexed by model), or the feature's nodes.
    const start =
      from.kind === 'feature'
        ? `MATCH (:Feature {model: $model, transcoderSet: $transcoderSet, layer: $fromLayer, index: $fromIndex})<-[:OF_FEATURE]-(s:Node)
           WHERE $ids IS NULL OR s.graphId IN $ids`
        : `MATCH (g:Graph {model: $model, transcoderSet: $transcoderSet}) WHERE $ids IS NULL OR g.id IN $ids
           MATCH (s:Node {graphId: g.id}) WHERE ${endCondition('s', 'from', from)}`;
    const found = `${start}
      MATCH p = (s)-[:EDGE*1..${maxHops}]->(t:Node) WHERE ${endCondition('t', 'to', to)}
      WITH s.graphId AS graphId, reduce(w = 1.0, r IN relationships(p) | w * r.weight) AS w
      WITH graphId, count(*) AS paths, max(abs(w)) AS strongest, sum(w) AS total`;
    return this.read(async (tx) => {
      const count = await tx.run(`${found} RETURN count(graphId) AS n`, params);
      const items = await tx.run(
        `${found} MATCH (g:Graph {id: graphId})
         RETURN graphId, g.prompt AS prompt, paths, strongest, total
         ORDER BY strongest DESC, graphId ASC SKIP $offset LIMIT $limit`,
        params,
      );
      const paths = items.records.map((r) => r.toObject() as Collection.PathUse);
      return { total: count.records[0].get('n') as number, items: paths };
    }, 'finding the graphs with a path');
  }

  async close(): Promise<void> {
    // The driver belongs to the store.
  }
}
