/**
 * NumPy `.npz` archives (a zip of `.npy` files, what `np.savez` writes; GemmaScope's `params.npz`).
 * Reads the zip's central directory (zip64 included, as numpy forces it), then each member's `.npy`
 * header — magic, version, dtype, order, shape — and checks that the shape tiles the data exactly.
 * Stored and deflated members; little-endian float16/32/64 arrays, read as float32.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { inflateRawSync } from 'node:zlib';
import { ModelFormatError } from '../errors.js';
import type { FloatTensor } from './safetensors.js';

interface Member {
  name: string;
  method: number; // 0 stored, 8 deflate
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

const EOCD = 0x06054b50;
const EOCD64_LOCATOR = 0x07064b50;
const EOCD64 = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const NPY_MAGIC = '\x93NUMPY';
const DTYPES: Record<string, number> = { '<f2': 2, '<f4': 4, '<f8': 8 };

export class NpzFile {
  private constructor(
    readonly file: string,
    private readonly handle: FileHandle,
    private readonly members: Map<string, Member>,
  ) {}

  static async open(file: string): Promise<NpzFile> {
    let handle: FileHandle;
    try {
      handle = await open(file, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new ModelFormatError(`no such .npz file`, file);
      throw error;
    }
    try {
      const members = await readCentralDirectory(handle, file);
      return new NpzFile(file, handle, members);
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /** Array names (the member names without `.npy`). */
  names(): string[] {
    return [...this.members.keys()];
  }

  has(name: string): boolean {
    return this.members.has(name);
  }

  /** Reads array `name` as float32, checking its `.npy` header (and `expectedShape` when given). */
  async read(name: string, expectedShape?: number[]): Promise<FloatTensor> {
    const member = this.members.get(name);
    if (!member) {
      throw new ModelFormatError(
        `array '${name}' is missing; the archive has ${this.names().join(', ') || 'no arrays'}`,
        this.file,
      );
    }
    const local = await readAt(this.handle, member.localHeaderOffset, 30, this.file);
    if (local.readUInt32LE(0) !== LOCAL) throw this.broken(`member '${name}' has no local file header`);
    const dataStart = member.localHeaderOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
    const stored = await readAt(this.handle, dataStart, member.compressedSize, this.file);
    let bytes: Buffer;
    if (member.method === 0) bytes = stored;
    else if (member.method === 8) {
      try {
        bytes = inflateRawSync(stored);
      } catch {
        throw this.broken(`member '${name}' does not inflate`);
      }
    } else throw this.broken(`member '${name}' uses zip compression method ${member.method} (only stored and deflate)`);
    if (bytes.length !== member.size)
      throw this.broken(`member '${name}' is ${bytes.length} bytes, its directory says ${member.size}`);
    const { descr, shape, dataOffset } = parseNpyHeader(bytes, name, this.file);
    const count = shape.reduce((a, b) => a * b, 1);
    const itemSize = DTYPES[descr];
    if (bytes.length - dataOffset !== count * itemSize) {
      throw new ModelFormatError(
        `array '${name}' has shape [${shape.join(', ')}] of ${descr} (${count * itemSize} bytes) but holds ${bytes.length - dataOffset}`,
        this.file,
      );
    }
    if (expectedShape && (expectedShape.length !== shape.length || expectedShape.some((n, i) => n !== shape[i]))) {
      throw new ModelFormatError(
        `array '${name}' has shape [${shape.join(', ')}], expected [${expectedShape.join(', ')}]`,
        this.file,
      );
    }
    const data = new Float32Array(count);
    const view = new DataView(bytes.buffer, bytes.byteOffset + dataOffset, count * itemSize);
    if (itemSize === 4) for (let i = 0; i < count; i++) data[i] = view.getFloat32(4 * i, true);
    else if (itemSize === 8) for (let i = 0; i < count; i++) data[i] = view.getFloat64(8 * i, true);
    else for (let i = 0; i < count; i++) data[i] = halfToFloat(view.getUint16(2 * i, true));
    return { data, shape };
  }

  async close(): Promise<void> {
    await this.handle.close();
  }

  private broken(what: string): ModelFormatError {
    return new ModelFormatError(`not a valid .npz archive: ${what}; download the file again`, this.file);
  }
}

async function readAt(handle: FileHandle, position: number, length: number, file: string): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await handle.read(buffer, 0, length, position);
  if (bytesRead !== length) {
    throw new ModelFormatError(
      `not a valid .npz archive: it ends before byte ${position + length}; download the file again`,
      file,
    );
  }
  return buffer;
}

async function readCentralDirectory(handle: FileHandle, file: string): Promise<Map<string, Member>> {
  const size = (await handle.stat()).size;
  const broken = (what: string) =>
    new ModelFormatError(`not a valid .npz archive (a zip of .npy files): ${what}`, file);
  // The end-of-central-directory record is in the last 22 + 65535 (comment) bytes.
  const tailLength = Math.min(size, 22 + 65535);
  const tail = await readAt(handle, size - tailLength, tailLength, file);
  let eocd = -1;
  for (let i = tailLength - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === EOCD) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw broken('no end-of-central-directory record');
  let entries = tail.readUInt16LE(eocd + 10);
  let dirSize = tail.readUInt32LE(eocd + 12);
  let dirOffset = tail.readUInt32LE(eocd + 16);
  if (entries === 0xffff || dirSize === 0xffffffff || dirOffset === 0xffffffff) {
    // zip64: the locator just before the record points at the zip64 end record.
    const locator = eocd - 20;
    if (locator < 0 || tail.readUInt32LE(locator) !== EOCD64_LOCATOR)
      throw broken('zip64 fields without a zip64 locator');
    const record = await readAt(handle, Number(tail.readBigUInt64LE(locator + 8)), 56, file);
    if (record.readUInt32LE(0) !== EOCD64) throw broken('the zip64 end record is missing');
    entries = Number(record.readBigUInt64LE(32));
    dirSize = Number(record.readBigUInt64LE(40));
    dirOffset = Number(record.readBigUInt64LE(48));
  }
  if (dirOffset + dirSize > size) throw broken('the central directory lies past the end of the file');
  const dir = await readAt(handle, dirOffset, dirSize, file);
  const members = new Map<string, Member>();
  let at = 0;
  for (let e = 0; e < entries; e++) {
    if (at + 46 > dir.length || dir.readUInt32LE(at) !== CENTRAL)
      throw broken(`central directory entry ${e} is damaged`);
    const method = dir.readUInt16LE(at + 10);
    let compressedSize = dir.readUInt32LE(at + 20);
    let uncompressed = dir.readUInt32LE(at + 24);
    const nameLength = dir.readUInt16LE(at + 28);
    const extraLength = dir.readUInt16LE(at + 30);
    const commentLength = dir.readUInt16LE(at + 32);
    let localHeaderOffset = dir.readUInt32LE(at + 42);
    const name = dir.toString('utf8', at + 46, at + 46 + nameLength);
    // zip64 extended information (id 1) holds, in order, whichever of the three fields overflowed.
    let extra = at + 46 + nameLength;
    const extraEnd = extra + extraLength;
    while (extra + 4 <= extraEnd) {
      const id = dir.readUInt16LE(extra);
      const length = dir.readUInt16LE(extra + 2);
      if (id === 1) {
        let field = extra + 4;
        const next = () => {
          const value = Number(dir.readBigUInt64LE(field));
          field += 8;
          return value;
        };
        if (uncompressed === 0xffffffff) uncompressed = next();
        if (compressedSize === 0xffffffff) compressedSize = next();
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = next();
      }
      extra += 4 + length;
    }
    at = extraEnd + commentLength;
    if (!name.endsWith('.npy')) throw broken(`member '${name}' is not a .npy array`);
    if (localHeaderOffset + compressedSize > size) throw broken(`member '${name}' lies past the end of the file`);
    members.set(name.slice(0, -4), { name, method, compressedSize, size: uncompressed, localHeaderOffset });
  }
  return members;
}

/** `.npy` header: magic, version, little-endian length, then a Python dict literal. */
function parseNpyHeader(bytes: Buffer, name: string, file: string) {
  const bad = (what: string) => new ModelFormatError(`array '${name}': ${what}`, file);
  if (bytes.length < 10 || bytes.toString('latin1', 0, 6) !== NPY_MAGIC)
    throw bad('not a .npy array (no \\x93NUMPY magic)');
  const major = bytes[6];
  if (major < 1 || major > 3) throw bad(`.npy format version ${major} is not supported (1 to 3)`);
  const headerLength = major === 1 ? bytes.readUInt16LE(8) : bytes.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  if (start + headerLength > bytes.length) throw bad('the .npy header runs past the data');
  const header = bytes.toString('latin1', start, start + headerLength);
  const descr = /'descr':\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw bad(`the .npy header lacks descr, fortran_order or shape: ${header.trim()}`);
  }
  if (!(descr in DTYPES)) throw bad(`dtype '${descr}' is not supported (little-endian float16, float32 or float64)`);
  if (fortran === 'True') throw bad('arrays in Fortran order are not supported; save it C-contiguous');
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map(Number);
  if (shape.some((n) => !Number.isSafeInteger(n) || n < 0)) throw bad(`shape (${shapeText}) is not a list of sizes`);
  return { descr, shape, dataOffset: start + headerLength };
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}
