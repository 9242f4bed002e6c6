/**
 * The node labels of a served graph, resolved once per graph document (resolveNodeLabels) rather
 * than once per node and field: node reads are kept for a while (served-graph.ts), so a viewer's
 * reloads and clicks reuse the labels too. A saved label changed through this server makes every
 * kept resolution stale.
 */
import type { GraphDocument } from '@circuit-atlas/schema';
import { resolveNodeLabels, type GraphNodeLabels } from '../figure/node-labels.js';
import type { ApiContext } from './context.js';

interface Kept {
  generation: number;
  labels: Promise<GraphNodeLabels>;
}

const kept = new WeakMap<GraphDocument, Kept>();
/** Bumped per store by every saved-label change. */
const generations = new WeakMap<object, number>();

export function graphLabels(context: ApiContext, graph: GraphDocument): Promise<GraphNodeLabels> {
  const generation = generations.get(context.store) ?? 0;
  const hit = kept.get(graph);
  if (hit && hit.generation === generation) return hit.labels;
  const labels = resolveNodeLabels(graph, context.store, context.catalog);
  labels.catch(() => kept.delete(graph)); // a failed read may succeed next time
  kept.set(graph, { generation, labels });
  return labels;
}

/** Called after a feature label is saved: kept resolutions may show the old one. */
export function forgetGraphLabels(context: ApiContext): void {
  generations.set(context.store, (generations.get(context.store) ?? 0) + 1);
}
