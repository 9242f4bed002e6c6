/**
 * AttributionGraph → GraphDocument: prune, score and label the graph the way circuit-tracer's
 * `create_graph_files` does (`utils/create_graph_files.py`): kept nodes in node order, kept edges in
 * row-major order (target, then source), features and errors kept only when a kept edge touches them.
 */
import { randomUUID } from 'node:crypto';
import type { AttributionGraph } from './attribution-graph.js';
import { nodeLayout } from './attribution-graph.js';
import {
  formatNodeId,
  TRACE_SETTING_DEFAULTS,
  type GraphDocument,
  type GraphEdge,
  type GraphNode,
} from '@circuit-atlas/schema';
import { pruneGraph } from './prune.js';
import { computeGraphScores } from './scores.js';

export interface ToDocumentOptions {
  nodeThreshold?: number;
  edgeThreshold?: number;
  /** Graph id (the reference's slug); a random UUID when omitted. */
  id?: string;
  /** ISO 8601 time; now when omitted. */
  createdAt?: string;
}

/** The viewer shows whitespace tokens with visible marks (attribution-graphs frontend `replaceWhitespace`). */
export function visibleToken(token: string): string {
  return token.replaceAll('\n', '⏎').replaceAll('\t', '→').replaceAll('\r', '↵');
}

/** The label the viewer gives an error node that has none (its quotes as the viewer writes them). */
export function errorNodeLabel(token: string): string {
  return `Err: mlp “${visibleToken(token)}"`;
}

/** The label the viewer gives an embedding node. */
export function embeddingNodeLabel(token: string): string {
  return `Emb: “${visibleToken(token)}"`;
}

/**
 * Python's `f"{p:.3f}"`: like toFixed(3), except that an exact binary tie (x·16 odd, e.g. 0.0625)
 * rounds half to even, where JavaScript rounds it up.
 */
export function formatProbability(p: number): string {
  const sixteenths = p * 16;
  if (Number.isInteger(sixteenths) && Math.abs(sixteenths) % 2 === 1) {
    const floor = Math.floor(p * 1000); // exact: p·1000 is k + 0.5
    const even = floor % 2 === 0 ? floor : floor + 1;
    return (even / 1000).toFixed(3);
  }
  return p.toFixed(3);
}

/** The clerp of a logit node, as circuit-tracer writes it: `Output "tok" (p=0.123)`. */
export function logitNodeLabel(token: string, probability: number): string {
  return `Output "${token}" (p=${formatProbability(probability)})`;
}

export function toGraphDocument(graph: AttributionGraph, options: ToDocumentOptions = {}): GraphDocument {
  const nodeThreshold = options.nodeThreshold ?? TRACE_SETTING_DEFAULTS.nodeThreshold;
  const edgeThreshold = options.edgeThreshold ?? TRACE_SETTING_DEFAULTS.edgeThreshold;
  const { nodeMask, edgeMask, nodeShare, edgeShare } = pruneGraph(graph, nodeThreshold, edgeThreshold);
  const { errorStart, tokenStart, logitStart, nNodes } = nodeLayout(graph);
  const { nLayers, nPos, tokenStrings, tokenIds, activeFeatures, activations, selectedFeatures } = graph;
  const { rowPtr, colIdx, values } = graph.adjacency;

  // Features and errors stay only when a kept edge between kept nodes touches them (create_used_nodes_and_edges).
  const touched = new Uint8Array(nNodes);
  for (let row = 0; row < nNodes; row++) {
    for (let k = rowPtr[row]; k < rowPtr[row + 1]; k++) {
      if (edgeMask[k]) touched[row] = touched[colIdx[k]] = 1;
    }
  }

  const nodeIds: string[] = new Array(nNodes);
  const nodes: GraphNode[] = [];
  for (let n = 0; n < nNodes; n++) {
    if (!nodeMask[n] || (n < tokenStart && !touched[n])) continue;
    let node: GraphNode;
    if (n < errorStart) {
      const active = selectedFeatures[n];
      const [layer, pos, feature] = [
        activeFeatures[3 * active],
        activeFeatures[3 * active + 1],
        activeFeatures[3 * active + 2],
      ];
      node = {
        nodeId: formatNodeId('feature', layer, pos, feature, nLayers),
        kind: 'feature',
        layer,
        ctxIdx: pos,
        feature,
        activation: activations[active],
        influence: nodeShare[n],
        tokenProb: null,
        isTargetLogit: false,
        label: '',
      };
    } else if (n < tokenStart) {
      const layer = Math.floor((n - errorStart) / nPos);
      const pos = (n - errorStart) % nPos;
      node = {
        nodeId: formatNodeId('error', layer, pos, null, nLayers),
        kind: 'error',
        layer,
        ctxIdx: pos,
        feature: null,
        activation: null,
        influence: nodeShare[n],
        tokenProb: null,
        isTargetLogit: false,
        label: errorNodeLabel(tokenStrings[pos]),
      };
    } else if (n < logitStart) {
      const pos = n - tokenStart;
      node = {
        nodeId: formatNodeId('embedding', -1, pos, tokenIds[pos], nLayers),
        kind: 'embedding',
        layer: -1,
        ctxIdx: pos,
        feature: tokenIds[pos],
        activation: null,
        // The reference writes the embeddings' cumulative share too.
        influence: nodeShare[n],
        tokenProb: null,
        isTargetLogit: false,
        label: embeddingNodeLabel(tokenStrings[pos]),
      };
    } else {
      const index = n - logitStart;
      const target = graph.logitTargets[index];
      node = {
        nodeId: formatNodeId('logit', nLayers, nPos - 1, target.tokenId, nLayers),
        kind: 'logit',
        layer: nLayers,
        ctxIdx: nPos - 1,
        feature: target.tokenId,
        activation: null,
        influence: null,
        tokenProb: target.probability,
        isTargetLogit: index === 0,
        label: logitNodeLabel(target.token, target.probability),
      };
    }
    nodeIds[n] = node.nodeId;
    nodes.push(node);
  }

  const edges: GraphEdge[] = [];
  for (let row = 0; row < nNodes; row++) {
    for (let k = rowPtr[row]; k < rowPtr[row + 1]; k++) {
      if (!edgeMask[k]) continue;
      edges.push({ source: nodeIds[colIdx[k]], target: nodeIds[row], weight: values[k], influence: edgeShare[k] });
    }
  }

  const scores = computeGraphScores(graph);
  return {
    id: options.id ?? randomUUID(),
    prompt: graph.prompt,
    promptTokens: [...tokenStrings],
    tokenIds: Array.from(tokenIds),
    model: graph.modelName,
    transcoderSet: graph.transcoderSet,
    nLayers,
    createdAt: options.createdAt ?? new Date().toISOString(),
    settings: { ...graph.settings, nodeThreshold, edgeThreshold },
    scores: Number.isFinite(scores.replacement) && Number.isFinite(scores.completeness) ? scores : null,
    nodes,
    edges,
  };
}
