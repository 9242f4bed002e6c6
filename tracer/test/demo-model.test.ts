/**
 * The demo world model (models/atlas-world) traced by our tracer: the checks of issue 4 that need
 * the TypeScript tracer. The expected answers and the state features at the city position come from
 * the model's own build (training/world/graph_checks.json), so this test reads real artifacts only.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { intervene, loadReplacementModel, traceGraph, type ReplacementModel } from '../src/index.js';
import type { GraphDocument } from '@circuit-atlas/schema';

const MODEL_DIR = fileURLToPath(new URL('../../models/atlas-world', import.meta.url));
const CHECKS_FILE = fileURLToPath(new URL('../../training/world/graph_checks.json', import.meta.url));

interface StateFeature {
  layer: number;
  feature: number;
  position: number;
  node_id: string;
  activation: number;
  label: string;
}
interface GraphCheck {
  city: string;
  state: string;
  prompt: string;
  expected_answer: string;
  city_position: number;
  state_features: StateFeature[];
}
interface StateSwap {
  city: string;
  prompt: string;
  from_state: string;
  to_state: string;
  /** PyTorch's top predictions after the swap: [token, probability]. */
  top5: [string, number][];
  success: boolean;
  set_features: { layer: number; feature: number; position: number; value: number }[];
}
const checksFile: { prompts: GraphCheck[]; interventions: StateSwap[] } = JSON.parse(readFileSync(CHECKS_FILE, 'utf8'));
const checks = checksFile.prompts;

interface Dashboard {
  index: number;
  label?: string;
}
const dashboardLabels = (layer: number): Map<number, string> => {
  const details: Dashboard[] = JSON.parse(readFileSync(`${MODEL_DIR}/dashboards/layer_${layer}.json`, 'utf8'));
  return new Map(details.filter((d) => d.label).map((d) => [d.index, d.label!]));
};

/** Node ids reachable from `from` along the pruned graph's edges (source → target). */
function reachableFrom(doc: GraphDocument, from: string): Set<string> {
  const outgoing = new Map<string, string[]>();
  for (const edge of doc.edges) outgoing.set(edge.source, [...(outgoing.get(edge.source) ?? []), edge.target]);
  const seen = new Set([from]);
  const queue = [from];
  while (queue.length > 0) {
    for (const next of outgoing.get(queue.pop()!) ?? []) {
      if (!seen.has(next)) {
        seen.add(next);
        queue.push(next);
      }
    }
  }
  return seen;
}

/** Node ids from which `to` is reachable. */
function reachingTo(doc: GraphDocument, to: string): Set<string> {
  const reversed: GraphDocument = {
    ...doc,
    edges: doc.edges.map((e) => ({ ...e, source: e.target, target: e.source })),
  };
  return reachableFrom(reversed, to);
}

describe('the demo world model traced by circuit-atlas', () => {
  let model: ReplacementModel;
  const traced = new Map<string, GraphDocument>();

  beforeAll(async () => {
    model = await loadReplacementModel(MODEL_DIR);
    for (const check of checks) traced.set(check.city, (await traceGraph(model, check.prompt)).document);
  });
  afterAll(() => model?.dispose());

  it.each(checks.map((check) => [check.city, check]))(
    'answers the held-out two-hop prompt for %s with its capital, with both graph scores reported',
    (_city, check) => {
      const doc = traced.get(check.city)!;
      const top = doc.nodes.filter((n) => n.kind === 'logit').sort((a, b) => b.tokenProb! - a.tokenProb!)[0];
      expect(doc.promptTokens[0]).toBe('<bos>');
      expect(doc.promptTokens[check.city_position]).toBe(check.city.split(' ').at(-1));
      expect(top.label).toContain(`"${check.expected_answer}"`);
      expect(doc.scores!.replacement).toBeGreaterThan(0.5);
      expect(doc.scores!.replacement).toBeLessThanOrEqual(1);
      expect(doc.scores!.completeness).toBeGreaterThan(0.8);
      expect(doc.scores!.completeness).toBeLessThanOrEqual(1);
    },
  );

  it('keeps a feature whose dashboard says "Texas" on a path from the Dallas token to the Austin logit', () => {
    const check = checks.find((c) => c.city === 'Dallas')!;
    const doc = traced.get('Dallas')!;
    const dallas = doc.nodes.find((n) => n.kind === 'embedding' && n.ctxIdx === check.city_position)!;
    const austin = doc.nodes.find((n) => n.kind === 'logit' && n.label.includes('"Austin"'))!;
    const onPath = [...reachableFrom(doc, dallas.nodeId)].filter((id) => reachingTo(doc, austin.nodeId).has(id));
    const labels = new Map([0, 1, 2, 3, 4, 5].map((layer) => [layer, dashboardLabels(layer)]));
    const texasOnPath = doc.nodes.filter(
      (n) => n.kind === 'feature' && onPath.includes(n.nodeId) && labels.get(n.layer)!.get(n.feature!) === 'Texas',
    );
    expect(texasOnPath.map((n) => n.nodeId)).not.toEqual([]);
    // The build's own analysis found these at the city position: at least one is in our pruned graph.
    const stateFeatureIds = new Set(check.state_features.map((f) => f.node_id));
    expect(doc.nodes.some((n) => stateFeatureIds.has(n.nodeId))).toBe(true);
  });

  it('swaps Texas for California at the Dallas token, and the answer becomes Sacramento', async () => {
    const swap = checksFile.interventions.find((s) => s.city === 'Dallas' && s.to_state === 'California')!;
    expect(swap.success).toBe(true);
    const result = await intervene(
      model,
      swap.prompt,
      swap.set_features.map((f) => ({ ...f, mode: 'set' as const })),
      { frozenAttention: false },
    );
    expect(result.before[0].token).toBe('Austin');
    expect(result.after[0].token).toBe('Sacramento');
    expect(result.after[0].token).toBe(swap.top5[0][0]);
  });
});
