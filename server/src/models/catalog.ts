/**
 * The models the server can trace with: every folder under ATLAS_MODELS (default ./models) that
 * holds a Hugging Face `config.json`. Descriptions come from the tracer's `describeModel` (config
 * files only, no weights); feature dashboards from `<model>/dashboards/layer_{l}.json`, an array of
 * the reference's feature detail objects keyed by `index` (REFERENCE.md, "Exchange format").
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { FeatureLabels, ModelDescription } from '@circuit-atlas/tracer';

export interface ModelEntry extends ModelDescription {
  /** Folder name under the models root: the id a trace names. */
  id: string;
  dir: string;
}

export interface DashboardExample {
  tokens: string[];
  tokens_acts_list: number[];
  train_token_ind: number;
  is_repeated_datapoint?: boolean;
}

/** One feature's detail, as the reference's viewers read it (plus an optional automatic `label`). */
export interface FeatureDetail {
  index: number;
  examples_quantiles: { quantile_name: string; examples: DashboardExample[] }[];
  /** Token strings, or {token, value} / [token, value] pairs when the writer kept the effect sizes. */
  top_logits: unknown[];
  bottom_logits: unknown[];
  act_min: number;
  act_max: number;
  quantile_values?: number[];
  histogram?: unknown;
  activation_frequency: number;
  label?: string;
  /** What the feature reads and says, with confidences (set by `featureDetail`). */
  autoLabels?: FeatureLabels;
}

/** The model the demo and a trace without a model use, when it is there. */
export const DEMO_MODEL_ID = 'atlas-world';

/** Descriptions are re-read at most this often, so a model copied in while serving shows up. */
const DESCRIBE_TTL_MS = 10_000;

export class ModelCatalog {
  readonly root: string;
  private described: { at: number; entries: ModelEntry[] } | null = null;
  /** Per model dir and layer: the dashboard objects by feature index (files are read once). */
  private readonly dashboards = new Map<string, Promise<Map<number, FeatureDetail> | null>>();

  constructor(root: string) {
    this.root = resolve(root);
  }

  static fromEnv(env: NodeJS.ProcessEnv = process.env): ModelCatalog {
    return new ModelCatalog(env.ATLAS_MODELS ?? join(process.cwd(), 'models'));
  }

  /** Every model folder that describes cleanly; broken folders are reported on stderr and skipped. */
  async list(): Promise<ModelEntry[]> {
    if (this.described && Date.now() - this.described.at < DESCRIBE_TTL_MS) return this.described.entries;
    const folders = existsSync(this.root)
      ? readdirSync(this.root)
          // existsSync follows symlinks: a model folder may be a link to a checkpoint elsewhere.
          .filter((name) => existsSync(join(this.root, name, 'config.json')))
          .sort()
      : [];
    const entries: ModelEntry[] = [];
    if (folders.length > 0) await this.describeInto(folders, entries);
    this.described = { at: Date.now(), entries };
    return entries;
  }

  private async describeInto(folders: string[], entries: ModelEntry[]): Promise<void> {
    // Loaded on first use: the tracer brings ONNX Runtime, which a server that never traces need not load.
    const { describeModel } = await import('@circuit-atlas/tracer');
    for (const id of folders) {
      const dir = join(this.root, id);
      try {
        const description = await describeModel(dir);
        entries.push({ id, dir, ...description, hasDashboards: existsSync(join(dir, 'dashboards')) });
      } catch (error) {
        process.stderr.write(`circuit-atlas: skipping model folder ${dir}: ${(error as Error).message}\n`);
      }
    }
  }

  /** A model by folder id, or by its model name (a graph's `model`); null when there is none. */
  async find(idOrName: string): Promise<ModelEntry | null> {
    const entries = await this.list();
    return entries.find((entry) => entry.id === idOrName) ?? entries.find((entry) => entry.name === idOrName) ?? null;
  }

  /** The demo model when present, else the first model; null when the folder holds none. */
  async defaultModel(): Promise<ModelEntry | null> {
    const entries = await this.list();
    return entries.find((entry) => entry.id === DEMO_MODEL_ID) ?? entries[0] ?? null;
  }

  /**
   * The dashboard of one feature; null when the model has no dashboard file or entry for it. Its
   * `label` and `autoLabels` are the tracer's labels computed from all the model's dashboards (the
   * file's own `label`, if any, is replaced).
   */
  async featureDetail(modelDir: string, layer: number, index: number): Promise<FeatureDetail | null> {
    const byIndex = await this.layerDashboards(modelDir, layer);
    const detail = byIndex?.get(index) ?? null;
    if (!detail) return null;
    const { FeatureLabeller } = await import('@circuit-atlas/tracer');
    const labels = (await FeatureLabeller.forModel(modelDir))?.labelsOf(layer, index) ?? null;
    return labels ? { ...detail, label: labels.label, autoLabels: labels } : detail;
  }

  private layerDashboards(dir: string, layer: number): Promise<Map<number, FeatureDetail> | null> {
    const file = join(dir, 'dashboards', `layer_${layer}.json`);
    const key = `${file}@${existsSync(file) ? statSync(file).mtimeMs : 0}`;
    let loaded = this.dashboards.get(key);
    if (!loaded) {
      loaded = readDashboardFile(file);
      this.dashboards.set(key, loaded);
    }
    return loaded;
  }
}

async function readDashboardFile(file: string): Promise<Map<number, FeatureDetail> | null> {
  if (!existsSync(file)) return null;
  const parsed: unknown = JSON.parse(await readFile(file, 'utf8'));
  const details = Array.isArray(parsed) ? parsed : null;
  if (!details) {
    process.stderr.write(`circuit-atlas: ${file} is not a JSON array of feature details; ignoring it\n`);
    return null;
  }
  const byIndex = new Map<number, FeatureDetail>();
  for (const detail of details as FeatureDetail[]) {
    if (detail && typeof detail.index === 'number') byIndex.set(detail.index, detail);
  }
  return byIndex;
}
