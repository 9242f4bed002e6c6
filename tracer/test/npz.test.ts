/**
 * The .npz reader on GemmaScope-layout files that numpy wrote (training/make_test_models.py: layer 0
 * with np.savez_compressed, the others with np.savez), and on damaged copies of them.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ModelFormatError } from '../src/index.js';
import { NpzFile } from '../src/io/npz.js';
import { SafetensorsFile } from '../src/io/safetensors.js';
import { loadGemmaScopeLayer } from '../src/transcoder/gemma-scope.js';
import { fixtureModel } from './engine-fixtures.js';

const root = path.join(fixtureModel('gemma2-tiny'), 'gemma-scope');
const paramsOf = (layer: number) => {
  const file = readdirSync(root, { recursive: true })
    .map(String)
    .find((f) => f.startsWith(`layer_${layer}/`) && f.endsWith('params.npz'));
  return path.join(root, file!);
};
const scratch = mkdtempSync(path.join(os.tmpdir(), 'npz-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A copy of a params.npz with its bytes changed by `edit`. */
function damaged(name: string, edit: (bytes: Buffer) => Buffer): string {
  const file = path.join(scratch, name);
  writeFileSync(file, edit(readFileSync(paramsOf(1))));
  return file;
}

describe('NumPy .npz archives', () => {
  it('reads deflated (savez_compressed) and stored (savez) archives; GemmaScope W_enc [d, d_sae] is transposed to circuit-tracer layout', async () => {
    for (const layer of [0, 1]) {
      const st = await SafetensorsFile.open(
        path.join(fixtureModel('gemma2-tiny'), 'transcoders', `layer_${layer}.safetensors`),
      );
      const [F, d] = st.shape('W_enc');
      const { layer: loaded, nFeatures } = await loadGemmaScopeLayer(paramsOf(layer), d, null);
      expect(nFeatures).toBe(F);
      expect(await loaded.wEnc.readAll()).toEqual((await st.read('W_enc')).data);
      expect(await loaded.wDec.readAll()).toEqual((await st.read('W_dec')).data);
      expect(loaded.threshold).toEqual((await st.read('activation_function.threshold')).data);
      expect(loaded.bEnc).toEqual((await st.read('b_enc')).data);
      expect(loaded.bDec).toEqual((await st.read('b_dec')).data);
    }
  });

  it('names the arrays and checks an expected shape', async () => {
    const npz = await NpzFile.open(paramsOf(1));
    try {
      expect(npz.names().sort()).toEqual(['W_dec', 'W_enc', 'b_dec', 'b_enc', 'threshold']);
      await expect(npz.read('W_enc', [3, 3])).rejects.toThrow(/array 'W_enc' has shape \[64, 96\], expected \[3, 3\]/);
      await expect(npz.read('W_skip')).rejects.toThrow(/array 'W_skip' is missing/);
    } finally {
      await npz.close();
    }
  });

  it('refuses damaged archives with a message naming the file and the problem', async () => {
    const cases: [string, (b: Buffer) => Buffer, RegExp][] = [
      ['truncated.npz', (b) => b.subarray(0, b.length - 200), /not a valid \.npz archive/],
      ['not-zip.npz', () => Buffer.from('just text, not a zip archive at all'), /no end-of-central-directory record/],
      ['big-endian.npz', (b) => replaceFirst(b, "'descr': '<f4'", "'descr': '>f4'"), /dtype '>f4' is not supported/],
      ['fortran.npz', (b) => replaceFirst(b, "'fortran_order': False", "'fortran_order': True "), /Fortran order/],
      [
        'wrong-shape.npz',
        (b) => replaceFirst(b, "'shape': (64, 96)", "'shape': (64, 97)"),
        /has shape \[64, 97\] of <f4/,
      ],
    ];
    for (const [name, edit, message] of cases) {
      const file = damaged(name, edit);
      const error = await (async () => {
        const npz = await NpzFile.open(file);
        try {
          for (const array of npz.names()) await npz.read(array);
        } finally {
          await npz.close();
        }
      })().catch((e) => e);
      expect(error, name).toBeInstanceOf(ModelFormatError);
      expect(error.message, name).toMatch(message);
      expect(error.message, name).toContain(file);
    }
  });

  it('a GemmaScope archive without threshold is refused, naming the array', async () => {
    const file = damaged('no-threshold.npz', (b) => replaceFirst(b, 'threshold.npy', 'thresholX.npy', true));
    await expect(loadGemmaScopeLayer(file, 64, null)).rejects.toThrow(/'threshold' is missing/);
  });
});

/** Replaces the first (or every) occurrence of an equally long string in the raw bytes. */
function replaceFirst(bytes: Buffer, from: string, to: string, all = false): Buffer {
  expect(to.length).toBe(from.length);
  const out = Buffer.from(bytes);
  let at = out.indexOf(from, 0, 'latin1');
  expect(at).toBeGreaterThanOrEqual(0);
  while (at >= 0) {
    out.write(to, at, 'latin1');
    if (!all) break;
    at = out.indexOf(from, at + 1, 'latin1');
  }
  return out;
}
