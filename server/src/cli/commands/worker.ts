/**
 * `circuit-atlas worker --model <dir>`: a trace worker for the distributed queue. It loads the model
 * once, takes that model's jobs from ATLAS_QUEUE (BullMQ on Redis) and stores each graph in the
 * store of the environment (a shared Neo4j for workers on many machines). One line per event on
 * stdout, so operators and tests can follow it. SIGINT/SIGTERM finish the prompt in hand, then stop.
 */
import { UserInputError } from '@circuit-atlas/schema';
import { MODEL_OPTIONS, modelLoadOptions, numberOption, parseCommandArgs } from '../prompt-command.js';

export const usage = `usage: circuit-atlas worker --model <dir> [options]

Takes trace jobs of the model's queue on ATLAS_QUEUE (see 'circuit-atlas trace-batch') and stores the
graphs (ATLAS_DB or NEO4J_URI; use a shared Neo4j when workers run on several machines). Start as many
as you like, on as many machines; a worker that dies hands its job on to another.

options:
  --model <dir>             model folder (its name is the model id batches ask for)
  --transcoders <dir>       transcoder folder (default: <model>/transcoders)
  --concurrency N           prompts traced at once (default 1: one trace uses every core)
  --execution-provider cpu|cuda   ONNX Runtime execution provider (default cpu)

environment:
  ATLAS_QUEUE               redis://host:port of the queue (required)
  ATLAS_QUEUE_LOCK_MS       a dead worker's job is handed on after about this long (default 30000)
  ATLAS_DB, NEO4J_URI       where graphs are stored
`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('worker', argv, { ...MODEL_OPTIONS, concurrency: { type: 'string' } });
  if (!values.model) throw new UserInputError('--model <dir> is required');
  const { lockMsFromEnv, queueUrlFromEnv } = await import('../../jobs/open-queue.js');
  const url = queueUrlFromEnv();
  if (!url)
    throw new UserInputError(
      'a worker needs ATLAS_QUEUE=redis://host:port; without it, trace-batch traces in its own process',
    );
  const lockMs = lockMsFromEnv();
  const concurrency = numberOption(values.concurrency, 'concurrency', true) ?? 1;
  if (concurrency < 1) throw new UserInputError(`--concurrency must be at least 1, got ${concurrency}`);
  const load = modelLoadOptions(values); // a bad --execution-provider fails before any import

  const { loadReplacementModel } = await import('@circuit-atlas/tracer');
  const { openStore, describeStore } = await import('../../store/open-store.js');
  const { modelIdOf } = await import('../../jobs/batch.js');
  const { modelPromptTracer } = await import('../../jobs/batch-job.js');
  const { redactUrl, startBullmqWorker } = await import('../../jobs/bullmq-queue.js');
  const modelId = modelIdOf(values.model);
  const model = await loadReplacementModel(values.model, load);
  const store = await openStore();
  const log = (line: string) => process.stdout.write(`${line}\n`);
  const worker = startBullmqWorker({
    url,
    model: modelId,
    store,
    trace: modelPromptTracer(model),
    concurrency,
    lockMs,
    events: {
      started: (job, attempt) => log(`started ${job.graphId} (batch ${job.batchId}, try ${attempt})`),
      finished: (job, outcome, ms) => log(`${outcome} ${job.graphId} in ${(ms / 1000).toFixed(2)} s`),
      failed: (job, message, willRetry) =>
        log(`failed ${job.graphId}${willRetry ? ' (will retry)' : ''}: ${message.split('\n')[0]}`),
      error: (error) => process.stderr.write(`worker: ${error.message.split('\n')[0]}\n`),
    },
  });
  await worker.ready;
  log(`worker ready: model ${modelId}, queue ${redactUrl(url)}, store ${describeStore(store)}, pid ${process.pid}`);
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      log(`${signal}: finishing the prompt in hand, then stopping`);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await worker.close();
  await store.close();
  model.dispose();
  log('worker stopped');
  return 0;
}
