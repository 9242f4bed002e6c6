/**
 * Drives store-writer-process.ts from a test, by its output lines and exit, never by the clock.
 * Not a test file itself (no `.test.ts`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export interface WriterProcess {
  child: ChildProcess;
  output(): string;
  /** Resolves once the writer has printed `word`; rejects if it exits first. */
  said(word: 'SAVING' | 'PAUSED' | 'SAVED'): Promise<void>;
  /** Lets a paused writer go on. */
  resume(): void;
  /** Resolves with the exit code and signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts store-writer-process.ts with `args` (see its header). */
export function startWriter(args: string[]): WriterProcess {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(import.meta.dirname, 'store-writer-process.ts'), ...args],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  let output = '';
  const listeners = new Set<() => void>();
  const onOutput = (chunk: Buffer) => {
    output += chunk.toString();
    for (const listener of listeners) listener();
  };
  child.stdout!.on('data', onOutput);
  child.stderr!.on('data', onOutput);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const said = (word: string) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!output.includes(word)) return false;
        listeners.delete(check);
        resolve();
        return true;
      };
      if (check()) return;
      listeners.add(check);
      void exited.then(({ code, signal }) => {
        if (check()) return;
        listeners.delete(check);
        reject(new Error(`the writer exited (code ${code}, signal ${signal}) before saying ${word}:\n${output}`));
      });
    });
  return {
    child,
    output: () => output,
    said,
    resume: () => child.stdin!.end('\n'),
    exited,
  };
}

/** SIGKILLs the writer and resolves with the signal it died of. */
export async function killWriter(writer: WriterProcess): Promise<NodeJS.Signals | null> {
  writer.child.kill('SIGKILL');
  return (await writer.exited).signal;
}
