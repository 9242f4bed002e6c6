/**
 * The distributed queue under faults, with real processes: BullMQ on a real redis-server, real
 * `circuit-atlas worker` processes tracing the demo model, graphs in the real Neo4j of the suite.
 * Two workers share a batch; a worker killed -9 mid-job has its job retried and stored exactly
 * once, whole; Redis restarted mid-batch does not stop the batch; a poison prompt fails with its
 * reason while the rest are stored.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { Neo4jStore } from '../src/store/neo4j/neo4j-store.js';
import { BullmqBatchQueue } from '../src/jobs/bullmq-queue.js';
import type { BatchPrompt, BatchSpec, BatchStatus } from '../src/jobs/batch.js';
import { resolveTraceSettings } from '@circuit-atlas/schema';
import { QueueProcesses, demoPrompts, eventually, type WorkerProcess } from './queue-support.js';

const neo4jUri = inject('neo4jUri');
const run = `qf-${randomUUID().slice(0, 8)}`; // graph ids of this run: the shared Neo4j keeps older runs' graphs
const store = new Neo4jStore({ uri: neo4jUri });
const processes = new QueueProcesses();
const queues: BullmqBatchQueue[] = [];

// Limits guard against hangs on a loaded two-core machine; none of them paces the test.
const BATCH_LIMIT_MS = 600_000;
/** Short locks so a killed worker's job moves on in seconds (the default is 30 s). */
const LOCK_MS = '4000';
const LONG_PROMPT =
  'Fact: the capital of the state containing Dallas is Austin. Fact: the capital of the state containing ' +
  'Chicago is Springfield. Fact: the capital of the state containing Denver is';

beforeAll(async () => {
  await store.init();
});

afterAll(async () => {
  for (const queue of queues) await queue.close();
  await processes.stopAll(30_000);
  for (const id of graphIds) await store.deleteGraph(id);
  await store.close();
});

const graphIds: string[] = [];

function prompts(name: string, texts: string[]): BatchPrompt[] {
  return texts.map((prompt, i) => {
    const graphId = `${run}-${name}-${i}`;
    graphIds.push(graphId);
    return { graphId, prompt, target: null, settings: resolveTraceSettings() };
  });
}

async function setUp(persistent: boolean, workerCount: number) {
  const redis = await processes.redis(persistent);
  const env = { ATLAS_QUEUE: redis.url, NEO4J_URI: neo4jUri, ATLAS_QUEUE_LOCK_MS: LOCK_MS };
  // Started one after another: two model loads at once would only slow both on two cores.
  const started: WorkerProcess[] = [];
  for (let i = 0; i < workerCount; i++) {
    started.push(await processes.worker(`worker ${i + 1}`, env));
  }
  const queue = new BullmqBatchQueue(redis.url);
  queues.push(queue);
  return { redis, queue, workers: started };
}

async function finished(queue: BullmqBatchQueue, batchId: string): Promise<BatchStatus> {
  return eventually(`batch ${batchId} finishing`, BATCH_LIMIT_MS, async () => {
    const status = await queue.status(batchId);
    return status?.finished ? status : undefined;
  });
}

/** How many Graph records each id has in Neo4j (a duplicate would show as 2). */
async function graphCopies(ids: string[]): Promise<Map<string, number>> {
  const session = store.driver.session();
  try {
    const result = await session.run('UNWIND $ids AS id OPTIONAL MATCH (g:Graph {id: id}) RETURN id, count(g) AS n', {
      ids,
    });
    return new Map(result.records.map((r) => [r.get('id') as string, Number(r.get('n'))]));
  } finally {
    await session.close();
  }
}

/** The stored graph is whole: as many nodes and edges as its summary says it was saved with. */
async function expectWhole(id: string): Promise<void> {
  const size = await store.graphSize(id);
  const graph = await store.getGraph(id);
  expect(size, `graph ${id} is stored`).not.toBeNull();
  expect(graph!.nodes.length).toBe(size!.nodeCount);
  expect(graph!.edges.length).toBe(size!.edgeCount);
  expect(graph!.nodes.length).toBeGreaterThan(0);
}

// Model loads and traces in several processes on two cores: limits guard against hangs, not a pace.
describe('batch tracing on BullMQ with real worker processes', { timeout: 1_800_000 }, () => {
  it('two workers share one batch; every prompt is stored once; a poison prompt fails with its reason', async () => {
    const {
      queue,
      workers: [first, second],
    } = await setUp(false, 2);
    const batch: BatchSpec = {
      id: `${run}-shared`,
      model: 'atlas-world',
      prompts: [
        ...prompts('shared', demoPrompts(6)),
        {
          graphId: `${run}-poison`,
          prompt: 'Fact: the capital of the state containing Dallas is',
          target: ' Zanzibar',
          settings: resolveTraceSettings(),
        },
      ],
      attempts: 3,
    };
    await queue.submit(batch);
    const status = await finished(queue, batch.id);

    expect(status.counts).toMatchObject({ done: 6, failed: 1 });
    const poison = status.prompts.find((p) => p.graphId === `${run}-poison`)!;
    expect(poison.state).toBe('failed');
    expect(poison.error).toMatch(/target " Zanzibar" .* is not among its top logits/);
    expect(poison.attempts).toBe(1); // a prompt at fault is not retried
    const ids = batch.prompts.slice(0, 6).map((p) => p.graphId);
    expect([...(await graphCopies(ids)).values()]).toEqual([1, 1, 1, 1, 1, 1]);
    expect((await graphCopies([`${run}-poison`])).get(`${run}-poison`)).toBe(0);
    for (const id of ids) await expectWhole(id);
    // Both workers took jobs.
    for (const worker of [first, second]) expect(worker.lines.some((line) => /^stored /.test(line))).toBe(true);

    // Submitting the same batch again stores nothing twice and retries only the failed prompt.
    const again = await queue.submit(batch);
    expect(again.counts.done).toBe(6);
    const second_ = await finished(queue, batch.id);
    expect(second_.counts).toMatchObject({ done: 6, failed: 1 });
    expect([...(await graphCopies(ids)).values()]).toEqual([1, 1, 1, 1, 1, 1]);
  });

  it('a worker killed -9 mid-job: the job is retried by another worker and stored exactly once, whole', async () => {
    const { queue, workers: pair } = await setUp(false, 2);
    const batch: BatchSpec = {
      id: `${run}-kill`,
      model: 'atlas-world',
      prompts: [...prompts('kill-long', [LONG_PROMPT]), ...prompts('kill', demoPrompts(3, 10))],
      attempts: 3,
    };
    const longId = batch.prompts[0].graphId;
    await queue.submit(batch);
    const startedLine = new RegExp(`^started ${longId} `);
    const victim = await Promise.any(pair.map((w) => w.waitForLine(startedLine, BATCH_LIMIT_MS).then(() => w)));
    victim.child.kill('SIGKILL');
    await victim.exit;
    expect(victim.exited?.signal).toBe('SIGKILL');
    expect(victim.lines.some((line) => line.startsWith(`stored ${longId}`))).toBe(false);

    const survivor = pair.find((w) => w !== victim)!;
    await survivor.waitForLine(startedLine, BATCH_LIMIT_MS);
    const status = await finished(queue, batch.id);
    expect(status.counts).toMatchObject({ done: 4, failed: 0 });
    const copies = await graphCopies(batch.prompts.map((p) => p.graphId));
    expect([...copies.values()]).toEqual([1, 1, 1, 1]);
    await expectWhole(longId);
  });

  it('Redis restarted mid-batch: the batch completes and every prompt is stored once', async () => {
    const {
      redis,
      queue,
      workers: [worker],
    } = await setUp(true, 1);
    const batch: BatchSpec = {
      id: `${run}-restart`,
      model: 'atlas-world',
      prompts: prompts('restart', demoPrompts(5, 20)),
      attempts: 3,
    };
    await queue.submit(batch);
    await worker.waitForLine(/^stored /, BATCH_LIMIT_MS);
    await redis.stop();
    await redis.start();
    const status = await finished(queue, batch.id);
    expect(status.counts).toMatchObject({ done: 5, failed: 0 });
    const copies = await graphCopies(batch.prompts.map((p) => p.graphId));
    expect([...copies.values()]).toEqual([1, 1, 1, 1, 1]);
    for (const p of batch.prompts) await expectWhole(p.graphId);
  });
});
