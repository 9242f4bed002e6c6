/**
 * docker-compose.yml runs the distributed queue: a persistent Redis, healthy before the server and
 * the workers start; the server and the workers share it (ATLAS_QUEUE) and the Neo4j store; the
 * worker service runs `circuit-atlas worker` on the demo model, as many as ATLAS_WORKERS asks.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

function composeConfig(env: NodeJS.ProcessEnv) {
  const [command, ...prefix] =
    spawnSync('docker', ['compose', 'version']).status === 0 ? ['docker', 'compose'] : ['docker-compose'];
  const result = spawnSync(command, [...prefix, '-f', 'docker-compose.yml', 'config'], {
    env: { ...process.env, NEO4J_PASSWORD: 'compose-check', ...env },
    encoding: 'utf8',
  });
  expect(result.status, result.stderr).toBe(0);
  return parse(result.stdout);
}

describe('docker-compose.yml for batch tracing', () => {
  it('has a persistent Redis that the server and the workers share with Neo4j', () => {
    const config = composeConfig({ ATLAS_WORKERS: '3' });
    const { redis, atlas, worker } = config.services;
    expect(redis.command.join(' ')).toContain('--appendonly yes');
    expect(redis.healthcheck.test.join(' ')).toContain('redis-cli ping');
    expect(JSON.stringify(redis.ports)).toContain('127.0.0.1');
    for (const service of [atlas, worker]) {
      expect(service.environment.ATLAS_QUEUE).toBe('redis://redis:6379');
      expect(service.environment.NEO4J_URI).toBe('bolt://neo4j:7687');
      expect(service.depends_on.redis.condition).toBe('service_healthy');
      expect(service.depends_on.neo4j.condition).toBe('service_healthy');
    }
    expect(worker.command.join(' ')).toBe('node bin/circuit-atlas.js worker --model models/atlas-world');
    expect(Number(worker.deploy.replicas)).toBe(3);
  });
});
