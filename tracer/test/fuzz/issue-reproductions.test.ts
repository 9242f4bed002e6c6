/**
 * The defects of issue 15 ("Reliability"), each as a plain specification: a corrupted checkpoint or
 * graph JSON is refused with a one-line message naming the file and the tensor or field, by the
 * library and by the `circuit-atlas` command, which exits non-zero without a stack trace.
 */
import { spawnSync } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromGraphJson, loadReplacementModel, ModelFormatError, UserInputError } from '../../src/index.js';
import { fixtureModel } from '../engine-fixtures.js';
import { joinSafetensors, splitSafetensors } from './mutations.js';

const BIN = fileURLToPath(new URL('../../../bin/circuit-atlas.js', import.meta.url));

/** Runs the CLI as a user does; the store is a throwaway SQLite file, never a shared database. */
function cli(args: string[], dbDir: string) {
  const env: NodeJS.ProcessEnv = { ...process.env, ATLAS_DB: path.join(dbDir, 'atlas.sqlite') };
  delete env.NEO4J_URI;
  return spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000, env });
}

/** The CLI refused cleanly: exit 1, one line on stderr, no stack frames. */
function expectOneCleanLine(result: ReturnType<typeof cli>, ...mentions: string[]) {
  expect(result.status, result.stderr).toBe(1);
  const lines = result.stderr.split('\n').filter((line) => line.trim() !== '' && !line.includes('\r'));
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^circuit-atlas: /);
  for (const mention of mentions) expect(lines[0]).toContain(mention);
  expect(result.stderr).not.toMatch(/\n\s+at /);
}

describe('issue 15: corrupted checkpoints are refused, never traced', () => {
  let root = '';
  let checkpoint: Buffer;
  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'issue-15-'));
    checkpoint = await readFile(path.join(fixtureModel('llama-tiny'), 'model.safetensors'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  /** A copy of llama-tiny whose model.safetensors header is rewritten by `edit`. */
  async function modelWithHeader(name: string, edit: (header: Record<string, unknown>) => unknown): Promise<string> {
    const dir = path.join(root, name);
    await cp(fixtureModel('llama-tiny'), dir, { recursive: true });
    const { header, data } = splitSafetensors(checkpoint);
    const edited = edit(structuredClone(header) as Record<string, unknown>);
    await writeFile(path.join(dir, 'model.safetensors'), joinSafetensors(JSON.stringify(edited), data));
    return dir;
  }

  it('negative data_offsets (lm_head read from byte 0 of the file) are a ModelFormatError naming the tensor', async () => {
    const { headerText } = splitSafetensors(checkpoint);
    const dir = await modelWithHeader('negative-offsets', (header) => {
      const lmHead = header['lm_head.weight'] as { data_offsets: [number, number] };
      const length = lmHead.data_offsets[1] - lmHead.data_offsets[0];
      const dataStart = 8 + Buffer.byteLength(headerText);
      lmHead.data_offsets = [-dataStart, -dataStart + length];
      return header;
    });
    const error = await loadReplacementModel(dir).catch((e) => e);
    expect(error).toBeInstanceOf(ModelFormatError);
    expect(error.message).toContain(`tensor 'lm_head.weight' has data_offsets [-`);
    expect(error.message).toContain(path.join(dir, 'model.safetensors'));

    const traced = cli(['trace', 'The capital of Texas is', '--model', dir, '--out', path.join(root, 'x.json')], root);
    expectOneCleanLine(traced, `'lm_head.weight'`, 'model.safetensors');
  });

  it('a header that is JSON null is a ModelFormatError, not a TypeError', async () => {
    const dir = await modelWithHeader('null-header', () => null);
    const error = await loadReplacementModel(dir).catch((e) => e);
    expect(error).toBeInstanceOf(ModelFormatError);
    expect(error.message).toMatch(/the safetensors header must be a JSON object, got null.*model\.safetensors/);

    const traced = cli(['trace', 'The capital of Texas is', '--model', dir, '--out', path.join(root, 'x.json')], root);
    expectOneCleanLine(traced, 'header must be a JSON object', 'model.safetensors');
  });

  it('a null header entry is a ModelFormatError naming the tensor, not a TypeError', async () => {
    const dir = await modelWithHeader('null-entry', (header) => ({ ...header, 'model.norm.weight': null }));
    const error = await loadReplacementModel(dir).catch((e) => e);
    expect(error).toBeInstanceOf(ModelFormatError);
    expect(error.message).toMatch(/tensor 'model\.norm\.weight' has a header entry that is null.*model\.safetensors/);
  });

  it('overlapping tensors are refused even when each offset pair alone looks valid', async () => {
    const dir = await modelWithHeader('overlap', (header) => {
      const norm = header['model.norm.weight'] as { data_offsets: [number, number] };
      // Same length, pointed at the first bytes of the data section, which another tensor owns.
      norm.data_offsets = [0, norm.data_offsets[1] - norm.data_offsets[0]];
      return header;
    });
    const error = await loadReplacementModel(dir).catch((e) => e);
    expect(error).toBeInstanceOf(ModelFormatError);
    expect(error.message).toMatch(/tensors overlap/);
  });

  it('a header length that stops inside the padding (data shifted by a few bytes) is refused', async () => {
    const dir = path.join(root, 'short-length');
    await cp(fixtureModel('llama-tiny'), dir, { recursive: true });
    const { headerText, data } = splitSafetensors(checkpoint);
    const padded = headerText.trimEnd() + '    ';
    await writeFile(
      path.join(dir, 'model.safetensors'),
      joinSafetensors(padded, data, BigInt(Buffer.byteLength(padded) - 2)),
    );
    const error = await loadReplacementModel(dir).catch((e) => e);
    expect(error).toBeInstanceOf(ModelFormatError);
    expect(error.message).toMatch(/the header length or the offsets are wrong.*model\.safetensors/);
  });

  it('num_hidden_layers that is not a positive integer names the field in config.json', async () => {
    const dir = path.join(root, 'bad-config');
    await cp(fixtureModel('llama-tiny'), dir, { recursive: true });
    const file = path.join(dir, 'config.json');
    const config = JSON.parse(await readFile(file, 'utf8'));
    for (const value of [0, 2.5, '3', null, -1]) {
      await writeFile(file, JSON.stringify({ ...config, num_hidden_layers: value }));
      const error = await loadReplacementModel(dir).catch((e) => e);
      expect(error, String(value)).toBeInstanceOf(ModelFormatError);
      expect(error.message).toContain(`config.json field 'num_hidden_layers' must be a positive integer`);
      expect(error.message).toContain(file);
    }
  });

  it('a config.json with fewer layers than the checkpoint is refused, naming a tensor of the extra layer', async () => {
    const dir = path.join(root, 'fewer-layers');
    await cp(fixtureModel('llama-tiny'), dir, { recursive: true });
    const file = path.join(dir, 'config.json');
    await writeFile(file, JSON.stringify({ ...JSON.parse(await readFile(file, 'utf8')), num_hidden_layers: 2 }));
    const error = await loadReplacementModel(dir, { transcodersDir: path.join(dir, 'transcoders') }).catch((e) => e);
    expect(error).toBeInstanceOf(ModelFormatError);
    expect(error.message).toMatch(
      /tensor 'model\.layers\.2\.[^']+' of layer 2, but config\.json's num_hidden_layers is 2/,
    );
  });
});

describe('issue 15: graph JSON that passes the schema imports without an unexpected exception', () => {
  let root = '';
  let graph: Record<string, unknown> & { metadata: Record<string, unknown> };
  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'issue-15-graph-'));
    const reference = new URL('../fixtures/reference/llama-tiny/capital-of-texas.graph.json', import.meta.url);
    graph = JSON.parse(await readFile(reference, 'utf8'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('metadata.info.create_time_ms of 9e15 (past the last Date) is a UserInputError naming the field', async () => {
    const json = { ...graph, metadata: { ...graph.metadata, info: { create_time_ms: 9e15 } } };
    const error = (() => {
      try {
        fromGraphJson(json);
      } catch (e) {
        return e as Error;
      }
      return null;
    })();
    expect(error).toBeInstanceOf(UserInputError);
    expect(error!.message).toContain('/metadata/info/create_time_ms');

    const file = path.join(root, 'future.json');
    await writeFile(file, JSON.stringify(json));
    expectOneCleanLine(cli(['import', file], root), '/metadata/info/create_time_ms');
  });

  it('the latest time a Date holds (8.64e15 ms) still imports', () => {
    const json = { ...graph, metadata: { ...graph.metadata, info: { create_time_ms: 8.64e15 } } };
    expect(fromGraphJson(json).createdAt).toBe('+275760-09-13T00:00:00.000Z');
  });
});
