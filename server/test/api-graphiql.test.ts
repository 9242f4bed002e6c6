/**
 * The GraphQL IDE works offline: /graphiql loads GraphiQL from the server alone (no CDN request),
 * in a real Chromium, and runs a query against the API.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { launchChromium, screenshot } from '../../test-support/browser.js';
import { startServer, type RunningServer } from '../src/app.js';
import { ModelCatalog } from '../src/models/catalog.js';
import type { GraphStore } from '../src/store/graph-store.js';
import { openStore } from '../src/store/open-store.js';

let dir: string;
let store: GraphStore;
let server: RunningServer;
let browser: Browser;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'atlas-graphiql-'));
  store = await openStore({ ATLAS_DB: join(dir, 'atlas.sqlite') });
  // An empty models folder: the IDE needs no model.
  server = await startServer({ store, catalog: new ModelCatalog(join(dir, 'models')) });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

it('loads GraphiQL with no request leaving the server and runs the example query', async () => {
  const page = await browser.newPage();
  const offServer: string[] = [];
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(server.url) || url.startsWith('data:')) return route.continue();
    offServer.push(url);
    return route.abort();
  });
  await page.goto(`${server.url}/graphiql`);
  await page.locator('.graphiql-container').waitFor({ timeout: 30_000 });
  await page.locator('.graphiql-execute-button').click();
  const result = page.locator('.result-window');
  await expect.poll(async () => result.innerText(), { timeout: 30_000 }).toContain('"total": 0');
  await screenshot(page, 'api-graphiql');
  expect(offServer).toEqual([]);
});
