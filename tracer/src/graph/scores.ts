/**
 * Graph scores ("Circuit Tracing", §5.1 "Evaluating graphs"; circuit-tracer `compute_graph_scores`),
 * on the unpruned graph:
 *   replacement  = Σ infl(tokens) / (Σ infl(tokens) + Σ infl(errors))
 *                  the share of token→logit influence that flows through features, not errors;
 *   completeness = Σᵢ (1 − Σ_{j ∈ errors} Âᵢⱼ)(inflᵢ + wᵢ) / Σᵢ (inflᵢ + wᵢ)
 *                  the influence-weighted share of every node's input that does not come from errors.
 */
import type { AttributionGraph } from './attribution-graph.js';
import { nodeLayout } from './attribution-graph.js';
import type { GraphScores } from '@circuit-atlas/schema';
import { logitWeightsOf, normalizeAdjacency, propagateInfluence } from './influence.js';

/** Both scores; a score is NaN where its denominator is zero (no influence reaches tokens or errors). */
export function computeGraphScores(graph: AttributionGraph): GraphScores {
  const { errorStart, tokenStart, logitStart, nNodes } = nodeLayout(graph);
  const logitWeights = logitWeightsOf(graph);
  const normalized = normalizeAdjacency(graph.adjacency);
  const influence = propagateInfluence(normalized, logitWeights, nNodes);

  let tokenInfluence = 0;
  for (let n = tokenStart; n < logitStart; n++) tokenInfluence += influence[n];
  let errorInfluence = 0;
  for (let n = errorStart; n < tokenStart; n++) errorInfluence += influence[n];
  const replacement = tokenInfluence / (tokenInfluence + errorInfluence);

  const { rowPtr, colIdx, values } = normalized;
  let explained = 0;
  let total = 0;
  for (let row = 0; row < nNodes; row++) {
    let errorFraction = 0;
    for (let k = rowPtr[row]; k < rowPtr[row + 1]; k++) {
      const source = colIdx[k];
      if (source >= errorStart && source < tokenStart) errorFraction += values[k];
    }
    const outputInfluence = influence[row] + logitWeights[row];
    explained += (1 - errorFraction) * outputInfluence;
    total += outputInfluence;
  }
  return { replacement, completeness: explained / total };
}
