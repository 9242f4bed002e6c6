/**
 * `circuit-atlas import` and `circuit-atlas export`, run as the real command (bin/circuit-atlas.js)
 * on real circuit-tracer graph JSON fixtures, against a real SQLite file and the real Neo4j.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { neo4jUri } from '../../test-support/neo4j.js';
import { fromGraphJson, validateGraphJson } from '@circuit-atlas/tracer';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { Neo4jStore } from '../src/store/neo4j/neo4j-store.js';
import { expectSameAnswer } from './store-answers.js';

const run = promisify(execFile);
const FIXTURES = 'tracer/test/fixtures/reference';
const FIXTURE = `${FIXTURES}/llama-tiny/dallas-state.graph.json`;
const tempDir = mkdtempSync(join(tmpdir(), 'atlas-cli-import-'));
const DB = join(tempDir, 'cli.sqlite');
const RUN = `cli${Date.now().toString(36)}`;

interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function atlas(args: string[], env: Record<string, string> = { ATLAS_DB: DB }): Promise<CommandResult> {
  const { NEO4J_URI: _ignored, ...base } = process.env;
  try {
    const { stdout, stderr } = await run(process.execPath, ['bin/circuit-atlas.js', ...args], {
      env: { ...base, ...env },
      maxBuffer: 64 * 2 ** 20,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function storedIds(): Promise<string[]> {
  const store = new SqliteStore(DB);
  await store.init();
  try {
    return (await store.listGraphs({ limit: 1000, sortBy: 'prompt' })).items.map((g) => g.id).sort();
  } finally {
    await store.close();
  }
}

beforeAll(async () => {
  const imported = await atlas(['import', FIXTURE]);
  expect(imported.stderr).toBe('');
  expect(imported.code).toBe(0);
});

afterAll(() => rmSync(tempDir, { recursive: true, force: true }));

describe('circuit-atlas import', () => {
  it('stores a circuit-tracer graph JSON under its slug and says what it stored', async () => {
    const again = await atlas(['import', `${FIXTURES}/gpt2-tiny/counting.graph.json`]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^imported 'counting' \(\d+ nodes, \d+ edges, model .+\) into SQLite at /);
    const store = new SqliteStore(DB);
    await store.init();
    try {
      const json = JSON.parse(readFileSync(FIXTURE, 'utf8'));
      const stored = (await store.getGraph('dallas-state'))!;
      expectSameAnswer(stored, fromGraphJson(json, { createdAt: stored.createdAt }));
      expect(stored.nodes.length).toBe(json.nodes.length);
      expect(stored.edges.length).toBe(json.links.length);
    } finally {
      await store.close();
    }
  });

  it('stores under another id with --id, and refuses an id that is taken', async () => {
    expect((await atlas(['import', FIXTURE, '--id', `${RUN}-copy`])).code).toBe(0);
    const duplicate = await atlas(['import', FIXTURE]);
    expect(duplicate.code).toBe(1);
    expect(duplicate.stderr).toMatch(/circuit-atlas: a graph with id 'dallas-state' is already stored/);
    expect((await storedIds()).filter((id) => id === 'dallas-state')).toHaveLength(1);
  });

  it('refuses malformed JSON, schema-invalid JSON and a missing file, storing nothing', async () => {
    const before = await storedIds();
    const truncated = join(tempDir, 'truncated.json');
    writeFileSync(truncated, readFileSync(FIXTURE, 'utf8').slice(0, 5000));
    const malformed = await atlas(['import', truncated, '--id', `${RUN}-bad1`]);
    expect(malformed.code).toBe(1);
    expect(malformed.stderr).toMatch(/truncated\.json is not valid JSON/);

    const json = JSON.parse(readFileSync(FIXTURE, 'utf8'));
    delete json.nodes[3].ctx_idx;
    json.links[0].weight = 'strong';
    const invalidFile = join(tempDir, 'invalid.json');
    writeFileSync(invalidFile, JSON.stringify(json));
    const invalid = await atlas(['import', invalidFile, '--id', `${RUN}-bad2`]);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(/does not match the circuit-tracer graph format/);
    expect(invalid.stderr).toMatch(/nodes\/3/);

    const dangling = JSON.parse(readFileSync(FIXTURE, 'utf8'));
    dangling.links.push({ source: dangling.nodes[0].node_id, target: 'no_such_node', weight: 1 });
    const danglingFile = join(tempDir, 'dangling.json');
    writeFileSync(danglingFile, JSON.stringify(dangling));
    const refused = await atlas(['import', danglingFile, '--id', `${RUN}-bad3`]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/no_such_node/);

    const missing = await atlas(['import', join(tempDir, 'nope.json')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/cannot read .*nope\.json: ENOENT/);
    const noFile = await atlas(['import']);
    expect(noFile.stderr).toMatch(/name the graph JSON to import/);
    expect(await storedIds()).toEqual(before);
  });
});

describe('circuit-atlas export', () => {
  it('writes JSON that validates and reads back to the stored graph', async () => {
    const out = join(tempDir, 'exported.json');
    const result = await atlas(['export', 'dallas-state', '--format', 'json', '--out', out]);
    expect(result.code).toBe(0);
    const exported = JSON.parse(readFileSync(out, 'utf8'));
    validateGraphJson(exported);
    const store = new SqliteStore(DB);
    await store.init();
    try {
      expectSameAnswer(fromGraphJson(exported), await store.getGraph('dallas-state'));
    } finally {
      await store.close();
    }
    const toStdout = await atlas(['export', 'dallas-state']);
    expect(JSON.parse(toStdout.stdout)).toEqual(exported);
  });

  it('exports pruned to thresholds', async () => {
    const result = await atlas(['export', 'dallas-state', '--node-threshold', '0.5', '--edge-threshold=0.9']);
    const pruned = fromGraphJson(JSON.parse(result.stdout));
    const full = JSON.parse(readFileSync(FIXTURE, 'utf8'));
    expect(pruned.nodes.length).toBeLessThan(full.nodes.length);
    expect(
      pruned.nodes.every(
        (n) => n.kind === 'embedding' || n.kind === 'logit' || n.influence === null || n.influence <= 0.5,
      ),
    ).toBe(true);
  });

  it('draws SVG and PNG figures', async () => {
    const svg = await atlas(['export', 'dallas-state', '--format', 'svg']);
    expect(svg.code).toBe(0);
    expect(svg.stdout).toMatch(/<svg[\s\S]*<\/svg>/);
    expect(svg.stdout).toContain('Dallas');
    const png = join(tempDir, 'figure.png');
    const result = await atlas(['export', 'dallas-state', '--format', 'png', '--out', png]);
    expect(result.code).toBe(0);
    expect(readFileSync(png).subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  });

  it('exports a saved view: its pruning values, and its pinned nodes and supernodes in figures', async () => {
    const store = new SqliteStore(DB);
    await store.init();
    let viewId: string;
    let pinned: string[];
    try {
      const graph = (await store.getGraph('dallas-state', { nodeThreshold: 0.6 }))!;
      pinned = graph.nodes
        .filter((n) => n.kind === 'feature')
        .slice(0, 3)
        .map((n) => n.nodeId);
      const view = await store.saveView({
        graphId: 'dallas-state',
        name: 'first features',
        pinnedIds: pinned,
        supernodes: [{ name: 'early', nodeIds: pinned.slice(0, 2) }],
        nodeThreshold: 0.6,
        edgeThreshold: null,
      });
      viewId = view.id;
    } finally {
      await store.close();
    }
    const json = await atlas(['export', 'dallas-state', '--view', viewId]);
    expect(json.code).toBe(0);
    const exported = fromGraphJson(JSON.parse(json.stdout));
    expect(exported.nodes.every((n) => n.kind !== 'feature' || n.influence === null || n.influence <= 0.6)).toBe(true);
    const svg = await atlas(['export', 'dallas-state', '--view', viewId, '--format', 'svg']);
    expect(svg.code).toBe(0);
    expect(svg.stdout).toMatch(/<svg[\s\S]*early[\s\S]*<\/svg>/);
    const unknown = await atlas(['export', 'dallas-state', '--view', 'no-such-view']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/graph 'dallas-state' has no saved view 'no-such-view'/);
  });

  it('says what to fix for an unknown graph, an unknown format and a PNG without --out', async () => {
    const unknown = await atlas(['export', 'no-such-graph']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no graph with id 'no-such-graph'/);
    expect((await atlas(['export', 'dallas-state', '--format', 'pdf'])).stderr).toMatch(
      /--format must be json, svg or png \(got 'pdf'\)/,
    );
    expect((await atlas(['export', 'dallas-state', '--format', 'png'])).stderr).toMatch(/PNG export needs --out FILE/);
    expect((await atlas(['export', 'dallas-state', '--node-threshold', '2'])).stderr).toMatch(
      /--node-threshold must be a number from 0 to 1/,
    );
  });
});

describe('import and export on Neo4j (NEO4J_URI set)', () => {
  it('round-trips a graph JSON through the real Neo4j', async () => {
    const id = `${RUN}-neo4j`;
    const env = { NEO4J_URI: neo4jUri() };
    const imported = await atlas(['import', `${FIXTURES}/qwen3-tiny/capital-of-texas.graph.json`, '--id', id], env);
    expect(imported.code).toBe(0);
    expect(imported.stdout).toMatch(/into Neo4j at bolt:/);
    const exported = await atlas(['export', id], env);
    expect(exported.code).toBe(0);
    const store = new Neo4jStore({ uri: neo4jUri() });
    await store.init();
    try {
      expectSameAnswer(fromGraphJson(JSON.parse(exported.stdout)), await store.getGraph(id));
      expect(await store.deleteGraph(id)).toBe(true);
    } finally {
      await store.close();
    }
  });
});
