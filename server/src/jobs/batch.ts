/**
 * Batch tracing: many prompts traced by workers that load their model once. A batch is a list of
 * prompts; each prompt becomes one job whose id is the id of the graph it stores, derived from the
 * model, prompt, target and settings when the line gives none, so re-running a batch finds the
 * jobs and graphs it already made and stores no duplicates.
 */
import { createHash } from 'node:crypto';
import {
  graphIdProblem,
  isGraphId,
  resolveTraceSettings,
  UserInputError,
  type TraceSettings,
} from '@circuit-atlas/schema';

/** One line of a prompts file: `{"prompt": "...", "id"?: "...", "target"?: " Austin", "settings"?: {...}}`. */
export interface BatchPrompt {
  /** The graph id this prompt's graph is stored under. */
  graphId: string;
  prompt: string;
  /** A token that must be among the traced graph's logit targets; the job fails clearly otherwise. */
  target: string | null;
  settings: TraceSettings;
}

export interface BatchSpec {
  id: string;
  /** The model's id: the name of its folder (what workers started with `--model <dir>` serve). */
  model: string;
  prompts: BatchPrompt[];
  /** Tries per prompt before it is reported failed (a worker killed mid-job does not use one up). */
  attempts: number;
}

/** What a worker gets for one prompt. */
export interface BatchJobData {
  batchId: string;
  model: string;
  graphId: string;
  prompt: string;
  target: string | null;
  settings: TraceSettings;
}

export type PromptState = 'queued' | 'running' | 'retrying' | 'done' | 'failed' | 'cancelled';
export const PROMPT_STATES: readonly PromptState[] = ['queued', 'running', 'retrying', 'done', 'failed', 'cancelled'];

export interface PromptStatus {
  graphId: string;
  prompt: string;
  state: PromptState;
  /** Tries started so far. */
  attempts: number;
  /** 0..1 within the current try. */
  progress: number;
  /** Why the prompt failed (its last try), or null. */
  error: string | null;
}

export interface BatchStatus {
  id: string;
  model: string;
  total: number;
  counts: Record<PromptState, number>;
  /** 0..1 over the whole batch (a running prompt counts with its own progress). */
  progress: number;
  /** True when no prompt is queued, running or waiting to retry. */
  finished: boolean;
  cancelled: boolean;
  prompts: PromptStatus[];
}

export const DEFAULT_ATTEMPTS = 3;
const KNOWN_KEYS = new Set(['prompt', 'id', 'target', 'settings']);

/** The model id a `--model` value names: the folder's name. */
export function modelIdOf(modelDirOrId: string): string {
  const name =
    modelDirOrId
      .replace(/[\\/]+$/, '')
      .split(/[\\/]/)
      .pop() ?? '';
  if (!/^[A-Za-z0-9._-]+$/.test(name))
    throw new UserInputError(
      `--model '${modelDirOrId}' does not end in a model folder name (letters, digits, '.', '_', '-')`,
    );
  return name;
}

/** The graph id of a prompt without one: the same model, prompt, target and settings give the same id. */
export function derivedGraphId(model: string, prompt: string, target: string | null, settings: TraceSettings): string {
  const key = JSON.stringify([model, prompt, target, settings]);
  return `b-${createHash('sha256').update(key).digest('hex').slice(0, 20)}`;
}

/** The default batch id of a prompts file: the same file for the same model is the same batch. */
export function derivedBatchId(model: string, prompts: readonly BatchPrompt[]): string {
  const hash = createHash('sha256').update(model);
  for (const p of prompts) hash.update('\n').update(p.graphId);
  return `batch-${hash.digest('hex').slice(0, 12)}`;
}

/** Checks a batch id as a graph id (it names Redis keys and appears in URLs). */
export function checkBatchId(id: string): string {
  if (!isGraphId(id)) throw new UserInputError(graphIdProblem(id, 'batch id'));
  return id;
}

/**
 * Parses a prompts file (JSON Lines): blank lines and lines starting with '#' are skipped; each
 * other line is an object with `prompt` and optional `id`, `target`, `settings`. `defaults` are
 * settings given for the whole batch; a line's own settings win. Errors name the file and line.
 */
export function parsePromptLines(
  text: string,
  source: string,
  model: string,
  defaults: Partial<TraceSettings> = {},
): BatchPrompt[] {
  const prompts: BatchPrompt[] = [];
  const seen = new Map<string, number>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '' || line.startsWith('#')) continue;
    const where = `${source} line ${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw new UserInputError(`${where} is not JSON (${(error as Error).message}): write one JSON object per line`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      throw new UserInputError(`${where}: expected an object like {"prompt": "..."}, got ${line.slice(0, 60)}`);
    const entry = value as Record<string, unknown>;
    const unknown = Object.keys(entry).filter((key) => !KNOWN_KEYS.has(key));
    if (unknown.length > 0)
      throw new UserInputError(`${where}: unknown field '${unknown[0]}' (known: prompt, id, target, settings)`);
    if (typeof entry.prompt !== 'string' || entry.prompt.trim() === '')
      throw new UserInputError(`${where}: "prompt" must be a non-empty string`);
    if (entry.target !== undefined && typeof entry.target !== 'string')
      throw new UserInputError(`${where}: "target" must be a string (a token, e.g. " Austin")`);
    if (entry.settings !== undefined && (typeof entry.settings !== 'object' || entry.settings === null))
      throw new UserInputError(`${where}: "settings" must be an object like {"maxNLogits": 5}`);
    let settings: TraceSettings;
    try {
      settings = resolveTraceSettings({ ...defaults, ...(entry.settings as Partial<TraceSettings> | undefined) });
    } catch (error) {
      throw new UserInputError(`${where}: ${(error as Error).message}`);
    }
    const target = (entry.target as string | undefined) ?? null;
    let graphId: string;
    if (entry.id !== undefined) {
      if (typeof entry.id !== 'string') throw new UserInputError(`${where}: "id" must be a string`);
      if (!isGraphId(entry.id)) throw new UserInputError(`${where}: ${graphIdProblem(entry.id, 'id')}`);
      graphId = entry.id;
    } else {
      graphId = derivedGraphId(model, entry.prompt, target, settings);
    }
    const earlier = seen.get(graphId);
    if (earlier !== undefined)
      throw new UserInputError(`${where} repeats line ${earlier} (graph id '${graphId}'): give each prompt once`);
    seen.set(graphId, i + 1);
    prompts.push({ graphId, prompt: entry.prompt, target, settings });
  }
  if (prompts.length === 0) throw new UserInputError(`${source} has no prompts: write one JSON object per line`);
  return prompts;
}

/** Counts and overall progress of a batch from its prompts' states. */
export function summarizeBatch(id: string, model: string, prompts: PromptStatus[], cancelled: boolean): BatchStatus {
  const counts = Object.fromEntries(PROMPT_STATES.map((s) => [s, 0])) as Record<PromptState, number>;
  let progress = 0;
  for (const p of prompts) {
    counts[p.state]++;
    if (p.state === 'done' || p.state === 'failed' || p.state === 'cancelled') progress += 1;
    else if (p.state === 'running') progress += Math.min(1, Math.max(0, p.progress));
  }
  const total = prompts.length;
  return {
    id,
    model,
    total,
    counts,
    progress: total === 0 ? 1 : progress / total,
    finished: counts.queued + counts.running + counts.retrying === 0,
    cancelled,
    prompts,
  };
}

/** One line for logs and the CLI: `12/200 done, 1 failed, 2 running, 185 queued`. */
export function describeBatchCounts(status: BatchStatus): string {
  const { counts, total } = status;
  const parts = [`${counts.done}/${total} done`];
  for (const state of ['failed', 'cancelled', 'running', 'retrying', 'queued'] as const)
    if (counts[state] > 0) parts.push(`${counts[state]} ${state}`);
  return parts.join(', ');
}
