/**
 * Feature dashboards in circuit-tracer's feature-detail format (REFERENCE.md, "Exchange format"):
 * one JSON array per layer, `dashboards/layer_{l}.json`, one object per feature that was active:
 *   index, layer, transcoder_id, examples_quantiles [{quantile_name, examples [{tokens,
 *   tokens_acts_list, train_token_ind, is_repeated_datapoint}]}], top_logits, bottom_logits,
 *   act_min, act_max, quantile_values, histogram, activation_frequency
 * plus `top_logits_values` / `bottom_logits_values` (the demeaned direct effects in logit units at the
 * corpus's mean final-norm scale, logit-effects.ts; parallel to the token lists, which stay bare
 * strings as the reference writes them). A layer file is written to a
 * temporary name and renamed, so a reader never sees half a file and an interrupted run leaves none.
 */
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { once } from 'node:events';
import type { CollectedExample, FeatureSummary } from './collect.js';

export interface DashboardExample {
  tokens: string[];
  tokens_acts_list: number[];
  /** Index in `tokens` of the position the example was chosen for. */
  train_token_ind: number;
  is_repeated_datapoint: boolean;
}

export interface FeatureDashboard {
  index: number;
  layer: number;
  /** The automatic label, when the files were labelled (`label` option; label-files.ts). */
  label?: string;
  transcoder_id: string;
  examples_quantiles: { quantile_name: string; examples: DashboardExample[] }[];
  top_logits: string[];
  bottom_logits: string[];
  top_logits_values: number[];
  bottom_logits_values: number[];
  act_min: number;
  act_max: number;
  /** Activation at quantiles 0.01, 0.02, ..., 1.00 of the active positions. */
  quantile_values: number[];
  /** Counts of active positions in equal bins from act_min to act_max. */
  histogram: number[];
  /** Share of the corpus positions (BOS excluded) where the feature is active. */
  activation_frequency: number;
}

export const HISTOGRAM_BINS = 20;
export const TOP_QUANTILE_NAME = 'Top activations';

/** 4 significant digits: the files stay small, small activations keep their precision. */
const round = (x: number) => (x === 0 ? 0 : Number(x.toPrecision(4)));

export interface DashboardParts {
  summary: FeatureSummary;
  layer: number;
  transcoderId: string;
  tokenString: (id: number) => string;
  topLogits: { ids: number[]; values: number[] };
  bottomLogits: { ids: number[]; values: number[] };
}

export function featureDashboard(parts: DashboardParts): FeatureDashboard {
  const { summary, tokenString } = parts;
  const toExample = (e: CollectedExample): DashboardExample => ({
    tokens: Array.from(e.tokenIds.subarray(e.windowStart, e.windowStart + e.windowActs.length), tokenString),
    tokens_acts_list: Array.from(e.windowActs, round),
    train_token_ind: e.position - e.windowStart,
    is_repeated_datapoint: false,
  });
  const quantiles = [{ quantile_name: TOP_QUANTILE_NAME, examples: summary.top.map(toExample) }];
  summary.bands.forEach((band, i) => {
    const hi = Math.min(band.hi, summary.actMax);
    quantiles.push({
      quantile_name: `Subsample Interval ${i} (${band.lo.toFixed(2)} to ${hi.toFixed(2)})`,
      examples: band.examples.map(toExample),
    });
  });
  return {
    index: summary.feature,
    layer: parts.layer,
    transcoder_id: parts.transcoderId,
    examples_quantiles: quantiles,
    top_logits: parts.topLogits.ids.map(tokenString),
    bottom_logits: parts.bottomLogits.ids.map(tokenString),
    top_logits_values: parts.topLogits.values.map(round),
    bottom_logits_values: parts.bottomLogits.values.map(round),
    act_min: round(summary.actMin),
    act_max: round(summary.actMax),
    quantile_values: quantileValues(summary).map(round),
    histogram: outputHistogram(summary),
    activation_frequency: summary.activeCount / Math.max(1, summary.positions),
  };
}

/** Quantiles 0.01..1.00 of the active values, interpolated within the internal histogram's bins. */
function quantileValues(summary: FeatureSummary): number[] {
  const { histogram, rangeTop, actMin, actMax, activeCount } = summary;
  const width = rangeTop / histogram.length;
  const out: number[] = [];
  let bin = 0;
  let below = 0; // active positions in bins before `bin`
  for (let q = 1; q <= 100; q++) {
    if (q === 100) {
      out.push(actMax);
      break;
    }
    const rank = (q / 100) * activeCount;
    while (bin < histogram.length - 1 && below + histogram[bin] < rank) below += histogram[bin++];
    const within = histogram[bin] > 0 ? (rank - below) / histogram[bin] : 0;
    out.push(Math.min(actMax, Math.max(actMin, (bin + within) * width)));
  }
  return out;
}

/** The internal bins regrouped into HISTOGRAM_BINS equal bins over [act_min, act_max] (by bin centre). */
function outputHistogram(summary: FeatureSummary): number[] {
  const { histogram, rangeTop, actMin, actMax } = summary;
  const out = new Array<number>(HISTOGRAM_BINS).fill(0);
  const width = rangeTop / histogram.length;
  const span = actMax - actMin;
  for (let i = 0; i < histogram.length; i++) {
    if (histogram[i] === 0) continue;
    const centre = (i + 0.5) * width;
    const bin = span > 0 ? Math.floor(((centre - actMin) / span) * HISTOGRAM_BINS) : 0;
    out[Math.min(HISTOGRAM_BINS - 1, Math.max(0, bin))] += histogram[i];
  }
  return out;
}

/** Writes one layer's dashboards as a JSON array, atomically (temporary file, then rename). */
export async function writeLayerFile(file: string, dashboards: AsyncIterable<FeatureDashboard>): Promise<number> {
  const temporary = `${file}.partial-${process.pid}`;
  const out = createWriteStream(temporary, { encoding: 'utf8' });
  const write = async (text: string) => {
    if (!out.write(text)) await once(out, 'drain');
  };
  let count = 0;
  try {
    await write('[');
    for await (const dashboard of dashboards) {
      await write((count++ === 0 ? '' : ',\n') + JSON.stringify(dashboard));
    }
    await write(']\n');
    out.end();
    await once(out, 'finish');
    await rename(temporary, file);
    return count;
  } catch (error) {
    out.destroy();
    await rm(temporary, { force: true });
    throw error;
  }
}
