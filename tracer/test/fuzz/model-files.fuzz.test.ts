/**
 * Fuzz and fault suite, the JSON and YAML files of a model folder: config.json, tokenizer.json,
 * tokenizer_config.json, the transcoders' config.yaml and a shard index, each damaged by deleting
 * fields and swapping values for other types and edge-case numbers. Property: loading the model and
 * running a prompt through it either works or stops with a ModelFormatError / UserInputError.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadReplacementModel } from '../../src/index.js';
import { readModelConfig } from '../../src/io/model-config.js';
import { Checkpoint, SafetensorsFile } from '../../src/io/safetensors.js';
import { PromptTokenizer } from '../../src/io/tokenizer.js';
import { runForward } from '../../src/model/replacement-model.js';
import { fixtureModel } from '../engine-fixtures.js';
import { FUZZ_SEED, applyJsonEdits, jsonEdit, jsonPaths, pathGroups, refusal } from './mutations.js';

const PROMPT = 'The capital of Texas is';

/** Loads the tokenizer alone and uses it as a trace does: the quick check for tokenizer files. */
async function loadTokenizer(dir: string): Promise<void> {
  const config = await readModelConfig(dir);
  const tokenizer = await PromptTokenizer.load(dir, config.vocabSize, config.bosTokenId);
  const ids = tokenizer.encodePrompt(PROMPT, config.maxPositions);
  expect(ids.every((id) => Number.isSafeInteger(id) && id >= 0 && id < config.vocabSize)).toBe(true);
  tokenizer.decode(ids);
  for (const id of ids) tokenizer.tokenString(id);
}

/** Loads the model, tokenizes the prompt and runs the forward pass: every reader and the ONNX graphs. */
async function loadAndRun(dir: string): Promise<void> {
  const model = await loadReplacementModel(dir);
  try {
    const ids = model.tokenizer.encodePrompt(PROMPT, model.config.maxPositions);
    const { logits } = await runForward(model, ids);
    expect(logits.length).toBe(ids.length * model.vocabSize);
    model.tokenizer.decode(ids);
  } finally {
    await model.dispose();
  }
}

describe('model folder files under damage', () => {
  let root = '';
  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'fuzz-model-files-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  /** A fresh copy of a fixture model; `file` is rewritten for each case and restored afterwards. */
  async function fuzzJsonFile(
    fixture: string,
    file: string,
    numRuns: number,
    { format = 'json', load = loadAndRun }: { format?: 'json' | 'yaml'; load?: (dir: string) => Promise<void> } = {},
  ) {
    const dir = path.join(root, `${fixture}-${file.replaceAll('/', '_')}`);
    await cp(fixtureModel(fixture), dir, { recursive: true });
    const target = path.join(dir, file);
    const text = await readFile(target, 'utf8');
    const document = format === 'json' ? JSON.parse(text) : YAML.parse(text);
    const groups = format === 'json' ? pathGroups(document) : jsonPaths(document).map((p) => [p]);
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(jsonEdit(groups), { minLength: 1, maxLength: 3 }), async (edits) => {
        const damaged = applyJsonEdits(document, edits);
        await writeFile(target, format === 'json' ? damaged : YAML.stringify(JSON.parse(damaged)));
        if (await refusal(() => load(dir))) refused++;
      }),
      { seed: FUZZ_SEED, numRuns },
    );
    await writeFile(target, text);
    await load(dir); // the undamaged file still loads: the copy was sound
    return refused;
  }

  it('a damaged config.json loads and runs or is refused with a ModelFormatError', async () => {
    expect(await fuzzJsonFile('llama-tiny', 'config.json', 40)).toBeGreaterThan(12);
  });

  it('a damaged GPT-2 config.json loads and runs or is refused with a ModelFormatError', async () => {
    expect(await fuzzJsonFile('gpt2-tiny', 'config.json', 25)).toBeGreaterThan(6);
  });

  it('a damaged tokenizer.json loads and runs or is refused with a ModelFormatError / UserInputError', async () => {
    expect(await fuzzJsonFile('llama-tiny', 'tokenizer.json', 300, { load: loadTokenizer })).toBeGreaterThan(10);
  });

  it('a damaged byte-level BPE tokenizer.json (GPT-2) loads and runs or is refused', async () => {
    expect(await fuzzJsonFile('gpt2-tiny', 'tokenizer.json', 200, { load: loadTokenizer })).toBeGreaterThan(5);
  });

  it('a damaged tokenizer_config.json loads and runs or is refused with a ModelFormatError', async () => {
    await fuzzJsonFile('llama-tiny', 'tokenizer_config.json', 100, { load: loadTokenizer });
  });

  it("a damaged transcoders' config.yaml loads and runs or is refused with a ModelFormatError", async () => {
    expect(await fuzzJsonFile('llama-tiny', 'transcoders/config.yaml', 50, { format: 'yaml' })).toBeGreaterThan(10);
  });

  it('a damaged shard index (model.safetensors.index.json) opens or is refused with a ModelFormatError', async () => {
    const dir = path.join(root, 'sharded');
    await cp(fixtureModel('llama-tiny'), dir, { recursive: true });
    const single = await SafetensorsFile.open(path.join(dir, 'model.safetensors'));
    // One shard is enough to exercise the index: every tensor maps to the original file.
    const index = {
      metadata: { total_size: 0 },
      weight_map: Object.fromEntries(single.names().map((n) => [n, 'model.safetensors'])),
    };
    const indexFile = path.join(dir, 'model.safetensors.index.json');
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(jsonEdit(pathGroups(index)), { minLength: 1, maxLength: 3 }), async (edits) => {
        await writeFile(indexFile, applyJsonEdits(index, edits));
        const error = await refusal(async () => {
          const checkpoint = await Checkpoint.open(dir);
          for (const name of checkpoint.names()) await checkpoint.read(name);
        });
        if (error) {
          expect(error.message).toMatch(/model\.safetensors/);
          refused++;
        }
      }),
      { seed: FUZZ_SEED, numRuns: 100 },
    );
    expect(refused).toBeGreaterThan(20);
  });
});
