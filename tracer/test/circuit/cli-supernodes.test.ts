/** `trace --supernodes` and `intervene --replace-supernode / --zero-supernode`, run as a user runs them. */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../../../bin/circuit-atlas.js', import.meta.url));
const MODEL = fileURLToPath(new URL('../../../models/atlas-world', import.meta.url));
const prompt = (city: string) => `Fact: the capital of the state containing ${city} is`;
const cli = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000 });
/** Runs the CLI without blocking, so that the two traces share the machine's cores. */
const cliAsync = (args: string[]) =>
  new Promise<{ status: number | null; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args]);
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('close', (status) => resolve({ status, stderr }));
  });

describe('circuit-atlas supernodes on the command line', () => {
  let dir = '';
  const graphs: Record<string, string> = {};
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'supernodes-cli-'));
    const runs = ['Dallas', 'Fresno'].map((city) => {
      graphs[city] = path.join(dir, `${city}.json`);
      return cliAsync(['trace', prompt(city), '--model', MODEL, '--out', graphs[city], '--supernodes']);
    });
    for (const run of await Promise.all(runs)) expect(run.status, run.stderr).toBe(0);
  }, 600_000);
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('trace --supernodes writes named supernodes of feature nodes into qParams.supernodes', async () => {
    const json = JSON.parse(await readFile(graphs.Dallas, 'utf8'));
    const supernodes: string[][] = json.qParams.supernodes;
    const features = new Set(
      json.nodes
        .filter((n: { feature_type: string }) => n.feature_type === 'cross layer transcoder')
        .map((n: { node_id: string }) => n.node_id),
    );
    expect(supernodes.map((s) => s[0])).toEqual(expect.arrayContaining(['Texas', 'say Austin']));
    for (const [, ...members] of supernodes) for (const id of members) expect(features.has(id)).toBe(true);
    expect(new Set(supernodes.map((s) => s[0])).size).toBe(supernodes.length);
  });

  it('intervene --replace-supernode Texas=California makes Sacramento the top prediction', () => {
    const result = cli([
      'intervene',
      prompt('Dallas'),
      '--model',
      MODEL,
      '--graph',
      graphs.Dallas,
      '--replace-supernode',
      'Texas=California',
      '--donor-graph',
      graphs.Fresno,
      '--json',
    ]);
    expect(result.status, result.stderr).toBe(0);
    const out = JSON.parse(result.stdout);
    expect(out.before[0].token).toBe('Austin');
    expect(out.after[0].token).toBe('Sacramento');
  });

  it('intervene --zero-supernode Texas takes Austin off the top; an unknown label is a one-line error naming the choices', () => {
    const zeroed = cli([
      'intervene',
      prompt('Dallas'),
      '--model',
      MODEL,
      '--graph',
      graphs.Dallas,
      '--zero-supernode',
      'Texas',
      '--json',
    ]);
    expect(zeroed.status, zeroed.stderr).toBe(0);
    expect(JSON.parse(zeroed.stdout).after[0].token).not.toBe('Austin');
    const wrong = cli([
      'intervene',
      prompt('Dallas'),
      '--model',
      MODEL,
      '--graph',
      graphs.Dallas,
      '--zero-supernode',
      'Ohio',
    ]);
    expect(wrong.status).toBe(1);
    expect(wrong.stderr.trim().split('\n')).toHaveLength(1);
    expect(wrong.stderr).toMatch(
      /no supernode labelled 'Ohio' in .*Dallas\.json; its supernodes are "Texas", "say Austin"/,
    );
    const otherPrompt = cli([
      'intervene',
      prompt('Fresno'),
      '--model',
      MODEL,
      '--graph',
      graphs.Dallas,
      '--zero-supernode',
      'Texas',
    ]);
    expect(otherPrompt.status).toBe(1);
    expect(otherPrompt.stderr).toMatch(
      /was traced on "Fact: the capital of the state containing Dallas is", not on this prompt/,
    );
  });

  it('circuit shows a stored graph as its supernodes and the strongest paths, the Texas path first', () => {
    const result = cli(['circuit', graphs.Dallas, '--max-paths', '3']);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/supernodes \(from the file\):\n {2}"Texas" +at "Dallas" L0(-\d+)?, \d+ features/);
    const [, afterHeader] = result.stdout.split(/strongest paths to Output "Austin" \(p=[\d.]+\):\n/);
    const paths = afterHeader.trim().split('\n');
    expect(paths).toHaveLength(3);
    // The strongest path runs through Texas (straight to the logit or through say Austin); the
    // two-hop chain is among the three.
    expect(paths[0]).toMatch(/^\+\S+ {2}Dallas → Texas → (say Austin → )?Output "Austin"/);
    expect(paths.some((p) => /^\+\S+ {2}Dallas → Texas → say Austin → Output "Austin"/.test(p.trim()))).toBe(true);
    const view = JSON.parse(cli(['circuit', graphs.Dallas, '--json']).stdout);
    expect(view.nodes.find((n: { label: string }) => n.label === 'Texas')).toMatchObject({
      kind: 'supernode',
      ctxIdx: 9,
    });
  });
});
