// Starts the local Neo4j of tools/neo4j (embedded, its home in `dataDir`, kept across restarts) as a
// child process and resolves once Bolt is ready. Used by `npm run neo4j` and by the test suite's
// global setup; its freePort serves the queue tests and benchmark too (one copy, in plain JavaScript).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const moduleDir = dirname(fileURLToPath(import.meta.url));

// JVM flags upstream neo4j.conf passes on Java 17 (Netty and the page cache need these opens).
const JVM_FLAGS = [
  '-Xms256m',
  '-Xmx1g',
  '--add-opens=java.base/java.nio=ALL-UNNAMED',
  '--add-opens=java.base/java.io=ALL-UNNAMED',
  '--add-opens=java.base/sun.nio.ch=ALL-UNNAMED',
  '--add-opens=java.base/java.lang=ALL-UNNAMED',
  '-Dio.netty.tryReflectionSetAccessible=true',
];

const SOURCE = join(moduleDir, 'src', 'main', 'java', 'dev', 'circuitatlas', 'neo4j', 'LocalNeo4j.java');
const COMPILED = join(moduleDir, 'target', 'classes', 'dev', 'circuitatlas', 'neo4j', 'LocalNeo4j.class');

/** Builds the Maven module if its classes or runtime classpath are missing, or older than the source. */
export function ensureBuilt() {
  const lib = join(moduleDir, 'target', 'lib');
  const fresh = existsSync(COMPILED) && existsSync(lib) && statSync(COMPILED).mtimeMs >= statSync(SOURCE).mtimeMs;
  if (fresh) return;
  const result = spawnSync('mvn', ['-q', '-B', '-f', join(moduleDir, 'pom.xml'), 'package', '-DskipTests'], {
    stdio: 'inherit',
  });
  if (result.error)
    throw new Error(`could not run Maven to build tools/neo4j (${result.error.message}); install Maven and Java 17`);
  if (result.status !== 0) throw new Error(`building tools/neo4j with Maven failed (exit ${result.status})`);
}

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

/**
 * Starts Neo4j. Resolves to { uri, stop } once it prints its ready line; rejects with the JVM's
 * output if it exits first or is not ready within `timeoutMs`.
 */
export async function startNeo4j({ port, dataDir, timeoutMs = 180_000, log = () => {} } = {}) {
  ensureBuilt();
  const boltPort = port ?? (await freePort());
  const data = resolve(dataDir ?? join(process.cwd(), 'data', 'neo4j'));
  mkdirSync(data, { recursive: true });
  const classpath = [join(moduleDir, 'target', 'classes'), join(moduleDir, 'target', 'lib', '*')].join(':');
  const child = spawn(
    'java',
    [...JVM_FLAGS, '-cp', classpath, 'dev.circuitatlas.neo4j.LocalNeo4j', '--port', String(boltPort), '--data', data],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let output = '';
  const uri = await new Promise((resolveUri, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`Neo4j was not ready after ${timeoutMs / 1000} s:\n${output.slice(-4000)}`));
    }, timeoutMs);
    const onData = (chunk) => {
      const text = chunk.toString();
      output += text;
      log(text);
      const match = /NEO4J_READY (\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolveUri(match[1]);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`could not start java for Neo4j (${error.message}); install Java 17`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Neo4j exited with code ${code} before it was ready:\n${output.slice(-4000)}`));
    });
  });
  const stop = () =>
    new Promise((resolveStop) => {
      if (child.exitCode !== null) return resolveStop();
      const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.once('exit', () => {
        clearTimeout(killer);
        resolveStop();
      });
      child.stdin.end();
    });
  return { uri, port: boltPort, stop, process: child };
}
