/**
 * Resolvers of readable circuits (issue 10): a graph's automatic supernodes, its circuit view, the
 * automatic labels of a node, and supernode interventions. Thin: the tracer's library does the work
 * (findSupernodes, buildCircuitView, supernodeFeatureInterventions), the store and the catalog
 * supply the graph, the user's labels and the model's dashboards.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { GraphDocument } from '@circuit-atlas/schema';
import {
  buildCircuitView,
  dashboardLabels,
  findSupernodes,
  supernodeFeatureInterventions,
  supernodeMembers,
  supernodesFromQParams,
  type FeatureLabelLookup,
  type Supernode,
  type SupernodeIntervention,
} from '@circuit-atlas/tracer';
import type { ApiContext } from './context.js';
import { badUserInput, notFound } from './errors.js';
import type { Resolvers } from './generated/resolvers-types.js';
import { checkIntegerRange } from './validate.js';

/** Top logits a supernode intervention returns before and after. */
const INTERVENTION_TOP_K = 10;
/** Most feature interventions one request may add up to (a supernode holds up to ~200 features). */
const MAX_SUPERNODE_FEATURES = 2000;

/** Dashboard labels per model folder, read once per server (reading them takes seconds). */
const labelLookups = new Map<string, Promise<FeatureLabelLookup>>();

async function labelsOfModel(context: ApiContext, graph: GraphDocument): Promise<FeatureLabelLookup> {
  const model = await context.catalog.find(graph.model);
  if (!model) return () => null; // a graph of a model the server does not have: group by edges only
  const key = `${model.dir}@${graph.nLayers}`;
  let lookup = labelLookups.get(key);
  if (!lookup) {
    lookup = dashboardLabels(path.join(model.dir, 'dashboards'), graph.nLayers);
    labelLookups.set(key, lookup);
    lookup.catch(() => labelLookups.delete(key));
  }
  return lookup;
}

/** Named supernodes per graph and grouping, most recent last (naming replays the model's dashboards). */
const namedSupernodes = new Map<string, Promise<Supernode[]>>();
const NAMED_CACHE_SIZE = 64;

/**
 * The graph's automatic supernodes: grouped by edges and member labels here, then named by the
 * contexts they fire in (a tracer process with the model loaded; the names the CLI and the demo
 * give). Without the model's folder or dashboards, or when naming fails, the member-label names stay.
 */
async function automaticSupernodes(context: ApiContext, graph: GraphDocument): Promise<Supernode[]> {
  const found = findSupernodes(graph, await labelsOfModel(context, graph));
  const model = await context.catalog.find(graph.model);
  if (!model || found.length === 0 || !existsSync(path.join(model.dir, 'dashboards'))) return found;
  const key = `${model.dir}\u0000${graph.id}\u0000${JSON.stringify(found.map((s) => s.members))}`;
  let named = namedSupernodes.get(key);
  if (named)
    namedSupernodes.delete(key); // re-inserted below: the map's order is its recency
  else {
    named = context.nameSupernodes({ modelDir: model.dir, graph, supernodes: found }).catch((error: unknown) => {
      namedSupernodes.delete(key);
      process.stderr.write(`naming supernodes of graph '${graph.id}' by their contexts failed: ${String(error)}\n`);
      return found;
    });
  }
  namedSupernodes.set(key, named);
  if (namedSupernodes.size > NAMED_CACHE_SIZE) namedSupernodes.delete(namedSupernodes.keys().next().value!);
  return named;
}

function supernodesOfInput(graph: GraphDocument, input: readonly { name: string; nodeIds: readonly string[] }[]) {
  return supernodesFromQParams(
    graph,
    input.map((s) => [s.name, ...s.nodeIds]),
  );
}

/** A feature's label as the viewer shows it: the user's own, else the automatic one, else the stored one. */
async function shownLabel(context: ApiContext, graph: GraphDocument, nodeId: string, stored: string): Promise<string> {
  const node = graph.nodes.find((n) => n.nodeId === nodeId);
  if (!node || node.kind !== 'feature' || node.feature === null) return stored;
  const key = { model: graph.model, transcoderSet: graph.transcoderSet, layer: node.layer, index: node.feature };
  const own = await context.labels.load(key);
  if (own?.label) return own.label;
  const model = await context.catalog.find(graph.model);
  const auto = model ? (await context.catalog.featureDetail(model.dir, node.layer, node.feature))?.label : null;
  return auto || stored;
}

/** The stored graph with every node kept, so that any supernode member of any pruned view is found. */
async function wholeGraph(context: ApiContext, id: string, what: string): Promise<GraphDocument> {
  const graph = await context.loaders.graphs.load({ id, nodeThreshold: 1, edgeThreshold: 1 });
  if (!graph) throw notFound(`no graph with id '${id}' (${what}); list the stored graphs with the 'graphs' query`);
  return graph;
}

export const circuitResolvers: Resolvers = {
  Graph: {
    autoSupernodes: async (graph, _args, context) =>
      (await automaticSupernodes(context, graph)).map((s) => ({ ...s, nodeIds: s.members })),

    circuit: async (graph, args, context) => {
      const maxPaths = checkIntegerRange('maxPaths', args.maxPaths ?? 24, 1, context.inputLimits.maxPaths);
      const supernodes =
        args.supernodes && args.supernodes.length > 0
          ? supernodesOfInput(graph, args.supernodes)
          : args.auto
            ? await automaticSupernodes(context, graph)
            : [];
      const view = buildCircuitView(graph, supernodes, { maxPaths, ...(args.target ? { target: args.target } : {}) });
      const nodes = await Promise.all(
        view.nodes.map(async (node) =>
          node.kind === 'feature' ? { ...node, label: await shownLabel(context, graph, node.id, node.label) } : node,
        ),
      );
      return {
        target: view.target,
        supernodes: supernodes.map((s) => ({ name: s.label, nodeIds: s.members })),
        nodes,
        edges: view.edges,
        paths: view.paths.map((p) => ({ nodeIds: p.nodes, strength: p.strength, sign: p.sign })),
      };
    },
  },

  Node: {
    autoLabels: async (node, _args, context) => {
      if (node.kind !== 'feature' || node.feature === null) return null;
      const model = await context.catalog.find(node.owner.model);
      if (!model) return null;
      return (await context.catalog.featureDetail(model.dir, node.layer, node.feature))?.autoLabels ?? null;
    },
  },

  Mutation: {
    interveneSupernodes: async (_root, args, context) => {
      if (args.interventions.length === 0) throw badUserInput(`give at least one supernode intervention`);
      const graph = await wholeGraph(context, args.graphId, 'graphId');
      const model = await context.catalog.find(graph.model);
      if (!model)
        throw notFound(
          `graph '${graph.id}' was traced with model '${graph.model}', which is not under ${context.catalog.root}; add its folder to intervene`,
        );
      const donors = new Map<string, GraphDocument>();
      const interventions: SupernodeIntervention[] = [];
      for (const [i, input] of args.interventions.entries()) {
        const where = `interventions[${i}] (supernode '${input.supernode.name}')`;
        const members = supernodeMembers(graph, input.supernode.nodeIds);
        if (input.mode === 'zero') interventions.push({ mode: 'zero', members });
        else if (input.mode === 'scale') {
          if (input.factor == null || !Number.isFinite(input.factor))
            throw badUserInput(`${where}: scale needs a finite factor`);
          interventions.push({ mode: 'scale', members, factor: input.factor });
        } else {
          if (!input.donorGraphId || !input.donor)
            throw badUserInput(`${where}: replace needs donorGraphId and donor (the supernode to put in its place)`);
          let donorGraph = donors.get(input.donorGraphId);
          if (!donorGraph) {
            donorGraph = await wholeGraph(context, input.donorGraphId, `${where} donorGraphId`);
            donors.set(input.donorGraphId, donorGraph);
          }
          if (donorGraph.model !== graph.model)
            throw badUserInput(
              `${where}: the donor graph '${donorGraph.id}' is of model '${donorGraph.model}', not '${graph.model}'; pick a donor traced on the same model`,
            );
          interventions.push({
            mode: 'replace',
            members,
            donor: supernodeMembers(donorGraph, input.donor.nodeIds),
            factor: input.factor ?? 1,
          });
        }
      }
      const features = supernodeFeatureInterventions(interventions);
      if (features.length > MAX_SUPERNODE_FEATURES)
        throw badUserInput(
          `these supernodes change ${features.length} features; at most ${MAX_SUPERNODE_FEATURES} at once`,
        );
      return context.intervene({
        modelDir: model.dir,
        prompt: graph.prompt,
        interventions: features,
        frozenAttention: args.frozenAttention ?? true,
        topK: INTERVENTION_TOP_K,
      });
    },
  },
};
