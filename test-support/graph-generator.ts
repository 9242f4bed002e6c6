/**
 * Realistic random GraphDocuments for the store tests and the store benchmark: the node-id scheme,
 * layers and positions of document.ts, edges only from lower to higher layers and from earlier or
 * equal positions (a DAG, as attribution graphs are), signed heavy-tailed weights, cumulative
 * influence shares in (0, 1]. Seeded, so a seed always gives the same graph.
 */
import { formatNodeId, seededRandom, TRACE_SETTING_DEFAULTS } from '@circuit-atlas/schema';
import type { GraphDocument, GraphEdge, GraphNode } from '@circuit-atlas/schema';

export interface RandomGraphOptions {
  id: string;
  seed: number;
  /** Approximate number of nodes (features fill what embeddings, errors and logits leave). */
  nodes: number;
  /** Exact number of edges, capped by what the DAG allows. */
  edges: number;
  nLayers?: number;
  /** Prompt length in tokens, BOS included. */
  nPos?: number;
  model?: string;
  transcoderSet?: string;
  /** Features per layer to draw from: a small pool makes graphs share features. */
  featurePool?: number;
  prompt?: string;
  createdAt?: string;
  /** Fraction of edges without an influence (as in imported graphs). */
  nullEdgeInfluence?: number;
}

const WORDS = ['Dallas', 'Texas', 'capital', 'Austin', 'the', 'of', 'state', 'is', 'city', 'in', 'Paris', 'France'];

/** Cumulative shares of `scores` in descending order, written back at each item's index. */
function cumulativeShares(scores: number[]): number[] {
  const order = scores.map((_, i) => i).sort((a, b) => scores[b] - scores[a] || a - b);
  const total = scores.reduce((sum, s) => sum + s, 0);
  const shares = new Array<number>(scores.length);
  let running = 0;
  for (const i of order) {
    running += scores[i];
    shares[i] = Math.min(1, running / total);
  }
  return shares;
}

export function randomGraph(options: RandomGraphOptions): GraphDocument {
  const random = seededRandom(options.seed);
  const nLayers = options.nLayers ?? 6;
  const nPos = options.nPos ?? 8;
  const featurePool = options.featurePool ?? 400;
  const randomInt = (n: number) => Math.floor(random() * n);
  const tokenIds = Array.from({ length: nPos }, (_, p) => (p === 0 ? 1 : 10 + randomInt(500)));
  const promptTokens = tokenIds.map((t, p) => (p === 0 ? '<s>' : WORDS[t % WORDS.length]));

  const nodes: GraphNode[] = [];
  const base = { activation: null, influence: null, tokenProb: null, isTargetLogit: false, label: '' };
  for (let p = 0; p < nPos; p++) {
    const tokenId = tokenIds[p];
    nodes.push({
      ...base,
      nodeId: formatNodeId('embedding', -1, p, tokenId, nLayers),
      kind: 'embedding',
      layer: -1,
      ctxIdx: p,
      feature: tokenId,
      label: `Emb: "${promptTokens[p]}"`,
    });
  }
  const nLogits = 3;
  const nErrors = nLayers * nPos;
  const nFeatures = Math.max(0, options.nodes - nPos - nErrors - nLogits);
  const seen = new Set<string>();
  const scored: GraphNode[] = [];
  while (scored.length < nFeatures) {
    const layer = randomInt(nLayers);
    const p = 1 + randomInt(nPos - 1);
    const feature = randomInt(featurePool);
    const nodeId = formatNodeId('feature', layer, p, feature, nLayers);
    if (seen.has(nodeId)) {
      if (seen.size >= nLayers * (nPos - 1) * featurePool) break;
      continue;
    }
    seen.add(nodeId);
    scored.push({
      ...base,
      nodeId,
      kind: 'feature',
      layer,
      ctxIdx: p,
      feature,
      activation: 0.05 + 10 * random() ** 2,
      label: `feature ${layer}/${feature}`,
    });
  }
  for (let layer = 0; layer < nLayers; layer++) {
    for (let p = 0; p < nPos; p++) {
      scored.push({
        ...base,
        nodeId: formatNodeId('error', layer, p, null, nLayers),
        kind: 'error',
        layer,
        ctxIdx: p,
        feature: null,
        label: `Err: mlp "${promptTokens[p]}"`,
      });
    }
  }
  const shares = cumulativeShares(scored.map(() => random() ** 4));
  scored.forEach((node, i) => (node.influence = shares[i]));
  nodes.push(...scored);
  let remaining = 1;
  for (let k = 0; k < nLogits; k++) {
    const tokenId = 600 + k;
    const probability = k === nLogits - 1 ? remaining * 0.5 : remaining * (0.5 + 0.4 * random());
    remaining -= probability;
    nodes.push({
      ...base,
      nodeId: formatNodeId('logit', nLayers, nPos - 1, tokenId, nLayers),
      kind: 'logit',
      layer: nLayers,
      ctxIdx: nPos - 1,
      feature: tokenId,
      tokenProb: probability,
      isTargetLogit: true,
      label: `Output "${WORDS[tokenId % WORDS.length]}" (p=${probability.toFixed(3)})`,
    });
  }

  // Edges: source below target in layer, at an earlier or the same position.
  const targets = nodes.filter((n) => n.kind === 'feature' || n.kind === 'logit');
  const sourcesByLayer = new Map<number, GraphNode[]>();
  for (const n of nodes)
    if (n.kind !== 'logit') sourcesByLayer.set(n.layer, [...(sourcesByLayer.get(n.layer) ?? []), n]);
  const sourceLayers = [...sourcesByLayer.keys()].sort((a, b) => a - b);
  const edgeKeys = new Set<string>();
  const edges: GraphEdge[] = [];
  let attempts = 0;
  while (edges.length < options.edges && attempts < options.edges * 20) {
    attempts++;
    const target = targets[randomInt(targets.length)];
    const lower = sourceLayers.filter((l) => l < target.layer);
    if (lower.length === 0) continue;
    const pool = sourcesByLayer.get(lower[randomInt(lower.length)])!;
    const source = pool[randomInt(pool.length)];
    if (source.ctxIdx > target.ctxIdx) continue;
    const key = `${source.nodeId}>${target.nodeId}`;
    if (edgeKeys.has(key)) continue;
    edgeKeys.add(key);
    const magnitude = 0.001 + 3 * random() ** 3;
    edges.push({
      source: source.nodeId,
      target: target.nodeId,
      weight: random() < 0.3 ? -magnitude : magnitude,
      influence: null,
    });
  }
  const edgeShares = cumulativeShares(edges.map((e) => Math.abs(e.weight)));
  const nullFraction = options.nullEdgeInfluence ?? 0;
  edges.forEach((edge, i) => (edge.influence = random() < nullFraction ? null : edgeShares[i]));

  return {
    id: options.id,
    prompt: options.prompt ?? promptTokens.slice(1).join(' '),
    promptTokens,
    tokenIds,
    model: options.model ?? 'atlas-world-llama',
    transcoderSet: options.transcoderSet ?? 'atlas-world-llama/plt',
    nLayers,
    createdAt: options.createdAt ?? new Date(Date.UTC(2026, 0, 1) + options.seed * 60_000).toISOString(),
    settings: { ...TRACE_SETTING_DEFAULTS },
    scores: { replacement: 0.4 + 0.3 * random(), completeness: 0.7 + 0.2 * random() },
    nodes,
    edges,
  };
}
