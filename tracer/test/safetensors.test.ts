/** The safetensors reader: sharded checkpoints (model.safetensors.index.json), BF16 and F16 tensors. */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadReplacementModel } from '../src/index.js';
import { Checkpoint, SafetensorsFile } from '../src/io/safetensors.js';
import { runForward } from '../src/model/replacement-model.js';
import { fixtureModel } from './engine-fixtures.js';

interface RawTensor {
  dtype: 'F32' | 'BF16' | 'F16';
  shape: number[];
  bytes: Buffer;
}

function safetensorsBytes(tensors: Record<string, RawTensor>): Buffer {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.length] };
    offset += t.bytes.length;
  }
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([length, json, ...Object.values(tensors).map((t) => t.bytes)]);
}

const f32 = (data: Float32Array) => Buffer.from(data.buffer, data.byteOffset, data.byteLength);

describe('safetensors reader', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('a checkpoint split into shards with an index gives the same logits as the single file', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'engine-shards-'));
    dirs.push(dir);
    await cp(fixtureModel('llama-tiny'), dir, { recursive: true });
    const single = await SafetensorsFile.open(path.join(dir, 'model.safetensors'));
    const names = single.names();
    const shards: Record<string, RawTensor>[] = [{}, {}];
    const weightMap: Record<string, string> = {};
    for (const [i, name] of names.entries()) {
      const t = await single.read(name);
      shards[i % 2][name] = { dtype: 'F32', shape: t.shape, bytes: f32(t.data) };
      weightMap[name] = `model-0000${(i % 2) + 1}-of-00002.safetensors`;
    }
    await writeFile(path.join(dir, 'model-00001-of-00002.safetensors'), safetensorsBytes(shards[0]));
    await writeFile(path.join(dir, 'model-00002-of-00002.safetensors'), safetensorsBytes(shards[1]));
    await writeFile(
      path.join(dir, 'model.safetensors.index.json'),
      JSON.stringify({ metadata: {}, weight_map: weightMap }),
    );
    await rm(path.join(dir, 'model.safetensors'));

    const checkpoint = await Checkpoint.open(dir);
    expect(checkpoint.names().sort()).toEqual([...names].sort());
    const model = await loadReplacementModel(dir);
    try {
      const expected = JSON.parse(await readFile(path.join(dir, 'expected.json'), 'utf8'));
      const entry = expected.prompts[0];
      const { logits } = await runForward(model, entry.input_ids);
      const want = entry.logits.flat() as number[];
      expect(Math.max(...want.map((w, i) => Math.abs(w - logits[i])))).toBeLessThan(1e-4);
    } finally {
      await model.dispose();
    }
  });

  it('BF16 and F16 tensors are widened to float32 exactly', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'engine-dtypes-'));
    dirs.push(dir);
    const values = [1, -2, 0.5, 3.140625, -0.0078125, 65504];
    // bfloat16: the top 16 bits of the float32 (these values are exact in bf16).
    const bf16 = Buffer.alloc(values.length * 2);
    const asF32 = new Float32Array(values);
    const bits = new Uint32Array(asF32.buffer);
    bits.forEach((b, i) => bf16.writeUInt16LE(b >>> 16, 2 * i));
    // float16 bit patterns of the same values, written by hand.
    const f16 = Buffer.alloc(values.length * 2);
    [0x3c00, 0xc000, 0x3800, 0x4248, 0xa000, 0x7bff].forEach((b, i) => f16.writeUInt16LE(b, 2 * i));
    const file = path.join(dir, 'dtypes.safetensors');
    await writeFile(
      file,
      safetensorsBytes({
        a_bf16: { dtype: 'BF16', shape: [2, 3], bytes: bf16 },
        b_f16: { dtype: 'F16', shape: [6], bytes: f16 },
      }),
    );
    const st = await SafetensorsFile.open(file);
    const a = await st.read('a_bf16');
    expect(a.shape).toEqual([2, 3]);
    expect(Array.from(a.data)).toEqual([1, -2, 0.5, 3.140625, -0.0078125, 65280]); // 65504 is not a bf16 value: its top 16 bits are 65280
    expect(Array.from((await st.read('b_f16')).data)).toEqual(values);
  });
});
