/**
 * `circuit-atlas serve` and `circuit-atlas demo` as a user runs them: spawned through bin/, with a
 * temp SQLite store, answering over HTTP at the URL they print, stopping cleanly on Ctrl-C.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { randomGraph } from '../../test-support/graph-generator.js';
import { openStore } from '../src/store/open-store.js';
import { FIXTURE_MODELS, gqlData } from './api-support.js';

const BIN = fileURLToPath(new URL('../../bin/circuit-atlas.js', import.meta.url));

let dir: string;
const running: ChildProcessWithoutNullStreams[] = [];

interface Started {
  child: ChildProcessWithoutNullStreams;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function cli(args: string[], env: NodeJS.ProcessEnv): Started {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, NEO4J_URI: '', ...env } });
  running.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

/** Waits until stdout matches, failing with the output when the process ends first. */
async function waitFor(started: Started, pattern: RegExp, timeoutMs = 180_000): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = pattern.exec(started.stdout());
    if (match) return match;
    if (started.child.exitCode !== null || Date.now() > deadline) {
      throw new Error(
        `no ${pattern} in output (exit ${started.child.exitCode}):\n${started.stdout()}\n${started.stderr()}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'atlas-api-cli-'));
  mkdirSync(join(dir, 'no-models'));
});

afterAll(() => {
  for (const child of running) if (child.exitCode === null) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

it('serve prints its URL, answers there with the models of ATLAS_MODELS, and stops on Ctrl-C', async () => {
  const serve = cli(['serve', '--port', '0'], { ATLAS_DB: join(dir, 'serve.sqlite'), ATLAS_MODELS: FIXTURE_MODELS });
  const [, url] = await waitFor(serve, /serving at (http:\/\/127\.0\.0\.1:\d+)\//);
  expect(serve.stdout()).toMatch(/store: SQLite at .*serve\.sqlite/);
  const { models } = await gqlData<{ models: { id: string }[] }>(url, '{ models { id } }');
  expect(models.map((model) => model.id)).toEqual(expect.arrayContaining(['llama-tiny', 'gpt2-tiny']));
  serve.child.kill('SIGINT');
  expect(await serve.exited).toBe(0);
});

it('serve rejects a bad port with a message, not a stack trace', async () => {
  const serve = cli(['serve', '--port', 'eighty'], { ATLAS_DB: join(dir, 'bad.sqlite') });
  expect(await serve.exited).toBe(1);
  expect(serve.stderr()).toBe("circuit-atlas: the port must be a whole number from 0 to 65535, got 'eighty'\n");
});

it('serve on a port that is in use says so in one line and exits 1', async () => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const { port } = blocker.address() as { port: number };
  try {
    const serve = cli(['serve', '--port', String(port)], { ATLAS_DB: join(dir, 'busy.sqlite') });
    expect(await serve.exited).toBe(1);
    expect(serve.stderr()).toBe(
      `circuit-atlas: port ${port} on 127.0.0.1 is in use: stop what listens there or choose another with --port (0 picks a free one)\n`,
    );
  } finally {
    blocker.close();
  }
});

it('export into a reader that stops early (| head) ends quietly with exit 0', async () => {
  const db = join(dir, 'export.sqlite');
  const store = await openStore({ ATLAS_DB: db });
  // Big enough that the JSON and the SVG are far larger than a pipe's buffer.
  await store.saveGraph(randomGraph({ id: 'export-big', seed: 3, nodes: 2000, edges: 20_000 }));
  await store.close();
  for (const format of ['json', 'svg']) {
    const exported = cli(['export', 'export-big', '--format', format], { ATLAS_DB: db });
    // Read the first chunk, then close the pipe as `head -c` does.
    const first = await new Promise<string>((resolve) =>
      exported.child.stdout.once('data', (chunk) => resolve(String(chunk))),
    );
    exported.child.stdout.destroy();
    expect(first.startsWith(format === 'json' ? '{"metadata"' : '<svg')).toBe(true);
    expect(await exported.exited).toBe(0);
    expect(exported.stderr()).toBe('');
  }
});

it('demo without a demo model falls back to the fixture model, stores the graph once, and serves it', async () => {
  const env = { ATLAS_DB: join(dir, 'demo.sqlite'), ATLAS_MODELS: join(dir, 'no-models') };
  const demo = cli(['demo', '--port', '0'], env);
  const [, url, graphId] = await waitFor(demo, /the link graph: (http:\/\/127\.0\.0\.1:\d+)\/\?graph=(\S+)/);
  // The demo link opens the circuit view (no saved supernodes: the fixture model has no dashboards).
  expect(demo.stdout()).toContain(
    `open the demo graph in the circuit view: ${url}/?graph=demo-llama-tiny&mode=circuit\n`,
  );
  expect(demo.stderr()).toMatch(/using the test fixture model llama-tiny/);
  expect(demo.stdout()).toMatch(
    /stored demo-llama-tiny: \d+ nodes, \d+ edges, replacement 0\.\d+, completeness [01]\.\d+/,
  );
  expect(graphId).toBe('demo-llama-tiny');
  const { graph } = await gqlData<{ graph: { prompt: string; nodeCount: number } }>(
    url,
    `{ graph(id: "${graphId}") { prompt nodeCount } }`,
  );
  expect(graph.prompt).toMatch(/Dallas is$/);
  expect(graph.nodeCount).toBeGreaterThan(0);
  // The viewer's page answers at the URL the demo printed.
  expect((await fetch(`${url}/?graph=${graphId}`)).status).toBeLessThan(500);
  demo.child.kill('SIGINT');
  expect(await demo.exited).toBe(0);

  const again = cli(['demo', '--no-serve'], env);
  expect(await again.exited).toBe(0);
  expect(again.stdout()).toBe(`demo graph demo-llama-tiny is already stored (SQLite at ${join(dir, 'demo.sqlite')})\n`);
});
