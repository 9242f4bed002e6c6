/**
 * A writer process for the "no partial graph" tests: generates a big random graph, says SAVING on
 * stdout, saves it, says SAVED. The test SIGKILLs it partway through the save.
 * Usage: node --import tsx server/test/store-writer-process.ts sqlite <file> <graphId> <nodes> <edges> <model>
 *        node --import tsx server/test/store-writer-process.ts neo4j <boltUri> <graphId> <nodes> <edges> <model>
 */
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { Neo4jStore } from '../src/store/neo4j/neo4j-store.js';
import { randomGraph } from '../../test-support/graph-generator.js';

const [kind, target, graphId, nodes, edges, model] = process.argv.slice(2);
const graph = randomGraph({
  id: graphId,
  seed: 99,
  nodes: Number(nodes),
  edges: Number(edges),
  nLayers: 12,
  nPos: 24,
  model,
  featurePool: 2000,
});
const store = kind === 'sqlite' ? new SqliteStore(target) : new Neo4jStore({ uri: target });
await store.init();
process.stdout.write('SAVING\n');
await store.saveGraph(graph);
process.stdout.write('SAVED\n');
await store.close();
