/**
 * Phase 1 of attribution ("forward with caches"): one clean forward pass of the model on the
 * prompt, the transcoders' active features, the error vectors and the read-out vectors that the
 * backward contracts with. The AttributionContext is plain data shared by the row computation,
 * interventions and the edge checks.
 */
import { ModelFormatError } from '../errors.js';
import {
  encodeLayer,
  runForward,
  tokenVectors,
  type FrozenState,
  type ReplacementModel,
} from '../model/replacement-model.js';

export interface AttributionContext {
  tokenIds: number[];
  nPos: number;
  /** Clean-run attention patterns and norm denominators (frozen in the replacement model). */
  frozen: FrozenState;
  /** Transcoder input x_ℓ per layer. [T, d] */
  mlpIn: Float32Array[];
  /** True MLP output y_ℓ per layer. [T, d] */
  mlpOut: Float32Array[];
  /** Error e_ℓ = y_ℓ − ŷ_ℓ per layer (position 0 zeroed). [T, d] */
  errors: Float32Array[];
  /** Token embedding rows W_E[tok_p]. [T, d] */
  tokenVectors: Float32Array;
  /** Final-norm output and logits of the clean run. [T, d], [T, V] */
  unembedIn: Float32Array;
  logits: Float32Array;
  /** Active features (layer, pos, feature), sorted; position 0 excluded. [nActive · 3] */
  activeFeatures: Int32Array;
  activations: Float32Array; // [nActive]
  /** Per output layer ℓ: the scaled decoder vectors a_s · W_dec,s writing into ℓ and their columns. */
  readouts: Readout[];
}

/**
 * The decoder vectors writing into one output layer, laid out as the backward reads them:
 * by position, then dimension, then slot (zero-padded to the busiest position's count), so the
 * first T positions are a prefix. Vector of slot k at position p: vecs[(p·d + i)·slots + k].
 */
export interface Readout {
  vecs: Float32Array; // [T, d, slots]
  slots: number;
  /** activeAt[p][k]: the active feature (column) read by slot k at position p, ascending. */
  activeAt: Int32Array[];
}

/** Runs the clean forward pass, encodes every layer and builds the read-outs. */
export async function setupAttribution(model: ReplacementModel, tokenIds: number[]): Promise<AttributionContext> {
  const T = tokenIds.length;
  const { dModel: d, nLayers: L, nFeatures: F } = model;
  const forward = await runForward(model, tokenIds);
  const tc = model.transcoders;
  const triples: number[] = [];
  const activations: number[] = [];
  const skips: (Float32Array | null)[] = [];
  for (let layer = 0; layer < L; layer++) {
    const { acts, skip } = await encodeLayer(model, layer, forward.mlpIn[layer], 1, T);
    skips.push(skip);
    // Position 0 (BOS) is zeroed, as the reference does: its features are artifacts of the first position.
    for (let pos = 1; pos < T; pos++) {
      for (let f = 0; f < F; f++) {
        const a = acts[pos * F + f];
        if (a !== 0) {
          if (!Number.isFinite(a))
            throw new ModelFormatError(`transcoder layer ${layer} produced a non-finite activation; check its weights`);
          triples.push(layer, pos, f);
          activations.push(a);
        }
      }
    }
  }
  const activeFeatures = Int32Array.from(triples);
  const nActive = activations.length;

  // Reconstruction ŷ_ℓ = Σ a · W_dec (+ b_dec + skip) and the read-outs of each output layer.
  const recon = Array.from({ length: L }, (_, layer) => {
    const r = new Float32Array(T * d);
    const bDec = tc.layers[layer].bDec;
    for (let p = 0; p < T; p++) for (let i = 0; i < d; i++) r[p * d + i] = bDec[i] + (skips[layer]?.[p * d + i] ?? 0);
    return r;
  });
  // Read-outs written once, straight into the backward's layout (no per-feature arrays and no
  // second copy: a long prompt has about a million active features, each a d-vector).
  const perPosition = Array.from({ length: L }, () => new Int32Array(T)); // [out layer][pos]: vectors
  for (let s = 0; s < nActive; s++) {
    const [layer, pos] = [activeFeatures[3 * s], activeFeatures[3 * s + 1]];
    for (let out = 0; out < tc.layers[layer].nOutputLayers; out++) perPosition[layer + out][pos]++;
  }
  const readouts: Readout[] = perPosition.map((counts) => {
    const slots = Math.max(1, ...counts); // at least one (zero) slot
    return {
      vecs: new Float32Array(T * d * slots),
      slots,
      activeAt: Array.from(counts, (count) => new Int32Array(count)),
    };
  });
  const filled = Array.from({ length: L }, () => new Int32Array(T));
  for (let s = 0; s < nActive; s++) {
    const [layer, pos, f] = [activeFeatures[3 * s], activeFeatures[3 * s + 1], activeFeatures[3 * s + 2]];
    const t = tc.layers[layer];
    const decoderRow = t.wDec.row(f); // [nOutputLayers · d], read from the transcoder file
    for (let out = 0; out < t.nOutputLayers; out++) {
      const { vecs, slots, activeAt } = readouts[layer + out];
      const slot = filled[layer + out][pos]++;
      activeAt[pos][slot] = s;
      const base = out * d;
      const target = recon[layer + out];
      for (let i = 0; i < d; i++) {
        const v = Math.fround(activations[s] * decoderRow[base + i]); // stored as float32, summed as stored
        vecs[(pos * d + i) * slots + slot] = v;
        target[pos * d + i] += v;
      }
    }
  }
  const errors = forward.mlpOut.map((y, layer) => {
    const e = new Float32Array(T * d);
    for (let i = d; i < T * d; i++) e[i] = y[i] - recon[layer][i]; // position 0 stays zero
    return e;
  });
  return {
    tokenIds,
    nPos: T,
    frozen: forward.frozen,
    mlpIn: forward.mlpIn,
    mlpOut: forward.mlpOut,
    errors,
    tokenVectors: tokenVectors(model, tokenIds),
    unembedIn: forward.unembedIn,
    logits: forward.logits,
    activeFeatures,
    activations: Float32Array.from(activations),
    readouts,
  };
}
