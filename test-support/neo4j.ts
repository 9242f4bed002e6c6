/** The Bolt URI of the Neo4j the global setup started (or NEO4J_URI). */
import { inject } from 'vitest';

export function neo4jUri(): string {
  return inject('neo4jUri');
}
