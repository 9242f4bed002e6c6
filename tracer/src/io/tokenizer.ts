/**
 * `tokenizer.json` (+ `tokenizer_config.json`) through `@huggingface/tokenizers`, with
 * circuit-tracer's prompt rule: tokenize without special tokens, then prepend a special token
 * (BOS, else PAD, else EOS, else any special) unless the prompt already starts with one.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { ModelFormatError, UserInputError } from '../errors.js';

interface AddedTokenJson {
  id: number;
  content: string;
  special: boolean;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export class PromptTokenizer {
  private constructor(
    private readonly tokenizer: Tokenizer,
    /** Ids of special tokens (BOS, EOS, PAD, UNK, ...). */
    readonly specialIds: Set<number>,
    /** The token prepended to prompts that do not start with a special token. */
    readonly bosId: number | null,
    readonly unkId: number | null,
    private readonly vocabSize: number,
    /** tokenizer.json, named when the tokenizer library fails on what it holds. */
    private readonly file: string,
  ) {}

  static async load(modelDir: string, vocabSize: number, configBosId: number | null): Promise<PromptTokenizer> {
    const file = path.join(modelDir, 'tokenizer.json');
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readFile(file, 'utf8'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new ModelFormatError(`no tokenizer.json; copy the model's tokenizer.json into its folder`, file);
      }
      throw new ModelFormatError(`tokenizer.json is not valid JSON`, file);
    }
    const json = checkTokenizerJson(parsed, file);
    const configFile = path.join(modelDir, 'tokenizer_config.json');
    let config: Record<string, unknown> = {};
    try {
      const parsedConfig: unknown = JSON.parse(await readFile(configFile, 'utf8'));
      if (!isPlainObject(parsedConfig)) {
        throw new ModelFormatError(`tokenizer_config.json must be a JSON object of tokenizer settings`, configFile);
      }
      config = parsedConfig;
    } catch (error) {
      if (error instanceof ModelFormatError) throw error;
      // tokenizer_config.json is optional (special tokens are also in tokenizer.json), but a corrupt one
      // would silently change which token is prepended.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new ModelFormatError(`tokenizer_config.json is not valid JSON`, configFile);
      }
    }
    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(json, config);
    } catch (error) {
      throw new ModelFormatError(`tokenizer.json could not be loaded: ${(error as Error).message}`, file);
    }
    const libraryCall = <T>(fn: () => T): T => callTokenizer(fn, file);
    const specialIds = new Set(json.added_tokens.filter((t) => t.special).map((t) => t.id));
    const idOf = (key: string): number | null => {
      const value = config[key];
      const content = typeof value === 'string' ? value : isPlainObject(value) ? value.content : undefined;
      if (content === undefined || content === null || content === '') return null;
      if (typeof content !== 'string') {
        throw new ModelFormatError(`tokenizer_config.json field '${key}' must be a token string`, configFile);
      }
      return libraryCall(() => tokenizer.token_to_id(content)) ?? null;
    };
    const bosCandidates = [idOf('bos_token') ?? configBosId, idOf('pad_token'), idOf('eos_token'), ...specialIds];
    // Python's filter(None, ...) also skips id 0, as circuit-tracer does.
    const bosId = bosCandidates.find((id): id is number => typeof id === 'number' && id !== 0) ?? null;
    // The prepended token indexes the embedding matrix: it must be inside the model's vocabulary.
    if (bosId !== null && bosId >= vocabSize) {
      throw new ModelFormatError(
        `the BOS token has id ${bosId} but config.json's vocab_size is ${vocabSize}; the tokenizer does not belong to this model`,
        file,
      );
    }
    const unkName = json.model.unk_token;
    const unkId =
      idOf('unk_token') ??
      (typeof unkName === 'string' && unkName !== ''
        ? (libraryCall(() => tokenizer.token_to_id(unkName)) ?? null)
        : null);
    const loaded = new PromptTokenizer(tokenizer, specialIds, bosId, unkId, vocabSize, file);
    // The library reads most of the JSON lazily; encoding one word of its own vocabulary finds a broken
    // vocabulary or pipeline now rather than at the first prompt.
    loaded.encode(probeWord(json.model.vocab));
    return loaded;
  }

  /** The library's encode, its failures reported as a broken tokenizer.json. */
  private encode(text: string): number[] {
    return callTokenizer(() => {
      const ids = this.tokenizer.encode(text, { add_special_tokens: false }).ids;
      if (!Array.isArray(ids) || !ids.every((id) => Number.isSafeInteger(id) && id >= 0)) {
        throw new Error(`it produced token ids that are not non-negative integers`);
      }
      return ids;
    }, this.file);
  }

  /**
   * Token ids of a prompt as the tracer sees it: BOS prepended when the prompt does not start
   * with a special token. Rejects empty prompts, unknown tokens and prompts over `maxPositions`.
   */
  encodePrompt(prompt: string, maxPositions: number): number[] {
    if (prompt.trim().length === 0) throw new UserInputError('the prompt is empty; give some text to trace');
    const ids = this.encode(prompt);
    if (ids.length === 0) throw new UserInputError(`the prompt ${JSON.stringify(prompt)} produced no tokens`);
    this.checkKnown(prompt, ids);
    const withBos = this.specialIds.has(ids[0]) || this.bosId === null ? ids : [this.bosId, ...ids];
    if (withBos.length > maxPositions) {
      throw new UserInputError(
        `the prompt has ${withBos.length} tokens (BOS included) but the model's context is ${maxPositions}; shorten it`,
      );
    }
    return withBos;
  }

  private checkKnown(prompt: string, ids: number[]): void {
    const outOfVocabulary = ids.filter((id) => id >= this.vocabSize).length;
    // The unknown token typed literally (GPT-2's <|endoftext|> is also its unk) is not unknown text.
    const unkText =
      this.unkId === null ? null : (callTokenizer(() => this.tokenizer.id_to_token(this.unkId!), this.file) ?? null);
    const typed = unkText ? prompt.split(unkText).length - 1 : 0;
    const unknown = outOfVocabulary + Math.max(0, ids.filter((id) => id === this.unkId).length - typed);
    if (unknown > 0) {
      const words = this.unknownWords(prompt);
      throw new UserInputError(
        `the prompt has ${unknown} token(s) the model does not know` +
          (words.length > 0 ? ` (${words.map((w) => JSON.stringify(w)).join(', ')})` : '') +
          `; rephrase it with words in the model's vocabulary`,
      );
    }
  }

  /** The words of a prompt that tokenize to the unknown token, for the error message. */
  private unknownWords(prompt: string): string[] {
    return prompt
      .split(/\s+/)
      .filter((word) => word.length > 0)
      .filter((word) => this.encode(word).some((id) => id === this.unkId));
  }

  /** Token ids of corpus text as it is (no special tokens added, unknown words kept as the unknown token). */
  encodeText(text: string): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: false }).ids;
  }

  /** The text of one token, as the viewers show it (`decode` of a single id). */
  tokenString(id: number): string {
    return this.decode([id]);
  }

  decode(ids: number[]): string {
    return callTokenizer(() => this.tokenizer.decode(ids, { skip_special_tokens: false }), this.file);
  }

  /** Id of a single token given as text (for interventions on a target token), or null. */
  tokenId(text: string): number | null {
    return callTokenizer(() => this.tokenizer.token_to_id(text), this.file) ?? null;
  }
}

/** A plain word from the vocabulary (an object for BPE / WordLevel, [token, score] pairs for Unigram). */
function probeWord(vocab: unknown): string {
  const tokens = Array.isArray(vocab)
    ? vocab.map((entry) => (Array.isArray(entry) ? entry[0] : entry))
    : Object.keys(vocab as object);
  return tokens.find((token): token is string => typeof token === 'string' && /^[A-Za-z]{2,}$/.test(token)) ?? 'a';
}

/** Runs a tokenizer-library call; what it throws means tokenizer.json holds something it cannot use. */
function callTokenizer<T>(fn: () => T, file: string): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof ModelFormatError || error instanceof UserInputError) throw error;
    throw new ModelFormatError(`tokenizer.json could not be used: ${(error as Error).message}`, file);
  }
}

/** The parts of tokenizer.json read here, checked before the library sees them. */
function checkTokenizerJson(
  parsed: unknown,
  file: string,
): Record<string, unknown> & { added_tokens: AddedTokenJson[]; model: Record<string, unknown> } {
  if (!isPlainObject(parsed)) throw new ModelFormatError(`tokenizer.json must be a JSON object`, file);
  const model = parsed.model;
  if (!isPlainObject(model)) throw new ModelFormatError(`tokenizer.json field 'model' must be an object`, file);
  if (typeof model.type !== 'undefined' && typeof model.type !== 'string') {
    throw new ModelFormatError(`tokenizer.json field 'model.type' must be a string`, file);
  }
  const vocab = model.vocab;
  if (!isPlainObject(vocab) && !Array.isArray(vocab)) {
    throw new ModelFormatError(`tokenizer.json field 'model.vocab' must be an object (or a list for Unigram)`, file);
  }
  if ((Array.isArray(vocab) ? vocab.length : Object.keys(vocab).length) === 0) {
    throw new ModelFormatError(`tokenizer.json field 'model.vocab' is empty`, file);
  }
  if (isPlainObject(vocab)) {
    const bad = Object.entries(vocab).find(([, id]) => !Number.isSafeInteger(id) || (id as number) < 0);
    if (bad) {
      throw new ModelFormatError(
        `tokenizer.json field 'model.vocab' maps ${JSON.stringify(bad[0])} to ${JSON.stringify(bad[1])}; ids must be non-negative integers`,
        file,
      );
    }
  }
  const added = parsed.added_tokens ?? [];
  if (!Array.isArray(added)) throw new ModelFormatError(`tokenizer.json field 'added_tokens' must be a list`, file);
  added.forEach((token: unknown, i) => {
    const ok =
      isPlainObject(token) &&
      Number.isSafeInteger(token.id) &&
      (token.id as number) >= 0 &&
      typeof token.content === 'string' &&
      (token.special === undefined || typeof token.special === 'boolean');
    if (!ok) {
      throw new ModelFormatError(
        `tokenizer.json field 'added_tokens[${i}]' must be {id: non-negative integer, content: string, special: boolean}`,
        file,
      );
    }
  });
  return { ...parsed, added_tokens: added as AddedTokenJson[], model };
}
