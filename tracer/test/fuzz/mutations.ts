/**
 * Mutations for the fuzz and fault suite: edits of JSON documents (a field deleted, its value swapped
 * for another type or an edge-case number) and of safetensors files (header bytes, the length field,
 * header entries, truncation), as fast-check arbitraries so that a failing case shrinks and reproduces
 * from its seed.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import { ModelFormatError, UserInputError } from '../../src/errors.js';

/** One seed for the whole suite: a failure prints its path and replays with the same inputs. */
export const FUZZ_SEED = 20_261_129;

export type JsonPath = (string | number)[];

/** Every path to a value inside a JSON document (the root excluded). */
export function jsonPaths(value: unknown, prefix: JsonPath = []): JsonPath[] {
  if (value === null || typeof value !== 'object') return [];
  const entries: [string | number, unknown][] = Array.isArray(value)
    ? value.map((v, i) => [i, v])
    : Object.entries(value as Record<string, unknown>);
  return entries.flatMap(([key, child]) => [[...prefix, key], ...jsonPaths(child, [...prefix, key])]);
}

/** Text that JSON.parse reads as Infinity: JSON cannot spell it, but a file can hold 1e400. */
const OVERFLOW = '__overflowing_number__';

/** Values that break readers which trust types: nulls, containers, wrong scalars, edge-case numbers. */
export const oddValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, [], {}, [null], { x: null }, '', 'x', '-1', true, false, OVERFLOW),
  fc.constantFrom(0, -1, 1, 0.5, -0.5, 3, 2 ** 31, 2 ** 53, 2 ** 64, 8.64e15, 9e15, 1e16, 1e300, -1e300),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.string({ maxLength: 4 }),
);

export type JsonEdit =
  | { path: JsonPath; op: 'delete' }
  | { path: JsonPath; op: 'replace'; value: unknown }
  /** Numbers: ±1, negated, doubled, a tenth — digit-level damage that stays a number. */
  | { path: JsonPath; op: 'nudge'; factor: number; offset: number };

/** An edit of one of `paths`, chosen group by group so small sections are hit as often as big ones. */
export function jsonEdit(groups: JsonPath[][]): fc.Arbitrary<JsonEdit> {
  const path = fc
    .constantFrom(...groups.filter((g) => g.length > 0))
    .chain((group) => fc.nat(group.length - 1).map((i) => group[i]));
  return fc.oneof(
    path.map((p): JsonEdit => ({ path: p, op: 'delete' })),
    fc.tuple(path, oddValue).map(([p, value]): JsonEdit => ({ path: p, op: 'replace', value })),
    fc
      .tuple(path, fc.constantFrom(1, -1, 2, 0.1), fc.constantFrom(0, 1, -1))
      .map(([p, factor, offset]): JsonEdit => ({ path: p, op: 'nudge', factor, offset })),
  );
}

/** Applies edits to a deep copy and serializes it (numbers beyond float range spelled as 1e400). */
export function applyJsonEdits(document: unknown, edits: JsonEdit[]): string {
  const copy = structuredClone(document);
  for (const edit of edits) {
    let parent = copy as Record<string | number, unknown>;
    let missing = false;
    for (const key of edit.path.slice(0, -1)) {
      const next = parent?.[key];
      if (next === null || typeof next !== 'object') {
        missing = true; // an earlier edit removed or replaced this branch
        break;
      }
      parent = next as Record<string | number, unknown>;
    }
    if (missing) continue;
    const key = edit.path[edit.path.length - 1];
    if (edit.op === 'delete') {
      if (Array.isArray(parent) && typeof key === 'number') parent.splice(key, 1);
      else delete parent[key];
    } else if (edit.op === 'replace') {
      parent[key] = structuredClone(edit.value);
    } else if (typeof parent[key] === 'number') {
      parent[key] = (parent[key] as number) * edit.factor + edit.offset;
    }
  }
  return JSON.stringify(copy).replaceAll(JSON.stringify(OVERFLOW), '1e400');
}

/** Paths of a JSON document grouped by top-level key, for `jsonEdit`. */
export function pathGroups(document: unknown): JsonPath[][] {
  const groups = new Map<string | number, JsonPath[]>();
  for (const p of jsonPaths(document)) {
    const group = groups.get(p[0]) ?? [];
    group.push(p);
    groups.set(p[0], group);
  }
  return [...groups.values()];
}

/**
 * The fault property: a reader may refuse a damaged file, but only with an error a user can act on.
 * Anything else (TypeError, RangeError, an ORT failure) is re-thrown so the case fails with its stack.
 */
export function expectUserFacing(error: unknown): void {
  if (error instanceof ModelFormatError || error instanceof UserInputError) return;
  throw error;
}

/** Runs `load`; returns the typed error it threw, or null when it succeeded. */
export async function refusal(load: () => Promise<unknown>): Promise<ModelFormatError | UserInputError | null> {
  try {
    await load();
    return null;
  } catch (error) {
    expectUserFacing(error);
    return error as ModelFormatError | UserInputError;
  }
}

/** A safetensors file split into its three parts. */
export interface SafetensorsParts {
  header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;
  /** The header's JSON text exactly as stored (with its padding). */
  headerText: string;
  data: Buffer;
}

export function splitSafetensors(bytes: Buffer): SafetensorsParts {
  const length = Number(bytes.readBigUInt64LE(0));
  const headerText = bytes.subarray(8, 8 + length).toString('utf8');
  return { header: JSON.parse(headerText), headerText, data: bytes.subarray(8 + length) };
}

/** Reassembles a file; `declaredLength` overrides the length field (default: the header's byte length). */
export function joinSafetensors(headerText: string, data: Buffer, declaredLength?: bigint): Buffer {
  const json = Buffer.from(headerText, 'utf8');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(declaredLength ?? BigInt(json.length));
  return Buffer.concat([length, json, data]);
}

/** Asserts the message names both the file and, when given, the tensor. */
export function expectNames(error: Error | null, file: string, tensor?: string): void {
  expect(error, 'the damaged file was accepted').not.toBeNull();
  expect(error!.message).toContain(file);
  if (tensor) expect(error!.message).toContain(`'${tensor}'`);
}
