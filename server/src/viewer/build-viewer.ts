/**
 * The viewer is built on demand, so a user needs no build step: `serve` and `demo` call
 * `ensureViewerBuilt` and Vite builds client/ into client/dist when the build is missing or older than
 * its sources (the viewer's own and the packages it imports). A build takes ~10 s on two cores.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const VIEWER_DIST = join(REPO_ROOT, 'client', 'dist');

/** Sources the built viewer depends on: the client and the packages it may import. */
const VIEWER_SOURCES = ['client/src', 'client/index.html', 'figure/src', 'schema/src'].map((p) => join(REPO_ROOT, p));

/** Newest modification time of a file or of any file under a folder (0 when it does not exist). */
function newestMtime(path: string): number {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (stat.isFile()) return stat.mtimeMs;
  let newest = 0;
  for (const entry of readdirSync(path, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

/** True when client/dist is missing or older than any of its sources. */
export function viewerBuildIsStale(): boolean {
  const index = join(VIEWER_DIST, 'index.html');
  if (!existsSync(index)) return true;
  const built = statSync(index).mtimeMs;
  return VIEWER_SOURCES.some((source) => newestMtime(source) > built);
}

/** Builds the viewer when it is missing or stale; says so on `log` first. Returns whether it built. */
export async function ensureViewerBuilt(log: (line: string) => void = () => {}): Promise<boolean> {
  if (!viewerBuildIsStale()) return false;
  if (!existsSync(join(REPO_ROOT, 'client', 'vite.config.ts'))) return false; // an install without the viewer's sources
  log('building the viewer (client/dist is missing or older than its sources; once, ~10 s)…');
  const { build } = await import('vite');
  await build({ configFile: join(REPO_ROOT, 'client', 'vite.config.ts'), logLevel: 'warn' });
  return true;
}
