/** Checks of arguments the SDL's types cannot express (ranges, lengths), with messages that say what to fix. */
import { badUserInput } from './errors.js';
import type { InputLimits } from './context.js';
import type { Api } from '@circuit-atlas/schema';

type FeatureIntervention = Api.FeatureIntervention;
type ViewInput = Api.ViewInput;

export function checkPage(offset: number | null | undefined, limit: number | null | undefined, limits: InputLimits) {
  const page = { offset: offset ?? 0, limit: limit ?? 20 };
  if (!Number.isInteger(page.offset) || page.offset < 0)
    throw badUserInput(`offset must be 0 or more, got ${page.offset}`);
  if (!Number.isInteger(page.limit) || page.limit < 0 || page.limit > limits.maxPageSize) {
    throw badUserInput(`limit must be between 0 and ${limits.maxPageSize}, got ${page.limit}`);
  }
  return page;
}

export function checkPrompt(prompt: string, limits: InputLimits): string {
  if (prompt.trim().length === 0) throw badUserInput('prompt is empty: give the text whose circuit to trace');
  if (prompt.length > limits.maxPromptChars) {
    throw badUserInput(`prompt is ${prompt.length} characters long; the limit is ${limits.maxPromptChars}: shorten it`);
  }
  return prompt;
}

export function checkIntegerRange(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw badUserInput(`${name} must be a whole number from ${min} to ${max}, got ${value}`);
  }
  return value;
}

export function checkText(name: string, value: string, maxLength: number, allowEmpty = false): string {
  const trimmed = value.trim();
  if (!allowEmpty && trimmed.length === 0) throw badUserInput(`${name} is empty`);
  if (value.length > maxLength)
    throw badUserInput(`${name} is ${value.length} characters long; the limit is ${maxLength}`);
  return trimmed;
}

/** Every node a view pins or groups must be in the graph, and there may be at most `maxIds` of them. */
export function checkViewNodes(view: ViewInput, nodes: ReadonlyMap<string, unknown>, maxIds: number): void {
  const ids = [...view.pinnedIds, ...view.supernodes.flatMap((supernode) => supernode.nodeIds)];
  if (ids.length > maxIds) throw badUserInput(`a view may name at most ${maxIds} node ids, got ${ids.length}`);
  const unknown = ids.filter((id) => !nodes.has(id));
  if (unknown.length > 0) {
    const named = unknown.slice(0, 5).map((id) => `'${id}'`);
    throw badUserInput(`graph '${view.graphId}' has no node ${named.join(', ')}`);
  }
}

/** Interventions within the model's layers and features, finite values, the mode defaulting to 'set'. */
export function checkInterventions(
  interventions: readonly FeatureIntervention[],
  model: { nLayers: number; nFeatures: number },
  limits: InputLimits,
) {
  if (interventions.length > limits.maxInterventions) {
    throw badUserInput(`at most ${limits.maxInterventions} interventions at once, got ${interventions.length}`);
  }
  return interventions.map((intervention, i) => {
    checkIntegerRange(`interventions[${i}].layer`, intervention.layer, 0, model.nLayers - 1);
    checkIntegerRange(`interventions[${i}].feature`, intervention.feature, 0, model.nFeatures - 1);
    checkIntegerRange(`interventions[${i}].position`, intervention.position, 0, limits.maxPromptChars);
    if (!Number.isFinite(intervention.value)) throw badUserInput(`interventions[${i}].value must be a finite number`);
    return { ...intervention, mode: intervention.mode ?? 'set' };
  });
}
