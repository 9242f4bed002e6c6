/**
 * `circuit-atlas features --model <dir> --corpus <file>`: computes feature dashboards over a corpus
 * and writes circuit-tracer's feature-detail format, one `layer_{l}.json` per layer, where the
 * server and viewer read them (`<model>/dashboards` by default).
 */
import path from 'node:path';
import {
  computeFeatureDashboards,
  loadReplacementModel,
  UserInputError,
  type CorpusFormat,
} from '@circuit-atlas/tracer';
import { ProgressBar } from '../progress-bar.js';
import { MODEL_OPTIONS, modelLoadOptions, numberOption, parseCommandArgs } from '../prompt-command.js';

export const usage = `usage: circuit-atlas features --model <dir> --corpus <file> [options]

Runs the model over a corpus and writes a feature dashboard per transcoder feature (top activating
contexts with per-token activations, examples per activation band, histogram, quantiles, activation
frequency, top and bottom direct logit effects) in circuit-tracer's feature-detail format: one JSON
array per layer, <out>/layer_{l}.json. The corpus is streamed; memory does not grow with its size.
Each layer file is written whole or not at all; a re-run skips layers whose file exists.

options:
  --model <dir>             Hugging Face model folder (config.json, *.safetensors, tokenizer.json)
  --transcoders <dir>       transcoder folder with config.yaml (default: <model>/transcoders)
  --corpus <file>           plain text (one document per line) or JSONL ({"text": "..."} per line)
  --format text|jsonl       corpus format (default: jsonl for .jsonl/.ndjson files, else text)
  --out <dir>               where to write layer_{l}.json (default: <model>/dashboards)
  --layers <list>           layers to compute, e.g. 0,3,5-7 (default: all)
  --context-length N        tokens per context, BOS included (default 128, at most the model's context)
  --batch-size N            contexts per forward pass (default 16)
  --max-tokens N            read at most N tokens of the corpus (default: all)
  --top-k N                 top activating contexts per feature (default 10)
  --layers-per-pass N       layers collected per pass over the corpus (default: all; fewer uses less
                            memory and writes finished layers sooner)
  --force                   recompute layers whose file already exists
  --label                   then write each feature's automatic label into every layer file of <out>
                            (reads all of them: for models of demo size)
  --execution-provider cpu|cuda   ONNX Runtime execution provider (default cpu)
`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('features', argv, {
    ...MODEL_OPTIONS,
    corpus: { type: 'string' },
    format: { type: 'string' },
    out: { type: 'string' },
    layers: { type: 'string' },
    'context-length': { type: 'string' },
    'batch-size': { type: 'string' },
    'max-tokens': { type: 'string' },
    'top-k': { type: 'string' },
    'layers-per-pass': { type: 'string' },
    force: { type: 'boolean' },
    label: { type: 'boolean' },
  });
  if (!values.model) throw new UserInputError(`--model <dir> is required`);
  if (!values.corpus) throw new UserInputError(`--corpus <file> is required (plain text or JSONL)`);
  const format = values.format;
  const isFormat = (value: string): value is CorpusFormat => value === 'text' || value === 'jsonl';
  if (format !== undefined && !isFormat(format)) {
    throw new UserInputError(`--format must be text or jsonl, got '${format}'`);
  }
  const corpusFormat = format;
  const options = {
    corpus: values.corpus,
    format: corpusFormat,
    outDir: values.out ?? path.join(values.model, 'dashboards'),
    layers: values.layers === undefined ? undefined : parseLayers(values.layers),
    contextLength: numberOption(values['context-length'], 'context-length', true),
    batchSize: numberOption(values['batch-size'], 'batch-size', true),
    maxTokens: numberOption(values['max-tokens'], 'max-tokens', true),
    topK: numberOption(values['top-k'], 'top-k', true),
    layersPerPass: numberOption(values['layers-per-pass'], 'layers-per-pass', true),
    force: values.force ?? false,
    label: values.label ?? false,
  };
  const model = await loadReplacementModel(values.model, modelLoadOptions(values));
  const progress = new ProgressBar();
  try {
    const result = await computeFeatureDashboards(model, {
      ...options,
      onProgress: ({ phase, fraction }) => progress.update(phase, fraction),
    }).finally(() => progress.end());
    const out = process.stdout;
    for (const layer of result.layers) {
      out.write(
        layer.skipped
          ? `layer ${layer.layer}: ${layer.file} exists, skipped (--force recomputes it)\n`
          : `layer ${layer.layer}: ${layer.features} active features -> ${layer.file}\n`,
      );
    }
    if (result.labelled > 0) out.write(`automatic labels written for ${result.labelled} features\n`);
    if (result.tokens > 0) {
      out.write(
        `${result.tokens} tokens in ${result.seconds.toFixed(2)} s (${(result.tokens / result.seconds).toFixed(0)} tokens/s)\n`,
      );
    }
    return 0;
  } finally {
    await model.dispose();
  }
}

/** "0,3,5-7" → [0, 3, 5, 6, 7]. */
export function parseLayers(text: string): number[] {
  const layers: number[] = [];
  for (const part of text.split(',')) {
    const match = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (!match) throw new UserInputError(`--layers must list layers like 0,3,5-7; '${part}' is not a layer or range`);
    const from = Number(match[1]);
    const to = match[2] === undefined ? from : Number(match[2]);
    if (to < from) throw new UserInputError(`--layers range '${part}' goes backwards; write it low-high`);
    for (let layer = from; layer <= to; layer++) layers.push(layer);
  }
  return layers;
}
