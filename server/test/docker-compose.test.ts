import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

/** `docker compose` (the plugin) where it exists, else the standalone `docker-compose`. */
function composeCommand(): string[] {
  if (spawnSync('docker', ['compose', 'version']).status === 0) return ['docker', 'compose'];
  if (spawnSync('docker-compose', ['version']).status === 0) return ['docker-compose'];
  throw new Error("no docker compose client found: install the compose plugin or Debian's docker-compose");
}

describe('docker-compose.yml', () => {
  it('is valid compose: Neo4j 5.26 healthy before the atlas server starts', () => {
    const [command, ...prefix] = composeCommand();
    const result = spawnSync(command, [...prefix, '-f', 'docker-compose.yml', 'config'], {
      env: { ...process.env, NEO4J_PASSWORD: 'compose-check', PORT: '4100' },
      encoding: 'utf8',
    });
    expect(result.stderr).not.toMatch(/error/i);
    expect(result.status).toBe(0);
    const config = parse(result.stdout);
    expect(config.services.neo4j.image).toBe('neo4j:5.26-community');
    expect(config.services.neo4j.healthcheck.test.join(' ')).toContain('cypher-shell');
    expect(config.services.atlas.depends_on.neo4j.condition).toBe('service_healthy');
    expect(config.services.atlas.environment.NEO4J_URI).toBe('bolt://neo4j:7687');
    expect(JSON.stringify(config.services.atlas.ports)).toContain('4100');
  });

  it('refuses to start without a Neo4j password', () => {
    const [command, ...prefix] = composeCommand();
    const env = { ...process.env };
    delete env.NEO4J_PASSWORD;
    const result = spawnSync(command, [...prefix, '-f', 'docker-compose.yml', 'config'], { env, encoding: 'utf8' });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('NEO4J_PASSWORD');
  });
});
