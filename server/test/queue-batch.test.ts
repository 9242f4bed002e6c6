/**
 * Batch tracing as a user meets it: the prompts file and its errors, the in-process queue (the
 * default, no setup) with the real demo model and a real SQLite file, retries up to the limit on a
 * store that is down, cancellation in both engines, and the `trace-batch` / `worker` commands.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { resolveTraceSettings, UserInputError } from '@circuit-atlas/schema';
import { loadReplacementModel, type ReplacementModel } from '@circuit-atlas/tracer';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { InProcessBatchQueue } from '../src/jobs/batch-queue.js';
import { BullmqBatchQueue } from '../src/jobs/bullmq-queue.js';
import { modelPromptTracer } from '../src/jobs/batch-job.js';
import { derivedBatchId, parsePromptLines, type BatchSpec } from '../src/jobs/batch.js';
import { CLI, DEMO_MODEL, QueueProcesses, REPO, demoPrompts, eventually } from './queue-support.js';

const exec = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'atlas-batch-'));
let model: ReplacementModel;
const LIMIT_MS = 300_000;

beforeAll(async () => {
  model = await loadReplacementModel(DEMO_MODEL);
});
afterAll(() => {
  model?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  return exec(process.execPath, [CLI, ...args], { cwd: REPO, env: { ...process.env, ...env }, timeout: LIMIT_MS }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({
      code: error.code,
      stdout: error.stdout,
      stderr: error.stderr,
    }),
  );
}

describe('the prompts file', () => {
  it('gives prompts without an id a stable id from model, prompt, target and settings', () => {
    const text = '{"prompt": "Fact: a"}\n\n# note\n{"prompt": "Fact: a", "settings": {"maxNLogits": 3}}\n';
    const first = parsePromptLines(text, 'p.jsonl', 'atlas-world');
    const again = parsePromptLines(text, 'p.jsonl', 'atlas-world');
    expect(first.map((p) => p.graphId)).toEqual(again.map((p) => p.graphId));
    expect(first[0].graphId).not.toBe(first[1].graphId);
    expect(first[1].settings.maxNLogits).toBe(3);
    expect(parsePromptLines(text, 'p.jsonl', 'other-model')[0].graphId).not.toBe(first[0].graphId);
    expect(derivedBatchId('atlas-world', first)).toBe(derivedBatchId('atlas-world', again));
  });

  it.each([
    ['{"prompt": "a"}\nnot json', /p\.jsonl line 2 is not JSON/],
    ['{"text": "a"}', /p\.jsonl line 1: unknown field 'text'/],
    ['{"prompt": ""}', /line 1: "prompt" must be a non-empty string/],
    ['{"prompt": "a", "id": "has space"}', /line 1: id "has space" is not valid/],
    ['{"prompt": "a", "settings": {"nodeThreshold": 2}}', /line 1: nodeThreshold must be a number in \[0, 1\]/],
    ['{"prompt": "a"}\n{"prompt": "a"}', /line 2 repeats line 1/],
    ['\n# only a comment\n', /p\.jsonl has no prompts/],
  ])('refuses %j naming the line', (text, message) => {
    expect(() => parsePromptLines(text, 'p.jsonl', 'atlas-world')).toThrow(UserInputError);
    expect(() => parsePromptLines(text, 'p.jsonl', 'atlas-world')).toThrow(message);
  });
});

describe('the in-process queue', { timeout: 900_000 }, () => {
  it('stores each prompt once, reports a failing prompt, and retries only that one on a re-run', async () => {
    const store = new SqliteStore(join(dir, 'inprocess.sqlite'));
    await store.init();
    const queue = new InProcessBatchQueue({ store, tracerFor: async () => modelPromptTracer(model) });
    try {
      const texts = demoPrompts(2, 30);
      const batch: BatchSpec = {
        id: 'b1',
        model: 'atlas-world',
        attempts: 2,
        prompts: [
          { graphId: 'ip-0', prompt: texts[0], target: null, settings: resolveTraceSettings() },
          { graphId: 'ip-1', prompt: texts[1], target: null, settings: resolveTraceSettings() },
          { graphId: 'ip-bad', prompt: texts[0], target: ' Atlantis', settings: resolveTraceSettings() },
        ],
      };
      await queue.submit(batch);
      const done = await eventually('the batch finishing', LIMIT_MS, async () => {
        const s = await queue.status('b1');
        return s?.finished ? s : undefined;
      });
      expect(done.counts).toMatchObject({ done: 2, failed: 1 });
      expect(done.prompts[2]).toMatchObject({ state: 'failed', attempts: 1 });
      expect(done.prompts[2].error).toMatch(/target " Atlantis" of prompt 'ip-bad' is not among its top logits/);
      expect((await store.listGraphs()).total).toBe(2);

      const again = await queue.submit(batch);
      expect(again.counts).toMatchObject({ done: 2 });
      const rerun = await eventually('the re-run finishing', LIMIT_MS, async () => {
        const s = await queue.status('b1');
        return s?.finished ? s : undefined;
      });
      expect(rerun.counts).toMatchObject({ done: 2, failed: 1 });
      expect((await store.listGraphs()).total).toBe(2);
    } finally {
      await queue.close();
      await store.close();
    }
  });

  it('retries a prompt whose store is unavailable up to the limit, then reports the store error', async () => {
    // A real SQLite store that was never opened: every try fails the same way, at once.
    const store = new SqliteStore(join(dir, 'never-opened.sqlite'));
    const queue = new InProcessBatchQueue({ store, tracerFor: async () => modelPromptTracer(model), retryDelayMs: 20 });
    try {
      await queue.submit({
        id: 'down',
        model: 'atlas-world',
        attempts: 3,
        prompts: [{ graphId: 'never', prompt: demoPrompts(1)[0], target: null, settings: resolveTraceSettings() }],
      });
      const status = await eventually('the prompt failing', LIMIT_MS, async () => {
        const s = await queue.status('down');
        return s?.finished ? s : undefined;
      });
      expect(status.prompts[0]).toMatchObject({ state: 'failed', attempts: 3 });
      expect(status.prompts[0].error).toMatch(/the SQLite store at .*never-opened\.sqlite is not open/);
    } finally {
      await queue.close();
      await store.close();
    }
  });

  it('cancels queued and running prompts; nothing of them is stored', async () => {
    const store = new SqliteStore(join(dir, 'cancel.sqlite'));
    await store.init();
    const queue = new InProcessBatchQueue({ store, tracerFor: async () => modelPromptTracer(model) });
    try {
      const prompts = demoPrompts(4, 40).map((prompt, i) => ({
        graphId: `c-${i}`,
        prompt,
        target: null,
        settings: resolveTraceSettings(),
      }));
      await queue.submit({ id: 'cancel-me', model: 'atlas-world', attempts: 3, prompts });
      await eventually('a prompt running', LIMIT_MS, async () =>
        (await queue.status('cancel-me'))!.counts.running > 0 ? true : undefined,
      );
      await queue.cancel('cancel-me');
      const status = await eventually('the batch stopping', LIMIT_MS, async () => {
        const s = await queue.status('cancel-me');
        return s?.finished ? s : undefined;
      });
      expect(status.cancelled).toBe(true);
      expect(status.counts.cancelled + status.counts.done).toBe(4);
      expect(status.counts.cancelled).toBeGreaterThanOrEqual(3);
      expect((await store.listGraphs()).total).toBe(status.counts.done);
    } finally {
      await queue.close();
      await store.close();
    }
  });
});

describe('the trace-batch and worker commands', { timeout: 900_000 }, () => {
  const processes = new QueueProcesses();
  afterAll(() => processes.stopAll());

  it('traces a file in-process, lists the failed prompt and exits 1; a re-run stores nothing twice', async () => {
    const file = join(dir, 'prompts.jsonl');
    const [a, b] = demoPrompts(2, 50);
    writeFileSync(
      file,
      [
        JSON.stringify({ prompt: a, id: 'cli-a' }),
        JSON.stringify({ prompt: b }),
        JSON.stringify({ prompt: a, id: 'cli-bad', target: ' Nowhere' }),
      ].join('\n'),
    );
    const env = { ATLAS_DB: join(dir, 'cli.sqlite'), ATLAS_QUEUE: '', NEO4J_URI: '' };
    const first = await cli(['trace-batch', file, '--model', DEMO_MODEL], env);
    expect(first.code, first.stderr).toBe(1);
    expect(first.stdout).toMatch(/in-process queue/);
    expect(first.stdout).toMatch(/2\/3 done, 1 failed/);
    expect(first.stdout).toMatch(/failed cli-bad .*target " Nowhere"/);
    const second = await cli(['trace-batch', file, '--model', DEMO_MODEL], env);
    expect(second.stdout).toMatch(/2\/3 done, 1 failed/);
    const store = new SqliteStore(env.ATLAS_DB);
    await store.init();
    expect((await store.listGraphs()).total).toBe(2);
    await store.close();
  });

  it('says what to do when the queue is not configured or a flag is wrong', async () => {
    const noQueue = { ATLAS_QUEUE: '' };
    const worker = await cli(['worker', '--model', DEMO_MODEL], noQueue);
    expect(worker.code).toBe(1);
    expect(worker.stderr.trim()).toBe(
      'circuit-atlas: a worker needs ATLAS_QUEUE=redis://host:port; without it, trace-batch traces in its own process',
    );
    const status = await cli(['trace-batch', '--status', 'x'], noQueue);
    expect(status.stderr).toMatch(/without ATLAS_QUEUE a batch lives in its trace-batch process/);
    const badUrl = await cli(['worker', '--model', DEMO_MODEL], { ATLAS_QUEUE: 'http://x' });
    expect(badUrl.stderr).toMatch(/ATLAS_QUEUE='http:\/\/x' must start with redis:\/\//);
    const missing = await cli(['trace-batch', join(dir, 'nope.jsonl'), '--model', DEMO_MODEL], noQueue);
    expect(missing.stderr).toMatch(/cannot read .*nope\.jsonl: ENOENT/);
    const help = await cli(['trace-batch', '--help']);
    expect(help.stdout).toMatch(/usage: circuit-atlas trace-batch <prompts.jsonl>/);
  });

  it('on BullMQ, --cancel stops the running prompt of a worker and removes the queued ones', async () => {
    const redis = await processes.redis(false);
    const env = { ATLAS_QUEUE: redis.url, ATLAS_DB: join(dir, 'bull.sqlite'), NEO4J_URI: '' };
    const worker = await processes.worker('worker', env);
    const file = join(dir, 'cancel.jsonl');
    const long =
      'Fact: the capital of the state containing Dallas is Austin. Fact: the capital of the state containing ' +
      'Chicago is Springfield. Fact: the capital of the state containing Boston is';
    writeFileSync(
      file,
      [long, ...demoPrompts(3, 60)].map((prompt, i) => JSON.stringify({ prompt, id: `bc-${i}` })).join('\n'),
    );
    const submitted = await cli(['trace-batch', file, '--model', DEMO_MODEL, '--batch', 'bc', '--no-wait'], env);
    expect(submitted.code, submitted.stderr).toBe(0);
    expect(submitted.stdout).toMatch(/batch bc: 4 prompts queued on BullMQ on redis:\/\/127\.0\.0\.1:\d+/);
    await worker.waitForLine(/^started bc-0 /, LIMIT_MS);
    const cancelled = await cli(['trace-batch', '--cancel', 'bc'], env);
    expect(cancelled.stdout).toMatch(/cancelled batch bc/);
    await worker.waitForLine(/^failed bc-0: cancelled while tracing/, LIMIT_MS);
    const queue = new BullmqBatchQueue(redis.url);
    try {
      const status = await eventually('the batch stopping', LIMIT_MS, async () => {
        const s = await queue.status('bc');
        return s?.finished ? s : undefined;
      });
      expect(status.counts.cancelled).toBe(4);
    } finally {
      await queue.close();
    }
    const shown = await cli(['trace-batch', '--status', 'bc'], env);
    expect(shown.stdout).toMatch(/batch bc: 0\/4 done, 4 cancelled/);
    const store = new SqliteStore(env.ATLAS_DB);
    await store.init();
    expect((await store.listGraphs()).total).toBe(0);
    await store.close();
  });
});
