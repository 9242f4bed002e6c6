/**
 * Checks a GraphDocument before either store writes it, so both stores refuse the same documents
 * with the same messages and neither has to discover a bad row halfway through a transaction.
 */
import { NODE_KINDS, graphIdProblem, isGraphId, type GraphDocument } from '@circuit-atlas/schema';
import { StoreError } from './store-error.js';

const NODE_KIND_SET: ReadonlySet<string> = new Set(NODE_KINDS);

export function checkGraphId(id: string): void {
  if (!isGraphId(id)) throw new StoreError('INVALID', graphIdProblem(id));
}

function isInt(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value);
}

function isFiniteOrNull(value: unknown): boolean {
  return value === null || (typeof value === 'number' && Number.isFinite(value));
}

/** Throws StoreError 'INVALID' naming the first problem found. */
export function checkGraphDocument(graph: GraphDocument): void {
  checkGraphId(graph.id);
  const where = `graph '${graph.id}'`;
  if (typeof graph.prompt !== 'string') throw new StoreError('INVALID', `${where}: prompt must be a string`);
  if (typeof graph.model !== 'string' || graph.model === '') {
    throw new StoreError('INVALID', `${where}: model must be a non-empty string`);
  }
  if (typeof graph.transcoderSet !== 'string')
    throw new StoreError('INVALID', `${where}: transcoderSet must be a string`);
  if (!isInt(graph.nLayers) || graph.nLayers < 0)
    throw new StoreError('INVALID', `${where}: nLayers must be an integer ≥ 0`);
  if (!Array.isArray(graph.promptTokens) || graph.promptTokens.some((t) => typeof t !== 'string')) {
    throw new StoreError('INVALID', `${where}: promptTokens must be an array of strings`);
  }
  if (!Array.isArray(graph.tokenIds) || graph.tokenIds.some((t) => !isInt(t))) {
    throw new StoreError('INVALID', `${where}: tokenIds must be an array of integers`);
  }
  if (Number.isNaN(Date.parse(graph.createdAt))) {
    throw new StoreError('INVALID', `${where}: createdAt ${JSON.stringify(graph.createdAt)} is not an ISO 8601 time`);
  }
  const s = graph.settings;
  if (
    !s ||
    !isInt(s.maxNLogits) ||
    !isInt(s.batchSize) ||
    !(s.maxFeatureNodes === null || isInt(s.maxFeatureNodes)) ||
    !Number.isFinite(s.desiredLogitProb) ||
    !Number.isFinite(s.nodeThreshold) ||
    !Number.isFinite(s.edgeThreshold)
  ) {
    throw new StoreError('INVALID', `${where}: settings must hold integer maxNLogits/batchSize and finite thresholds`);
  }
  if (
    graph.scores !== null &&
    !(Number.isFinite(graph.scores?.replacement) && Number.isFinite(graph.scores?.completeness))
  ) {
    throw new StoreError('INVALID', `${where}: scores must be null or hold finite replacement and completeness`);
  }

  const nodeIds = new Set<string>();
  for (const node of graph.nodes) {
    const at = `${where}, node ${JSON.stringify(node.nodeId)}`;
    if (typeof node.nodeId !== 'string' || node.nodeId === '')
      throw new StoreError('INVALID', `${where}: a node has no nodeId`);
    if (nodeIds.has(node.nodeId)) throw new StoreError('INVALID', `${at}: the node id appears twice`);
    nodeIds.add(node.nodeId);
    if (!NODE_KIND_SET.has(node.kind))
      throw new StoreError('INVALID', `${at}: kind must be feature, error, embedding or logit`);
    if (!isInt(node.layer) || !isInt(node.ctxIdx))
      throw new StoreError('INVALID', `${at}: layer and ctxIdx must be integers`);
    if (!(node.feature === null || isInt(node.feature)))
      throw new StoreError('INVALID', `${at}: feature must be an integer or null`);
    if (node.kind === 'feature' && node.feature === null)
      throw new StoreError('INVALID', `${at}: a feature node needs its feature index`);
    if (!isFiniteOrNull(node.activation) || !isFiniteOrNull(node.influence) || !isFiniteOrNull(node.tokenProb)) {
      throw new StoreError('INVALID', `${at}: activation, influence and tokenProb must be finite numbers or null`);
    }
    if (typeof node.isTargetLogit !== 'boolean' || typeof node.label !== 'string') {
      throw new StoreError('INVALID', `${at}: isTargetLogit must be a boolean and label a string`);
    }
  }
  const edgeKeys = new Set<string>();
  for (const edge of graph.edges) {
    const at = `${where}, edge ${edge.source} → ${edge.target}`;
    if (!nodeIds.has(edge.source) || !nodeIds.has(edge.target)) {
      throw new StoreError('INVALID', `${at}: the edge names a node the graph does not have`);
    }
    const key = `${edge.source}\u0000${edge.target}`;
    if (edgeKeys.has(key)) throw new StoreError('INVALID', `${at}: the edge appears twice`);
    edgeKeys.add(key);
    if (!Number.isFinite(edge.weight) || !isFiniteOrNull(edge.influence)) {
      throw new StoreError('INVALID', `${at}: weight must be a finite number and influence finite or null`);
    }
  }
}

/** Checks the offset and limit of a paginated query; both stores page the same way. */
export function pageBounds(page: { offset?: number; limit?: number } | undefined, defaultLimit: number) {
  const offset = page?.offset ?? 0;
  const limit = page?.limit ?? defaultLimit;
  if (!isInt(offset) || offset < 0) throw new StoreError('INVALID', `offset must be an integer ≥ 0 (got ${offset})`);
  if (!isInt(limit) || limit < 0 || limit > 10_000) {
    throw new StoreError('INVALID', `limit must be an integer from 0 to 10000 (got ${limit})`);
  }
  return { offset, limit };
}

/** Throws StoreError 'INVALID' for a feature key that is not (string, string, int, int). */
export function checkFeatureKey(feature: { model: string; transcoderSet: string; layer: number; index: number }): void {
  if (
    typeof feature?.model !== 'string' ||
    typeof feature.transcoderSet !== 'string' ||
    !isInt(feature.layer) ||
    !isInt(feature.index)
  ) {
    throw new StoreError('INVALID', 'a feature is named by model, transcoderSet (strings), layer and index (integers)');
  }
}

/** Throws StoreError 'INVALID' for a malformed view; node ids are checked against the graph by the store. */
export function checkNewView(view: {
  graphId: string;
  name: string;
  pinnedIds: string[];
  supernodes: { name: string; nodeIds: string[] }[];
  nodeThreshold: number | null;
  edgeThreshold: number | null;
}): string[] {
  checkGraphId(view.graphId);
  if (typeof view.name !== 'string' || view.name.trim() === '')
    throw new StoreError('INVALID', 'a view needs a non-empty name');
  if (!Array.isArray(view.pinnedIds) || view.pinnedIds.some((id) => typeof id !== 'string')) {
    throw new StoreError('INVALID', 'view pinnedIds must be an array of node ids');
  }
  if (
    !Array.isArray(view.supernodes) ||
    view.supernodes.some(
      (s) => typeof s?.name !== 'string' || !Array.isArray(s.nodeIds) || s.nodeIds.some((id) => typeof id !== 'string'),
    )
  ) {
    throw new StoreError('INVALID', 'view supernodes must be a list of { name, nodeIds: string[] }');
  }
  for (const value of [view.nodeThreshold, view.edgeThreshold]) {
    if (!(value === null || (typeof value === 'number' && Number.isFinite(value) && value >= 0 && value <= 1))) {
      throw new StoreError('INVALID', `view thresholds must be null or a number in [0, 1] (got ${value})`);
    }
  }
  // Every node id the view names, for the store to check against the graph.
  return [...new Set([...view.pinnedIds, ...view.supernodes.flatMap((s) => s.nodeIds)])];
}

/** Throws StoreError 'INVALID' for a prune option outside [0, 1]. */
export function checkPrune(prune: { nodeThreshold?: number; edgeThreshold?: number } | undefined): void {
  for (const value of [prune?.nodeThreshold, prune?.edgeThreshold]) {
    if (value !== undefined && !(typeof value === 'number' && Number.isFinite(value) && value >= 0 && value <= 1)) {
      throw new StoreError('INVALID', `pruning thresholds must be numbers in [0, 1] (got ${value})`);
    }
  }
}

/** Throws StoreError 'INVALID' for a label that is not a string or an author that is empty. */
export function checkFeatureLabel(label: string, author: string): void {
  if (typeof label !== 'string' || typeof author !== 'string' || author.trim() === '') {
    throw new StoreError('INVALID', 'a feature label needs a label string and a non-empty author');
  }
}

/** The checked paging and sort of listGraphs; the store maps `sortBy` to its own column. */
export function checkListGraphs(options: { sortBy?: string; order?: string; offset?: number; limit?: number }): {
  offset: number;
  limit: number;
  sortBy: 'createdAt' | 'prompt' | 'nodeCount';
  order: 'asc' | 'desc';
} {
  const { offset, limit } = pageBounds(options, 20);
  const sortBy = options.sortBy ?? 'createdAt';
  if (sortBy !== 'createdAt' && sortBy !== 'prompt' && sortBy !== 'nodeCount') {
    throw new StoreError('INVALID', `sortBy must be createdAt, prompt or nodeCount (got ${options.sortBy})`);
  }
  const order = options.order ?? 'desc';
  if (order !== 'asc' && order !== 'desc') throw new StoreError('INVALID', `order must be asc or desc (got ${order})`);
  return { offset, limit, sortBy, order };
}

/** The side of getIncidentEdges: 'in', 'out' or 'both'; StoreError 'INVALID' otherwise. */
export function checkEdgeDirection(direction: string): 'in' | 'out' | 'both' {
  if (direction !== 'in' && direction !== 'out' && direction !== 'both') {
    throw new StoreError('INVALID', `direction must be 'in', 'out' or 'both' (got ${direction})`);
  }
  return direction;
}

/** The checked paging and direction of getNodeEdges. */
export function checkIncidentEdges(options: { direction: string; offset?: number; limit?: number }): {
  offset: number;
  limit: number;
  direction: 'in' | 'out';
} {
  const { offset, limit } = pageBounds(options, 20);
  if (options.direction !== 'in' && options.direction !== 'out') {
    throw new StoreError('INVALID', `direction must be 'in' or 'out' (got ${options.direction})`);
  }
  return { offset, limit, direction: options.direction };
}
