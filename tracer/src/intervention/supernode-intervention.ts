/**
 * Interventions on supernodes ("Biology", §Multi-step reasoning: the Texas → California swap):
 * scale or zero every member feature at its position, or replace a supernode by one from another
 * graph — the members are zeroed and the donor's members are set, at the recipient's position, to
 * the activations recorded in the donor's GraphDocument. Runs through `intervene`, so the result
 * carries the new top predictions.
 */
import type { GraphDocument } from '@circuit-atlas/schema';
import { UserInputError } from '../errors.js';
import type { ReplacementModel } from '../model/replacement-model.js';
import { intervene, type FeatureIntervention, type InterventionResult } from './intervene.js';

/** One member feature of a supernode: where it is and its activation in its graph. */
export interface SupernodeMember {
  layer: number;
  position: number;
  feature: number;
  activation: number;
}

export type SupernodeIntervention =
  | { mode: 'scale'; members: SupernodeMember[]; factor: number }
  | { mode: 'zero'; members: SupernodeMember[] }
  | {
      mode: 'replace';
      members: SupernodeMember[];
      donor: SupernodeMember[];
      /** Multiplies the donor's activations (default 1). */
      factor?: number;
      /** Where the donor's features are set; default the members' position. */
      position?: number;
    };

/** The members of a supernode (feature node ids of `doc`) with their positions and activations. */
export function supernodeMembers(doc: GraphDocument, nodeIds: string[]): SupernodeMember[] {
  const byId = new Map(doc.nodes.map((n) => [n.nodeId, n]));
  return nodeIds.map((id) => {
    const node = byId.get(id);
    if (!node || node.kind !== 'feature' || node.feature === null)
      throw new UserInputError(
        `'${id}' is not a feature node of graph '${doc.id}'; a supernode holds feature nodes only`,
      );
    return { layer: node.layer, position: node.ctxIdx, feature: node.feature, activation: node.activation ?? 0 };
  });
}

/** Feature interventions that carry out the supernode interventions (later ones win on a shared feature). */
export function supernodeFeatureInterventions(interventions: SupernodeIntervention[]): FeatureIntervention[] {
  const byFeature = new Map<string, FeatureIntervention>();
  const put = (iv: FeatureIntervention) => byFeature.set(`${iv.layer}:${iv.position}:${iv.feature}`, iv);
  for (const [i, iv] of interventions.entries()) {
    if (iv.members.length === 0)
      throw new UserInputError(`supernode intervention ${i + 1}: the supernode has no members`);
    if (iv.mode === 'scale') {
      if (!Number.isFinite(iv.factor))
        throw new UserInputError(`supernode intervention ${i + 1}: factor must be a finite number`);
      for (const m of iv.members)
        put({ layer: m.layer, position: m.position, feature: m.feature, mode: 'scale', value: iv.factor });
      continue;
    }
    for (const m of iv.members)
      put({ layer: m.layer, position: m.position, feature: m.feature, mode: 'set', value: 0 });
    if (iv.mode === 'zero') continue;
    const positions = new Set(iv.members.map((m) => m.position));
    const position = iv.position ?? iv.members[0].position;
    if (iv.position === undefined && positions.size > 1)
      throw new UserInputError(
        `supernode intervention ${i + 1}: the supernode spans positions ${[...positions].join(', ')}; say at which position the donor goes`,
      );
    const factor = iv.factor ?? 1;
    if (!Number.isFinite(factor))
      throw new UserInputError(`supernode intervention ${i + 1}: factor must be a finite number`);
    if (iv.donor.length === 0)
      throw new UserInputError(`supernode intervention ${i + 1}: the donor supernode has no members`);
    for (const d of iv.donor)
      put({ layer: d.layer, position, feature: d.feature, mode: 'set', value: d.activation * factor });
  }
  return [...byFeature.values()];
}

/** Applies supernode interventions to `prompt` and returns the top predictions before and after. */
export async function interveneOnSupernodes(
  model: ReplacementModel,
  prompt: string,
  interventions: SupernodeIntervention[],
  options: { frozenAttention?: boolean; topK?: number } = {},
): Promise<InterventionResult> {
  return intervene(model, prompt, supernodeFeatureInterventions(interventions), options);
}
