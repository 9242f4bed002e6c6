/** The SDL, a file of @circuit-atlas/schema (graphql/schema.graphql): the one contract of the API. */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

// createRequire rather than import.meta.resolve: Vite's module runner (tests' global setup) lacks the latter.
export const SCHEMA_PATH = createRequire(import.meta.url).resolve('@circuit-atlas/schema/schema.graphql');

export function loadTypeDefs(): string {
  return readFileSync(SCHEMA_PATH, 'utf8');
}
