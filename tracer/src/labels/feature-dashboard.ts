/**
 * A feature dashboard in circuit-tracer's feature-detail format (REFERENCE.md, "Exchange format"):
 * top activating contexts by quantile, top/bottom logits, activation statistics. One JSON array of
 * these per layer, `dashboards/layer_{l}.json`; a writer may add an automatic `label`.
 */
import { readFile, readdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ModelFormatError } from '../errors.js';

export interface DashboardExample {
  /** The context's token strings (a window of a corpus sequence). */
  tokens: string[];
  /** The feature's activation at each token of `tokens`. */
  tokens_acts_list: number[];
  /** Index into `tokens` of the position this example was chosen for. */
  train_token_ind: number;
  is_repeated_datapoint?: boolean;
}

export interface DashboardQuantile {
  quantile_name: string;
  examples: DashboardExample[];
}

export interface FeatureDashboard {
  index: number;
  layer?: number;
  /** The writer's own automatic label, when it wrote one (replaced at read time by `labelFeature`). */
  label?: string;
  examples_quantiles: DashboardQuantile[];
  /** Token strings, or {token, value} / [token, value] pairs when the writer kept the direct effects. */
  top_logits: unknown[];
  bottom_logits?: unknown[];
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

/** Reads a top/bottom-logits entry in any of the three forms writers use. */
export function logitEntryOf(entry: unknown): LogitEntry {
  if (typeof entry === 'string') return { token: entry, value: null };
  if (Array.isArray(entry)) return { token: String(entry[0]), value: typeof entry[1] === 'number' ? entry[1] : null };
  const object = (entry ?? {}) as { token?: unknown; value?: unknown };
  return { token: String(object.token ?? ''), value: typeof object.value === 'number' ? object.value : null };
}

/** The dashboards of one layer file; throws ModelFormatError naming the file when it is not an array of details. */
export async function readLayerDashboards(file: string): Promise<FeatureDashboard[]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new ModelFormatError(`cannot read feature dashboards: ${(error as Error).message}`, file);
  }
  if (!Array.isArray(parsed)) {
    throw new ModelFormatError('feature dashboards must be a JSON array of feature details (one per feature)', file);
  }
  return (parsed as FeatureDashboard[]).filter(
    (detail) => detail && typeof detail.index === 'number' && Array.isArray(detail.examples_quantiles),
  );
}

/** Every `layer_{l}.json` of a dashboards folder, by layer; layers without a file are absent. */
export async function readDashboardFolder(dir: string): Promise<Map<number, FeatureDashboard[]>> {
  const byLayer = new Map<number, FeatureDashboard[]>();
  if (!existsSync(dir)) return byLayer;
  for (const name of (await readdir(dir)).sort()) {
    const match = /^layer_(\d+)\.json$/.exec(name);
    if (match) byLayer.set(Number(match[1]), await readLayerDashboards(path.join(dir, name)));
  }
  return byLayer;
}
