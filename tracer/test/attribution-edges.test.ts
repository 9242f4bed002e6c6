/**
 * Every edge of the unpruned graph against an intervention: in the frozen replacement model
 * (runFrozenReplacement, an independent forward pass), removing a source changes each target's
 * pre-activation (or demeaned logit) by exactly the edge weight A[target, source].
 */
import { describe, expect, it } from 'vitest';
import { attribute, loadReplacementModel, type AttributionGraph, type ReplacementModel } from '../src/index.js';
import { chooseLogitTargets, ensureTokenized } from '../src/attribution/attribute.js';
import { setupAttribution } from '../src/attribution/context.js';
import { nodeLayout } from '../src/graph/attribution-graph.js';
import {
  demeanedLogit,
  featurePreActivation,
  runFrozenReplacement,
  type FrozenRun,
  type SourceRemoval,
} from './oracle/frozen-replacement.js';
import { fixtureModel } from './engine-fixtures.js';

/** Relative tolerance, and the weight below which it applies to this absolute floor instead (float32 noise). */
const RELATIVE = 1e-3;
const FLOOR = 5e-3;

async function checkEveryEdge(model: ReplacementModel, prompt: string, graph: AttributionGraph) {
  const ctx = await setupAttribution(model, ensureTokenized(model, prompt));
  const { vectors } = chooseLogitTargets(model, ctx, graph.settings.maxNLogits, graph.settings.desiredLogitProb);
  const layout = nodeLayout(graph);
  const T = graph.nPos;
  // Sources in node (column) order: selected features, errors (layer-major), tokens.
  const sources: SourceRemoval[] = [
    ...Array.from(graph.selectedFeatures, (active) => ({ kind: 'feature' as const, active })),
    ...Array.from({ length: graph.nLayers * T }, (_, i) => ({
      kind: 'error' as const,
      layer: Math.floor(i / T),
      pos: i % T,
    })),
    ...Array.from({ length: T }, (_, pos) => ({ kind: 'token' as const, pos })),
  ];
  const clean = await runFrozenReplacement(model, ctx, [{ kind: 'none' }]);
  const removed = await runFrozenReplacement(model, ctx, sources);
  const targetValue = (run: FrozenRun, n: number, row: number) => {
    if (row < layout.nFeatureNodes) {
      const s = graph.selectedFeatures[row];
      return featurePreActivation(
        model,
        run,
        n,
        graph.activeFeatures[3 * s],
        graph.activeFeatures[3 * s + 1],
        graph.activeFeatures[3 * s + 2],
        T,
      );
    }
    return demeanedLogit(model, run, n, vectors[row - layout.logitStart], T);
  };
  const targetRows = [
    ...Array.from({ length: layout.nFeatureNodes }, (_, i) => i),
    ...Array.from({ length: graph.logitTargets.length }, (_, i) => layout.logitStart + i),
  ];
  const { rowPtr, colIdx, values } = graph.adjacency;
  let checked = 0;
  let worst = 0;
  let nonZero = 0;
  for (const row of targetRows) {
    const weights = new Float64Array(sources.length);
    for (let k = rowPtr[row]; k < rowPtr[row + 1]; k++) weights[colIdx[k]] = values[k];
    const base = targetValue(clean, 0, row);
    for (let c = 0; c < sources.length; c++) {
      const effect = base - targetValue(removed, c, row);
      const error = Math.abs(weights[c] - effect) / Math.max(Math.abs(effect), FLOOR);
      worst = Math.max(worst, error);
      if (weights[c] !== 0) nonZero++;
      checked++;
    }
  }
  return { checked, worst, nonZero };
}

describe('every edge equals the effect of removing its source in the frozen replacement model', () => {
  const cases: [string, string][] = [
    ['llama-tiny', 'The capital of Texas is'],
    ['gpt2-tiny', 'Dallas is a city in the state of'],
    ['llama-clt-tiny', 'The capital of Texas is'],
    ['qwen3-tiny', 'one two three four five six seven'],
    ['gemma2-tiny', 'Dallas is a city in the state of'],
    ['gemma3-tiny', 'Dallas is a city in the state of'],
  ];
  for (const [name, prompt] of cases) {
    it(`${name}: ${JSON.stringify(prompt)}`, async () => {
      const model = await loadReplacementModel(fixtureModel(name));
      try {
        const graph = await attribute(model, prompt, { batchSize: 64 });
        expect(graph.selectedFeatures.length).toBe(graph.activations.length);
        const { checked, worst, nonZero } = await checkEveryEdge(model, prompt, graph);
        expect(nonZero).toBe(graph.adjacency.values.length); // every stored edge was among those checked
        expect(checked).toBeGreaterThan(1000);
        expect(worst).toBeLessThan(RELATIVE);
      } finally {
        await model.dispose();
      }
    });
  }

  it('max_feature_nodes: rows of the chosen features are the same as in the full graph, logit rows too', async () => {
    const model = await loadReplacementModel(fixtureModel('llama-tiny'));
    try {
      const prompt = 'Dallas is a city in the state of';
      const full = await attribute(model, prompt, { batchSize: 16 });
      const partial = await attribute(model, prompt, { batchSize: 16, maxFeatureNodes: 40, updateInterval: 1 });
      expect(partial.selectedFeatures.length).toBe(40);
      expect(partial.logitTargets).toEqual(full.logitTargets);
      const fullLayout = nodeLayout(full);
      const partLayout = nodeLayout(partial);
      // A logit row restricted to the chosen features, errors and tokens equals the full graph's.
      const dense = (g: AttributionGraph, row: number) => {
        const out = new Map<number, number>();
        for (let k = g.adjacency.rowPtr[row]; k < g.adjacency.rowPtr[row + 1]; k++)
          out.set(g.adjacency.colIdx[k], g.adjacency.values[k]);
        return out;
      };
      const fullRow = dense(full, fullLayout.logitStart);
      const partRow = dense(partial, partLayout.logitStart);
      partial.selectedFeatures.forEach((active, i) =>
        expect(partRow.get(i) ?? 0).toBeCloseTo(fullRow.get(active) ?? 0, 6),
      );
      for (let c = partLayout.errorStart; c < partLayout.logitStart; c++) {
        expect(partRow.get(c) ?? 0).toBeCloseTo(fullRow.get(c - partLayout.errorStart + fullLayout.errorStart) ?? 0, 6);
      }
      // The first-ranked features are the most influential on the logits (not index order).
      expect(Array.from(partial.selectedFeatures)).not.toEqual(Array.from({ length: 40 }, (_, i) => i));
    } finally {
      await model.dispose();
    }
  });
});
