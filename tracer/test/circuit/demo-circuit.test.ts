/**
 * The circuit view and supernode interventions on the demo model (models/atlas-world): the paper's
 * Dallas → Texas → Austin picture, found automatically, and its Texas → California swap.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCircuitView } from '../../src/circuit/circuit-view.js';
import { dashboardLabels } from '../../src/circuit/dashboard-labels.js';
import { dashboardContextIndex, renameFromContexts } from '../../src/circuit/supernode-contexts.js';
import { findSupernodes, type Supernode } from '../../src/circuit/supernodes.js';
import { interveneOnSupernodes, supernodeMembers } from '../../src/intervention/supernode-intervention.js';
import { loadReplacementModel, traceGraph, type GraphDocument, type ReplacementModel } from '../../src/index.js';

const MODEL = fileURLToPath(new URL('../../../models/atlas-world', import.meta.url));
const DASHBOARDS = `${MODEL}/dashboards`;
const prompt = (city: string) => `Fact: the capital of the state containing ${city} is`;

describe('the demo circuit', () => {
  let model: ReplacementModel;
  let labels: Awaited<ReturnType<typeof dashboardLabels>>;
  const traced = new Map<string, { doc: GraphDocument; supernodes: Supernode[] }>();

  beforeAll(async () => {
    model = await loadReplacementModel(MODEL);
    labels = await dashboardLabels(DASHBOARDS, model.nLayers);
    const index = await dashboardContextIndex(DASHBOARDS, model);
    for (const city of ['Dallas', 'Fresno', 'Omaha', 'Seattle']) {
      const { document } = await traceGraph(model, prompt(city), { id: city });
      traced.set(city, {
        doc: document,
        supernodes: renameFromContexts(document, findSupernodes(document, labels), index),
      });
    }
  }, 600_000);
  afterAll(async () => {
    await model?.dispose();
  });

  /** The supernode at the city's position (second to last token) with the most influence. */
  const citySupernode = (city: string) => {
    const { doc, supernodes } = traced.get(city)!;
    return supernodes
      .filter((s) => s.ctxIdx === doc.promptTokens.length - 2)
      .sort((a, b) => b.influence - a.influence)[0];
  };

  it('shows a path Dallas → Texas → say Austin → Austin in the automatic circuit view', () => {
    const { doc, supernodes } = traced.get('Dallas')!;
    const view = buildCircuitView(doc, supernodes);
    const austin = doc.nodes.find((n) => n.kind === 'logit' && model.tokenizer.tokenString(n.feature!) === 'Austin')!;
    expect(view.target).toBe(austin.nodeId);
    const label = new Map(view.nodes.map((n) => [n.id, n]));
    const readable = view.paths.map((p) => p.nodes.map((id) => label.get(id)!.label));
    expect(readable).toContainEqual(['Dallas', 'Texas', 'say Austin', austin.label]);
    const texas = view.nodes.find((n) => n.label === 'Texas')!;
    expect(texas).toMatchObject({ kind: 'supernode', ctxIdx: 9 });
    expect(texas.members.length).toBeGreaterThan(5);
    // Tokens at the bottom, the logit at the top: every path climbs in layers.
    for (const p of view.paths) {
      const lows = p.nodes.map((id) => label.get(id)!.layers[0]);
      expect(lows).toEqual([...lows].sort((a, b) => a - b));
    }
  });

  it('names the Fresno supernode at the city California, and swapping it into Dallas makes Sacramento the answer', async () => {
    const texas = citySupernode('Dallas');
    const california = citySupernode('Fresno');
    expect(texas.label).toBe('Texas');
    expect(california.label).toBe('California');
    const result = await interveneOnSupernodes(model, prompt('Dallas'), [
      {
        mode: 'replace',
        members: supernodeMembers(traced.get('Dallas')!.doc, texas.members),
        donor: supernodeMembers(traced.get('Fresno')!.doc, california.members),
      },
    ]);
    expect(result.before[0].token).toBe('Austin');
    expect(result.after[0].token).toBe('Sacramento');
  });

  it("names a city's supernode by what the city stands with in the corpus (its state), though its members' own labels disagree", () => {
    for (const [city, state] of [
      ['Omaha', 'Nebraska'],
      ['Seattle', 'Washington'],
    ]) {
      const group = citySupernode(city);
      expect(group.label).toBe(state);
      // The group is a distributed code: no single member's dashboard label names the state.
      const { doc } = traced.get(city)!;
      const own = group.members.map((id) => labels(doc.nodes.find((n) => n.nodeId === id)!)?.input?.text);
      expect(own.filter((l) => l !== undefined)).toHaveLength(group.members.length);
      expect(own.filter((l) => l === state).length).toBeLessThan(group.members.length / 2);
    }
  });

  it('ablating the Texas supernode takes the probability of Austin away; scaling it by 1 changes nothing', async () => {
    const members = supernodeMembers(traced.get('Dallas')!.doc, citySupernode('Dallas').members);
    const zeroed = await interveneOnSupernodes(model, prompt('Dallas'), [{ mode: 'zero', members }], { topK: 50 });
    const p = (list: typeof zeroed.before) => list.find((l) => l.token === 'Austin')?.probability ?? 0;
    expect(p(zeroed.before)).toBeGreaterThan(0.9);
    expect(p(zeroed.after)).toBeLessThan(0.1);
    const same = await interveneOnSupernodes(model, prompt('Dallas'), [{ mode: 'scale', members, factor: 1 }]);
    same.before.forEach((b, i) => expect(same.after[i].probability).toBeCloseTo(b.probability, 4));
  });
});
