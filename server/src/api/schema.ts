/** The SDL, a file of @circuit-atlas/schema (graphql/schema.graphql): the one contract of the API. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const SCHEMA_PATH = fileURLToPath(import.meta.resolve('@circuit-atlas/schema/schema.graphql'));

export function loadTypeDefs(): string {
  return readFileSync(SCHEMA_PATH, 'utf8');
}
