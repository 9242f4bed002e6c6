/**
 * Resolvers: thin translations between the SDL (schema/graphql/schema.graphql) and the layers below
 * — GraphStore (through the request's graph loaders) for stored graphs, labels and views;
 * server/src/analysis for paths and comparison; the model catalog and the trace queue for tracing.
 * Validation comes from @circuit-atlas/schema and ./validate.ts; no SQL or Cypher here (STYLE.md).
 */
import { Kind, type FieldNode, type FragmentDefinitionNode, type SelectionSetNode } from 'graphql';
import type { GraphDocument } from '@circuit-atlas/schema';
import { checkTraceSetting, packEdgeTable, packNodeTable, resolveTraceSettings } from '@circuit-atlas/schema';
import { fromGraphJson } from '@circuit-atlas/tracer';
import { shownLabel } from '@circuit-atlas/figure';
import { findTopPaths } from '../analysis/paths.js';
import { compareGraphs, summaryOf } from '../analysis/compare.js';
import type { ModelEntry } from '../models/catalog.js';
import type { PruneOptions } from '../store/graph-store.js';
import type { ApiContext } from './context.js';
import { notFound } from './errors.js';
import type { FeatureParent, NodeParent } from './mappers.js';
import { logitEffectOf, ownedNode, quantilesOf } from './mappers.js';
import { newGraphId } from './new-graph-id.js';
import { forgetGraphLabels, graphLabels } from './graph-labels.js';
import { forgetNodeReads, incidentEdgesOf, selectionReadsEdges, serveGraph } from './served-graph.js';
import type { Resolvers } from './generated/resolvers-types.js';
import {
  checkInterventions,
  checkIntegerRange,
  checkPage,
  checkPrompt,
  checkText,
  checkViewNodes,
} from './validate.js';

/** Longest label and view name a user may save. */
const MAX_LABEL_CHARS = 500;
const MAX_NAME_CHARS = 200;
/** Most ids a saved view may pin or group (the viewer's subgraph holds at most 200 nodes). */
const MAX_VIEW_IDS = 2000;
/** Top logits an intervention returns before and after. */
const INTERVENTION_TOP_K = 10;

async function requireGraph(context: ApiContext, id: string): Promise<GraphDocument> {
  const graph = await context.loaders.graphs.load({ id });
  if (!graph) throw notFound(`no graph with id '${id}'; list the stored graphs with the 'graphs' query`);
  return graph;
}

/** Pruning thresholds as given (null: as stored), each checked against the trace settings' range. */
function pruneOf(nodeThreshold: number | null | undefined, edgeThreshold: number | null | undefined): PruneOptions {
  return {
    ...(nodeThreshold != null ? { nodeThreshold: checkTraceSetting('nodeThreshold', nodeThreshold) } : {}),
    ...(edgeThreshold != null ? { edgeThreshold: checkTraceSetting('edgeThreshold', edgeThreshold) } : {}),
  };
}

async function requireModel(context: ApiContext, idOrName: string | null | undefined): Promise<ModelEntry> {
  if (idOrName === null || idOrName === undefined) {
    const fallback = await context.catalog.defaultModel();
    if (!fallback)
      throw notFound(
        `no model to trace with: put a model folder (config.json, weights, transcoders) under ${context.catalog.root}`,
      );
    return fallback;
  }
  const model = await context.catalog.find(idOrName);
  if (!model) {
    const known = (await context.catalog.list()).map((entry) => entry.id);
    throw notFound(`no model '${idOrName}' under ${context.catalog.root}; available: ${known.join(', ') || 'none'}`);
  }
  return model;
}

/**
 * The feature a (model, layer, index) names. `model` is a catalog id or a model name; a model the
 * server does not have is still known through the graphs stored from it.
 */
async function resolveFeature(
  context: ApiContext,
  model: string,
  layer: number,
  index: number,
): Promise<FeatureParent> {
  checkIntegerRange('layer', layer, 0, 10_000);
  checkIntegerRange('index', index, 0, 2 ** 31 - 1);
  const entry = await context.catalog.find(model);
  if (entry) {
    checkIntegerRange('layer', layer, 0, entry.nLayers - 1);
    checkIntegerRange('index', index, 0, entry.nFeatures - 1);
    return { model: entry.name, transcoderSet: entry.transcoderSet, layer, index, modelDir: entry.dir };
  }
  const stored = await context.store.listGraphs({ model, limit: 1 });
  const graph = stored.items[0];
  if (!graph) throw notFound(`no model '${model}' under ${context.catalog.root} and no stored graph of it`);
  return { model: graph.model, transcoderSet: graph.transcoderSet, layer, index, modelDir: null };
}

function requireNode(graph: GraphDocument, nodeId: string, argument: string) {
  const node = graph.nodes.find((candidate) => candidate.nodeId === nodeId);
  if (!node) throw notFound(`graph '${graph.id}' has no node '${nodeId}' (${argument})`);
  return node;
}

/** A feature node's saved label: from its graph's labels when it was served with them, else looked up alone. */
function savedLabelOf(node: NodeParent, context: ApiContext) {
  if (node.kind !== 'feature' || node.feature === null) return null;
  if (node.graphLabels) return node.graphLabels.user.get(node.nodeId) ?? null;
  return context.labels.load({ ...node.owner, layer: node.layer, index: node.feature });
}

/** A feature node's automatic label from the model's dashboards, the same way. */
function autoLabelOf(node: NodeParent, context: ApiContext): string | null | Promise<string | null> {
  if (node.kind !== 'feature' || node.feature === null) return null;
  if (node.graphLabels) return node.graphLabels.auto.get(node.nodeId) ?? null;
  const { layer, feature } = node;
  return context.catalog
    .find(node.owner.model)
    .then(async (model) =>
      model ? ((await context.catalog.featureDetail(model.dir, layer, feature))?.label ?? null) : null,
    );
}

/** The label a node is shown with (figure's shownLabel over the two above). */
function shownLabelOf(node: NodeParent, context: ApiContext): string | Promise<string> {
  if (node.graphLabels) return node.graphLabels.shown.get(node.nodeId)!;
  return Promise.all([savedLabelOf(node, context), autoLabelOf(node, context)]).then(([user, auto]) =>
    shownLabel(node, { user: user?.label, auto }),
  );
}

/** The Node fields answered from a graph's resolved labels. */
const LABEL_FIELDS = new Set(['featureLabel', 'autoLabel', 'shownLabel']);
const SHOWN_LABELS_FIELD = new Set(['shownLabels']);

/** True when a selection (through its fragments) asks for one of these fields, at any depth. */
function selectionAsks(
  fields: readonly FieldNode[],
  fragments: Record<string, FragmentDefinitionNode>,
  names: ReadonlySet<string>,
): boolean {
  const seen = new Set<string>();
  const walk = (set: SelectionSetNode | undefined): boolean =>
    (set?.selections ?? []).some((selection) => {
      if (selection.kind === Kind.FIELD) return names.has(selection.name.value) || walk(selection.selectionSet);
      if (selection.kind === Kind.INLINE_FRAGMENT) return walk(selection.selectionSet);
      if (seen.has(selection.name.value)) return false;
      seen.add(selection.name.value);
      return walk(fragments[selection.name.value]?.selectionSet);
    });
  return fields.some((field) => walk(field.selectionSet));
}

export const resolvers: Resolvers = {
  Query: {
    models: (_root, _args, context) => context.catalog.list(),

    graphs: (_root, args, context) => {
      const page = checkPage(args.offset, args.limit, context.inputLimits);
      return context.store.listGraphs({
        model: args.model ?? undefined,
        text: args.text ?? undefined,
        sortBy: args.sortBy ?? 'createdAt',
        order: args.order ?? 'desc',
        ...page,
      });
    },

    graph: (_root, args, context, info) =>
      serveGraph(
        context,
        args.id,
        pruneOf(args.nodeThreshold, args.edgeThreshold),
        info.fieldNodes.some((field) => selectionReadsEdges(field.selectionSet, info.fragments)),
      ),

    node: async (_root, args, context) => {
      const page = checkPage(args.offset, args.limit, context.inputLimits);
      const graph = await context.nodeIndex.graphOf(args.graphId);
      if (!graph) throw notFound(`no graph with id '${args.graphId}'`);
      const result = await context.store.getNodeEdges(args.graphId, args.nodeId, {
        direction: args.direction,
        ...page,
      });
      return { ...result, graphId: args.graphId, direction: args.direction, owner: graph.owner };
    },

    feature: (_root, args, context) => resolveFeature(context, args.model, args.layer, args.index),

    paths: async (_root, args, context) => {
      const k = checkIntegerRange('k', args.k ?? 5, 1, context.inputLimits.maxPaths);
      const maxLength = checkIntegerRange('maxLength', args.maxLength ?? 6, 1, context.inputLimits.maxPathLength);
      const graph = await requireGraph(context, args.graphId);
      requireNode(graph, args.from, 'from');
      requireNode(graph, args.to, 'to');
      return findTopPaths(graph, { from: args.from, to: args.to, k, maxLength });
    },

    compare: async (_root, args, context) => {
      const [graphA, graphB] = await Promise.all([
        requireGraph(context, args.graphA),
        requireGraph(context, args.graphB),
      ]);
      const comparison = compareGraphs(graphA, graphB);
      const ownerA = { model: graphA.model, transcoderSet: graphA.transcoderSet };
      const ownerB = { model: graphB.model, transcoderSet: graphB.transcoderSet };
      return {
        graphA: comparison.graphA,
        graphB: comparison.graphB,
        shared: comparison.shared,
        onlyInA: comparison.onlyInA.map((node) => ownedNode(node, ownerA)),
        onlyInB: comparison.onlyInB.map((node) => ownedNode(node, ownerB)),
        sharedEdges: comparison.sharedEdges,
      };
    },

    graphsSharingFeatures: async (_root, args, context) => {
      const limit = checkIntegerRange('limit', args.limit ?? 10, 0, context.inputLimits.maxPageSize);
      if (!(await context.loaders.sizes.load(args.graphId))) throw notFound(`no graph with id '${args.graphId}'`);
      return context.store.graphsSharingFeatures(args.graphId, limit);
    },

    search: async (_root, args, context) => {
      const text = checkText('text', args.text, MAX_NAME_CHARS);
      const limit = checkIntegerRange('limit', args.limit ?? 20, 0, context.inputLimits.maxPageSize);
      const [graphs, featureLabels] = await Promise.all([
        context.store.listGraphs({ text, limit }),
        context.store.searchFeatureLabels(text, limit),
      ]);
      return { graphs: graphs.items, featureLabels };
    },

    job: (_root, args, context) => context.queue.get(args.id),
    jobs: (_root, _args, context) => context.queue.list(),
    view: (_root, args, context) => context.store.getView(args.id),
  },

  Mutation: {
    trace: async (_root, args, context) => {
      const prompt = checkPrompt(args.prompt, context.inputLimits);
      const settings = resolveTraceSettings(args.options ?? {});
      const model = await requireModel(context, args.model);
      return context.queue.submit({
        prompt,
        modelId: model.id,
        modelDir: model.dir,
        settings,
        graphId: newGraphId(prompt),
      });
    },

    cancelJob: (_root, args, context) => {
      const job = context.queue.cancel(args.id);
      if (!job) throw notFound(`no trace job with id '${args.id}'; the 'jobs' query lists them`);
      return job;
    },

    deleteGraph: async (_root, args, context) => {
      const deleted = await context.store.deleteGraph(args.id);
      context.nodeIndex.evict(args.id);
      forgetNodeReads(context, args.id);
      if (!deleted) throw notFound(`no graph with id '${args.id}' to delete`);
      return true;
    },

    importGraph: async (_root, args, context) => {
      const graph = fromGraphJson(args.json, args.id ? { id: args.id } : {});
      await context.store.saveGraph(graph);
      context.nodeIndex.evict(graph.id);
      forgetNodeReads(context, graph.id);
      return summaryOf(graph);
    },

    setFeatureLabel: async (_root, args, context) => {
      const label = checkText('label', args.label, MAX_LABEL_CHARS);
      const feature = await resolveFeature(context, args.model, args.layer, args.index);
      const { modelDir: _modelDir, ...key } = feature;
      const saved = await context.store.setFeatureLabel(key, label, context.author);
      forgetGraphLabels(context);
      return saved;
    },

    saveView: async (_root, { view }, context) => {
      const name = checkText('view name', view.name, MAX_NAME_CHARS);
      const graph = await context.nodeIndex.graphOf(view.graphId);
      if (!graph) throw notFound(`no graph with id '${view.graphId}' to save a view of`);
      checkViewNodes(view, graph.nodes, MAX_VIEW_IDS);
      return context.store.saveView({
        graphId: view.graphId,
        name,
        pinnedIds: view.pinnedIds,
        supernodes: view.supernodes.map((supernode) => ({
          name: checkText('supernode name', supernode.name, MAX_NAME_CHARS),
          nodeIds: supernode.nodeIds,
        })),
        nodeThreshold: pruneOf(view.nodeThreshold, null).nodeThreshold ?? null,
        edgeThreshold: pruneOf(null, view.edgeThreshold).edgeThreshold ?? null,
      });
    },

    intervene: async (_root, args, context) => {
      const prompt = checkPrompt(args.prompt, context.inputLimits);
      const model = await requireModel(context, args.model);
      const interventions = checkInterventions(args.interventions, model, context.inputLimits);
      return context.intervene({
        modelDir: model.dir,
        prompt,
        interventions,
        frozenAttention: args.frozenAttention ?? true,
        topK: INTERVENTION_TOP_K,
      });
    },
  },

  Graph: {
    nodeCount: (graph) => graph.nodes.length,
    edgeCount: (graph) => graph.edges.length,
    nodes: async (graph, _args, context, info) => {
      const owner = { model: graph.model, transcoderSet: graph.transcoderSet };
      // Labels asked for: resolved for the whole graph first, so each node's label fields answer synchronously.
      const labels = selectionAsks(info.fieldNodes, info.fragments, LABEL_FIELDS)
        ? await graphLabels(context, graph)
        : undefined;
      return graph.nodes.map((node) => ({ ...ownedNode(node, owner), graphLabels: labels }));
    },
    nodeTable: async (graph, _args, context, info) => {
      const shown = selectionAsks(info.fieldNodes, info.fragments, SHOWN_LABELS_FIELD)
        ? (await graphLabels(context, graph)).shown
        : null;
      return packNodeTable(
        graph.nodes,
        graph.nodes.map((node) => shown?.get(node.nodeId) ?? node.label),
      );
    },
    edgeTable: (graph) => packEdgeTable(graph.nodes, graph.edges),
    incidentEdges: (graph, args, context) => incidentEdgesOf(context, graph, args.nodeIds, args.direction ?? 'both'),
    views: (graph, _args, context) => context.store.listViews(graph.id),
  },

  Node: {
    featureLabel: (node, _args, context) => savedLabelOf(node, context),
    autoLabel: (node, _args, context) => autoLabelOf(node, context),
    shownLabel: (node, _args, context) => shownLabelOf(node, context),
  },

  NodeEdges: {
    node: (parent) => ownedNode(parent.node, parent.owner),
    neighbours: async (parent, _args, context) => {
      const graph = await context.nodeIndex.graphOf(parent.graphId);
      if (!graph) throw notFound(`graph '${parent.graphId}' was deleted while reading it`);
      return parent.edges.map((edge) => {
        const otherId = parent.direction === 'in' ? edge.source : edge.target;
        const other = graph.nodes.get(otherId);
        if (!other) throw new Error(`edge ${edge.source} → ${edge.target} names a node the graph does not have`);
        return ownedNode(other, parent.owner);
      });
    },
  },

  Feature: {
    label: (feature, _args, context) => context.labels.load(feature),
    dashboard: (feature, _args, context) =>
      feature.modelDir ? context.catalog.featureDetail(feature.modelDir, feature.layer, feature.index) : null,
    occurrences: async (feature, args, context) => {
      const page = checkPage(args.offset, args.limit, context.inputLimits);
      const { modelDir: _modelDir, ...key } = feature;
      const occurrences = await context.store.featureOccurrences(key, page);
      const owner = { model: feature.model, transcoderSet: feature.transcoderSet };
      return { total: occurrences.total, items: occurrences.items.map((item) => ({ ...item, owner })) };
    },
  },

  FeatureOccurrence: {
    node: (occurrence) => ownedNode(occurrence.node, occurrence.owner),
  },

  FeatureDashboard: {
    activationFrequency: (detail) => detail.activation_frequency,
    actMax: (detail) => detail.act_max,
    actMin: (detail) => detail.act_min,
    topLogits: (detail) => detail.top_logits.map(logitEffectOf),
    bottomLogits: (detail) => detail.bottom_logits.map(logitEffectOf),
    quantiles: quantilesOf,
    histogram: (detail) => detail.histogram ?? null,
    autoLabel: (detail) => detail.label ?? null,
  },
};
