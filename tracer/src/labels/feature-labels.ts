/**
 * Feature labels from dashboards: what a feature reads (input) and what it says (output), each with a
 * confidence in [0, 1], measured against corpus statistics (`LabelContext`) taken from the dashboards
 * themselves. Nothing here knows the model's subject matter; there is no stop-word list — a label
 * like "is" or "the" comes out weak because such tokens are everywhere (their lift is near 1).
 *
 * Examples: every example of every quantile, each weighted by the square of its activation at the
 * chosen position relative to the strongest (w_e = (a_e / max a)²): the top contexts speak loudest,
 * the lower quantiles still count.
 *
 * Input label (the model is causal, so only the activating token and what precedes it are read):
 * 1. Each example reads units r with weights ρ: the unit at the activating position (ρ = 1; a
 *    phrase such as "Twin Falls" when the token is part of one) and the `leftWindow` units before it
 *    (ρ = leftDecay^d at distance d).
 * 2. A candidate t is supported by example e as s_e(t) = max_r ρ_r · (r = t ? 1 : spec(r) · A(r, t)):
 *    directly, or through an associate of what was read (a feature firing on Dallas, Houston and
 *    El Paso reads "Texas", the unit those cities share). spec(r) = clamp(−ln b(r) / ln strongLift,
 *    0, 1) keeps function words from passing on associations (below 0.2 they pass on none).
 * 3. Coverage c(t) = Σ w_e s_e(t) / Σ w_e; lift L(t) = c(t) / b(t).
 *    confidence(t) = c(t) · spec_c(t), spec_c(t) = clamp(ln L / ln strongLift, 0, 1).
 *    The label is the most confident candidate (ties: the larger c · ln L, the more specific).
 *
 * Output label ("say X"):
 * - next-token evidence: the unit right after the activating position (after the whole name, when
 *   the feature fires inside one), e_next(t) = c_next · spec_c(t);
 * - logit evidence: with effect sizes (in top_logits or top_logits_values), the softmax share of
 *   act_max · value among the listed tokens; with bare token strings (the reference's format), rank weights
 *   `logitPrior / (rank + 1)`; either times spec(t) = clamp(−ln b(t) / ln strongLift, 0, 1), so a
 *   large direct effect on a token found everywhere ("the", "of") does not make a confident "say the";
 * - confidence = 1 − (1 − e_next)(1 − e_logit) (either can say it; agreement says it louder).
 *
 * `label` is the more confident of the two ("Texas", "say Austin"); `weak` when its confidence is
 * below `weakBelow`, and then the label is written in parentheses ("(is)") wherever it is shown.
 */
import { displayToken, isWordToken, type ContextToken, type LabelContext, type UnitSpan } from './label-context.js';
import { topLogitsOf, type DetailExample, type FeatureDetail } from './feature-dashboard.js';

export interface LabelPart {
  text: string;
  /** 0 (no evidence) … 1 (one specific unit covers every top context). */
  confidence: number;
}

export interface FeatureLabels {
  /** What the feature reads: the dominant unit of, or shared associate of, its activating contexts. */
  input: LabelPart;
  /** What it says: "say X"; null when the dashboard has no next tokens and no top logits. */
  output: LabelPart | null;
  /** The label to show: the more confident part, in parentheses when weak. */
  label: string;
  weak: boolean;
}

export interface LabelParameters {
  /** Units before the activating one that count as read. */
  leftWindow: number;
  /** Weight of a read unit per step of distance from the activating position. */
  leftDecay: number;
  /** Lift (coverage / corpus share) at which a unit counts as fully specific. */
  strongLift: number;
  /** Evidence weight of the first of bare top-logit tokens (rank k gets prior / (k + 1)). */
  logitPrior: number;
  /** Confidence below which a label is weak. */
  weakBelow: number;
}

export const DEFAULT_LABEL_PARAMETERS: LabelParameters = {
  leftWindow: 3,
  leftDecay: 0.5,
  strongLift: 50,
  logitPrior: 0.3,
  weakBelow: 0.5,
};

/** Read units less specific than this pass on no associations (and are not worth the lookup). */
const MIN_PASSING_SPECIFICITY = 0.2;

interface WeightedExample {
  tokens: ContextToken[];
  index: number;
  weight: number;
}

/** The labels of one feature, from its dashboard and the model's corpus statistics. */
export function labelFeature(
  dashboard: FeatureDetail,
  context: LabelContext,
  parameters: Partial<LabelParameters> = {},
): FeatureLabels {
  const p = { ...DEFAULT_LABEL_PARAMETERS, ...parameters };
  const examples = weightedExamples(dashboard, context);
  const input = inputLabel(examples, context, p);
  const output = outputLabel(dashboard, examples, context, p);
  const primary = output && output.confidence > input.confidence ? output : input;
  const weak = primary.confidence < p.weakBelow;
  return { input, output, label: weak ? `(${primary.text})` : primary.text, weak };
}

/** Labels for every dashboard of a model, keyed `${layer}/${index}` by the caller's layer numbers. */
export function labelFeatures(
  byLayer: Map<number, FeatureDetail[]>,
  context: LabelContext,
  parameters: Partial<LabelParameters> = {},
): Map<string, FeatureLabels> {
  const labels = new Map<string, FeatureLabels>();
  for (const [layer, dashboards] of byLayer) {
    for (const dashboard of dashboards)
      labels.set(`${layer}/${dashboard.index}`, labelFeature(dashboard, context, parameters));
  }
  return labels;
}

/** A context read at one position, with its weight (a feature's activation, a group's match). */
export interface ReadExample {
  tokens: string[];
  index: number;
  weight: number;
}

/**
 * The input label of any set of weighted contexts (a supernode's best-matching ones, say), by the same
 * rule as a feature's, without the units in `exclude`: what the contexts read *beyond* those (a group
 * firing on the prompt's own "Omaha" is named by what "Omaha" stands with in the corpus).
 */
export function readingLabel(
  examples: ReadExample[],
  context: LabelContext,
  exclude: ReadonlySet<string> = new Set(),
  parameters: Partial<LabelParameters> = {},
): LabelPart {
  const p = { ...DEFAULT_LABEL_PARAMETERS, ...parameters };
  const weighted = examples
    .map((e) => ({ tokens: context.tokensOf(e), index: e.index, weight: e.weight }))
    .filter((e) => e.weight > 0 && e.index >= 0 && e.index < e.tokens.length && e.tokens[e.index] !== null);
  return inputLabel(weighted, context, p, exclude);
}

function weightedExamples(dashboard: FeatureDetail, context: LabelContext): WeightedExample[] {
  const seen = new Set<string>();
  const raw: { example: DetailExample; activation: number }[] = [];
  for (const quantile of dashboard.examples_quantiles ?? []) {
    for (const example of quantile.examples ?? []) {
      const index = example.train_token_ind;
      if (!Number.isInteger(index) || index < 0 || index >= example.tokens.length) continue;
      const key = `${index}\u0000${example.tokens.join('\u0000')}`;
      if (seen.has(key)) continue;
      seen.add(key);
      raw.push({ example, activation: Math.max(0, example.tokens_acts_list?.[index] ?? 0) });
    }
  }
  const max = Math.max(0, ...raw.map((r) => r.activation));
  return raw
    .map(({ example, activation }) => ({
      tokens: context.tokensOf(example),
      index: example.train_token_ind,
      // Without activations (a writer that left them out) every example counts the same.
      weight: max > 0 ? (activation / max) ** 2 : 1,
    }))
    .filter((e) => e.weight > 0 && e.tokens[e.index] !== null);
}

/** clamp(ln(lift) / ln(strongLift), 0, 1): how far a unit stands out from the corpus. */
function specificity(coverage: number, baseline: number, strongLift: number): number {
  if (coverage <= 0) return 0;
  return Math.min(1, Math.max(0, Math.log(coverage / baseline) / Math.log(strongLift)));
}

function inputLabel(
  examples: WeightedExample[],
  context: LabelContext,
  p: LabelParameters,
  exclude: ReadonlySet<string> = new Set(),
): LabelPart {
  const support = new Map<string, number>();
  let total = 0;
  for (const e of examples) {
    total += e.weight;
    const read: { unit: UnitSpan; weight: number }[] = [];
    const at = context.unitAt(e.tokens, e.index);
    if (!at) continue;
    read.push({ unit: at, weight: 1 });
    let cursor = at.start - 1;
    for (let d = 1; d <= p.leftWindow && cursor >= 0; d++) {
      const unit = context.unitAt(e.tokens, cursor);
      if (!unit) break; // the start of the sequence (BOS)
      read.push({ unit: { ...unit, end: Math.min(unit.end, at.start) }, weight: p.leftDecay ** d });
      cursor = unit.start - 1;
    }
    const best = new Map<string, number>();
    const offer = (text: string, s: number): void => {
      if (s > (best.get(text) ?? 0)) best.set(text, s);
    };
    for (const { unit, weight } of read) {
      offer(context.canonical(unit.text), weight); // associates are canonical already
      // A function word says little about what accompanies it, so it passes on little.
      const spec = specificity(1, context.baseline(unit.text), p.strongLift);
      if (spec < MIN_PASSING_SPECIFICITY) continue;
      for (const [associate, strength] of context.associates(unit.text)) offer(associate, weight * spec * strength);
    }
    for (const [text, s] of best) if (!exclude.has(text)) support.set(text, (support.get(text) ?? 0) + e.weight * s);
  }
  if (total <= 0 || support.size === 0) return { text: '', confidence: 0 };
  return mostConfident(support, total, context, p);
}

function mostConfident(
  support: Map<string, number>,
  total: number,
  context: LabelContext,
  p: LabelParameters,
  prior?: Map<string, number>,
): LabelPart {
  let best: { text: string; confidence: number; score: number } | null = null;
  const candidates = new Set([...support.keys(), ...(prior?.keys() ?? [])]);
  for (const text of candidates) {
    const coverage = total > 0 ? (support.get(text) ?? 0) / total : 0;
    const baseline = context.baseline(text);
    const evidence = coverage * specificity(coverage, baseline, p.strongLift);
    const other = prior?.get(text) ?? 0;
    const confidence = 1 - (1 - evidence) * (1 - other);
    const score = coverage > 0 ? coverage * Math.log(coverage / baseline) + other : other;
    if (
      !best ||
      confidence > best.confidence + 1e-9 ||
      (Math.abs(confidence - best.confidence) <= 1e-9 && score > best.score)
    ) {
      best = { text, confidence, score };
    }
  }
  return best ? { text: best.text, confidence: round(best.confidence) } : { text: '', confidence: 0 };
}

function outputLabel(
  dashboard: FeatureDetail,
  examples: WeightedExample[],
  context: LabelContext,
  p: LabelParameters,
): LabelPart | null {
  const next = new Map<string, number>();
  let total = 0;
  for (const e of examples) {
    // The rest of a name the feature fires inside ("[Salt] Lake City") is not something it says.
    const at = context.unitAt(e.tokens, e.index);
    const unit = at && at.end === e.index + 1 ? context.unitFrom(e.tokens, e.index + 1) : null;
    if (!unit) continue; // the context ends at the activating token: nothing said yet
    total += e.weight;
    const text = context.canonical(unit.text);
    next.set(text, (next.get(text) ?? 0) + e.weight);
  }
  const logit = logitEvidence(dashboard, context, p, new Set(next.keys()));
  if (next.size === 0 && logit.size === 0) return null;
  const part = mostConfident(next, total, context, p, logit);
  return part.text ? { text: `say ${part.text}`, confidence: part.confidence } : null;
}

/**
 * Evidence per unit from top_logits. A logit token names the next-token unit it begins when there is
 * one ("Baton" → "Baton Rouge"), else the phrase it usually begins in the corpus.
 */
function logitEvidence(
  dashboard: FeatureDetail,
  context: LabelContext,
  p: LabelParameters,
  nextUnits: Set<string>,
): Map<string, number> {
  const entries = topLogitsOf(dashboard).flatMap((entry) => {
    const token = displayToken(entry.token);
    return token === null ? [] : [{ token, value: entry.value }];
  });
  const evidence = new Map<string, number>();
  if (entries.length === 0) return evidence;
  let weights: number[];
  if (entries.every((entry) => entry.value !== null)) {
    const scale = dashboard.act_max && dashboard.act_max > 0 ? dashboard.act_max : 1;
    const logits = entries.map((entry) => scale * (entry.value as number));
    const max = Math.max(...logits);
    const exp = logits.map((l) => Math.exp(l - max));
    const sum = exp.reduce((a, b) => a + b, 0);
    weights = exp.map((x) => x / sum);
  } else {
    weights = entries.map((_, rank) => p.logitPrior / (rank + 1));
  }
  entries.forEach(({ token }, k) => {
    const unit =
      [...nextUnits].find((text) => text === token || text.startsWith(`${token} `)) ??
      (isWordToken(token) ? context.phraseOf(token) : token);
    // Saying a token found in most contexts says little, however large the effect (as for next tokens).
    const weight = weights[k] * specificity(1, context.baseline(unit), p.strongLift);
    evidence.set(unit, 1 - (1 - (evidence.get(unit) ?? 0)) * (1 - weight));
  });
  return evidence;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
