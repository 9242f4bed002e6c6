/**
 * Our tracer against the reference: for every fixture that circuit-tracer 0.5.0 computed
 * (training/reference/run_reference.py), trace the same model, transcoders and prompt with the
 * same settings and require the same graph:
 *   adjacency within 1e-4 relative (1e-6 absolute floor), identical logit targets, active and
 *   selected features, identical pruned node and edge sets at (0.8, 0.98), scores within 1e-4,
 *   and the same graph JSON (error ids aside: v0.5.0 wrote `0_{layer}_{pos}`, we write `{layer}_-1_{pos}`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SparseMatrix } from '../src/graph/attribution-graph.js';
import { nodeLayout } from '../src/graph/attribution-graph.js';
import { toGraphJson } from '../src/graph/graph-json.js';
import {
  loadReplacementModel,
  traceGraph,
  type AttributionGraph,
  type GraphDocument,
  type ReplacementModel,
} from '../src/index.js';
import {
  listReferenceFixtures,
  loadReferenceFixture,
  referenceErrorIdToOurs,
  type ReferenceFixture,
} from './fixtures/reference-fixture.js';

const RELATIVE = 1e-4;
/**
 * Every entry must agree within 1e-4 relative with a 1e-5 absolute floor, and at least 99.9% of
 * them within the stricter 1e-6 floor. Why not 1e-6 for all: circuit-tracer in float32
 * differs from itself run in float64 (`run_reference.py fixtures --dtype float64`) by up to
 * 2.9e-6 absolute on these fixtures, on error-node edges whose dot products cancel; a 1e-6 floor
 * would fail the reference against itself.
 */
const ABSOLUTE_FLOOR = 1e-5;
const STRICT_FLOOR = 1e-6;
const STRICT_SHARE = 0.999;
const SCORE_TOLERANCE = 1e-4;

const close = (ours: number, ref: number, relative = RELATIVE, floor = ABSOLUTE_FLOOR) =>
  Math.abs(ours - ref) <= Math.max(relative * Math.abs(ref), floor);

interface Mismatch {
  target: number;
  source: number;
  ours: number;
  reference: number;
}

/** Entries of two CSR matrices over the same nodes that differ beyond the tolerance (union of non-zeros). */
function adjacencyMismatches(ours: SparseMatrix, ref: SparseMatrix, floor = ABSOLUTE_FLOOR): Mismatch[] {
  const out: Mismatch[] = [];
  for (let row = 0; row < ref.nRows; row++) {
    const entries = new Map<number, [number, number]>();
    for (let k = ref.rowPtr[row]; k < ref.rowPtr[row + 1]; k++) entries.set(ref.colIdx[k], [0, ref.values[k]]);
    for (let k = ours.rowPtr[row]; k < ours.rowPtr[row + 1]; k++) {
      const entry = entries.get(ours.colIdx[k]) ?? [0, 0];
      entry[0] += ours.values[k];
      entries.set(ours.colIdx[k], entry);
    }
    for (const [source, [o, r]] of entries)
      if (!close(o, r, RELATIVE, floor)) out.push({ target: row, source, ours: o, reference: r });
  }
  return out;
}

function describeMismatches(fx: ReferenceFixture, mismatches: Mismatch[], total: number, floor: number): string {
  const shown = mismatches
    .slice(0, 5)
    .map((m) => `${fx.nodeId(m.source)} -> ${fx.nodeId(m.target)}: ours ${m.ours}, reference ${m.reference}`);
  return `${mismatches.length} of ${total} adjacency entries differ beyond ${RELATIVE} relative / ${floor} absolute:\n  ${shown.join('\n  ')}`;
}

function featureTriples(graph: Pick<AttributionGraph, 'activeFeatures'>, indices?: Int32Array): string[] {
  const all = Array.from({ length: graph.activeFeatures.length / 3 }, (_, a) => a);
  return (indices ? Array.from(indices) : all).map((a) => graph.activeFeatures.slice(3 * a, 3 * a + 3).join(','));
}

const fixtures = listReferenceFixtures();
const models = [...new Set(fixtures.map((f) => f.model))];

describe.each(models)('%s traced like circuit-tracer 0.5.0', (modelName) => {
  let model: ReplacementModel;
  beforeAll(async () => {
    const { modelDir } = await loadReferenceFixture(modelName, fixtures.find((f) => f.model === modelName)!.slug);
    model = await loadReplacementModel(modelDir);
  });
  afterAll(async () => {
    await model?.dispose();
  });

  describe.each(fixtures.filter((f) => f.model === modelName).map((f) => f.slug))('%s', (slug) => {
    let fx: ReferenceFixture;
    let graph: AttributionGraph;
    let document: GraphDocument;
    beforeAll(async () => {
      fx = await loadReferenceFixture(modelName, slug);
      ({ graph, document } = await traceGraph(model, fx.prompt, {
        maxNLogits: fx.settings.maxNLogits,
        desiredLogitProb: fx.settings.desiredLogitProb,
        batchSize: fx.settings.batchSize,
        maxFeatureNodes: fx.settings.maxFeatureNodes,
        updateInterval: fx.settings.updateInterval,
        nodeThreshold: fx.settings.nodeThreshold,
        edgeThreshold: fx.settings.edgeThreshold,
        id: slug,
      }));
    });

    it('tokenizes the prompt to the same ids, BOS included', () => {
      expect(Array.from(graph.tokenIds)).toEqual(Array.from(fx.tokenIds));
    });

    it('chooses the same logit targets with the same probabilities', () => {
      expect(graph.logitTargets.map((t) => t.tokenId)).toEqual(fx.logitTargets.map((t) => t.tokenId));
      graph.logitTargets.forEach((t, i) =>
        expect(Math.abs(t.probability - fx.logitTargets[i].probability)).toBeLessThanOrEqual(1e-5),
      );
    });

    it('finds the same active features with the same activations', () => {
      expect(featureTriples(graph)).toEqual(featureTriples(fx));
      const off = Array.from(fx.activations).flatMap((ref, a) =>
        close(graph.activations[a], ref)
          ? []
          : [`${featureTriples(fx)[a]}: ours ${graph.activations[a]}, reference ${ref}`],
      );
      expect(off, off.slice(0, 5).join('\n')).toEqual([]);
    });

    it('selects the same features as graph nodes', () => {
      expect(featureTriples(graph, graph.selectedFeatures)).toEqual(featureTriples(fx, fx.selectedFeatures));
    });

    it('computes the same adjacency (1e-4 relative; 1e-5 absolute floor, 1e-6 for 99.9% of entries)', () => {
      expect(nodeLayout(graph).nNodes).toBe(fx.adjacency.nRows);
      const total = fx.adjacency.values.length;
      const mismatches = adjacencyMismatches(graph.adjacency, fx.adjacency);
      expect(mismatches.length, describeMismatches(fx, mismatches, total, ABSOLUTE_FLOOR)).toBe(0);
      const strict = adjacencyMismatches(graph.adjacency, fx.adjacency, STRICT_FLOOR);
      expect(strict.length, describeMismatches(fx, strict, total, STRICT_FLOOR)).toBeLessThanOrEqual(
        Math.floor((1 - STRICT_SHARE) * total),
      );
    });

    it('keeps the same nodes and edges when pruned at (0.8, 0.98)', () => {
      const typeOf = new Map(fx.graphJson.nodes.map((n) => [String(n.node_id), String(n.feature_type)]));
      const ours = (id: string) => referenceErrorIdToOurs(id, typeOf.get(id)!);
      const refNodes = new Set(fx.graphJson.nodes.map((n) => ours(String(n.node_id))));
      expect(new Set(document.nodes.map((n) => n.nodeId))).toEqual(refNodes);
      const refEdges = new Map(fx.graphJson.links.map((l) => [`${ours(l.source)}->${ours(l.target)}`, l.weight]));
      const ourEdges = new Map(document.edges.map((e) => [`${e.source}->${e.target}`, e.weight]));
      expect(new Set(ourEdges.keys())).toEqual(new Set(refEdges.keys()));
      for (const [key, weight] of refEdges)
        expect(close(ourEdges.get(key)!, weight), `${key}: ours ${ourEdges.get(key)}, reference ${weight}`).toBe(true);
    });

    it('has the same cumulative influence on every kept node', () => {
      const refInfluence = new Map(
        fx.graphJson.nodes.map((n) => [
          referenceErrorIdToOurs(String(n.node_id), String(n.feature_type)),
          n.influence as number | null,
        ]),
      );
      for (const node of document.nodes) {
        const ref = refInfluence.get(node.nodeId);
        if (ref === null || ref === undefined) continue; // logits carry none
        expect(Math.abs(node.influence! - ref), node.nodeId).toBeLessThanOrEqual(SCORE_TOLERANCE);
      }
    });

    it('has the same replacement and completeness scores (1e-4)', () => {
      expect(document.scores).not.toBeNull();
      expect(Math.abs(document.scores!.replacement - fx.replacementScore)).toBeLessThanOrEqual(SCORE_TOLERANCE);
      expect(Math.abs(document.scores!.completeness - fx.completenessScore)).toBeLessThanOrEqual(SCORE_TOLERANCE);
    });

    it('exports the graph JSON that create_graph_files wrote', () => {
      const json = toGraphJson(document);
      expect(json.metadata.prompt_tokens).toEqual(fx.graphJson.metadata.prompt_tokens);
      expect(json.metadata.node_threshold).toBe(fx.graphJson.metadata.node_threshold);
      const byId = new Map(json.nodes.map((n) => [n.node_id, n]));
      for (const ref of fx.graphJson.nodes) {
        const id = referenceErrorIdToOurs(String(ref.node_id), String(ref.feature_type));
        const node = byId.get(id);
        expect(node, `node ${id}`).toBeDefined();
        for (const field of [
          'feature',
          'layer',
          'ctx_idx',
          'feature_type',
          'is_target_logit',
          'run_idx',
          'reverse_ctx_idx',
          'jsNodeId',
        ] as const) {
          expect(node![field], `${id}.${field}`).toEqual(ref[field]);
        }
        if (ref.feature_type === 'logit') expect(node!.clerp, `${id}.clerp`).toBe(ref.clerp);
        expect(Math.abs(node!.token_prob - (ref.token_prob as number)), `${id}.token_prob`).toBeLessThanOrEqual(1e-5);
        for (const field of ['influence', 'activation'] as const) {
          const want = ref[field] as number | null;
          if (want === null) expect(node![field], `${id}.${field}`).toBeNull();
          else
            expect(
              close(node![field]!, want, SCORE_TOLERANCE, SCORE_TOLERANCE),
              `${id}.${field}: ours ${node![field]}, reference ${want}`,
            ).toBe(true);
        }
      }
      expect(json.nodes.length).toBe(fx.graphJson.nodes.length);
      expect(json.links.length).toBe(fx.graphJson.links.length);
    });
  });
});
