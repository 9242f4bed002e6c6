/**
 * A tracer child process: receives one WorkerTask, runs it with the tracer, sends progress and the
 * result, and exits. Running traces here keeps the server's event loop free, and cancelling a trace
 * is ending this process.
 */
import { intervene, loadReplacementModel, traceGraph } from '../../../tracer/src/index.js';
import type { WorkerMessage, WorkerTask } from './worker-protocol.js';

function send(message: WorkerMessage): Promise<void> {
  return new Promise((resolve) => process.send!(message, undefined, {}, () => resolve()));
}

/** Sends progress at most every 1% or when the phase changes: polling needs no finer grain. */
function progressReporter(): (phase: string, fraction: number) => void {
  let lastPhase = '';
  let lastFraction = -1;
  return (phase, fraction) => {
    if (phase === lastPhase && fraction - lastFraction < 0.01) return;
    lastPhase = phase;
    lastFraction = fraction;
    void send({ type: 'progress', phase, fraction });
  };
}

async function runTask(task: WorkerTask): Promise<WorkerMessage> {
  const report = progressReporter();
  report('loading model', 0);
  const model = await loadReplacementModel(task.modelDir);
  try {
    if (task.kind === 'trace') {
      const { document } = await traceGraph(model, task.prompt, {
        ...task.settings,
        maxFeatureNodes: task.settings.maxFeatureNodes ?? null,
        onProgress: ({ phase, fraction }: { phase: string; fraction: number }) => report(phase, fraction),
      });
      return { type: 'trace-done', document: { ...document, id: task.graphId } };
    }
    const result = await intervene(model, task.prompt, task.interventions, {
      frozenAttention: task.frozenAttention,
      topK: task.topK,
    });
    return {
      type: 'intervene-done',
      outcome: {
        before: result.before.map(({ token, tokenId, probability }) => ({ token, tokenId, probability })),
        after: result.after.map(({ token, tokenId, probability }) => ({ token, tokenId, probability })),
      },
    };
  } finally {
    model.dispose();
  }
}

process.once('message', (task: WorkerTask) => {
  runTask(task)
    .catch((error: unknown): WorkerMessage => {
      const { name, message } = error instanceof Error ? error : new Error(String(error));
      return { type: 'error', name, message };
    })
    .then(send)
    // ONNX Runtime may keep native threads alive: end the process once the answer is sent.
    .finally(() => process.exit(0));
});
