/**
 * The trace job queue behind the API, over real HTTP with the real tracer in child processes and a
 * real SQLite store: one trace at a time, queued jobs wait, cancelling stops the tracer process, a
 * job outlives the client that asked for it, and the server answers while a trace runs.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../src/app.js';
import { TraceQueue } from '../src/jobs/trace-queue.js';
import { ModelCatalog } from '../src/models/catalog.js';
import type { GraphStore } from '../src/store/graph-store.js';
import { openStore } from '../src/store/open-store.js';
import { FIXTURE_MODELS, JOB_FIELDS, gqlData, pollJob, type JobView } from './api-support.js';

const PROMPT = 'The capital of Texas is';
/** One target per backward pass: the slowest setting, so a trace runs long enough to watch. */
const SLOW = { batchSize: 1 };

let dir: string;
let store: GraphStore;
let server: RunningServer;

async function submit(prompt: string, options: Record<string, unknown> = {}): Promise<JobView> {
  const { trace } = await gqlData<{ trace: JobView }>(
    server.url,
    `mutation($p: String!, $o: TraceOptions) { trace(prompt: $p, model: "llama-tiny", options: $o) { ${JOB_FIELDS} } }`,
    { p: prompt, o: options },
  );
  return trace;
}

async function job(id: string): Promise<JobView> {
  return (await gqlData<{ job: JobView }>(server.url, `query($id: ID!) { job(id: $id) { ${JOB_FIELDS} } }`, { id }))
    .job;
}

/** Tracer child processes of this test process (the server runs in it). */
function tracerProcesses(): string[] {
  const out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)], { encoding: 'utf8' });
  return out.split('\n').filter((line) => line.includes('trace-worker'));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'atlas-api-jobs-'));
  store = await openStore({ ATLAS_DB: join(dir, 'atlas.sqlite') });
  server = await startServer({ store, catalog: new ModelCatalog(FIXTURE_MODELS) });
});

afterAll(async () => {
  await server?.close();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

it('reads the trace concurrency from ATLAS_TRACE_CONCURRENCY, 1 by default, and rejects nonsense', () => {
  expect(TraceQueue.concurrencyFromEnv({})).toBe(1);
  expect(TraceQueue.concurrencyFromEnv({ ATLAS_TRACE_CONCURRENCY: '3' })).toBe(3);
  expect(() => TraceQueue.concurrencyFromEnv({ ATLAS_TRACE_CONCURRENCY: 'two' })).toThrow(
    /whole number ≥ 1, got 'two'/,
  );
});

it('runs one trace at a time: the second waits queued, and a queued job can be cancelled', async () => {
  const first = await submit(PROMPT, SLOW);
  const second = await submit('Dallas is a city in the state of', SLOW);
  const third = await submit('one two three four', SLOW);
  const { jobs } = await gqlData<{ jobs: JobView[] }>(server.url, `{ jobs { ${JOB_FIELDS} } }`);
  const statusOf = (id: string) => jobs.find((entry) => entry.id === id)!.status;
  expect(statusOf(first.id)).toBe('running');
  expect(statusOf(second.id)).toBe('queued');
  expect(statusOf(third.id)).toBe('queued');

  const { cancelJob } = await gqlData<{ cancelJob: JobView }>(
    server.url,
    `mutation($id: ID!) { cancelJob(id: $id) { ${JOB_FIELDS} } }`,
    {
      id: third.id,
    },
  );
  expect(cancelJob.status).toBe('cancelled');

  const firstDone = (await pollJob(server.url, first.id)).at(-1)!;
  expect(firstDone.status).toBe('done');
  const secondStates = await pollJob(server.url, second.id);
  expect(secondStates.at(-1)!.status).toBe('done');
  expect((await job(third.id)).status).toBe('cancelled');
  expect(tracerProcesses()).toEqual([]);
});

it('cancels a running trace: the tracer process ends, no graph is stored, and the next job runs', async () => {
  const before = (await store.listGraphs({ limit: 500 })).total;
  const running = await submit(PROMPT, SLOW);
  for (;;) {
    const state = await job(running.id);
    if (state.status === 'running' && state.progress > 0) break;
    expect(state.status).not.toMatch(/done|failed/);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  expect(tracerProcesses().length).toBe(1);
  const { cancelJob } = await gqlData<{ cancelJob: JobView }>(
    server.url,
    `mutation($id: ID!) { cancelJob(id: $id) { ${JOB_FIELDS} } }`,
    {
      id: running.id,
    },
  );
  expect(cancelJob.status).toBe('cancelled');
  await expect.poll(() => tracerProcesses(), { timeout: 5_000 }).toEqual([]);
  const final = (await pollJob(server.url, running.id)).at(-1)!;
  expect(final).toMatchObject({ status: 'cancelled', graphId: null });
  expect((await store.listGraphs({ limit: 500 })).total).toBe(before);

  const next = (await pollJob(server.url, (await submit(PROMPT)).id)).at(-1)!;
  expect(next.status).toBe('done');
});

it('finishes a trace whose client went away before reading the answer', async () => {
  const body = JSON.stringify({
    query: 'mutation($p: String!) { trace(prompt: $p, model: "llama-tiny") { id } }',
    variables: { p: 'Houston is a city in Texas' },
  });
  await new Promise<void>((resolve, reject) => {
    const req = request(
      `${server.url}/graphql`,
      { method: 'POST', headers: { 'content-type': 'application/json' } },
      (res) => {
        res.destroy(); // hang up without reading the job id
        req.destroy();
        resolve();
      },
    );
    req.on('error', reject);
    req.end(body);
  });
  // A new client finds the job by its prompt and sees it through.
  let found: JobView | undefined;
  await expect
    .poll(
      async () => {
        const { jobs } = await gqlData<{ jobs: (JobView & { prompt: string })[] }>(
          server.url,
          `{ jobs { prompt ${JOB_FIELDS} } }`,
        );
        found = jobs.find((entry) => entry.prompt === 'Houston is a city in Texas');
        return found?.status;
      },
      { timeout: 60_000 },
    )
    .toBe('done');
  expect(await store.getGraph(found!.graphId!)).not.toBeNull();
});

it('keeps answering queries while a trace runs', async () => {
  const running = await submit(PROMPT, SLOW);
  // The tracer works in another process: reads are answered while the trace runs, not after it.
  let answeredWhileRunning = 0;
  while ((await job(running.id)).status !== 'done') {
    await gqlData(server.url, '{ graphs(limit: 5) { total items { id prompt } } }');
    if ((await job(running.id)).status === 'running') answeredWhileRunning++;
  }
  expect(answeredWhileRunning).toBeGreaterThan(5);
});
