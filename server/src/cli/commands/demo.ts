/**
 * `circuit-atlas demo`: traces the demo prompt on the demo model (models/atlas-world), stores the
 * graph unless it is already stored, groups its features into automatic supernodes (named from the
 * dashboards and the contexts they fire in) saved as the view "automatic supernodes", serves, and
 * prints the viewer URL that opens the graph in the circuit view with that view. Without the
 * demo model it falls back to the first model under ATLAS_MODELS, then to the test fixture model.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEMO_MODEL_ID, ModelCatalog, type ModelEntry } from '../../models/catalog.js';
import { ensureViewerBuilt } from '../../viewer/build-viewer.js';
import { listenAddress, rejectUnknownFlags, serveUntilStopped } from '../serve-until-stopped.js';
import { ProgressBar } from '../progress-bar.js';
import { UserInputError } from '@circuit-atlas/schema';
import type { GraphDocument } from '@circuit-atlas/schema';
import type { GraphStore, SavedView } from '../../store/graph-store.js';

/** The saved view the demo link opens: the graph's automatic supernodes. */
export const DEMO_VIEW_NAME = 'automatic supernodes';

export const DEMO_PROMPT = 'Fact: the capital of the state containing Dallas is';
/** The same question in words a model without the demo vocabulary (the fixture) can read. */
export const FALLBACK_PROMPT = 'The capital of the state with Dallas is';

const FIXTURE_MODELS = fileURLToPath(new URL('../../../../tracer/test/fixtures/models', import.meta.url));
const FIXTURE_MODEL_ID = 'llama-tiny';

export const usage = `usage: circuit-atlas demo [--port N] [--host H] [--no-serve]

Traces "${DEMO_PROMPT}" on the demo model
(models/atlas-world; without it the first model under ATLAS_MODELS, else the test fixture model),
stores the graph (once: the graph id is demo-<model>), saves its automatic supernodes as the view
"${DEMO_VIEW_NAME}" (once; about a minute on 2 cores), serves, and prints the URL that opens the
graph in the circuit view.

options:
  --port N     port to listen on (default: PORT, else 4000)
  --host H     address to listen on (default: ATLAS_HOST, else 127.0.0.1)
  --no-serve   trace and store only
The store and the other settings come from the same environment as 'circuit-atlas serve'.
`;

/** The model the demo traces, the catalog it belongs to, and why it was chosen. */
async function chooseModel(
  catalog: ModelCatalog,
): Promise<{ model: ModelEntry; catalog: ModelCatalog; note: string | null }> {
  const demo = await catalog.find(DEMO_MODEL_ID);
  if (demo) return { model: demo, catalog, note: null };
  const first = (await catalog.list())[0];
  if (first) {
    return {
      model: first,
      catalog,
      note: `the demo model ${DEMO_MODEL_ID} is not under ${catalog.root}; using ${first.id}`,
    };
  }
  const fixtures = new ModelCatalog(FIXTURE_MODELS);
  const fixture = await fixtures.find(FIXTURE_MODEL_ID);
  if (!fixture) {
    throw new UserInputError(
      `no model to trace: put the demo model in ${catalog.root}/${DEMO_MODEL_ID} (python -m training.build_demo) or set ATLAS_MODELS`,
    );
  }
  return {
    model: fixture,
    catalog: fixtures,
    note: `no model under ${catalog.root}; using the test fixture model ${FIXTURE_MODEL_ID} (random weights: its circuit means nothing)`,
  };
}

/** Traces in a tracer process, as the server does, with a progress bar on stderr. */
async function traceDemo(model: ModelEntry, prompt = DEMO_PROMPT) {
  process.stderr.write(`tracing "${prompt}" on ${model.id}\n`);
  const progress = new ProgressBar('  ');
  const { childProcessTraceRunner } = await import('../../jobs/child-runner.js');
  const document = await childProcessTraceRunner(
    { prompt, modelId: model.id, modelDir: model.dir, settings: {}, graphId: `demo-${model.id}` },
    { onProgress: progress.update, signal: new AbortController().signal },
  ).finally(() => progress.end());
  return document;
}

/**
 * The demo graph's saved view of automatic supernodes, made once: grouped by findSupernodes with the
 * dashboards' labels, then named by the contexts each group fires in (as `trace --supernodes`).
 */
async function demoView(store: GraphStore, model: ModelEntry, doc: GraphDocument): Promise<SavedView | null> {
  const existing = (await store.listViews(doc.id)).find((v) => v.name === DEMO_VIEW_NAME);
  if (existing) return existing;
  const dashboards = path.join(model.dir, 'dashboards');
  if (!existsSync(dashboards)) return null; // no labels to name groups by: the circuit view shows features
  const tracer = await import('@circuit-atlas/tracer');
  const labels = await tracer.dashboardLabels(dashboards, doc.nLayers);
  let supernodes = tracer.findSupernodes(doc, labels);
  if (supernodes.length === 0) return null;
  process.stderr.write(`naming ${supernodes.length} automatic supernodes from the contexts they fire in\n`);
  const replacement = await tracer.loadReplacementModel(model.dir);
  try {
    const index = await tracer.dashboardContextIndex(dashboards, replacement);
    if (index.contexts.length > 0) supernodes = tracer.renameFromContexts(doc, supernodes, index);
  } finally {
    await replacement.dispose();
  }
  return store.saveView({
    graphId: doc.id,
    name: DEMO_VIEW_NAME,
    pinnedIds: [],
    supernodes: supernodes.map((s) => ({ name: s.label, nodeIds: s.members })),
    nodeThreshold: null,
    edgeThreshold: null,
  });
}

/** The viewer link: the graph in the circuit view, with the saved view's supernodes when there is one. */
export function demoUrl(base: string, graphId: string, view: SavedView | null): string {
  const params = new URLSearchParams({ graph: graphId, mode: 'circuit' });
  if (view) params.set('view', view.id);
  return `${base}/?${params.toString()}`;
}

export async function run(argv: string[]): Promise<number> {
  const { startServer, serverOptionsFromEnv } = await import('../../app.js'); // lazily: --help stays fast
  const { describeStore, openStore } = await import('../../store/open-store.js');
  const serve = !argv.includes('--no-serve');
  const flags = argv.filter((arg) => arg !== '--no-serve');
  rejectUnknownFlags(flags, ['--port', '--host']);
  const address = listenAddress(flags);
  const options = serverOptionsFromEnv();
  await ensureViewerBuilt((line) => process.stdout.write(`${line}\n`));
  const { model, catalog, note } = await chooseModel(options.catalog);
  if (note) process.stderr.write(`circuit-atlas demo: ${note}\n`);

  const store = await openStore();
  try {
    const graphId = `demo-${model.id}`;
    let stored = await store.getGraph(graphId);
    if (stored) {
      process.stdout.write(`demo graph ${graphId} is already stored (${describeStore(store)})\n`);
    } else {
      const started = performance.now();
      const document = await traceDemo(model).catch(async (error: Error) => {
        // Only the demo model is sure to know every word of the demo prompt.
        if (!(error instanceof UserInputError) || model.id === DEMO_MODEL_ID) throw error;
        process.stderr.write(`\ncircuit-atlas demo: ${error.message}; tracing "${FALLBACK_PROMPT}" instead\n`);
        return traceDemo(model, FALLBACK_PROMPT);
      });
      await store.saveGraph(document);
      stored = await store.getGraph(graphId);
      process.stdout.write(
        `stored ${graphId}: ${document.nodes.length} nodes, ${document.edges.length} edges` +
          (document.scores
            ? `, replacement ${document.scores.replacement.toFixed(3)}, completeness ${document.scores.completeness.toFixed(3)}`
            : '') +
          ` in ${((performance.now() - started) / 1000).toFixed(1)} s (${describeStore(store)})\n`,
      );
    }
    const view = stored ? await demoView(store, model, stored) : null;
    if (!serve) {
      await store.close();
      return 0;
    }
    const server = await startServer({ ...options, catalog, store, ...address });
    process.stdout.write(
      `circuit-atlas demo serving at ${server.url}/\n` +
        `  open the demo graph in the circuit view: ${demoUrl(server.url, graphId, view)}\n` +
        `  the link graph: ${server.url}/?graph=${encodeURIComponent(graphId)}\n` +
        `  GraphQL API ${server.url}/graphql   IDE ${server.url}/graphiql\n` +
        'Press Ctrl-C to stop.\n',
    );
    return await serveUntilStopped(server, store);
  } catch (error) {
    await store.close().catch(() => {});
    throw error;
  }
}
