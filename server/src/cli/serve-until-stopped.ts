/** Shared by `serve` and `demo`: options of the server from flags and env, and running until Ctrl-C. */
import { UserInputError } from '@circuit-atlas/schema';
import type { GraphStore } from '../store/graph-store.js';
import type { RunningServer } from '../app.js';

export const DEFAULT_PORT = 4000;

/** `--port N` / `--host H` from argv, else PORT / ATLAS_HOST, else 4000 on 127.0.0.1. */
export function listenAddress(argv: string[], env: NodeJS.ProcessEnv = process.env): { port: number; host: string } {
  const flag = (name: string): string | undefined => {
    const at = argv.indexOf(name);
    if (at === -1) return undefined;
    const value = argv[at + 1];
    if (value === undefined || value.startsWith('--')) throw new UserInputError(`${name} needs a value`);
    return value;
  };
  const rawPort = flag('--port') ?? env.PORT ?? String(DEFAULT_PORT);
  const port = Number(rawPort);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new UserInputError(`the port must be a whole number from 0 to 65535, got '${rawPort}'`);
  }
  return { port, host: flag('--host') ?? env.ATLAS_HOST ?? '127.0.0.1' };
}

/** Flags a command accepts; anything else is a typo the user should hear about. */
export function rejectUnknownFlags(argv: string[], known: string[]): void {
  for (let i = 0; i < argv.length; i++) {
    if (known.includes(argv[i])) i++;
    else throw new UserInputError(`unknown option '${argv[i]}'; see --help`);
  }
}

/** Serves until SIGINT/SIGTERM, then stops the server and closes the store. */
export function serveUntilStopped(server: RunningServer, store: GraphStore): Promise<number> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.stderr.write(`\ncircuit-atlas: ${signal}, stopping\n`);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      void server
        .close()
        .then(() => store.close())
        .then(() => resolve(0));
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
