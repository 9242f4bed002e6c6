/**
 * Starts what the tests need, once per run: the real Neo4j of tools/neo4j (unless NEO4J_URI is
 * set) while the viewer is built (client/dist, as `serve` builds it) and copied into a folder of this
 * run that the browser tests serve; and checks that Debian's Chromium is there. Neither is ever
 * skipped: a missing Neo4j or Chromium fails the run with a message that says how to install it.
 */
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { ensureViewerBuilt } from '@circuit-atlas/server';
import { startNeo4j } from '../tools/neo4j/launcher.js';
import { CHROMIUM_PATH } from './browser.js';

/** Where `ensureViewerBuilt` writes the viewer. */
const VIEWER_DIST = fileURLToPath(new URL('../client/dist', import.meta.url));

declare module 'vitest' {
  export interface ProvidedContext {
    neo4jUri: string;
    /** The built viewer of this run (a copy of client/dist that nothing rebuilds while tests run). */
    viewerDir: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`Chromium not found at ${CHROMIUM_PATH}: install Debian's package (apt-get install -y chromium)`);
  }
  const viewerDir = mkdtempSync(join(tmpdir(), 'atlas-viewer-run-'));
  const dataDir = process.env.NEO4J_URI ? null : mkdtempSync(join(tmpdir(), 'atlas-neo4j-'));
  // The JVM starts while Vite builds: the two overlap instead of queueing.
  const [neo4j] = await Promise.all([
    dataDir
      ? startNeo4j({ dataDir }).catch((error: Error) => {
          throw new Error(`the test suite needs a real Neo4j and could not start tools/neo4j: ${error.message}`);
        })
      : null,
    ensureViewerBuilt((line) => console.log(line)).then(() => {
      if (!existsSync(join(VIEWER_DIST, 'index.html')))
        throw new Error(`the viewer was not built into ${VIEWER_DIST}: run 'npm run build' and see its errors`);
      cpSync(VIEWER_DIST, viewerDir, { recursive: true });
    }),
  ]);
  project.provide('viewerDir', viewerDir);
  project.provide('neo4jUri', neo4j?.uri ?? process.env.NEO4J_URI!);
  return async () => {
    await neo4j?.stop();
    rmSync(viewerDir, { recursive: true, force: true });
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  };
}
