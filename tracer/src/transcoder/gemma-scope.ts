/**
 * GemmaScope (Gemma-2) and GemmaScope-2 (Gemma-3) per-layer transcoders in their native layouts.
 * GemmaScope (google/gemma-scope-2b-pt-transcoders,
 * `layer_{i}/width_{w}/average_l0_{n}/params.npz`), as circuit-tracer's gemma-scope loader reads them:
 *   W_enc [d_model, d_sae]  (transposed relative to circuit-tracer's safetensors layout)
 *   W_dec [d_sae, d_model], b_enc [d_sae], b_dec [d_model], threshold [d_sae]  (JumpReLU)
 * The transposed encoders are held in memory as float32 (their rows are columns on disk); an .npz's
 * decoder too (its arrays may be compressed). GemmaScope-2 decoders are read from the file on demand.
 */
import { ModelFormatError } from '../errors.js';
import { NpzFile } from '../io/npz.js';
import { checkShape, memoryRows, type SafetensorsFile } from '../io/safetensors.js';
import { transpose } from '../model/architecture.js';
import type { TranscoderLayer } from './transcoder-set.js';

/** One GemmaScope layer; `nFeatures` from the first layer read, null for that first one. */
export async function loadGemmaScopeLayer(
  file: string,
  dModel: number,
  nFeatures: number | null,
): Promise<{ layer: TranscoderLayer; nFeatures: number }> {
  const npz = await NpzFile.open(file);
  try {
    for (const name of ['W_enc', 'W_dec', 'b_enc', 'b_dec', 'threshold']) {
      if (!npz.has(name)) {
        throw new ModelFormatError(
          `GemmaScope params.npz needs arrays W_enc, W_dec, b_enc, b_dec and threshold; '${name}' is missing`,
          file,
        );
      }
    }
    const bEnc = await npz.read('b_enc');
    if (bEnc.shape.length !== 1 || bEnc.shape[0] < 1) {
      throw new ModelFormatError(`array 'b_enc' has shape [${bEnc.shape.join(', ')}]; it must be [d_sae]`, file);
    }
    const F = nFeatures ?? bEnc.shape[0];
    if (bEnc.shape[0] !== F) {
      throw new ModelFormatError(`array 'b_enc' has ${bEnc.shape[0]} features, the first layer has ${F}`, file);
    }
    const wEnc = await npz.read('W_enc', [dModel, F]); // [d, F]
    return {
      nFeatures: F,
      layer: {
        wEnc: memoryRows(transpose(wEnc.data, dModel, F), dModel), // → [F, d]
        bEnc: bEnc.data,
        threshold: (await npz.read('threshold', [F])).data,
        wDec: memoryRows((await npz.read('W_dec', [F, dModel])).data, dModel),
        nOutputLayers: 1,
        bDec: (await npz.read('b_dec', [dModel])).data,
        skip: null,
      },
    };
  } finally {
    await npz.close();
  }
}

/**
 * One GemmaScope-2 layer (Gemma-3; circuit-tracer's gemma-scope-2 loader): `params.safetensors` with
 * lowercase w_enc [d_model, d_sae] (transposed), w_dec [d_sae, d_model], b_enc, b_dec, threshold and
 * an optional affine_skip_connection [d_model, d_model] applied as x · affine (= x · W_skipᵀ).
 */
export async function loadGemmaScope2Layer(
  st: SafetensorsFile,
  dModel: number,
  nFeatures: number | null,
): Promise<{ layer: TranscoderLayer; nFeatures: number }> {
  for (const name of ['w_enc', 'w_dec', 'b_enc', 'b_dec', 'threshold']) {
    if (!st.has(name)) {
      throw new ModelFormatError(
        `GemmaScope-2 params.safetensors needs tensors w_enc, w_dec, b_enc, b_dec and threshold; '${name}' is missing`,
        st.file,
      );
    }
  }
  const bEncShape = st.shape('b_enc');
  if (bEncShape.length !== 1 || bEncShape[0] < 1) {
    throw new ModelFormatError(`tensor 'b_enc' has shape [${bEncShape.join(', ')}]; it must be [d_sae]`, st.file);
  }
  const F = nFeatures ?? bEncShape[0];
  // Shapes are checked from the header before any data is read.
  const want = async (name: string, shape: number[]) => {
    checkShape(name, st.shape(name), shape, st.file);
    return (await st.read(name)).data;
  };
  const bEnc = await want('b_enc', [F]);
  const wEnc = await want('w_enc', [dModel, F]);
  return {
    nFeatures: F,
    layer: {
      wEnc: memoryRows(transpose(wEnc, dModel, F), dModel), // → [F, d]
      bEnc,
      threshold: await want('threshold', [F]),
      wDec: (checkShape('w_dec', st.shape('w_dec'), [F, dModel], st.file), st.rows('w_dec')),
      nOutputLayers: 1,
      bDec: await want('b_dec', [dModel]),
      skip: st.has('affine_skip_connection') ? await want('affine_skip_connection', [dModel, dModel]) : null,
    },
  };
}
