/**
 * @circuit-atlas/schema — the contracts every other package agrees on, each defined once: the graph
 * document types, node kinds and the node-id scheme, the graph-id pattern, trace settings with their
 * defaults and validation, the compact node and edge encodings of the API, the GraphQL types generated from
 * the SDL, and the seeded PRNG that makes samples reproducible. The SDL (graphql/schema.graphql) and the
 * graph JSON Schema (graph-json.schema.json) are files of this package, exported as such.
 */
export type { GraphDocument, GraphNode, GraphEdge, GraphSettings, GraphScores } from './graph-document.js';
export { NODE_KINDS, formatNodeId, parseNodeId, legacyErrorNodeId } from './node-id.js';
export type { NodeKind, NodeAddress } from './node-id.js';
export { GRAPH_ID_PATTERN, isGraphId, graphIdProblem } from './graph-id.js';
export {
  TRACE_SETTING_DEFAULTS,
  TRACE_SETTING_RANGES,
  REFERENCE_GENERATION_DEFAULTS,
  checkTraceSetting,
  resolveTraceSettings,
} from './trace-settings.js';
export type { TraceSettings } from './trace-settings.js';
export { UserInputError } from './user-input-error.js';
export { packEdgeTable, unpackEdgeTable } from './edge-table.js';
export type { EdgeTable } from './edge-table.js';
export { packNodeTable, unpackNodeTable } from './node-table.js';
export type { NodeTable, TableNode } from './node-table.js';
export { seededRandom } from './seeded-random.js';
export type * as Api from './generated/graphql-types.js';
