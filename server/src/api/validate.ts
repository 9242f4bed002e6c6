/** Checks of arguments the SDL's types cannot express (ranges, lengths), with messages that say what to fix. */
import { badUserInput } from './errors.js';
import type { InputLimits } from './context.js';

export function checkPage(offset: number | null | undefined, limit: number | null | undefined, limits: InputLimits) {
  const page = { offset: offset ?? 0, limit: limit ?? 20 };
  if (!Number.isInteger(page.offset) || page.offset < 0)
    throw badUserInput(`offset must be 0 or more, got ${page.offset}`);
  if (!Number.isInteger(page.limit) || page.limit < 0 || page.limit > limits.maxPageSize) {
    throw badUserInput(`limit must be between 0 and ${limits.maxPageSize}, got ${page.limit}`);
  }
  return page;
}

/** A pruning threshold: a cumulative share in (0, 1]. */
export function checkThreshold(name: string, value: number | null | undefined): number | undefined {
  if (value === null || value === undefined) return undefined;
  if (!(value > 0 && value <= 1))
    throw badUserInput(`${name} must be in (0, 1] (a cumulative influence share), got ${value}`);
  return value;
}

export function checkPrompt(prompt: string, limits: InputLimits): string {
  if (prompt.trim().length === 0) throw badUserInput('prompt is empty: give the text whose circuit to trace');
  if (prompt.length > limits.maxPromptChars) {
    throw badUserInput(`prompt is ${prompt.length} characters long; the limit is ${limits.maxPromptChars}: shorten it`);
  }
  return prompt;
}

export function checkIntegerRange(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw badUserInput(`${name} must be a whole number from ${min} to ${max}, got ${value}`);
  }
  return value;
}

export function checkText(name: string, value: string, maxLength: number, allowEmpty = false): string {
  const trimmed = value.trim();
  if (!allowEmpty && trimmed.length === 0) throw badUserInput(`${name} is empty`);
  if (value.length > maxLength)
    throw badUserInput(`${name} is ${value.length} characters long; the limit is ${maxLength}`);
  return trimmed;
}
