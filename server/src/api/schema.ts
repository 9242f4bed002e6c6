/** The SDL, read from schema/graphql/schema.graphql: the one contract of the API. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const SCHEMA_PATH = fileURLToPath(new URL('../../../schema/graphql/schema.graphql', import.meta.url));

export function loadTypeDefs(): string {
  return readFileSync(SCHEMA_PATH, 'utf8');
}
