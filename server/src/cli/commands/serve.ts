/** `circuit-atlas serve [--port N] [--host H]`: the GraphQL API, its IDE and the viewer. */
import { ensureViewerBuilt } from '../../viewer/build-viewer.js';
import { listenAddress, rejectUnknownFlags, serveUntilStopped } from '../serve-until-stopped.js';

export const usage = `usage: circuit-atlas serve [--port N] [--host H]

Serves the viewer at /, the GraphQL API at /graphql and an offline GraphQL IDE at /graphiql.

options:
  --port N   port to listen on (default: PORT, else 4000; 0 picks a free port)
  --host H   address to listen on (default: ATLAS_HOST, else 127.0.0.1; 0.0.0.0 for all)

environment:
  ATLAS_DB                 SQLite file (default ./data/atlas.sqlite), used unless NEO4J_URI is set
  NEO4J_URI, NEO4J_USER, NEO4J_PASSWORD   use this Neo4j as the store
  ATLAS_MODELS             folder of model folders to trace with (default ./models)
  ATLAS_TOKEN              when set, mutations need "Authorization: Bearer <token>"
  ATLAS_CORS_ORIGIN        allowed browser origins: '*' or a comma-separated list (default: none)
  ATLAS_TRACE_CONCURRENCY  traces run at once (default 1)
  ATLAS_BODY_LIMIT         largest request body (default 32mb)
  ATLAS_MAX_PROMPT_CHARS   longest prompt (default 2000)
  ATLAS_MAX_QUERY_COST     largest cost of one GraphQL operation (default 500000; a whole graph costs
                           about its node count plus three times its edge count)
  ATLAS_HEAVY_QUERIES      costly operations (whole graphs, comparisons) run at once; more wait, and
                           past 64 waiting the API answers 503 "busy, retry" (default 2)
`;

export async function run(argv: string[]): Promise<number> {
  const { startServer, serverOptionsFromEnv } = await import('../../app.js'); // lazily: --help stays fast
  const { describeStore, openStore } = await import('../../store/open-store.js');
  rejectUnknownFlags(argv, ['--port', '--host']);
  const { port, host } = listenAddress(argv);
  const options = serverOptionsFromEnv();
  await ensureViewerBuilt((line) => process.stdout.write(`${line}\n`));
  const store = await openStore();
  const server = await startServer({ ...options, store, port, host }).catch(async (error: Error) => {
    await store.close();
    throw error;
  });
  const models = await options.catalog.list();
  process.stdout.write(
    `circuit-atlas serving at ${server.url}/\n` +
      `  GraphQL API ${server.url}/graphql   IDE ${server.url}/graphiql\n` +
      `  store: ${describeStore(store)}\n` +
      `  models: ${models.map((model) => model.id).join(', ') || 'none'} (under ${options.catalog.root})\n` +
      (options.token ? '  mutations need the bearer token in ATLAS_TOKEN\n' : '') +
      'Press Ctrl-C to stop.\n',
  );
  return serveUntilStopped(server, store);
}
