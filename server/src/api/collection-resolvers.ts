/**
 * Resolvers of collections and batches (issue 13): the common circuit, clusters of graphs, which
 * graphs use a feature or a path (server/src/analysis/collection.ts over the store's collection
 * queries), and batch tracing on the server's batch queue (in-process, or BullMQ on ATLAS_QUEUE).
 * Thin: validation and the work live below; no SQL or Cypher here.
 */
import { graphIdProblem, isGraphId, resolveTraceSettings, type Api } from '@circuit-atlas/schema';
import {
  clusterGraphs,
  collectionQueriesOf,
  commonCircuit,
  graphsUsingFeature,
  graphsUsingPath,
  parsePathEnd,
  type GraphSelection,
} from '../analysis/collection.js';
import type { CollectionQueries } from '../store/collection-queries.js';
import { checkBatchId, derivedBatchId, derivedGraphId, type BatchPrompt, type BatchStatus } from '../jobs/batch.js';
import type { ApiContext } from './context.js';
import { badUserInput, notFound } from './errors.js';
import type { Resolvers } from './generated/resolvers-types.js';
import { checkIntegerRange, checkPrompt } from './validate.js';

/** Most prompts one traceBatch call may queue. */
const MAX_BATCH_PROMPTS = 10_000;

function selectionOf(input: Api.CollectionInput): GraphSelection {
  return {
    model: input.model,
    ...(input.graphIds ? { graphIds: input.graphIds } : {}),
    ...(input.text ? { text: input.text } : {}),
    ...(input.limit != null ? { limit: input.limit } : {}),
  };
}

/** Runs `ask` on the store's collection queries and closes them. */
async function withQueries<T>(context: ApiContext, ask: (queries: CollectionQueries) => Promise<T>): Promise<T> {
  const queries = collectionQueriesOf(context.store);
  try {
    return await ask(queries);
  } finally {
    await queries.close();
  }
}

function batchOf(status: BatchStatus, context: ApiContext): Api.Batch {
  return {
    id: status.id,
    model: status.model,
    queue: context.batches.description,
    total: status.total,
    counts: status.counts,
    progress: status.progress,
    finished: status.finished,
    cancelled: status.cancelled,
    prompts: status.prompts,
  };
}

/** The API's trace options as settings (null: the default). */
function settingsOf(options: Api.TraceOptions | null | undefined): Partial<Record<string, number | null>> {
  if (!options) return {};
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== null && value !== undefined));
}

export const collectionResolvers: Resolvers = {
  Query: {
    commonCircuit: async (_parent, args, context) => {
      const circuit = await withQueries(context, (queries) =>
        commonCircuit(queries, selectionOf(args.collection), {
          minShare: args.minShare ?? undefined,
          maxFeatures: args.maxFeatures ?? undefined,
          maxEdges: args.maxEdges ?? undefined,
        }),
      );
      return {
        ...circuit,
        edges: circuit.edges.map((e) => ({
          sourceLayer: e.source.layer,
          sourceIndex: e.source.index,
          targetKind: e.target.kind,
          targetLayer: e.target.kind === 'feature' ? e.target.layer : null,
          targetIndex: e.target.kind === 'feature' ? e.target.index : null,
          targetTokenId: e.target.kind === 'logit' ? e.target.tokenId : null,
          targetToken: e.target.kind === 'logit' ? e.target.token : null,
          graphCount: e.graphCount,
          share: e.share,
          weight: e.weight,
        })),
      };
    },
    graphClusters: (_parent, args, context) =>
      withQueries(context, (queries) =>
        clusterGraphs(queries, selectionOf(args.collection), { minSimilarity: args.minSimilarity ?? undefined }),
      ),
    graphsUsingFeature: (_parent, args, context) =>
      withQueries(context, (queries) =>
        graphsUsingFeature(
          queries,
          selectionOf(args.collection),
          { layer: args.layer, index: args.index },
          {
            transcoderSet: args.transcoderSet ?? undefined,
            offset: args.offset ?? undefined,
            limit: Math.min(args.limit ?? 20, context.inputLimits.maxPageSize),
          },
        ),
      ),
    graphsUsingPath: (_parent, args, context) =>
      withQueries(context, (queries) =>
        graphsUsingPath(
          queries,
          selectionOf(args.collection),
          parsePathEnd(args.from, 'from'),
          parsePathEnd(args.to, 'to'),
          {
            maxHops: args.maxHops ?? undefined,
            transcoderSet: args.transcoderSet ?? undefined,
            offset: args.offset ?? undefined,
            limit: Math.min(args.limit ?? 20, context.inputLimits.maxPageSize),
          },
        ),
      ),
    batch: async (_parent, args, context) => {
      const status = await context.batches.status(args.id);
      return status ? batchOf(status, context) : null;
    },
  },
  Batch: {
    prompts: (parent, args, context) => {
      const offset = checkIntegerRange('offset', args.offset ?? 0, 0, Number.MAX_SAFE_INTEGER);
      const limit = checkIntegerRange('limit', args.limit ?? 100, 1, context.inputLimits.maxPageSize);
      const prompts = args.state ? parent.prompts.filter((p) => p.state === args.state) : parent.prompts;
      return prompts.slice(offset, offset + limit);
    },
  },
  Mutation: {
    traceBatch: async (_parent, args, context) => {
      if (args.prompts.length === 0) throw badUserInput('give at least one prompt');
      if (args.prompts.length > MAX_BATCH_PROMPTS)
        throw badUserInput(`a batch holds at most ${MAX_BATCH_PROMPTS} prompts, got ${args.prompts.length}`);
      const model = args.model ? await context.catalog.find(args.model) : await context.catalog.defaultModel();
      if (!model) throw notFound(`no model '${args.model ?? ''}' under ${context.catalog.root}`);
      const attempts = checkIntegerRange('attempts', args.attempts ?? 3, 1, 20);
      const defaults = settingsOf(args.options);
      const seen = new Set<string>();
      const prompts: BatchPrompt[] = args.prompts.map((p, i) => {
        const prompt = checkPrompt(p.prompt, context.inputLimits);
        const settings = resolveTraceSettings({ ...defaults, ...settingsOf(p.options) });
        const target = p.target ?? null;
        if (p.id && !isGraphId(p.id)) throw badUserInput(graphIdProblem(p.id, `prompts[${i}].id`));
        const graphId = p.id ?? derivedGraphId(model.id, prompt, target, settings);
        if (seen.has(graphId)) throw badUserInput(`prompts[${i}] repeats graph id '${graphId}': give each prompt once`);
        seen.add(graphId);
        return { graphId, prompt, target, settings };
      });
      const id = args.id ? checkBatchId(args.id) : derivedBatchId(model.id, prompts);
      const status = await context.batches.submit({ id, model: model.id, prompts, attempts });
      return batchOf(status, context);
    },
    cancelBatch: async (_parent, args, context) => {
      const status = await context.batches.cancel(args.id);
      if (!status) throw notFound(`no batch '${args.id}' on the ${context.batches.description}`);
      return batchOf(status, context);
    },
  },
};
