/**
 * Automatic supernodes: groups of a pruned graph's feature nodes that play one role, found from
 * their edges and labels, named from their members' labels. The papers group by hand ("Texas",
 * "say Austin"); this is the automatic first draft a user then edits, renames or splits.
 *
 * Algorithm (parameters in `SupernodeOptions`, defaults in `SUPERNODE_DEFAULTS`):
 *  1. Candidates: feature nodes, at most `maxFeatures` of them, most influential on the logits first
 *     (influence within the pruned graph, see document-influence.ts). Errors, tokens, logits stay alone.
 *  2. Edge profiles: for feature n, its signed input profile in[s] = A[n,s] / Σ_s' |A[n,s']| (the share
 *     of n's input from s) and signed output profile out[t] = A[t,n] / Σ_s' |A[t,s']| (n's share of
 *     t's input). Similarity of two features = the mean of the cosine of their input profiles and
 *     the cosine of their output profiles (each part counts equally; an empty part has cosine 0).
 *  3. Agglomerative clustering, `linkage` 'average' (default) or 'complete': repeatedly merge the two
 *     clusters with the highest linkage similarity while it is ≥ `threshold`, subject to cannot-link
 *     constraints between every pair of members: same token position (`samePosition`), layers at most
 *     `layerWindow` apart, and compatible labels — when both members have a label of confidence ≥
 *     `labelConfidence`, they must share an input or an output label text.
 *  4. Clusters with ≥ `minMembers` features become supernodes. Name: every member votes, with weight
 *     w = its influence, for its input label text (w × confidence), its output label "say X"
 *     (w × confidence) and each token of its contexts (w × the token's context weight, times
 *     `contextWeight`); the text with the largest vote names the supernode, provided its vote is
 *     ≥ `nameShare` of the largest possible vote (Σ w); otherwise the supernode is named by where it
 *     is (`features at "Dallas" L0–2`). Context votes matter when members' own labels disagree: a
 *     state spread over features that each also fire for other states is named by what they share.
 */
import type { GraphDocument, GraphNode } from '@circuit-atlas/schema';
import { UserInputError } from '../errors.js';
import { documentInfluence, incidentEdges } from './document-influence.js';

export interface LabelText {
  text: string;
  /** 0..1: how much the text can be trusted ("is" or "the" are weak). */
  confidence: number;
}

/** What a feature reads (input) and what it says (output, the bare token X of "say X"). */
export interface MemberLabels {
  input: LabelText | null;
  output: LabelText | null;
  /**
   * Optional: tokens of the feature's top-activating contexts, each weighted 0..1 by how much of the
   * feature's activation falls in contexts that hold it and by the token's rarity. Their consensus
   * names a group whose members each read something different (a distributed code).
   */
  contexts?: Map<string, number>;
}

/** Gives the labels of a feature node, null when there are none (e.g. no dashboard). */
export type FeatureLabelLookup = (node: GraphNode) => MemberLabels | null;

export interface SupernodeOptions {
  /** Least linkage similarity for a merge (cosine of edge profiles, -1..1). */
  threshold: number;
  linkage: 'average' | 'complete';
  /** Largest layer difference between two members. */
  layerWindow: number;
  /** Members must share a token position. */
  samePosition: boolean;
  /** Labels at or above this confidence must agree between members. */
  labelConfidence: number;
  /** Most influential feature nodes considered (the rest stay ungrouped). */
  maxFeatures: number;
  minMembers: number;
  /** Least vote the winning name needs, as a share of the members' summed influence. */
  nameShare: number;
  /** Weight of the members' context tokens in the naming vote, relative to their labels. */
  contextWeight: number;
}

export const SUPERNODE_DEFAULTS: SupernodeOptions = {
  threshold: 0.2,
  linkage: 'average',
  layerWindow: 2,
  samePosition: true,
  // Off by default: dashboard labels describe a feature's corpus-wide top contexts, so the members
  // of a distributed code carry different confident labels ("Ann Arbor", "Roswell") for one role.
  labelConfidence: 1.01,
  maxFeatures: 200,
  minMembers: 2,
  nameShare: 0.15,
  contextWeight: 1,
};

export interface Supernode {
  /** Stable within one result: `sn{index}`. */
  id: string;
  label: string;
  /** True when the label came from members' labels, false when it only says where the group is. */
  named: boolean;
  /** Member node ids, most influential first. */
  members: string[];
  /** The members' token position (the first member's when `samePosition` is off). */
  ctxIdx: number;
  layers: [number, number];
  /** Summed influence of the members on the logits within the pruned graph. */
  influence: number;
}

type Profile = Map<string, number>;

function unitProfile(entries: Iterable<[string, number]>): Profile {
  const profile: Profile = new Map();
  let norm = 0;
  for (const [key, value] of entries) {
    profile.set(key, (profile.get(key) ?? 0) + value);
  }
  for (const value of profile.values()) norm += value * value;
  norm = Math.sqrt(norm);
  if (norm > 0) for (const [key, value] of profile) profile.set(key, value / norm);
  return profile;
}

function dot(a: Profile, b: Profile): number {
  const [small, large] = a.size <= b.size ? [a, b] : [b, a];
  let sum = 0;
  for (const [key, value] of small) sum += value * (large.get(key) ?? 0);
  return sum;
}

function checkOptions(options: SupernodeOptions): void {
  const problems: string[] = [];
  if (!(options.threshold >= -1 && options.threshold <= 1)) problems.push(`threshold must lie in -1..1`);
  if (options.linkage !== 'average' && options.linkage !== 'complete')
    problems.push(`linkage must be 'average' or 'complete'`);
  if (!Number.isInteger(options.layerWindow) || options.layerWindow < 0)
    problems.push(`layerWindow must be a non-negative integer`);
  if (!Number.isInteger(options.maxFeatures) || options.maxFeatures < 2)
    problems.push(`maxFeatures must be an integer ≥ 2`);
  if (!Number.isInteger(options.minMembers) || options.minMembers < 2)
    problems.push(`minMembers must be an integer ≥ 2`);
  if (problems.length > 0) throw new UserInputError(`supernode options: ${problems.join('; ')}`);
}

function labelTexts(labels: MemberLabels | null, minConfidence: number): Set<string> | null {
  if (!labels) return null;
  const texts = new Set<string>();
  if (labels.input && labels.input.confidence >= minConfidence) texts.add(`in:${labels.input.text}`);
  if (labels.output && labels.output.confidence >= minConfidence) texts.add(`out:${labels.output.text}`);
  return texts.size > 0 ? texts : null;
}

/** Groups the pruned graph's features into supernodes (see the header for the algorithm). */
export function findSupernodes(
  doc: GraphDocument,
  labelsOf: FeatureLabelLookup = () => null,
  overrides: Partial<SupernodeOptions> = {},
): Supernode[] {
  const options = { ...SUPERNODE_DEFAULTS, ...overrides };
  checkOptions(options);
  const edges = incidentEdges(doc);
  const influence = documentInfluence(doc, edges);
  const candidates = doc.nodes
    .filter((n) => n.kind === 'feature')
    .sort((a, b) => (influence.get(b.nodeId) ?? 0) - (influence.get(a.nodeId) ?? 0))
    .slice(0, options.maxFeatures);
  const n = candidates.length;
  const inputs = candidates.map((node) => {
    const total = edges.inputTotal.get(node.nodeId) ?? 0;
    return unitProfile(
      (edges.incoming.get(node.nodeId) ?? []).map((e): [string, number] => [e.source, e.weight / (total || 1)]),
    );
  });
  const outputs = candidates.map((node) =>
    unitProfile(
      (edges.outgoing.get(node.nodeId) ?? []).map((e): [string, number] => [
        e.target,
        e.weight / (edges.inputTotal.get(e.target) || 1),
      ]),
    ),
  );
  const labels = candidates.map((node) => labelsOf(node));
  const confident = labels.map((l) => labelTexts(l, options.labelConfidence));

  const similarity = new Float64Array(n * n); // [n, n]
  const allowed = new Uint8Array(n * n); // [n, n] 1 when the pair may share a supernode
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const a = candidates[i];
      const b = candidates[j];
      let ok = Math.abs(a.layer - b.layer) <= options.layerWindow;
      if (options.samePosition && a.ctxIdx !== b.ctxIdx) ok = false;
      const ta = confident[i];
      const tb = confident[j];
      if (ok && ta && tb && ![...ta].some((t) => tb.has(t))) ok = false;
      const s = (dot(inputs[i], inputs[j]) + dot(outputs[i], outputs[j])) / 2;
      similarity[i * n + j] = similarity[j * n + i] = s;
      allowed[i * n + j] = allowed[j * n + i] = ok ? 1 : 0;
    }
  }

  // Clusters as member index lists; linkage over all member pairs (n ≤ maxFeatures keeps this small).
  let clusters: number[][] = candidates.map((_, i) => [i]);
  for (;;) {
    let best = -Infinity;
    let bestPair: [number, number] | null = null;
    for (let x = 0; x < clusters.length; x++) {
      for (let y = x + 1; y < clusters.length; y++) {
        let sum = 0;
        let min = Infinity;
        let blocked = false;
        for (const i of clusters[x]) {
          for (const j of clusters[y]) {
            if (!allowed[i * n + j]) blocked = true;
            const s = similarity[i * n + j];
            sum += s;
            min = Math.min(min, s);
          }
          if (blocked) break;
        }
        if (blocked) continue;
        const link = options.linkage === 'complete' ? min : sum / (clusters[x].length * clusters[y].length);
        if (link >= options.threshold && link > best) {
          best = link;
          bestPair = [x, y];
        }
      }
    }
    if (!bestPair) break;
    const [x, y] = bestPair;
    clusters[x] = [...clusters[x], ...clusters[y]];
    clusters = clusters.filter((_, k) => k !== y);
  }

  const groups = clusters
    .filter((c) => c.length >= options.minMembers)
    .map((c) =>
      c.sort((i, j) => (influence.get(candidates[j].nodeId) ?? 0) - (influence.get(candidates[i].nodeId) ?? 0)),
    )
    .map((c) => ({ members: c, influence: c.reduce((s, i) => s + (influence.get(candidates[i].nodeId) ?? 0), 0) }))
    .sort((a, b) => b.influence - a.influence);
  const seen = new Map<string, number>();
  return groups.map(({ members, influence: total }, index) => {
    const nodes = members.map((i) => candidates[i]);
    const layers = nodes.map((m) => m.layer);
    const ctxIdx = nodes[0].ctxIdx;
    const votes = new Map<string, number>();
    let possible = 0;
    const vote = (text: string | undefined, amount: number) => {
      if (text && amount > 0) votes.set(text, (votes.get(text) ?? 0) + amount);
    };
    for (const i of members) {
      const weight = influence.get(candidates[i].nodeId) ?? 0;
      const l = labels[i];
      possible += weight;
      vote(l?.input?.text, weight * (l?.input?.confidence ?? 0));
      vote(l?.output ? `say ${l.output.text}` : undefined, weight * (l?.output?.confidence ?? 0));
      for (const [token, share] of l?.contexts ?? []) vote(token, weight * share * options.contextWeight);
    }
    const [winner, top] = [...votes].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0] ?? ['', 0];
    const named = possible > 0 && top >= options.nameShare * possible;
    const [lo, hi] = [Math.min(...layers), Math.max(...layers)];
    const where = `features at ${JSON.stringify(doc.promptTokens[ctxIdx] ?? `position ${ctxIdx}`)} L${lo === hi ? lo : `${lo}–${hi}`}`;
    const base = named ? winner : where;
    const count = (seen.get(base) ?? 0) + 1;
    seen.set(base, count);
    return {
      id: `sn${index}`,
      label: count === 1 ? base : `${base} (${count})`, // labels stay unique: the CLI addresses supernodes by label
      named,
      members: nodes.map((m) => m.nodeId),
      ctxIdx,
      layers: [lo, hi],
      influence: total,
    };
  });
}

/** The graph JSON's `qParams.supernodes`: `[[label, ...nodeIds]]`. */
export function supernodesToQParams(supernodes: Supernode[]): string[][] {
  return supernodes.map((s) => [s.label, ...s.members]);
}

/**
 * Supernodes from a graph JSON's `qParams.supernodes` (hand-made or automatic), checked against the
 * graph: every member must be a feature node of `doc`.
 */
export function supernodesFromQParams(doc: GraphDocument, entries: string[][]): Supernode[] {
  const byId = new Map(doc.nodes.map((node) => [node.nodeId, node]));
  const influence = documentInfluence(doc);
  return entries.map((entry, index) => {
    const [label, ...members] = entry;
    if (typeof label !== 'string' || members.length === 0)
      throw new UserInputError(`qParams.supernodes[${index}] must be [label, nodeId, ...] with at least one node id`);
    const nodes = members.map((id) => {
      const node = byId.get(id);
      if (!node || node.kind !== 'feature')
        throw new UserInputError(
          `supernode '${label}': '${id}' is not a feature node of graph '${doc.id}'; remove it from qParams.supernodes`,
        );
      return node;
    });
    const layers = nodes.map((m) => m.layer);
    return {
      id: `sn${index}`,
      label,
      named: true,
      members,
      ctxIdx: nodes[0].ctxIdx,
      layers: [Math.min(...layers), Math.max(...layers)],
      influence: members.reduce((s, id) => s + (influence.get(id) ?? 0), 0),
    };
  });
}
