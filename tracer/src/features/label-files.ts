/**
 * Writes each feature's automatic label into the dashboard files of a folder (the `label` field the
 * Python build wrote and raw-file readers use), from the generic labeller of labels/ over every
 * layer file of the folder: its corpus statistics span all layers, so all files are relabelled.
 * Each file is rewritten atomically. Reads the whole folder: meant for models of demo size.
 */
import path from 'node:path';
import { readDashboardFolder } from '../labels/feature-dashboard.js';
import { FeatureLabeller } from '../labels/feature-labeller.js';
import { writeLayerFile } from './dashboard.js';

/** Labels every feature of every `layer_{l}.json` in `dir`; returns how many features were labelled. */
export async function writeAutomaticLabels(dir: string): Promise<number> {
  const dashboards = await readDashboardFolder(dir);
  const labeller = new FeatureLabeller(dashboards);
  let labelled = 0;
  for (const [layer, details] of dashboards) {
    await writeLayerFile(
      path.join(dir, `layer_${layer}.json`),
      (async function* () {
        for (const { index, layer: own, label: _old, ...rest } of details) {
          const label = labeller.labelsOf(layer, index)?.label;
          labelled++;
          // `label` right after index and layer, where the Python build put it.
          yield { index, layer: own ?? layer, label, ...rest } as never;
        }
      })(),
    );
  }
  return labelled;
}
