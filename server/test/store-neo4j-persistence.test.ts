/**
 * The development Neo4j of tools/neo4j keeps its data: a graph saved before a clean stop is there
 * after a start on the same data directory, the directory holds a real Neo4j home (no random
 * per-start subfolder), and a second Neo4j on a folder in use is refused with a clear message.
 * Also: the store works through a routing `neo4j://` URI, reads running as read transactions.
 * This file starts its own instances (not the suite's shared one) on a fixed temp folder.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNeo4j, type RunningNeo4j } from '../../tools/neo4j/launcher.js';
import { Neo4jStore } from '../src/store/neo4j/neo4j-store.js';
import { randomGraph } from '../../test-support/graph-generator.js';

const tempDir = mkdtempSync(join(tmpdir(), 'atlas-neo4j-persist-'));
const running: RunningNeo4j[] = [];
afterAll(async () => {
  for (const instance of running) await instance.stop();
  rmSync(tempDir, { recursive: true, force: true });
});

// Starting a JVM twice on a busy two-core machine: the limit guards against a hang, not a pace.
const START_LIMIT_MS = 600_000;
// These JVMs live seconds: the quick JIT tier alone starts them sooner (the suite's Neo4j keeps both).
process.env.JAVA_TOOL_OPTIONS = [process.env.JAVA_TOOL_OPTIONS, '-XX:TieredStopAtLevel=1'].filter(Boolean).join(' ');

async function start(dataDir: string): Promise<RunningNeo4j> {
  const instance = await startNeo4j({ dataDir, timeoutMs: START_LIMIT_MS });
  running.push(instance);
  return instance;
}

async function stop(instance: RunningNeo4j): Promise<void> {
  await instance.stop();
  running.splice(running.indexOf(instance), 1);
}

describe('the development Neo4j', () => {
  it(
    'keeps a saved graph across a stop and a start on the same data directory',
    { timeout: 3 * START_LIMIT_MS },
    async () => {
      const dataDir = join(tempDir, 'neo4j');
      const graph = randomGraph({ id: 'persisted', seed: 21, nodes: 300, edges: 2000 });

      const first = await start(dataDir);
      const store = new Neo4jStore({ uri: first.uri });
      await store.init();
      await store.saveGraph(graph);
      await store.close();

      // A second Neo4j on the same folder would corrupt it: it is refused and says why.
      const refused = await startNeo4j({ dataDir, timeoutMs: START_LIMIT_MS }).then(
        (instance) => {
          running.push(instance);
          return null;
        },
        (error: Error) => error,
      );
      expect(refused?.message).toMatch(/is another Neo4j using it\? Stop it or pass another --data folder/);
      await stop(first);

      // The folder is the Neo4j home itself: its databases and logs, no per-start random subfolder.
      expect(readdirSync(dataDir).sort()).toEqual(['data', 'logs']);
      expect(readdirSync(join(dataDir, 'data', 'databases'))).toContain('neo4j');

      const second = await start(dataDir);
      // Through a routing URI: the driver asks for a routing table and sends reads to a reader.
      const routed = new Neo4jStore({ uri: second.uri.replace(/^bolt:/, 'neo4j:') });
      await routed.init();
      try {
        expect(await routed.getGraph(graph.id)).toEqual(graph);
        expect((await routed.listGraphs()).items.map((g) => g.id)).toEqual([graph.id]);
        const more = randomGraph({ id: 'after-restart', seed: 22, nodes: 100, edges: 500 });
        await routed.saveGraph(more);
        expect((await routed.getGraph(more.id))?.edges.length).toBe(more.edges.length);
      } finally {
        await routed.close();
      }
      await stop(second);
    },
  );
});
