/**
 * Live trace progress by server-sent events (GET /jobs/:id/events) over real HTTP: every phase and
 * progress step the tracer reports arrives in order, the stream ends when the job is done and names
 * the stored graph; an unknown job is a 404 that says what to do. The runner here is a scripted
 * tracer (reports three phases, then returns a generated graph) so the steps are known.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../src/app.js';
import { ModelCatalog } from '../src/models/catalog.js';
import type { TraceRunner } from '../src/jobs/trace-queue.js';
import type { GraphStore } from '../src/store/graph-store.js';
import { randomGraph } from '../../test-support/graph-generator.js';
import { FIXTURE_MODELS, STORE_CASES, gqlData } from './api-support.js';

const STEPS: [string, number][] = [
  ['forward pass', 0.2],
  ['attribution', 0.5],
  ['attribution', 0.9],
  ['pruning', 1],
];

/** Reports STEPS a few milliseconds apart, then returns a graph with the asked id. */
const scriptedTracer: TraceRunner = async (request, control) => {
  for (const [phase, fraction] of STEPS) {
    await new Promise((resolve) => setTimeout(resolve, 40));
    control.onProgress(phase, fraction);
  }
  return randomGraph({ id: request.graphId, seed: 3, nodes: 60, edges: 300, prompt: request.prompt });
};

interface JobEvent {
  id: string;
  status: string;
  phase: string;
  progress: number;
  graphId: string | null;
}

/** Reads the whole event stream of a job. */
async function readEvents(url: string, jobId: string): Promise<{ status: number; type: string; events: JobEvent[] }> {
  const response = await fetch(`${url}/jobs/${jobId}/events`);
  const text = await response.text();
  const events = text
    .split('\n\n')
    .filter((block) => block.startsWith('data: '))
    .map((block) => JSON.parse(block.slice('data: '.length)) as JobEvent);
  return { status: response.status, type: response.headers.get('content-type') ?? '', events };
}

describe('trace job events', () => {
  let store: GraphStore;
  let cleanup: () => void;
  let server: RunningServer;

  beforeAll(async () => {
    ({ store, cleanup } = await STORE_CASES[0].open());
    server = await startServer({ store, catalog: new ModelCatalog(FIXTURE_MODELS), runner: scriptedTracer });
  });

  afterAll(async () => {
    await server?.close();
    await store?.close();
    cleanup?.();
  });

  it('streams every reported step in order and ends with the stored graph', async () => {
    const { trace } = await gqlData<{ trace: { id: string } }>(
      server.url,
      'mutation { trace(prompt: "Dallas is a city in the state of", model: "llama-tiny") { id } }',
    );
    const { status, type, events } = await readEvents(server.url, trace.id);
    expect(status).toBe(200);
    expect(type).toContain('text/event-stream');
    const running = events.filter((e) => e.status === 'running');
    // Each scripted phase is seen as it happens, progress never moves back.
    for (const [phase] of STEPS) expect(running.map((e) => e.phase)).toContain(phase);
    const progress = events.map((e) => e.progress);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    const last = events.at(-1)!;
    expect(last.status).toBe('done');
    expect(last.progress).toBe(1);
    expect(await store.getGraphNodes(last.graphId!)).not.toBeNull();
    // A finished job reports its end once and closes.
    const again = await readEvents(server.url, trace.id);
    expect(again.events.map((e) => e.status)).toEqual(['done']);
  });

  it('answers 404 with what to do for a job it does not know', async () => {
    const response = await fetch(`${server.url}/jobs/job-nope/events`);
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: string }).error).toMatch(/no trace job 'job-nope'.*'trace' mutation/);
  });
});
