/**
 * What the API tests share: the two real stores to run against, a GraphQL client over real HTTP,
 * and job polling. Not a test file itself (no `.test.ts`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { neo4jUri } from '../../test-support/neo4j.js';
import { openStore } from '../src/store/open-store.js';
import type { GraphStore } from '../src/store/graph-store.js';

export const FIXTURE_MODELS = fileURLToPath(new URL('../../tracer/test/fixtures/models', import.meta.url));
export const REFERENCE_FIXTURES = fileURLToPath(new URL('../../tracer/test/fixtures/reference', import.meta.url));
export const DEMO_PROMPT = 'Fact: the capital of the state containing Dallas is';

export interface StoreCase {
  name: 'sqlite' | 'neo4j';
  /** Opens a fresh connection to the store; `cleanup` removes what the case created on disk. */
  open(): Promise<{ store: GraphStore; cleanup(): void }>;
}

export const STORE_CASES: StoreCase[] = [
  {
    name: 'sqlite',
    async open() {
      const dir = mkdtempSync(join(tmpdir(), 'atlas-api-'));
      const store = await openStore({ ATLAS_DB: join(dir, 'atlas.sqlite') });
      return { store, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
    },
  },
  {
    name: 'neo4j',
    async open() {
      const store = await openStore({ NEO4J_URI: neo4jUri() });
      return { store, cleanup: () => {} };
    },
  },
];

export interface GraphQLResponse<T = Record<string, unknown>> {
  status: number;
  data: T | null | undefined;
  errors: { message: string; extensions?: { code?: string } & Record<string, unknown> }[] | undefined;
}

/** POSTs one GraphQL request and returns the HTTP status with the parsed body. */
export async function gql<T = Record<string, unknown>>(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Promise<GraphQLResponse<T>> {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: T | null; errors?: GraphQLResponse['errors'] };
  return { status: response.status, data: body.data, errors: body.errors };
}

/** The data of a request that must succeed; fails the test with the server's errors otherwise. */
export async function gqlData<T = Record<string, unknown>>(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Promise<T> {
  const response = await gql<T>(url, query, variables, headers);
  if (response.errors?.length || !response.data) {
    throw new Error(`GraphQL request failed (${response.status}): ${JSON.stringify(response.errors)}`);
  }
  return response.data;
}

export interface JobView {
  id: string;
  status: string;
  progress: number;
  phase: string | null;
  graphId: string | null;
  error: string | null;
}

export const JOB_FIELDS = 'id status progress phase graphId error';

/** Polls job(id) until it has finished; returns every state seen, the last one finished. */
export async function pollJob(url: string, id: string, timeoutMs = 240_000): Promise<JobView[]> {
  const seen: JobView[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { job } = await gqlData<{ job: JobView }>(url, `query($id: ID!) { job(id: $id) { ${JOB_FIELDS} } }`, { id });
    seen.push(job);
    if (['done', 'failed', 'cancelled'].includes(job.status)) return seen;
    if (Date.now() > deadline) throw new Error(`job ${id} still ${job.status} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
