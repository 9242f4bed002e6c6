// `npm run neo4j`: a local Neo4j for development, Bolt on 127.0.0.1 (NEO4J_PORT, default 7687),
// data under ./data/neo4j (NEO4J_DATA). Stops on Ctrl-C or when stdin closes.
import { startNeo4j } from './launcher.js';

const port = Number(process.env.NEO4J_PORT ?? 7687);
const dataDir = process.env.NEO4J_DATA ?? 'data/neo4j';
const neo4j = await startNeo4j({ port, dataDir });
console.log(`Neo4j is ready at ${neo4j.uri} (auth off, data in ${dataDir}). Press Ctrl-C to stop.`);
console.log(`Use it with: NEO4J_URI=${neo4j.uri} npx circuit-atlas serve`);
const shutdown = async () => {
  await neo4j.stop();
  process.exit(0);
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
process.stdin.on('end', shutdown);
process.stdin.resume();
