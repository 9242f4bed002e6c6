/**
 * The labels a graph's nodes are shown with, resolved for the whole graph in one pass: a
 * researcher's saved label, else the automatic label from the model's feature dashboards, else the
 * stored label, else a name from the node's place (figure's `shownLabel`). The API's Node fields,
 * the viewer and the CLI's figures all read them from here, so the same node has the same label
 * everywhere.
 */
import type { GraphDocument } from '@circuit-atlas/schema';
import { shownLabel } from '@circuit-atlas/figure';
import type { ModelCatalog } from '../models/catalog.js';
import type { FeatureLabel, GraphStore } from '../store/graph-store.js';

export interface GraphNodeLabels {
  /** Saved labels of the graph's feature nodes, by node id. */
  user: Map<string, FeatureLabel>;
  /** Dashboard labels of the graph's feature nodes, by node id (models the catalog holds). */
  auto: Map<string, string>;
  /** What each node is shown with, by node id. */
  shown: Map<string, string>;
}

/** Saved-label reads in flight at once (one Neo4j session each; SQLite answers synchronously). */
const LABEL_READS_IN_FLIGHT = 8;

export async function resolveNodeLabels(
  graph: GraphDocument,
  store: Pick<GraphStore, 'getFeatureLabel'>,
  catalog: Pick<ModelCatalog, 'find' | 'featureDetail'> | null,
): Promise<GraphNodeLabels> {
  const features = graph.nodes.filter((node) => node.kind === 'feature' && node.feature !== null);
  const owner = { model: graph.model, transcoderSet: graph.transcoderSet };
  // A feature may appear at several positions: each (layer, index) is read once.
  const keys = new Map<string, { layer: number; index: number }>();
  for (const node of features) keys.set(`${node.layer}:${node.feature}`, { layer: node.layer, index: node.feature! });
  const saved = new Map<string, FeatureLabel>();
  const queue = [...keys];
  await Promise.all(
    Array.from({ length: Math.min(LABEL_READS_IN_FLIGHT, queue.length) }, async () => {
      for (let next = queue.pop(); next; next = queue.pop()) {
        const label = await store.getFeatureLabel({ ...owner, ...next[1] });
        if (label) saved.set(next[0], label);
      }
    }),
  );
  const model = catalog ? await catalog.find(graph.model) : null;
  const dashboard = new Map<string, string>();
  if (model && catalog) {
    for (const [key, { layer, index }] of keys) {
      const label = (await catalog.featureDetail(model.dir, layer, index))?.label;
      if (label) dashboard.set(key, label);
    }
  }
  const user = new Map<string, FeatureLabel>();
  const auto = new Map<string, string>();
  for (const node of features) {
    const key = `${node.layer}:${node.feature}`;
    const own = saved.get(key);
    if (own) user.set(node.nodeId, own);
    const automatic = dashboard.get(key);
    if (automatic) auto.set(node.nodeId, automatic);
  }
  const shown = new Map(
    graph.nodes.map((node) => [
      node.nodeId,
      shownLabel(node, { user: user.get(node.nodeId)?.label, auto: auto.get(node.nodeId) }),
    ]),
  );
  return { user, auto, shown };
}

/** The graph with every node's label replaced by the label it is shown with (for figures and exports). */
export function withShownLabels(graph: GraphDocument, labels: GraphNodeLabels): GraphDocument {
  return { ...graph, nodes: graph.nodes.map((node) => ({ ...node, label: labels.shown.get(node.nodeId)! })) };
}
