/**
 * The viewer the global setup built once for this run, for the browser tests: each file gets its own
 * copy (files run in parallel and remove their folder), instead of a Vite build per file.
 */
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';

/** A fresh folder holding the built viewer; the caller removes it. */
export function builtViewer(): string {
  const outDir = mkdtempSync(join(tmpdir(), 'atlas-viewer-'));
  cpSync(inject('viewerDir'), outDir, { recursive: true });
  return outDir;
}
