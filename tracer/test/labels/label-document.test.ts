/**
 * Labels in traced graphs: the demo prompt traced by the real tracer, its feature nodes labelled from
 * the demo model's dashboards, written out as circuit-tracer graph JSON (clerp). What the labels
 * should say comes from world.json (Dallas's state and its capital), which the labeller never sees.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GraphDocument } from '@circuit-atlas/schema';
import { loadReplacementModel, traceGraph, type ReplacementModel } from '../../src/index.js';
import { toGraphJson } from '../../src/graph/graph-json.js';
import { FeatureLabeller, labelDocument } from '../../src/labels/feature-labeller.js';

const MODEL_DIR = fileURLToPath(new URL('../../../models/atlas-world', import.meta.url));
const TINY_DIR = fileURLToPath(new URL('../fixtures/models/llama-tiny', import.meta.url));

interface World {
  demo_prompt: string;
  states: { name: string; capital: string; cities: { name: string }[] }[];
}
const world = JSON.parse(readFileSync(path.join(MODEL_DIR, 'world.json'), 'utf8')) as World;
const city = 'Dallas';
const state = world.states.find((s) => s.cities.some((c) => c.name === city))!;

let model: ReplacementModel;
let labeller: FeatureLabeller;
let traced: GraphDocument;

beforeAll(async () => {
  model = await loadReplacementModel(MODEL_DIR);
  labeller = (await FeatureLabeller.forModel(MODEL_DIR))!;
  traced = (await traceGraph(model, world.demo_prompt)).document;
});
afterAll(() => model?.dispose());

/** A fresh copy of the traced document (labelDocument writes in place). */
function copy(): GraphDocument {
  return structuredClone(traced);
}

describe('labelled demo graph', () => {
  it('every feature node carries its dashboard label, also as the graph JSON clerp', () => {
    expect(labeller).not.toBeNull();
    const doc = labelDocument(copy(), labeller);
    const features = doc.nodes.filter((n) => n.kind === 'feature');
    expect(features.length).toBeGreaterThan(20);
    for (const node of features) expect(node.label).toBe(labeller.labelsOf(node.layer, node.feature!)!.label);
    const json = toGraphJson(doc);
    const clerps = new Map(json.nodes.map((n) => [n.node_id, n.clerp]));
    for (const node of features) expect(clerps.get(node.nodeId)).toBe(node.label);
  });

  it(`shows the state at the city and "say <capital>" among the answer's strongest inputs`, () => {
    const doc = labelDocument(copy(), labeller);
    const cityPos = doc.promptTokens.indexOf(city);
    const atCity = doc.nodes.filter((n) => n.kind === 'feature' && n.ctxIdx === cityPos);
    const stateFeatures = atCity.filter((n) => {
      const input = labeller.labelsOf(n.layer, n.feature!)!.input;
      return input.text === state.name && input.confidence >= 0.5;
    });
    expect(stateFeatures.length).toBeGreaterThanOrEqual(1);

    const answer = doc.nodes.find((n) => n.isTargetLogit)!;
    expect(answer.label).toContain(`"${state.capital}"`);
    const byId = new Map(doc.nodes.map((n) => [n.nodeId, n]));
    const inputs = doc.edges
      .filter((e) => e.target === answer.nodeId && byId.get(e.source)!.kind === 'feature')
      .sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight))
      .slice(0, 5)
      .map((e) => byId.get(e.source)!.label);
    console.log(`inputs of ${answer.label}: ${inputs.join(', ')}`);
    expect(inputs.filter((label) => label === `say ${state.capital}`).length).toBeGreaterThanOrEqual(2);
  });

  it("a user's own label wins over the automatic one", () => {
    const target = traced.nodes.find((n) => n.kind === 'feature')!;
    const doc = labelDocument(copy(), labeller, (layer, index) =>
      layer === target.layer && index === target.feature ? 'my feature' : null,
    );
    for (const node of doc.nodes.filter((n) => n.kind === 'feature')) {
      const same = node.layer === target.layer && node.feature === target.feature;
      expect(node.label).toBe(same ? 'my feature' : labeller.labelsOf(node.layer, node.feature!)!.label);
    }
  });

  it('a model without dashboards has no labeller, and its graphs keep their labels', async () => {
    expect(await FeatureLabeller.forModel(TINY_DIR)).toBeNull();
    const doc = labelDocument(copy(), null);
    expect(doc.nodes.map((n) => n.label)).toEqual(traced.nodes.map((n) => n.label));
  });
});
