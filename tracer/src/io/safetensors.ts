/**
 * The one safetensors reader: `model.safetensors`, sharded checkpoints
 * (`model.safetensors.index.json`), and single files such as transcoder layers. Tensors come back
 * as float32 whatever they were stored as (F32, BF16, F16), with their shape.
 * Format: 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}}, data.
 */
import { open, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { ModelFormatError } from '../errors.js';

export interface FloatTensor {
  data: Float32Array;
  shape: number[];
}

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

const BYTES_PER_ELEMENT: Record<string, number> = { F32: 4, BF16: 2, F16: 2, F64: 8 };

/** One safetensors file: names and shapes are read eagerly, tensor data on demand. */
export class SafetensorsFile {
  private constructor(
    readonly file: string,
    private readonly header: Record<string, HeaderEntry>,
    private readonly dataStart: number,
  ) {}

  static async open(file: string): Promise<SafetensorsFile> {
    let size: number;
    try {
      size = (await stat(file)).size;
    } catch {
      throw new ModelFormatError(`missing safetensors file; check the path or re-download the checkpoint`, file);
    }
    if (size < 8) throw new ModelFormatError(`file is truncated (${size} bytes, no header); re-download it`, file);
    const handle = await open(file, 'r');
    try {
      const lengthBytes = Buffer.alloc(8);
      await handle.read(lengthBytes, 0, 8, 0);
      const headerLength = Number(lengthBytes.readBigUInt64LE(0));
      if (headerLength <= 0 || 8 + headerLength > size) {
        throw new ModelFormatError(
          `file is truncated or not safetensors (header of ${headerLength} bytes in a ${size}-byte file); re-download it`,
          file,
        );
      }
      const headerBytes = Buffer.alloc(headerLength);
      await handle.read(headerBytes, 0, headerLength, 8);
      let header: Record<string, HeaderEntry>;
      try {
        header = JSON.parse(headerBytes.toString('utf8'));
      } catch {
        throw new ModelFormatError(
          `the safetensors header is not valid JSON; the file is corrupt, re-download it`,
          file,
        );
      }
      delete (header as Record<string, unknown>).__metadata__;
      const dataStart = 8 + headerLength;
      for (const [name, entry] of Object.entries(header)) {
        const bytes = BYTES_PER_ELEMENT[entry.dtype];
        if (!bytes) {
          throw new ModelFormatError(
            `tensor '${name}' has dtype ${entry.dtype}; only F32, BF16, F16 and F64 are supported`,
            file,
          );
        }
        const [begin, end] = entry.data_offsets;
        const count = entry.shape.reduce((a, b) => a * b, 1);
        if (end - begin !== count * bytes) {
          throw new ModelFormatError(
            `tensor '${name}' has ${end - begin} bytes for shape [${entry.shape}] ${entry.dtype}`,
            file,
          );
        }
        if (dataStart + end > size) {
          throw new ModelFormatError(
            `file is truncated: tensor '${name}' ends at byte ${dataStart + end} but the file has ${size} bytes; re-download it`,
            file,
          );
        }
      }
      return new SafetensorsFile(file, header, dataStart);
    } finally {
      await handle.close();
    }
  }

  names(): string[] {
    return Object.keys(this.header);
  }

  has(name: string): boolean {
    return name in this.header;
  }

  shape(name: string): number[] {
    const entry = this.header[name];
    if (!entry) throw new ModelFormatError(`tensor '${name}' is missing`, this.file);
    return entry.shape;
  }

  /** Reads a tensor as float32. */
  async read(name: string): Promise<FloatTensor> {
    const entry = this.header[name];
    if (!entry) throw new ModelFormatError(`tensor '${name}' is missing`, this.file);
    const [begin, end] = entry.data_offsets;
    const raw = Buffer.alloc(end - begin);
    const handle = await open(this.file, 'r');
    try {
      await handle.read(raw, 0, end - begin, this.dataStart + begin);
    } finally {
      await handle.close();
    }
    return { data: toFloat32(raw, entry.dtype), shape: entry.shape };
  }
}

function toFloat32(raw: Buffer, dtype: string): Float32Array {
  switch (dtype) {
    case 'F32': {
      const out = new Float32Array(raw.length / 4);
      new Uint8Array(out.buffer).set(raw);
      return out;
    }
    case 'F64': {
      const f64 = new Float64Array(raw.length / 8);
      new Uint8Array(f64.buffer).set(raw);
      return Float32Array.from(f64);
    }
    case 'BF16': {
      // bfloat16 is the top half of a float32.
      const out = new Uint32Array(raw.length / 2);
      for (let i = 0; i < out.length; i++) out[i] = raw.readUInt16LE(2 * i) << 16;
      return new Float32Array(out.buffer);
    }
    case 'F16': {
      const out = new Float32Array(raw.length / 2);
      for (let i = 0; i < out.length; i++) out[i] = halfToFloat(raw.readUInt16LE(2 * i));
      return out;
    }
    default:
      throw new Error(`unsupported dtype ${dtype}`);
  }
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/** A checkpoint: every tensor name mapped to the file that holds it (one file or shards). */
export class Checkpoint {
  private constructor(
    readonly dir: string,
    private readonly byName: Map<string, SafetensorsFile>,
  ) {}

  /** Opens `model.safetensors`, or the shards listed in `model.safetensors.index.json`. */
  static async open(dir: string): Promise<Checkpoint> {
    const indexFile = path.join(dir, 'model.safetensors.index.json');
    const byName = new Map<string, SafetensorsFile>();
    let index: { weight_map?: Record<string, string> } | null = null;
    try {
      index = JSON.parse(await readFile(indexFile, 'utf8'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new ModelFormatError(`the shard index is not valid JSON; re-download it`, indexFile);
      }
    }
    if (index) {
      if (!index.weight_map) throw new ModelFormatError(`the shard index has no weight_map`, indexFile);
      const shards = new Map<string, SafetensorsFile>();
      for (const shard of new Set(Object.values(index.weight_map))) {
        shards.set(shard, await SafetensorsFile.open(path.join(dir, shard)));
      }
      for (const [name, shard] of Object.entries(index.weight_map)) byName.set(name, shards.get(shard)!);
    } else {
      const file = await SafetensorsFile.open(path.join(dir, 'model.safetensors'));
      for (const name of file.names()) byName.set(name, file);
    }
    return new Checkpoint(dir, byName);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  names(): string[] {
    return [...this.byName.keys()];
  }

  /** Reads a tensor and checks its shape; the error names the tensor and both shapes. */
  async read(name: string, expectedShape?: number[]): Promise<FloatTensor> {
    const file = this.byName.get(name);
    if (!file) throw new ModelFormatError(`tensor '${name}' is missing from the checkpoint`, this.dir);
    const tensor = await file.read(name);
    if (expectedShape) checkShape(name, tensor.shape, expectedShape, file.file);
    return tensor;
  }
}

export function checkShape(name: string, actual: number[], expected: number[], file?: string): void {
  if (actual.length !== expected.length || actual.some((d, i) => d !== expected[i])) {
    throw new ModelFormatError(
      `tensor '${name}' has shape [${actual.join(', ')}] but the config implies [${expected.join(', ')}]`,
      file,
    );
  }
}
