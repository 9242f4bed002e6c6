/**
 * `circuit-atlas collection <question> --model <id>`: questions about the stored graphs of a model as
 * a collection — the common circuit, clusters of prompts, which prompts use a feature or a path —
 * answered by the store of the environment (server/src/analysis/collection.ts).
 */
import { UserInputError } from '@circuit-atlas/schema';
import { numberOption, parseCommandArgs } from '../prompt-command.js';

export const usage = `usage: circuit-atlas collection <question> --model <id> [options]

questions:
  common                    features and edges present in at least --min-share of the graphs,
                            with the mean and spread of their activations / weights
  clusters                  groups of graphs whose feature sets are alike (average linkage on
                            Jaccard similarity, cut at --min-similarity)
  feature <layer:index>     which graphs use the feature, with counts, most active first
  path <from> <to>          which graphs have a path from → to of at most --max-hops edges; an end is
                            a feature 'layer:index' or a logit 'logit:<token>' (e.g. 'logit: Austin')

options:
  --model <id>              the model's name (its folder name) (required)
  --graphs <id,id,...>      the collection: these graphs (default: the model's newest --limit graphs)
  --text <text>             the collection: graphs whose prompt contains this text
  --limit N                 graphs in the collection (common, clusters; default 1000), or rows shown
                            (feature, path; default 20)
  --offset N                first row shown (feature, path)
  --min-share x             common: share of graphs, in (0, 1] (default 0.5)
  --min-similarity x        clusters: in (0, 1] (default 0.5)
  --max-hops N              path: 1, 2 or 3 (default 1)
  --json                    print the answer as JSON

environment:
  ATLAS_DB, NEO4J_URI       the store asked (see 'circuit-atlas import --help')
`;

function parse(argv: string[]) {
  return parseCommandArgs(
    'collection',
    argv,
    {
      model: { type: 'string' },
      graphs: { type: 'string' },
      text: { type: 'string' },
      limit: { type: 'string' },
      offset: { type: 'string' },
      'min-share': { type: 'string' },
      'min-similarity': { type: 'string' },
      'max-hops': { type: 'string' },
      json: { type: 'boolean' },
    },
    true,
  );
}

const feature = (f: { layer: number; index: number }) => `${f.layer}:${f.index}`;
const num = (x: number | null) => (x === null ? 'n/a' : Math.abs(x) >= 100 ? x.toFixed(1) : x.toFixed(3));

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv);
  const [question, ...ends] = positionals;
  const expected: Record<string, number> = { common: 0, clusters: 0, feature: 1, path: 2 };
  if (!question || !(question in expected))
    throw new UserInputError(`ask one of: common, clusters, feature <layer:index>, path <from> <to>`);
  if (ends.length !== expected[question])
    throw new UserInputError(`'collection ${question}' takes ${expected[question]} argument(s), got ${ends.length}`);
  if (!values.model) throw new UserInputError('--model <id> is required (the model folder name of the graphs)');
  const limit = numberOption(values.limit, 'limit', true);
  const offset = numberOption(values.offset, 'offset', true);
  const selection = {
    model: values.model,
    ...(values.graphs ? { graphIds: values.graphs.split(',').filter((id) => id !== '') } : {}),
    ...(values.text ? { text: values.text } : {}),
    ...(limit !== undefined && (question === 'common' || question === 'clusters') ? { limit } : {}),
  };
  const analysis = await import('../../analysis/collection.js');
  const { openStore } = await import('../../store/open-store.js');
  const store = await openStore();
  const queries = analysis.collectionQueriesOf(store);
  const out = (line: string) => process.stdout.write(`${line}\n`);
  try {
    if (question === 'common') {
      const minShare = numberOption(values['min-share'], 'min-share', false);
      const circuit = await analysis.commonCircuit(queries, selection, { minShare });
      if (values.json) return (out(JSON.stringify(circuit, null, 2)), 0);
      out(
        `common circuit of ${circuit.graphCount} graphs (model ${circuit.model}, ${circuit.transcoderSet}), ` +
          `in at least ${Math.round(circuit.minShare * 100)}% of them: ${circuit.features.length} features, ${circuit.edges.length} edges`,
      );
      out('features (layer:index  graphs  share  activation mean ± spread)');
      for (const f of circuit.features)
        out(
          `  ${feature(f).padEnd(10)} ${String(f.graphCount).padStart(6)}  ${(f.share * 100).toFixed(0).padStart(4)}%  ${num(f.activation.mean)} ± ${num(f.activation.spread)}`,
        );
      out('edges (source → target  graphs  share  weight mean ± spread)');
      for (const e of circuit.edges) {
        const target = e.target.kind === 'logit' ? `logit ${JSON.stringify(e.target.token)}` : feature(e.target);
        out(
          `  ${`${feature(e.source)} → ${target}`.padEnd(28)} ${String(e.graphCount).padStart(6)}  ${(e.share * 100).toFixed(0).padStart(4)}%  ${num(e.weight.mean)} ± ${num(e.weight.spread)}`,
        );
      }
    } else if (question === 'clusters') {
      const minSimilarity = numberOption(values['min-similarity'], 'min-similarity', false);
      const clustering = await analysis.clusterGraphs(queries, selection, { minSimilarity });
      if (values.json) return (out(JSON.stringify(clustering, null, 2)), 0);
      out(
        `${clustering.clusters.length} clusters of ${clustering.graphCount} graphs (similarity ≥ ${clustering.minSimilarity})`,
      );
      clustering.clusters.forEach((c, i) => {
        out(
          `cluster ${i + 1}: ${c.graphIds.length} graphs, cohesion ${c.cohesion.toFixed(3)}, shared features ${c.features.map((f) => `${feature(f)} (${f.graphCount})`).join(', ')}`,
        );
        c.graphIds.slice(0, 10).forEach((id, j) => out(`  ${id}  ${JSON.stringify(c.prompts[j])}`));
        if (c.graphIds.length > 10) out(`  … and ${c.graphIds.length - 10} more`);
      });
    } else if (question === 'feature') {
      const end = analysis.parsePathEnd(ends[0], 'the feature');
      if (end.kind !== 'feature')
        throw new UserInputError(`'collection feature' takes a feature layer:index, got '${ends[0]}'`);
      const page = await analysis.graphsUsingFeature(queries, selection, end, { limit, offset });
      if (values.json) return (out(JSON.stringify(page, null, 2)), 0);
      out(
        `feature ${feature(end)} is used by ${page.total} graph(s)${page.collectionSize !== null ? ` of ${page.collectionSize}` : ''}`,
      );
      for (const item of page.items)
        out(
          `  ${item.graphId}  ${item.occurrences}× max activation ${num(item.maxActivation)}  ${JSON.stringify(item.prompt)}`,
        );
    } else {
      const from = analysis.parsePathEnd(ends[0], 'the path start');
      const to = analysis.parsePathEnd(ends[1], 'the path end');
      const maxHops = numberOption(values['max-hops'], 'max-hops', true);
      const page = await analysis.graphsUsingPath(queries, selection, from, to, { limit, offset, maxHops });
      if (values.json) return (out(JSON.stringify(page, null, 2)), 0);
      out(
        `path ${ends[0]} → ${ends[1]} (≤ ${maxHops ?? 1} edges) is in ${page.total} graph(s)${page.collectionSize !== null ? ` of ${page.collectionSize}` : ''}`,
      );
      for (const item of page.items)
        out(
          `  ${item.graphId}  ${item.paths} path(s), strongest ${num(item.strongest)}, total ${num(item.total)}  ${JSON.stringify(item.prompt)}`,
        );
    }
    return 0;
  } finally {
    await queries.close();
    await store.close();
  }
}
