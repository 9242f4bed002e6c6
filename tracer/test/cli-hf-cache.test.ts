/** `circuit-atlas trace --model org/name --transcoders org/name`, resolved in a local Hugging Face cache, offline. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHubCache, CONFIG_REPO, MODEL_REPO } from './fixtures/hf-cache-fixture.js';

const BIN = fileURLToPath(new URL('../../bin/circuit-atlas.js', import.meta.url));

describe('circuit-atlas trace with repo ids', () => {
  let dir = '';
  const cli = (args: string[]) =>
    spawnSync(process.execPath, [BIN, ...args], {
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, HF_HUB_CACHE: path.join(dir, 'hub'), HF_HUB_OFFLINE: '1' },
    });
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'cli-hf-'));
    buildHubCache(path.join(dir, 'hub'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('traces a cached Gemma-2 model with GemmaScope transcoders named by an hf:// config', () => {
    const out = path.join(dir, 'graph.json');
    const result = cli([
      'trace',
      'The capital of Texas is',
      '--model',
      MODEL_REPO,
      '--transcoders',
      CONFIG_REPO,
      '--out',
      out,
    ]);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/graph after pruning: +\d+ nodes/);
    const json = JSON.parse(readFileSync(out, 'utf8'));
    expect(json.metadata.prompt).toBe('The capital of Texas is');
    expect(json.nodes.some((n: { feature_type: string }) => n.feature_type === 'cross layer transcoder')).toBe(true);
  });

  it('a model missing from the cache fails in one line naming it and how to download it', () => {
    const result = cli([
      'trace',
      'The capital of Texas is',
      '--model',
      'google/gemma-2-2b',
      '--out',
      path.join(dir, 'x.json'),
    ]);
    expect(result.status).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('google/gemma-2-2b is not in the Hugging Face cache');
    expect(lines[0]).toContain('huggingface-cli download google/gemma-2-2b');
  });
});
