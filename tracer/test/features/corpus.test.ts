/** Reading a corpus (plain text, JSONL) and cutting it into batches of equal-length contexts. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserInputError } from '../../src/errors.js';
import { batchContexts, corpusFormatOf, readCorpus, type ContextBatch } from '../../src/features/corpus.js';

const SMALL = fileURLToPath(new URL('../fixtures/corpus/small.txt', import.meta.url));

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

async function* documents(lengths: number[]) {
  let next = 100;
  for (const length of lengths) yield { tokenIds: Array.from({ length }, () => next++) };
}

describe('corpus files', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'corpus-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('reads plain text one document per non-empty line, and JSONL by its "text" field', async () => {
    const text = await collect(readCorpus(SMALL));
    const jsonl = await collect(readCorpus(SMALL.replace(/\.txt$/, '.jsonl')));
    expect(text).toHaveLength(40);
    expect(text[0]).toEqual({ text: 'The capital of Texas is Austin .', line: 1 });
    expect(jsonl.map((d) => d.text)).toEqual(text.map((d) => d.text));
    expect(corpusFormatOf('a.jsonl')).toBe('jsonl');
    expect(corpusFormatOf('a.txt')).toBe('text');
    const blank = path.join(dir, 'blank.txt');
    await writeFile(blank, 'one\n\n   \ntwo\r\n');
    expect(await collect(readCorpus(blank))).toEqual([
      { text: 'one', line: 1 },
      { text: 'two', line: 4 },
    ]);
  });

  const badLines: [string, RegExp][] = [
    ['{"text": "fine"}\n{"text": "broken', /bad\.jsonl line 2 is not valid JSON/],
    ['{"text": "fine"}\n["a list"]', /bad\.jsonl line 2 is not a JSON object; write it as \{"text": "\.\.\."\}/],
    ['{"body": "no text"}', /bad\.jsonl line 1 has no string field "text" \(missing\)/],
    ['{"text": 42}', /bad\.jsonl line 1 has no string field "text" \(got number\)/],
  ];
  for (const [content, message] of badLines) {
    it(`refuses a bad JSONL line with the file and line named: ${message.source.slice(0, 40)}`, async () => {
      const file = path.join(dir, 'bad.jsonl');
      await writeFile(file, content);
      const read = collect(readCorpus(file));
      await expect(read).rejects.toThrow(UserInputError);
      await expect(collect(readCorpus(file))).rejects.toThrow(message);
    });
  }

  it('says which file is missing', async () => {
    await expect(collect(readCorpus(path.join(dir, 'nope.txt')))).rejects.toThrow(
      /corpus file .*nope\.txt does not exist; pass --corpus/,
    );
  });
});

describe('contexts and batches', () => {
  const options = { contextLength: 5, batchSize: 2, bosId: 1 };

  it('cuts documents into BOS-led contexts of at most contextLength tokens, never joining documents', async () => {
    const batches = await collect(batchContexts(documents([3, 9, 4, 1]), options));
    const contexts = batches.flatMap((b) => b.contexts).sort((a, b) => a.id - b.id);
    expect(contexts.map((c) => Array.from(c.tokenIds))).toEqual([
      [1, 100, 101, 102],
      [1, 103, 104, 105, 106],
      [1, 107, 108, 109, 110],
      [1, 111],
      [1, 112, 113, 114, 115],
      [1, 116],
    ]);
  });

  it('batches contexts of similar length together, at most batchSize each, padded to the longest', async () => {
    const batches: ContextBatch[] = await collect(
      batchContexts(documents([3, 20, 4, 30, 2]), { contextLength: 32, batchSize: 2, bosId: 1 }),
    );
    // Context lengths 4, 21, 5, 31, 3 fall in length buckets of 8: (0, 8], (16, 24], (24, 32].
    expect(batches.map((b) => [b.nPos, b.contexts.map((c) => c.id)])).toEqual([
      [5, [0, 2]],
      [31, [3]],
      [21, [1]],
      [3, [4]],
    ]);
    for (const batch of batches)
      for (const context of batch.contexts) expect(context.tokenIds.length).toBeLessThanOrEqual(batch.nPos);
  });

  it('stops at maxTokens, counting BOS', async () => {
    const batches = await collect(batchContexts(documents([9, 9]), { ...options, maxTokens: 12 }));
    const tokens = batches.flatMap((b) => b.contexts).reduce((sum, c) => sum + c.tokenIds.length, 0);
    expect(tokens).toBe(12);
  });

  it('refuses a context length below 2', async () => {
    await expect(collect(batchContexts(documents([3]), { ...options, contextLength: 1 }))).rejects.toThrow(
      /--context-length must be at least 2/,
    );
  });
});
