/**
 * Our influence, pruning, scores and graph JSON on circuit-tracer 0.5.0's own adjacency matrices
 * (tracer/test/fixtures/reference, made by training/reference/): same pruned node and edge sets,
 * scores within 1e-4, and the same graph JSON but for the documented error-id scheme.
 */
import { describe, expect, it } from 'vitest';
import { nodeLayout } from '../../src/graph/attribution-graph.js';
import { fromGraphJson, toGraphJson, validateGraphJson } from '../../src/graph/graph-json.js';
import { computeNodeInfluence, logitWeightsOf } from '../../src/graph/influence.js';
import { pruneGraph } from '../../src/graph/prune.js';
import { computeGraphScores } from '../../src/graph/scores.js';
import { toGraphDocument } from '../../src/graph/to-document.js';
import { listReferenceFixtures, loadReferenceFixture, referenceErrorIdToOurs } from '../fixtures/reference-fixture.js';
import { denseReferencePrune, sparseToDense } from './build-graph.js';

const fixtures = listReferenceFixtures();

/** |a − b| ≤ 1e-4 · max(|b|, 1e-2): relative, with a floor for values near zero. */
function expectClose(actual: number, expected: number, what: string) {
  const tolerance = 1e-4 * Math.max(Math.abs(expected), 1e-2);
  if (!(Math.abs(actual - expected) <= tolerance))
    throw new Error(`${what}: ${actual} differs from the reference's ${expected}`);
}

/** The reference's graph JSON with our error ids, for comparison. */
function withOurErrorIds(json: Awaited<ReturnType<typeof loadReferenceFixture>>['graphJson']) {
  const rename = new Map<string, string>();
  for (const node of json.nodes)
    rename.set(node.node_id as string, referenceErrorIdToOurs(node.node_id as string, node.feature_type as string));
  return {
    ...json,
    nodes: json.nodes.map((n): Record<string, unknown> => ({ ...n, node_id: rename.get(n.node_id as string) })),
    links: json.links.map((l) => ({
      ...l,
      source: rename.get(l.source) ?? l.source,
      target: rename.get(l.target) ?? l.target,
    })),
  };
}

describe('against circuit-tracer 0.5.0 fixtures', () => {
  it('has fixtures for several models and prompts, one with max_feature_nodes', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(9);
    expect(fixtures.some((f) => f.slug.includes('max'))).toBe(true);
  });

  for (const { model, slug } of fixtures) {
    describe(`${model}/${slug}`, () => {
      it('computes the same node influence and scores', async () => {
        const fx = await loadReferenceFixture(model, slug);
        const influence = computeNodeInfluence(fx.graph.adjacency, logitWeightsOf(fx.graph));
        for (let n = 0; n < influence.length; n++)
          expectClose(influence[n], fx.nodeInfluence[n], `influence of ${fx.nodeId(n)}`);
        const scores = computeGraphScores(fx.graph);
        expectClose(scores.replacement, fx.replacementScore, 'replacement score');
        expectClose(scores.completeness, fx.completenessScore, 'completeness score');
      });

      it('keeps the same nodes and edges, with the same edge scores and cumulative shares', async () => {
        const fx = await loadReferenceFixture(model, slug);
        const { nodeThreshold, edgeThreshold } = fx.settings;
        const pruned = pruneGraph(fx.graph, nodeThreshold, edgeThreshold);
        expect(Array.from(pruned.nodeMask)).toEqual(Array.from(fx.prunedNodeMask));

        const { rowPtr, colIdx } = fx.graph.adjacency;
        const ourEdges: string[] = [];
        const ourScores = new Map<string, number>();
        for (let row = 0; row < rowPtr.length - 1; row++) {
          for (let k = rowPtr[row]; k < rowPtr[row + 1]; k++) {
            if (!pruned.edgeMask[k]) continue;
            ourEdges.push(`${row}<-${colIdx[k]}`);
            ourScores.set(`${row}<-${colIdx[k]}`, pruned.edgeScore[k]);
          }
        }
        const referenceEdges = Array.from(
          { length: fx.prunedEdges.length / 2 },
          (_, e) => `${fx.prunedEdges[2 * e]}<-${fx.prunedEdges[2 * e + 1]}`,
        );
        expect(ourEdges).toEqual(referenceEdges);
        referenceEdges.forEach((edge, e) =>
          expectClose(ourScores.get(edge)!, fx.prunedEdgeScores[e], `edge score ${edge}`),
        );

        // Cumulative shares: nodes tied in influence share a rank the reference orders arbitrarily.
        const tied = (n: number) =>
          pruned.nodeInfluence.some((v, m) => m !== n && Math.abs(v - pruned.nodeInfluence[n]) <= 1e-7 * v);
        for (let n = 0; n < pruned.nodeShare.length; n++) {
          if (!tied(n)) expectClose(pruned.nodeShare[n], fx.cumulativeScores[n], `cumulative share of ${fx.nodeId(n)}`);
        }
      });

      it('prunes like graph.py at tighter thresholds too, where the dangling-node clean-up acts', async () => {
        const fx = await loadReferenceFixture(model, slug);
        for (const [nodeThreshold, edgeThreshold] of [
          [0.7, 0.6],
          [0.9, 0.95],
        ]) {
          const ours = pruneGraph(fx.graph, nodeThreshold, edgeThreshold);
          const reference = denseReferencePrune(fx.graph, nodeThreshold, edgeThreshold);
          expect(Array.from(ours.nodeMask, Boolean)).toEqual(reference.nodeMask);
          const ourEdges = sparseToDense({ ...fx.graph.adjacency, values: Float32Array.from(ours.edgeMask) }).map(
            (row) => row.map(Boolean),
          );
          expect(ourEdges).toEqual(reference.keptEdges);
        }
      });

      it('writes the same graph JSON as create_graph_files, error ids aside', async () => {
        const fx = await loadReferenceFixture(model, slug);
        const reference = withOurErrorIds(fx.graphJson);
        const meta = fx.graphJson.metadata;
        // The prompt text and scan are inputs here: take them from the reference run.
        const graph = { ...fx.graph, prompt: String(meta.prompt), modelName: String(meta.scan) };
        const doc = toGraphDocument(graph, { ...fx.settings, id: String(meta.slug) });
        const ours = toGraphJson(doc);
        // Our shares of each group of nodes with equal influence, by node id.
        const { nodeInfluence, nodeShare } = pruneGraph(graph, fx.settings.nodeThreshold, fx.settings.edgeThreshold);
        const tieGroups = new Map<string, number[]>();
        for (let n = 0; n < nodeInfluence.length; n++) {
          const group: number[] = [];
          for (let m = 0; m < nodeInfluence.length; m++) {
            if (Math.abs(nodeInfluence[m] - nodeInfluence[n]) <= 1e-7 * nodeInfluence[n]) group.push(nodeShare[m]);
          }
          if (group.length > 1) tieGroups.set(fx.nodeId(n), group);
        }

        expect(ours.qParams).toEqual((fx.graphJson as unknown as { qParams: unknown }).qParams);
        for (const [key, value] of Object.entries(meta))
          expect([key, ours.metadata[key as keyof typeof ours.metadata]]).toEqual([key, value]);
        expect(ours.nodes.map((n) => n.node_id)).toEqual(reference.nodes.map((n) => n.node_id));
        const { logitStart } = nodeLayout(graph);
        expect(ours.nodes.filter((n) => n.feature_type === 'logit')).toHaveLength(fx.logitTargets.length);
        expect(logitStart).toBeGreaterThan(0);
        ours.nodes.forEach((node, i) => {
          const expected = reference.nodes[i];
          expect(Object.keys(node)).toEqual(Object.keys(expected));
          for (const [key, value] of Object.entries(node)) {
            const want = expected[key];
            if (key === 'influence' && typeof value === 'number' && tieGroups.has(node.node_id)) {
              // Nodes tied in influence get successive shares in an order the reference leaves arbitrary.
              const group = tieGroups.get(node.node_id)!;
              expect(want as number).toBeGreaterThanOrEqual(Math.min(...group) - 1e-4);
              expect(want as number).toBeLessThanOrEqual(Math.max(...group) + 1e-4);
            } else if (typeof value === 'number' && !Number.isInteger(value)) {
              expectClose(value, want as number, `${node.node_id}.${key}`);
            } else {
              expect([node.node_id, key, value]).toEqual([node.node_id, key, want]);
            }
          }
        });
        expect(ours.links).toEqual(reference.links);
      });

      it('reads the reference JSON and writes it back the same, error ids aside', async () => {
        const fx = await loadReferenceFixture(model, slug);
        expect(() => validateGraphJson(fx.graphJson)).not.toThrow();
        const doc = fromGraphJson(fx.graphJson);
        expect(doc.nLayers).toBe(fx.nLayers);
        expect(doc.tokenIds).toEqual(Array.from(fx.tokenIds));
        const again = toGraphJson(doc);
        const reference = withOurErrorIds(fx.graphJson);
        expect(again.nodes).toEqual(reference.nodes);
        expect(again.links).toEqual(reference.links);
      });
    });
  }
});
