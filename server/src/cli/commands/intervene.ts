/**
 * `circuit-atlas intervene "<prompt>" --model <dir> --set L:P:F=v --scale L:P:F=x ...`: sets or
 * scales features and prints the top logits before and after, the changed activations and,
 * with --generate N, a greedy continuation with and without the interventions.
 */
import { numberOption, parsePromptCommand } from '../prompt-command.js';
import { supernodeFeatureInterventionsFrom, supernodeOptions, supernodeUsage } from '../supernode-options.js';
import { UserInputError } from '@circuit-atlas/schema';
import type { FeatureIntervention } from '@circuit-atlas/tracer';

export const usage = `usage: circuit-atlas intervene "<prompt>" --model <dir> (--set L:P:F=v | --scale L:P:F=x | --zero-supernode L ...)... [options]

Sets (--set) or scales (--scale) the activation of feature F of layer L at token position P
(BOS is position 0) and shows how the top next-token logits change.

options:
  --model <dir>          Hugging Face model folder
  --transcoders <dir>    transcoder folder (default: <model>/transcoders)
  --set L:P:F=v          set the activation to v (repeatable)
  --scale L:P:F=x        multiply the activation by x (repeatable; x=0 ablates)
  --free-attention       let attention patterns change (default: frozen at the clean run)
  --top-k N              logits to show (default 10)
  --generate N           also continue the prompt greedily for N tokens, with and without
  --json                 print the result as JSON
  --execution-provider cpu|cuda
supernodes (Texas → California: --graph dallas.json --replace-supernode Texas=California
--donor-graph fresno.json):
${supernodeUsage}`;

function parseIntervention(spec: string, mode: 'set' | 'scale'): FeatureIntervention {
  const match = /^(\d+):(\d+):(\d+)=(-?[\d.eE+-]+)$/.exec(spec.trim());
  if (!match)
    throw new UserInputError(`--${mode} '${spec}' must look like LAYER:POSITION:FEATURE=VALUE, e.g. 1:3:42=0`);
  const [layer, position, feature, value] = [Number(match[1]), Number(match[2]), Number(match[3]), Number(match[4])];
  if (!Number.isFinite(value)) throw new UserInputError(`--${mode} '${spec}': '${match[4]}' is not a number`);
  return { layer, position, feature, mode, value };
}

export async function run(argv: string[]): Promise<number> {
  const { generate, intervene } = await import('@circuit-atlas/tracer'); // lazily: --help stays fast
  const { prompt, values, loadModel } = parsePromptCommand('intervene', argv, {
    set: { type: 'string', multiple: true },
    scale: { type: 'string', multiple: true },
    'free-attention': { type: 'boolean' },
    'top-k': { type: 'string' },
    generate: { type: 'string' },
    json: { type: 'boolean' },
    ...supernodeOptions,
  });
  const interventions = [
    ...(values.set ?? []).map((s) => parseIntervention(s, 'set')),
    ...(values.scale ?? []).map((s) => parseIntervention(s, 'scale')),
    ...(await supernodeFeatureInterventionsFrom(values, prompt)),
  ];
  if (interventions.length === 0) throw new UserInputError(`give at least one --set, --scale or supernode flag`);
  const nGenerate = numberOption(values.generate, 'generate', true) ?? 0;
  const model = await loadModel();
  try {
    const result = await intervene(model, prompt, interventions, {
      frozenAttention: !values['free-attention'],
      topK: numberOption(values['top-k'], 'top-k', true) ?? 10,
    });
    const continuation =
      nGenerate > 0
        ? {
            without: await generate(model, prompt, nGenerate),
            with: await generate(model, prompt, nGenerate, interventions),
          }
        : null;
    const out = process.stdout;
    if (values.json) {
      out.write(`${JSON.stringify({ ...result, continuation }, null, 2)}\n`);
      return 0;
    }
    out.write(`prompt tokens: ${result.tokens.map((t, i) => `${i}:${JSON.stringify(t)}`).join(' ')}\n`);
    out.write(`${'before'.padEnd(34)}after\n`);
    for (let i = 0; i < Math.max(result.before.length, result.after.length); i++) {
      const cell = (l: (typeof result.before)[number] | undefined) =>
        l ? `${JSON.stringify(l.token).padEnd(16)} p=${l.probability.toFixed(4)}` : '';
      out.write(`  ${cell(result.before[i]).padEnd(32)}${cell(result.after[i])}\n`);
    }
    out.write(`activations (layer:position:feature before -> after):\n`);
    for (const a of result.activations)
      out.write(`  ${a.layer}:${a.position}:${a.feature}  ${a.before.toFixed(4)} -> ${a.after.toFixed(4)}\n`);
    if (continuation) {
      out.write(`continuation without: ${JSON.stringify(continuation.without.text)}\n`);
      out.write(`continuation with:    ${JSON.stringify(continuation.with.text)}\n`);
    }
    return 0;
  } finally {
    await model.dispose();
  }
}
