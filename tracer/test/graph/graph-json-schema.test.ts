import { readdirSync, readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { UserInputError } from '../../src/errors.js';
import { cantorPairing, toGraphJson, validateGraphJson } from '../../src/graph/graph-json.js';
import { toGraphDocument } from '../../src/graph/to-document.js';
import { randomGraph } from './build-graph.js';

const schemaPath = new URL(import.meta.resolve('@circuit-atlas/schema/graph-json.schema.json'));
const schema = JSON.parse(readFileSync(schemaPath, 'utf8'));

/** A graph exactly as circuit-tracer 0.5.0 writes it (error id `0_{layer}_{pos}`, no Neuronpedia metadata). */
function referenceJson() {
  const node = (fields: Record<string, unknown>): Record<string, unknown> => ({
    token_prob: 0.0,
    is_target_logit: false,
    run_idx: 0,
    reverse_ctx_idx: 0,
    clerp: '',
    activation: null,
    ...fields,
  });
  return {
    metadata: {
      slug: 'capital',
      scan: 'gemma-2-2b',
      transcoder_list: [],
      prompt_tokens: ['<bos>', 'Paris'],
      prompt: '<bos>Paris',
      node_threshold: 0.8,
      schema_version: 1,
    },
    qParams: { pinnedIds: [], supernodes: [], linkType: 'both', clickedId: '', sg_pos: '' },
    nodes: [
      node({
        node_id: '0_5_1',
        feature: cantorPairing(0, 5),
        layer: '0',
        ctx_idx: 1,
        feature_type: 'cross layer transcoder',
        jsNodeId: '0_5-0',
        influence: 0.5,
        activation: 2.0,
      }),
      node({
        node_id: '0_0_1',
        feature: -1,
        layer: '0',
        ctx_idx: 1,
        feature_type: 'mlp reconstruction error',
        jsNodeId: '0_1-0',
        influence: 0.7,
      }),
      node({
        node_id: 'E_2_0',
        feature: 0,
        layer: 'E',
        ctx_idx: 0,
        feature_type: 'embedding',
        jsNodeId: 'E_2-0',
        influence: 1.0,
      }),
      node({
        node_id: 'E_9_1',
        feature: 1,
        layer: 'E',
        ctx_idx: 1,
        feature_type: 'embedding',
        jsNodeId: 'E_9-1',
        influence: 0.9,
      }),
      node({
        node_id: '2_4_1',
        feature: 4,
        layer: '2',
        ctx_idx: 1,
        feature_type: 'logit',
        token_prob: 0.9,
        is_target_logit: true,
        jsNodeId: 'L_4-1',
        clerp: 'Output " is" (p=0.900)',
        influence: null,
      }),
    ],
    links: [
      { source: 'E_9_1', target: '0_5_1', weight: 1.5 },
      { source: '0_5_1', target: '2_4_1', weight: 2.0 },
      { source: '0_0_1', target: '2_4_1', weight: -0.25 },
    ],
  };
}

function violations(json: unknown): string {
  try {
    validateGraphJson(json);
  } catch (error) {
    expect(error).toBeInstanceOf(UserInputError);
    return (error as Error).message;
  }
  throw new Error('expected the document to be rejected');
}

describe('graph JSON Schema', () => {
  it('is itself a valid draft-07 schema that compiles in strict mode', () => {
    const ajv = new Ajv({ strict: true });
    expect(ajv.validateSchema(schema)).toBe(true);
    expect(() => ajv.compile(schema)).not.toThrow();
  });

  it('accepts every graph JSON circuit-tracer 0.5.0 wrote for the reference fixtures', () => {
    const root = new URL('../fixtures/reference/', import.meta.url);
    const files = readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.graph.json'));
    expect(files.length).toBeGreaterThanOrEqual(9);
    for (const file of files) {
      const json = JSON.parse(readFileSync(new URL(file, root), 'utf8'));
      expect(json.nodes.length).toBeGreaterThan(0);
      expect(() => validateGraphJson(json), file).not.toThrow();
    }
  });

  it("accepts a hand-written graph in circuit-tracer 0.5.0's format", () => {
    expect(() => validateGraphJson(referenceJson())).not.toThrow();
  });

  it('accepts our output, read back from JSON text', () => {
    const graph = randomGraph(81, { nLayers: 3, nPos: 5, featuresPerLayerPos: 3, nLogits: 3, density: 0.4 });
    const json = JSON.parse(JSON.stringify(toGraphJson(toGraphDocument(graph))));
    expect(json.nodes.length).toBeGreaterThan(graph.nPos);
    expect(() => validateGraphJson(json)).not.toThrow();
  });

  it('names the missing top-level field', () => {
    const { metadata, nodes } = referenceJson();
    expect(violations({ metadata, nodes })).toMatch(/\(root\): missing required field 'links'/);
  });

  it('names the path of a node field of the wrong type', () => {
    const json = referenceJson();
    (json.nodes[3] as Record<string, unknown>).layer = 0;
    expect(violations(json)).toMatch(/\/nodes\/3\/layer: must be string/);
  });

  it('names the path of an unknown feature type and lists the allowed ones', () => {
    const json = referenceJson();
    json.nodes[0].feature_type = 'sae feature';
    expect(violations(json)).toContain(
      '/nodes/0/feature_type: must be one of "cross layer transcoder", "mlp reconstruction error", "embedding", "logit"',
    );
  });

  it('names an error node whose id follows neither error id scheme', () => {
    const json = referenceJson();
    json.nodes[1].node_id = 'err_0_1';
    expect(violations(json)).toMatch(/\/nodes\/1\/node_id: must match pattern/);
  });

  it('rejects an embedding outside layer "E" and a link without a numeric weight', () => {
    const json = referenceJson();
    json.nodes[2].layer = '0';
    (json.links[1] as Record<string, unknown>).weight = '2.0';
    const message = violations(json);
    expect(message).toMatch(/\/nodes\/2\/layer: must be equal to constant/);
    expect(message).toMatch(/\/links\/1\/weight: must be number/);
  });

  it('lists only the first few of many violations and counts the rest', () => {
    const json = referenceJson();
    for (const node of json.nodes) (node as Record<string, unknown>).ctx_idx = -1;
    for (const link of json.links) (link as Record<string, unknown>).target = 7;
    const message = violations(json);
    expect(message.match(/\/(nodes|links)\/\d+\//g)).toHaveLength(5);
    expect(message).toMatch(/\(and 3 more\)$/);
  });

  it('rejects a value that is not a graph at all', () => {
    expect(violations([1, 2, 3])).toMatch(/\(root\): must be object/);
    expect(violations(null)).toMatch(/\(root\): must be object/);
  });
});
