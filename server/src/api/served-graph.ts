/**
 * How the `graph` query reads a stored graph: whole when the query asks for anything computed from
 * its edges, else only its record and kept nodes (the viewer's first read), with edges fetched per
 * node through `Graph.incidentEdges` (DESIGN.md decision 8). One selection rule, shared by the
 * resolver (what to read) and the cost model (what to charge).
 */
import { Kind, type FragmentDefinitionNode, type SelectionSetNode } from 'graphql';
import { packEdgeTable, type EdgeTable, type GraphDocument } from '@circuit-atlas/schema';
import type { EdgeDirection, PruneOptions } from '../store/graph-store.js';
import type { ApiContext } from './context.js';
import { badUserInput, notFound } from './errors.js';

/** Graph fields answered from the graph's record and kept nodes alone. */
const NODE_ONLY_FIELDS = new Set([
  '__typename',
  'id',
  'prompt',
  'promptTokens',
  'tokenIds',
  'model',
  'transcoderSet',
  'nLayers',
  'createdAt',
  'settings',
  'scores',
  'nodeCount',
  'nodes',
  'nodeTable',
  'views',
  'incidentEdges',
]);

/** Most node ids one incidentEdges read may ask for (as many as a saved view may pin). */
export const MAX_INCIDENT_NODE_IDS = 2000;

/** True when a selection on Graph asks for a field that needs the graph's edges (any field not known to be node-only). */
export function selectionReadsEdges(
  selectionSet: SelectionSetNode | undefined,
  fragments: Record<string, FragmentDefinitionNode>,
  // Each fragment is judged once: spreads that repeat a fragment cost nothing more (validation rejects cycles).
  judged: Map<string, boolean> = new Map(),
): boolean {
  if (!selectionSet) return true;
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) {
      if (!NODE_ONLY_FIELDS.has(selection.name.value)) return true;
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      if (selectionReadsEdges(selection.selectionSet, fragments, judged)) return true;
    } else {
      const name = selection.name.value;
      if (!judged.has(name)) {
        judged.set(name, true); // a cycle, if validation ever let one through, reads edges
        judged.set(name, selectionReadsEdges(fragments[name]?.selectionSet, fragments, judged));
      }
      if (judged.get(name)) return true;
    }
  }
  return false;
}

/** The thresholds each served graph document was read at (incidentEdges reads at the same ones). */
const servedPrune = new WeakMap<GraphDocument, PruneOptions>();

/**
 * Node-only reads kept for a short while per store: a viewer's clicks each ask for the same graph's
 * nodes (to index its incident edges), and stored graphs never change (a deleted one answers its
 * incident-edge reads with "deleted" from the store itself).
 */
const NODE_READ_TTL_MS = 30_000;
const NODE_READS_KEPT = 8;
const nodeReads = new WeakMap<object, Map<string, { at: number; graph: Promise<GraphDocument | null> }>>();

function cachedNodeRead(context: ApiContext, id: string, prune: PruneOptions): Promise<GraphDocument | null> {
  let reads = nodeReads.get(context.store);
  if (!reads) nodeReads.set(context.store, (reads = new Map()));
  const key = `${id}\u0000${prune.nodeThreshold ?? ''}\u0000${prune.edgeThreshold ?? ''}`;
  const hit = reads.get(key);
  if (hit && Date.now() - hit.at < NODE_READ_TTL_MS) return hit.graph;
  const graph = context.loaders.graphNodes.load({ id, ...prune });
  // A missing graph may be saved later, a failed read may succeed: neither is kept.
  graph.then(
    (g) => g === null && reads.delete(key),
    () => reads.delete(key),
  );
  reads.set(key, { at: Date.now(), graph });
  while (reads.size > NODE_READS_KEPT) reads.delete(reads.keys().next().value!);
  return graph;
}

/** Drops the kept node reads of a graph this server deleted or replaced. */
export function forgetNodeReads(context: ApiContext, id: string): void {
  const reads = nodeReads.get(context.store);
  for (const key of [...(reads?.keys() ?? [])]) if (key.startsWith(`${id}\u0000`)) reads!.delete(key);
}

/** Reads the graph as the query needs it: whole, or its record and nodes only. */
export async function serveGraph(
  context: ApiContext,
  id: string,
  prune: PruneOptions,
  readsEdges: boolean,
): Promise<GraphDocument | null> {
  const graph = await (readsEdges ? context.loaders.graphs.load({ id, ...prune }) : cachedNodeRead(context, id, prune));
  if (graph) servedPrune.set(graph, prune);
  return graph;
}

export interface PackedIncidentEdges {
  table: EdgeTable;
  shares: (number | null)[];
}

/** The kept edges touching `nodeIds`, packed by index into `graph.nodes`, with the shares of edges into them. */
export async function incidentEdgesOf(
  context: ApiContext,
  graph: GraphDocument,
  nodeIds: readonly string[],
  direction: EdgeDirection,
): Promise<PackedIncidentEdges> {
  if (nodeIds.length > MAX_INCIDENT_NODE_IDS) {
    throw badUserInput(`incidentEdges takes at most ${MAX_INCIDENT_NODE_IDS} node ids (got ${nodeIds.length})`);
  }
  const served = new Set(graph.nodes.map((node) => node.nodeId));
  const missing = nodeIds.find((id) => !served.has(id));
  if (missing !== undefined) {
    throw badUserInput(
      `incidentEdges: graph '${graph.id}' has no node '${missing}' at these thresholds; ask for ids from its nodes`,
    );
  }
  const prune = servedPrune.get(graph) ?? {};
  const answer = await context.store.getIncidentEdges(graph.id, nodeIds, { ...prune, direction });
  if (!answer) throw notFound(`graph '${graph.id}' was deleted while reading it`);
  const shares = answer.edges.map((edge) => {
    const total = answer.targetInputTotals.get(edge.target);
    if (total === undefined) return null; // not an edge into an asked node
    return total > 0 ? edge.weight / total : 0;
  });
  return { table: packEdgeTable(graph.nodes, answer.edges), shares };
}

/** The cost model's estimate of how many edges an incidentEdges read returns. */
export function incidentEdgeEstimate(askedNodes: number, nodeCount: number, edgeCount: number): number {
  // Mean degree in + out, times 4 for the skew of real graphs (logits and early features have many more).
  const perNode = nodeCount > 0 ? (8 * edgeCount) / nodeCount : 0;
  return Math.min(edgeCount, Math.ceil(askedNodes * perNode));
}
