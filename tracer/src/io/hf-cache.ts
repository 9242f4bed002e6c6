/**
 * Models and transcoders by Hugging Face repo id, from the local Hugging Face cache only — never
 * the network. The cache is the one `huggingface_hub` fills:
 *   $HF_HUB_CACHE (default $HF_HOME/hub, default ~/.cache/huggingface/hub)
 *     models--{org}--{name}/refs/{revision}          the commit hash a branch or tag points at
 *     models--{org}--{name}/snapshots/{commit}/...   the files (links into blobs/)
 * A missing repo, revision or file is a ModelFormatError naming it and the command that downloads it.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ModelFormatError } from '../errors.js';

/** The hub cache folder the environment points at, as huggingface_hub resolves it. */
export function hubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  if (env.HUGGINGFACE_HUB_CACHE) return env.HUGGINGFACE_HUB_CACHE;
  const home = env.HF_HOME ?? path.join(env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'huggingface');
  return path.join(home, 'hub');
}

const REPO_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*\/[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/**
 * A `--model` / `--transcoders` argument names a repo (`org/name`, optionally `@revision`) when it
 * has that shape and is not an existing local path (a local folder always wins).
 */
export function isRepoReference(arg: string): boolean {
  const [repo] = arg.split('@', 1);
  return REPO_ID.test(repo) && !existsSync(arg);
}

/** `org/name` or `org/name@revision` → repo id and revision (default main). */
function splitReference(reference: string): { repoId: string; revision: string } {
  const at = reference.indexOf('@');
  return at < 0
    ? { repoId: reference, revision: 'main' }
    : { repoId: reference.slice(0, at), revision: reference.slice(at + 1) || 'main' };
}

function downloadHint(repoId: string, file?: string, revision = 'main'): string {
  const rev = revision === 'main' ? '' : ` --revision ${revision}`;
  return `download it with \`huggingface-cli download ${repoId}${file ? ` ${file}` : ''}${rev}\` on a machine with network access and copy the cache folder here (or set HF_HOME / HF_HUB_CACHE)`;
}

/** The snapshot folder of a repo at a revision (branch, tag or commit hash), from the cache alone. */
export function resolveSnapshot(reference: string, env: NodeJS.ProcessEnv = process.env): string {
  const { repoId, revision } = splitReference(reference);
  if (!REPO_ID.test(repoId)) {
    throw new ModelFormatError(`'${repoId}' is not a Hugging Face repo id (org/name)`);
  }
  const cache = hubCacheDir(env);
  const repoDir = path.join(cache, `models--${repoId.replace('/', '--')}`);
  if (!existsSync(repoDir)) {
    throw new ModelFormatError(
      `${repoId} is not in the Hugging Face cache; ${downloadHint(repoId, undefined, revision)}`,
      repoDir,
    );
  }
  let commit = revision;
  const ref = path.join(repoDir, 'refs', revision);
  if (existsSync(ref) && statSync(ref).isFile()) commit = readFileSync(ref, 'utf8').trim();
  const snapshot = path.join(repoDir, 'snapshots', commit);
  if (!existsSync(snapshot)) {
    throw new ModelFormatError(
      `revision '${revision}' of ${repoId} is not in the Hugging Face cache; ${downloadHint(repoId, undefined, revision)}`,
      snapshot,
    );
  }
  return snapshot;
}

/** A file of a cached repo snapshot; missing (or a link to a blob that was never downloaded) is an error naming it. */
export function resolveRepoFile(reference: string, file: string, env: NodeJS.ProcessEnv = process.env): string {
  const snapshot = resolveSnapshot(reference, env);
  const local = path.join(snapshot, file);
  if (!existsSync(local)) {
    const { repoId, revision } = splitReference(reference);
    throw new ModelFormatError(
      `${repoId} has no '${file}' in the Hugging Face cache; ${downloadHint(repoId, file, revision)}`,
      local,
    );
  }
  return local;
}

/** `hf://org/name/path/in/repo[?revision=rev]` → repo, file and revision (circuit-tracer's transcoder URIs). */
export function parseHfUri(uri: string): { repoId: string; file: string; revision: string } {
  const match = /^hf:\/\/([^/?]+\/[^/?]+)\/([^?]+)(?:\?(.*))?$/.exec(uri);
  if (!match || !REPO_ID.test(match[1])) {
    throw new ModelFormatError(`'${uri}' is not an hf:// URI of a file (hf://org/name/path/to/file)`);
  }
  const revision = new URLSearchParams(match[3] ?? '').get('revision') || 'main';
  return { repoId: match[1], file: decodeURIComponent(match[2]), revision };
}

/** The cached local path of an `hf://` URI. */
export function resolveHfUri(uri: string, env: NodeJS.ProcessEnv = process.env): string {
  const { repoId, file, revision } = parseHfUri(uri);
  return resolveRepoFile(`${repoId}@${revision}`, file, env);
}

/**
 * A `--model` or `--transcoders` argument as a local folder: a repo reference resolves to its
 * cached snapshot (`org/name` or `org/name@revision`, optionally followed by `//sub/folder`, as
 * circuit-tracer writes repo sub-folders); anything else is taken as a path.
 */
export function resolveModelArgument(arg: string, env: NodeJS.ProcessEnv = process.env): string {
  const [reference, subfolder] = arg.split('//', 2);
  if (!isRepoReference(reference)) return arg;
  const snapshot = resolveSnapshot(reference, env);
  if (!subfolder) return snapshot;
  const local = path.join(snapshot, subfolder);
  if (!existsSync(local)) {
    const { repoId, revision } = splitReference(reference);
    throw new ModelFormatError(
      `${repoId} has no folder '${subfolder}' in the Hugging Face cache; ${downloadHint(repoId, `--include '${subfolder}/*'`, revision)}`,
      local,
    );
  }
  return local;
}
