/**
 * Supernode names from the contexts where the group fires as it does in the graph: a dashboard for
 * the supernode rather than for each member. Members of a distributed code each fire for many
 * inputs (a feature of the Dallas position also fires for cities of other states), so their own
 * labels disagree; the contexts where they fire *together, in the same proportions* are the
 * group's meaning.
 *
 *  1. Corpus: token sequences (here the feature dashboards' example contexts, which sample the
 *     corpus the dashboards were made from); every feature's activation at every position is
 *     recorded once per model as an inverted index (layer, feature) → (context, activation).
 *  2. Match of a context position to a supernode: with a = the members' activations there and
 *     g = their activations in the graph, match = cos(a, g) · min(1, |a| / |g|).
 *  3. The `topContexts` best-matching sequences (one position each) vote, with weight match, for:
 *     the token right after the position unless the position is inside a name (an output "say X"
 *     when one token gets ≥ `sayShare` of the vote) and each distinct token elsewhere in the sequence except the one at the position and
 *     the graph's own prompt tokens (the view already shows those), times the token's rarity
 *     min(1, ln(N/df)/ln 20)² over the corpus's N sequences (a token in 1/5 of them weighs 0.3).
 *  4. What the group reads: the input-label rule of a single feature (labels/feature-labels.ts)
 *     applied to the top contexts, each weighted by match², the graph's own prompt units excluded.
 *     A group at the prompt's "Omaha" whose best matches are Omaha, Kearney and Hastings contexts is
 *     named by what those share in the corpus (their state), not by the token the view already shows.
 *  5. The name is the output if there is one, else the reading of step 4 when its confidence is at
 *     least `readConfidence`, else the token with the largest step-3 vote, provided it reaches
 *     `nameShare` of the summed match; a step-3 name grows into the phrase it stands in (`phrase`).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { GraphDocument } from '@circuit-atlas/schema';
import { FeatureLabeller } from '../labels/feature-labeller.js';
import { readingLabel } from '../labels/feature-labels.js';
import { LabelContext } from '../labels/label-context.js';
import { embed, encodeLayer, runForward, type ReplacementModel } from '../model/replacement-model.js';
import type { Supernode } from './supernodes.js';

export interface ContextIndex {
  /** Token strings of every context (BOS first). */
  contexts: string[][];
  /** Per layer: feature → parallel arrays of context-position keys (context · stride + position) and activations. */
  postings: Map<number, { keys: Int32Array; acts: Float32Array }>[];
  stride: number;
  /** How many contexts hold each token (for rarity). */
  documentFrequency: Map<string, number>;
  /** Units, baselines and associates over the same contexts (what a group's contexts read). */
  labels: LabelContext;
}

export interface ContextNameOptions {
  topContexts: number;
  sayShare: number;
  /** Least confidence (0..1) of what the top contexts read for it to name the group. */
  readConfidence: number;
  nameShare: number;
}

export const CONTEXT_NAME_DEFAULTS: ContextNameOptions = {
  topContexts: 20,
  sayShare: 0.3,
  readConfidence: 0.2,
  nameShare: 0.2,
};

const RARE_FACTOR = 20;
const BATCH = 256;

/** Distinct example contexts of the dashboards in `dashboardsDir` that start with the model's BOS. */
export async function dashboardContexts(dashboardsDir: string, model: ReplacementModel): Promise<number[][]> {
  const vocab = new Map<string, number>();
  for (let id = 0; id < model.vocabSize; id++)
    if (!vocab.has(model.tokenizer.tokenString(id))) vocab.set(model.tokenizer.tokenString(id), id);
  const bos = model.tokenizer.bosId === null ? null : model.tokenizer.tokenString(model.tokenizer.bosId);
  const seen = new Map<string, number[]>();
  for (let layer = 0; layer < model.nLayers; layer++) {
    let entries: { examples_quantiles?: { examples?: { tokens?: string[] }[] }[] }[];
    try {
      entries = JSON.parse(await readFile(path.join(dashboardsDir, `layer_${layer}.json`), 'utf8'));
    } catch {
      continue; // no dashboards for this layer
    }
    for (const entry of Array.isArray(entries) ? entries : []) {
      for (const q of entry.examples_quantiles ?? []) {
        for (const e of q.examples ?? []) {
          const tokens = e.tokens;
          if (!tokens || tokens.length < 2 || tokens[0] !== bos || tokens.length > model.config.maxPositions) continue;
          const key = tokens.join('\u0000');
          if (seen.has(key)) continue;
          const ids = tokens.map((t) => vocab.get(t));
          if (ids.every((id) => id !== undefined)) seen.set(key, ids as number[]);
        }
      }
    }
  }
  return [...seen.values()];
}

/**
 * Runs the model over `contexts` once and indexes every active feature (position 0 excluded).
 * `labels`: the corpus statistics that name what contexts read — best those of every dashboard
 * example (`FeatureLabeller.context`, see `dashboardContextIndex`); by default built from `contexts`.
 */
export async function indexContexts(
  model: ReplacementModel,
  contexts: number[][],
  labels?: LabelContext,
): Promise<ContextIndex> {
  const F = model.nFeatures;
  const d = model.dModel;
  const stride = Math.max(1, ...contexts.map((c) => c.length));
  const lists = Array.from({ length: model.nLayers }, () => new Map<number, { keys: number[]; acts: number[] }>());
  const byLength = new Map<number, number[]>();
  contexts.forEach((c, i) => {
    if (!byLength.has(c.length)) byLength.set(c.length, []);
    byLength.get(c.length)!.push(i);
  });
  for (const [T, members] of byLength) {
    for (let start = 0; start < members.length; start += BATCH) {
      const batch = members.slice(start, start + BATCH);
      const n = batch.length;
      const resid = new Float32Array(n * T * d); // [n, T, d]
      batch.forEach((c, i) => resid.set(embed(model, contexts[c]), i * T * d));
      const run = await runForward(model, contexts[batch[0]], {
        residPre: { data: resid, n },
        lastLayer: model.nLayers - 1,
      });
      for (let layer = 0; layer < model.nLayers; layer++) {
        const { acts } = await encodeLayer(model, layer, run.mlpIn[layer], n, T); // [n, T, F]
        const list = lists[layer];
        for (let i = 0; i < n; i++) {
          for (let p = 1; p < T; p++) {
            const base = (i * T + p) * F;
            for (let f = 0; f < F; f++) {
              const a = acts[base + f];
              if (a <= 0) continue;
              let entry = list.get(f);
              if (!entry) list.set(f, (entry = { keys: [], acts: [] }));
              entry.keys.push(batch[i] * stride + p);
              entry.acts.push(a);
            }
          }
        }
      }
    }
  }
  const strings = contexts.map((c) => c.map((id) => model.tokenizer.tokenString(id)));
  const documentFrequency = new Map<string, number>();
  for (const s of strings) for (const t of new Set(s)) documentFrequency.set(t, (documentFrequency.get(t) ?? 0) + 1);
  return {
    contexts: strings,
    stride,
    documentFrequency,
    labels: labels ?? LabelContext.fromContexts(strings),
    postings: lists.map(
      (list) =>
        new Map([...list].map(([f, e]) => [f, { keys: Int32Array.from(e.keys), acts: Float32Array.from(e.acts) }])),
    ),
  };
}

export interface ContextName {
  label: string;
  /** Vote of the winner / summed match of the top contexts. */
  share: number;
  /** The best-matching contexts, the matched position in brackets. */
  examples: string[];
}

/** The name the contexts give a supernode, or null when no token gets enough of the vote. */
export function nameFromContexts(
  doc: GraphDocument,
  supernode: Supernode,
  index: ContextIndex,
  overrides: Partial<ContextNameOptions> = {},
): ContextName | null {
  const options = { ...CONTEXT_NAME_DEFAULTS, ...overrides };
  const byId = new Map(doc.nodes.map((n) => [n.nodeId, n]));
  const members = supernode.members.map((id) => byId.get(id)!).filter((n) => n && n.feature !== null);
  const graphActs = members.map((m) => m.activation ?? 0);
  const graphNorm = Math.hypot(...graphActs);
  if (members.length === 0 || graphNorm === 0) return null;
  const dotWith = new Map<number, number>();
  const squares = new Map<number, number>();
  members.forEach((m, j) => {
    const posting = index.postings[m.layer]?.get(m.feature!);
    if (!posting) return;
    for (let k = 0; k < posting.keys.length; k++) {
      const key = posting.keys[k];
      const a = posting.acts[k];
      dotWith.set(key, (dotWith.get(key) ?? 0) + a * graphActs[j]);
      squares.set(key, (squares.get(key) ?? 0) + a * a);
    }
  });
  const bestPerContext = new Map<number, { position: number; match: number }>();
  for (const [key, dotValue] of dotWith) {
    const norm = Math.sqrt(squares.get(key)!);
    const match = (dotValue / (norm * graphNorm)) * Math.min(1, norm / graphNorm);
    const context = Math.floor(key / index.stride);
    const best = bestPerContext.get(context);
    if (!best || match > best.match) bestPerContext.set(context, { position: key % index.stride, match });
  }
  const top = [...bestPerContext]
    .filter(([, b]) => b.match > 0)
    .sort((a, b) => b[1].match - a[1].match || a[0] - b[0])
    .slice(0, options.topContexts);
  if (top.length === 0) return null;
  const n = index.contexts.length;
  const promptTokens = new Set(doc.promptTokens); // the view shows the prompt already: a name adds to it
  const rarity = (t: string) =>
    Math.min(1, Math.max(0, Math.log(n / Math.max(1, index.documentFrequency.get(t) ?? 1)) / Math.log(RARE_FACTOR))) **
    2;
  let total = 0;
  const next = new Map<string, number>();
  const around = new Map<string, number>();
  for (const [context, { position, match }] of top) {
    const tokens = index.contexts[context];
    total += match;
    const after = tokens[position + 1];
    // The rest of a name the group fires inside ("[Overland] Park") is not something it says.
    const display = index.labels.tokensOf({ tokens });
    const inside = (index.labels.unitAt(display, position)?.end ?? position + 1) > position + 1;
    if (after !== undefined && !inside) next.set(after, (next.get(after) ?? 0) + match * rarity(after));
    const elsewhere = new Set(tokens.filter((_, i) => i !== position));
    elsewhere.delete(tokens[position]);
    for (const t of promptTokens) elsewhere.delete(t);
    for (const t of elsewhere) around.set(t, (around.get(t) ?? 0) + match * rarity(t));
  }
  const best = (votes: Map<string, number>) =>
    [...votes].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0] ?? ['', 0];
  const examples = top
    .slice(0, 5)
    .map(([c, { position }]) => index.contexts[c].map((t, i) => (i === position ? `[${t}]` : t)).join(' '));
  const contexts = top.map(([c]) => index.contexts[c]);
  const [say, sayVote] = best(next);
  if (sayVote >= options.sayShare * total)
    return { label: `say ${phrase(say, contexts, rarity)}`, share: sayVote / total, examples };
  const shown = new Set<string>();
  const promptUnits = index.labels.tokensOf({ tokens: doc.promptTokens });
  promptUnits.forEach((_, i) => {
    const unit = index.labels.unitAt(promptUnits, i);
    if (unit) for (const text of [unit.text, index.labels.canonical(unit.text)]) shown.add(text);
  });
  const read = readingLabel(
    top.map(([c, { position, match }]) => ({ tokens: index.contexts[c], index: position, weight: match * match })),
    index.labels,
    shown,
  );
  if (read.text && read.confidence >= options.readConfidence)
    return { label: read.text, share: read.confidence, examples };
  const [word, vote] = best(around);
  if (vote >= options.nameShare * total)
    return { label: phrase(word, contexts, rarity), share: vote / total, examples };
  return null;
}

/**
 * The winning token grown into the phrase it stands in ("Carolina" → "North Carolina", "Salt" →
 * "Salt Lake City"): a neighbour joins while it is the same in every occurrence of the phrase in the
 * top contexts, the phrase occurs at least twice (one context cannot decide) and the neighbour is
 * not common (squared rarity ≥ 0.25: "of", "the", "containing" never join).
 */
function phrase(token: string, contexts: string[][], rarity: (t: string) => number): string {
  let words = [token];
  for (;;) {
    const spots: [string[], number][] = [];
    for (const c of contexts)
      for (let i = 0; i + words.length <= c.length; i++) if (words.every((w, k) => c[i + k] === w)) spots.push([c, i]);
    if (spots.length < 2) return words.join(' ');
    const left = new Set(spots.map(([c, i]) => c[i - 1]));
    const right = new Set(spots.map(([c, i]) => c[i + words.length]));
    const grow = (side: Set<string | undefined>) => {
      const [only] = side;
      return side.size === 1 && only !== undefined && rarity(only) >= 0.25 ? only : null;
    };
    const before = grow(left);
    const after = grow(right);
    if (before) words = [before, ...words];
    else if (after) words = [...words, after];
    else return words.join(' ');
    if (words.length > 4) return words.join(' ');
  }
}

/**
 * The supernodes, renamed by their contexts where those give a name. Groups the contexts give the
 * same name at the same position play one role (a state read in layer 0 and again in layers 1–3)
 * and become one supernode; other equal names are kept apart by a suffix (the CLI addresses
 * supernodes by label).
 */
export function renameFromContexts(
  doc: GraphDocument,
  supernodes: Supernode[],
  index: ContextIndex,
  options: Partial<ContextNameOptions> = {},
): Supernode[] {
  const merged: Supernode[] = [];
  const byRole = new Map<string, Supernode>();
  for (const s of supernodes) {
    const name = nameFromContexts(doc, s, index, options);
    const label = name ? name.label : s.label.replace(/ \(\d+\)$/, '');
    const role = name ? `${s.ctxIdx}\u0000${label}` : null;
    const same = role ? byRole.get(role) : undefined;
    if (same) {
      same.members.push(...s.members);
      same.layers = [Math.min(same.layers[0], s.layers[0]), Math.max(same.layers[1], s.layers[1])];
      same.influence += s.influence;
      continue;
    }
    const renamed = { ...s, members: [...s.members], label, named: name ? true : s.named };
    if (role) byRole.set(role, renamed);
    merged.push(renamed);
  }
  const seen = new Map<string, number>();
  return merged
    .sort((a, b) => b.influence - a.influence)
    .map((s, i) => {
      const count = (seen.get(s.label) ?? 0) + 1;
      seen.set(s.label, count);
      return { ...s, id: `sn${i}`, label: count === 1 ? s.label : `${s.label} (${count})` };
    });
}

/**
 * The context index of a dashboards folder: its example contexts, run through the model, with the
 * labeller's statistics over all its examples (more than the contexts the model can replay).
 */
export async function dashboardContextIndex(dashboardsDir: string, model: ReplacementModel): Promise<ContextIndex> {
  const labeller = await FeatureLabeller.fromFolder(dashboardsDir);
  return indexContexts(model, await dashboardContexts(dashboardsDir, model), labeller?.context);
}

const indexes = new WeakMap<ReplacementModel, Map<string, Promise<ContextIndex>>>();

/**
 * The context index of a model's dashboards, built once per loaded model and folder (building it runs
 * the model over every example context: ~35 s for the demo on 2 cores), shared by later callers.
 */
export function contextIndexFor(model: ReplacementModel, dashboardsDir: string): Promise<ContextIndex> {
  let byDir = indexes.get(model);
  if (!byDir) indexes.set(model, (byDir = new Map()));
  const key = path.resolve(dashboardsDir);
  let index = byDir.get(key);
  if (!index) {
    index = dashboardContextIndex(dashboardsDir, model);
    index.catch(() => byDir.delete(key)); // a failed build is tried again by the next caller
    byDir.set(key, index);
  }
  return index;
}
