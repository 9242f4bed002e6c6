/**
 * Feature labels from the demo model's real dashboards (models/atlas-world/dashboards), with ground
 * truth from the world the model was trained on (world.json: states and their cities), which the
 * labeller never sees.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readDashboardFolder, readLayerDashboards, type FeatureDetail } from '../../src/labels/feature-dashboard.js';
import { LabelContext } from '../../src/labels/label-context.js';
import { DEFAULT_LABEL_PARAMETERS, labelFeature, type FeatureLabels } from '../../src/labels/feature-labels.js';
import { ModelFormatError } from '../../src/errors.js';
import { FeatureLabeller } from '../../src/labels/feature-labeller.js';
import { computeFeatureDashboards, loadReplacementModel } from '../../src/index.js';
import { WorldTruth } from './world-truth.js';

const MODEL_DIR = fileURLToPath(new URL('../../../models/atlas-world', import.meta.url));
const WEAK = DEFAULT_LABEL_PARAMETERS.weakBelow;

let byLayer: Map<number, FeatureDetail[]>;
let context: LabelContext;
let truth: WorldTruth;
const labelled: { layer: number; dashboard: FeatureDetail; labels: FeatureLabels }[] = [];

beforeAll(async () => {
  byLayer = await readDashboardFolder(path.join(MODEL_DIR, 'dashboards'));
  context = LabelContext.fromDashboards([...byLayer.values()].flat());
  truth = new WorldTruth(path.join(MODEL_DIR, 'world.json'));
  for (const [layer, dashboards] of byLayer) {
    for (const dashboard of dashboards) labelled.push({ layer, dashboard, labels: labelFeature(dashboard, context) });
  }
});

function topExamples(dashboard: FeatureDetail) {
  return dashboard.examples_quantiles[0]?.examples ?? [];
}

describe('input labels on the demo dashboards', () => {
  it('name the state for features whose top contexts are dominated by several cities of one state (≥ 80%)', () => {
    // Dominated: ≥ 60% of the "Top activations" examples activate on cities of one state, ≥ 2 distinct
    // cities among them (a feature of one city alone is a city feature; see the next test).
    const cases = labelled.flatMap(({ layer, dashboard, labels }) => {
      const dominant = truth.dominantState(dashboard, 0.6);
      return dominant && dominant.cities.length >= 2 ? [{ layer, dashboard, labels, ...dominant }] : [];
    });
    const misses = cases.filter((c) => c.labels.input.text !== c.state);
    const rate = (cases.length - misses.length) / cases.length;
    console.log(
      `state features: ${cases.length - misses.length}/${cases.length} = ${(100 * rate).toFixed(1)}% named; misses: ` +
        misses.map((m) => `L${m.layer}#${m.dashboard.index} ${m.state} → "${m.labels.input.text}"`).join('; '),
    );
    expect(cases.length).toBeGreaterThanOrEqual(50);
    expect(rate).toBeGreaterThanOrEqual(0.8);
    // Named states are confident labels, not guesses.
    const named = cases.filter((c) => c.labels.input.text === c.state);
    expect(named.filter((c) => c.labels.input.confidence >= WEAK).length / named.length).toBeGreaterThanOrEqual(0.9);
  });

  it('name the city or its state for features whose top contexts are one city', () => {
    const cases = labelled.flatMap(({ dashboard, labels }) => {
      const dominant = truth.dominantState(dashboard, 0.6);
      return dominant && dominant.cities.length === 1 ? [{ labels, ...dominant }] : [];
    });
    const named = cases.filter((c) => c.labels.input.text === c.cities[0] || c.labels.input.text === c.state);
    console.log(`city features: ${named.length}/${cases.length} name the city or its state`);
    expect(cases.length).toBeGreaterThanOrEqual(100);
    expect(named.length / cases.length).toBeGreaterThanOrEqual(0.9);
  });

  it('are weak when a feature reads a token found in most contexts ("is", "the", ".")', () => {
    // Found in most contexts: in ≥ 50% of the distinct example contexts of all dashboards, counted here.
    const seen = new Set<string>();
    const contextsWith = new Map<string, number>();
    for (const { dashboard } of labelled) {
      for (const quantile of dashboard.examples_quantiles) {
        for (const example of quantile.examples) {
          const key = example.tokens.join('\u0000');
          if (seen.has(key)) continue;
          seen.add(key);
          for (const token of new Set(example.tokens)) contextsWith.set(token, (contextsWith.get(token) ?? 0) + 1);
        }
      }
    }
    const common = new Set([...contextsWith].filter(([, n]) => n >= 0.5 * seen.size).map(([token]) => token));
    expect([...common]).toEqual(expect.arrayContaining(['is', 'the', '.']));
    // Features whose top contexts all activate on one such token, and whose input label is that token.
    const cases = labelled.filter(({ dashboard, labels }) => {
      const tokens = topExamples(dashboard).map((e) => e.tokens[e.train_token_ind]);
      return (
        tokens.length > 0 &&
        tokens.every((t) => t === tokens[0]) &&
        common.has(tokens[0]) &&
        labels.input.text === tokens[0]
      );
    });
    console.log(`features reading one common token and labelled with it: ${cases.length}`);
    expect(cases.length).toBeGreaterThanOrEqual(20);
    for (const { labels } of cases) expect(labels.input.confidence).toBeLessThan(WEAK);
    // The same holds for every label that is one of those tokens, input or output.
    for (const { labels } of labelled) {
      if (common.has(labels.input.text)) expect(labels.input.confidence).toBeLessThan(WEAK);
      if (labels.output && common.has(labels.output.text.replace(/^say /, ''))) {
        expect(labels.output.confidence).toBeLessThan(WEAK);
      }
      if (labels.weak) expect(labels.label).toMatch(/^\(.*\)$/);
    }
  });
});

describe('output labels', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'atlas-labels-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /**
   * A demo dashboard rewritten with direct effects for its top logits, read back from a file: as
   * {token, value} entries, or (circuit-atlas features' format) bare strings with top_logits_values.
   */
  async function withLogitValues(values: [string, number][], beside = false): Promise<FeatureDetail> {
    // A city feature whose contexts end at the city: no next tokens, so only top_logits speak.
    const source = labelled.find(({ dashboard }) =>
      dashboard.examples_quantiles.every((q) => q.examples.every((e) => e.train_token_ind === e.tokens.length - 1)),
    )!.dashboard;
    const file = path.join(dir, 'layer_0.json');
    const logits = beside
      ? { top_logits: values.map(([token]) => token), top_logits_values: values.map(([, value]) => value) }
      : { top_logits: values.map(([token, value]) => ({ token, value })) };
    writeFileSync(file, JSON.stringify([{ ...source, ...logits }]));
    return (await readLayerDashboards(file))[0];
  }

  it.each([false, true])(
    'say X, confidently, when the top logits concentrate on one token (values beside: %s)',
    async (beside) => {
      const concentrated: [string, number][] = [
        ['Austin', 9.0],
        ['Houston', 2.0],
        ['Dallas', 1.8],
        ['Texas', 1.5],
        ['the', 1.2],
      ];
      const labels = labelFeature(await withLogitValues(concentrated, beside), context);
      expect(labels.output).toEqual({ text: 'say Austin', confidence: expect.any(Number) });
      expect(labels.output!.confidence).toBeGreaterThanOrEqual(0.9);
      expect(labels.label).toBe('say Austin');
      expect(labels.weak).toBe(false);
    },
  );

  it('is weak when the top logits are spread evenly', async () => {
    const dashboard = await withLogitValues([
      ['Austin', 1.0],
      ['Boise', 0.99],
      ['Denver', 0.98],
      ['Salem', 0.97],
      ['Helena', 0.96],
    ]);
    const labels = labelFeature(dashboard, context);
    expect(labels.output!.confidence).toBeLessThan(WEAK);
  });

  it('say the next token the top contexts agree on, confirmed by bare top-logit strings', () => {
    // Demo features whose top contexts are all followed by one token that is rare in the corpus
    // (in < 5% of contexts) and is among the first three top logits; not features that fire inside a
    // name ("[Salt] Lake City"), whose next token only completes the name they read.
    const contexts = new Set<string>();
    const contextsWith = new Map<string, number>();
    for (const { dashboard } of labelled) {
      for (const example of dashboard.examples_quantiles.flatMap((q) => q.examples)) {
        const key = example.tokens.join('\u0000');
        if (contexts.has(key)) continue;
        contexts.add(key);
        for (const token of new Set(example.tokens)) contextsWith.set(token, (contextsWith.get(token) ?? 0) + 1);
      }
    }
    const cases = labelled.flatMap(({ dashboard, labels }) => {
      const withNext = topExamples(dashboard).filter((e) => e.train_token_ind + 1 < e.tokens.length);
      const insideName = withNext.some(
        (e) => context.unitAt(context.tokensOf(e), e.train_token_ind)!.end > e.train_token_ind + 1,
      );
      const next = insideName ? [] : withNext.map((e) => e.tokens[e.train_token_ind + 1]);
      const said = next[0];
      const agreed = next.length >= 4 && next.every((t) => t === said);
      const rare = (contextsWith.get(said) ?? 0) < 0.05 * contexts.size;
      return agreed && rare && dashboard.top_logits.slice(0, 3).includes(said) ? [{ said, labels }] : [];
    });
    console.log(`features whose top contexts agree on the next token: ${cases.length}`);
    expect(cases.length).toBeGreaterThanOrEqual(10);
    for (const { said, labels } of cases) {
      // The label names the token, or the name it belongs to ("Baton" → "say Baton Rouge").
      expect(labels.output?.text).toMatch(new RegExp(`^say (.* )?${said}( |$)`));
      expect(labels.output!.confidence).toBeGreaterThanOrEqual(WEAK);
    }
  });
});

describe('dashboard files', () => {
  it('a file that is not an array of feature details is a ModelFormatError naming the file', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'atlas-labels-bad-'));
    const file = path.join(dir, 'layer_0.json');
    writeFileSync(file, JSON.stringify({ index: 0 }));
    await expect(readLayerDashboards(file)).rejects.toThrow(ModelFormatError);
    await expect(readLayerDashboards(file)).rejects.toThrow(file);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('labels of dashboards computed by circuit-atlas features (byte-level BPE tokens)', () => {
  const CORPUS = fileURLToPath(new URL('../fixtures/corpus/small.txt', import.meta.url));
  const GPT2_DIR = fileURLToPath(new URL('../fixtures/models/gpt2-tiny', import.meta.url));
  let dir: string;
  let labeller: FeatureLabeller;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'atlas-labels-bpe-'));
    const model = await loadReplacementModel(GPT2_DIR);
    try {
      await computeFeatureDashboards(model, { corpus: CORPUS, outDir: dir, contextLength: 32 });
    } finally {
      await model.dispose();
    }
    labeller = (await FeatureLabeller.fromFolder(dir))!;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads word pieces back into the words of the corpus, and shows no byte or space marks', async () => {
    expect(labeller.context.marksWordStarts).toBe(true);
    const corpus = readFileSync(CORPUS, 'utf8').replace(/\s+/g, ' ');
    const byLayer = await readDashboardFolder(dir);
    let n = 0;
    let wholeWords = 0;
    for (const [layer, dashboards] of byLayer) {
      for (const dashboard of dashboards) {
        const labels = labeller.labelsOf(layer, dashboard.index)!;
        n++;
        // What a feature reads is text of the corpus, never half a byte; whole words with their pieces
        // glued, except where a context window cut a word ("lea|f").
        expect(corpus).toContain(labels.input.text);
        const escaped = labels.input.text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        if (new RegExp(`(^|[^\\p{L}\\p{N}])${escaped}($|[^\\p{L}\\p{N}])`, 'u').test(corpus)) wholeWords++;
        for (const text of [labels.input.text, labels.output?.text ?? 'say x', labels.label]) {
          expect(text).not.toMatch(/[\p{C}\uFFFDĠ▁]/u);
          expect(text.replace(/^\(?(say )?/, '').trim()).not.toBe('');
        }
      }
    }
    expect(n).toBeGreaterThan(100);
    console.log(`BPE dashboards: ${wholeWords}/${n} input labels are whole words of the corpus`);
    expect(wholeWords / n).toBeGreaterThanOrEqual(0.9);
  });
});
