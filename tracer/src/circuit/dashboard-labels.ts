/**
 * Feature labels for supernodes, read from a model's feature dashboards (`<dir>/layer_{l}.json`,
 * circuit-tracer's feature-detail format).
 *  - Input and output labels with their confidences: the tracer's generic labels (labels/,
 *    `FeatureLabeller`); "say X" becomes the output text X.
 *  - Contexts: for each token of the feature's examples, the share of the examples' activation (at
 *    their activating position) in contexts that hold it, times the token's rarity over all the
 *    dashboards' example contexts, min(1, ln(N / df) / ln(RARE_FACTOR)) (N features, df features
 *    whose contexts hold the token): "is" (in nearly every context) is ~0, a token in ≤ 1/20 is 1.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { GraphNode } from '@circuit-atlas/schema';
import { ModelFormatError } from '../errors.js';
import { FeatureLabeller } from '../labels/feature-labeller.js';
import type { FeatureLabelLookup, MemberLabels } from './supernodes.js';

/** A token in 1/RARE_FACTOR of all feature contexts or fewer gets full confidence. */
const RARE_FACTOR = 20;

interface DashboardExample {
  tokens: string[];
  tokens_acts_list: number[];
  train_token_ind: number;
}

interface DashboardEntry {
  index: number;
  label?: string;
  examples_quantiles?: { examples?: DashboardExample[] }[];
}

function examplesOf(entry: DashboardEntry): DashboardExample[] {
  return (entry.examples_quantiles ?? []).flatMap((q) => q.examples ?? []).filter((e) => Array.isArray(e?.tokens));
}

async function readLayer(file: string): Promise<DashboardEntry[] | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return null; // a layer without dashboards: its features have no label
  }
  let entries: unknown;
  try {
    entries = JSON.parse(text);
  } catch (error) {
    throw new ModelFormatError(`dashboard file is not valid JSON: ${(error as Error).message}`, file);
  }
  if (!Array.isArray(entries))
    throw new ModelFormatError(`dashboard file must hold a JSON array of feature details`, file);
  return entries as DashboardEntry[];
}

/** Labels of every dashboard feature in `dashboardsDir` (layers 0..nLayers-1; missing layers give none). */
export async function dashboardLabels(dashboardsDir: string, nLayers: number): Promise<FeatureLabelLookup> {
  const layers: (DashboardEntry[] | null)[] = [];
  for (let layer = 0; layer < nLayers; layer++)
    layers.push(await readLayer(path.join(dashboardsDir, `layer_${layer}.json`)));
  const documentFrequency = new Map<string, number>();
  let nFeatures = 0;
  for (const entries of layers) {
    for (const entry of entries ?? []) {
      nFeatures++;
      for (const token of new Set(examplesOf(entry).flatMap((e) => e.tokens)))
        documentFrequency.set(token, (documentFrequency.get(token) ?? 0) + 1);
    }
  }
  const rarity = (token: string) =>
    Math.min(
      1,
      Math.max(0, Math.log(nFeatures / Math.max(1, documentFrequency.get(token) ?? 1)) / Math.log(RARE_FACTOR)),
    );

  const labeller = await FeatureLabeller.fromFolder(dashboardsDir);
  const byLayer = layers.map((entries, layerIndex) => {
    const map = new Map<number, MemberLabels>();
    for (const entry of entries ?? []) {
      if (typeof entry?.index !== 'number') continue;
      const contexts = new Map<string, number>();
      let total = 0;
      for (const example of examplesOf(entry)) {
        const act = Math.max(0, example.tokens_acts_list?.[example.train_token_ind] ?? 0);
        total += act;
        for (const token of new Set(example.tokens)) contexts.set(token, (contexts.get(token) ?? 0) + act);
      }
      for (const [token, act] of contexts) {
        const weight = total > 0 ? (act / total) * rarity(token) : 0;
        if (weight > 0) contexts.set(token, weight);
        else contexts.delete(token);
      }
      const generic = labeller?.labelsOf(layerIndex, entry.index) ?? null;
      const output = generic?.output ? { ...generic.output, text: generic.output.text.replace(/^say\s+/, '') } : null;
      const labels: MemberLabels = { input: generic?.input ?? null, output, contexts };
      map.set(entry.index, labels);
    }
    return map;
  });
  return (node: GraphNode) =>
    node.kind === 'feature' && node.feature !== null ? (byLayer[node.layer]?.get(node.feature) ?? null) : null;
}
