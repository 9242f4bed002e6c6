/** Bad models and bad prompts give typed errors whose messages say what to fix; nothing crashes. */
import { cp, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  attribute,
  describeModel,
  intervene,
  loadReplacementModel,
  ModelFormatError,
  UserInputError,
  type ReplacementModel,
} from '../src/index.js';
import { fixtureModel } from './engine-fixtures.js';

async function copyOfFixture(name: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), `engine-bad-${name}-`));
  await cp(fixtureModel(name), dir, { recursive: true });
  return dir;
}

async function editConfig(dir: string, edit: (config: Record<string, unknown>) => void): Promise<void> {
  const file = path.join(dir, 'config.json');
  const config = JSON.parse(await readFile(file, 'utf8'));
  edit(config);
  await writeFile(file, JSON.stringify(config));
}

describe('bad model files', () => {
  const made: string[] = [];
  afterAll(async () => {
    for (const dir of made) await rm(dir, { recursive: true, force: true });
  });
  const fresh = async (name = 'llama-tiny') => {
    const dir = await copyOfFixture(name);
    made.push(dir);
    return dir;
  };

  it('a missing model.safetensors is a ModelFormatError naming the file', async () => {
    const dir = await fresh();
    await rm(path.join(dir, 'model.safetensors'));
    const error = await loadReplacementModel(dir).catch((e) => e);
    expect(error).toBeInstanceOf(ModelFormatError);
    expect(error.message).toMatch(/missing safetensors file.*model\.safetensors/);
  });

  it('a truncated model.safetensors is a ModelFormatError that says to re-download', async () => {
    const dir = await fresh();
    const file = path.join(dir, 'model.safetensors');
    await truncate(file, 5000);
    const error = await loadReplacementModel(dir).catch((e) => e);
    expect(error).toBeInstanceOf(ModelFormatError);
    expect(error.message).toMatch(/truncated.*re-download/);
  });

  it('a truncated transcoder file is a ModelFormatError naming that file', async () => {
    const dir = await fresh();
    await truncate(path.join(dir, 'transcoders', 'layer_1.safetensors'), 100);
    const error = await loadReplacementModel(dir).catch((e) => e);
    expect(error).toBeInstanceOf(ModelFormatError);
    expect(error.message).toMatch(/layer_1\.safetensors/);
  });

  it('a tensor whose shape disagrees with config.json names the tensor and both shapes', async () => {
    const dir = await fresh();
    await editConfig(dir, (c) => (c.intermediate_size = 96));
    const error = await loadReplacementModel(dir).catch((e) => e);
    expect(error).toBeInstanceOf(ModelFormatError);
    expect(error.message).toContain(
      `tensor 'model.layers.0.mlp.gate_proj.weight' has shape [128, 64] but the config implies [96, 64]`,
    );
  });

  it('a transcoder tensor of the wrong shape names the tensor and both shapes', async () => {
    const dir = await fresh();
    const file = path.join(dir, 'transcoders', 'layer_1.safetensors');
    const { SafetensorsFile } = await import('../src/io/safetensors.js');
    const original = await SafetensorsFile.open(file);
    const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const name of original.names()) tensors[name] = await original.read(name);
    const F = tensors.W_dec.shape[0];
    tensors.W_dec = { shape: [F, 32], data: tensors.W_dec.data.subarray(0, F * 32) }; // d_model halved
    await writeFile(file, safetensorsBytes(tensors));
    const error = await loadReplacementModel(dir).catch((e) => e);
    expect(error).toBeInstanceOf(ModelFormatError);
    expect(error.message).toContain(`tensor 'W_dec' has shape [${F}, 32] but the config implies [${F}, 64]`);
    expect(error.message).toContain('layer_1.safetensors');
  });

  it('an unknown architecture is a ModelFormatError listing the supported ones', async () => {
    const dir = await fresh();
    await editConfig(dir, (c) => {
      c.model_type = 'mamba';
      c.architectures = ['MambaForCausalLM'];
    });
    const error = await loadReplacementModel(dir).catch((e) => e);
    expect(error).toBeInstanceOf(ModelFormatError);
    expect(error.message).toMatch(
      /unknown architecture 'MambaForCausalLM'.*supported: Llama, Qwen2, Qwen3, SmolLM .* GPT-2/,
    );
    await expect(describeModel(dir)).rejects.toBeInstanceOf(ModelFormatError);
  });

  it('a folder without config.json says to point --model at a model folder', async () => {
    const error = await loadReplacementModel(path.join(tmpdir(), 'no-such-model-folder')).catch((e) => e);
    expect(error).toBeInstanceOf(ModelFormatError);
    expect(error.message).toMatch(/no config\.json/);
  });
});

describe('bad prompts and interventions', () => {
  let model: ReplacementModel;
  beforeAll(async () => {
    model = await loadReplacementModel(fixtureModel('llama-tiny'));
  });
  afterAll(async () => {
    await model.dispose();
  });

  it('an empty prompt is a UserInputError', async () => {
    await expect(attribute(model, '   ')).rejects.toThrow(UserInputError);
    await expect(attribute(model, '')).rejects.toThrow(/the prompt is empty/);
  });

  it('a prompt longer than the context is a UserInputError giving both lengths', async () => {
    const long = Array.from({ length: 200 }, () => 'the').join(' ');
    const error = await attribute(model, long).catch((e) => e);
    expect(error).toBeInstanceOf(UserInputError);
    expect(error.message).toMatch(/201 tokens .* context is 128; shorten it/);
  });

  it('unknown words are a UserInputError that names them', async () => {
    const error = await attribute(model, 'The capital of Zembla is').catch((e) => e);
    expect(error).toBeInstanceOf(UserInputError);
    expect(error.message).toMatch(/does not know \("Zembla"\)/);
  });

  it('bad attribution options are UserInputErrors', async () => {
    await expect(attribute(model, 'The capital of Texas is', { batchSize: 0 })).rejects.toThrow(
      /batchSize must be a whole number/,
    );
    await expect(attribute(model, 'The capital of Texas is', { desiredLogitProb: 2 })).rejects.toThrow(
      /desiredLogitProb must be a number in \(0, 1\]/,
    );
  });

  it('interventions out of range are UserInputErrors that give the valid range', async () => {
    await expect(
      intervene(model, 'The capital of Texas is', [{ layer: 9, position: 1, feature: 0, mode: 'set', value: 1 }]),
    ).rejects.toThrow(/layers 0\.\.2/);
    await expect(
      intervene(model, 'The capital of Texas is', [{ layer: 0, position: 6, feature: 0, mode: 'set', value: 1 }]),
    ).rejects.toThrow(/positions 0\.\.5/);
    await expect(
      intervene(model, 'The capital of Texas is', [{ layer: 0, position: 1, feature: 5000, mode: 'set', value: 1 }]),
    ).rejects.toThrow(UserInputError);
  });
});

/** A float32 safetensors file: 8-byte header length, JSON header, data. */
function safetensorsBytes(tensors: Record<string, { shape: number[]; data: Float32Array }>): Buffer {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([
    length,
    json,
    ...Object.values(tensors).map((t) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)),
  ]);
}
