/**
 * The exchange format: circuit-tracer's graph JSON, which Neuronpedia and the attribution-graphs
 * frontend read (circuit-tracer 0.5.0 `utils/create_graph_files.py`, `frontend/graph_models.py`).
 * Its JSON Schema is schema/graph-json.schema.json.
 *
 * Written exactly as the reference writes it, with two documented differences:
 *  - error node ids are `{layer}_-1_{ctxIdx}` (0.5.0 wrote `0_{layer}_{ctxIdx}`, which collides with
 *    layer-0 feature ids); both are read;
 *  - metadata also carries Neuronpedia's `info`, `generation_settings` and `pruning_settings`, and
 *    `circuit_atlas` (transcoder set, scores) so that our own graphs round-trip.
 * What the format cannot hold is lost on import: edge shares (null) and, for graphs from other
 * tools, scores and the transcoder set (the scan is used).
 */
import { Ajv, type ErrorObject } from 'ajv';
import graphJsonSchema from '@circuit-atlas/schema/graph-json.schema.json' with { type: 'json' };
import { UserInputError } from '../errors.js';
import {
  formatNodeId,
  graphIdProblem,
  isGraphId,
  legacyErrorNodeId,
  parseNodeId,
  REFERENCE_GENERATION_DEFAULTS,
  TRACE_SETTING_DEFAULTS,
  type GraphDocument,
  type GraphEdge,
  type GraphNode,
  type NodeKind,
} from '@circuit-atlas/schema';
import { embeddingNodeLabel, errorNodeLabel } from './to-document.js';

export type FeatureType = 'cross layer transcoder' | 'mlp reconstruction error' | 'embedding' | 'logit';

export interface GraphJsonNode {
  node_id: string;
  /** Features: Cantor pairing of (layer, feature); errors: -1; embeddings: ctx_idx; logits: the token id. */
  feature: number;
  /** Layer as a string: "E" for embeddings, n_layers + 1 for logits. */
  layer: string;
  ctx_idx: number;
  feature_type: FeatureType;
  token_prob: number;
  is_target_logit: boolean;
  run_idx: number;
  reverse_ctx_idx: number;
  jsNodeId: string;
  clerp: string;
  /** Cumulative influence share; null for logits. */
  influence: number | null;
  activation: number | null;
}

export interface GraphJsonLink {
  source: string;
  target: string;
  /** A[target, source], signed. */
  weight: number;
}

export interface GraphJson {
  metadata: {
    slug: string;
    scan: string;
    transcoder_list: string[];
    prompt_tokens: string[];
    prompt: string;
    node_threshold: number | null;
    schema_version: number | null;
    info?: {
      creator_name?: string;
      creator_url?: string;
      source_urls?: string[];
      generator?: { name?: string; version?: string; url?: string };
      create_time_ms?: number;
    };
    generation_settings?: {
      max_n_logits?: number;
      desired_logit_prob?: number;
      batch_size?: number;
      max_feature_nodes?: number | null;
    };
    pruning_settings?: { node_threshold?: number; edge_threshold?: number };
    circuit_atlas?: { transcoder_set?: string; scores?: { replacement: number; completeness: number } };
  };
  qParams: {
    pinnedIds: string[];
    supernodes: string[][];
    linkType: string;
    clickedId: string;
    sg_pos: string;
  };
  nodes: GraphJsonNode[];
  links: GraphJsonLink[];
}

/** Written into metadata.info.generator. */
export const GENERATOR = { name: 'circuit-atlas', version: '0.1.0' };

/** The `feature` field of a feature node: the Cantor pairing of (layer, feature index). */
export function cantorPairing(x: number, y: number): number {
  return ((x + y) * (x + y + 1)) / 2 + y;
}

const FEATURE_TYPE: Record<NodeKind, FeatureType> = {
  feature: 'cross layer transcoder',
  error: 'mlp reconstruction error',
  embedding: 'embedding',
  logit: 'logit',
};

function toJsonNode(node: GraphNode, doc: GraphDocument): GraphJsonNode {
  const token = doc.promptTokens[node.ctxIdx] ?? '';
  let feature: number;
  let layer: string;
  let jsNodeId: string;
  let clerp = node.label;
  switch (node.kind) {
    case 'feature':
      feature = cantorPairing(node.layer, node.feature!);
      layer = String(node.layer);
      jsNodeId = `${node.layer}_${node.feature}-0`;
      break;
    case 'error':
      feature = -1;
      layer = String(node.layer);
      jsNodeId = `${node.layer}_${node.ctxIdx}-0`;
      // The reference leaves it empty; the viewer fills in the same default.
      if (clerp === errorNodeLabel(token)) clerp = '';
      break;
    case 'embedding':
      feature = node.ctxIdx;
      layer = 'E';
      jsNodeId = `E_${node.feature}-${node.ctxIdx}`;
      if (clerp === embeddingNodeLabel(token)) clerp = '';
      break;
    case 'logit':
      feature = node.feature!;
      layer = String(doc.nLayers + 1);
      jsNodeId = `L_${node.feature}-${node.ctxIdx}`;
      break;
  }
  // Field order as pydantic's Node writes it.
  return {
    node_id: node.nodeId,
    feature,
    layer,
    ctx_idx: node.ctxIdx,
    feature_type: FEATURE_TYPE[node.kind],
    token_prob: node.kind === 'logit' ? (node.tokenProb ?? 0) : 0,
    is_target_logit: node.kind === 'logit' && node.isTargetLogit,
    run_idx: 0,
    reverse_ctx_idx: 0,
    jsNodeId,
    clerp,
    influence: node.kind === 'logit' ? null : node.influence,
    activation: node.kind === 'feature' ? node.activation : null,
  };
}

/** A GraphDocument as circuit-tracer's graph JSON (field order as pydantic writes it). */
export function toGraphJson(doc: GraphDocument): GraphJson {
  const metadata: GraphJson['metadata'] = {
    slug: doc.id,
    scan: doc.model,
    transcoder_list: [],
    prompt_tokens: [...doc.promptTokens],
    prompt: doc.prompt,
    node_threshold: doc.settings.nodeThreshold,
    schema_version: 1,
    info: {
      creator_name: GENERATOR.name,
      source_urls: [],
      generator: { ...GENERATOR },
      create_time_ms: Date.parse(doc.createdAt),
    },
    generation_settings: {
      max_n_logits: doc.settings.maxNLogits,
      desired_logit_prob: doc.settings.desiredLogitProb,
      batch_size: doc.settings.batchSize,
      max_feature_nodes: doc.settings.maxFeatureNodes,
    },
    pruning_settings: { node_threshold: doc.settings.nodeThreshold, edge_threshold: doc.settings.edgeThreshold },
    circuit_atlas: {
      transcoder_set: doc.transcoderSet,
      ...(doc.scores ? { scores: { replacement: doc.scores.replacement, completeness: doc.scores.completeness } } : {}),
    },
  };
  return {
    metadata,
    qParams: { pinnedIds: [], supernodes: [], linkType: 'both', clickedId: '', sg_pos: '' },
    nodes: doc.nodes.map((node) => toJsonNode(node, doc)),
    links: doc.edges.map((edge) => ({ source: edge.source, target: edge.target, weight: edge.weight })),
  };
}

const ajv = new Ajv({ allErrors: true, strict: true });
const validateSchema = ajv.compile<GraphJson>(graphJsonSchema);

/** How many schema violations an error message lists. */
const MAX_LISTED_ERRORS = 5;

function describeViolation(error: ErrorObject): string {
  const path = error.instancePath === '' ? '(root)' : error.instancePath;
  if (error.keyword === 'required')
    return `${path}: missing required field '${(error.params as { missingProperty: string }).missingProperty}'`;
  if (error.keyword === 'enum') {
    return `${path}: must be one of ${(error.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
  }
  return `${path}: ${error.message}`;
}

/** Checks a parsed JSON value against the graph JSON Schema; throws UserInputError naming the first violations by JSON path. */
export function validateGraphJson(json: unknown): asserts json is GraphJson {
  if (validateSchema(json)) return;
  // `if` failures only restate the `then` violations listed beside them.
  const errors = (validateSchema.errors ?? []).filter((e) => e.keyword !== 'if');
  const listed = errors.slice(0, MAX_LISTED_ERRORS).map(describeViolation);
  const more = errors.length > MAX_LISTED_ERRORS ? ` (and ${errors.length - MAX_LISTED_ERRORS} more)` : '';
  throw new UserInputError(
    `the graph JSON does not match the circuit-tracer graph format (schema/graph-json.schema.json): ${listed.join('; ')}${more}`,
  );
}

export interface FromGraphJsonOptions {
  /** Use this graph id instead of metadata.slug (needed when the slug has characters ids cannot hold). */
  id?: string;
  /** ISO 8601 time for graphs whose JSON has no metadata.info.create_time_ms; now when omitted. */
  createdAt?: string;
}

/** Reads circuit-tracer graph JSON (0.5.0 or later error ids) into a GraphDocument. */
export function fromGraphJson(json: unknown, options: FromGraphJsonOptions = {}): GraphDocument {
  validateGraphJson(json);
  const { metadata } = json;
  const id = options.id ?? metadata.slug;
  if (!isGraphId(id)) throw new UserInputError(`${graphIdProblem(id, 'graph id (metadata.slug)')}, or give another id`);

  // Logits sit at layer n_layers + 1; without logits, one past the deepest feature or error.
  const logitLayers = json.nodes.filter((n) => n.feature_type === 'logit').map((n) => Number(n.layer));
  const innerLayers = json.nodes
    .filter((n) => n.layer !== 'E' && n.feature_type !== 'logit')
    .map((n) => Number(n.layer));
  if (new Set(logitLayers).size > 1) {
    throw new UserInputError(
      `the graph JSON's logit nodes sit at different layers (${[...new Set(logitLayers)].join(', ')}): they must share one`,
    );
  }
  const nLayers =
    logitLayers.length > 0
      ? logitLayers[0] - 1
      : innerLayers.reduce((deepest, layer) => Math.max(deepest, layer + 1), 0);

  if (nLayers < 0) {
    const first = json.nodes.findIndex((n) => n.feature_type === 'logit');
    throw new UserInputError(
      `/nodes/${first}/layer: logit nodes sit at layer n_layers + 1, so their layer must be at least 1, got 0`,
    );
  }
  const tooDeep = json.nodes.findIndex(
    (n) => n.layer !== 'E' && n.feature_type !== 'logit' && Number(n.layer) >= nLayers,
  );
  if (tooDeep >= 0) {
    throw new UserInputError(
      `/nodes/${tooDeep}/layer: layer ${json.nodes[tooDeep].layer} must be below n_layers = ${nLayers} (the logit nodes sit at layer n_layers + 1 = ${nLayers + 1})`,
    );
  }
  const promptTokens = metadata.prompt_tokens;
  const nodeIdOfJsonId = new Map<string, string>();
  const importedIds = new Set<string>();
  const nodes: GraphNode[] = json.nodes.map((n, i) => {
    const at = `/nodes/${i}`;
    if (n.ctx_idx >= promptTokens.length) {
      throw new UserInputError(
        `${at}/ctx_idx: position ${n.ctx_idx} is past the prompt (metadata.prompt_tokens has ${promptTokens.length} tokens)`,
      );
    }
    const token = promptTokens[n.ctx_idx] ?? '';
    const address = parseNodeId(n.node_id, nLayers);
    let node: GraphNode;
    const common = { ctxIdx: n.ctx_idx, isTargetLogit: false, tokenProb: null, activation: null };
    switch (n.feature_type) {
      case 'cross layer transcoder': {
        const layer = Number(n.layer);
        const pos = n.ctx_idx;
        const feature = address?.feature ?? -1;
        if (address?.kind !== 'feature' || address.layer !== layer || address.ctxIdx !== pos) {
          throw new UserInputError(
            `${at}/node_id: '${n.node_id}' must be {layer}_{feature}_{ctx_idx} for layer ${n.layer}, ctx_idx ${n.ctx_idx}`,
          );
        }
        node = {
          ...common,
          nodeId: formatNodeId('feature', layer, pos, feature, nLayers),
          kind: 'feature',
          layer,
          feature,
          activation: n.activation ?? null,
          influence: n.influence ?? null,
          label: n.clerp ?? '',
        };
        break;
      }
      case 'mlp reconstruction error': {
        const layer = Number(n.layer);
        const nodeId = formatNodeId('error', layer, n.ctx_idx, null, nLayers);
        const legacy = legacyErrorNodeId(layer, n.ctx_idx);
        if (n.node_id !== legacy && n.node_id !== nodeId) {
          throw new UserInputError(`${at}/node_id: '${n.node_id}' must be ${nodeId} or ${legacy} for this error node`);
        }
        node = {
          ...common,
          nodeId,
          kind: 'error',
          layer,
          feature: null,
          influence: n.influence ?? null,
          label: n.clerp || errorNodeLabel(token),
        };
        break;
      }
      case 'embedding': {
        if (address?.kind !== 'embedding' || address.ctxIdx !== n.ctx_idx)
          throw new UserInputError(
            `${at}/node_id: '${n.node_id}' must be E_{tokenId}_${n.ctx_idx} for this embedding node`,
          );
        const tokenId = address.feature!;
        node = {
          ...common,
          nodeId: formatNodeId('embedding', -1, n.ctx_idx, tokenId, nLayers),
          kind: 'embedding',
          layer: -1,
          feature: tokenId,
          influence: n.influence ?? null,
          label: n.clerp || embeddingNodeLabel(token),
        };
        break;
      }
      case 'logit': {
        const nodeId = formatNodeId('logit', nLayers, n.ctx_idx, n.feature, nLayers);
        if (n.node_id !== nodeId) {
          throw new UserInputError(
            `${at}/node_id: '${n.node_id}' must be ${nodeId} ({n_layers + 1}_{feature}_{ctx_idx}) for this logit node`,
          );
        }
        node = {
          ...common,
          nodeId,
          kind: 'logit',
          layer: nLayers,
          feature: n.feature,
          influence: null,
          tokenProb: n.token_prob ?? 0,
          isTargetLogit: n.is_target_logit ?? false,
          label: n.clerp ?? '',
        };
        break;
      }
    }
    if (nodeIdOfJsonId.has(n.node_id)) {
      throw new UserInputError(
        `${at}/node_id: '${n.node_id}' appears twice` +
          (n.feature_type === 'mlp reconstruction error'
            ? ' (0.5.0 error ids collide with layer-0 feature ids; re-export with {layer}_-1_{pos} error ids)'
            : ''),
      );
    }
    // Two JSON ids can name one node (a legacy and a new error id, a logit whose id disagrees with its
    // feature); stores key nodes by id, so the second would fail there instead of here.
    if (importedIds.has(node.nodeId)) {
      throw new UserInputError(`${at}/node_id: '${n.node_id}' is the same node as an earlier one (${node.nodeId})`);
    }
    importedIds.add(node.nodeId);
    nodeIdOfJsonId.set(n.node_id, node.nodeId);
    return node;
  });

  const edges: GraphEdge[] = json.links.map((link, i) => {
    const source = nodeIdOfJsonId.get(link.source);
    const target = nodeIdOfJsonId.get(link.target);
    if (source === undefined) throw new UserInputError(`/links/${i}/source: no node has id '${link.source}'`);
    if (target === undefined) throw new UserInputError(`/links/${i}/target: no node has id '${link.target}'`);
    return { source, target, weight: link.weight, influence: null };
  });

  // Embeddings are always kept, so their ids give the prompt's token ids when every position has one.
  const tokenIds: number[] = new Array(promptTokens.length);
  let positionsWithIds = 0;
  for (const node of nodes) {
    if (node.kind === 'embedding' && node.ctxIdx < promptTokens.length && tokenIds[node.ctxIdx] === undefined) {
      tokenIds[node.ctxIdx] = node.feature!;
      positionsWithIds++;
    }
  }

  const generation = metadata.generation_settings ?? {};
  const pruning = metadata.pruning_settings ?? {};
  const createTime = metadata.info?.create_time_ms;
  const scores = metadata.circuit_atlas?.scores;
  return {
    id,
    prompt: metadata.prompt,
    promptTokens: [...promptTokens],
    tokenIds: positionsWithIds === promptTokens.length ? tokenIds : [],
    model: metadata.scan,
    transcoderSet: metadata.circuit_atlas?.transcoder_set ?? metadata.scan,
    nLayers,
    createdAt:
      createTime !== undefined ? new Date(createTime).toISOString() : (options.createdAt ?? new Date().toISOString()),
    settings: {
      maxNLogits: generation.max_n_logits ?? REFERENCE_GENERATION_DEFAULTS.maxNLogits,
      desiredLogitProb: generation.desired_logit_prob ?? REFERENCE_GENERATION_DEFAULTS.desiredLogitProb,
      batchSize: generation.batch_size ?? REFERENCE_GENERATION_DEFAULTS.batchSize,
      maxFeatureNodes: generation.max_feature_nodes ?? REFERENCE_GENERATION_DEFAULTS.maxFeatureNodes,
      nodeThreshold: pruning.node_threshold ?? metadata.node_threshold ?? TRACE_SETTING_DEFAULTS.nodeThreshold,
      edgeThreshold: pruning.edge_threshold ?? TRACE_SETTING_DEFAULTS.edgeThreshold,
    },
    scores: scores ? { replacement: scores.replacement, completeness: scores.completeness } : null,
    nodes,
    edges,
  };
}
