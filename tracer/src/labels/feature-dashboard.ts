/**
 * A feature dashboard as labels read it: circuit-tracer's feature-detail format (REFERENCE.md,
 * "Exchange format") — top activating contexts by quantile, top/bottom logits, activation statistics —
 * one JSON array per layer, `dashboards/layer_{l}.json`. Read leniently: a writer may add an automatic
 * `label` (the Python build) or `top_logits_values` (circuit-atlas features), or leave fields out.
 */
import { readFile, readdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ModelFormatError } from '../errors.js';

export interface DetailExample {
  /** The context's token strings (a window of a corpus sequence). */
  tokens: string[];
  /** The feature's activation at each token of `tokens`. */
  tokens_acts_list: number[];
  /** Index into `tokens` of the position this example was chosen for. */
  train_token_ind: number;
  is_repeated_datapoint?: boolean;
}

export interface DetailQuantile {
  quantile_name: string;
  examples: DetailExample[];
}

export interface FeatureDetail {
  index: number;
  layer?: number;
  /** The writer's own automatic label, when it wrote one (replaced at read time by `labelFeature`). */
  label?: string;
  examples_quantiles: DetailQuantile[];
  /** Token strings, or {token, value} / [token, value] pairs when the writer kept the direct effects. */
  top_logits: unknown[];
  bottom_logits?: unknown[];
  /** The direct effects of `top_logits`, parallel to it, when the writer keeps them beside bare strings. */
  top_logits_values?: number[];
  bottom_logits_values?: number[];
  act_min?: number;
  act_max?: number;
  quantile_values?: number[];
  histogram?: unknown;
  activation_frequency?: number;
}

/** One entry of top_logits / bottom_logits: the token and, when the writer kept it, its direct effect. */
export interface LogitEntry {
  token: string;
  value: number | null;
}

/** The top logits with their direct effects where the writer kept them (in the entries or beside them). */
export function topLogitsOf(detail: FeatureDetail): LogitEntry[] {
  const values = Array.isArray(detail.top_logits_values) ? detail.top_logits_values : [];
  return (detail.top_logits ?? []).map((entry, k) => {
    const read = logitEntryOf(entry);
    return read.value === null && typeof values[k] === 'number' ? { token: read.token, value: values[k] } : read;
  });
}

/** Reads a top/bottom-logits entry in any of the three forms writers use. */
export function logitEntryOf(entry: unknown): LogitEntry {
  if (typeof entry === 'string') return { token: entry, value: null };
  if (Array.isArray(entry)) return { token: String(entry[0]), value: typeof entry[1] === 'number' ? entry[1] : null };
  const object = (entry ?? {}) as { token?: unknown; value?: unknown };
  return { token: String(object.token ?? ''), value: typeof object.value === 'number' ? object.value : null };
}

/** The dashboards of one layer file; throws ModelFormatError naming the file when it is not an array of details. */
export async function readLayerDashboards(file: string): Promise<FeatureDetail[]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new ModelFormatError(`cannot read feature dashboards: ${(error as Error).message}`, file);
  }
  if (!Array.isArray(parsed)) {
    throw new ModelFormatError('feature dashboards must be a JSON array of feature details (one per feature)', file);
  }
  return (parsed as FeatureDetail[]).filter(
    (detail) => detail && typeof detail.index === 'number' && Array.isArray(detail.examples_quantiles),
  );
}

/** Every `layer_{l}.json` of a dashboards folder, by layer; layers without a file are absent. */
export async function readDashboardFolder(dir: string): Promise<Map<number, FeatureDetail[]>> {
  const byLayer = new Map<number, FeatureDetail[]>();
  if (!existsSync(dir)) return byLayer;
  for (const name of (await readdir(dir)).sort()) {
    const match = /^layer_(\d+)\.json$/.exec(name);
    if (match) byLayer.set(Number(match[1]), await readLayerDashboards(path.join(dir, name)));
  }
  return byLayer;
}
