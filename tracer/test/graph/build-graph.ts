/**
 * Test inputs for the graph algorithms: AttributionGraphs built from a dense A[target, source], random
 * attribution-shaped DAGs, and the dense power series as an independent oracle for influence.
 */
import type { AttributionGraph, LogitTarget, SparseMatrix } from '../../src/graph/attribution-graph.js';
import { nodeLayout } from '../../src/graph/attribution-graph.js';
import { logitWeightsOf } from '../../src/graph/influence.js';
import { seededRandom } from '@circuit-atlas/schema';

// Every random graph is reproducible from its seed: the suite's one seeded PRNG.
export { seededRandom };

/** CSR of a dense row-major matrix, keeping only non-zero entries. */
export function denseToSparse(dense: number[][]): SparseMatrix {
  const nRows = dense.length;
  const nCols = nRows === 0 ? 0 : dense[0].length;
  const rowPtr = new Int32Array(nRows + 1);
  const cols: number[] = [];
  const vals: number[] = [];
  for (let r = 0; r < nRows; r++) {
    for (let c = 0; c < nCols; c++) {
      if (dense[r][c] !== 0) {
        cols.push(c);
        vals.push(dense[r][c]);
      }
    }
    rowPtr[r + 1] = cols.length;
  }
  return { nRows, nCols, rowPtr, colIdx: Int32Array.from(cols), values: Float32Array.from(vals) };
}

export function sparseToDense(m: SparseMatrix): number[][] {
  const dense = Array.from({ length: m.nRows }, () => new Array<number>(m.nCols).fill(0));
  for (let r = 0; r < m.nRows; r++)
    for (let k = m.rowPtr[r]; k < m.rowPtr[r + 1]; k++) dense[r][m.colIdx[k]] = m.values[k];
  return dense;
}

export interface GraphSpec {
  nLayers: number;
  /** Token strings, BOS first. */
  tokens: string[];
  tokenIds?: number[];
  /** Selected features as [layer, pos, featureIndex], in node order (sorted). */
  features: [number, number, number][];
  activations?: number[];
  logitTargets: LogitTarget[];
  /** A[target, source] over all nodes in the AttributionGraph node order. */
  adjacency: number[][] | SparseMatrix;
}

export function makeGraph(spec: GraphSpec): AttributionGraph {
  const nPos = spec.tokens.length;
  const activeFeatures = Int32Array.from(spec.features.flat());
  const graph: AttributionGraph = {
    prompt: spec.tokens.slice(1).join(' '),
    tokenIds: Int32Array.from(spec.tokenIds ?? spec.tokens.map((_, i) => 100 + i)),
    tokenStrings: spec.tokens,
    modelName: 'test-model',
    transcoderSet: 'test-model/plt',
    nLayers: spec.nLayers,
    nPos,
    activeFeatures,
    activations: Float32Array.from(spec.activations ?? spec.features.map((_, i) => 1 + i / 8)),
    selectedFeatures: Int32Array.from(spec.features.map((_, i) => i)),
    logitTargets: spec.logitTargets,
    adjacency: Array.isArray(spec.adjacency) ? denseToSparse(spec.adjacency) : spec.adjacency,
    settings: { maxNLogits: 10, desiredLogitProb: 0.95, batchSize: 256, maxFeatureNodes: null },
  };
  const { nNodes } = nodeLayout(graph);
  if (graph.adjacency.nRows !== nNodes)
    throw new Error(`test graph: adjacency has ${graph.adjacency.nRows} rows for ${nNodes} nodes`);
  return graph;
}

/** An all-zero dense matrix for a graph of this shape, to fill in by hand. */
export function zeroAdjacency(nFeatures: number, nLayers: number, nPos: number, nLogits: number): number[][] {
  const n = nFeatures + nLayers * nPos + nPos + nLogits;
  return Array.from({ length: n }, () => new Array<number>(n).fill(0));
}

/**
 * A random attribution-shaped graph: features at random (layer, pos) read from tokens, errors and
 * features of earlier layers at positions ≤ theirs; logits read everything. `density` is the chance
 * that an allowed edge exists. Feature rows come first in the node order although errors (later in
 * the order) feed them, so the node order is not a topological order.
 */
export function randomGraph(
  seed: number,
  opts: { nLayers: number; nPos: number; featuresPerLayerPos: number; nLogits: number; density: number },
) {
  const rand = seededRandom(seed);
  const { nLayers, nPos, featuresPerLayerPos, nLogits, density } = opts;
  const features: [number, number, number][] = [];
  for (let layer = 0; layer < nLayers; layer++) {
    for (let pos = 1; pos < nPos; pos++) {
      for (let f = 0; f < featuresPerLayerPos; f++) features.push([layer, pos, f * 7 + layer + 10]); // ≥ nLayers: no clash with 0.5.0 error ids
    }
  }
  const nF = features.length;
  const errorStart = nF;
  const tokenStart = errorStart + nLayers * nPos;
  const logitStart = tokenStart + nPos;
  const n = logitStart + nLogits;
  // (layer, pos) of every source node; tokens sit below layer 0.
  const layerOf = new Array<number>(n);
  const posOf = new Array<number>(n);
  features.forEach(([l, p], i) => {
    layerOf[i] = l;
    posOf[i] = p;
  });
  for (let l = 0; l < nLayers; l++) {
    for (let p = 0; p < nPos; p++) {
      layerOf[errorStart + l * nPos + p] = l;
      posOf[errorStart + l * nPos + p] = p;
    }
  }
  for (let p = 0; p < nPos; p++) {
    layerOf[tokenStart + p] = -1;
    posOf[tokenStart + p] = p;
  }
  const dense = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  const weight = () => Math.fround((rand() - 0.4) * 4 * (rand() < 0.1 ? 10 : 1));
  for (let t = 0; t < nF; t++) {
    for (let s = errorStart; s < logitStart; s++) {
      if (s === t) continue;
      const ok = layerOf[s] < layerOf[t] && posOf[s] <= posOf[t];
      if (ok && rand() < density) dense[t][s] = weight();
    }
    for (let s = 0; s < nF; s++) {
      if (layerOf[s] < layerOf[t] && posOf[s] <= posOf[t] && rand() < density) dense[t][s] = weight();
    }
  }
  for (let t = logitStart; t < n; t++)
    for (let s = 0; s < logitStart; s++) if (rand() < density) dense[t][s] = weight();
  // Logit probabilities: decreasing, summing below 1.
  const logitTargets: LogitTarget[] = Array.from({ length: nLogits }, (_, i) => ({
    tokenId: 10 + i,
    token: `tok${i}`,
    probability: Math.fround(0.6 / (i + 1)),
  }));
  const tokens = ['<bos>', ...Array.from({ length: nPos - 1 }, (_, i) => `w${i}`)];
  return makeGraph({ nLayers, tokens, features, logitTargets, adjacency: dense });
}

/** |A| / rowsum(|A|) on a dense matrix, rows floored at `minRowSum` as the reference does. */
export function denseNormalize(dense: number[][], minRowSum = 1e-10): number[][] {
  return dense.map((row) => {
    const sum = row.reduce((acc, v) => acc + Math.abs(v), 0);
    return row.map((v) => Math.abs(v) / Math.max(sum, minRowSum));
  });
}

/** The oracle: w Â + w Â² + ... by repeated vector–matrix products until the term vanishes (graph.py). */
export function densePowerSeries(normalized: number[][], weights: ArrayLike<number>, maxIter = 1000): number[] {
  const n = normalized.length;
  let term = Array.from({ length: n }, (_, j) => {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += weights[i] * normalized[i][j];
    return sum;
  });
  const influence = [...term];
  for (let iter = 0; term.some((v) => v !== 0); iter++) {
    if (iter >= maxIter) throw new Error('power series did not terminate');
    const next = new Array<number>(n).fill(0);
    for (let i = 0; i < n; i++) {
      if (term[i] === 0) continue;
      for (let j = 0; j < n; j++) next[j] += term[i] * normalized[i][j];
    }
    term = next;
    for (let j = 0; j < n; j++) influence[j] += term[j];
  }
  return influence;
}

/** Largest |a − b| / max(|b|, floor) over two vectors. */
export function maxRelativeError(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-12): number {
  let worst = 0;
  for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(Math.abs(b[i]), floor));
  return worst;
}

/**
 * A large attribution-shaped graph built directly in CSR (no dense matrix): `nLayers × nPos` cells
 * of features, each feature row reading `inputsPerFeature` random sources from earlier layers at
 * positions ≤ its own, and logit rows reading every feature, error and token.
 */
export function largeRandomGraph(
  seed: number,
  opts: { nLayers: number; nPos: number; featuresPerCell: number; inputsPerFeature: number; nLogits: number },
): AttributionGraph {
  const rand = seededRandom(seed);
  const { nLayers, nPos, featuresPerCell, inputsPerFeature, nLogits } = opts;
  const features: number[] = [];
  for (let layer = 0; layer < nLayers; layer++) {
    for (let pos = 1; pos < nPos; pos++)
      for (let f = 0; f < featuresPerCell; f++) features.push(layer, pos, f * 13 + 10);
  }
  const nF = features.length / 3;
  const errorStart = nF;
  const tokenStart = errorStart + nLayers * nPos;
  const logitStart = tokenStart + nPos;
  const nNodes = logitStart + nLogits;
  // First feature node of each layer, to draw sources from earlier layers.
  const firstOfLayer = (layer: number) => layer * (nPos - 1) * featuresPerCell;
  const rowPtr = new Int32Array(nNodes + 1);
  const cols: Int32Array[] = [];
  let nnz = 0;
  const rows: Int32Array[] = new Array(nNodes);
  for (let t = 0; t < nF; t++) {
    const layer = features[3 * t];
    const pos = features[3 * t + 1];
    const chosen = new Set<number>();
    chosen.add(tokenStart + Math.floor(rand() * (pos + 1)));
    for (let tries = 0; chosen.size < inputsPerFeature && tries < 4 * inputsPerFeature; tries++) {
      const sourceLayer = Math.floor(rand() * layer + (layer === 0 ? 0 : 0));
      if (layer === 0) break;
      const sourcePos = Math.floor(rand() * (pos + 1));
      if (rand() < 0.1) chosen.add(errorStart + sourceLayer * nPos + sourcePos);
      else if (sourcePos >= 1)
        chosen.add(
          firstOfLayer(sourceLayer) + (sourcePos - 1) * featuresPerCell + Math.floor(rand() * featuresPerCell),
        );
    }
    rows[t] = Int32Array.from(chosen).sort();
  }
  for (let t = nF; t < logitStart; t++) rows[t] = new Int32Array(0);
  for (let t = logitStart; t < nNodes; t++) rows[t] = Int32Array.from({ length: logitStart }, (_, i) => i);
  for (let t = 0; t < nNodes; t++) {
    rowPtr[t + 1] = rowPtr[t] + rows[t].length;
    cols.push(rows[t]);
    nnz += rows[t].length;
  }
  const colIdx = new Int32Array(nnz);
  let at = 0;
  for (const c of cols) {
    colIdx.set(c, at);
    at += c.length;
  }
  const values = new Float32Array(nnz);
  for (let k = 0; k < nnz; k++) values[k] = (rand() - 0.45) * (rand() < 0.05 ? 20 : 1);
  const logitTargets: LogitTarget[] = Array.from({ length: nLogits }, (_, i) => ({
    tokenId: 3 + i,
    token: `t${i}`,
    probability: 0.5 / (i + 1),
  }));
  return {
    prompt: 'large',
    tokenIds: Int32Array.from({ length: nPos }, (_, i) => 100 + i),
    tokenStrings: Array.from({ length: nPos }, (_, i) => `w${i}`),
    modelName: 'test-model',
    transcoderSet: 'test-model/plt',
    nLayers,
    nPos,
    activeFeatures: Int32Array.from(features),
    activations: Float32Array.from({ length: nF }, () => 1 + rand()),
    selectedFeatures: Int32Array.from({ length: nF }, (_, i) => i),
    logitTargets,
    adjacency: { nRows: nNodes, nCols: nNodes, rowPtr, colIdx, values },
    settings: { maxNLogits: 10, desiredLogitProb: 0.95, batchSize: 256, maxFeatureNodes: null },
  };
}

/** find_threshold of graph.py on a plain array: sort, cumulative share, first rank reaching it, clamp. */
export function denseFindThreshold(scores: number[], fraction: number): number {
  const sorted = [...scores].sort((a, b) => b - a);
  const cumulative: number[] = [];
  let running = 0;
  for (const s of sorted) cumulative.push((running += s));
  const index = cumulative.findIndex((c) => c / running >= fraction);
  return sorted[index === -1 ? sorted.length - 1 : index];
}

/** prune_graph of graph.py transcribed on dense matrices, whole rounds of dangling removal included. */
export function denseReferencePrune(graph: AttributionGraph, nodeThreshold: number, edgeThreshold: number) {
  const { nFeatureNodes, tokenStart, nNodes } = nodeLayout(graph);
  const a = sparseToDense(graph.adjacency);
  const w = Array.from(logitWeightsOf(graph));
  const influence = densePowerSeries(denseNormalize(a), w);
  const nodeCut = denseFindThreshold(influence, nodeThreshold);
  const nodeMask = influence.map((v, i) => v >= nodeCut || i >= tokenStart);
  const pruned = a.map((row, i) => row.map((v, j) => (nodeMask[i] && nodeMask[j] ? v : 0)));
  const normalizedPruned = denseNormalize(pruned);
  const prunedInfluence = densePowerSeries(normalizedPruned, w).map((v, i) => v + w[i]);
  const scores = normalizedPruned.map((row, i) => row.map((v) => v * prunedInfluence[i]));
  const edgeCut = denseFindThreshold(scores.flat(), edgeThreshold);
  const edgeMask = scores.map((row) => row.map((s) => s >= edgeCut));
  const step = () => {
    const next = [...nodeMask];
    for (let n = 0; n < tokenStart; n++) if (!edgeMask.some((row) => row[n])) next[n] = false; // no outgoing edge
    for (let n = 0; n < nFeatureNodes; n++) if (!edgeMask[n].some(Boolean)) next[n] = false; // no incoming edge
    return next;
  };
  let next = step();
  while (next.some((v, i) => v !== nodeMask[i])) {
    next.forEach((v, i) => (nodeMask[i] = v));
    for (let i = 0; i < nNodes; i++)
      for (let j = 0; j < nNodes; j++) if (!nodeMask[i] || !nodeMask[j]) edgeMask[i][j] = false;
    next = step();
  }
  // What gets exported: stored (non-zero) entries between kept nodes.
  const keptEdges = edgeMask.map((row, i) => row.map((kept, j) => kept && a[i][j] !== 0 && nodeMask[i] && nodeMask[j]));
  return { nodeMask, keptEdges, influence };
}
