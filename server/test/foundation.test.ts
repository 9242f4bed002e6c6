import { describe, expect, it } from 'vitest';
import neo4j from 'neo4j-driver';
import { neo4jUri } from '../../test-support/neo4j.js';
import { launchChromium, screenshot } from '../../test-support/browser.js';
import { existsSync, statSync } from 'node:fs';

describe('the test environment', () => {
  it('reaches the real Neo4j over Bolt and round-trips an integer', async () => {
    const driver = neo4j.driver(neo4jUri());
    try {
      const result = await driver.executeQuery('RETURN $n + 1 AS m, $s AS s', { n: neo4j.int(41), s: 'atlas' });
      expect(result.records[0].get('m').toNumber()).toBe(42);
      expect(result.records[0].get('s')).toBe('atlas');
    } finally {
      await driver.close();
    }
  });

  it('drives Debian Chromium through playwright-core and takes a screenshot', async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.setContent('<h1 id="t">circuit-atlas</h1>');
      expect(await page.textContent('#t')).toBe('circuit-atlas');
      const path = await screenshot(page, 'foundation-chromium');
      expect(existsSync(path) && statSync(path).size).toBeGreaterThan(500);
    } finally {
      await browser.close();
    }
  });
});
