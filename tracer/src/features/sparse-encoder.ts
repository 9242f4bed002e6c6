/**
 * Transcoder encoders that return only the active entries: for mlp_in [N, T, d], the (context,
 * position, feature) of every activation > 0 and its value, found by NonZero inside ONNX Runtime.
 * Dashboards need nothing else, and at 16k features a dense [N, T, F] result is ~99.5% zeros that
 * would be copied out (134 MB per layer for a batch of 16 × 128) and scanned in JavaScript.
 * ReLU and JumpReLU transcoders only; TopK ones keep the model's dense encoders (compute.ts).
 */
import { transpose } from '../model/architecture.js';
import type { ReplacementModel } from '../model/replacement-model.js';
import { GraphBuilder } from '../onnx/graph-builder.js';
import { GraphSession } from '../onnx/session.js';
import type { SparseActivations } from './collect.js';

export class SparseEncoder {
  private constructor(
    private readonly session: GraphSession,
    private readonly dModel: number,
  ) {}

  /** The encoder of `layer` (reads W_enc from its file; the session holds the only copy). */
  static async create(model: ReplacementModel, layer: number): Promise<SparseEncoder> {
    const { dModel: d, nFeatures: F } = model;
    const t = model.transcoders.layers[layer];
    const g = new GraphBuilder(`sparse_encoder_${layer}`);
    const x = g.input('mlp_in', 'float32', ['N', 'T', d]);
    const wEncT = transpose(await t.wEnc.readAll(), F, d); // [d, F]
    const pre = g.add(g.matmul(x, g.weight('W_encT', wEncT, [d, F])), g.weight('b_enc', t.bEnc, [F])); // [N, T, F]
    const acts = t.threshold
      ? g.mul(pre, g.op('Cast', [g.op('Greater', [pre, g.weight('threshold', t.threshold, [F])])], { to: 1 }))
      : g.op('Relu', [pre]);
    const index = g.op('NonZero', [g.op('Greater', [acts, g.scalar(0)])]); // int64 [3, nnz], row-major order
    const value = g.op('GatherND', [acts, g.op('Transpose', [index], { perm: [1, 0] })]); // [nnz]
    // Indices as float32: exact below 2^24 (contexts, positions and features all are), and no BigInts in JS.
    g.output(g.op('Cast', [index], { to: 1 }), 'active_index', 'float32', [3, 'nnz']);
    g.output(value, 'active_value', 'float32', ['nnz']);
    const session = await GraphSession.create(`sparse_encoder_${layer}`, g.build(), model.executionProvider);
    return new SparseEncoder(session, d);
  }

  /** The active entries of mlp_in's feature activations. mlp_in [n, nPos, d] */
  async activeEntries(mlpIn: Float32Array, n: number, nPos: number): Promise<SparseActivations> {
    const out = await this.session.run({ mlp_in: { data: mlpIn, dims: [n, nPos, this.dModel] } });
    const index = out.active_index.data;
    const count = out.active_value.data.length;
    return {
      context: Int32Array.from(index.subarray(0, count)),
      position: Int32Array.from(index.subarray(count, 2 * count)),
      feature: Int32Array.from(index.subarray(2 * count, 3 * count)),
      value: out.active_value.data,
    };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
