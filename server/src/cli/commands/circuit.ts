/**
 * `circuit-atlas circuit <graph.json> --model <dir>`: the circuit view of a traced graph — its
 * supernodes (the file's own qParams.supernodes, or automatic ones) and the strongest paths from
 * the prompt's tokens to a logit; --write stores automatic supernodes into the file.
 */
import { writeFile } from 'node:fs/promises';
import { UserInputError } from '@circuit-atlas/schema';
import { MODEL_OPTIONS, modelLoadOptions, numberOption, parseCommandArgs, seeHelp } from '../prompt-command.js';
import { automaticSupernodes, readGraphJson } from '../supernode-options.js';

export const usage = `usage: circuit-atlas circuit <graph.json> [--model <dir>] [options]

Shows the circuit view of a graph JSON written by 'trace': the graph collapsed into supernodes,
and the strongest paths from the prompt's tokens to the target logit (token first, logit last).
Supernodes are the file's qParams.supernodes when it has any (your edits win); otherwise they
are found automatically and named from <model>/dashboards.

options:
  --model <dir>          model folder whose dashboards name automatic supernodes (and whose
                         model runs over the dashboards' examples to name them by context)
  --regroup              find automatic supernodes even when the file has some
  --write                store the automatic supernodes in the file's qParams.supernodes
  --target <node id>     logit node to trace paths to (default: the most probable)
  --max-paths N          paths to show (default 24)
  --json                 print the circuit view as JSON
  --execution-provider cpu|cuda
`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'circuit',
    argv,
    {
      ...MODEL_OPTIONS,
      regroup: { type: 'boolean' },
      write: { type: 'boolean' },
      target: { type: 'string' },
      'max-paths': { type: 'string' },
      json: { type: 'boolean' },
    },
    true,
  );
  if (positionals.length !== 1) throw new UserInputError(`give exactly one graph JSON file; ${seeHelp('circuit')}`);
  const file = positionals[0];
  const tracer = await import('@circuit-atlas/tracer'); // lazily: --help stays fast
  const { json, doc, stored } = await readGraphJson(file);
  let entries = stored;
  const automatic = values.regroup || entries.length === 0;
  if (automatic) {
    if (!values.model) throw new UserInputError(`${file} has no supernodes; give --model <dir> to find them`);
    const model = await tracer.loadReplacementModel(values.model, modelLoadOptions(values));
    try {
      entries = await automaticSupernodes(doc, values.model, model);
    } finally {
      await model.dispose();
    }
  }
  const supernodes = tracer.supernodesFromQParams(doc, entries);
  const view = tracer.buildCircuitView(doc, supernodes, {
    target: values.target,
    maxPaths: numberOption(values['max-paths'], 'max-paths', true) ?? tracer.CIRCUIT_VIEW_DEFAULTS.maxPaths,
  });
  if (automatic && values.write) {
    await writeFile(file, JSON.stringify({ ...json, qParams: { ...json.qParams, supernodes: entries } }));
  }
  const out = process.stdout;
  if (values.json) {
    out.write(`${JSON.stringify(view, null, 2)}\n`);
    return 0;
  }
  const byId = new Map(view.nodes.map((n) => [n.id, n]));
  out.write(`supernodes (${automatic ? 'automatic' : 'from the file'}):\n`);
  for (const s of supernodes) {
    const layers = s.layers[0] === s.layers[1] ? `L${s.layers[0]}` : `L${s.layers[0]}-${s.layers[1]}`;
    const at = JSON.stringify(doc.promptTokens[s.ctxIdx]);
    out.write(`  ${JSON.stringify(s.label).padEnd(28)} at ${at} ${layers}, ${s.members.length} features\n`);
  }
  out.write(`strongest paths to ${byId.get(view.target)?.label ?? view.target}:\n`);
  for (const p of view.paths) {
    const sign = p.sign > 0 ? '+' : '-';
    out.write(
      `  ${sign}${p.strength.toExponential(2)}  ${p.nodes.map((id) => byId.get(id)?.label ?? id).join(' → ')}\n`,
    );
  }
  if (automatic && values.write) out.write(`wrote the supernodes to ${file}\n`);
  return 0;
}
