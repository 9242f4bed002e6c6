/**
 * The one safetensors reader: `model.safetensors`, sharded checkpoints
 * (`model.safetensors.index.json`), and single files such as transcoder layers. `read` gives a
 * tensor as float32 whatever it was stored as (F32, BF16, F16); `readWeight` keeps BF16/F16 in 16
 * bits (for ONNX initializers); `rows` reads rows of a 2-D tensor from the file on demand, so
 * host-side uses of a big matrix (embedding rows, decoder rows) hold no copy of it.
 * Format: 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}}, data.
 */
import { constants } from 'node:buffer';
import { closeSync, openSync, readSync } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import type { WeightData } from '../onnx/graph-builder.js';
import path from 'node:path';
import { ModelFormatError } from '../errors.js';

export interface FloatTensor {
  data: Float32Array;
  shape: number[];
}

/**
 * Rows of a [rows, cols] matrix as float32, read where they live (a file, or memory): the one way
 * host-side code reaches a big weight that ONNX Runtime holds (embedding and unembedding rows,
 * transcoder encoder and decoder rows), so it is never held a second time in JavaScript.
 */
export interface RowSource {
  rows: number;
  cols: number;
  /** Row `index` as float32 values. [cols] */
  row(index: number): Float32Array;
  /** Rows [first, end) as float32 values, row-major: one read for many rows. [end − first, cols] */
  range(first: number, end: number): Float32Array;
  /** The whole matrix as stored (16-bit kept), for building an ONNX graph; [rows, cols]. */
  readAll(): Promise<WeightData>;
  /**
   * Where the matrix lies in its file, row-major as stored, when it is used as stored (unscaled,
   * a float type): ONNX Runtime can then read it from the file itself (external data), with no
   * JavaScript copy.
   */
  stored?: StoredMatrix;
}

/** A row-major float matrix in a file: its path, the byte offset of row 0 and the element type. */
export interface StoredMatrix {
  file: string;
  offset: number;
  type: 'float32' | 'bfloat16' | 'float16';
}

const STORED_TYPE: Record<string, StoredMatrix['type']> = { F32: 'float32', BF16: 'bfloat16', F16: 'float16' };

/** A RowSource over a matrix already in memory (e.g. from an .npz, or a derived matrix). */
export function memoryRows(data: Float32Array, cols: number): RowSource {
  return {
    rows: data.length / cols,
    cols,
    row: (index) => data.slice(index * cols, (index + 1) * cols),
    range: (first, end) => data.slice(first * cols, end * cols),
    readAll: async () => data,
  };
}

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** Bytes per element of every dtype the format defines; only the float ones can be read. */
const BYTES_PER_ELEMENT: Record<string, number> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
};
const READABLE_DTYPES = new Set(['F32', 'BF16', 'F16', 'F64']);

/** The Rust safetensors library refuses headers above 100 MB; so do we, before allocating one. */
export const MAX_HEADER_BYTES = 100_000_000;

const RE_DOWNLOAD = 'the file is corrupt; re-download it';

/** One safetensors file: names and shapes are read eagerly, tensor data on demand. */
export class SafetensorsFile {
  private constructor(
    readonly file: string,
    private readonly header: Record<string, HeaderEntry>,
    private readonly dataStart: number,
    /** Free-form string metadata (`__metadata__`), e.g. {format: 'pt'}. */
    readonly metadata: Record<string, string>,
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
      const declared = lengthBytes.readBigUInt64LE(0);
      if (declared === 0n || declared > BigInt(size - 8)) {
        throw new ModelFormatError(
          `file is truncated or not safetensors (header of ${declared} bytes in a ${size}-byte file); re-download it`,
          file,
        );
      }
      if (declared > BigInt(MAX_HEADER_BYTES)) {
        throw new ModelFormatError(
          `the safetensors header claims ${declared} bytes, over the ${MAX_HEADER_BYTES}-byte limit; ${RE_DOWNLOAD}`,
          file,
        );
      }
      const headerLength = Number(declared);
      const headerBytes = Buffer.alloc(headerLength);
      const { bytesRead } = await handle.read(headerBytes, 0, headerLength, 8);
      if (bytesRead !== headerLength) {
        throw new ModelFormatError(`file is truncated inside its header; re-download it`, file);
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(headerBytes.toString('utf8'));
      } catch {
        throw new ModelFormatError(`the safetensors header is not valid JSON; ${RE_DOWNLOAD}`, file);
      }
      const dataStart = 8 + headerLength;
      const { header, metadata } = validateHeader(parsed, size - dataStart, file);
      return new SafetensorsFile(file, header, dataStart, metadata);
    } finally {
      await handle.close();
    }
  }

  names(): string[] {
    return Object.keys(this.header);
  }

  has(name: string): boolean {
    return Object.hasOwn(this.header, name);
  }

  shape(name: string): number[] {
    return [...this.entry(name).shape];
  }

  dtype(name: string): string {
    return this.entry(name).dtype;
  }

  private entry(name: string): HeaderEntry {
    if (!this.has(name)) throw new ModelFormatError(`tensor '${name}' is missing`, this.file);
    return this.header[name];
  }

  /** Reads a tensor as float32. */
  async read(name: string): Promise<FloatTensor> {
    const raw = await this.readBytes(name);
    return { data: toFloat32(raw, this.entry(name).dtype), shape: this.shape(name) };
  }

  /** Reads a tensor as stored: BF16 and F16 stay 16-bit (their raw bits), others become float32. */
  async readWeight(name: string): Promise<WeightData> {
    const dtype = this.entry(name).dtype;
    const raw = await this.readBytes(name);
    if (dtype !== 'BF16' && dtype !== 'F16') return toFloat32(raw, dtype);
    const bits = new Uint16Array(raw.length / 2);
    new Uint8Array(bits.buffer).set(raw);
    return { type: dtype === 'BF16' ? 'bfloat16' : 'float16', bits };
  }

  /**
   * Rows of a 2-D tensor (or of its first axis, the rest flattened) read from the file on demand,
   * through one descriptor kept open until `close`. `scale` multiplies every value (Gemma's √d).
   */
  rows(name: string, scale = 1): RowSource {
    const entry = this.entry(name);
    this.checkReadable(name, entry);
    const [rows, ...rest] = entry.shape;
    const cols = rest.reduce((a, b) => a * b, 1);
    const rowBytes = cols * BYTES_PER_ELEMENT[entry.dtype];
    const start = this.dataStart + entry.data_offsets[0];
    const range = (first: number, end: number) => {
      const which = end === first + 1 ? `row ${first}` : `rows ${first}..${end}`;
      if (!Number.isInteger(first) || !Number.isInteger(end) || first < 0 || end > rows || end <= first) {
        throw new ModelFormatError(`${which} of tensor '${name}' is out of range (it has ${rows} rows)`, this.file);
      }
      const bytes = (end - first) * rowBytes;
      const raw = Buffer.alloc(bytes);
      const bytesRead = readSync(this.descriptor(), raw, 0, bytes, start + first * rowBytes);
      if (bytesRead !== bytes) {
        throw new ModelFormatError(`file is truncated: ${which} of tensor '${name}' could not be read`, this.file);
      }
      const values = toFloat32(raw, entry.dtype);
      if (scale !== 1) for (let i = 0; i < values.length; i++) values[i] = Math.fround(values[i] * scale);
      return values;
    };
    return {
      rows,
      cols,
      row: (index) => range(index, index + 1),
      range,
      readAll: () => this.readWeight(name),
      stored:
        scale === 1 && STORED_TYPE[entry.dtype]
          ? { file: this.file, offset: start, type: STORED_TYPE[entry.dtype] }
          : undefined,
    };
  }

  private fd: number | null = null;

  private descriptor(): number {
    this.fd ??= openSync(this.file, 'r');
    return this.fd;
  }

  /** Closes the descriptor `rows` keeps open (reopened on the next row read). */
  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  private checkReadable(name: string, entry: HeaderEntry): void {
    if (!READABLE_DTYPES.has(entry.dtype)) {
      throw new ModelFormatError(
        `tensor '${name}' has dtype ${entry.dtype}; only F32, BF16, F16 and F64 tensors can be read`,
        this.file,
      );
    }
  }

  private async readBytes(name: string): Promise<Buffer> {
    const entry = this.entry(name);
    this.checkReadable(name, entry);
    const [begin, end] = entry.data_offsets;
    const float32Bytes = ((end - begin) / BYTES_PER_ELEMENT[entry.dtype]) * 4;
    // Node cannot hold one buffer past this size; say so instead of a RangeError from Buffer.alloc.
    if (Math.max(end - begin, float32Bytes) > constants.MAX_LENGTH) {
      throw new ModelFormatError(
        `tensor '${name}' needs ${float32Bytes} bytes as float32, more than one buffer can hold (${constants.MAX_LENGTH})`,
        this.file,
      );
    }
    const raw = Buffer.alloc(end - begin);
    const handle = await open(this.file, 'r');
    try {
      const { bytesRead } = await handle.read(raw, 0, end - begin, this.dataStart + begin);
      // The file can shrink between open() and read(); a short read must not become zeros.
      if (bytesRead !== end - begin) {
        throw new ModelFormatError(
          `file is truncated: tensor '${name}' could not be read whole; re-download it`,
          this.file,
        );
      }
    } finally {
      await handle.close();
    }
    return raw;
  }
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const isIndex = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;

/**
 * Checks a parsed header the way the Rust safetensors library does: every entry a known dtype, a
 * shape of non-negative integers and offsets whose length matches; tensors tile the data section
 * exactly (no gap, no overlap, nothing after the last), so a corrupted offset or header length
 * cannot make a tensor read someone else's bytes.
 */
function validateHeader(
  parsed: unknown,
  dataSize: number,
  file: string,
): { header: Record<string, HeaderEntry>; metadata: Record<string, string> } {
  if (!isPlainObject(parsed)) {
    const got = parsed === null ? 'null' : Array.isArray(parsed) ? 'an array' : typeof parsed;
    throw new ModelFormatError(`the safetensors header must be a JSON object, got ${got}; ${RE_DOWNLOAD}`, file);
  }
  // Null-prototype maps: a tensor named `__proto__` must stay a tensor.
  const metadata: Record<string, string> = Object.create(null);
  const header: Record<string, HeaderEntry> = Object.create(null);
  for (const [name, entry] of Object.entries(parsed)) {
    if (name === '__metadata__') {
      if (entry === null) continue; // the Rust reader takes a null __metadata__ as none
      if (!isPlainObject(entry) || Object.values(entry).some((v) => typeof v !== 'string')) {
        throw new ModelFormatError(`the safetensors __metadata__ must map strings to strings; ${RE_DOWNLOAD}`, file);
      }
      for (const [key, value] of Object.entries(entry)) metadata[key] = value as string;
      continue;
    }
    const bad = (what: string) => new ModelFormatError(`tensor '${name}' ${what}; ${RE_DOWNLOAD}`, file);
    if (!isPlainObject(entry))
      throw bad(`has a header entry that is ${entry === null ? 'null' : typeof entry}, not an object`);
    const { dtype, shape, data_offsets: offsets } = entry;
    if (typeof dtype !== 'string' || !Object.hasOwn(BYTES_PER_ELEMENT, dtype)) {
      throw bad(`has unknown dtype ${JSON.stringify(dtype)}`);
    }
    if (!Array.isArray(shape) || !shape.every(isIndex)) {
      throw bad(`has shape ${JSON.stringify(shape)}; a shape must be a list of non-negative integers`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isIndex)) {
      throw bad(`has data_offsets ${JSON.stringify(offsets)}; they must be two non-negative integers [begin, end]`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end) throw bad(`has data_offsets [${begin}, ${end}] that end before they begin`);
    if (end > dataSize) {
      throw new ModelFormatError(
        `file is truncated: tensor '${name}' ends at byte ${end} of the data section, which has ${dataSize} bytes; re-download it`,
        file,
      );
    }
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    if (!Number.isSafeInteger(count * BYTES_PER_ELEMENT[dtype]) || end - begin !== count * BYTES_PER_ELEMENT[dtype]) {
      throw bad(`has ${end - begin} bytes for shape [${(shape as number[]).join(', ')}] ${dtype}`);
    }
    header[name] = { dtype, shape: shape as number[], data_offsets: [begin, end] };
  }
  // Tiling check: sorted by offset, each tensor starts where the previous one ended.
  const byOffset = Object.entries(header).sort(
    ([, a], [, b]) => a.data_offsets[0] - b.data_offsets[0] || a.data_offsets[1] - b.data_offsets[1],
  );
  let expectedBegin = 0;
  let previous: string | null = null;
  for (const [name, entry] of byOffset) {
    const [begin, end] = entry.data_offsets;
    if (begin !== expectedBegin) {
      const where =
        previous === null ? 'the start of the data section (0)' : `the end of tensor '${previous}' (${expectedBegin})`;
      throw new ModelFormatError(
        `tensor '${name}' has data_offsets [${begin}, ${end}] but must start at ${where}: ` +
          `tensors ${begin < expectedBegin ? 'overlap' : 'leave a gap'}; ${RE_DOWNLOAD}`,
        file,
      );
    }
    expectedBegin = end;
    previous = name;
  }
  if (expectedBegin !== dataSize) {
    throw new ModelFormatError(
      `the tensors cover ${expectedBegin} bytes but the data section has ${dataSize}; ` +
        `the header length or the offsets are wrong; ${RE_DOWNLOAD}`,
      file,
    );
  }
  return { header, metadata };
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

/** IEEE half-precision bits → number. */
export function halfToFloat(h: number): number {
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
    let text: string | null = null;
    try {
      text = await readFile(indexFile, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new ModelFormatError(`the shard index cannot be read: ${(error as Error).message}`, indexFile);
      }
    }
    if (text !== null) {
      const weightMap = readWeightMap(text, indexFile);
      const shards = new Map<string, SafetensorsFile>();
      for (const shard of new Set(weightMap.values())) {
        shards.set(shard, await SafetensorsFile.open(path.join(dir, shard)));
      }
      for (const [name, shard] of weightMap) {
        const file = shards.get(shard)!;
        if (!file.has(name)) {
          throw new ModelFormatError(
            `the shard index puts tensor '${name}' in ${shard}, which does not hold it; re-download the index`,
            indexFile,
          );
        }
        byName.set(name, file);
      }
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

  /** The file (model.safetensors or a shard) that holds a tensor. */
  fileOf(name: string): string {
    return this.byName.get(name)?.file ?? this.dir;
  }

  /** Reads a tensor and checks its shape; the error names the tensor and both shapes. */
  async read(name: string, expectedShape?: number[]): Promise<FloatTensor> {
    return this.file(name, expectedShape).read(name);
  }

  /** Reads a tensor as stored (16-bit kept) and checks its shape. */
  async readWeight(name: string, expectedShape: number[]): Promise<WeightData> {
    return this.file(name, expectedShape).readWeight(name);
  }

  /** Rows of a 2-D tensor, read from its file on demand (see SafetensorsFile.rows). */
  rows(name: string, expectedShape: [number, number], scale = 1): RowSource {
    return this.file(name, expectedShape).rows(name, scale);
  }

  /** Closes the descriptors row reads keep open. */
  close(): void {
    for (const file of new Set(this.byName.values())) file.close();
  }

  private file(name: string, expectedShape?: number[]): SafetensorsFile {
    const file = this.byName.get(name);
    if (!file) throw new ModelFormatError(`tensor '${name}' is missing from the checkpoint`, this.dir);
    // The header's shape is checked before the data is read, so a wrong tensor is never allocated.
    if (expectedShape) checkShape(name, file.shape(name), expectedShape, file.file);
    return file;
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

/** `weight_map` of a shard index: tensor name → shard file name inside the checkpoint folder. */
function readWeightMap(text: string, indexFile: string): Map<string, string> {
  let index: unknown;
  try {
    index = JSON.parse(text);
  } catch {
    throw new ModelFormatError(`the shard index is not valid JSON; re-download it`, indexFile);
  }
  if (!isPlainObject(index))
    throw new ModelFormatError(`the shard index must be a JSON object; re-download it`, indexFile);
  const weightMap = index.weight_map;
  if (!isPlainObject(weightMap)) {
    throw new ModelFormatError(`the shard index has no weight_map object (tensor name → shard file)`, indexFile);
  }
  const map = new Map<string, string>();
  for (const [name, shard] of Object.entries(weightMap)) {
    // A shard is a file next to the index: no folders, so an index cannot point outside the checkpoint.
    if (typeof shard !== 'string' || !/^[^/\\]+\.safetensors$/.test(shard) || shard.startsWith('.')) {
      throw new ModelFormatError(
        `weight_map maps tensor '${name}' to ${JSON.stringify(shard)}; it must be a .safetensors file name in the same folder`,
        indexFile,
      );
    }
    map.set(name, shard);
  }
  if (map.size === 0) throw new ModelFormatError(`the shard index's weight_map lists no tensors`, indexFile);
  return map;
}
