// Types of launcher.js (plain JavaScript so that `npm run neo4j` needs no TypeScript).
import type { ChildProcess } from 'node:child_process';

export interface StartNeo4jOptions {
  port?: number;
  dataDir?: string;
  timeoutMs?: number;
  log?: (text: string) => void;
}

export interface RunningNeo4j {
  /** Bolt URI, e.g. bolt://127.0.0.1:7687 */
  uri: string;
  port: number;
  stop(): Promise<void>;
  process: ChildProcess;
}

export function ensureBuilt(): void;
export function freePort(): Promise<number>;
export function startNeo4j(options?: StartNeo4jOptions): Promise<RunningNeo4j>;
