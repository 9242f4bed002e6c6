/**
 * `circuit-atlas import <graph.json> [--id ID]`: stores a circuit-tracer / Neuronpedia graph JSON.
 * The file is validated against schema/graph-json.schema.json (fromGraphJson) before anything is
 * written, and the store saves it in one transaction, so a bad file leaves nothing behind.
 */
import { UserInputError } from '@circuit-atlas/schema';
import { readUserFile } from '../prompt-command.js';

export const usage = `usage: circuit-atlas import <graph.json> [--id ID]

Validates a circuit-tracer / Neuronpedia graph JSON and stores it.

options:
  --id ID   store the graph under this id instead of metadata.slug
            (letters, digits, '-', '_' and '.')

environment:
  ATLAS_DB                                SQLite file (default ./data/atlas.sqlite), used unless NEO4J_URI is set
  NEO4J_URI, NEO4J_USER, NEO4J_PASSWORD   use this Neo4j as the store
`;

export interface ImportArgs {
  file: string;
  id?: string;
}

/** Parses `<graph.json> [--id ID]`; UserInputError naming what is wrong. */
export function parseImportArgs(argv: string[]): ImportArgs {
  let file: string | undefined;
  let id: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--id') {
      id = argv[++i];
      if (id === undefined || id.startsWith('--'))
        throw new UserInputError('--id needs a value: circuit-atlas import <graph.json> --id ID');
    } else if (arg.startsWith('--id=')) {
      id = arg.slice('--id='.length);
    } else if (arg.startsWith('-')) {
      throw new UserInputError(`unknown option '${arg}' for import; see 'circuit-atlas import --help'`);
    } else if (file === undefined) {
      file = arg;
    } else {
      throw new UserInputError(`import takes one file, got '${file}' and '${arg}'`);
    }
  }
  if (file === undefined)
    throw new UserInputError('name the graph JSON to import: circuit-atlas import <graph.json> [--id ID]');
  return { file, id };
}

export async function run(argv: string[]): Promise<number> {
  const { fromGraphJson } = await import('@circuit-atlas/tracer'); // lazily: --help stays fast
  const { describeStore, openStore } = await import('../../store/open-store.js');
  const { file, id } = parseImportArgs(argv);
  const text = await readUserFile(file);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new UserInputError(`${file} is not valid JSON (${(error as Error).message}): is it a graph JSON file?`);
  }
  const graph = fromGraphJson(json, id === undefined ? {} : { id });
  const store = await openStore();
  try {
    await store.saveGraph(graph);
    process.stdout.write(
      `imported '${graph.id}' (${graph.nodes.length} nodes, ${graph.edges.length} edges, model ${graph.model}) ` +
        `into ${describeStore(store)}\n`,
    );
  } finally {
    await store.close();
  }
  return 0;
}
