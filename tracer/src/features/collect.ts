/**
 * Per-layer statistics of transcoder activations over a corpus, in memory that does not grow with
 * the corpus: for every feature a bounded min-heap of its top contexts (by the context's maximum
 * activation), a reservoir of examples per activation band, a histogram, min/max and the count of
 * active positions. All state lives in flat typed arrays indexed by feature (no object per feature).
 *
 * Bands and histogram bins divide a per-feature range [0, M) with M a power of two above every
 * activation seen so far; when a larger activation arrives M doubles and neighbouring bins/bands
 * merge pairwise, so both stay exact summaries without knowing the maximum in advance.
 * Positions 0 (the BOS token every context starts with) are not counted, as in the reference,
 * which zeroes features at position 0.
 */
import { seededRandom } from '@circuit-atlas/schema';
import type { ContextBatch } from './corpus.js';

/**
 * The active (> 0) entries of a batch's activations [N, T, F], in row-major order (by context, then
 * position, then feature): what the encoder graph's NonZero returns, so JS never walks N·T·F values.
 */
export interface SparseActivations {
  context: Int32Array;
  position: Int32Array;
  feature: Int32Array;
  value: Float32Array;
}

/** The active entries of dense activations [N, T, F] (the TopK path, and tests). */
export function sparseOf(acts: Float32Array, T: number, F: number): SparseActivations {
  let count = 0;
  for (let i = 0; i < acts.length; i++) if (acts[i] > 0) count++;
  const out: SparseActivations = {
    context: new Int32Array(count),
    position: new Int32Array(count),
    feature: new Int32Array(count),
    value: new Float32Array(count),
  };
  let e = 0;
  for (let i = 0; i < acts.length; i++) {
    if (!(acts[i] > 0)) continue;
    const row = Math.floor(i / F);
    out.context[e] = Math.floor(row / T);
    out.position[e] = row % T;
    out.feature[e] = i % F;
    out.value[e++] = acts[i];
  }
  return out;
}

/** Token ids of the contexts some kept example points into, shared by every layer of a pass. */
export class ContextStore {
  private readonly contexts = new Map<number, { tokenIds: Int32Array; refs: number }>();

  retain(id: number, tokenIds: Int32Array): void {
    const held = this.contexts.get(id);
    if (held) held.refs++;
    else this.contexts.set(id, { tokenIds, refs: 1 });
  }

  release(id: number): void {
    const held = this.contexts.get(id)!;
    if (--held.refs === 0) this.contexts.delete(id);
  }

  tokenIds(id: number): Int32Array {
    return this.contexts.get(id)!.tokenIds;
  }

  get size(): number {
    return this.contexts.size;
  }
}

export interface CollectorOptions {
  nFeatures: number;
  /** Top contexts kept per feature. */
  topK: number;
  /** Tokens shown around the activating position in an example. */
  exampleWindow: number;
  /** Activation bands of [0, M) sampled for the quantile examples (a power of two). */
  bands: number;
  /** Examples kept per band (a uniform reservoir sample of the band's positions). */
  perBand: number;
  /** Internal histogram bins of [0, M) (a power of two). */
  histogramBins: number;
  /** Seed of the reservoirs' random numbers: same corpus and seed, same examples. */
  seed: number;
}

export const DEFAULT_COLLECTOR_OPTIONS = {
  topK: 10,
  exampleWindow: 16,
  bands: 8,
  perBand: 2,
  histogramBins: 64,
} as const;

/** One kept example: where it is and the feature's activations over its window. */
export interface CollectedExample {
  activation: number;
  contextId: number;
  /** Position of the activating token in its context (BOS = 0). */
  position: number;
  /** First context position of the window. */
  windowStart: number;
  /** The feature's activation at each window position (0 at BOS). */
  windowActs: Float32Array;
  tokenIds: Int32Array;
}

/** What one feature's dashboard is made from, after the corpus has been read. */
export interface FeatureSummary {
  feature: number;
  activeCount: number;
  positions: number;
  actMin: number;
  actMax: number;
  top: CollectedExample[];
  /** Non-empty bands, highest first: [lo, hi) and their sampled examples. */
  bands: { lo: number; hi: number; examples: CollectedExample[] }[];
  /** Counts of the internal histogram over [0, rangeTop). */
  histogram: Uint32Array;
  rangeTop: number;
}

/**
 * Example storage: `capacity` slots per feature, each with its activation, context, position,
 * window start and window activations [W].
 */
class ExampleSlots {
  readonly act: Float32Array;
  readonly context: Int32Array;
  readonly position: Int32Array;
  readonly start: Int32Array;
  readonly window: Float32Array; // [F · capacity, W]

  constructor(
    nFeatures: number,
    readonly capacity: number,
    readonly width: number,
  ) {
    const n = nFeatures * capacity;
    this.act = new Float32Array(n);
    this.context = new Int32Array(n).fill(-1);
    this.position = new Int32Array(n);
    this.start = new Int32Array(n);
    this.window = new Float32Array(n * width);
  }

  example(slot: number, store: ContextStore): CollectedExample {
    const tokenIds = store.tokenIds(this.context[slot]);
    const length = Math.min(this.width, tokenIds.length);
    return {
      activation: this.act[slot],
      contextId: this.context[slot],
      position: this.position[slot],
      windowStart: this.start[slot],
      windowActs: this.window.slice(slot * this.width, slot * this.width + length),
      tokenIds,
    };
  }

  /** Moves slot `from` into slot `to` of `target` (same width); the context reference moves with it. */
  moveTo(from: number, target: ExampleSlots, to: number): void {
    target.act[to] = this.act[from];
    target.context[to] = this.context[from];
    target.position[to] = this.position[from];
    target.start[to] = this.start[from];
    target.window.set(this.window.subarray(from * this.width, (from + 1) * this.width), to * target.width);
    this.context[from] = -1;
  }
}

/** The statistics of one layer's features. */
export class LayerCollector {
  readonly layer: number;
  private readonly F: number;
  private readonly options: CollectorOptions;
  private readonly store: ContextStore;
  private readonly rand: () => number;
  /** Non-BOS positions seen. */
  positions = 0;
  private readonly activeCount: Float64Array; // [F]
  private readonly actMin: Float32Array; // [F]
  private readonly actMax: Float32Array; // [F]
  /** M: every activation of the feature so far is < M (0 before the first). */
  private readonly rangeTop: Float64Array; // [F]
  private readonly histogram: Uint32Array; // [F, histogramBins]
  private readonly top: ExampleSlots; // topK slots per feature
  private readonly heap: Uint16Array; // [F, topK]: min-heap of slot indices, by activation
  private readonly topSize: Uint16Array; // [F]
  private readonly band: ExampleSlots; // bands · perBand slots per feature
  private readonly bandCount: Float64Array; // [F, bands]: positions seen in each band
  private readonly spare: ExampleSlots; // one band's worth of slots, used while merging bands
  // Per-context scratch: the feature's maximum over the context and where it is.
  private readonly contextMax: Float32Array;
  private readonly contextArgmax: Int32Array;
  private readonly touched: Int32Array;
  // Per-context lists of each feature's active entries: the first entry, and each entry's next.
  private readonly featureHead: Int32Array;
  private nextEntry = new Int32Array(0);
  /** The context being observed (fill reads its window from it). */
  private context: { batch: ContextBatch; n: number; active: SparseActivations } | null = null;

  constructor(layer: number, store: ContextStore, options: CollectorOptions) {
    const { nFeatures: F, topK, bands, perBand, histogramBins, exampleWindow } = options;
    if (topK < 1 || topK > 65535) throw new RangeError(`topK must be in 1..65535, got ${topK}`);
    for (const [name, value] of [
      ['bands', bands],
      ['histogramBins', histogramBins],
    ] as const) {
      if (value < 2 || (value & (value - 1)) !== 0) throw new RangeError(`${name} must be a power of two ≥ 2`);
    }
    this.layer = layer;
    this.F = F;
    this.options = options;
    this.store = store;
    this.rand = seededRandom(options.seed * 1000003 + layer);
    this.activeCount = new Float64Array(F);
    this.actMin = new Float32Array(F).fill(Infinity);
    this.actMax = new Float32Array(F);
    this.rangeTop = new Float64Array(F);
    this.histogram = new Uint32Array(F * histogramBins);
    this.top = new ExampleSlots(F, topK, exampleWindow);
    this.heap = new Uint16Array(F * topK);
    this.topSize = new Uint16Array(F);
    this.band = new ExampleSlots(F, bands * perBand, exampleWindow);
    this.bandCount = new Float64Array(F * bands);
    this.spare = new ExampleSlots(1, 2 * perBand, exampleWindow);
    this.contextMax = new Float32Array(F);
    this.contextArgmax = new Int32Array(F);
    this.touched = new Int32Array(F);
    this.featureHead = new Int32Array(F).fill(-1);
  }

  /** Bytes held by the typed arrays (the collector's memory, contexts excluded). */
  get bytes(): number {
    const slots = (s: ExampleSlots) =>
      s.act.byteLength + s.context.byteLength + s.position.byteLength + s.start.byteLength + s.window.byteLength;
    return (
      this.activeCount.byteLength +
      this.actMin.byteLength +
      this.actMax.byteLength +
      this.rangeTop.byteLength +
      this.histogram.byteLength +
      slots(this.top) +
      this.heap.byteLength +
      this.topSize.byteLength +
      slots(this.band) +
      this.bandCount.byteLength +
      3 * 4 * this.F
    );
  }

  /** Adds a batch of contexts with their dense feature activations `acts` [N, T, F] (padding positions ignored). */
  observe(batch: ContextBatch, acts: Float32Array): void {
    this.observeSparse(batch, sparseOf(acts, batch.nPos, this.F));
  }

  /** Adds a batch of contexts with the active entries of their activations (padding positions ignored). */
  observeSparse(batch: ContextBatch, active: SparseActivations): void {
    const { contextMax, contextArgmax, touched, featureHead, nextEntry } = this;
    if (nextEntry.length < active.value.length) this.nextEntry = new Int32Array(active.value.length * 2);
    const entryNext = this.nextEntry;
    let e0 = 0;
    for (let n = 0; n < batch.contexts.length; n++) {
      const length = batch.contexts[n].tokenIds.length;
      let e1 = e0;
      while (e1 < active.context.length && active.context[e1] === n) e1++;
      // Each feature's entries in this context, linked (windows of examples read them).
      let nTouched = 0;
      for (let e = e1 - 1; e >= e0; e--) {
        const p = active.position[e];
        if (p === 0 || p >= length) continue; // BOS (zeroed, as in the reference) and padding
        const f = active.feature[e];
        if (featureHead[f] === -1) touched[nTouched++] = f;
        entryNext[e] = featureHead[f];
        featureHead[f] = e;
      }
      this.context = { batch, n, active };
      for (let e = e0; e < e1; e++) {
        const p = active.position[e];
        if (p === 0 || p >= length) continue;
        const f = active.feature[e];
        const a = active.value[e];
        this.observeValue(f, a, p);
        if (a > contextMax[f]) {
          contextMax[f] = a;
          contextArgmax[f] = p;
        }
      }
      this.positions += length - 1;
      for (let i = 0; i < nTouched; i++) {
        const f = touched[i];
        this.offerTop(f, contextMax[f], contextArgmax[f]);
        contextMax[f] = 0;
        featureHead[f] = -1;
      }
      e0 = e1;
    }
    this.context = null;
  }

  private observeValue(f: number, a: number, p: number): void {
    this.activeCount[f]++;
    if (a < this.actMin[f]) this.actMin[f] = a;
    if (a > this.actMax[f]) this.actMax[f] = a;
    let M = this.rangeTop[f];
    if (M === 0) {
      M = 2 ** (Math.floor(Math.log2(a)) + 1);
      this.rangeTop[f] = M;
    }
    while (a >= M) {
      this.doubleRange(f);
      M = this.rangeTop[f];
    }
    const { histogramBins: HB, bands: NB, perBand } = this.options;
    this.histogram[f * HB + Math.min(HB - 1, Math.floor((a / M) * HB))]++;
    const b = Math.min(NB - 1, Math.floor((a / M) * NB));
    const seen = ++this.bandCount[f * NB + b];
    let k: number;
    if (seen <= perBand) k = seen - 1;
    else {
      k = Math.floor(this.rand() * seen);
      if (k >= perBand) return;
    }
    this.fill(this.band, (f * NB + b) * perBand + k, f, a, p);
  }

  /** M → 2M: bins and bands (2i, 2i + 1) merge into i; a merged band keeps a uniform sample of both. */
  private doubleRange(f: number): void {
    const { histogramBins: HB, bands: NB, perBand: r } = this.options;
    const h = f * HB;
    for (let i = 0; i < HB / 2; i++) this.histogram[h + i] = this.histogram[h + 2 * i] + this.histogram[h + 2 * i + 1];
    this.histogram.fill(0, h + HB / 2, h + HB);
    const slots = this.band;
    for (let i = 0; i < NB / 2; i++) {
      const lowBand = f * NB + 2 * i;
      const counts = [this.bandCount[lowBand], this.bandCount[lowBand + 1]];
      // How many of the merged sample come from each half: sequential draws without replacement.
      const total = Math.min(r, counts[0] + counts[1]);
      const take = [0, 0];
      const left = [...counts];
      for (let t = 0; t < total; t++) {
        const side = this.rand() * (left[0] + left[1]) < left[0] ? 0 : 1;
        take[side]++;
        left[side]--;
      }
      const chosen: number[] = [];
      for (const side of [0, 1]) {
        const held = Math.min(r, counts[side]);
        const slotsOfBand = Array.from({ length: held }, (_, j) => (lowBand + side) * r + j);
        for (let j = 0; j < held; j++) {
          // Partial Fisher–Yates: the first take[side] entries become a random subset.
          const swap = j + Math.floor(this.rand() * (held - j));
          [slotsOfBand[j], slotsOfBand[swap]] = [slotsOfBand[swap], slotsOfBand[j]];
        }
        chosen.push(...slotsOfBand.slice(0, take[side]));
        for (const slot of slotsOfBand.slice(take[side])) {
          this.store.release(slots.context[slot]);
          slots.context[slot] = -1;
        }
      }
      // Park the chosen examples in a spare buffer, then move them into band i (which may be one of the two).
      chosen.forEach((slot, j) => slots.moveTo(slot, this.spare, j));
      chosen.forEach((_, j) => this.spare.moveTo(j, slots, (f * NB + i) * r + j));
      this.bandCount[f * NB + i] = counts[0] + counts[1];
    }
    for (let i = NB / 2; i < NB; i++) this.bandCount[f * NB + i] = 0;
    this.rangeTop[f] *= 2;
  }

  private offerTop(f: number, a: number, p: number): void {
    const k = this.options.topK;
    const base = f * k;
    const { heap } = this;
    const size = this.topSize[f];
    const actOf = (i: number) => this.top.act[base + heap[base + i]];
    if (size < k) {
      this.fill(this.top, base + size, f, a, p);
      heap[base + size] = size;
      this.topSize[f] = size + 1;
      // Sift up.
      let i = size;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (actOf(parent) <= actOf(i)) break;
        [heap[base + parent], heap[base + i]] = [heap[base + i], heap[base + parent]];
        i = parent;
      }
      return;
    }
    if (!(a > actOf(0))) return;
    this.fill(this.top, base + heap[base], f, a, p);
    // Sift down.
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let smallest = i;
      if (l < k && actOf(l) < actOf(smallest)) smallest = l;
      if (r < k && actOf(r) < actOf(smallest)) smallest = r;
      if (smallest === i) break;
      [heap[base + smallest], heap[base + i]] = [heap[base + i], heap[base + smallest]];
      i = smallest;
    }
  }

  /** Writes an example into `slot`: the window around position p of the context being observed. */
  private fill(slots: ExampleSlots, slot: number, f: number, a: number, p: number): void {
    const { batch, n, active } = this.context!;
    const W = slots.width;
    const context = batch.contexts[n];
    const contextLength = context.tokenIds.length;
    if (slots.context[slot] >= 0) this.store.release(slots.context[slot]);
    this.store.retain(context.id, context.tokenIds);
    const start = Math.max(0, Math.min(p - (W >> 1), contextLength - W));
    const length = Math.min(W, contextLength);
    slots.act[slot] = a;
    slots.context[slot] = context.id;
    slots.position[slot] = p;
    slots.start[slot] = start;
    const out = slot * W;
    slots.window.fill(0, out, out + length); // inactive positions and BOS are 0
    for (let e = this.featureHead[f]; e !== -1; e = this.nextEntry[e]) {
      const j = active.position[e] - start;
      if (j >= 0 && j < length) slots.window[out + j] = active.value[e];
    }
  }

  /** The summaries of every feature that was active at least once, by feature index. */
  *summaries(): Generator<FeatureSummary> {
    const { topK: k, bands: NB, perBand: r, histogramBins: HB } = this.options;
    for (let f = 0; f < this.F; f++) {
      if (this.activeCount[f] === 0) continue;
      const top: CollectedExample[] = [];
      for (let i = 0; i < this.topSize[f]; i++) top.push(this.top.example(f * k + i, this.store));
      top.sort((x, y) => y.activation - x.activation || x.contextId - y.contextId);
      const M = this.rangeTop[f];
      const bands: FeatureSummary['bands'] = [];
      for (let b = NB - 1; b >= 0; b--) {
        const held = Math.min(r, this.bandCount[f * NB + b]);
        if (held === 0) continue;
        const examples: CollectedExample[] = [];
        for (let j = 0; j < held; j++) examples.push(this.band.example((f * NB + b) * r + j, this.store));
        examples.sort((x, y) => y.activation - x.activation || x.contextId - y.contextId);
        bands.push({ lo: (M * b) / NB, hi: (M * (b + 1)) / NB, examples });
      }
      yield {
        feature: f,
        activeCount: this.activeCount[f],
        positions: this.positions,
        actMin: this.actMin[f],
        actMax: this.actMax[f],
        top,
        bands,
        histogram: this.histogram.slice(f * HB, (f + 1) * HB),
        rangeTop: M,
      };
    }
  }
}
