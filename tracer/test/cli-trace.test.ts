/** The trace and intervene commands, run as a user runs them: a spawned `circuit-atlas` process. */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { fixtureModel } from './engine-fixtures.js';

const BIN = fileURLToPath(new URL('../../bin/circuit-atlas.js', import.meta.url));
const cli = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000 });

describe('circuit-atlas trace / intervene', () => {
  let dir = '';
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('trace writes graph JSON and prints logits, sizes, scores and time, with a progress bar on stderr', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'engine-cli-'));
    const out = path.join(dir, 'texas.json');
    const model = fixtureModel('gpt2-tiny');
    const result = cli([
      'trace',
      'The capital of Texas is',
      '--model',
      model,
      '--transcoders',
      `${model}/transcoders`,
      '--batch-size',
      '32',
      '--node-threshold',
      '0.7',
      '--out',
      out,
    ]);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/\[#+\] 100% features/);
    expect(result.stdout).toMatch(/top logits:\n {2}"/);
    const before = /graph before pruning: (\d+) nodes, (\d+) edges/.exec(result.stdout)!;
    const after = /graph after pruning: +(\d+) nodes, (\d+) edges/.exec(result.stdout)!;
    expect(Number(after[1])).toBeLessThan(Number(before[1]));
    expect(Number(after[2])).toBeLessThan(Number(before[2]));
    expect(result.stdout).toMatch(/replacement score: 0\.\d+, completeness score: 0\.\d+/);
    expect(result.stdout).toMatch(/time: [\d.]+ s/);
    const json = JSON.parse(await readFile(out, 'utf8'));
    expect(json.metadata.prompt).toBe('The capital of Texas is');
    expect(json.metadata.node_threshold).toBe(0.7);
    expect(json.metadata.generation_settings.batch_size).toBe(32);
    expect(json.nodes.length).toBe(Number(after[1]));
    expect(json.links.length).toBe(Number(after[2]));
    expect(json.nodes.filter((n: { feature_type: string }) => n.feature_type === 'logit').length).toBeGreaterThan(0);
  });

  it('trace --max-feature-nodes attributes only that many features', () => {
    const out = path.join(dir, 'small.json');
    const result = cli([
      'trace',
      'The capital of Texas is',
      '--model',
      fixtureModel('llama-tiny'),
      '--max-feature-nodes',
      '30',
      '--out',
      out,
    ]);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/attributed: 30\n/);
  });

  it('trace with a bad option or prompt exits 1 with a message and no stack trace', () => {
    const bad = cli([
      'trace',
      'The capital of Texas is',
      '--model',
      fixtureModel('llama-tiny'),
      '--batch-size',
      'many',
      '--out',
      path.join(dir, 'x.json'),
    ]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain(`--batch-size must be an integer, got 'many'`);
    const unknown = cli([
      'trace',
      'The capital of Zembla is',
      '--model',
      fixtureModel('llama-tiny'),
      '--out',
      path.join(dir, 'x.json'),
    ]);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toMatch(/circuit-atlas: the prompt has 1 token\(s\) the model does not know \("Zembla"\)/);
    expect(unknown.stderr).not.toMatch(/\n\s+at /);
  });

  it('intervene prints top logits before and after and the changed activations', () => {
    const result = cli([
      'intervene',
      'The capital of Texas is',
      '--model',
      fixtureModel('llama-tiny'),
      '--set',
      '0:4:5=8',
      '--top-k',
      '3',
      '--generate',
      '2',
      '--json',
    ]);
    expect(result.status, result.stderr).toBe(0);
    const json = JSON.parse(result.stdout);
    expect(json.before).toHaveLength(3);
    expect(json.after).toHaveLength(3);
    expect(json.activations[0]).toMatchObject({ layer: 0, position: 4, feature: 5, after: 8 });
    expect(json.after[0].probability).not.toBeCloseTo(json.before[0].probability, 6);
    expect(typeof json.continuation.with.text).toBe('string');
  });
});
