/**
 * Interventions on features (circuit-tracer `feature_intervention`): set or scale a feature's
 * activation at a position; the difference from its current activation times its decoder vector is
 * added at the MLP output (and, for cross-layer transcoders, at every later layer it writes to).
 * Attention patterns are frozen at the clean run by default (`frozenAttention`), norms and MLPs
 * stay live, so effects propagate through later features. Also greedy generation with interventions.
 */
import { UserInputError } from '../errors.js';
import { ensureTokenized } from '../attribution/attribute.js';
import {
  encodeLayer,
  runForward,
  type ForwardOptions,
  type FrozenState,
  type ReplacementModel,
} from '../model/replacement-model.js';

export interface FeatureIntervention {
  layer: number;
  position: number;
  feature: number;
  /** 'set': the activation becomes `value`; 'scale': it is multiplied by `value`. */
  mode: 'set' | 'scale';
  value: number;
}

export interface LogitProb {
  tokenId: number;
  token: string;
  probability: number;
  logit: number;
}

export interface ActivationChange {
  layer: number;
  position: number;
  feature: number;
  before: number;
  after: number;
}

export interface InterventionResult {
  tokens: string[];
  before: LogitProb[];
  after: LogitProb[];
  /** The intervened features, then the largest other changes in activation (up to 20), largest first. */
  activations: ActivationChange[];
}

function validate(model: ReplacementModel, nPos: number, interventions: FeatureIntervention[]): void {
  for (const [i, iv] of interventions.entries()) {
    const where = `intervention ${i + 1}`;
    if (!Number.isInteger(iv.layer) || iv.layer < 0 || iv.layer >= model.nLayers) {
      throw new UserInputError(
        `${where}: layer ${iv.layer} is out of range; the model has layers 0..${model.nLayers - 1}`,
      );
    }
    if (!Number.isInteger(iv.position) || iv.position < 0 || iv.position >= nPos) {
      throw new UserInputError(
        `${where}: position ${iv.position} is out of range; the prompt has positions 0..${nPos - 1} (BOS is 0)`,
      );
    }
    if (!Number.isInteger(iv.feature) || iv.feature < 0 || iv.feature >= model.nFeatures) {
      throw new UserInputError(
        `${where}: feature ${iv.feature} is out of range; each layer has features 0..${model.nFeatures - 1}`,
      );
    }
    if (iv.mode !== 'set' && iv.mode !== 'scale')
      throw new UserInputError(`${where}: mode must be 'set' or 'scale', got '${String(iv.mode)}'`);
    if (!Number.isFinite(iv.value)) throw new UserInputError(`${where}: value must be a finite number`);
  }
}

/**
 * The MLP-output hook that applies interventions: recomputes the layer's activations from its
 * current input, and adds (new − current) · W_dec of each intervened feature. Records activations.
 */
function interventionHook(
  model: ReplacementModel,
  nPos: number,
  interventions: FeatureIntervention[],
  record: Float32Array[],
): NonNullable<ForwardOptions['mlpOut']> {
  const d = model.dModel;
  const F = model.nFeatures;
  const pendingDelta = Array.from({ length: model.nLayers }, () => new Float32Array(nPos * d)); // decoder writes into layer ℓ
  return async (layer, mlpIn, mlpOut) => {
    const { acts } = await encodeLayer(model, layer, mlpIn.data.subarray(0, nPos * d), 1, nPos); // [T, F]
    acts.fill(0, 0, F); // position 0 counts as inactive, as in the reference (its zero_positions)
    const t = model.transcoders.layers[layer];
    for (const iv of interventions) {
      if (iv.layer !== layer) continue;
      const current = acts[iv.position * F + iv.feature];
      const next = iv.mode === 'set' ? iv.value : current * iv.value;
      acts[iv.position * F + iv.feature] = next;
      const decoderRow = t.wDec.row(iv.feature); // [nOutputLayers · d]
      for (let out = 0; out < t.nOutputLayers; out++) {
        const dec = decoderRow.subarray(out * d, (out + 1) * d);
        const delta = pendingDelta[layer + out];
        for (let i = 0; i < d; i++) delta[iv.position * d + i] += (next - current) * dec[i];
      }
    }
    record[layer] = acts;
    const y = mlpOut.data.slice(0, nPos * d);
    const delta = pendingDelta[layer];
    for (let i = 0; i < y.length; i++) y[i] += delta[i];
    return y;
  };
}

function topLogits(model: ReplacementModel, logits: Float32Array, nPos: number, k: number): LogitProb[] {
  const V = model.vocabSize;
  const last = logits.subarray((nPos - 1) * V, nPos * V);
  let max = -Infinity;
  for (const v of last) max = Math.max(max, v);
  let sum = 0;
  for (const v of last) sum += Math.exp(v - max);
  const order = Array.from({ length: V }, (_, i) => i).sort((a, b) => last[b] - last[a] || a - b);
  return order.slice(0, k).map((tokenId) => ({
    tokenId,
    token: model.tokenizer.tokenString(tokenId),
    probability: Math.exp(last[tokenId] - max) / sum,
    logit: last[tokenId],
  }));
}

export async function intervene(
  model: ReplacementModel,
  prompt: string,
  interventions: FeatureIntervention[],
  options: { frozenAttention?: boolean; topK?: number } = {},
): Promise<InterventionResult> {
  const tokenIds = ensureTokenized(model, prompt);
  const T = tokenIds.length;
  validate(model, T, interventions);
  const topK = options.topK ?? 10;
  const cleanActs: Float32Array[] = [];
  const clean = await runForward(model, tokenIds, { mlpOut: interventionHook(model, T, [], cleanActs) });
  const newActs: Float32Array[] = [];
  const frozen: FrozenState = clean.frozen;
  const after = await runForward(model, tokenIds, {
    frozen: options.frozenAttention === false ? undefined : { state: frozen, patterns: true, scales: false },
    mlpOut: interventionHook(model, T, interventions, newActs),
  });
  const F = model.nFeatures;
  const intervened = new Set(interventions.map((iv) => `${iv.layer}:${iv.position}:${iv.feature}`));
  const activations: ActivationChange[] = interventions.map((iv) => ({
    layer: iv.layer,
    position: iv.position,
    feature: iv.feature,
    before: cleanActs[iv.layer][iv.position * F + iv.feature],
    after: newActs[iv.layer][iv.position * F + iv.feature],
  }));
  const changes: ActivationChange[] = [];
  for (let layer = 0; layer < model.nLayers; layer++) {
    for (let pos = 1; pos < T; pos++) {
      for (let f = 0; f < F; f++) {
        const before = cleanActs[layer][pos * F + f];
        const afterValue = newActs[layer][pos * F + f];
        if (before !== afterValue && !intervened.has(`${layer}:${pos}:${f}`))
          changes.push({ layer, position: pos, feature: f, before, after: afterValue });
      }
    }
  }
  changes.sort((a, b) => Math.abs(b.after - b.before) - Math.abs(a.after - a.before));
  return {
    tokens: tokenIds.map((id) => model.tokenizer.tokenString(id)),
    before: topLogits(model, clean.logits, T, topK),
    after: topLogits(model, after.logits, T, topK),
    activations: [...activations, ...changes.slice(0, 20)],
  };
}

/** Greedy continuation of `maxNewTokens` tokens, with the interventions applied at their prompt positions. */
export async function generate(
  model: ReplacementModel,
  prompt: string,
  maxNewTokens: number,
  interventions: FeatureIntervention[] = [],
): Promise<{ tokens: string[]; text: string }> {
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0)
    throw new UserInputError(`maxNewTokens must be a non-negative integer, got ${maxNewTokens}`);
  const ids = ensureTokenized(model, prompt);
  validate(model, ids.length, interventions);
  const generated: number[] = [];
  for (let step = 0; step < maxNewTokens && ids.length < model.config.maxPositions; step++) {
    const T = ids.length;
    const run = await runForward(model, ids, {
      mlpOut: interventions.length > 0 ? interventionHook(model, T, interventions, []) : undefined,
    });
    const next = topLogits(model, run.logits, T, 1)[0].tokenId;
    ids.push(next);
    generated.push(next);
    if (next === model.config.eosTokenId) break;
  }
  return { tokens: generated.map((id) => model.tokenizer.tokenString(id)), text: model.tokenizer.decode(generated) };
}
