import { describe, expect, it } from 'vitest';
import { TRACE_SETTING_DEFAULTS, type GraphDocument, type GraphEdge, type GraphNode } from '@circuit-atlas/schema';
import { findSupernodes, supernodesFromQParams, supernodesToQParams } from '../../src/circuit/supernodes.js';
import type { MemberLabels } from '../../src/circuit/supernodes.js';
import { buildCircuitView } from '../../src/circuit/circuit-view.js';
import { UserInputError } from '../../src/errors.js';

/** A pruned graph built by hand: 3 layers, tokens at positions 1..3, one logit. */
function graph(nodes: Partial<GraphNode>[], edges: [string, string, number][]): GraphDocument {
  return {
    id: 'hand',
    prompt: 'a b c',
    promptTokens: ['<bos>', 'a', 'b', 'c'],
    tokenIds: [0, 1, 2, 3],
    model: 'hand',
    transcoderSet: 'hand/plt',
    nLayers: 3,
    createdAt: '2026-01-01T00:00:00Z',
    settings: { ...TRACE_SETTING_DEFAULTS, maxNLogits: 1, batchSize: 1 },
    scores: null,
    nodes: nodes.map((n) => ({
      nodeId: n.nodeId!,
      kind: n.kind ?? 'feature',
      layer: n.layer ?? 0,
      ctxIdx: n.ctxIdx ?? 1,
      feature: n.feature ?? null,
      activation: (n.activation ?? (n.kind ?? 'feature') === 'feature') ? 1 : null,
      influence: null,
      tokenProb: n.tokenProb ?? null,
      isTargetLogit: n.kind === 'logit',
      label: n.label ?? '',
    })),
    edges: edges.map(([source, target, weight]): GraphEdge => ({ source, target, weight, influence: null })),
  };
}

const token = (pos: number, id = pos): Partial<GraphNode> => ({
  nodeId: `E_${id}_${pos}`,
  kind: 'embedding',
  layer: -1,
  ctxIdx: pos,
  feature: id,
});
const feature = (layer: number, f: number, pos: number, activation = 1): Partial<GraphNode> => ({
  nodeId: `${layer}_${f}_${pos}`,
  kind: 'feature',
  layer,
  ctxIdx: pos,
  feature: f,
  activation,
});
const logit: Partial<GraphNode> = {
  nodeId: '4_9_3',
  kind: 'logit',
  layer: 3,
  ctxIdx: 3,
  feature: 9,
  tokenProb: 0.9,
  label: 'Output "z"',
};

/**
 * Position 2 holds two features (0_1_2, 0_2_2) that read token b and write to 1_5_3 in the same
 * proportions, and one (0_3_2) that reads token a and inhibits 1_6_3; position 3 holds 1_5_3, which
 * excites the logit, and 1_6_3, which inhibits it.
 */
function rolesGraph(): GraphDocument {
  return graph(
    [
      token(1),
      token(2),
      token(3),
      feature(0, 1, 2),
      feature(0, 2, 2, 2),
      feature(0, 3, 2),
      feature(1, 5, 3),
      feature(1, 6, 3),
      logit,
    ],
    [
      ['E_2_2', '0_1_2', 1],
      ['E_2_2', '0_2_2', 2],
      ['E_1_1', '0_3_2', 1],
      ['0_1_2', '1_5_3', 1],
      ['0_2_2', '1_5_3', 2],
      ['0_3_2', '1_6_3', -1],
      ['E_3_3', '1_6_3', 1],
      ['1_5_3', '4_9_3', 3],
      ['1_6_3', '4_9_3', -1],
    ],
  );
}

describe('automatic supernodes', () => {
  it('groups features with identical edge profiles and leaves a feature with a different profile alone', () => {
    const supernodes = findSupernodes(rolesGraph());
    expect(supernodes).toHaveLength(1);
    expect(new Set(supernodes[0].members)).toEqual(new Set(['0_1_2', '0_2_2']));
    expect(supernodes[0].ctxIdx).toBe(2);
    expect(supernodes[0].layers).toEqual([0, 0]);
  });

  it('never groups features at different positions or farther apart in layers than the window', () => {
    // 0_1_1 and 0_2_2 have identical profiles but sit at different positions; 0_4_2 and 2_7_2 are 2 layers apart.
    const doc = graph(
      [token(1), token(2), feature(0, 1, 1), feature(0, 2, 2), feature(0, 4, 2), feature(2, 7, 2), logit],
      [
        ['E_1_1', '0_1_1', 1],
        ['E_1_1', '0_2_2', 1],
        ['0_1_1', '4_9_3', 1],
        ['0_2_2', '4_9_3', 1],
        ['E_2_2', '0_4_2', 1],
        ['E_2_2', '2_7_2', 1],
        ['0_4_2', '4_9_3', 1],
        ['2_7_2', '4_9_3', 1],
      ],
    );
    const together = findSupernodes(doc, () => null, { samePosition: false, layerWindow: 2 }).map(
      (s) => new Set(s.members),
    );
    expect(together).toContainEqual(new Set(['0_1_1', '0_2_2', '0_4_2', '2_7_2']));
    const apart = findSupernodes(doc, () => null, { layerWindow: 1 }).map((s) => new Set(s.members));
    expect(apart.some((members) => members.has('0_1_1') && members.has('0_2_2'))).toBe(false);
    expect(apart.some((members) => members.has('0_4_2') && members.has('2_7_2'))).toBe(false);
  });

  it('splits features whose confident labels disagree when label compatibility is on', () => {
    const labels: Record<string, MemberLabels> = {
      '0_1_2': { input: { text: 'Texas', confidence: 0.9 }, output: null },
      '0_2_2': { input: { text: 'Ohio', confidence: 0.9 }, output: null },
    };
    const lookup = (n: GraphNode) => labels[n.nodeId] ?? null;
    expect(findSupernodes(rolesGraph(), lookup, { labelConfidence: 0.5 })).toHaveLength(0);
    expect(findSupernodes(rolesGraph(), lookup, { labelConfidence: 0.95 })).toHaveLength(1);
  });

  it('names a supernode by the influence-weighted vote of its members, and by its place when no label is given', () => {
    // 0_2_2 carries twice the influence of 0_1_2 (twice the edge into 1_5_3), so its label wins.
    const labels: Record<string, MemberLabels> = {
      '0_1_2': { input: { text: 'Ohio', confidence: 1 }, output: null },
      '0_2_2': { input: null, output: { text: 'Austin', confidence: 1 } },
    };
    const [named] = findSupernodes(rolesGraph(), (n) => labels[n.nodeId] ?? null);
    expect(named.label).toBe('say Austin');
    expect(named.named).toBe(true);
    const [unnamed] = findSupernodes(rolesGraph());
    expect(unnamed.label).toBe('features at "b" L0');
    expect(unnamed.named).toBe(false);
  });

  it('round-trips through qParams.supernodes and refuses members that are not feature nodes', () => {
    const doc = rolesGraph();
    const found = findSupernodes(doc);
    const entries = supernodesToQParams(found);
    expect(entries[0][0]).toBe(found[0].label);
    const back = supernodesFromQParams(doc, entries);
    expect(back[0].members).toEqual(found[0].members);
    expect(back[0].influence).toBeCloseTo(found[0].influence, 10);
    expect(() => supernodesFromQParams(doc, [['tokens', 'E_1_1']])).toThrow(UserInputError);
    expect(() => supernodesFromQParams(doc, [['ghost', '0_77_2']])).toThrow(
      /'0_77_2' is not a feature node of graph 'hand'/,
    );
  });
});

describe('circuit view', () => {
  it('collapses a supernode, sums its edges and keeps the strongest token → logit paths', () => {
    const doc = rolesGraph();
    const supernodes = findSupernodes(doc);
    const view = buildCircuitView(doc, supernodes, { maxPaths: 2 });
    const sn = supernodes[0].id;
    // 0_1_2 (1) + 0_2_2 (2) into 1_5_3, whose whole input they are.
    expect(view.edges.find((e) => e.source === sn && e.target === '1_5_3')).toMatchObject({ weight: 3, share: 1 });
    expect(view.paths[0].nodes).toEqual(['E_2_2', sn, '1_5_3', '4_9_3']);
    expect(view.paths[0].strength).toBeCloseTo(1 * 1 * 0.75, 10);
    expect(view.paths[0].sign).toBe(1);
    expect(view.nodes.find((n) => n.id === sn)).toMatchObject({ kind: 'supernode', members: supernodes[0].members });
    expect(view.nodes.map((n) => n.id)).not.toContain('0_1_2');
  });

  it('refuses a target that is not a logit of the graph, and a node in two supernodes', () => {
    const doc = rolesGraph();
    const supernodes = findSupernodes(doc);
    expect(() => buildCircuitView(doc, supernodes, { target: '1_5_3' })).toThrow(
      /'1_5_3' is not a logit node of graph 'hand'; choose one of 4_9_3/,
    );
    expect(() => buildCircuitView(doc, [...supernodes, { ...supernodes[0], id: 'other' }])).toThrow(
      /in more than one supernode/,
    );
  });
});
