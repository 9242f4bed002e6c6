/**
 * Fuzz and fault suite, graph JSON: circuit-tracer's graph JSON (a reference fixture, and the same
 * graph as circuit-atlas writes it, with Neuronpedia's metadata) damaged by field deletions, type
 * swaps and edge-case numbers. Property: importing either fails with a UserInputError naming the
 * field, or gives a document that exports to valid graph JSON and imports again — what passes the
 * schema never throws anything else later.
 */
import { readFile } from 'node:fs/promises';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UserInputError } from '../../src/errors.js';
import { fromGraphJson, toGraphJson, validateGraphJson } from '../../src/graph/graph-json.js';
import { FUZZ_SEED, applyJsonEdits, jsonEdit, jsonPaths, type JsonPath } from './mutations.js';

const REFERENCE = new URL('../fixtures/reference/llama-tiny/capital-of-texas.graph.json', import.meta.url);

/** Paths grouped so metadata fields, node fields and link fields are each hit often. */
function graphPathGroups(json: unknown): JsonPath[][] {
  const all = jsonPaths(json);
  const section = (p: JsonPath) =>
    p[0] === 'nodes' || p[0] === 'links' ? `${p[0]}.${p[2] ?? ''}` : `${p[0]}.${p[1] ?? ''}`;
  const groups = new Map<string, JsonPath[]>();
  for (const p of all) groups.set(section(p), [...(groups.get(section(p)) ?? []), p]);
  return [...groups.values()];
}

/** Import, and when it works, export and import again: every step must succeed or be a UserInputError. */
function importRoundTrip(text: string): 'imported' | UserInputError {
  const json: unknown = JSON.parse(text);
  let doc;
  try {
    doc = fromGraphJson(json, { id: 'fuzzed' });
  } catch (error) {
    if (error instanceof UserInputError) return error;
    throw error;
  }
  const exported = toGraphJson(doc);
  validateGraphJson(JSON.parse(JSON.stringify(exported)));
  const again = fromGraphJson(exported);
  expect(again.nodes.map((n) => n.nodeId)).toEqual(doc.nodes.map((n) => n.nodeId));
  expect(new Set(doc.nodes.map((n) => n.nodeId)).size).toBe(doc.nodes.length);
  expect(Number.isNaN(Date.parse(doc.createdAt))).toBe(false);
  return 'imported';
}

describe('graph JSON under damage', () => {
  for (const variant of ['as circuit-tracer writes it', 'as circuit-atlas writes it'] as const) {
    it(`a damaged graph JSON (${variant}) imports and round-trips, or is refused with a UserInputError`, async () => {
      const reference = JSON.parse(await readFile(REFERENCE, 'utf8'));
      const original = variant === 'as circuit-tracer writes it' ? reference : toGraphJson(fromGraphJson(reference));
      expect(importRoundTrip(JSON.stringify(original))).toBe('imported');
      const counts = { refused: 0, imported: 0 };
      fc.assert(
        fc.property(fc.array(jsonEdit(graphPathGroups(original)), { minLength: 1, maxLength: 4 }), (edits) => {
          counts[importRoundTrip(applyJsonEdits(original, edits)) === 'imported' ? 'imported' : 'refused']++;
        }),
        { seed: FUZZ_SEED, numRuns: 300 },
      );
      // Both outcomes occur: the edits neither all break the file nor all miss what matters.
      expect(counts.refused).toBeGreaterThan(100);
      expect(counts.imported).toBeGreaterThan(50);
    });
  }

  it('numbers at the edge of what the schema accepts import cleanly or are refused naming their field', async () => {
    const original = toGraphJson(fromGraphJson(JSON.parse(await readFile(REFERENCE, 'utf8'))));
    const valueAt = (p: JsonPath) => p.reduce<unknown>((v, k) => (v as Record<string | number, unknown>)[k], original);
    // Every numeric field of the metadata, the first nodes (one of each kind) and the first link.
    const numericPaths = jsonPaths(original).filter(
      (p) =>
        typeof valueAt(p) === 'number' &&
        !(p[0] === 'links' && Number(p[1]) > 0) &&
        !(p[0] === 'nodes' && Number(p[1]) > 3),
    );
    expect(numericPaths.length).toBeGreaterThan(20);
    for (const p of numericPaths) {
      for (const value of [0, -1, 0.5, 8.64e15, 8.64e15 + 1, 9e15, 2 ** 53, 1e300]) {
        const outcome = importRoundTrip(applyJsonEdits(original, [{ path: p, op: 'replace', value }]));
        if (outcome === 'imported') continue;
        // Node and link fields may be refused through their node's id, which they must agree with.
        const field = p[0] === 'nodes' || p[0] === 'links' ? `/${p[0]}/${p[1]}/` : `/${p.join('/')}`;
        expect(outcome.message, `${p.join('/')} = ${value}`).toContain(field);
      }
    }
  });
});
