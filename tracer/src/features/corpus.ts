/**
 * The corpus a feature dashboard is computed over, streamed line by line so memory does not grow
 * with its size: plain text (one document per non-empty line) or JSONL (one `{"text": "..."}`
 * object per line). Documents become token contexts of at most `contextLength` tokens, each
 * starting with the model's BOS token; contexts are never joined, so a feature's context is always
 * text from one document. Contexts of similar length are batched together, right-padded to the
 * longest: with a causal mask no real position sees a padding position, so padding changes nothing
 * and only costs the padded positions' compute (at most LENGTH_STEP − 1 per context).
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { UserInputError } from '../errors.js';

export type CorpusFormat = 'text' | 'jsonl';

/** One document of the corpus, with its 1-based line for error messages. */
export interface CorpusDocument {
  text: string;
  line: number;
}

/** `jsonl` for `.jsonl` / `.ndjson` files, plain text otherwise. */
export function corpusFormatOf(file: string): CorpusFormat {
  return /\.(jsonl|ndjson)$/i.test(file) ? 'jsonl' : 'text';
}

/** Total size of the corpus file in bytes (the progress bar's denominator). */
export async function corpusSize(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new UserInputError(`corpus file ${file} does not exist; pass --corpus <file.txt|file.jsonl>`);
    }
    throw error;
  }
}

/**
 * Streams the documents of a corpus file. `onBytes` reports the bytes read so far (for progress).
 * A JSONL line that is not an object with a string `text` stops the stream with a UserInputError
 * naming the file and line.
 */
export async function* readCorpus(
  file: string,
  format: CorpusFormat = corpusFormatOf(file),
  onBytes?: (bytesRead: number) => void,
): AsyncGenerator<CorpusDocument> {
  await corpusSize(file);
  const stream = createReadStream(file, { encoding: 'utf8' });
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  const name = path.basename(file);
  let lineNumber = 0;
  let consumed = 0;
  try {
    for await (const line of lines) {
      lineNumber++;
      consumed += Buffer.byteLength(line) + 1; // the line and its newline
      onBytes?.(consumed);
      if (line.trim().length === 0) continue;
      if (format === 'text') {
        yield { text: line, line: lineNumber };
        continue;
      }
      yield { text: jsonlText(line, name, lineNumber), line: lineNumber };
    }
  } finally {
    lines.close();
    stream.destroy();
  }
}

function jsonlText(line: string, name: string, lineNumber: number): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    throw new UserInputError(
      `${name} line ${lineNumber} is not valid JSON; each line of a .jsonl corpus must be an object like {"text": "..."}`,
    );
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new UserInputError(`${name} line ${lineNumber} is not a JSON object; write it as {"text": "..."}`);
  }
  const text = (parsed as { text?: unknown }).text;
  if (typeof text !== 'string') {
    throw new UserInputError(
      `${name} line ${lineNumber} has no string field "text" (${text === undefined ? 'missing' : `got ${typeof text}`}); ` +
        `write it as {"text": "..."}`,
    );
  }
  return text;
}

/** A token context: BOS, then up to contextLength − 1 tokens of one document. */
export interface Context {
  /** Position of the context in the stream (0, 1, ...): identical across runs over the same corpus. */
  id: number;
  tokenIds: Int32Array;
}

/** Contexts run as one batch `[N, T]`, each right-padded to `nPos` tokens (its own length is its tokenIds'). */
export interface ContextBatch {
  nPos: number;
  contexts: Context[];
}

/** Contexts wait in buckets of lengths (k·LENGTH_STEP − LENGTH_STEP, k·LENGTH_STEP]. */
export const LENGTH_STEP = 8;

export interface BatchingOptions {
  contextLength: number;
  batchSize: number;
  /** Stop after this many tokens (BOS included); the last context may be cut short. */
  maxTokens?: number;
  bosId: number;
}

/**
 * Cuts tokenized documents into contexts and groups them by length into batches. Memory is
 * bounded: at most `batchSize` contexts wait per length bucket. Batches come out in a fixed order
 * for a fixed corpus, so two runs see the same contexts.
 */
export async function* batchContexts(
  documents: AsyncIterable<{ tokenIds: ArrayLike<number> }>,
  options: BatchingOptions,
): AsyncGenerator<ContextBatch> {
  const { contextLength, batchSize, bosId } = options;
  if (contextLength < 2) throw new UserInputError(`--context-length must be at least 2 (BOS and one token)`);
  const maxTokens = options.maxTokens ?? Infinity;
  const waiting = new Map<number, Context[]>();
  let nextId = 0;
  let tokens = 0;
  outer: for await (const { tokenIds } of documents) {
    for (let start = 0; start < tokenIds.length; start += contextLength - 1) {
      const body = Math.min(contextLength - 1, tokenIds.length - start, maxTokens - tokens - 1);
      if (body < 1) break outer;
      const ids = new Int32Array(body + 1);
      ids[0] = bosId;
      for (let i = 0; i < body; i++) ids[i + 1] = tokenIds[start + i];
      tokens += ids.length;
      const bucket = Math.min(contextLength, Math.ceil(ids.length / LENGTH_STEP) * LENGTH_STEP);
      const queue = waiting.get(bucket) ?? [];
      queue.push({ id: nextId++, tokenIds: ids });
      waiting.set(bucket, queue);
      if (queue.length === batchSize) {
        waiting.delete(bucket);
        yield batchOf(queue);
      }
      if (tokens >= maxTokens) break outer;
    }
  }
  for (const bucket of [...waiting.keys()].sort((a, b) => b - a)) yield batchOf(waiting.get(bucket)!);
}

function batchOf(contexts: Context[]): ContextBatch {
  return { nPos: Math.max(...contexts.map((c) => c.tokenIds.length)), contexts };
}
