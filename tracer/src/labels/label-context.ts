/**
 * Corpus statistics that feature labels are measured against, computed from the dashboards
 * themselves (every example context of every feature of a model, each distinct context once):
 *
 * - units: words and names. A word is a token with the word pieces glued to it when the tokenizer
 *   marks word starts ("ĠDal" "las" → "Dallas"); a name is 2–3 adjacent capitalised words that occur
 *   together in at least `phraseShare` of the uses of one of them ("New Mexico", "Salt Lake City").
 *   A word found inside one name in ≥ 90% of its contexts stands for that name ("Mexico"), and a
 *   piece that begins one word in ≥ 80% of its uses stands for that word (for logit tokens);
 * - baseline b(u): the share of contexts that contain unit u (how unremarkable it is: "is" ≈ 1);
 * - associates A(u, t) ∈ [0, 1]: how strongly t accompanies u across contexts. First order A₁, the
 *   normalised PMI of u and t over contexts (≈ 0 for tokens found everywhere); then one step of
 *   spreading, A₁(u, t) + `spread` · Σ_v A₁(u, v) A₁(v, t), so that what u's associates have in
 *   common (a city's state: its capital, postal code and nickname all go with the state) outranks
 *   any single one; divided by max(strongest, `strongAssociation`), so a unit's strongest real
 *   associate stands for it fully (1) while the associates of "is" stay weak.
 *
 * Nothing here knows what the tokens mean; a context is just a list of token strings.
 */
import type { DetailExample, FeatureDetail } from './feature-dashboard.js';

export interface LabelContextOptions {
  /** Share of one word's uses that two adjacent capitalised words must occur together in to be a name. */
  phraseShare?: number;
  /** Fewest occurrences of a pair before it can be a name. */
  phraseMinCount?: number;
  /** Associates kept per unit, first order and after spreading (the strongest). */
  maxAssociates?: number;
  /** Weight of the second-order step of association. */
  spread?: number;
  /** Association strength at which a unit's strongest associate stands for it fully (scaled to 1). */
  strongAssociation?: number;
}

/** A unit found in a context: its text and the token span [start, end) it covers. */
export interface UnitSpan {
  text: string;
  start: number;
  end: number;
}

/** A context token as labels see it: display text, or null for special tokens (BOS, padding). */
export type ContextToken = string | null;

const DEFAULTS: Required<LabelContextOptions> = {
  phraseShare: 0.3,
  phraseMinCount: 2,
  maxAssociates: 12,
  spread: 0.3,
  strongAssociation: 0.5,
};
/** A name spans at most 3 words; a word at most 16 pieces. */
const MAX_PHRASE_WORDS = 3;
const MAX_PHRASE_PIECES = 16;
/** Internal mark of a word piece that continues the previous token's word (no space when joined). */
const GLUE = '\u2060';
/** Byte-level BPE (Ġ), SentencePiece (▁) and plain leading spaces: a token that starts a word. */
const WORD_START = /^(Ġ|▁| )/;

/** Whether a token is markup rather than text: <bos>, <|endoftext|>, [CLS]. */
function isSpecialToken(text: string): boolean {
  return /^<\|?[^<>\s]*\|?>$/.test(text) || /^\[[A-Z_]+\]$/.test(text);
}

/** A token that carries a word (a letter or digit), as opposed to punctuation. */
export function isWordToken(text: string): boolean {
  return /[\p{L}\p{N}]/u.test(text);
}

/** A single token's display text (a logit token, say); null for special tokens. */
export function displayToken(token: string): string | null {
  const text = token.replaceAll('Ġ', ' ').replaceAll('▁', ' ').replaceAll('Ċ', '\n').trim();
  // Whitespace, markup, control characters and byte pieces that decode to U+FFFD say nothing a reader could use.
  return /^[\p{C}\p{Z}\uFFFD]*$/u.test(text) || isSpecialToken(text) ? null : text;
}

function isCapitalised(text: string): boolean {
  return /^\p{Lu}/u.test(text);
}

/** Whether the token at k is a word piece continuing the word of the token before it. */
function glued(tokens: ContextToken[], k: number): boolean {
  const before = tokens[k - 1];
  return (tokens[k]?.startsWith(GLUE) ?? false) && before !== null && before !== undefined && isWordToken(before);
}

/** Tokens joined the way they read: word pieces glued, words separated by a space. */
export function joinTokens(tokens: readonly string[]): string {
  return tokens.map((token, i) => (token.startsWith(GLUE) ? token.slice(1) : i === 0 ? token : ` ${token}`)).join('');
}

export class LabelContext {
  /** Distinct contexts the statistics were taken over. */
  readonly nContexts: number;
  /** Whether the tokenizer marks word starts, so unmarked word pieces continue a word. */
  readonly marksWordStarts: boolean;
  private readonly docCount = new Map<string, number>();
  private readonly contextsOf = new Map<string, number[]>();
  private readonly contextUnits: string[][] = [];
  /** Adjacent words that belong to one name, as `a\u0000b`. */
  private readonly phraseLinks = new Set<string>();
  /** A token (or name) that stands for a longer name it nearly always occurs in. */
  private readonly absorbedBy = new Map<string, string>();
  private readonly firstOrderCache = new Map<string, Map<string, number>>();
  private readonly associateCache = new Map<string, Map<string, number>>();
  private readonly options: Required<LabelContextOptions>;

  private constructor(rawContexts: string[][], options: Required<LabelContextOptions>) {
    this.options = options;
    this.nContexts = rawContexts.length;
    let marked = 0;
    let total = 0;
    for (const tokens of rawContexts) {
      for (const token of tokens) {
        total++;
        if (WORD_START.test(token)) marked++;
      }
    }
    this.marksWordStarts = total > 0 && marked / total >= 0.2;
    const contexts = rawContexts.map((tokens) => this.displayTokens(tokens));
    this.findPhrases(contexts);
    // For word pieces: how often each piece starts a word, and which words it starts.
    const starts = new Map<string, Map<string, number>>();
    // Contexts whose only use of a word is their last word: a window may cut a name there ("... A : Lone").
    const onlyLast = new Map<string, number>();
    contexts.forEach((tokens, id) => {
      const units = new Set<string>();
      const words = this.words(tokens);
      const last = words[words.length - 1];
      if (last && words.filter((w) => w.text === last.text).length === 1)
        onlyLast.set(last.text, (onlyLast.get(last.text) ?? 0) + 1);
      for (const word of words) {
        units.add(word.text);
        const piece = tokens[word.start]!.replace(GLUE, '');
        const words = starts.get(piece) ?? new Map<string, number>();
        words.set(word.text, (words.get(word.text) ?? 0) + 1);
        starts.set(piece, words);
      }
      for (const span of this.phraseSpans(tokens)) units.add(span.text);
      const list = [...units];
      this.contextUnits.push(list);
      for (const unit of list) {
        this.docCount.set(unit, (this.docCount.get(unit) ?? 0) + 1);
        let ids = this.contextsOf.get(unit);
        if (!ids) this.contextsOf.set(unit, (ids = []));
        ids.push(id);
      }
    });
    this.findAbsorbed(starts, onlyLast);
  }

  /** Statistics over the given token sequences (the caller keeps each distinct context once). */
  static fromContexts(contexts: string[][], options: LabelContextOptions = {}): LabelContext {
    return new LabelContext(contexts, { ...DEFAULTS, ...options });
  }

  /** Statistics over every example context of the given dashboards (each distinct context counted once). */
  static fromDashboards(dashboards: Iterable<FeatureDetail>, options: LabelContextOptions = {}): LabelContext {
    const seen = new Set<string>();
    const contexts: string[][] = [];
    for (const dashboard of dashboards) {
      for (const quantile of dashboard.examples_quantiles ?? []) {
        for (const example of quantile.examples ?? []) {
          const key = example.tokens.join('\u0000');
          if (seen.has(key)) continue;
          seen.add(key);
          contexts.push(example.tokens.map(String));
        }
      }
    }
    return new LabelContext(contexts, { ...DEFAULTS, ...options });
  }

  /** An example's tokens as labels see them (see `ContextToken`). */
  tokensOf(example: Pick<DetailExample, 'tokens'>): ContextToken[] {
    return this.displayTokens(example.tokens.map(String));
  }

  /** b(u): share of contexts containing the unit, smoothed so unseen units are rare, not impossible. */
  baseline(unit: string): number {
    return ((this.docCount.get(unit) ?? 0) + 0.5) / (this.nContexts + 1);
  }

  /** The name a unit stands for ("Mexico" → "New Mexico"), else the unit. */
  canonical(unit: string): string {
    return this.absorbedBy.get(unit) ?? unit;
  }

  /** The unit at position i: the name (up to 3 words) or word through i; null for special tokens. */
  unitAt(tokens: ContextToken[], i: number): UnitSpan | null {
    const word = this.wordAt(tokens, i);
    if (!word) return null;
    let [first, last, words] = [word, word, 1];
    while (words < MAX_PHRASE_WORDS && first.start > 0) {
      const before = this.wordAt(tokens, first.start - 1);
      if (!before || !this.nameLinked(before, first)) break;
      [first, words] = [before, words + 1];
    }
    while (words < MAX_PHRASE_WORDS && last.end < tokens.length) {
      const after = this.wordFrom(tokens, last.end);
      if (!after || !this.nameLinked(last, after)) break;
      [last, words] = [after, words + 1];
    }
    return this.span(tokens, first.start, last.end);
  }

  /** The unit that starts at position i, looking right only (what comes next after i − 1). */
  unitFrom(tokens: ContextToken[], i: number): UnitSpan | null {
    const word = this.wordFrom(tokens, i);
    if (!word) return null;
    let [last, words] = [word, 1];
    while (words < MAX_PHRASE_WORDS && last.end < tokens.length) {
      const after = this.wordFrom(tokens, last.end);
      if (!after || !this.nameLinked(last, after)) break;
      [last, words] = [after, words + 1];
    }
    return this.span(tokens, i, last.end);
  }

  /** The word and name a token usually begins ("Cal" → "California", "Little" → "Little Rock"), else the token. */
  phraseOf(token: string): string {
    return this.canonical(this.canonical(token));
  }

  /**
   * A(u, ·): u's associates with strengths in [0, 1] (see the header), after one step of
   * spreading (see the header). Units overlapping u ("Lake" for "Salt Lake City") are not associates.
   */
  associates(unit: string): Map<string, number> {
    const cached = this.associateCache.get(unit);
    if (cached) return cached;
    const first = this.firstOrder(unit);
    const own = new Set(unit.split(' '));
    const spread = new Map(first);
    for (const [via, strength] of first) {
      for (const [other, next] of this.firstOrder(via)) {
        if (other === unit || other.split(' ').some((token) => own.has(token))) continue;
        spread.set(other, (spread.get(other) ?? 0) + this.options.spread * strength * next);
      }
    }
    // A unit's strongest associate counts as much as the unit itself, once it is a real association
    // (strength ≥ strongAssociation); weaker ones (those of "is") stay weak.
    const scale = Math.max(this.options.strongAssociation, ...spread.values());
    const result = new Map<string, number>();
    const strongest = [...spread]
      .sort((a, b) => b[1] - a[1] || b[0].length - a[0].length)
      .slice(0, this.options.maxAssociates);
    for (const [other, strength] of strongest) result.set(other, strength / scale);
    // A word is not an associate of its own when a name containing it is nearly as strong ("Carolina").
    for (const [other, strength] of result) {
      if (other.includes(' ')) {
        for (const part of other.split(' ')) if ((result.get(part) ?? 0) <= strength / 0.8) result.delete(part);
      }
    }
    this.associateCache.set(unit, result);
    return result;
  }

  /**
   * First-order associates of u: normalised PMI over contexts, ln(N·n(u,t) / (n(u)·n(t))) / −ln(n(u,t) / N),
   * clipped at 0 — 1 when u and t always occur together, near 0 for tokens found everywhere.
   */
  private firstOrder(unit: string): Map<string, number> {
    const cached = this.firstOrderCache.get(unit);
    if (cached) return cached;
    const ids = this.contextsOf.get(unit) ?? [];
    const together = new Map<string, number>();
    for (const id of ids) {
      for (const other of this.contextUnits[id]) together.set(other, (together.get(other) ?? 0) + 1);
    }
    const own = new Set(unit.split(' '));
    const n = this.nContexts;
    const raw: [string, number][] = [];
    for (const [other, count] of together) {
      // A token absorbed by a name is represented by that name.
      if (count < 2 || this.absorbedBy.has(other) || other === unit || other.split(' ').some((token) => own.has(token)))
        continue;
      const joint = count / n;
      const npmi = Math.log(joint / ((ids.length / n) * ((this.docCount.get(other) ?? 0) / n))) / -Math.log(joint);
      if (npmi > 0) raw.push([other, Math.min(1, npmi)]);
    }
    raw.sort((a, b) => b[1] - a[1] || b[0].length - a[0].length);
    const result = new Map(raw.slice(0, this.options.maxAssociates));
    this.firstOrderCache.set(unit, result);
    return result;
  }

  private span(tokens: ContextToken[], start: number, end: number): UnitSpan {
    return { text: joinTokens(tokens.slice(start, end) as string[]), start, end };
  }

  private displayTokens(raw: string[]): ContextToken[] {
    return raw.map((token, i) => {
      const text = displayToken(token);
      if (text === null) return null;
      const continues = this.marksWordStarts && i > 0 && !WORD_START.test(token) && isWordToken(text[0]);
      return continues ? GLUE + text : text;
    });
  }

  /** The word through position i: its token with the word pieces glued to it. */
  private wordAt(tokens: ContextToken[], i: number): UnitSpan | null {
    if (tokens[i] === null || tokens[i] === undefined) return null;
    let start = i;
    while (start > 0 && glued(tokens, start) && i + 1 - start < MAX_PHRASE_PIECES) start--;
    return this.wordFrom(tokens, start);
  }

  /** The word starting at position i, looking right only. */
  private wordFrom(tokens: ContextToken[], i: number): UnitSpan | null {
    if (tokens[i] === null || tokens[i] === undefined) return null;
    let end = i + 1;
    while (end < tokens.length && glued(tokens, end) && end - i < MAX_PHRASE_PIECES) end++;
    return this.span(tokens, i, end);
  }

  /** The words of a context, in order. */
  private words(tokens: ContextToken[]): UnitSpan[] {
    const words: UnitSpan[] = [];
    for (let i = 0; i < tokens.length;) {
      const word = this.wordFrom(tokens, i);
      if (word) words.push(word);
      i = word ? word.end : i + 1;
    }
    return words;
  }

  /** Whether word b follows word a directly and the two belong to one name. */
  private nameLinked(a: UnitSpan, b: UnitSpan): boolean {
    return a.end === b.start && this.phraseLinks.has(`${a.text}\u0000${b.text}`);
  }

  /** Name spans (2–3 words) in a context: maximal runs of linked words. */
  private phraseSpans(tokens: ContextToken[]): UnitSpan[] {
    const words = this.words(tokens);
    const spans: UnitSpan[] = [];
    for (let j = 0; j < words.length;) {
      let k = j;
      while (k + 1 < words.length && k + 1 - j < MAX_PHRASE_WORDS && this.nameLinked(words[k], words[k + 1])) k++;
      if (k > j) spans.push(this.span(tokens, words[j].start, words[k].end));
      j = k + 1;
    }
    return spans;
  }

  /** Adjacent capitalised words that occur together in ≥ `phraseShare` of either word's uses. */
  private findPhrases(contexts: ContextToken[][]): void {
    const wordCount = new Map<string, number>();
    const pairCount = new Map<string, number>();
    for (const tokens of contexts) {
      const words = this.words(tokens);
      words.forEach((a, k) => {
        wordCount.set(a.text, (wordCount.get(a.text) ?? 0) + 1);
        const b = words[k + 1];
        if (!b || a.end !== b.start || !isCapitalised(a.text) || !isCapitalised(b.text)) return;
        const key = `${a.text}\u0000${b.text}`;
        pairCount.set(key, (pairCount.get(key) ?? 0) + 1);
      });
    }
    for (const [key, count] of pairCount) {
      if (count < this.options.phraseMinCount) continue;
      const [a, b] = key.split('\u0000');
      const share = Math.max(count / (wordCount.get(a) ?? Infinity), count / (wordCount.get(b) ?? Infinity));
      if (share >= this.options.phraseShare) this.phraseLinks.add(key);
    }
  }

  /**
   * Tokens and shorter names found inside one longer name in ≥ 90% of their contexts, and word
   * pieces that begin one word in ≥ 80% of their uses as a word start. A name's first word does not
   * count the contexts that end with it (`onlyLast`): what followed it there was cut off.
   */
  private findAbsorbed(starts: Map<string, Map<string, number>>, onlyLast: Map<string, number>): void {
    for (const [piece, words] of starts) {
      const total = [...words.values()].reduce((a, b) => a + b, 0);
      const [word, count] = [...words].sort((a, b) => b[1] - a[1])[0];
      if (word !== piece && count >= 0.8 * total) this.absorbedBy.set(piece, word);
    }
    const names = [...this.docCount.keys()].filter((unit) => unit.includes(' ')).sort((a, b) => b.length - a.length);
    for (const name of names) {
      const count = this.docCount.get(name) ?? 0;
      for (const [k, part] of name.split(' ').entries()) {
        if (this.absorbedBy.has(part)) continue;
        const uses = (this.docCount.get(part) ?? Infinity) - (k === 0 ? (onlyLast.get(part) ?? 0) : 0);
        if (count >= 0.9 * uses) this.absorbedBy.set(part, name);
      }
    }
  }
}
