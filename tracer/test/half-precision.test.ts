/**
 * 16-bit checkpoints stay 16-bit in ONNX Runtime and are upcast to float32 inside each graph, so a
 * bf16 / f16 checkpoint must give exactly what its float32 upcast gives: same logits, same graph.
 * Each fixture is rewritten here into real safetensors files in BF16 (or F16) and into F32 holding
 * the same rounded values; both are loaded through the ordinary loader and compared.
 */
import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadReplacementModel, traceGraph, type ReplacementModel } from '../src/index.js';
import { readModelConfig } from '../src/io/model-config.js';
import { Checkpoint, SafetensorsFile } from '../src/io/safetensors.js';
import { loadGemmaWeights } from '../src/model/gemma.js';
import { runForward } from '../src/model/replacement-model.js';
import { buildFinalGraph } from '../src/model/transformer-graphs.js';
import { GraphSession } from '../src/onnx/session.js';
import type { WeightData } from '../src/onnx/graph-builder.js';
import { fixtureModel } from './engine-fixtures.js';

type Half = 'BF16' | 'F16';

/** float32 → 16-bit bits (bf16 round-to-nearest-even; f16 round-half-up, in range): both copies share them. */
function toHalfBits(values: Float32Array, type: Half): Uint16Array {
  const out = new Uint16Array(values.length);
  if (type === 'BF16') {
    const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
    for (let i = 0; i < values.length; i++) out[i] = (bits[i] + 0x7fff + ((bits[i] >>> 16) & 1)) >>> 16;
    return out;
  }
  for (let i = 0; i < values.length; i++) {
    const a = Math.abs(values[i]);
    let h: number;
    if (a < 2 ** -14) {
      h = Math.round(a / 2 ** -24); // subnormal (a carry into 1024 is the first normal's encoding)
    } else {
      let e = Math.floor(Math.log2(a));
      while (a / 2 ** e >= 2) e++;
      while (a / 2 ** e < 1) e--;
      let fraction = Math.round((a / 2 ** e - 1) * 1024);
      if (fraction === 1024) [fraction, e] = [0, e + 1];
      h = ((e + 15) << 10) | fraction;
    }
    out[i] = (values[i] < 0 ? 0x8000 : 0) | h;
  }
  return out;
}

function fromHalfBits(bits: Uint16Array, type: Half): Float32Array {
  if (type === 'BF16') {
    const out = new Uint32Array(bits.length);
    for (let i = 0; i < bits.length; i++) out[i] = bits[i] << 16;
    return new Float32Array(out.buffer);
  }
  return Float32Array.from(bits, (h) => {
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const fraction = h & 0x3ff;
    if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
    return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
  });
}

/** Writes a safetensors file of named tensors, each in its own dtype. */
function writeSafetensors(
  file: string,
  tensors: { name: string; shape: number[]; dtype: string; bytes: Uint8Array }[],
) {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.length] };
    offset += t.bytes.length;
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(file, Buffer.concat([length, json, ...tensors.map((t) => Buffer.from(t.bytes))]));
}

/**
 * Rewrites every safetensors file of `source` (model and transcoders): matrices in `type`, or in F32
 * holding the same rounded values when `upcast`; 1-D tensors (norms, biases) stay F32 in both.
 */
async function rewrite(source: string, target: string, type: Half, upcast: boolean): Promise<void> {
  cpSync(source, target, { recursive: true });
  const files = [
    ...readdirSync(target).map((f) => path.join(target, f)),
    ...readdirSync(path.join(target, 'transcoders')).map((f) => path.join(target, 'transcoders', f)),
  ].filter((f) => f.endsWith('.safetensors'));
  for (const file of files) {
    const st = await SafetensorsFile.open(file);
    const tensors = [];
    for (const name of st.names()) {
      const { data, shape } = await st.read(name);
      if (shape.length < 2) {
        tensors.push({ name, shape, dtype: 'F32', bytes: new Uint8Array(data.buffer) });
        continue;
      }
      const bits = toHalfBits(data, type);
      tensors.push(
        upcast
          ? { name, shape, dtype: 'F32', bytes: new Uint8Array(fromHalfBits(bits, type).buffer) }
          : { name, shape, dtype: type, bytes: new Uint8Array(bits.buffer) },
      );
    }
    writeSafetensors(file, tensors);
  }
}

const work = mkdtempSync(path.join(tmpdir(), 'atlas-half-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const PROMPT = 'Dallas is a city in the state of';

describe('16-bit checkpoints: held in 16 bits, computed in float32', () => {
  for (const [fixture, type] of [
    ['llama-tiny', 'BF16'],
    ['llama-tiny', 'F16'],
    ['gemma2-tiny', 'BF16'],
    ['gpt2-tiny', 'BF16'],
  ] as const) {
    it(`${fixture} in ${type}: the same logits, graph and host-side rows as its float32 upcast`, async () => {
      const halfDir = path.join(work, `${fixture}-${type}`);
      const fullDir = path.join(work, `${fixture}-${type}-upcast`);
      await rewrite(fixtureModel(fixture), halfDir, type, false);
      await rewrite(fixtureModel(fixture), fullDir, type, true);
      const half = await loadReplacementModel(halfDir);
      const full = await loadReplacementModel(fullDir);
      try {
        // The forward-only JavaScript copies are gone once the sessions hold them.
        expect((half.weights.blocks[0].q.weightT as Float32Array).length).toBe(0);
        // The backward graphs read W_O and W_V from the file, but GPT-2's W_V is a slice of c_attn.
        const held = (w: WeightData) => (w instanceof Float32Array ? w.length : w.bits.length);
        expect(held(half.weights.blocks[0].o.weightT)).toBe(fixture === 'gpt2-tiny' ? half.dModel ** 2 : 0);
        expect(held(half.weights.blocks[0].v.weightT) > 0).toBe(fixture === 'gpt2-tiny');
        expect(half.weights.unembedRows.stored?.type).toBe(type === 'BF16' ? 'bfloat16' : 'float16'); // read by ORT from the file
        const ids = half.tokenizer.encodePrompt(PROMPT, half.config.maxPositions);
        const [a, b] = [await runForward(half, ids), await runForward(full, ids)];
        expect(maxRelativeDiff(a.logits, b.logits)).toBeLessThan(1e-5);
        // Rows read from the files on demand equal the upcast values.
        for (const tok of ids)
          expect(half.weights.tokenEmbedding.row(tok)).toEqual(full.weights.tokenEmbedding.row(tok));
        expect(half.weights.unembedRows.row(ids[1])).toEqual(full.weights.unembedRows.row(ids[1]));
        expect(half.transcoders.layers[1].wDec.row(3)).toEqual(full.transcoders.layers[1].wDec.row(3));
        expect(half.transcoders.layers[1].wEnc.row(5)).toEqual(full.transcoders.layers[1].wEnc.row(5));
        const [ga, gb] = [await trace(half), await trace(full)];
        expect(Array.from(ga.graph.activeFeatures)).toEqual(Array.from(gb.graph.activeFeatures));
        expect(ga.graph.adjacency.values.length).toBe(gb.graph.adjacency.values.length);
        expect(maxRelativeDiff(ga.graph.adjacency.values, gb.graph.adjacency.values)).toBeLessThan(1e-4);
      } finally {
        await half.dispose();
        await full.dispose();
      }
    });
  }
});

describe('a 16-bit unembedding is read from the checkpoint file and upcast a chunk of vocabulary rows at a time', () => {
  it('gives the logits of one whole product, for chunks that do and do not divide the vocabulary', async () => {
    const dir = path.join(work, 'gemma2-tiny-unembed');
    await rewrite(fixtureModel('gemma2-tiny'), dir, 'BF16', false);
    const config = await readModelConfig(dir);
    const checkpoint = await Checkpoint.open(dir);
    const weights = await loadGemmaWeights(config, checkpoint);
    const { dModel: d, vocabSize: V } = config;
    expect(weights.unembedRows.stored?.type).toBe('bfloat16'); // ORT reads the rows from the file, in bf16
    const T = 3;
    const residual = Float32Array.from({ length: T * d }, (_, i) => Math.sin(i * 0.37));
    const run = async (chunk: number) => {
      const graph = await buildFinalGraph(weights.lnFinal, weights.unembedRows, d, null, chunk);
      expect(graph.externalDataFolder).not.toBeNull();
      const session = await GraphSession.create('unembed', graph);
      try {
        const out = await session.run({
          resid_final: { data: residual, dims: [1, T, d] },
          frozen_lnf_scale: { data: new Float32Array(T), dims: [1, T, 1] },
          freeze_scale: { data: new Float32Array([0]), dims: [1] },
        });
        expect(out.logits.dims).toEqual([1, T, V]);
        return out;
      } finally {
        await session.release();
      }
    };
    const whole = await run(V);
    // logits[t, v] = h[t] · W_U[:, v], with W_U's columns read on the host from the same file.
    const host = new Float32Array(T * V);
    for (let v = 0; v < V; v++) {
      const column = weights.unembedRows.row(v);
      for (let t = 0; t < T; t++) {
        let dot = 0;
        for (let i = 0; i < d; i++) dot += whole.unembed_in.data[t * d + i] * column[i];
        host[t * V + v] = dot;
      }
    }
    expect(maxRelativeDiff(whole.logits.data, host)).toBeLessThan(1e-5);
    for (const chunk of [16, 50, V - 1]) {
      expect(maxRelativeDiff((await run(chunk)).logits.data, whole.logits.data)).toBeLessThan(1e-6);
    }
    checkpoint.close();
  });
});

const trace = (model: ReplacementModel) => traceGraph(model, PROMPT, { batchSize: 64 });

/** max |a − b| over max |b|: a scale-free comparison of two float arrays. */
function maxRelativeDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}
