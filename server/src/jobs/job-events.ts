/**
 * Live progress of a trace job as server-sent events (GET /jobs/:id/events): one `data:` line with
 * the job (the GraphQL TraceJob's fields) now and after every change, until it is done, failed or
 * cancelled; then the stream ends. The viewer follows traces with EventSource instead of polling.
 */
import type { Request, Response } from 'express';
import type { TraceQueue } from './trace-queue.js';

/** A comment line this often keeps proxies from closing a quiet stream. */
const KEEP_ALIVE_MS = 15_000;

export function jobEventsHandler(queue: TraceQueue) {
  return (req: Request, res: Response): void => {
    const id = String(req.params.id);
    let stop: (() => void) | null = null;
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      clearInterval(keepAlive);
      stop?.();
      res.end();
    };
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), KEEP_ALIVE_MS);
    res.on('close', end);
    let started = false;
    stop = queue.watch(id, (job) => {
      if (!started) {
        started = true;
        res.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-cache, no-transform',
          connection: 'keep-alive',
          'x-accel-buffering': 'no',
        });
      }
      res.write(`data: ${JSON.stringify(job)}\n\n`);
      if (job.finishedAt) setImmediate(end);
    });
    if (!stop) {
      clearInterval(keepAlive);
      ended = true;
      res.status(404).json({
        error: `no trace job '${id}' (finished jobs are forgotten after a while); start one with the 'trace' mutation`,
      });
    }
  };
}
