/**
 * A long-lived tracer child that names automatic supernodes by their contexts for one model folder:
 * the model and its dashboard context index are built on the first request and kept, so later
 * requests (another graph, a donor graph) are answered in milliseconds. The parent ends it when idle.
 */
import path from 'node:path';
import {
  dashboardContextIndex,
  loadReplacementModel,
  renameFromContexts,
  type ContextIndex,
  type ReplacementModel,
} from '@circuit-atlas/tracer';
import type { NamingReply, NamingRequest } from './worker-protocol.js';

let ready: Promise<{ model: ReplacementModel; index: ContextIndex }> | null = null;

function send(message: NamingReply): Promise<void> {
  return new Promise((resolve) => process.send!(message, undefined, {}, () => resolve()));
}

process.on('message', (request: NamingRequest) => {
  ready ??= (async () => {
    const model = await loadReplacementModel(request.modelDir);
    return { model, index: await dashboardContextIndex(path.join(request.modelDir, 'dashboards'), model) };
  })();
  ready
    .then(({ index }): NamingReply => {
      const supernodes =
        index.contexts.length > 0 ? renameFromContexts(request.graph, request.supernodes, index) : request.supernodes;
      return { id: request.id, supernodes };
    })
    .catch((error: unknown): NamingReply => {
      const { name, message } = error instanceof Error ? error : new Error(String(error));
      return { id: request.id, error: { name, message } };
    })
    .then(send);
});
// The parent closing the channel (or ending) ends the child; ONNX Runtime may keep native threads alive.
process.on('disconnect', () => process.exit(0));
