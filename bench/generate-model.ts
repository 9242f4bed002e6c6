/**
 * Writes a random Llama-architecture model in Hugging Face's layout, with per-layer transcoders in
 * circuit-tracer's layout, for benchmarks at real sizes (never into the repository):
 *
 *   node --import tsx bench/generate-model.ts <out-dir> [--layers 12] [--d-model 768] [--d-mlp 2048]
 *        [--heads 12] [--d-transcoder 16384] [--vocab 32000] [--dtype f32|bf16] [--seed 1]
 *   node --import tsx bench/generate-model.ts <out-dir> --arch gemma2-2b     (Gemma-2-2B's shape in bf16:
 *        26 layers, d_model 2304, MLP 9216, 8 query / 4 KV heads of 256, vocabulary 256,000, 16k-feature
 *        JumpReLU transcoders reading ln2.hook_normalized like GemmaScope's; ≈ 9 GB)
 *
 * Files: config.json, model.safetensors, tokenizer.json (+ tokenizer_config.json: a word-level
 * vocabulary w0 … w{V−4} and <unk>, <bos>, <eos>), transcoders/config.yaml, layer_{i}.safetensors.
 * The weights are seeded, so the same arguments give the same bytes. Transcoder encoders are
 * scaled and biased so about 0.5% of features are active at a position (≈ 80 of 16k, the
 * sparsity of trained transcoders), not half of them as random ReLUs would be.
 */
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

export interface GeneratedModelShape {
  /** llama (the default) or gemma2 (Gemma2ForCausalLM with GemmaScope-like transcoders). */
  arch?: 'llama' | 'gemma2';
  layers: number;
  dModel: number;
  dMlp: number;
  heads: number;
  dTranscoder: number;
  vocab: number;
  dtype: 'f32' | 'bf16';
  seed: number;
}

export const DEFAULT_SHAPE: GeneratedModelShape = {
  layers: 12,
  dModel: 768,
  dMlp: 2048,
  heads: 12,
  dTranscoder: 16384,
  vocab: 32000,
  dtype: 'f32',
  seed: 1,
};

/** Gemma-2-2B's numbers (google/gemma-2-2b config.json) with 16k-feature transcoders, in bf16. */
export const GEMMA2_2B_SHAPE: GeneratedModelShape = {
  arch: 'gemma2',
  layers: 26,
  dModel: 2304,
  dMlp: 9216,
  heads: 8,
  dTranscoder: 16384,
  vocab: 256000,
  dtype: 'bf16',
  seed: 1,
};

const SPECIAL = ['<unk>', '<bos>', '<eos>'];

/** The word of token id `id` in a generated model's vocabulary. */
export const wordOf = (id: number): string => (id < SPECIAL.length ? SPECIAL[id] : `w${id - SPECIAL.length}`);

/** Gaussian samples from a seeded xorshift generator (Box–Muller), scaled by `std`. */
class Normal {
  private state: number;
  private spare: number | null = null;
  constructor(seed: number) {
    this.state = (seed * 2654435761) >>> 0 || 1;
  }
  private uniform(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return (this.state + 1) / 4294967297;
  }
  /** Uniform on ±std·√3 (standard deviation std): ~20× faster than Box–Muller, for multi-GB models. */
  fillUniform(out: Float32Array, std: number): Float32Array {
    const width = 2 * std * Math.sqrt(3);
    let x = this.state;
    for (let i = 0; i < out.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      out[i] = ((x >>> 0) / 4294967296 - 0.5) * width;
    }
    this.state = x >>> 0 || 1;
    return out;
  }

  fill(out: Float32Array, std: number): Float32Array {
    for (let i = 0; i < out.length; i++) {
      if (this.spare !== null) {
        out[i] = this.spare * std;
        this.spare = null;
        continue;
      }
      const r = Math.sqrt(-2 * Math.log(this.uniform()));
      const theta = 2 * Math.PI * this.uniform();
      out[i] = r * Math.cos(theta) * std;
      this.spare = r * Math.sin(theta);
    }
    return out;
  }
}

interface TensorSpec {
  name: string;
  shape: number[];
  /** Fills the next chunk of the tensor, in order (called while the file is written). */
  fill: (out: Float32Array) => void;
}

/** Elements written per chunk: a 256k × 2304 embedding is never in memory whole. */
const CHUNK = 1 << 24;

/** Writes a safetensors file chunk by chunk, so at most CHUNK values are in memory at a time. */
async function writeSafetensors(file: string, tensors: TensorSpec[], dtype: 'f32' | 'bf16'): Promise<void> {
  const bytesPer = dtype === 'f32' ? 4 : 2;
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const t of tensors) {
    const size = t.shape.reduce((a, b) => a * b, 1) * bytesPer;
    header[t.name] = { dtype: dtype === 'f32' ? 'F32' : 'BF16', shape: t.shape, data_offsets: [offset, offset + size] };
    offset += size;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8); // data starts 8-byte aligned
  const out = createWriteStream(file);
  const write = async (chunk: Uint8Array) => {
    if (!out.write(chunk)) await once(out, 'drain');
  };
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  await write(length);
  await write(Buffer.from(json, 'utf8'));
  for (const t of tensors) {
    const total = t.shape.reduce((a, b) => a * b, 1);
    for (let start = 0; start < total; start += CHUNK) {
      const data = new Float32Array(Math.min(CHUNK, total - start));
      t.fill(data);
      await write(dtype === 'f32' ? new Uint8Array(data.buffer) : toBf16(data));
    }
  }
  out.end();
  await once(out, 'finish');
}

/** float32 → bfloat16 with round-to-nearest-even. */
function toBf16(data: Float32Array): Uint8Array {
  const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
  const out = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const b = bits[i];
    out[i] = (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
  }
  return new Uint8Array(out.buffer);
}

export async function generateModel(dir: string, shape: GeneratedModelShape): Promise<void> {
  const { layers: L, dModel: d, dMlp: m, heads: H, dTranscoder: F, vocab: V, dtype, seed } = shape;
  if (d % H !== 0 || (d / H) % 2 !== 0) throw new Error(`--d-model ${d} must split into ${H} heads of even size`);
  if (V <= SPECIAL.length) throw new Error(`--vocab must exceed ${SPECIAL.length}`);
  await mkdir(path.join(dir, 'transcoders'), { recursive: true });
  const normal = new Normal(seed);
  const gemma = shape.arch === 'gemma2';
  // Gaussian for the Llama models (their bytes unchanged); uniform of the same std for Gemma's 4.6G values.
  const random = (_shape: number[], std: number) => (out: Float32Array) =>
    gemma ? normal.fillUniform(out, std) : normal.fill(out, std);
  const ones = (_n: number) => (out: Float32Array) => out.fill(1);
  const zeros = (_n: number) => (out: Float32Array) => out.fill(0);
  if (gemma) return generateGemma2(dir, shape, random, zeros);

  await writeFile(
    path.join(dir, 'config.json'),
    JSON.stringify(
      {
        architectures: ['LlamaForCausalLM'],
        model_type: 'llama',
        hidden_size: d,
        intermediate_size: m,
        num_hidden_layers: L,
        num_attention_heads: H,
        num_key_value_heads: H,
        head_dim: d / H,
        hidden_act: 'silu',
        max_position_embeddings: 1024,
        rms_norm_eps: 1e-5,
        rope_theta: 10000,
        tie_word_embeddings: false,
        vocab_size: V,
        bos_token_id: 1,
        eos_token_id: 2,
        torch_dtype: dtype === 'f32' ? 'float32' : 'bfloat16',
      },
      null,
      2,
    ) + '\n',
  );
  const tensors: TensorSpec[] = [{ name: 'model.embed_tokens.weight', shape: [V, d], fill: random([V, d], 1) }];
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}`;
    tensors.push(
      { name: `${p}.input_layernorm.weight`, shape: [d], fill: ones(d) },
      { name: `${p}.self_attn.q_proj.weight`, shape: [d, d], fill: random([d, d], 1 / Math.sqrt(d)) },
      { name: `${p}.self_attn.k_proj.weight`, shape: [d, d], fill: random([d, d], 1 / Math.sqrt(d)) },
      { name: `${p}.self_attn.v_proj.weight`, shape: [d, d], fill: random([d, d], 1 / Math.sqrt(d)) },
      // Output projections small, so the residual stream grows slowly over the layers.
      { name: `${p}.self_attn.o_proj.weight`, shape: [d, d], fill: random([d, d], 0.2 / Math.sqrt(d)) },
      { name: `${p}.post_attention_layernorm.weight`, shape: [d], fill: ones(d) },
      { name: `${p}.mlp.gate_proj.weight`, shape: [m, d], fill: random([m, d], 1 / Math.sqrt(d)) },
      { name: `${p}.mlp.up_proj.weight`, shape: [m, d], fill: random([m, d], 1 / Math.sqrt(d)) },
      { name: `${p}.mlp.down_proj.weight`, shape: [d, m], fill: random([d, m], 0.2 / Math.sqrt(m)) },
    );
  }
  tensors.push(
    { name: 'model.norm.weight', shape: [d], fill: ones(d) },
    { name: 'lm_head.weight', shape: [V, d], fill: random([V, d], 1 / Math.sqrt(d)) },
  );
  await writeSafetensors(path.join(dir, 'model.safetensors'), tensors, dtype);

  await writeTokenizer(dir, V);

  const files = await writeTranscoderConfig(dir, L, 'mlp.hook_in', 'mlp.hook_out');
  for (let l = 0; l < L; l++) {
    // The MLP input has unit RMS: pre-activations ~ N(0, 1) minus 2.6 → about 0.5% above zero.
    await writeSafetensors(
      path.join(dir, 'transcoders', files[l]),
      [
        { name: 'W_enc', shape: [F, d], fill: random([F, d], 1 / Math.sqrt(d)) },
        { name: 'b_enc', shape: [F], fill: (out) => out.fill(-2.6) },
        { name: 'W_dec', shape: [F, d], fill: random([F, d], 1 / Math.sqrt(F)) },
        { name: 'b_dec', shape: [d], fill: zeros(d) },
      ],
      dtype,
    );
  }
}

/** A word-level tokenizer over w0 … w{V−4} and the special tokens. */
/** transcoders/config.yaml naming one `layer_{l}.safetensors` per layer; returns those file names. */
async function writeTranscoderConfig(dir: string, L: number, inputHook: string, outputHook: string): Promise<string[]> {
  const name = `generated/${path.basename(path.resolve(dir))}`;
  const files = Array.from({ length: L }, (_, l) => `layer_${l}.safetensors`);
  await writeFile(
    path.join(dir, 'transcoders', 'config.yaml'),
    [
      `model_name: ${name}`,
      'model_kind: transcoder_set',
      `feature_input_hook: ${inputHook}`,
      `feature_output_hook: ${outputHook}`,
      `scan: ${name}`,
      'transcoders:',
      ...files.map((f) => `  - ${f}`),
      '',
    ].join('\n'),
  );
  return files;
}

async function writeTokenizer(dir: string, V: number): Promise<void> {
  const vocab: Record<string, number> = {};
  for (let id = 0; id < V; id++) vocab[wordOf(id)] = id;
  await writeFile(
    path.join(dir, 'tokenizer.json'),
    JSON.stringify({
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: SPECIAL.map((content, id) => ({
        id,
        content,
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
        special: true,
      })),
      normalizer: null,
      pre_tokenizer: { type: 'Whitespace' },
      post_processor: null,
      decoder: null,
      model: { type: 'WordLevel', vocab, unk_token: '<unk>' },
    }),
  );
  await writeFile(
    path.join(dir, 'tokenizer_config.json'),
    JSON.stringify({
      bos_token: '<bos>',
      eos_token: '<eos>',
      unk_token: '<unk>',
      tokenizer_class: 'PreTrainedTokenizerFast',
    }) + '\n',
  );
}

/**
 * Gemma-2 (Gemma2ForCausalLM) of the given shape, tied embeddings, norms stored as w = 0 (gain 1 + w),
 * with per-layer JumpReLU transcoders in circuit-tracer's safetensors layout reading the
 * pre-feedforward normalized input (ln2.hook_normalized, as GemmaScope's) and writing hook_mlp_out.
 */
async function generateGemma2(
  dir: string,
  shape: GeneratedModelShape,
  random: (shape: number[], std: number) => (out: Float32Array) => void,
  zeros: (n: number) => (out: Float32Array) => void,
): Promise<void> {
  const { layers: L, dModel: d, dMlp: m, heads: H, dTranscoder: F, vocab: V, dtype } = shape;
  const hd = 256;
  const KV = Math.max(1, H / 2);
  await writeFile(
    path.join(dir, 'config.json'),
    JSON.stringify(
      {
        architectures: ['Gemma2ForCausalLM'],
        model_type: 'gemma2',
        hidden_size: d,
        intermediate_size: m,
        num_hidden_layers: L,
        num_attention_heads: H,
        num_key_value_heads: KV,
        head_dim: hd,
        hidden_activation: 'gelu_pytorch_tanh',
        query_pre_attn_scalar: hd,
        attn_logit_softcapping: 50.0,
        final_logit_softcapping: 30.0,
        sliding_window: 4096,
        max_position_embeddings: 8192,
        rms_norm_eps: 1e-6,
        rope_theta: 10000,
        tie_word_embeddings: true,
        vocab_size: V,
        pad_token_id: 0,
        bos_token_id: 1,
        eos_token_id: 2,
        torch_dtype: dtype === 'f32' ? 'float32' : 'bfloat16',
      },
      null,
      2,
    ) + '\n',
  );
  // Embedding rows of RMS 1/√d: Gemma multiplies them by √d, so the residual stream starts at unit RMS.
  const tensors: TensorSpec[] = [
    { name: 'model.embed_tokens.weight', shape: [V, d], fill: random([V, d], 1 / Math.sqrt(d)) },
  ];
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}`;
    tensors.push(
      { name: `${p}.input_layernorm.weight`, shape: [d], fill: zeros(d) },
      { name: `${p}.self_attn.q_proj.weight`, shape: [H * hd, d], fill: random([H * hd, d], 1 / Math.sqrt(d)) },
      { name: `${p}.self_attn.k_proj.weight`, shape: [KV * hd, d], fill: random([KV * hd, d], 1 / Math.sqrt(d)) },
      { name: `${p}.self_attn.v_proj.weight`, shape: [KV * hd, d], fill: random([KV * hd, d], 1 / Math.sqrt(d)) },
      { name: `${p}.self_attn.o_proj.weight`, shape: [d, H * hd], fill: random([d, H * hd], 1 / Math.sqrt(H * hd)) },
      { name: `${p}.post_attention_layernorm.weight`, shape: [d], fill: zeros(d) },
      { name: `${p}.pre_feedforward_layernorm.weight`, shape: [d], fill: zeros(d) },
      { name: `${p}.post_feedforward_layernorm.weight`, shape: [d], fill: zeros(d) },
      { name: `${p}.mlp.gate_proj.weight`, shape: [m, d], fill: random([m, d], 1 / Math.sqrt(d)) },
      { name: `${p}.mlp.up_proj.weight`, shape: [m, d], fill: random([m, d], 1 / Math.sqrt(d)) },
      { name: `${p}.mlp.down_proj.weight`, shape: [d, m], fill: random([d, m], 1 / Math.sqrt(m)) },
    );
  }
  tensors.push({ name: 'model.norm.weight', shape: [d], fill: zeros(d) });
  await writeSafetensors(path.join(dir, 'model.safetensors'), tensors, dtype);
  await writeTokenizer(dir, V);

  const files = await writeTranscoderConfig(dir, L, 'ln2.hook_normalized', 'hook_mlp_out');
  for (let l = 0; l < L; l++) {
    // Normalized input of unit RMS: pre-activations ~ unit variance; JumpReLU at 2.6 keeps ≈ 0.5% of features.
    await writeSafetensors(
      path.join(dir, 'transcoders', files[l]),
      [
        { name: 'W_enc', shape: [F, d], fill: random([F, d], 1 / Math.sqrt(d)) },
        { name: 'b_enc', shape: [F], fill: zeros(F) },
        { name: 'W_dec', shape: [F, d], fill: random([F, d], 1 / Math.sqrt(F)) },
        { name: 'b_dec', shape: [d], fill: zeros(d) },
        { name: 'activation_function.threshold', shape: [F], fill: (out) => out.fill(2.6) },
      ],
      dtype,
    );
  }
}

/** A corpus of `tokens` words of the generated vocabulary, Zipf-distributed, in lines of 20–200 words. */
export async function generateCorpus(file: string, vocab: number, tokens: number, seed = 1): Promise<void> {
  const normal = new Normal(seed + 7);
  const uniform = new Float32Array(1);
  const next = () => Math.abs(normal.fill(uniform, 1)[0]);
  const words = vocab - SPECIAL.length;
  const out = createWriteStream(file);
  let written = 0;
  while (written < tokens) {
    const length = Math.min(tokens - written, 20 + (Math.floor(next() * 60) % 181));
    const line: string[] = [];
    for (let i = 0; i < length; i++) {
      // Zipf-like: rank ~ exp(|N(0, 1)| · log(words) / 3).
      const rank = Math.min(words - 1, Math.floor(Math.exp((next() * Math.log(words)) / 3)) - 1);
      line.push(wordOf(SPECIAL.length + Math.max(0, rank)));
    }
    if (!out.write(line.join(' ') + '\n')) await once(out, 'drain');
    written += length;
  }
  out.end();
  await once(out, 'finish');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      arch: { type: 'string' },
      layers: { type: 'string' },
      'd-model': { type: 'string' },
      'd-mlp': { type: 'string' },
      heads: { type: 'string' },
      'd-transcoder': { type: 'string' },
      vocab: { type: 'string' },
      dtype: { type: 'string' },
      seed: { type: 'string' },
      'corpus-tokens': { type: 'string' },
    },
  });
  const [dir] = positionals;
  if (!dir) {
    process.stderr.write('usage: node --import tsx bench/generate-model.ts <out-dir> [--layers N] [--d-model N] ...\n');
    process.exit(2);
  }
  const repo = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
  if (path.resolve(dir).startsWith(repo + path.sep)) {
    process.stderr.write(
      `refusing to write a generated model inside the repository (${repo}); pick a folder outside it\n`,
    );
    process.exit(2);
  }
  const int = (v: string | undefined, fallback: number) => (v === undefined ? fallback : Number.parseInt(v, 10));
  const dtype = values.dtype ?? (values.arch === 'gemma2-2b' ? GEMMA2_2B_SHAPE.dtype : DEFAULT_SHAPE.dtype);
  if (dtype !== 'f32' && dtype !== 'bf16') {
    process.stderr.write(`--dtype must be f32 or bf16\n`);
    process.exit(2);
  }
  if (values.arch !== undefined && values.arch !== 'llama' && values.arch !== 'gemma2-2b') {
    process.stderr.write(`--arch must be llama or gemma2-2b\n`);
    process.exit(2);
  }
  const base = values.arch === 'gemma2-2b' ? GEMMA2_2B_SHAPE : DEFAULT_SHAPE;
  const shape: GeneratedModelShape = {
    arch: base.arch,
    layers: int(values.layers, base.layers),
    dModel: int(values['d-model'], base.dModel),
    dMlp: int(values['d-mlp'], base.dMlp),
    heads: int(values.heads, base.heads),
    dTranscoder: int(values['d-transcoder'], base.dTranscoder),
    vocab: int(values.vocab, base.vocab),
    dtype,
    seed: int(values.seed, base.seed),
  };
  const start = performance.now();
  await generateModel(dir, shape);
  if (values['corpus-tokens'])
    await generateCorpus(path.join(dir, 'corpus.txt'), shape.vocab, int(values['corpus-tokens'], 0));
  process.stdout.write(
    `wrote ${dir} (${JSON.stringify(shape)}) in ${((performance.now() - start) / 1000).toFixed(1)} s` +
      `${existsSync(path.join(dir, 'corpus.txt')) ? ', corpus.txt' : ''}\n`,
  );
}
