import { describe, expect, it } from 'vitest';
import { UserInputError } from '../../src/errors.js';
import { cantorPairing, fromGraphJson, toGraphJson } from '../../src/graph/graph-json.js';
import { toGraphDocument } from '../../src/graph/to-document.js';
import { randomGraph } from './build-graph.js';

function tracedDocument(seed = 71) {
  const graph = randomGraph(seed, { nLayers: 3, nPos: 5, featuresPerLayerPos: 3, nLogits: 3, density: 0.4 });
  return toGraphDocument(graph, { id: `graph-${seed}`, createdAt: '2026-11-25T12:34:56.789Z' });
}

/** A small graph exactly as circuit-tracer 0.5.0's create_graph_files writes it (graph_models.py). */
function referenceJson() {
  return {
    metadata: {
      slug: 'dallas',
      scan: 'atlas-world-llama',
      transcoder_list: [],
      prompt_tokens: ['<bos>', ' Dallas', ' is'],
      prompt: '<bos> Dallas is',
      node_threshold: 0.8,
      schema_version: 1,
    },
    qParams: { pinnedIds: [], supernodes: [], linkType: 'both', clickedId: '', sg_pos: '' },
    nodes: [
      {
        node_id: '0_10_1',
        feature: cantorPairing(0, 10),
        layer: '0',
        ctx_idx: 1,
        feature_type: 'cross layer transcoder',
        token_prob: 0.0,
        is_target_logit: false,
        run_idx: 0,
        reverse_ctx_idx: 0,
        jsNodeId: '0_10-0',
        clerp: '',
        influence: 0.41,
        activation: 3.5,
      },
      {
        node_id: '1_11_2',
        feature: cantorPairing(1, 11),
        layer: '1',
        ctx_idx: 2,
        feature_type: 'cross layer transcoder',
        token_prob: 0.0,
        is_target_logit: false,
        run_idx: 0,
        reverse_ctx_idx: 0,
        jsNodeId: '1_11-0',
        clerp: '',
        influence: 0.2,
        activation: 1.25,
      },
      {
        node_id: '0_1_2',
        feature: -1,
        layer: '1',
        ctx_idx: 2,
        feature_type: 'mlp reconstruction error',
        token_prob: 0.0,
        is_target_logit: false,
        run_idx: 0,
        reverse_ctx_idx: 0,
        jsNodeId: '1_2-0',
        clerp: '',
        influence: 0.55,
        activation: null,
      },
      {
        node_id: 'E_1_0',
        feature: 0,
        layer: 'E',
        ctx_idx: 0,
        feature_type: 'embedding',
        token_prob: 0.0,
        is_target_logit: false,
        run_idx: 0,
        reverse_ctx_idx: 0,
        jsNodeId: 'E_1-0',
        clerp: '',
        influence: 1.0,
        activation: null,
      },
      {
        node_id: 'E_40_1',
        feature: 1,
        layer: 'E',
        ctx_idx: 1,
        feature_type: 'embedding',
        token_prob: 0.0,
        is_target_logit: false,
        run_idx: 0,
        reverse_ctx_idx: 0,
        jsNodeId: 'E_40-1',
        clerp: '',
        influence: 0.7,
        activation: null,
      },
      {
        node_id: 'E_41_2',
        feature: 2,
        layer: 'E',
        ctx_idx: 2,
        feature_type: 'embedding',
        token_prob: 0.0,
        is_target_logit: false,
        run_idx: 0,
        reverse_ctx_idx: 0,
        jsNodeId: 'E_41-2',
        clerp: '',
        influence: 0.9,
        activation: null,
      },
      {
        node_id: '3_77_2',
        feature: 77,
        layer: '3',
        ctx_idx: 2,
        feature_type: 'logit',
        token_prob: 0.8125,
        is_target_logit: true,
        run_idx: 0,
        reverse_ctx_idx: 0,
        jsNodeId: 'L_77-2',
        clerp: 'Output " Austin" (p=0.812)',
        influence: null,
        activation: null,
      },
    ],
    links: [
      { source: 'E_40_1', target: '0_10_1', weight: 2.5 },
      { source: '0_10_1', target: '1_11_2', weight: 1.5 },
      { source: '1_11_2', target: '3_77_2', weight: 3.0 },
      { source: '0_1_2', target: '3_77_2', weight: -1.0 },
      { source: 'E_41_2', target: '3_77_2', weight: -0.5 },
    ],
  };
}

describe('toGraphJson', () => {
  it('writes every node field as circuit-tracer does, in its order', () => {
    const doc = tracedDocument();
    const json = toGraphJson(doc);
    expect(Object.keys(json)).toEqual(['metadata', 'qParams', 'nodes', 'links']);
    expect(json.qParams).toEqual({ pinnedIds: [], supernodes: [], linkType: 'both', clickedId: '', sg_pos: '' });
    expect(json.metadata).toMatchObject({
      slug: 'graph-71',
      scan: 'test-model',
      transcoder_list: [],
      prompt_tokens: doc.promptTokens,
      prompt: doc.prompt,
      node_threshold: 0.8,
      schema_version: 1,
      generation_settings: { max_n_logits: 10, desired_logit_prob: 0.95, batch_size: 256, max_feature_nodes: null },
      pruning_settings: { node_threshold: 0.8, edge_threshold: 0.98 },
      circuit_atlas: { transcoder_set: 'test-model/plt', scores: doc.scores },
    });
    expect(json.metadata.info?.create_time_ms).toBe(Date.parse('2026-11-25T12:34:56.789Z'));
    const fieldOrder = [
      'node_id',
      'feature',
      'layer',
      'ctx_idx',
      'feature_type',
      'token_prob',
      'is_target_logit',
      'run_idx',
      'reverse_ctx_idx',
      'jsNodeId',
      'clerp',
      'influence',
      'activation',
    ];
    for (const node of json.nodes) expect(Object.keys(node)).toEqual(fieldOrder);

    const feature = json.nodes.find((n) => n.feature_type === 'cross layer transcoder')!;
    const docFeature = doc.nodes.find((n) => n.nodeId === feature.node_id)!;
    expect(feature).toEqual({
      node_id: `${docFeature.layer}_${docFeature.feature}_${docFeature.ctxIdx}`,
      feature: cantorPairing(docFeature.layer, docFeature.feature!),
      layer: String(docFeature.layer),
      ctx_idx: docFeature.ctxIdx,
      feature_type: 'cross layer transcoder',
      token_prob: 0,
      is_target_logit: false,
      run_idx: 0,
      reverse_ctx_idx: 0,
      jsNodeId: `${docFeature.layer}_${docFeature.feature}-0`,
      clerp: '',
      influence: docFeature.influence,
      activation: docFeature.activation,
    });
    const error = json.nodes.find((n) => n.feature_type === 'mlp reconstruction error')!;
    expect(error).toMatchObject({
      feature: -1,
      clerp: '',
      activation: null,
      jsNodeId: `${error.layer}_${error.ctx_idx}-0`,
    });
    expect(error.node_id).toBe(`${error.layer}_-1_${error.ctx_idx}`);
    const embedding = json.nodes.find((n) => n.feature_type === 'embedding' && n.ctx_idx === 2)!;
    expect(embedding).toMatchObject({
      node_id: 'E_102_2',
      feature: 2,
      layer: 'E',
      jsNodeId: 'E_102-2',
      clerp: '',
      activation: null,
    });
    const logits = json.nodes.filter((n) => n.feature_type === 'logit');
    expect(logits.map((n) => [n.node_id, n.layer, n.jsNodeId, n.is_target_logit, n.influence])).toEqual([
      ['4_10_4', '4', 'L_10-4', true, null],
      ['4_11_4', '4', 'L_11-4', false, null],
      ['4_12_4', '4', 'L_12-4', false, null],
    ]);
    expect(logits[0].clerp).toBe(`Output "tok0" (p=${logits[0].token_prob.toFixed(3)})`);
    expect(json.links).toEqual(doc.edges.map((e) => ({ source: e.source, target: e.target, weight: e.weight })));
  });
});

describe('fromGraphJson', () => {
  it('round-trips our own documents through JSON text, losing only the edge shares', () => {
    const doc = tracedDocument(72);
    const back = fromGraphJson(JSON.parse(JSON.stringify(toGraphJson(doc))));
    expect(back).toEqual({ ...doc, edges: doc.edges.map((e) => ({ ...e, influence: null })) });
  });

  it('reads circuit-tracer 0.5.0 JSON: legacy error ids, the "E" layer and the logit layer', () => {
    const doc = fromGraphJson(referenceJson(), { createdAt: '2026-01-02T03:04:05.000Z' });
    expect(doc.nLayers).toBe(2);
    expect(doc.tokenIds).toEqual([1, 40, 41]);
    expect(doc.model).toBe('atlas-world-llama');
    expect(doc.transcoderSet).toBe('atlas-world-llama');
    expect(doc.createdAt).toBe('2026-01-02T03:04:05.000Z');
    expect(doc.scores).toBeNull();
    expect(doc.settings).toEqual({
      maxNLogits: 10,
      desiredLogitProb: 0.95,
      batchSize: 512,
      maxFeatureNodes: null,
      nodeThreshold: 0.8,
      edgeThreshold: 0.98,
    });
    expect(doc.nodes.map((n) => [n.nodeId, n.kind, n.layer, n.ctxIdx, n.feature])).toEqual([
      ['0_10_1', 'feature', 0, 1, 10],
      ['1_11_2', 'feature', 1, 2, 11],
      ['1_-1_2', 'error', 1, 2, null],
      ['E_1_0', 'embedding', -1, 0, 1],
      ['E_40_1', 'embedding', -1, 1, 40],
      ['E_41_2', 'embedding', -1, 2, 41],
      ['3_77_2', 'logit', 2, 2, 77],
    ]);
    const byId = new Map(doc.nodes.map((n) => [n.nodeId, n]));
    expect(byId.get('1_-1_2')).toMatchObject({
      label: 'Err: mlp “ is"',
      influence: 0.55,
      activation: null,
      tokenProb: null,
    });
    expect(byId.get('E_40_1')).toMatchObject({ label: 'Emb: “ Dallas"', influence: 0.7 });
    expect(byId.get('0_10_1')).toMatchObject({ activation: 3.5, influence: 0.41, label: '' });
    expect(byId.get('3_77_2')).toMatchObject({
      tokenProb: 0.8125,
      isTargetLogit: true,
      influence: null,
      label: 'Output " Austin" (p=0.812)',
    });
    expect(doc.edges).toContainEqual({ source: '1_-1_2', target: '3_77_2', weight: -1, influence: null });
    expect(doc.edges).toHaveLength(5);
  });

  it('writes back the reference JSON unchanged but for the error id scheme', () => {
    const original = referenceJson();
    const written = toGraphJson(fromGraphJson(original, { createdAt: '2026-01-02T03:04:05.000Z' }));
    const rename = (id: string) => (id === '0_1_2' ? '1_-1_2' : id);
    expect(written.nodes).toEqual(original.nodes.map((n) => ({ ...n, node_id: rename(n.node_id) })));
    expect(written.links).toEqual(
      original.links.map((l) => ({ ...l, source: rename(l.source), target: rename(l.target) })),
    );
    expect(written.qParams).toEqual(original.qParams);
    for (const [key, value] of Object.entries(original.metadata))
      expect(written.metadata[key as keyof typeof written.metadata]).toEqual(value);
  });

  it('names the JSON path of a link to a node the graph does not have', () => {
    const json = referenceJson();
    json.links[3].source = '0_9_2';
    expect(() => fromGraphJson(json)).toThrow(UserInputError);
    expect(() => fromGraphJson(json)).toThrow("/links/3/source: no node has id '0_9_2'");
  });

  it('refuses duplicated node ids and explains the 0.5.0 error-id collision', () => {
    const json = referenceJson();
    // A layer-0 feature 1 at position 2 has the same 0.5.0 id as the error of layer 1 at position 2.
    json.nodes.splice(2, 0, { ...json.nodes[0], node_id: '0_1_2', ctx_idx: 2, jsNodeId: '0_1-0' });
    expect(() => fromGraphJson(json)).toThrow(/\/nodes\/3\/node_id: '0_1_2' appears twice \(0\.5\.0 error ids collide/);
  });

  it('refuses node ids that disagree with their layer or position', () => {
    const json = referenceJson();
    json.nodes[1].ctx_idx = 1;
    expect(() => fromGraphJson(json)).toThrow(
      "/nodes/1/node_id: '1_11_2' must be {layer}_{feature}_{ctx_idx} for layer 1, ctx_idx 1",
    );
  });

  it('refuses a slug that cannot be a graph id unless another id is given', () => {
    const json = referenceJson();
    json.metadata.slug = 'my graph/1';
    expect(() => fromGraphJson(json)).toThrow(/metadata.slug\) "my graph\/1" is not valid/);
    expect(fromGraphJson(json, { id: 'my-graph-1' }).id).toBe('my-graph-1');
  });
});

describe('fromGraphJson layer checks', () => {
  it('refuses a feature at or above the layer the logits imply', () => {
    const json = referenceJson();
    json.nodes[6].layer = '2'; // logits at 2 mean n_layers = 1, but feature 1_11_2 sits at layer 1
    json.nodes[6].node_id = '2_77_2';
    json.links = json.links.map((l) => ({ ...l, target: l.target === '3_77_2' ? '2_77_2' : l.target }));
    expect(() => fromGraphJson(json)).toThrow(
      '/nodes/1/layer: layer 1 must be below n_layers = 1 (the logit nodes sit at layer n_layers + 1 = 2)',
    );
  });
});
