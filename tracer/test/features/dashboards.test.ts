/**
 * Feature dashboards computed over a real corpus file with the fixture models, checked against an
 * independent recomputation: every context run on its own (no batching), every feature's
 * activations counted directly, the top example re-run through the model.
 */
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  computeFeatureDashboards,
  loadReplacementModel,
  type FeatureDashboard,
  type ReplacementModel,
} from '../../src/index.js';
import { encodeLayer, runForward } from '../../src/model/replacement-model.js';
import { fixtureModel } from '../engine-fixtures.js';

const CORPUS = fileURLToPath(new URL('../fixtures/corpus/small.txt', import.meta.url));
const CONTEXT_LENGTH = 12;

const readLayer = async (dir: string, layer: number): Promise<FeatureDashboard[]> =>
  JSON.parse(await readFile(path.join(dir, `layer_${layer}.json`), 'utf8'));

/** The corpus as contexts, cut here independently of the library: BOS + up to 11 tokens per piece. */
async function contextsOf(model: ReplacementModel): Promise<number[][]> {
  const lines = (await readFile(CORPUS, 'utf8')).split('\n').filter((line) => line.trim().length > 0);
  const contexts: number[][] = [];
  for (const line of lines) {
    const ids = model.tokenizer.encodeText(line);
    for (let i = 0; i < ids.length; i += CONTEXT_LENGTH - 1)
      contexts.push([model.tokenizer.bosId!, ...ids.slice(i, i + CONTEXT_LENGTH - 1)]);
  }
  return contexts;
}

/** Activations of one layer's features at every position of one context, run alone. [T, F] */
async function activationsOf(model: ReplacementModel, layer: number, tokenIds: number[]): Promise<Float32Array> {
  const forward = await runForward(model, tokenIds);
  return (await encodeLayer(model, layer, forward.mlpIn[layer], 1, tokenIds.length)).acts;
}

describe('feature dashboards (llama-tiny, per-layer transcoders)', () => {
  let model: ReplacementModel;
  let dir = '';
  let result: Awaited<ReturnType<typeof computeFeatureDashboards>>;
  beforeAll(async () => {
    model = await loadReplacementModel(fixtureModel('llama-tiny'));
    dir = await mkdtemp(path.join(tmpdir(), 'features-'));
    const cpuBefore = process.cpuUsage();
    result = await computeFeatureDashboards(model, {
      corpus: CORPUS,
      outDir: path.join(dir, 'all'),
      contextLength: CONTEXT_LENGTH,
      batchSize: 3,
      topK: 5,
    });
    const cpu = process.cpuUsage(cpuBefore);
    cpuMilliseconds = (cpu.user + cpu.system) / 1000;
  });
  let cpuMilliseconds = 0;

  it("times each phase's CPU within the process's CPU over the run", () => {
    const phases = Object.values(result.cpuTimings);
    expect(phases).toHaveLength(5);
    for (const ms of phases) expect(ms).toBeGreaterThanOrEqual(0);
    expect(result.cpuTimings.encode + result.cpuTimings.forward).toBeGreaterThan(0);
    expect(phases.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(cpuMilliseconds + 1);
  });
  afterAll(async () => {
    await model.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('writes one file per layer in the feature-detail format', async () => {
    expect(result.layers.map((l) => [l.layer, l.skipped])).toEqual([
      [0, false],
      [1, false],
      [2, false],
    ]);
    expect((await readdir(path.join(dir, 'all'))).sort()).toEqual(['layer_0.json', 'layer_1.json', 'layer_2.json']);
    const [detail] = await readLayer(path.join(dir, 'all'), 0);
    expect(Object.keys(detail).sort()).toEqual(
      [
        'index',
        'layer',
        'transcoder_id',
        'examples_quantiles',
        'top_logits',
        'bottom_logits',
        'top_logits_values',
        'bottom_logits_values',
        'act_min',
        'act_max',
        'quantile_values',
        'histogram',
        'activation_frequency',
      ].sort(),
    );
    expect(detail.examples_quantiles[0].quantile_name).toBe('Top activations');
    const example = detail.examples_quantiles[0].examples[0];
    expect(example.tokens.length).toBe(example.tokens_acts_list.length);
    expect(example.is_repeated_datapoint).toBe(false);
  });

  it('counts positions, active positions and frequency exactly as a direct count over every context', async () => {
    const contexts = await contextsOf(model);
    const positions = contexts.reduce((sum, c) => sum + c.length - 1, 0);
    expect(result.positions).toBe(positions);
    expect(result.tokens).toBe(positions + contexts.length);
    for (const layer of [0, 2]) {
      const F = model.nFeatures;
      const active = new Float64Array(F);
      const max = new Float32Array(F);
      for (const context of contexts) {
        const acts = await activationsOf(model, layer, context);
        for (let p = 1; p < context.length; p++)
          for (let f = 0; f < F; f++) {
            const a = acts[p * F + f];
            if (a > 0) active[f]++;
            if (a > max[f]) max[f] = a;
          }
      }
      const details = await readLayer(path.join(dir, 'all'), layer);
      expect(details.map((d) => d.index)).toEqual([...active.keys()].filter((f) => active[f] > 0));
      for (const detail of details) {
        const f = detail.index;
        expect(detail.activation_frequency).toBeCloseTo(active[f] / positions, 12);
        // The histogram counts the active positions, each once.
        expect(detail.histogram.reduce((a, b) => a + b, 0)).toBe(active[f]);
        expect(detail.act_max).toBeCloseTo(max[f], 3);
      }
    }
  });

  it('takes each top example at the position of its context’s maximal activation, as a re-run shows', async () => {
    const details = await readLayer(path.join(dir, 'all'), 1);
    const idOf = (token: string) => model.tokenizer.tokenId(token)!;
    let checked = 0;
    for (const detail of details.slice(0, 40)) {
      const top = detail.examples_quantiles[0].examples;
      expect(top.length).toBeGreaterThan(0);
      expect(top.length).toBeLessThanOrEqual(5);
      // The best example holds the feature's maximum; the list is sorted by activation.
      const peaks = top.map((e) => e.tokens_acts_list[e.train_token_ind]);
      expect(peaks[0]).toBeCloseTo(detail.act_max, 3);
      expect([...peaks].sort((a, b) => b - a)).toEqual(peaks);
      for (const example of top) {
        // Contexts are at most 12 tokens and examples show 16: the example is the whole context.
        expect(example.tokens[0]).toBe('<bos>');
        const acts = await activationsOf(model, 1, example.tokens.map(idOf));
        const F = model.nFeatures;
        const column = example.tokens.map((_, p) => (p === 0 ? 0 : acts[p * F + detail.index]));
        column.forEach((a, p) => expect(example.tokens_acts_list[p]).toBeCloseTo(a, 3));
        const argmax = column.indexOf(Math.max(...column));
        expect(example.train_token_ind).toBe(argmax);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(40);
  });

  it('samples band examples inside their band and gives monotone quantiles ending at the maximum', async () => {
    for (const detail of await readLayer(path.join(dir, 'all'), 0)) {
      for (const quantile of detail.examples_quantiles.slice(1)) {
        const [, lo, hi] = /\(([\d.]+) to ([\d.]+)\)$/.exec(quantile.quantile_name)!.map(Number);
        for (const example of quantile.examples) {
          const a = example.tokens_acts_list[example.train_token_ind];
          expect(a).toBeGreaterThanOrEqual(lo - 0.01);
          expect(a).toBeLessThanOrEqual(hi + 0.01);
        }
      }
      expect(detail.quantile_values).toHaveLength(100);
      for (let i = 1; i < 100; i++)
        expect(detail.quantile_values[i]).toBeGreaterThanOrEqual(detail.quantile_values[i - 1]);
      expect(detail.quantile_values[99]).toBe(detail.act_max);
      expect(detail.quantile_values[0]).toBeGreaterThanOrEqual(detail.act_min);
    }
  });

  it('lists the tokens the decoder row pushes up and down most through the unembedding (demeaned)', async () => {
    const details = await readLayer(path.join(dir, 'all'), 2);
    const { dModel: d, vocabSize: V } = model;
    const U = Array.from({ length: V }, (_, v) => model.weights.unembedRows.row(v)); // W_U[:, v]
    const gamma = model.weights.lnFinal.gamma;
    const wDec = model.transcoders.layers[2].wDec;
    for (const detail of details.slice(0, 5)) {
      const decoderRow = wDec.row(detail.index);
      const effect = Array.from({ length: V }, (_, v) => {
        let sum = 0;
        for (let i = 0; i < d; i++) sum += decoderRow[i] * gamma[i] * U[v][i];
        return sum;
      });
      const mean = effect.reduce((a, b) => a + b, 0) / V;
      const ranked = [...effect.keys()]
        .filter((v) => !model.tokenizer.specialIds.has(v))
        .sort((a, b) => effect[b] - effect[a]);
      expect(detail.top_logits).toEqual(ranked.slice(0, 10).map((v) => model.tokenizer.tokenString(v)));
      expect(detail.bottom_logits).toEqual(
        ranked
          .slice(-10)
          .reverse()
          .map((v) => model.tokenizer.tokenString(v)),
      );
      // In logit units: times the final norm's mean scale 1/σ (checked in the next test).
      expect(detail.top_logits_values[0]).toBeCloseTo((effect[ranked[0]] - mean) * result.finalNormScale, 3);
    }
  });

  it("scales logit values by the final norm's mean 1/σ over the corpus's first 16 contexts", async () => {
    let sum = 0;
    let count = 0;
    for (const tokenIds of (await contextsOf(model)).slice(0, 16)) {
      const sigma = (await runForward(model, tokenIds)).frozen.lnfScale;
      for (let p = 1; p < tokenIds.length; p++, count++) sum += 1 / sigma[p];
    }
    expect(result.finalNormScale).toBeCloseTo(sum / count, 5);
    expect(result.finalNormScale).not.toBeCloseTo(1, 2);
  });

  it('gives the same files whether layers are collected in one pass or one pass per layer', async () => {
    await computeFeatureDashboards(model, {
      corpus: CORPUS,
      outDir: path.join(dir, 'per-layer'),
      contextLength: CONTEXT_LENGTH,
      batchSize: 3,
      topK: 5,
      layersPerPass: 1,
    });
    for (const layer of [0, 1, 2]) {
      expect(await readFile(path.join(dir, 'per-layer', `layer_${layer}.json`), 'utf8')).toBe(
        await readFile(path.join(dir, 'all', `layer_${layer}.json`), 'utf8'),
      );
    }
  });

  it('removes the partial file an interrupted write left for a layer it recomputes', async () => {
    const out = path.join(dir, 'partial');
    await computeFeatureDashboards(model, { corpus: CORPUS, outDir: out, layers: [0], contextLength: CONTEXT_LENGTH });
    await writeFile(path.join(out, 'layer_1.json.partial-999999'), '[{"index": 0, "exam');
    await computeFeatureDashboards(model, { corpus: CORPUS, outDir: out, contextLength: CONTEXT_LENGTH });
    expect((await readdir(out)).sort()).toEqual(['layer_0.json', 'layer_1.json', 'layer_2.json']);
  });

  it('skips layers whose file exists, unless forced, and reads JSONL the same as plain text', async () => {
    const again = await computeFeatureDashboards(model, {
      corpus: CORPUS,
      outDir: path.join(dir, 'all'),
      contextLength: CONTEXT_LENGTH,
    });
    expect(again.layers.every((l) => l.skipped)).toBe(true);
    expect(again.tokens).toBe(0);
    const jsonl = await computeFeatureDashboards(model, {
      corpus: CORPUS.replace(/\.txt$/, '.jsonl'),
      outDir: path.join(dir, 'all'),
      layers: [1],
      contextLength: CONTEXT_LENGTH,
      batchSize: 3,
      topK: 5,
      force: true,
    });
    expect(jsonl.layers).toEqual([expect.objectContaining({ layer: 1, skipped: false })]);
    expect(await readFile(path.join(dir, 'all', 'layer_1.json'), 'utf8')).toBe(
      await readFile(path.join(dir, 'per-layer', 'layer_1.json'), 'utf8'),
    );
  });

  it('writes an automatic label into every feature of every file when asked, changing nothing else', async () => {
    const out = path.join(dir, 'labelled');
    const labelled = await computeFeatureDashboards(model, {
      corpus: CORPUS,
      outDir: out,
      contextLength: CONTEXT_LENGTH,
      batchSize: 3,
      topK: 5,
      label: true,
    });
    let features = 0;
    for (const layer of [0, 1, 2]) {
      const withLabels = await readLayer(out, layer);
      const without = await readLayer(path.join(dir, 'all'), layer);
      features += withLabels.length;
      expect(withLabels.every((d) => typeof d.label === 'string' && d.label.length > 0)).toBe(true);
      expect(Object.keys(withLabels[0]).slice(0, 3)).toEqual(['index', 'layer', 'label']);
      expect(withLabels.map(({ label: _label, ...rest }) => rest)).toEqual(without);
    }
    expect(labelled.labelled).toBe(features);
  });

  it('stops after --max-tokens tokens', async () => {
    const limited = await computeFeatureDashboards(model, {
      corpus: CORPUS,
      outDir: path.join(dir, 'limited'),
      layers: [0],
      contextLength: CONTEXT_LENGTH,
      maxTokens: 50,
    });
    expect(limited.tokens).toBe(50);
  });
});

describe('feature dashboards of other architectures and transcoder kinds', () => {
  for (const name of ['llama-clt-tiny', 'gpt2-tiny']) {
    it(`${name}: every layer gets a file whose histograms sum to frequency × positions`, async () => {
      const model = await loadReplacementModel(fixtureModel(name));
      const dir = await mkdtemp(path.join(tmpdir(), `features-${name}-`));
      try {
        const result = await computeFeatureDashboards(model, {
          corpus: CORPUS,
          outDir: dir,
          contextLength: 16,
          batchSize: 4,
        });
        expect(result.layers.map((l) => l.layer)).toEqual([...Array(model.nLayers).keys()]);
        for (const layer of result.layers) {
          const details = await readLayer(dir, layer.layer);
          expect(details.length).toBe(layer.features);
          expect(details.length).toBeGreaterThan(0);
          for (const detail of details) {
            const count = detail.histogram.reduce((a, b) => a + b, 0);
            expect(count).toBe(Math.round(detail.activation_frequency * result.positions));
            expect(detail.top_logits).toHaveLength(10);
          }
        }
      } finally {
        await model.dispose();
        await rm(dir, { recursive: true, force: true });
      }
    });
  }
});
