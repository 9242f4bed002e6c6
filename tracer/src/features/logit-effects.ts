/**
 * A feature's direct effect on the logits, for its dashboard's top and bottom logits:
 * effect_f = s̄ · (Σ_ℓ W_dec[f, ℓ]) · diag(γ_final) · W_U, demeaned over the vocabulary like the
 * reference's logit targets (W_U[:, k] − mean_v W_U[:, v]). The decoder vectors of a cross-layer
 * transcoder are summed over their output layers (all of them reach the unembedding through the
 * residual stream). s̄ is the final norm's mean scale over the corpus (1/rms; compute.ts), so values
 * are logit changes per unit of activation; attention is ignored: this is the direct path only, as
 * in the reference's dashboards (whose order of tokens s̄ does not change). Special tokens (BOS,
 * EOS, PAD, ...) are left out.
 * Computed in ONNX Runtime in chunks of features, with TopK in the graph.
 */
import type { ReplacementModel } from '../model/replacement-model.js';
import { weightValues } from '../model/architecture.js';
import { GraphBuilder } from '../onnx/graph-builder.js';
import { GraphSession } from '../onnx/session.js';

/** Features per ONNX run: [chunk, V] scores stay small (512 × 50k floats ≈ 100 MB). */
const CHUNK = 512;

export interface LogitEffects {
  /** Per feature of the request: the k token ids and demeaned effects, largest first. */
  top: { ids: number[]; values: number[] }[];
  /** The k most negative, most negative first. */
  bottom: { ids: number[]; values: number[] }[];
}

export class LogitEffectsGraph {
  private constructor(
    private readonly session: GraphSession,
    private readonly model: ReplacementModel,
    private readonly k: number,
  ) {}

  static async create(model: ReplacementModel, finalNormScale = 1, k = 10): Promise<LogitEffectsGraph> {
    const { dModel: d, vocabSize: V } = model;
    const unembedRows = weightValues(await model.weights.unembedRows.readAll()); // W_Uᵀ [V, d], read from the checkpoint
    const gamma = model.weights.lnFinal.gamma;
    const scaled = new Float32Array(d * V);
    for (let i = 0; i < d; i++) {
      const g = gamma[i] * finalNormScale;
      for (let v = 0; v < V; v++) scaled[i * V + v] = g * unembedRows[v * d + i];
    }
    const special = new Float32Array(V);
    for (const id of model.tokenizer.specialIds) if (id < V) special[id] = 1e30;
    const negSpecial = special.map((x) => -x);
    const kept = Math.min(k, V);
    const g = new GraphBuilder('logit_effects');
    const decoder = g.input('decoder', 'float32', ['C', d]);
    const logits = g.matmul(decoder, g.weight('W_U_scaled', scaled, [d, V])); // [C, V]
    const effect = g.sub(logits, g.reduceMean(logits, [1])); // demeaned
    const K = g.ints([kept]);
    const [topValues, topIds] = g.opMulti(
      'TopK',
      [g.add(effect, g.weight('mask_top', negSpecial, [V])), K],
      { axis: 1, largest: 1 },
      2,
    );
    const [bottomValues, bottomIds] = g.opMulti(
      'TopK',
      [g.add(effect, g.weight('mask_bottom', special, [V])), K],
      { axis: 1, largest: 0 },
      2,
    );
    g.output(topValues, 'top_values', 'float32', ['C', kept]);
    g.output(topIds, 'top_ids', 'int64', ['C', kept]);
    g.output(bottomValues, 'bottom_values', 'float32', ['C', kept]);
    g.output(bottomIds, 'bottom_ids', 'int64', ['C', kept]);
    const session = await GraphSession.create('logit_effects', g.build(), model.executionProvider);
    return new LogitEffectsGraph(session, model, kept);
  }

  /** Top and bottom logits of the given features of `layer`. */
  async effects(layer: number, features: number[]): Promise<LogitEffects> {
    const { dModel: d } = this.model;
    const t = this.model.transcoders.layers[layer];
    const out: LogitEffects = { top: [], bottom: [] };
    for (let c0 = 0; c0 < features.length; c0 += CHUNK) {
      const chunk = features.slice(c0, c0 + CHUNK);
      const decoder = new Float32Array(chunk.length * d); // [C, d]: Σ over output layers
      chunk.forEach((f, row) => {
        const decoderRow = t.wDec.row(f); // [nOutputLayers · d]
        for (let o = 0; o < t.nOutputLayers; o++) {
          for (let i = 0; i < d; i++) decoder[row * d + i] += decoderRow[o * d + i];
        }
      });
      const result = await this.session.run({ decoder: { data: decoder, dims: [chunk.length, d] } });
      const rows = (values: Float32Array, ids: ArrayLike<bigint | number>) =>
        chunk.map((_, row) => ({
          ids: Array.from({ length: this.k }, (_, j) => Number(ids[row * this.k + j])),
          values: Array.from(values.subarray(row * this.k, (row + 1) * this.k)),
        }));
      out.top.push(...rows(result.top_values.data, result.top_ids.data as unknown as BigInt64Array));
      out.bottom.push(...rows(result.bottom_values.data, result.bottom_ids.data as unknown as BigInt64Array));
    }
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
