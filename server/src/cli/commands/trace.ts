/**
 * `circuit-atlas trace "<prompt>" --model <dir> ... --out f.json`: attributes a prompt, prunes the
 * graph, prints what it found and writes circuit-tracer's graph JSON.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ProgressBar } from '../progress-bar.js';
import { numberOption, parsePromptCommand } from '../prompt-command.js';
import { automaticSupernodes } from '../supernode-options.js';
import { UserInputError } from '@circuit-atlas/schema';

export const usage = `usage: circuit-atlas trace "<prompt>" --model <dir> --out <file.json> [options]

Computes the attribution graph of the prompt's next-token prediction, prunes it and writes it as
circuit-tracer graph JSON (readable by Neuronpedia and 'circuit-atlas import').

options:
  --model <dir>             Hugging Face model folder (config.json, *.safetensors, tokenizer.json),
                            or a repo id (org/name[@revision]) found in the local HF cache, offline
  --transcoders <dir>       transcoder folder with config.yaml (default: <model>/transcoders), or a
                            repo id of one in the local HF cache (its hf:// transcoders resolved there)
  --out <file.json>         where to write the graph JSON
  --max-feature-nodes N     attribute at most N features, most influential first (default: all)
  --batch-size N            attribution targets per backward pass (default 256)
  --max-n-logits N          at most N logit targets (default 10)
  --desired-logit-prob x    logit targets until their probability sums to x (default 0.95)
  --node-threshold x        keep nodes up to this cumulative influence (default 0.8)
  --edge-threshold x        keep edges up to this cumulative influence (default 0.98)
  --execution-provider cpu|cuda   ONNX Runtime execution provider (default cpu)
  --supernodes              also group features into automatic supernodes, named from
                            <model>/dashboards (member labels, then the contexts where the group
                            fires: runs the model over the dashboards' examples, ~30 s for the
                            demo on 2 cores), written to the JSON's qParams.supernodes
`;

export async function run(argv: string[]): Promise<number> {
  const { FeatureLabeller, labelDocument, toGraphJson, traceGraph } = await import('@circuit-atlas/tracer'); // lazily: --help stays fast
  const { prompt, values, loadModel } = parsePromptCommand('trace', argv, {
    out: { type: 'string' },
    'max-feature-nodes': { type: 'string' },
    'batch-size': { type: 'string' },
    'max-n-logits': { type: 'string' },
    'desired-logit-prob': { type: 'string' },
    'node-threshold': { type: 'string' },
    'edge-threshold': { type: 'string' },
    supernodes: { type: 'boolean' },
  });
  if (!values.out) throw new UserInputError(`--out <file.json> is required`);
  const start = performance.now();
  const model = await loadModel();
  const progress = new ProgressBar();
  try {
    const { graph, document, timings } = await traceGraph(model, prompt, {
      maxFeatureNodes: numberOption(values['max-feature-nodes'], 'max-feature-nodes', true) ?? null,
      batchSize: numberOption(values['batch-size'], 'batch-size', true),
      maxNLogits: numberOption(values['max-n-logits'], 'max-n-logits', true),
      desiredLogitProb: numberOption(values['desired-logit-prob'], 'desired-logit-prob', false),
      nodeThreshold: numberOption(values['node-threshold'], 'node-threshold', false),
      edgeThreshold: numberOption(values['edge-threshold'], 'edge-threshold', false),
      id: path
        .basename(values.out)
        .replace(/\.json$/i, '')
        .replace(/[^A-Za-z0-9._-]/g, '_'),
      onProgress: ({ phase, fraction }) => progress.update(phase, fraction),
    }).finally(() => progress.end());
    // Feature nodes carry the labels computed from the model's dashboards (the JSON's clerp).
    const transcodersDir = typeof values.transcoders === 'string' ? values.transcoders : undefined;
    labelDocument(document, await FeatureLabeller.forModel(String(values.model), transcodersDir));
    const json = toGraphJson(document);
    if (values.supernodes) json.qParams.supernodes = await automaticSupernodes(document, String(values.model), model);
    await writeFile(values.out, JSON.stringify(json));
    const out = process.stdout;
    out.write(`prompt tokens: ${graph.tokenStrings.map((t) => JSON.stringify(t)).join(' ')}\n`);
    out.write(`top logits:\n`);
    for (const t of graph.logitTargets)
      out.write(`  ${JSON.stringify(t.token).padEnd(16)} p=${t.probability.toFixed(4)}\n`);
    out.write(`active features: ${graph.activations.length}, attributed: ${graph.selectedFeatures.length}\n`);
    out.write(`graph before pruning: ${graph.adjacency.nRows} nodes, ${graph.adjacency.values.length} edges\n`);
    out.write(`graph after pruning:  ${document.nodes.length} nodes, ${document.edges.length} edges\n`);
    const scores = document.scores;
    out.write(
      `replacement score: ${scores ? scores.replacement.toFixed(4) : 'n/a'}, completeness score: ${scores ? scores.completeness.toFixed(4) : 'n/a'}\n`,
    );
    out.write(
      `time: ${((performance.now() - start) / 1000).toFixed(2)} s (attribution ${((timings.total - timings.prune) / 1000).toFixed(2)} s)\n`,
    );
    out.write(`wrote ${values.out}\n`);
    return 0;
  } finally {
    await model.dispose();
  }
}
