/**
 * GemmaScope per-layer transcoders in their native layout (google/gemma-scope-2b-pt-transcoders,
 * `layer_{i}/width_{w}/average_l0_{n}/params.npz`), as circuit-tracer's gemma-scope loader reads them:
 *   W_enc [d_model, d_sae]  (transposed relative to circuit-tracer's safetensors layout)
 *   W_dec [d_sae, d_model], b_enc [d_sae], b_dec [d_model], threshold [d_sae]  (JumpReLU)
 */
import { ModelFormatError } from '../errors.js';
import { NpzFile } from '../io/npz.js';
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
        wEnc: transpose(wEnc.data, dModel, F), // → [F, d]
        bEnc: bEnc.data,
        threshold: (await npz.read('threshold', [F])).data,
        wDec: (await npz.read('W_dec', [F, dModel])).data,
        nOutputLayers: 1,
        bDec: (await npz.read('b_dec', [dModel])).data,
        skip: null,
      },
    };
  } finally {
    await npz.close();
  }
}
