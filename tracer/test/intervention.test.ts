import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate, intervene, loadReplacementModel, type ReplacementModel } from '../src/index.js';
import { ensureTokenized } from '../src/attribution/attribute.js';
import { setupAttribution } from '../src/attribution/context.js';
import { fixtureModel } from './engine-fixtures.js';

describe('interventions', () => {
  let model: ReplacementModel;
  const prompt = 'Dallas is a city in the state of';
  beforeAll(async () => {
    model = await loadReplacementModel(fixtureModel('llama-clt-tiny'));
  });
  afterAll(async () => {
    await model.dispose();
  });

  it('setting a feature to its own activation changes nothing', async () => {
    const ctx = await setupAttribution(model, ensureTokenized(model, prompt));
    const [layer, position, feature] = ctx.activeFeatures.slice(0, 3);
    const result = await intervene(model, prompt, [
      { layer, position, feature, mode: 'set', value: ctx.activations[0] },
    ]);
    result.before.forEach((b, i) => expect(result.after[i].probability).toBeCloseTo(b.probability, 5));
    expect(result.activations[0].before).toBeCloseTo(ctx.activations[0], 5);
  });

  it('scaling the most active last-position features by 0 changes the prediction and later activations', async () => {
    const ctx = await setupAttribution(model, ensureTokenized(model, prompt));
    const last = ctx.nPos - 1;
    const ablations = [];
    for (let s = 0; s < ctx.activations.length; s++) {
      if (ctx.activeFeatures[3 * s + 1] === last && ctx.activeFeatures[3 * s] === 0) {
        ablations.push({
          layer: 0,
          position: last,
          feature: ctx.activeFeatures[3 * s + 2],
          mode: 'scale' as const,
          value: 0,
        });
      }
    }
    expect(ablations.length).toBeGreaterThan(0);
    const frozen = await intervene(model, prompt, ablations);
    const free = await intervene(model, prompt, ablations, { frozenAttention: false });
    expect(frozen.after[0].probability).not.toBeCloseTo(frozen.before[0].probability, 4);
    for (const a of frozen.activations.slice(0, ablations.length)) expect(a.after).toBe(0);
    expect(frozen.activations.slice(ablations.length).some((a) => a.layer > 0)).toBe(true); // effects propagate
    // With only position-last changes, attention patterns to earlier positions are unaffected: same result.
    expect(free.after[0].tokenId).toBe(frozen.after[0].tokenId);
  });

  it('greedy generation continues with the top token, and interventions can change it', async () => {
    const plain = await generate(model, prompt, 3);
    expect(plain.tokens).toHaveLength(3);
    const first = (await intervene(model, prompt, [], { topK: 1 })).before[0].token;
    expect(plain.tokens[0]).toBe(first);
  });
});
