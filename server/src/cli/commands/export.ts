/**
 * `circuit-atlas export <graphId> --format json|svg|png [--out FILE]`: writes a stored graph as
 * circuit-tracer graph JSON (toGraphJson) or as a figure (renderFigure). Without --out, JSON and
 * SVG go to stdout; PNG needs --out. A saved view (--view) supplies pinned nodes, supernodes and
 * pruning values; --node-threshold / --edge-threshold prune as the API does.
 */
import { writeFile } from 'node:fs/promises';
import type { GraphDocument } from '@circuit-atlas/schema';
import type { PruneOptions, SavedView } from '../../store/graph-store.js';
import { StoreError } from '../../store/store-error.js';
import { UserInputError } from '@circuit-atlas/schema';

export const usage = `usage: circuit-atlas export <graphId> --format json|svg|png [--out FILE] [--view circuit]

Writes a stored graph as circuit-tracer / Neuronpedia graph JSON, or as an SVG or PNG figure.

options:
  --format F            json (default), svg or png
  --out FILE            write here (default: stdout for json and svg; png needs --out)
  --view ID             use a saved view: its pruning values, and for figures its pinned nodes and supernodes
  --figure F            link, subgraph or circuit (default: subgraph with pinned nodes, else link);
                        --view circuit is short for --figure circuit
                        circuit: the graph collapsed into the view's supernodes (automatic ones from
                        the model's dashboards under ATLAS_MODELS when it has none), strongest paths
                        from the prompt's tokens to the top logit, as the viewer's circuit view draws it
  --target NODE_ID      circuit: the logit to trace paths to (default: the most probable)
  --node-threshold X    keep nodes up to this cumulative influence (0..1)
  --edge-threshold X    keep edges up to this cumulative influence (0..1)

environment:
  ATLAS_DB                                SQLite file (default ./data/atlas.sqlite), used unless NEO4J_URI is set
  NEO4J_URI, NEO4J_USER, NEO4J_PASSWORD   use this Neo4j as the store
`;

const FORMATS = ['json', 'svg', 'png'] as const;
type ExportFormat = (typeof FORMATS)[number];

export interface ExportArgs {
  graphId: string;
  format: ExportFormat;
  out?: string;
  viewId?: string;
  figure?: FigureKind;
  target?: string;
  prune: PruneOptions;
}

const FIGURES = ['link', 'subgraph', 'circuit'] as const;
type FigureKind = (typeof FIGURES)[number];

function threshold(flag: string, text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !(value >= 0 && value <= 1))
    throw new UserInputError(`${flag} must be a number from 0 to 1 (got '${text}')`);
  return value;
}

/** Parses `<graphId> --format F [--out FILE]`; UserInputError naming what is wrong. */
export function parseExportArgs(argv: string[]): ExportArgs {
  let graphId: string | undefined;
  let format: string = 'json';
  let out: string | undefined;
  let viewId: string | undefined;
  let figure: string | undefined;
  let target: string | undefined;
  const prune: PruneOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] =
      argv[i].startsWith('--') && argv[i].includes('=') ? argv[i].split(/=(.*)/s, 2) : [argv[i], undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '')
        throw new UserInputError(`${flag} needs a value; see 'circuit-atlas export --help'`);
      return v;
    };
    if (flag === '--format') format = value();
    else if (flag === '--out') out = value();
    else if (flag === '--view') {
      const v = value();
      if (v === 'circuit')
        figure = v; // saved view ids are generated, never this word
      else viewId = v;
    } else if (flag === '--figure') figure = value();
    else if (flag === '--target') target = value();
    else if (flag === '--node-threshold') prune.nodeThreshold = threshold(flag, value());
    else if (flag === '--edge-threshold') prune.edgeThreshold = threshold(flag, value());
    else if (flag.startsWith('-'))
      throw new UserInputError(`unknown option '${flag}' for export; see 'circuit-atlas export --help'`);
    else if (graphId === undefined) graphId = flag;
    else throw new UserInputError(`export takes one graph id, got '${graphId}' and '${flag}'`);
  }
  if (graphId === undefined)
    throw new UserInputError('name the graph to export: circuit-atlas export <graphId> --format json|svg|png');
  if (!(FORMATS as readonly string[]).includes(format)) {
    throw new UserInputError(`--format must be json, svg or png (got '${format}')`);
  }
  if (format === 'png' && out === undefined) throw new UserInputError('a PNG export needs --out FILE (PNG is binary)');
  if (figure !== undefined && !(FIGURES as readonly string[]).includes(figure))
    throw new UserInputError(`--figure must be link, subgraph or circuit (got '${figure}')`);
  if (figure !== undefined && format === 'json')
    throw new UserInputError(`--figure ${figure} draws a figure: add --format svg or --format png`);
  return {
    graphId,
    format: format as ExportFormat,
    out,
    viewId,
    figure: figure as FigureKind | undefined,
    target,
    prune,
  };
}

/** Writes to stdout; a reader that stops early (`| head`) ends the export quietly, as Unix tools do. */
function writeStdout(content: string | Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    const settle = (error: NodeJS.ErrnoException | null | undefined) => {
      if (!error || error.code === 'EPIPE') resolve();
      else reject(error);
    };
    // The stream reports a closed pipe as an 'error' event too: without a listener it would crash.
    process.stdout.on('error', settle);
    process.stdout.write(content, settle);
  });
}

/**
 * The automatic supernodes of `doc`, as the API's `autoSupernodes` finds and names them (by their
 * contexts, with the model loaded); none without the model's folder.
 */
async function automaticSupernodes(doc: GraphDocument): Promise<{ name: string; nodeIds: string[] }[]> {
  const { ModelCatalog } = await import('../../models/catalog.js');
  const { loadReplacementModel } = await import('@circuit-atlas/tracer');
  const { automaticSupernodes: named } = await import('../supernode-options.js');
  const catalog = ModelCatalog.fromEnv();
  const model = await catalog.find(doc.model);
  if (!model) {
    process.stderr.write(
      `circuit-atlas export: model '${doc.model}' is not under ${catalog.root} (ATLAS_MODELS): no automatic supernodes, features drawn one by one\n`,
    );
    return [];
  }
  const replacement = await loadReplacementModel(model.dir);
  try {
    return (await named(doc, model.dir, replacement)).map(([name, ...nodeIds]) => ({ name, nodeIds }));
  } finally {
    await replacement.dispose();
  }
}

export async function run(argv: string[]): Promise<number> {
  const { toGraphJson } = await import('@circuit-atlas/tracer'); // lazily: --help stays fast
  const { renderFigure } = await import('../../figure/render-figure.js');
  const { openStore } = await import('../../store/open-store.js');
  const { graphId, format, out, viewId, figure, target, prune } = parseExportArgs(argv);
  const store = await openStore();
  let doc: GraphDocument | null;
  let view: SavedView | null = null;
  try {
    if (viewId !== undefined) {
      view = await store.getView(viewId);
      if (!view || view.graphId !== graphId)
        throw new StoreError('NOT_FOUND', `graph '${graphId}' has no saved view '${viewId}'`);
    }
    // Explicit thresholds win over the view's.
    doc = await store.getGraph(graphId, {
      ...(view?.nodeThreshold != null ? { nodeThreshold: view.nodeThreshold } : {}),
      ...(view?.edgeThreshold != null ? { edgeThreshold: view.edgeThreshold } : {}),
      ...prune,
    });
    // Figures show the labels the viewer shows: saved, else the dashboards' automatic one, else stored.
    if (doc && format !== 'json') {
      const { ModelCatalog } = await import('../../models/catalog.js');
      const { resolveNodeLabels, withShownLabels } = await import('../../figure/node-labels.js');
      doc = withShownLabels(doc, await resolveNodeLabels(doc, store, ModelCatalog.fromEnv()));
    } else {
      // The exchange format keeps the stored labels, with a user's own label over the one written at trace time.
      for (const node of doc?.nodes ?? []) {
        if (node.kind !== 'feature' || node.feature === null) continue;
        const own = await store.getFeatureLabel({
          model: doc!.model,
          transcoderSet: doc!.transcoderSet,
          layer: node.layer,
          index: node.feature,
        });
        if (own) node.label = own.label;
      }
    }
  } finally {
    await store.close();
  }
  if (!doc)
    throw new StoreError(
      'NOT_FOUND',
      `no graph with id '${graphId}' in the store; 'circuit-atlas serve' lists the stored graphs`,
    );
  const content =
    format === 'json'
      ? `${JSON.stringify(toGraphJson(doc))}\n`
      : await renderFigure(doc, format, {
          title: doc.prompt,
          ...(view ? { pinnedIds: view.pinnedIds, supernodes: view.supernodes } : {}),
          ...(figure ? { view: figure } : {}),
          ...(figure === 'circuit'
            ? {
                circuit: {
                  supernodes: view?.supernodes.length ? view.supernodes : await automaticSupernodes(doc),
                  target,
                },
              }
            : {}),
        });
  if (out === undefined) {
    await writeStdout(content);
  } else {
    await writeFile(out, content);
    process.stderr.write(`exported '${graphId}' as ${format} to ${out}\n`);
  }
  return 0;
}
