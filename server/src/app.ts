/**
 * The circuit-atlas server: Express with Apollo Server at /graphql, the offline GraphiQL IDE at
 * /graphiql, and the built viewer (client/dist) at / with a fallback to its index.html for the
 * viewer's own routes. Everything the API does goes through the services built here.
 */
import { jobEventsHandler } from './jobs/job-events.js';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginLandingPageDisabled,
} from '@apollo/server/plugin/disabled';
import { expressMiddleware } from '@as-integrations/express5';
import cors from 'cors';
import express, { type NextFunction, type Request, type Response } from 'express';
import { UserInputError } from '@circuit-atlas/schema';
import type { GraphStore } from './store/graph-store.js';
import { ModelCatalog } from './models/catalog.js';
import { TraceQueue, type TraceRunner } from './jobs/trace-queue.js';
import { childProcessTraceRunner, interveneInChild, SupernodeNamingWorkers } from './jobs/child-runner.js';
import {
  DEFAULT_INPUT_LIMITS,
  type ApiContext,
  type ApiServices,
  type InputLimits,
  type Intervener,
  type SupernodeNamer,
} from './api/context.js';
import { limitConcurrency } from './api/concurrency-limit.js';
import { formatError } from './api/errors.js';
import { FeatureLabelLoader } from './api/feature-label-loader.js';
import { graphLoaders } from './api/graph-loaders.js';
import { graphiqlRouter } from './api/graphiql.js';
import { DEFAULT_QUERY_LIMITS, type QueryLimits } from './api/limits.js';
import { NodeIndexCache } from './api/node-index-cache.js';
import { protectionPlugin } from './api/protection.js';
import { resolvers } from './api/resolvers.js';
import { circuitResolvers } from './api/circuit-resolvers.js';
import { collectionResolvers } from './api/collection-resolvers.js';
import { openBatchQueue } from './jobs/open-queue.js';
import { childProcessPromptTracer } from './jobs/batch-job.js';
import { loadTypeDefs } from './api/schema.js';

export const DEFAULT_CLIENT_DIR = fileURLToPath(new URL('../../client/dist', import.meta.url));
/** Default JSON body limit: a graph JSON of a few thousand nodes and tens of thousands of links fits. */
export const DEFAULT_BODY_LIMIT = '32mb';
/** An intervention is a forward pass or two; anything slower is stuck. */
const INTERVENTION_TIMEOUT_MS = 300_000;

export interface ServerOptions {
  store: GraphStore;
  catalog: ModelCatalog;
  /** Runs traces; default: one child process per trace. */
  runner?: TraceRunner;
  intervene?: Intervener;
  /** Names automatic supernodes; default: a long-lived tracer process per model (names cached per graph). */
  nameSupernodes?: SupernodeNamer;
  traceConcurrency?: number;
  /** Bearer token mutations need; null/undefined = no auth. */
  token?: string | null;
  /** Allowed CORS origins: '*' for any, else a comma-separated list; null/undefined = same origin only. */
  corsOrigin?: string | null;
  /** Largest accepted JSON body, in `bytes` syntax ('32mb', '200kb'). */
  bodyLimit?: string;
  queryLimits?: Partial<QueryLimits>;
  inputLimits?: Partial<InputLimits>;
  /** Folder of the built viewer; default client/dist. */
  clientDir?: string;
}

/** The env-configurable part of ServerOptions (ATLAS_TOKEN, ATLAS_CORS_ORIGIN, ...). */
export function serverOptionsFromEnv(env: NodeJS.ProcessEnv = process.env) {
  const positive = (name: string): number | undefined => {
    const text = env[name];
    if (!text) return undefined;
    const value = Number(text);
    if (!(Number.isInteger(value) && value > 0))
      throw new Error(`${name} must be a positive whole number, got '${text}'`);
    return value;
  };
  const maxPromptChars = positive('ATLAS_MAX_PROMPT_CHARS');
  const maxCost = positive('ATLAS_MAX_QUERY_COST');
  const heavySlots = positive('ATLAS_HEAVY_QUERIES');
  return {
    catalog: ModelCatalog.fromEnv(env),
    traceConcurrency: TraceQueue.concurrencyFromEnv(env),
    token: env.ATLAS_TOKEN || null,
    corsOrigin: env.ATLAS_CORS_ORIGIN || null,
    bodyLimit: env.ATLAS_BODY_LIMIT || DEFAULT_BODY_LIMIT,
    inputLimits: maxPromptChars !== undefined ? { maxPromptChars } : {},
    queryLimits: {
      ...(maxCost !== undefined ? { maxCost } : {}),
      ...(heavySlots !== undefined ? { heavySlots } : {}),
    },
  } satisfies Partial<ServerOptions>;
}

export interface RunningServer {
  url: string;
  port: number;
  services: ApiServices;
  /** Stops accepting requests, cancels trace jobs, waits for requests in flight. The store stays open. */
  close(): Promise<void>;
}

function corsOptions(origin: string | null | undefined): cors.CorsOptions | null {
  if (!origin) return null;
  if (origin.trim() === '*') return { origin: true, credentials: false };
  return {
    origin: origin
      .split(',')
      .map((entry) => entry.trim())
      .filter(Boolean),
  };
}

/** A body-parser failure (too large, not JSON) answered in GraphQL's error shape. */
function bodyErrorHandler(limit: string) {
  return (error: Error & { type?: string; status?: number }, _req: Request, res: Response, next: NextFunction) => {
    if (error.type === 'entity.too.large') {
      res.status(413).json({
        errors: [
          {
            message: `request body is larger than the limit of ${limit}: send a smaller document (the server's ATLAS_BODY_LIMIT)`,
            extensions: { code: 'BAD_USER_INPUT' },
          },
        ],
      });
    } else if (error.type === 'entity.parse.failed') {
      res.status(400).json({
        errors: [
          { message: `request body is not valid JSON: ${error.message}`, extensions: { code: 'BAD_USER_INPUT' } },
        ],
      });
    } else if (error.status && error.status >= 400 && error.status < 500) {
      res.status(error.status).json({ errors: [{ message: error.message, extensions: { code: 'BAD_USER_INPUT' } }] });
    } else {
      next(error);
    }
  };
}

/** Why the server cannot listen, as a UserInputError that says what to change; other errors unchanged. */
function listenError(error: NodeJS.ErrnoException, host: string, port: number): Error {
  const where = `${host}:${port}`;
  if (error.code === 'EADDRINUSE')
    return new UserInputError(
      `port ${port} on ${host} is in use: stop what listens there or choose another with --port (0 picks a free one)`,
    );
  if (error.code === 'EACCES')
    return new UserInputError(`no permission to listen on ${where}: choose a port above 1023 with --port`);
  if (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND')
    return new UserInputError(
      `this machine has no address ${host}: choose another with --host (127.0.0.1, or 0.0.0.0 for all)`,
    );
  return error;
}

/** Starts the server on `port` (0 = any free port) and resolves once it is listening. */
export async function startServer(options: ServerOptions & { port?: number; host?: string }): Promise<RunningServer> {
  const queue = new TraceQueue({
    store: options.store,
    runner: options.runner ?? childProcessTraceRunner,
    concurrency: options.traceConcurrency ?? 1,
  });
  const intervene = options.intervene ?? ((task) => interveneInChild(task, INTERVENTION_TIMEOUT_MS));
  // Naming keeps one tracer process per model alive between requests (it replays the dashboards once).
  const namingWorkers = options.nameSupernodes ? null : new SupernodeNamingWorkers(INTERVENTION_TIMEOUT_MS);
  const nameSupernodes = options.nameSupernodes ?? ((task) => namingWorkers!.name(task));
  // Each intervention or naming is a tracer process: no more at once than traces.
  const interventionSlot = limitConcurrency(options.traceConcurrency ?? 1);
  // Batches run in tracer child processes here, or on workers when ATLAS_QUEUE names a Redis.
  const batches = openBatchQueue({
    store: options.store,
    tracerFor: async (model) => {
      const entry = await options.catalog.find(model);
      if (!entry) throw new UserInputError(`no model '${model}' under ${options.catalog.root}`);
      return childProcessPromptTracer(entry.dir);
    },
  });
  const services: ApiServices = {
    store: options.store,
    catalog: options.catalog,
    queue,
    batches,
    intervene: (task) => interventionSlot(() => intervene(task)),
    nameSupernodes,
    nodeIndex: new NodeIndexCache(options.store),
    inputLimits: { ...DEFAULT_INPUT_LIMITS, ...options.inputLimits },
  };
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const queryLimits: QueryLimits = { ...DEFAULT_QUERY_LIMITS, ...options.queryLimits };
  const protection = protectionPlugin({ token: options.token ?? null, limits: queryLimits });

  const app = express();
  app.disable('x-powered-by');
  const httpServer: Server = createServer(app);
  // Under load a busy event loop can read a client's next request late; Node's 5 s keep-alive default
  // then resets connections the client is still using.
  httpServer.keepAliveTimeout = 65_000;
  httpServer.headersTimeout = 66_000;
  const apollo = new ApolloServer<ApiContext>({
    typeDefs: loadTypeDefs(),
    resolvers: [resolvers, circuitResolvers, collectionResolvers],
    formatError,
    includeStacktraceInErrorResponses: false,
    introspection: true,
    // Parsing stops at the token limit, before a hostile document costs validation time.
    parseOptions: { maxTokens: queryLimits.maxTokens },
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer }),
      ApolloServerPluginLandingPageDisabled(),
      // Cache control hooks every field resolver: a 2,000-node graph has ~100k fields, and no cache reads the hints.
      ApolloServerPluginCacheControlDisabled(),
      protection,
    ],
  });
  await apollo.start();

  const corsConfig = corsOptions(options.corsOrigin);
  if (corsConfig) app.use(cors(corsConfig));
  app.get('/health', (_req, res) => {
    res.json({ ok: true, store: services.store.kind });
  });
  // A browser opening /graphql gets the IDE; API clients (POST, or GET asking for JSON) get the API.
  app.get('/graphql', (req, res, next) => {
    if (req.accepts(['application/json', 'application/graphql-response+json', 'html']) === 'html')
      res.redirect('/graphiql');
    else next();
  });
  app.use(
    '/graphql',
    express.json({ limit: bodyLimit }),
    bodyErrorHandler(bodyLimit),
    expressMiddleware(apollo, {
      context: async ({ req }) => ({
        ...services,
        author:
          String(req.headers['x-atlas-author'] ?? '')
            .trim()
            .slice(0, 100) || 'anonymous',
        labels: new FeatureLabelLoader(services.store),
        loaders: graphLoaders(services.store),
      }),
    }),
  );
  app.use('/graphiql', graphiqlRouter());
  app.get('/jobs/:id/events', jobEventsHandler(queue));

  const clientDir = options.clientDir ?? DEFAULT_CLIENT_DIR;
  const clientIndex = join(clientDir, 'index.html');
  app.use(express.static(clientDir, { index: 'index.html' }));
  // The viewer keeps its state in the URL: any other page path is the viewer's to interpret.
  app.get(/^\/(?!graphql|graphiql|health|jobs\/).*/, (req, res) => {
    if (existsSync(clientIndex)) res.sendFile(clientIndex);
    else {
      res
        .status(404)
        .type('html')
        .send(
          '<p>The viewer is not built: run <code>npm run build:client</code>. The API IDE is at <a href="/graphiql">/graphiql</a>.</p>',
        );
    }
  });

  const listenHost = options.host ?? '127.0.0.1';
  const listenPort = options.port ?? 0;
  try {
    await new Promise<void>((resolve, reject) => {
      httpServer.once('error', reject);
      httpServer.listen(listenPort, listenHost, () => resolve());
    });
  } catch (error) {
    namingWorkers?.close();
    await queue.close();
    await batches.close();
    await apollo.stop();
    throw listenError(error as NodeJS.ErrnoException, listenHost, listenPort);
  }
  const { port } = httpServer.address() as AddressInfo;
  const host = options.host && options.host !== '0.0.0.0' && options.host !== '::' ? options.host : '127.0.0.1';
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    services,
    close: async () => {
      namingWorkers?.close();
      await queue.close();
      await batches.close();
      await apollo.stop();
    },
  };
}
