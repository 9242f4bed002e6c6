/**
 * Trace settings: the knobs of attribution and pruning, their defaults and their valid ranges, defined
 * once. The CLI, the API, the job queue and the tracer all resolve user settings through
 * `resolveTraceSettings`, so a default or a range never differs between them.
 */
import type { GraphSettings } from './graph-document.js';
import { UserInputError } from './user-input-error.js';

export type TraceSettings = GraphSettings;

/** Our defaults. The reference's `attribute()` uses batch 512 and its CLI 256; we use 256. */
export const TRACE_SETTING_DEFAULTS: Readonly<TraceSettings> = Object.freeze({
  maxNLogits: 10,
  desiredLogitProb: 0.95,
  batchSize: 256,
  maxFeatureNodes: null,
  nodeThreshold: 0.8,
  edgeThreshold: 0.98,
});

/** circuit-tracer's `attribute()` defaults: what a graph JSON that does not say how it was made used. */
export const REFERENCE_GENERATION_DEFAULTS = Object.freeze({
  maxNLogits: 10,
  desiredLogitProb: 0.95,
  batchSize: 512,
  maxFeatureNodes: null,
});

type Range = { integer: boolean; min: number; max: number; minExclusive?: boolean; meaning: string };

/** Valid values of each setting; the messages quote `meaning` so a user knows what the number is. */
export const TRACE_SETTING_RANGES: Readonly<Record<keyof TraceSettings, Range>> = {
  maxNLogits: { integer: true, min: 1, max: 1000, meaning: 'the most logit targets' },
  desiredLogitProb: {
    integer: false,
    min: 0,
    max: 1,
    minExclusive: true,
    meaning: 'the cumulative probability the logit targets reach',
  },
  batchSize: { integer: true, min: 1, max: 65_536, meaning: 'attribution targets per backward pass' },
  maxFeatureNodes: { integer: true, min: 0, max: 10_000_000, meaning: 'the most features attributed' },
  nodeThreshold: { integer: false, min: 0, max: 1, meaning: 'the cumulative influence share of nodes kept' },
  edgeThreshold: { integer: false, min: 0, max: 1, meaning: 'the cumulative influence share of edges kept' },
};

/** Throws a UserInputError naming the setting when `value` is out of its range. */
export function checkTraceSetting<K extends keyof TraceSettings>(name: K, value: number): number {
  const range = TRACE_SETTING_RANGES[name];
  const low = range.minExclusive ? value > range.min : value >= range.min;
  const ok = Number.isFinite(value) && (!range.integer || Number.isInteger(value)) && low && value <= range.max;
  if (!ok) {
    const interval = `${range.minExclusive ? '(' : '['}${range.min}, ${range.max}]`;
    const kind = range.integer ? 'a whole number in' : 'a number in';
    throw new UserInputError(`${name} must be ${kind} ${interval} (${range.meaning}), got ${value}`);
  }
  return value;
}

/** Fills in defaults and validates every given setting; null or undefined means "the default". */
export function resolveTraceSettings(
  given: { [K in keyof TraceSettings]?: TraceSettings[K] | null } = {},
): TraceSettings {
  const settings: TraceSettings = { ...TRACE_SETTING_DEFAULTS };
  for (const name of Object.keys(TRACE_SETTING_RANGES) as (keyof TraceSettings)[]) {
    const value = given[name];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'number') throw new UserInputError(`${name} must be a number, got ${JSON.stringify(value)}`);
    (settings as unknown as Record<string, number>)[name] = checkTraceSetting(name, value);
  }
  return settings;
}
