/**
 * Starts what the tests need, once per run: the real Neo4j of tools/neo4j (unless NEO4J_URI is
 * set), and checks that Debian's Chromium is there. Neither is ever skipped: a missing Neo4j or
 * Chromium fails the run with a message that says how to install it.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { ensureViewerBuilt } from '@circuit-atlas/server';
import { startNeo4j } from '../tools/neo4j/launcher.js';
import { CHROMIUM_PATH } from './browser.js';

declare module 'vitest' {
  export interface ProvidedContext {
    neo4jUri: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`Chromium not found at ${CHROMIUM_PATH}: install Debian's package (apt-get install -y chromium)`);
  }
  await ensureViewerBuilt((line) => console.log(line)); // browser tests load the built viewer
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
