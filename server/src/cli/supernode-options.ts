/**
 * The `intervene` command's supernode flags: --graph names the prompt's graph JSON, whose
 * `qParams.supernodes` (or, when it has none, automatic supernodes from the model's dashboards)
 * are addressed by label; --replace-supernode takes the donor from --donor-graph's supernodes.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { UserInputError } from '@circuit-atlas/schema';
import type {
  FeatureIntervention,
  GraphDocument,
  ReplacementModel,
  Supernode,
  SupernodeIntervention,
} from '@circuit-atlas/tracer';

export const supernodeUsage = `  --graph <file.json>    the prompt's graph JSON; its qParams.supernodes (automatic ones when
                         it has none) are what the flags below name, by label
  --zero-supernode L     set every member of supernode L to 0 (repeatable)
  --scale-supernode L=x  multiply every member of supernode L by x (repeatable)
  --replace-supernode L=D  zero supernode L and set the members of supernode D of
                         --donor-graph at L's position to their donor activations (× --donor-scale)
  --donor-graph <file.json>  graph JSON of the donor prompt (e.g. a city in another state)
  --donor-scale x        multiplies the donor's activations (default 1)
`;

export const supernodeOptions = {
  graph: { type: 'string' },
  'zero-supernode': { type: 'string', multiple: true },
  'scale-supernode': { type: 'string', multiple: true },
  'replace-supernode': { type: 'string', multiple: true },
  'donor-graph': { type: 'string' },
  'donor-scale': { type: 'string' },
} as const;

interface SupernodeValues {
  model?: string;
  graph?: string;
  'zero-supernode'?: string[];
  'scale-supernode'?: string[];
  'replace-supernode'?: string[];
  'donor-graph'?: string;
  'donor-scale'?: string;
}

/** A graph JSON file as written: its document, and the supernodes of its qParams (empty when none). */
export async function readGraphJson(file: string): Promise<{
  json: { qParams?: { supernodes?: string[][] } };
  doc: GraphDocument;
  stored: string[][];
}> {
  const tracer = await import('@circuit-atlas/tracer');
  let json: { qParams?: { supernodes?: string[][] } };
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new UserInputError(`cannot read graph JSON ${file}: ${(error as Error).message}`);
  }
  return { json, doc: tracer.fromGraphJson(json), stored: json.qParams?.supernodes ?? [] };
}

async function graphWithSupernodes(
  file: string,
  modelDir: string,
): Promise<{ doc: GraphDocument; supernodes: Supernode[] }> {
  const tracer = await import('@circuit-atlas/tracer');
  const { doc, stored } = await readGraphJson(file);
  if (stored.length > 0) return { doc, supernodes: tracer.supernodesFromQParams(doc, stored) };
  const labels = await tracer.dashboardLabels(path.join(modelDir, 'dashboards'), doc.nLayers);
  return { doc, supernodes: tracer.findSupernodes(doc, labels) };
}

function byLabel(supernodes: Supernode[], label: string, file: string): Supernode {
  const found = supernodes.filter((s) => s.label === label);
  if (found.length === 1) return found[0];
  const choices = supernodes.map((s) => JSON.stringify(s.label)).join(', ');
  throw new UserInputError(
    found.length === 0
      ? `no supernode labelled '${label}' in ${file}; its supernodes are ${choices}`
      : `${found.length} supernodes are labelled '${label}' in ${file}; rename them in qParams.supernodes so that labels are unique`,
  );
}

function splitAt(spec: string, flag: string, what: string): [string, string] {
  const at = spec.lastIndexOf('=');
  if (at <= 0) throw new UserInputError(`--${flag} '${spec}' must look like LABEL=${what}`);
  return [spec.slice(0, at), spec.slice(at + 1)];
}

/** The feature interventions the supernode flags ask for (none when no supernode flag is given). */
export async function supernodeFeatureInterventionsFrom(
  values: SupernodeValues,
  prompt: string,
): Promise<FeatureIntervention[]> {
  const zero = values['zero-supernode'] ?? [];
  const scale = values['scale-supernode'] ?? [];
  const replace = values['replace-supernode'] ?? [];
  if (zero.length + scale.length + replace.length === 0) return [];
  if (!values.graph) throw new UserInputError(`supernode flags need --graph <file.json>, the graph of this prompt`);
  const tracer = await import('@circuit-atlas/tracer');
  const modelDir = String(values.model);
  const { doc, supernodes } = await graphWithSupernodes(values.graph, modelDir);
  if (doc.prompt !== prompt)
    throw new UserInputError(`--graph ${values.graph} was traced on ${JSON.stringify(doc.prompt)}, not on this prompt`);
  const members = (label: string) => tracer.supernodeMembers(doc, byLabel(supernodes, label, values.graph!).members);
  const interventions: SupernodeIntervention[] = [
    ...zero.map((label): SupernodeIntervention => ({ mode: 'zero', members: members(label) })),
    ...scale.map((spec): SupernodeIntervention => {
      const [label, x] = splitAt(spec, 'scale-supernode', 'FACTOR');
      const factor = Number(x);
      if (x.trim() === '' || !Number.isFinite(factor))
        throw new UserInputError(`--scale-supernode '${spec}': '${x}' is not a number`);
      return { mode: 'scale', members: members(label), factor };
    }),
  ];
  if (replace.length > 0) {
    if (!values['donor-graph']) throw new UserInputError(`--replace-supernode needs --donor-graph <file.json>`);
    const donor = await graphWithSupernodes(values['donor-graph'], modelDir);
    const factor = values['donor-scale'] === undefined ? 1 : Number(values['donor-scale']);
    if (!Number.isFinite(factor)) throw new UserInputError(`--donor-scale '${values['donor-scale']}' is not a number`);
    for (const spec of replace) {
      const [label, donorLabel] = splitAt(spec, 'replace-supernode', 'DONOR_LABEL');
      interventions.push({
        mode: 'replace',
        members: members(label),
        donor: tracer.supernodeMembers(donor.doc, byLabel(donor.supernodes, donorLabel, values['donor-graph']).members),
        factor,
      });
    }
  }
  return tracer.supernodeFeatureInterventions(interventions);
}

/**
 * Automatic supernodes of a graph as `qParams.supernodes`, named from `<modelDir>/dashboards`: member
 * labels, then (with the model) the contexts where each group fires.
 */
export async function automaticSupernodes(
  document: GraphDocument,
  modelDir: string,
  model: ReplacementModel | null,
): Promise<string[][]> {
  const tracer = await import('@circuit-atlas/tracer');
  const dashboards = path.join(modelDir, 'dashboards');
  const found = tracer.findSupernodes(document, await tracer.dashboardLabels(dashboards, document.nLayers));
  const index = model ? await tracer.dashboardContextIndex(dashboards, model) : null;
  if (!index || index.contexts.length === 0) return tracer.supernodesToQParams(found);
  return tracer.supernodesToQParams(tracer.renameFromContexts(document, found, index));
}
