/**
 * Models and transcoders by repo id from a local Hugging Face cache, offline. The test lays out a
 * real cache (`models--org--name/{refs,blobs,snapshots}`, snapshot files linked into blobs/) holding
 * the gemma2-tiny fixture as a model repo, its transcoders in GemmaScope's native layout (params.npz)
 * as a google/gemma-scope-style repo, and a circuit-tracer config.yaml whose transcoders are hf:// URIs.
 */
import { copyFileSync, mkdtempSync, readlinkSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attribute, loadReplacementModel, ModelFormatError } from '../src/index.js';
import { hubCacheDir, parseHfUri, resolveHfUri, resolveModelArgument } from '../src/io/hf-cache.js';
import { describeModel } from '../src/model/replacement-model.js';
import { fixtureModel } from './engine-fixtures.js';
import {
  buildHubCache,
  CACHE_COMMIT as COMMIT,
  CONFIG_REPO,
  CONFIG2_REPO,
  gemmaScopeFiles as scopeFiles,
  MODEL_REPO,
  SCOPE_REPO,
} from './fixtures/hf-cache-fixture.js';

const PROMPT = 'The capital of Texas is';

describe('the local Hugging Face cache', () => {
  let cache: string;
  const saved = { HF_HUB_CACHE: process.env.HF_HUB_CACHE, HF_HOME: process.env.HF_HOME };

  beforeAll(() => {
    cache = mkdtempSync(path.join(os.tmpdir(), 'hf-cache-'));
    buildHubCache(cache);
    process.env.HF_HUB_CACHE = cache;
  });

  afterAll(() => {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    rmSync(cache, { recursive: true, force: true });
  });

  it('finds the cache as huggingface_hub does: HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub', () => {
    expect(hubCacheDir({ HF_HUB_CACHE: '/a', HF_HOME: '/b' })).toBe('/a');
    expect(hubCacheDir({ HF_HOME: '/b' })).toBe('/b/hub');
    expect(hubCacheDir({})).toBe(path.join(os.homedir(), '.cache', 'huggingface', 'hub'));
  });

  it('parses hf:// URIs with and without a revision', () => {
    expect(parseHfUri('hf://google/gemma-scope-2b-pt-transcoders/layer_0/width_16k/average_l0_76/params.npz')).toEqual({
      repoId: 'google/gemma-scope-2b-pt-transcoders',
      file: 'layer_0/width_16k/average_l0_76/params.npz',
      revision: 'main',
    });
    expect(parseHfUri('hf://mntss/clt/layer_1.safetensors?revision=v2').revision).toBe('v2');
    expect(() => parseHfUri('hf://justonepart')).toThrow(ModelFormatError);
  });

  it('resolves a repo id to its snapshot through refs/main, by commit hash, and leaves local paths alone', () => {
    const snapshot = path.join(cache, 'models--circuit-atlas--gemma2-tiny', 'snapshots', COMMIT);
    expect(resolveModelArgument(MODEL_REPO)).toBe(snapshot);
    expect(resolveModelArgument(`${MODEL_REPO}@${COMMIT}`)).toBe(snapshot);
    expect(resolveModelArgument(fixtureModel('gemma2-tiny'))).toBe(fixtureModel('gemma2-tiny'));
  });

  it('loads the model by repo id and GemmaScope params.npz transcoders through an hf:// config.yaml; the graph equals the local safetensors set', async () => {
    const fromCache = await loadReplacementModel(MODEL_REPO, { transcodersDir: CONFIG_REPO });
    const local = await loadReplacementModel(fixtureModel('gemma2-tiny'));
    try {
      expect(fromCache.name).toBe(MODEL_REPO);
      expect(fromCache.transcoders.nFeatures).toBe(local.transcoders.nFeatures);
      expect(fromCache.transcoders.activation).toBe('jump_relu');
      const a = await attribute(fromCache, PROMPT, { batchSize: 64 });
      const b = await attribute(local, PROMPT, { batchSize: 64 });
      expect(Array.from(a.activeFeatures)).toEqual(Array.from(b.activeFeatures));
      expect(Array.from(a.adjacency.colIdx)).toEqual(Array.from(b.adjacency.colIdx));
      const values = Array.from(a.adjacency.values);
      Array.from(b.adjacency.values).forEach((v, i) => expect(values[i]).toBeCloseTo(v, 5));
      expect(a.adjacency.values.length).toBeGreaterThan(100);
    } finally {
      await fromCache.dispose();
      await local.dispose();
    }
  });

  it('loads GemmaScope-2 params.safetensors (w_enc [d, d_sae], affine_skip_connection) for Gemma-3; the graph equals the circuit-tracer-layout set', async () => {
    const fromCache = await loadReplacementModel(fixtureModel('gemma3-tiny'), { transcodersDir: CONFIG2_REPO });
    const local = await loadReplacementModel(fixtureModel('gemma3-tiny'));
    try {
      expect(fromCache.transcoders.layers.every((l) => l.skip !== null)).toBe(true);
      const a = await attribute(fromCache, PROMPT, { batchSize: 64 });
      const b = await attribute(local, PROMPT, { batchSize: 64 });
      expect(Array.from(a.activeFeatures)).toEqual(Array.from(b.activeFeatures));
      expect(Array.from(a.adjacency.colIdx)).toEqual(Array.from(b.adjacency.colIdx));
      const values = Array.from(a.adjacency.values);
      Array.from(b.adjacency.values).forEach((v, i) => expect(values[i]).toBeCloseTo(v, 5));
    } finally {
      await fromCache.dispose();
      await local.dispose();
    }
  });

  it('describes a cached model without loading it (features from the first params.npz)', async () => {
    const description = await describeModel(MODEL_REPO, CONFIG_REPO);
    expect(description.name).toBe(MODEL_REPO);
    expect(description.nFeatures).toBe(96);
  });

  it('a repo that is not cached is an error naming it and the download command', async () => {
    const error = await loadReplacementModel('google/gemma-2-2b').catch((e) => e);
    expect(error).toBeInstanceOf(ModelFormatError);
    expect(error.message).toContain('google/gemma-2-2b is not in the Hugging Face cache');
    expect(error.message).toContain('huggingface-cli download google/gemma-2-2b');
  });

  it('a missing revision or a transcoder file whose blob was never downloaded is an error naming the file', async () => {
    expect(() => resolveModelArgument(`${MODEL_REPO}@v9`)).toThrow(/revision 'v9' of circuit-atlas\/gemma2-tiny/);
    const layer = scopeFiles()[1];
    const uri = `hf://${SCOPE_REPO}/${layer}`;
    const link = resolveHfUri(uri);
    const blob = path.resolve(path.dirname(link), readlinkSync(link));
    const kept = `${blob}.kept`;
    copyFileSync(blob, kept);
    rmSync(blob);
    try {
      const error = await loadReplacementModel(MODEL_REPO, { transcodersDir: CONFIG_REPO }).catch((e) => e);
      expect(error).toBeInstanceOf(ModelFormatError);
      expect(error.message).toContain(`${SCOPE_REPO} has no '${layer}'`);
      expect(error.message).toContain(`huggingface-cli download ${SCOPE_REPO} ${layer}`);
    } finally {
      copyFileSync(kept, blob);
      rmSync(kept);
    }
  });
});
