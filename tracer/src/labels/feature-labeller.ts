/**
 * A model's feature labels, ready to look up: its dashboards read once, the corpus statistics built
 * once, each feature labelled on first request. `labelDocument` writes the labels into a graph's
 * feature nodes (the graph JSON's `clerp`, the figures' text); a user's own label wins over them.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { GraphDocument } from '@circuit-atlas/schema';
import { readDashboardFolder, type FeatureDetail } from './feature-dashboard.js';
import { DEFAULT_LABEL_PARAMETERS, labelFeature, type FeatureLabels, type LabelParameters } from './feature-labels.js';
import { LabelContext } from './label-context.js';

export class FeatureLabeller {
  private readonly byLayer: Map<number, Map<number, FeatureDetail>>;
  private readonly labels = new Map<string, FeatureLabels>();

  constructor(
    dashboards: Map<number, FeatureDetail[]>,
    readonly context: LabelContext = LabelContext.fromDashboards([...dashboards.values()].flat()),
    private readonly parameters: LabelParameters = DEFAULT_LABEL_PARAMETERS,
  ) {
    this.byLayer = new Map([...dashboards].map(([layer, list]) => [layer, new Map(list.map((d) => [d.index, d]))]));
  }

  /** The labeller of a dashboards folder (`layer_{l}.json` files); null when it holds none. */
  static async fromFolder(dir: string): Promise<FeatureLabeller | null> {
    const dashboards = await readDashboardFolder(dir);
    return dashboards.size > 0 ? new FeatureLabeller(dashboards) : null;
  }

  /**
   * The labeller of a model folder's dashboards (`<model>/dashboards`, else `<transcoders>/dashboards`,
   * where describeModel looks), shared by every caller until a dashboard file changes; null without any.
   */
  static forModel(
    modelDir: string,
    transcodersDir = path.join(modelDir, 'transcoders'),
  ): Promise<FeatureLabeller | null> {
    const dir = [path.join(modelDir, 'dashboards'), path.join(transcodersDir, 'dashboards')].find((d) => existsSync(d));
    if (!dir) return Promise.resolve(null);
    const key = `${path.resolve(dir)}@${folderStamp(dir)}`;
    let labeller = shared.get(key);
    if (!labeller) {
      for (const old of shared.keys()) if (old.startsWith(`${path.resolve(dir)}@`)) shared.delete(old);
      labeller = FeatureLabeller.fromFolder(dir);
      // A failed read is not cached: the next caller tries again (and sees the same error if it persists).
      labeller.catch(() => shared.delete(key));
      shared.set(key, labeller);
    }
    return labeller;
  }

  /** The dashboard of one feature, or null when there is none. */
  dashboard(layer: number, index: number): FeatureDetail | null {
    return this.byLayer.get(layer)?.get(index) ?? null;
  }

  /** The labels of one feature, or null when it has no dashboard. */
  labelsOf(layer: number, index: number): FeatureLabels | null {
    const key = `${layer}/${index}`;
    let labels = this.labels.get(key);
    if (!labels) {
      const dashboard = this.dashboard(layer, index);
      if (!dashboard) return null;
      labels = labelFeature(dashboard, this.context, this.parameters);
      this.labels.set(key, labels);
    }
    return labels;
  }
}

const shared = new Map<string, Promise<FeatureLabeller | null>>();

/** Changes when any layer file of the folder is added, removed or rewritten. */
function folderStamp(dir: string): string {
  try {
    return readdirSync(dir)
      .filter((name) => /^layer_\d+\.json$/.test(name))
      .sort()
      .map((name) => `${name}:${statSync(path.join(dir, name)).mtimeMs}`)
      .join(',');
  } catch {
    return '';
  }
}

/**
 * Writes labels into the document's feature nodes, in place: the user's label when `userLabel` has
 * one, else the automatic label; nodes without a dashboard keep theirs. Returns the document.
 */
export function labelDocument(
  document: GraphDocument,
  labeller: FeatureLabeller | null,
  userLabel: (layer: number, index: number) => string | null | undefined = () => null,
): GraphDocument {
  for (const node of document.nodes) {
    if (node.kind !== 'feature' || node.feature === null) continue;
    const own = userLabel(node.layer, node.feature);
    const label = own || labeller?.labelsOf(node.layer, node.feature)?.label;
    if (label) node.label = label;
  }
  return document;
}
