/**
 * A tracer child process: receives one WorkerTask, runs it with the tracer, sends progress and the
 * result, and exits. Running traces here keeps the server's event loop free, and cancelling a trace
 * is ending this process.
 */
import { FeatureLabeller, intervene, labelDocument, loadReplacementModel, traceGraph } from '@circuit-atlas/tracer';
import type { WorkerMessage, WorkerTask } from './worker-protocol.js';

function send(message: WorkerMessage): Promise<void> {
  return new Promise((resolve) => process.send!(message, undefined, {}, () => resolve()));
}

/**
 * The tracer reports a fraction within each phase; a job shows one bar, so each phase gets a share
 * of it (roughly its share of the time on a small model) and a name a user can read.
 */
const PHASES: Record<string, { name: string; start: number; end: number }> = {
  load: { name: 'loading model', start: 0, end: 0.05 },
  forward: { name: 'forward pass', start: 0.05, end: 0.15 },
  logits: { name: 'logit rows', start: 0.15, end: 0.25 },
  features: { name: 'feature rows', start: 0.25, end: 0.9 },
  assemble: { name: 'pruning', start: 0.9, end: 1 },
};

/** Sends progress at most every 1% or when the phase changes: polling needs no finer grain. */
function progressReporter(): (phase: string, fraction: number) => void {
  let lastPhase = '';
  let lastOverall = -1;
  return (phase, fraction) => {
    const share = PHASES[phase] ?? { name: phase, start: Math.max(lastOverall, 0), end: Math.max(lastOverall, 0) };
    const within = Math.min(1, Math.max(0, fraction));
    const overall = share.start + (share.end - share.start) * within;
    if (phase === lastPhase && overall - lastOverall < 0.01) return;
    lastPhase = phase;
    lastOverall = overall;
    const label = within > 0 && within < 1 ? `${share.name} ${Math.round(within * 100)}%` : share.name;
    void send({ type: 'progress', phase: label, fraction: overall });
  };
}

async function runTask(task: WorkerTask): Promise<WorkerMessage> {
  const report = progressReporter();
  report('load', 0);
  const model = await loadReplacementModel(task.modelDir);
  try {
    if (task.kind === 'trace') {
      const { document } = await traceGraph(model, task.prompt, {
        ...task.settings,
        id: task.graphId,
        onProgress: ({ phase, fraction }) => report(phase, fraction),
      });
      // Feature nodes carry the labels computed from the model's dashboards, as the CLI's trace does.
      labelDocument(document, await FeatureLabeller.forModel(task.modelDir));
      return { type: 'trace-done', document };
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
