/** `circuit-atlas features`, run as a user runs it: a spawned process, killed and restarted too. */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureModel } from '../engine-fixtures.js';

const BIN = fileURLToPath(new URL('../../../bin/circuit-atlas.js', import.meta.url));
const SMALL = fileURLToPath(new URL('../fixtures/corpus/small.txt', import.meta.url));
const MODEL = fixtureModel('llama-tiny');
const cli = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000 });

describe('circuit-atlas features', () => {
  let dir = '';
  let big = '';
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'features-cli-'));
    // The small corpus 30 times over: long enough that a run can be killed between its passes.
    const text = await readFile(SMALL, 'utf8');
    big = path.join(dir, 'big.txt');
    await writeFile(big, text.repeat(30));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('prints its options with --help', () => {
    const result = cli(['features', '--help']);
    expect(result.status).toBe(0);
    for (const flag of [
      '--corpus',
      '--out',
      '--layers',
      '--context-length',
      '--batch-size',
      '--max-tokens',
      '--top-k',
      '--force',
    ])
      expect(result.stdout).toContain(flag);
  });

  it('writes every layer with a progress bar, then skips them on a re-run', () => {
    const out = path.join(dir, 'first');
    const args = ['features', '--model', MODEL, '--corpus', SMALL, '--out', out, '--context-length', '12'];
    const result = cli(args);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/\[#+\] 100% layers 0-2: done/);
    expect(result.stdout).toMatch(/layer 0: \d+ active features -> .*layer_0\.json/);
    expect(result.stdout).toMatch(/\d+ tokens in [\d.]+ s \(\d+ tokens\/s\)/);
    const again = cli([...args, '--layers', '0,2']);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/layer 0: .* exists, skipped \(--force recomputes it\)/);
    expect(again.stdout).toMatch(/layer 2: .* exists, skipped/);
    expect(again.stdout).not.toMatch(/layer 1/);
  });

  it('after a kill between passes, a restart computes only the missing layers and gives the same files', async () => {
    const reference = path.join(dir, 'reference');
    const interrupted = path.join(dir, 'interrupted');
    const common = ['--model', MODEL, '--corpus', big, '--layers-per-pass', '1', '--batch-size', '8'];
    const whole = cli(['features', ...common, '--out', reference]);
    expect(whole.status, whole.stderr).toBe(0);

    const child = spawn(process.execPath, [BIN, 'features', ...common, '--out', interrupted], { stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('exit', (_code, signal) => resolve(signal)),
    );
    while (!existsSync(path.join(interrupted, 'layer_0.json')) && child.exitCode === null) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL'); // killed, not finished
    const left = (await readdir(interrupted)).filter((f) => f.endsWith('.json'));
    expect(left).toContain('layer_0.json');
    expect(left).not.toContain('layer_2.json');
    // Whatever is there is whole: a file is renamed into place only when it is complete.
    for (const file of left) expect(() => JSON.parse(readFileSync(path.join(interrupted, file), 'utf8'))).not.toThrow();

    const restart = cli(['features', ...common, '--out', interrupted]);
    expect(restart.status, restart.stderr).toBe(0);
    expect(restart.stdout).toMatch(/layer 0: .* exists, skipped/);
    expect(restart.stdout).toMatch(/layer 2: \d+ active features/);
    for (const layer of [0, 1, 2]) {
      expect(await readFile(path.join(interrupted, `layer_${layer}.json`), 'utf8')).toBe(
        await readFile(path.join(reference, `layer_${layer}.json`), 'utf8'),
      );
    }
  });

  it('stops on a bad corpus line with a one-line message naming the file and line, writing no layer file', async () => {
    const corpus = path.join(dir, 'notes.jsonl');
    await writeFile(corpus, '{"text": "The capital of Texas is Austin ."}\n{"text": "Dallas"}\n{"txt": "oops"}\n');
    const out = path.join(dir, 'bad');
    const result = cli(['features', '--model', MODEL, '--corpus', corpus, '--out', out]);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^circuit-atlas: notes\.jsonl line 3 has no string field "text" \(missing\)/m);
    expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(existsSync(out) ? await readdir(out) : []).toEqual([]);
  });

  it('refuses bad options with what to do', () => {
    const cases: [string[], RegExp][] = [
      [['--corpus', SMALL], /--model <dir> is required/],
      [['--model', MODEL], /--corpus <file> is required/],
      [['--model', MODEL, '--corpus', SMALL, '--layers', '1-x'], /--layers must list layers like 0,3,5-7; '1-x'/],
      [['--model', MODEL, '--corpus', SMALL, '--layers', '7'], /layer 7 does not exist; the model has layers 0\.\.2/],
      [
        ['--model', MODEL, '--corpus', SMALL, '--context-length', '100000'],
        /--context-length must be an integer in 2\.\.128/,
      ],
      [['--model', MODEL, '--corpus', SMALL, '--top-k', '0'], /--top-k must be a positive integer/],
      [['--model', MODEL, '--corpus', path.join(dir, 'missing.txt')], /corpus file .*missing\.txt does not exist/],
    ];
    for (const [args, message] of cases) {
      const result = cli(['features', ...args, '--out', path.join(dir, 'never')]);
      expect(result.status, result.stderr).toBe(1);
      expect(result.stderr).toMatch(message);
    }
  });
});
