/**
 * Starts what the tests need, once per run: the real Neo4j of tools/neo4j (unless NEO4J_URI is
 * set), and checks that Debian's Chromium is there. Neither is ever skipped: a missing Neo4j or
 * Chromium fails the run with a message that says how to install it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startNeo4j } from '../tools/neo4j/launcher.js';
import { CHROMIUM_PATH } from './browser.js';

declare module 'vitest' {
  export interface ProvidedContext {
    neo4jUri: string;
  }
}

/** Newest modification time of any file under `dir` (0 when it does not exist). */
function newestMtime(dir: string): number {
  if (!existsSync(dir)) return 0;
  if (statSync(dir).isFile()) return statSync(dir).mtimeMs; // a single file (client/index.html)
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

/** Browser tests load the built viewer: build it when it is missing or older than its sources. */
function ensureClientBuilt(): void {
  const built = join('client', 'dist', 'index.html');
  const sourcesChanged =
    !existsSync(built) ||
    Math.max(newestMtime(join('client', 'src')), newestMtime(join('client', 'index.html'))) > statSync(built).mtimeMs;
  if (!sourcesChanged) return;
  const result = spawnSync('npx', ['vite', 'build', '--config', 'client/vite.config.ts', '--logLevel', 'warn'], {
    stdio: 'inherit',
  });
  if (result.status !== 0) throw new Error('building the viewer (vite build) failed; see the output above');
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`Chromium not found at ${CHROMIUM_PATH}: install Debian's package (apt-get install -y chromium)`);
  }
  if (existsSync(join('client', 'vite.config.ts'))) ensureClientBuilt();
  if (process.env.NEO4J_URI) {
    project.provide('neo4jUri', process.env.NEO4J_URI);
    return async () => {};
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'atlas-neo4j-'));
  const neo4j = await startNeo4j({ dataDir }).catch((error: Error) => {
    throw new Error(`the test suite needs a real Neo4j and could not start tools/neo4j: ${error.message}`);
  });
  project.provide('neo4jUri', neo4j.uri);
  return async () => {
    await neo4j.stop();
    rmSync(dataDir, { recursive: true, force: true });
  };
}
