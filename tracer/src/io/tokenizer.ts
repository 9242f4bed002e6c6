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

export class PromptTokenizer {
  private constructor(
    private readonly tokenizer: Tokenizer,
    /** Ids of special tokens (BOS, EOS, PAD, UNK, ...). */
    readonly specialIds: Set<number>,
    /** The token prepended to prompts that do not start with a special token. */
    readonly bosId: number | null,
    readonly unkId: number | null,
    private readonly vocabSize: number,
  ) {}

  static async load(modelDir: string, vocabSize: number, configBosId: number | null): Promise<PromptTokenizer> {
    const file = path.join(modelDir, 'tokenizer.json');
    let json: { added_tokens?: AddedTokenJson[]; model?: { unk_token?: string } };
    try {
      json = JSON.parse(await readFile(file, 'utf8'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new ModelFormatError(`no tokenizer.json; copy the model's tokenizer.json into its folder`, file);
      }
      throw new ModelFormatError(`tokenizer.json is not valid JSON`, file);
    }
    let config: Record<string, unknown> = {};
    try {
      config = JSON.parse(await readFile(path.join(modelDir, 'tokenizer_config.json'), 'utf8'));
    } catch {
      // tokenizer_config.json is optional: special tokens are also listed in tokenizer.json.
    }
    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(json, config);
    } catch (error) {
      throw new ModelFormatError(`tokenizer.json could not be loaded: ${(error as Error).message}`, file);
    }
    const added = json.added_tokens ?? [];
    const specialIds = new Set(added.filter((t) => t.special).map((t) => t.id));
    const idOf = (key: string): number | null => {
      const value = config[key];
      const content = typeof value === 'string' ? value : (value as { content?: string } | undefined)?.content;
      if (!content) return null;
      return tokenizer.token_to_id(content) ?? null;
    };
    const bosCandidates = [idOf('bos_token') ?? configBosId, idOf('pad_token'), idOf('eos_token'), ...specialIds];
    // Python's filter(None, ...) also skips id 0, as circuit-tracer does.
    const bosId = bosCandidates.find((id): id is number => typeof id === 'number' && id !== 0) ?? null;
    const unkName = json.model?.unk_token;
    const unkId = idOf('unk_token') ?? (unkName ? (tokenizer.token_to_id(unkName) ?? null) : null);
    return new PromptTokenizer(tokenizer, specialIds, bosId, unkId, vocabSize);
  }

  /**
   * Token ids of a prompt as the tracer sees it: BOS prepended when the prompt does not start
   * with a special token. Rejects empty prompts, unknown tokens and prompts over `maxPositions`.
   */
  encodePrompt(prompt: string, maxPositions: number): number[] {
    if (prompt.trim().length === 0) throw new UserInputError('the prompt is empty; give some text to trace');
    const ids = this.tokenizer.encode(prompt, { add_special_tokens: false }).ids;
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
    const unkText = this.unkId === null ? null : (this.tokenizer.id_to_token(this.unkId) ?? null);
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
      .filter((word) =>
        this.tokenizer.encode(word, { add_special_tokens: false }).ids.some((id: number) => id === this.unkId),
      );
  }

  /** The text of one token, as the viewers show it (`decode` of a single id). */
  tokenString(id: number): string {
    return this.tokenizer.decode([id], { skip_special_tokens: false });
  }

  decode(ids: number[]): string {
    return this.tokenizer.decode(ids, { skip_special_tokens: false });
  }

  /** Id of a single token given as text (for interventions on a target token), or null. */
  tokenId(text: string): number | null {
    return this.tokenizer.token_to_id(text) ?? null;
  }
}
