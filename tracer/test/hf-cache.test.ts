/**
 * Models and transcoders by repo id from a local Hugging Face cache, offline. The test lays out a
 * real cache (`models--org--name/{refs,blobs,snapshots}`, snapshot files linked into blobs/) holding
 * the gemma2-tiny fixture as a model repo, its transcoders in GemmaScope's native layout (params.npz)
 * as a google/gemma-scope-style repo, and a circuit-tracer config.yaml whose transcoders are hf:// URIs.
 */
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attribute, loadReplacementModel, ModelFormatError } from '../src/index.js';
import { hubCacheDir, parseHfUri, resolveHfUri, resolveModelArgument } from '../src/io/hf-cache.js';
import { describeModel } from '../src/model/replacement-model.js';
import { fixtureModel } from './engine-fixtures.js';

const COMMIT = 'c0ffee'.padEnd(40, '0');
const SCOPE_REPO = 'google/gemma-scope-tiny-transcoders';
const CONFIG_REPO = 'circuit-atlas/gemma-scope-tiny-config';
const MODEL_REPO = 'circuit-atlas/gemma2-tiny';
const PROMPT = 'The capital of Texas is';

/** Adds one file to a repo of the cache the way huggingface_hub stores it: a blob and a snapshot link. */
function addFile(cache: string, repoId: string, file: string, source: string | Buffer, revision = COMMIT): string {
  const repoDir = path.join(cache, `models--${repoId.replace('/', '--')}`);
  const content = typeof source === 'string' ? readFileSync(source) : source;
  mkdirSync(path.join(repoDir, 'blobs'), { recursive: true });
  const blob = path.join(repoDir, 'blobs', createHash('sha256').update(content).digest('hex'));
  writeFileSync(blob, content);
  const link = path.join(repoDir, 'snapshots', revision, file);
  mkdirSync(path.dirname(link), { recursive: true });
  symlinkSync(path.relative(path.dirname(link), blob), link);
  mkdirSync(path.join(repoDir, 'refs'), { recursive: true });
  writeFileSync(path.join(repoDir, 'refs', 'main'), revision);
  return link;
}

function scopeFiles(): string[] {
  const root = path.join(fixtureModel('gemma2-tiny'), 'gemma-scope');
  return readdirSync(root, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('params.npz'))
    .sort((a, b) => Number(/layer_(\d+)/.exec(a)![1]) - Number(/layer_(\d+)/.exec(b)![1]));
}

describe('the local Hugging Face cache', () => {
  let cache: string;
  const saved = { HF_HUB_CACHE: process.env.HF_HUB_CACHE, HF_HOME: process.env.HF_HOME };

  beforeAll(() => {
    cache = mkdtempSync(path.join(os.tmpdir(), 'hf-cache-'));
    const modelDir = fixtureModel('gemma2-tiny');
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'])
      addFile(cache, MODEL_REPO, f, path.join(modelDir, f));
    const layers = scopeFiles();
    for (const f of layers) addFile(cache, SCOPE_REPO, f, path.join(modelDir, 'gemma-scope', f));
    const config = [
      `model_name: ${MODEL_REPO}`,
      'model_kind: transcoder_set',
      'feature_input_hook: ln2.hook_normalized',
      'feature_output_hook: hook_mlp_out',
      'transcoders:',
      ...layers.map((f) => `  - "hf://${SCOPE_REPO}/${f}"`),
    ].join('\n');
    addFile(cache, CONFIG_REPO, 'config.yaml', Buffer.from(config + '\n'));
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
