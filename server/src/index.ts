/**
 * @circuit-atlas/server — stores, analysis, the GraphQL app and the figure renderer, for the CLI
 * (server/src/cli), the benchmarks and the browser tests. The CLI itself is bin/circuit-atlas.js.
 */
export { startServer, serverOptionsFromEnv } from './app.js';
export type { RunningServer, ServerOptions } from './app.js';
export type { GraphStore, GraphSummary, FeatureLabel, SavedView } from './store/graph-store.js';
export { openStore } from './store/open-store.js';
export { SqliteStore } from './store/sqlite/sqlite-store.js';
export { Neo4jStore } from './store/neo4j/neo4j-store.js';
export { StoreError } from './store/store-error.js';
export { ModelCatalog } from './models/catalog.js';
export type { ModelEntry } from './models/catalog.js';
export { compareGraphs } from './analysis/compare.js';
export { findTopPaths } from './analysis/paths.js';
export { renderFigure } from './figure/render-figure.js';
export { ensureViewerBuilt, viewerBuildIsStale } from './viewer/build-viewer.js';
export { InProcessBatchQueue } from './jobs/batch-queue.js';
export type { BatchQueue } from './jobs/batch-queue.js';
export { BullmqBatchQueue, startBullmqWorker } from './jobs/bullmq-queue.js';
export { parsePromptLines, derivedBatchId, describeBatchCounts } from './jobs/batch.js';
export type { BatchSpec, BatchStatus, BatchPrompt } from './jobs/batch.js';
export {
  collectionQueriesOf,
  commonCircuit,
  clusterGraphs,
  graphsUsingFeature,
  graphsUsingPath,
  parsePathEnd,
} from './analysis/collection.js';
export type { CommonCircuit, Clustering } from './analysis/collection.js';
