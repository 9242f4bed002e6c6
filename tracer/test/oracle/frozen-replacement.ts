/**
 * The frozen replacement model as a forward pass (REFERENCE.md, "Interventions", all layers
 * constrained): attention patterns and norm denominators frozen at the clean run, every MLP output
 * replaced by its transcoder reconstruction plus the constant error, features held at their clean
 * activations. Removing a source here changes each target by exactly its edge weight — this is the
 * independent check of the attribution backward (it shares no code with backward-graph.ts).
 */
import type { AttributionContext } from '../../src/attribution/context.js';
import { encodeLayer, embed, runForward, type ReplacementModel } from '../../src/model/replacement-model.js';

/** A source removed from the frozen replacement model. */
export type SourceRemoval =
  | { kind: 'feature'; active: number } // index into ctx.activeFeatures
  | { kind: 'error'; layer: number; pos: number }
  | { kind: 'token'; pos: number }
  | { kind: 'none' };

export interface FrozenRun {
  n: number;
  /** Transcoder inputs x_ℓ of every run. per layer [N, T, d] */
  mlpIn: Float32Array[];
  /** Final-norm outputs h. [N, T, d] */
  unembedIn: Float32Array;
}

/** Runs one frozen replacement forward per removal, batched. */
export async function runFrozenReplacement(
  model: ReplacementModel,
  ctx: AttributionContext,
  removals: SourceRemoval[],
): Promise<FrozenRun> {
  const N = removals.length;
  const T = ctx.nPos;
  const d = model.dModel;
  const base = embed(model, ctx.tokenIds);
  const resid = new Float32Array(N * T * d);
  removals.forEach((r, n) => {
    resid.set(base, n * T * d);
    if (r.kind === 'token')
      for (let i = 0; i < d; i++) resid[(n * T + r.pos) * d + i] -= ctx.tokenVectors[r.pos * d + i];
  });
  // Clean skip terms, so that mlp_out = y_clean − skip(x_clean) + skip(x) (the reference's `skip + (y − skip).detach()`).
  const cleanSkip: (Float32Array | null)[] = [];
  for (let layer = 0; layer < model.nLayers; layer++)
    cleanSkip.push((await encodeLayer(model, layer, ctx.mlpIn[layer], 1, T)).skip);
  const forward = await runForward(model, ctx.tokenIds, {
    residPre: { data: resid, n: N },
    frozen: { state: ctx.frozen, patterns: true, scales: true },
    mlpOut: async (layer, mlpIn) => {
      const out = new Float32Array(N * T * d);
      const skip = cleanSkip[layer] ? (await encodeLayer(model, layer, mlpIn.data, N, T)).skip! : null;
      for (let n = 0; n < N; n++) {
        for (let i = 0; i < T * d; i++) {
          out[n * T * d + i] = ctx.mlpOut[layer][i] + (skip ? skip[n * T * d + i] - cleanSkip[layer]![i] : 0);
        }
      }
      removals.forEach((r, n) => {
        if (r.kind === 'error' && r.layer === layer) {
          for (let i = 0; i < d; i++) out[(n * T + r.pos) * d + i] -= ctx.errors[layer][r.pos * d + i];
        } else if (r.kind === 'feature') {
          // The feature's decoder output into this layer, a_s · W_dec,s (CLTs write to every later layer).
          const { vecs, slots, activeAt } = ctx.readouts[layer];
          activeAt.forEach((columns, pos) =>
            columns.forEach((active, slot) => {
              if (active !== r.active) return;
              for (let i = 0; i < d; i++) out[(n * T + pos) * d + i] -= vecs[(pos * d + i) * slots + slot];
            }),
          );
        }
      });
      return out;
    },
  });
  return { n: N, mlpIn: forward.mlpIn, unembedIn: forward.unembedIn };
}

/** Pre-activation (bias excluded) of feature f at (layer, pos) in run n: W_enc[f] · x_ℓ[pos]. */
export function featurePreActivation(
  model: ReplacementModel,
  run: FrozenRun,
  n: number,
  layer: number,
  pos: number,
  f: number,
  nPos: number,
): number {
  const d = model.dModel;
  const w = model.transcoders.layers[layer].wEnc.row(f);
  const x = run.mlpIn[layer];
  let sum = 0;
  for (let i = 0; i < d; i++) sum += w[i] * x[(n * nPos + pos) * d + i];
  return sum;
}

/** Demeaned logit of the direction `vector` at the last position in run n. */
export function demeanedLogit(
  model: ReplacementModel,
  run: FrozenRun,
  n: number,
  vector: Float32Array,
  nPos: number,
): number {
  const d = model.dModel;
  let sum = 0;
  for (let i = 0; i < d; i++) sum += vector[i] * run.unembedIn[(n * nPos + nPos - 1) * d + i];
  return sum;
}
