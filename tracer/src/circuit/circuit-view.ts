/**
 * The circuit view: a pruned graph collapsed into supernodes, reduced to its strongest paths from
 * the prompt's tokens to one target logit, as plain data for the viewer and the figure writer
 * (tokens at the bottom, the logit at the top, edge width by weight, colour by sign).
 *
 * Collapse: every feature in a supernode becomes that supernode; other features, tokens and the
 * logit stay themselves; error nodes are left out of the view (their edges still count in each
 * target's total input). A collapsed edge's weight is the sum of its members' signed weights, and
 * its share is weight / Σ |weight into the target| (the target's total input, errors included).
 * Paths: token → … → logit paths ranked by the product of |share| along them (k best paths on the
 * DAG ordered by layer), each step's share at least `minShare`: the `pathsPerToken` best from each
 * prompt token (so that every token's route shows, not only the strongest token's variants), then
 * the best `maxPaths` of those. The view keeps the nodes on them and every collapsed edge among them.
 */
import type { GraphDocument } from '@circuit-atlas/schema';
import { UserInputError } from '../errors.js';
import { documentInfluence, incidentEdges } from './document-influence.js';
import type { Supernode } from './supernodes.js';

export type CircuitNodeKind = 'supernode' | 'feature' | 'token' | 'logit';

export interface CircuitViewNode {
  /** The supernode's id (`sn…`) or the graph node's id. */
  id: string;
  kind: CircuitNodeKind;
  label: string;
  ctxIdx: number;
  /** Lowest and highest layer of the members (tokens -1, the logit nLayers). */
  layers: [number, number];
  /** Graph node ids behind this node (one for anything but a supernode). */
  members: string[];
  /** Influence on the logits within the pruned graph (summed over members). */
  influence: number;
}

export interface CircuitViewEdge {
  source: string;
  target: string;
  /** Σ of the member edges' signed weights. */
  weight: number;
  /** weight / Σ |weight into the target|, signed. */
  share: number;
}

export interface CircuitPath {
  /** Node ids from a token to the logit. */
  nodes: string[];
  /** Product of |share| along the path. */
  strength: number;
  /** Sign of the product of the shares: +1 the path excites the logit, -1 it inhibits it. */
  sign: 1 | -1;
}

export interface CircuitView {
  graphId: string;
  prompt: string;
  promptTokens: string[];
  /** Node id of the target logit. */
  target: string;
  nodes: CircuitViewNode[];
  edges: CircuitViewEdge[];
  /** Strongest first. */
  paths: CircuitPath[];
}

export interface CircuitViewOptions {
  /** Node id of the target logit; default the most probable target logit. */
  target?: string;
  maxPaths: number;
  pathsPerToken: number;
  minShare: number;
}

export const CIRCUIT_VIEW_DEFAULTS: CircuitViewOptions = { maxPaths: 24, pathsPerToken: 3, minShare: 0.01 };

/** Collapses `doc` into `supernodes` and keeps the strongest token → logit paths (see the header). */
export function buildCircuitView(
  doc: GraphDocument,
  supernodes: Supernode[],
  overrides: Partial<CircuitViewOptions> = {},
): CircuitView {
  const options = { ...CIRCUIT_VIEW_DEFAULTS, ...overrides };
  for (const name of ['maxPaths', 'pathsPerToken'] as const)
    if (!Number.isInteger(options[name]) || options[name] < 1)
      throw new UserInputError(`${name} must be a positive integer, got ${options[name]}`);
  const logits = doc.nodes.filter((n) => n.kind === 'logit');
  if (logits.length === 0) throw new UserInputError(`graph '${doc.id}' has no logit node to trace paths to`);
  const target = options.target ?? [...logits].sort((a, b) => (b.tokenProb ?? 0) - (a.tokenProb ?? 0))[0].nodeId;
  if (!logits.some((n) => n.nodeId === target))
    throw new UserInputError(
      `'${target}' is not a logit node of graph '${doc.id}'; choose one of ${logits.map((n) => n.nodeId).join(', ')}`,
    );
  const edges = incidentEdges(doc);
  const influence = documentInfluence(doc, edges);

  // Which view node each graph node becomes.
  const groupOf = new Map<string, string>();
  const viewNodes = new Map<string, CircuitViewNode>();
  for (const s of supernodes) {
    for (const m of s.members) {
      if (groupOf.has(m)) throw new UserInputError(`node '${m}' is in more than one supernode; keep it in one`);
      groupOf.set(m, s.id);
    }
    viewNodes.set(s.id, {
      id: s.id,
      kind: 'supernode',
      label: s.label,
      ctxIdx: s.ctxIdx,
      layers: s.layers,
      members: s.members,
      influence: s.influence,
    });
  }
  for (const node of doc.nodes) {
    if (groupOf.has(node.nodeId) || node.kind === 'error') continue;
    if (node.kind === 'logit' && node.nodeId !== target) continue;
    groupOf.set(node.nodeId, node.nodeId);
    viewNodes.set(node.nodeId, {
      id: node.nodeId,
      kind: node.kind === 'embedding' ? 'token' : node.kind === 'logit' ? 'logit' : 'feature',
      label: node.kind === 'embedding' ? (doc.promptTokens[node.ctxIdx] ?? node.label) : node.label || node.nodeId,
      ctxIdx: node.ctxIdx,
      layers: [node.layer, node.layer],
      members: [node.nodeId],
      influence: influence.get(node.nodeId) ?? 0,
    });
  }

  // Collapsed edges, and each view node's total input (errors' edges included).
  const collapsed = new Map<string, CircuitViewEdge>();
  const inputTotal = new Map<string, number>();
  for (const edge of doc.edges) {
    const target = groupOf.get(edge.target);
    if (!target) continue;
    inputTotal.set(target, (inputTotal.get(target) ?? 0) + Math.abs(edge.weight));
    const source = groupOf.get(edge.source);
    if (!source || source === target) continue;
    const key = `${source}\u0000${target}`;
    const existing = collapsed.get(key);
    if (existing) existing.weight += edge.weight;
    else collapsed.set(key, { source, target, weight: edge.weight, share: 0 });
  }
  for (const e of collapsed.values()) e.share = e.weight / (inputTotal.get(e.target) || 1);

  // k best paths on the DAG: order by (lowest layer, position, id); only edges forward in that order.
  const order = [...viewNodes.values()].sort(
    (a, b) => a.layers[0] - b.layers[0] || a.ctxIdx - b.ctxIdx || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );
  const rank = new Map(order.map((n, i) => [n.id, i]));
  const into = new Map<string, CircuitViewEdge[]>();
  for (const e of collapsed.values()) {
    if (Math.abs(e.share) < options.minShare || rank.get(e.source)! >= rank.get(e.target)!) continue;
    if (!into.has(e.target)) into.set(e.target, []);
    into.get(e.target)!.push(e);
  }
  const best = new Map<string, CircuitPath[]>();
  for (const node of order) {
    if (node.kind === 'token') {
      best.set(node.id, [{ nodes: [node.id], strength: 1, sign: 1 }]);
      continue;
    }
    const candidates: CircuitPath[] = [];
    for (const e of into.get(node.id) ?? []) {
      for (const p of best.get(e.source) ?? []) {
        candidates.push({
          nodes: [...p.nodes, node.id],
          strength: p.strength * Math.abs(e.share),
          sign: (p.sign * Math.sign(e.share)) as 1 | -1,
        });
      }
    }
    candidates.sort((a, b) => b.strength - a.strength);
    // Keep up to pathsPerToken per source token: enough for the per-token selection at the target.
    const perToken = new Map<string, number>();
    best.set(
      node.id,
      candidates.filter((p) => {
        const count = (perToken.get(p.nodes[0]) ?? 0) + 1;
        perToken.set(p.nodes[0], count);
        return count <= options.pathsPerToken;
      }),
    );
  }
  const paths = (best.get(target) ?? []).slice(0, options.maxPaths);

  const kept = new Set(paths.flatMap((p) => p.nodes));
  kept.add(target);
  return {
    graphId: doc.id,
    prompt: doc.prompt,
    promptTokens: doc.promptTokens,
    target,
    nodes: order.filter((n) => kept.has(n.id)),
    edges: [...collapsed.values()]
      .filter((e) => kept.has(e.source) && kept.has(e.target) && Math.abs(e.share) >= options.minShare)
      .sort((a, b) => Math.abs(b.share) - Math.abs(a.share)),
    paths,
  };
}
