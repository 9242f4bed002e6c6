/**
 * Fuzz and fault suite, safetensors: real fixture files (a model checkpoint and a transcoder layer)
 * damaged in their headers, length field and size. Properties:
 *  - whatever the damage, opening and reading either refuses with a ModelFormatError or returns
 *    exactly the bytes the undamaged file held for that tensor — never a TypeError, never other bytes;
 *  - an edit that moves, resizes or retypes what a tensor reads is always refused, naming the file.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelFormatError } from '../../src/errors.js';
import { readModelConfig } from '../../src/io/model-config.js';
import { Checkpoint, SafetensorsFile } from '../../src/io/safetensors.js';
import { loadLlamaWeights } from '../../src/model/llama.js';
import { loadTranscoderSet } from '../../src/transcoder/transcoder-set.js';
import { fixtureModel } from '../engine-fixtures.js';
import {
  FUZZ_SEED,
  expectNames,
  jsonEdit,
  applyJsonEdits,
  joinSafetensors,
  refusal,
  splitSafetensors,
  type JsonEdit,
} from './mutations.js';

type Damage =
  | { kind: 'flip'; at: number; mask: number }
  | { kind: 'length'; declared: bigint }
  | { kind: 'truncate'; size: number }
  | { kind: 'header'; edits: JsonEdit[] };

function damage(bytes: Buffer, d: Damage): Buffer {
  const { header, data } = splitSafetensors(bytes);
  switch (d.kind) {
    case 'flip': {
      const out = Buffer.from(bytes);
      out[d.at] ^= d.mask;
      return out;
    }
    case 'length':
      return Buffer.concat([Buffer.from(new BigUint64Array([d.declared]).buffer), bytes.subarray(8)]);
    case 'truncate':
      return bytes.subarray(0, d.size);
    case 'header':
      return joinSafetensors(applyJsonEdits(header, d.edits), data);
  }
}

function damageOf(bytes: Buffer): fc.Arbitrary<Damage> {
  const { header, headerText } = splitSafetensors(bytes);
  const headerEnd = 8 + Buffer.byteLength(headerText);
  const entryPaths = Object.keys(header).map((name) => [
    [name],
    ...(name === '__metadata__'
      ? Object.keys(header[name]).map((k) => [name, k])
      : [
          [name, 'dtype'],
          [name, 'shape'],
          [name, 'shape', 0],
          [name, 'data_offsets'],
          [name, 'data_offsets', 0],
          [name, 'data_offsets', 1],
        ]),
  ]);
  return fc.oneof(
    fc
      .record({ at: fc.nat(headerEnd - 1), mask: fc.integer({ min: 1, max: 255 }) })
      .map((r): Damage => ({ kind: 'flip', ...r })),
    fc
      .oneof(
        fc.integer({ min: -16, max: 16 }).map((delta) => BigInt(headerEnd - 8 + delta)),
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      )
      .map((declared): Damage => ({ kind: 'length', declared: declared < 0n ? 0n : declared })),
    fc.nat(bytes.length - 1).map((size): Damage => ({ kind: 'truncate', size })),
    fc.array(jsonEdit(entryPaths), { minLength: 1, maxLength: 3 }).map((edits): Damage => ({ kind: 'header', edits })),
  );
}

/** Every tensor of a file as raw float32 bytes, by name. */
async function readAll(file: string): Promise<Map<string, Buffer>> {
  const st = await SafetensorsFile.open(file);
  const out = new Map<string, Buffer>();
  for (const name of st.names()) {
    const t = await st.read(name);
    out.set(name, Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  return out;
}

const FILES = {
  checkpoint: path.join(fixtureModel('llama-tiny'), 'model.safetensors'),
  transcoder: path.join(fixtureModel('llama-tiny'), 'transcoders', 'layer_1.safetensors'),
  'cross-layer decoder': path.join(fixtureModel('llama-clt-tiny'), 'transcoders', 'W_dec_1.safetensors'),
};

describe('safetensors files under damage', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'fuzz-safetensors-'));
    await cp(fixtureModel('llama-tiny'), path.join(dir, 'model'), { recursive: true });
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  for (const [label, original] of Object.entries(FILES)) {
    it(`a damaged ${label} header is refused with a ModelFormatError or reads exactly the original bytes`, async () => {
      const bytes = await readFile(original);
      const expected = await readAll(original);
      const target = path.join(dir, `${label.replaceAll(' ', '-')}.safetensors`);
      let refused = 0;
      await fc.assert(
        fc.asyncProperty(damageOf(bytes), async (d) => {
          await writeFile(target, damage(bytes, d));
          let read: Map<string, Buffer> | null = null;
          const error = await refusal(async () => (read = await readAll(target)));
          if (error) {
            expect(error.message).toContain(target);
            refused++;
            return;
          }
          for (const [name, data] of read!) {
            if (expected.has(name))
              expect(data.equals(expected.get(name)!), `tensor '${name}' read other bytes`).toBe(true);
          }
        }),
        { seed: FUZZ_SEED, numRuns: 300 },
      );
      // Most damage must be caught; a suite whose edits are all harmless tests nothing.
      expect(refused).toBeGreaterThan(150);
    });
  }

  it('an edit that changes what a checkpoint tensor reads makes loading the model fail, naming the file', async () => {
    const modelDir = path.join(dir, 'model');
    const file = path.join(modelDir, 'model.safetensors');
    const bytes = await readFile(FILES.checkpoint);
    const { header, headerText, data } = splitSafetensors(bytes);
    const names = Object.keys(header).filter((n) => n !== '__metadata__');
    const config = await readModelConfig(modelDir);
    await fc.assert(
      fc.asyncProperty(dataChangingEdit(names, data.length), async (edit) => {
        await writeFile(file, applyDataChangingEdit(edit, header, headerText, data));
        const error = await refusal(async () => loadLlamaWeights(config, await Checkpoint.open(modelDir)));
        expectNames(error, file, edit.tensorNamed ? edit.name : undefined);
      }),
      { seed: FUZZ_SEED, numRuns: 150 },
    );
    await writeFile(file, bytes);
    await expect(loadLlamaWeights(config, await Checkpoint.open(modelDir))).resolves.toBeTruthy();
  });

  it('an edit that changes what a transcoder tensor reads makes loading the transcoders fail, naming the file', async () => {
    const tcDir = path.join(dir, 'model', 'transcoders');
    const file = path.join(tcDir, 'layer_1.safetensors');
    const bytes = await readFile(FILES.transcoder);
    const { header, headerText, data } = splitSafetensors(bytes);
    const names = Object.keys(header).filter((n) => n !== '__metadata__');
    await fc.assert(
      fc.asyncProperty(dataChangingEdit(names, data.length), async (edit) => {
        await writeFile(file, applyDataChangingEdit(edit, header, headerText, data));
        const error = await refusal(() => loadTranscoderSet(tcDir, 3, 64));
        expectNames(error, file, edit.tensorNamed ? edit.name : undefined);
      }),
      { seed: FUZZ_SEED, numRuns: 100 },
    );
    await writeFile(file, bytes);
  });
});

describe('safetensors header rules (as the Rust safetensors library reads them)', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'safetensors-rules-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Writes a file from a header object and data bytes; returns its path. */
  async function write(name: string, header: unknown, data: Buffer): Promise<string> {
    const file = path.join(dir, `${name}.safetensors`);
    await writeFile(file, joinSafetensors(JSON.stringify(header), data));
    return file;
  }
  const f32 = (values: number[]) => Buffer.from(new Float32Array(values).buffer);

  it('__metadata__ may be absent or null, and otherwise must map strings to strings', async () => {
    const tensor = { dtype: 'F32', shape: [2], data_offsets: [0, 8] };
    const ok = await write('meta-null', { __metadata__: null, t: tensor }, f32([1, 2]));
    expect([...(await (await SafetensorsFile.open(ok)).read('t')).data]).toEqual([1, 2]);
    const bad = await write('meta-number', { __metadata__: { format: 3 }, t: tensor }, f32([1, 2]));
    await expect(SafetensorsFile.open(bad)).rejects.toThrow(/__metadata__ must map strings to strings/);
  });

  it('a tensor with no elements takes no bytes and may share its offset with the next tensor', async () => {
    const header = {
      empty: { dtype: 'F32', shape: [0, 4], data_offsets: [0, 0] },
      t: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
    };
    const st = await SafetensorsFile.open(await write('empty', header, f32([7])));
    expect((await st.read('empty')).data.length).toBe(0);
    expect([...(await st.read('t')).data]).toEqual([7]);
  });

  it('integer tensors open (a checkpoint may carry them) but reading one as float is refused, naming it', async () => {
    const header = { ids: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } };
    const file = await write('int', header, Buffer.alloc(8));
    const st = await SafetensorsFile.open(file);
    await expect(st.read('ids')).rejects.toThrow(/tensor 'ids' has dtype I64; only F32, BF16, F16 and F64/);
  });

  it('an unknown dtype, a fractional dimension and a header of the wrong type are refused, naming the tensor', async () => {
    const cases: [unknown, RegExp][] = [
      [{ t: { dtype: 'F33', shape: [1], data_offsets: [0, 4] } }, /tensor 't' has unknown dtype "F33"/],
      [{ t: { dtype: 'F32', shape: [0.5, 8], data_offsets: [0, 16] } }, /tensor 't' has shape \[0\.5,8\]/],
      [{ t: { dtype: 'F32', shape: [4], data_offsets: [0] } }, /tensor 't' has data_offsets \[0\]/],
      [[{ dtype: 'F32' }], /header must be a JSON object, got an array/],
      [{ t: 'F32' }, /tensor 't' has a header entry that is string/],
    ];
    for (const [i, [header, message]] of cases.entries()) {
      const file = await write(`case-${i}`, header, f32([1, 2, 3, 4]));
      const error = await SafetensorsFile.open(file).catch((e) => e);
      expect(error, String(message)).toBeInstanceOf(ModelFormatError);
      expect(error.message).toMatch(message);
      expect(error.message).toContain(file);
    }
  });
});

/** Edits after which some tensor would read other bytes, another length or another type. */
type DataChangingEdit = { name: string; tensorNamed: boolean } & (
  | { kind: 'shift'; delta: number }
  | { kind: 'negative'; begin: number }
  | { kind: 'begin' | 'end'; delta: number }
  | { kind: 'dtype'; dtype: string }
  | { kind: 'shape'; shape: number[] }
  | { kind: 'padding'; pad: number; shrink: number }
  | { kind: 'cut'; bytes: number }
);

function dataChangingEdit(names: string[], dataSize: number): fc.Arbitrary<DataChangingEdit> {
  const name = fc.constantFrom(...names);
  const delta = fc.integer({ min: -dataSize, max: dataSize }).filter((d) => d !== 0);
  return fc.oneof(
    // Moved tensors are caught by the tiling check, which may name the neighbour it now overlaps.
    fc.record({ name, delta }).map((r) => ({ ...r, kind: 'shift' as const, tensorNamed: false })),
    fc
      .record({ name, begin: fc.integer({ min: -dataSize - 64, max: -1 }) })
      .map((r) => ({ ...r, kind: 'negative' as const, tensorNamed: true })),
    fc
      .record({ name, delta, kind: fc.constantFrom('begin' as const, 'end' as const) })
      .map((r) => ({ ...r, tensorNamed: false })),
    fc
      .record({ name, dtype: fc.constantFrom('F16', 'BF16', 'F64', 'I32', 'U32', 'I64', 'U8', 'BOOL', 'F8_E4M3') })
      .map((r) => ({ ...r, kind: 'dtype' as const, tensorNamed: true })),
    fc
      .record({ name, shape: fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 3 }) })
      .map((r) => ({ ...r, kind: 'shape' as const, tensorNamed: true })),
    fc
      .integer({ min: 1, max: 16 })
      .chain((pad) => fc.record({ pad: fc.constant(pad), shrink: fc.integer({ min: 1, max: pad }) }))
      .map((r) => ({ ...r, name: '', kind: 'padding' as const, tensorNamed: false })),
    fc
      .integer({ min: 1, max: dataSize })
      .map((n) => ({ bytes: n, name: '', kind: 'cut' as const, tensorNamed: false })),
  );
}

function applyDataChangingEdit(
  edit: DataChangingEdit,
  header: ReturnType<typeof splitSafetensors>['header'],
  headerText: string,
  data: Buffer,
): Buffer {
  const h = structuredClone(header) as Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>;
  const entry = h[edit.name];
  switch (edit.kind) {
    case 'shift':
      entry.data_offsets = entry.data_offsets.map((o) => o + edit.delta);
      break;
    case 'negative':
      entry.data_offsets = [edit.begin, edit.begin + entry.data_offsets[1] - entry.data_offsets[0]];
      break;
    case 'begin':
      entry.data_offsets[0] += edit.delta;
      break;
    case 'end':
      entry.data_offsets[1] += edit.delta;
      break;
    case 'dtype':
      if (entry.dtype === edit.dtype) entry.dtype = 'F16';
      else entry.dtype = edit.dtype;
      break;
    case 'shape':
      // The same shape is no edit: add a dimension of 2 so it differs.
      entry.shape = edit.shape.join() === entry.shape.join() ? [...edit.shape, 2] : edit.shape;
      break;
    case 'padding': {
      // A header padded with spaces whose length field stops short: the data would start early.
      const padded = headerText.trimEnd() + ' '.repeat(edit.pad);
      return joinSafetensors(padded, data, BigInt(Buffer.byteLength(padded) - edit.shrink));
    }
    case 'cut':
      return joinSafetensors(headerText, data.subarray(0, data.length - edit.bytes));
  }
  return joinSafetensors(JSON.stringify(h), data);
}
