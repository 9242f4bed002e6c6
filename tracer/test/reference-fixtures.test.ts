/**
 * The reference fixtures are what they claim to be: circuit-tracer's output on the fixture models,
 * consistent with transformers' logits for the same files and with the graph JSON it wrote.
 * (The comparison of our tracer against them is reference.test.ts.)
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeLayout } from '../src/graph/attribution-graph.js';
import {
  listReferenceFixtures,
  loadReferenceFixture,
  referenceErrorIdToOurs,
  type ReferenceFixture,
} from './fixtures/reference-fixture.js';

interface ExpectedLogits {
  prompts: { prompt: string; input_ids: number[]; logits: number[][] }[];
}

async function expectedFor(fx: ReferenceFixture) {
  const expected = JSON.parse(await readFile(path.join(fx.modelDir, 'expected.json'), 'utf8')) as ExpectedLogits;
  const entry = expected.prompts.find((p) => p.prompt === fx.prompt);
  if (!entry) throw new Error(`${fx.modelDir}/expected.json has no entry for ${JSON.stringify(fx.prompt)}`);
  return entry;
}

/** Ids of the nodes and edges the reference's create_graph_files keeps, from the fixture arrays. */
function keptFromArrays(fx: ReferenceFixture) {
  const { tokenStart } = nodeLayout(fx.graph);
  const touched = new Set<number>();
  const edges = new Map<string, number>();
  for (let e = 0; e < fx.prunedEdgeScores.length; e++) {
    const [target, source] = [fx.prunedEdges[2 * e], fx.prunedEdges[2 * e + 1]];
    if (!fx.prunedNodeMask[target] || !fx.prunedNodeMask[source]) continue;
    touched.add(target).add(source);
    edges.set(`${fx.nodeId(source)}->${fx.nodeId(target)}`, weightAt(fx, target, source));
  }
  const nodes = new Set<string>();
  fx.prunedNodeMask.forEach((kept, n) => {
    if (kept && (n >= tokenStart || touched.has(n))) nodes.add(fx.nodeId(n));
  });
  return { nodes, edges };
}

function weightAt(fx: ReferenceFixture, target: number, source: number): number {
  const { rowPtr, colIdx, values } = fx.adjacency;
  for (let k = rowPtr[target]; k < rowPtr[target + 1]; k++) if (colIdx[k] === source) return values[k];
  return 0;
}

const fixtures = listReferenceFixtures();

describe('reference fixtures (circuit-tracer 0.5.0 on the fixture models)', () => {
  it('cover every fixture model with at least three prompts and one max_feature_nodes run', () => {
    const models = new Set(fixtures.map((f) => f.model));
    expect([...models].sort()).toEqual([
      'gemma2-tiny',
      'gemma3-tiny',
      'gpt2-tiny',
      'llama-clt-tiny',
      'llama-tiny',
      'qwen3-tiny',
    ]);
    for (const model of models) expect(fixtures.filter((f) => f.model === model).length).toBeGreaterThanOrEqual(3);
    expect(fixtures.some((f) => f.slug.includes('max'))).toBe(true);
  });

  describe.each(fixtures)('$model / $slug', ({ model, slug }) => {
    it('tokenized the prompt as expected.json does, BOS first', async () => {
      const fx = await loadReferenceFixture(model, slug);
      expect(Array.from(fx.tokenIds)).toEqual((await expectedFor(fx)).input_ids);
    });

    it("chose as logit targets the top tokens of transformers' own logits, to 0.95 or 10", async () => {
      const fx = await loadReferenceFixture(model, slug);
      const last = (await expectedFor(fx)).logits.at(-1)!;
      const max = Math.max(...last);
      const exps = last.map((l) => Math.exp(l - max));
      const total = exps.reduce((a, b) => a + b, 0);
      const ranked = exps.map((e, id) => ({ id, p: e / total })).sort((a, b) => b.p - a.p);
      let cumulative = 0;
      const want: typeof ranked = [];
      for (const r of ranked) {
        if (want.length === fx.settings.maxNLogits || cumulative >= fx.settings.desiredLogitProb) break;
        want.push(r);
        cumulative += r.p;
      }
      expect(fx.logitTargets.map((t) => t.tokenId)).toEqual(want.map((r) => r.id));
      fx.logitTargets.forEach((t, i) => expect(t.probability).toBeCloseTo(want[i].p, 5));
    });

    it('has tens of active features per position, none at BOS, and a node for each selected one', async () => {
      const fx = await loadReferenceFixture(model, slug);
      const nActive = fx.activations.length;
      const perPosition = nActive / ((fx.nPos - 1) * fx.nLayers);
      expect(perPosition).toBeGreaterThan(5);
      expect(perPosition).toBeLessThan(40);
      for (let a = 0; a < nActive; a++) expect(fx.activeFeatures[3 * a + 1]).toBeGreaterThan(0);
      const { errorStart } = nodeLayout(fx.graph);
      expect(errorStart).toBe(fx.settings.maxFeatureNodes ?? nActive);
    });

    it('holds the same pruned nodes and edges as the graph JSON circuit-tracer wrote', async () => {
      const fx = await loadReferenceFixture(model, slug);
      const { nodes, edges } = keptFromArrays(fx);
      const jsonNodes = fx.graphJson.nodes.map((n) =>
        referenceErrorIdToOurs(String(n.node_id), String(n.feature_type)),
      );
      const typeOf = new Map(fx.graphJson.nodes.map((n) => [String(n.node_id), String(n.feature_type)]));
      const ours = (id: string) => referenceErrorIdToOurs(id, typeOf.get(id)!);
      expect(new Set(jsonNodes)).toEqual(nodes);
      expect(jsonNodes.length).toBe(nodes.size); // no id collisions in this fixture
      const jsonEdges = new Map(fx.graphJson.links.map((l) => [`${ours(l.source)}->${ours(l.target)}`, l.weight]));
      expect(new Set(jsonEdges.keys())).toEqual(new Set(edges.keys()));
      for (const [key, weight] of edges) expect(Math.fround(jsonEdges.get(key)!)).toBe(weight);
    });
  });
});
