/**
 * `circuit-atlas collection` on a real SQLite file: the four questions answer in text and JSON, and
 * the JSON equals the library's answer; wrong questions and options say what to write instead.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { randomGraph } from '../../test-support/graph-generator.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { collectionQueriesOf, commonCircuit, graphsUsingFeature } from '../src/analysis/collection.js';

const exec = promisify(execFile);
const REPO = resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'atlas-collection-cli-'));
const db = join(dir, 'atlas.sqlite');
const model = 'cli-world';

function cli(args: string[]) {
  return exec(process.execPath, [join(REPO, 'bin/circuit-atlas.js'), 'collection', ...args], {
    cwd: REPO,
    env: { ...process.env, ATLAS_DB: db, NEO4J_URI: '' },
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({
      code: error.code,
      stdout: error.stdout,
      stderr: error.stderr,
    }),
  );
}

beforeAll(async () => {
  const store = new SqliteStore(db);
  await store.init();
  for (let i = 0; i < 6; i++)
    await store.saveGraph(
      randomGraph({
        id: `cli-${i}`,
        seed: 7 + i,
        nodes: 80,
        edges: 400,
        featurePool: 10,
        nLayers: 4,
        nPos: 6,
        model,
        transcoderSet: `${model}/plt`,
        prompt: `prompt ${i}`,
      }),
    );
  await store.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('circuit-atlas collection', () => {
  it('prints the common circuit, as text and as the library answer in JSON', async () => {
    const text = await cli(['common', '--model', model, '--min-share', '0.5']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(
      /^common circuit of 6 graphs \(model cli-world, cli-world\/plt\), in at least 50% of them: \d+ features, \d+ edges/,
    );
    const json = await cli(['common', '--model', model, '--min-share', '0.5', '--json']);
    const store = new SqliteStore(db);
    await store.init();
    const queries = collectionQueriesOf(store);
    try {
      expect(JSON.parse(json.stdout)).toEqual(
        JSON.parse(JSON.stringify(await commonCircuit(queries, { model }, { minShare: 0.5 }))),
      );
      const top = JSON.parse(json.stdout).features[0];
      const uses = await cli(['feature', `${top.layer}:${top.index}`, '--model', model, '--json']);
      expect(JSON.parse(uses.stdout)).toEqual(
        JSON.parse(
          JSON.stringify(await graphsUsingFeature(queries, { model }, { layer: top.layer, index: top.index })),
        ),
      );
      expect(JSON.parse(uses.stdout).total).toBe(top.graphCount);
    } finally {
      await queries.close();
      await store.close();
    }
  });

  it('prints clusters and path uses', async () => {
    const clusters = await cli(['clusters', '--model', model, '--min-similarity', '0.9']);
    expect(clusters.stdout).toMatch(/^\d+ clusters of 6 graphs \(similarity ≥ 0\.9\)/);
    const path = await cli(['path', '0:1', 'logit:Dallas', '--model', model, '--max-hops', '3']);
    expect(path.code, path.stderr).toBe(0);
    expect(path.stdout).toMatch(/^path 0:1 → logit:Dallas \(≤ 3 edges\) is in \d+ graph\(s\)/);
  });

  it('says what to ask when the question or an option is wrong', async () => {
    expect((await cli(['why', '--model', model])).stderr).toMatch(
      /ask one of: common, clusters, feature <layer:index>, path <from> <to>/,
    );
    expect((await cli(['common'])).stderr).toMatch(/--model <id> is required/);
    expect((await cli(['common', '--model', 'nothing'])).stderr).toMatch(/no stored graphs of model 'nothing'/);
    expect((await cli(['feature', '3', '--model', model])).stderr).toMatch(
      /the feature '3' is not a feature 'layer:index'/,
    );
    expect((await cli(['path', '0:1', '1:2', '--model', model, '--max-hops', '5'])).stderr).toMatch(
      /maxHops must be 1, 2 or 3/,
    );
    expect((await cli(['common', '--model', model, '--graphs', 'cli-0,missing'])).stderr).toMatch(
      /no stored graph with id 'missing'/,
    );
  });
});
