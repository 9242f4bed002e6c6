/**
 * `circuit-atlas trace-batch prompts.jsonl --model <dir>`: traces every prompt of a file and stores
 * the graphs. Without ATLAS_QUEUE the prompts run here, the model loaded once; with
 * ATLAS_QUEUE=redis://… they go to BullMQ and `circuit-atlas worker` processes trace them, while
 * this command shows the batch's progress (or returns at once with --no-wait).
 */
import { UserInputError, type TraceSettings } from '@circuit-atlas/schema';
import { ProgressBar } from '../progress-bar.js';
import { MODEL_OPTIONS, modelLoadOptions, numberOption, parseCommandArgs, readUserFile } from '../prompt-command.js';

export const usage = `usage: circuit-atlas trace-batch <prompts.jsonl> --model <dir> [options]
       circuit-atlas trace-batch --status <batch-id>      (with ATLAS_QUEUE)
       circuit-atlas trace-batch --cancel <batch-id>      (with ATLAS_QUEUE)

Traces every prompt of a JSON Lines file and stores each graph (ATLAS_DB or NEO4J_URI). One object
per line: {"prompt": "...", "id": "dallas", "target": " Austin", "settings": {"maxNLogits": 5}}; only
"prompt" is required. A prompt without an id gets one from its model, text, target and settings, so
running a batch again stores nothing twice and retries only what failed. A "target" must be among
the graph's logit targets, or the prompt fails with a message. Exit code 1 if any prompt failed.

options:
  --model <dir>             model folder; its name is the model id workers serve
  --transcoders <dir>       transcoder folder (default: <model>/transcoders; in-process queue only)
  --batch ID                batch id (default: derived from the model and the prompts)
  --attempts N              tries per prompt before it fails (default 3)
  --no-wait                 submit and return (ATLAS_QUEUE only; follow with --status)
  --max-n-logits N, --desired-logit-prob x, --batch-size N, --max-feature-nodes N,
  --node-threshold x, --edge-threshold x
                            settings for prompts that do not give their own
  --execution-provider cpu|cuda   ONNX Runtime execution provider (in-process queue only)

environment:
  ATLAS_QUEUE               redis://host:port: queue on BullMQ/Redis for 'circuit-atlas worker' processes
  ATLAS_DB, NEO4J_URI       where graphs are stored (see 'circuit-atlas import --help')
`;

const SETTING_FLAGS: Record<string, { name: keyof TraceSettings; integer: boolean }> = {
  'max-n-logits': { name: 'maxNLogits', integer: true },
  'desired-logit-prob': { name: 'desiredLogitProb', integer: false },
  'batch-size': { name: 'batchSize', integer: true },
  'max-feature-nodes': { name: 'maxFeatureNodes', integer: true },
  'node-threshold': { name: 'nodeThreshold', integer: false },
  'edge-threshold': { name: 'edgeThreshold', integer: false },
};

/** How often the command looks at the batch while it waits. */
const POLL_MS = 500;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'trace-batch',
    argv,
    {
      ...MODEL_OPTIONS,
      batch: { type: 'string' },
      attempts: { type: 'string' },
      'no-wait': { type: 'boolean' },
      status: { type: 'string' },
      cancel: { type: 'string' },
      ...Object.fromEntries(Object.keys(SETTING_FLAGS).map((flag) => [flag, { type: 'string' as const }])),
    },
    true,
  );
  const { queueUrlFromEnv } = await import('../../jobs/open-queue.js');
  const url = queueUrlFromEnv();
  if (values.status !== undefined || values.cancel !== undefined) {
    if (!url)
      throw new UserInputError(
        'without ATLAS_QUEUE a batch lives in its trace-batch process: watch it there, Ctrl-C cancels it',
      );
    return statusOrCancel(url, values.status, values.cancel);
  }
  if (positionals.length !== 1)
    throw new UserInputError(`name one prompts file: circuit-atlas trace-batch <prompts.jsonl> --model <dir>`);
  if (!values.model) throw new UserInputError('--model <dir> is required');
  if (values['no-wait'] && !url)
    throw new UserInputError(
      '--no-wait needs ATLAS_QUEUE=redis://…: the in-process queue lives only while this command runs',
    );
  const { DEFAULT_ATTEMPTS, checkBatchId, derivedBatchId, modelIdOf, parsePromptLines } =
    await import('../../jobs/batch.js');
  const file = positionals[0];
  const text = await readUserFile(file);
  const defaults: Partial<Record<keyof TraceSettings, number>> = {};
  for (const [flag, { name, integer }] of Object.entries(SETTING_FLAGS)) {
    const value = numberOption((values as Record<string, string | undefined>)[flag], flag, integer);
    if (value !== undefined) defaults[name] = value;
  }
  const model = modelIdOf(values.model);
  const prompts = parsePromptLines(text, file, model, defaults as Partial<TraceSettings>);
  const attempts = numberOption(values.attempts, 'attempts', true) ?? DEFAULT_ATTEMPTS;
  if (attempts < 1) throw new UserInputError(`--attempts must be at least 1, got ${attempts}`);
  const batch = {
    id: values.batch !== undefined ? checkBatchId(values.batch) : derivedBatchId(model, prompts),
    model,
    prompts,
    attempts,
  };
  return url ? submitToRedis(url, batch, !values['no-wait']) : runHere(batch, values.model, modelLoadOptions(values));
}

type Batch = import('../../jobs/batch.js').BatchSpec;
type BatchQueue = import('../../jobs/batch-queue.js').BatchQueue;
type BatchStatus = import('../../jobs/batch.js').BatchStatus;

/** The in-process queue: the model loaded once, prompts traced one after another in this process. */
async function runHere(batch: Batch, modelDir: string, load: ReturnType<typeof modelLoadOptions>) {
  const { loadReplacementModel } = await import('@circuit-atlas/tracer');
  const { openStore, describeStore } = await import('../../store/open-store.js');
  const { InProcessBatchQueue } = await import('../../jobs/batch-queue.js');
  const { modelPromptTracer } = await import('../../jobs/batch-job.js');
  const store = await openStore();
  let model: Awaited<ReturnType<typeof loadReplacementModel>> | null = null;
  const queue = new InProcessBatchQueue({
    store,
    tracerFor: async () => {
      model ??= await loadReplacementModel(modelDir, load);
      return modelPromptTracer(model);
    },
  });
  process.stdout.write(
    `batch ${batch.id}: ${batch.prompts.length} prompts, model ${batch.model}, in-process queue, store ${describeStore(store)}\n`,
  );
  const onSignal = () => {
    process.stderr.write(`\ncircuit-atlas: cancelling batch ${batch.id}\n`);
    void queue.cancel(batch.id);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await queue.submit(batch);
    const status = await watch(queue, batch.id);
    return report(status!);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await queue.close();
    (model as { dispose(): void } | null)?.dispose();
    await store.close();
  }
}

async function submitToRedis(url: string, batch: Batch, wait: boolean): Promise<number> {
  const { BullmqBatchQueue } = await import('../../jobs/bullmq-queue.js');
  const queue = new BullmqBatchQueue(url);
  try {
    const submitted = await queue.submit(batch);
    process.stdout.write(
      `batch ${batch.id}: ${batch.prompts.length} prompts queued on ${queue.description} for model ${batch.model} ` +
        `(${submitted.counts.done} already done); workers: circuit-atlas worker --model <dir of ${batch.model}>\n`,
    );
    if (!wait) return 0;
    let stopWatching: () => void = () => {};
    const interrupted = new Promise<null>((resolve) => (stopWatching = () => resolve(null)));
    const onSignal = () => {
      process.stderr.write(
        `\ncircuit-atlas: stopped watching; batch ${batch.id} keeps running (trace-batch --status/--cancel ${batch.id})\n`,
      );
      stopWatching();
    };
    process.once('SIGINT', onSignal);
    try {
      const status = await watch(queue, batch.id, interrupted);
      return status ? report(status) : 130;
    } finally {
      process.off('SIGINT', onSignal);
    }
  } finally {
    await queue.close();
  }
}

async function statusOrCancel(url: string, statusId?: string, cancelId?: string): Promise<number> {
  const { BullmqBatchQueue } = await import('../../jobs/bullmq-queue.js');
  const queue = new BullmqBatchQueue(url);
  try {
    const id = (cancelId ?? statusId)!;
    const status = cancelId !== undefined ? await queue.cancel(id) : await queue.status(id);
    if (!status) throw new UserInputError(`no batch '${id}' on ${queue.description}`);
    if (cancelId !== undefined) process.stdout.write(`cancelled batch ${id}\n`);
    return report(status, false);
  } finally {
    await queue.close();
  }
}

/** Follows the batch until it finishes (or `interrupted` resolves), drawing its progress on stderr. */
async function watch(queue: BatchQueue, id: string, interrupted?: Promise<null>): Promise<BatchStatus | null> {
  const { describeBatchCounts } = await import('../../jobs/batch.js');
  const bar = process.stderr.isTTY ? new ProgressBar() : null;
  let lastLine = '';
  try {
    for (;;) {
      const status = await queue.status(id);
      if (!status) throw new UserInputError(`batch '${id}' disappeared from ${queue.description}`);
      const line = describeBatchCounts(status);
      if (bar) bar.update(line, status.progress);
      else if (line !== lastLine) process.stderr.write(`batch ${id}: ${line}\n`);
      lastLine = line;
      if (status.finished) return status;
      const tick = new Promise<'tick'>((resolve) => setTimeout(() => resolve('tick'), POLL_MS));
      if ((await Promise.race([tick, interrupted ?? tick])) === null) return null;
    }
  } finally {
    bar?.end();
  }
}

/** Prints the batch's outcome with each failed prompt's reason; 1 when any prompt failed. */
async function report(status: BatchStatus, final = true): Promise<number> {
  const { describeBatchCounts } = await import('../../jobs/batch.js');
  const out = process.stdout;
  out.write(`batch ${status.id}: ${describeBatchCounts(status)}\n`);
  for (const p of status.prompts)
    if (p.state === 'failed')
      out.write(`  failed ${p.graphId} (${JSON.stringify(p.prompt.slice(0, 60))}): ${p.error}\n`);
  if (!final) return 0;
  return status.counts.failed > 0 || status.counts.cancelled > 0 ? 1 : 0;
}
