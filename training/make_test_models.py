"""Make the small random test models that the tracer's tests and the reference fixtures use.

Writes tracer/test/fixtures/models/<name>/ for
  llama-tiny      LlamaForCausalLM, 3 layers, GQA, llama3 rope_scaling, untied; per-layer
                  transcoders with JumpReLU thresholds and W_skip on every layer
  qwen3-tiny      Qwen3ForCausalLM (q/k norms), tied embeddings; per-layer ReLU transcoders
  gpt2-tiny       GPT2LMHeadModel, 3 layers, byte-level BPE tokenizer; per-layer ReLU transcoders
  llama-clt-tiny  the llama-tiny architecture (own weights) with a cross-layer transcoder
  gemma2-tiny     Gemma2ForCausalLM, 3 layers: sliding window 4 on layers 0 and 2, attention and
                  final-logit soft-caps, query_pre_attn_scalar != head_dim; JumpReLU transcoders on
                  ln2.hook_normalized -> hook_mlp_out (GemmaScope's sites), also written in GemmaScope's
                  native layout (gemma-scope/layer_{i}/width_96/average_l0_{n}/params.npz, W_enc [d, d_sae])
  mistral-tiny    MistralForCausalLM, 2 layers, sliding_window 3 on every layer; per-layer ReLU transcoders
  gemma3-tiny     Gemma3ForCausalLM (gemma3_text), 4 layers: q/k norms, sliding layers 0 and 2 with the
                  local RoPE base, global layers with rope_theta and linear rope scaling; JumpReLU
                  transcoders with W_skip on mlp.hook_in -> hook_mlp_out, also written in GemmaScope-2's
                  layout (gemma-scope-2/transcoder/layer_{i}_width_96/params.safetensors: w_enc [d, d_sae],
                  w_dec, b_enc, b_dec, threshold, affine_skip_connection)
each with config.json + model.safetensors (transformers' save_pretrained), tokenizer.json
(+ tokenizer_config.json / special_tokens_map.json), transcoders/ in circuit-tracer's layout and
expected.json (token ids and float32 logits from transformers for three prompts).

Everything is seeded: running it twice writes identical files. Transcoder encoders are random with
biases set for 10-20 active features per position, nudged so that no pre-activation on the
fixture prompts sits within float32 noise of its threshold; decoders (and W_skip) are ridge fits
to the real MLP outputs, so reconstructions are meaningful (fraction of variance unexplained ~0.4-0.8).
Run:  nice -n 10 python training/make_test_models.py [name ...]   (about 10 s on 2 cores; default all)

Why W_skip on every layer of llama-tiny rather than one: circuit-tracer 0.5.0 reads
`TranscoderSet.skip_connection` from layer 0 only and then calls every layer's skip, so a set
with a skip on only some layers either crashes it or silently drops the skip gradient.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import sys

import numpy as np
import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    Gemma2Config,
    Gemma2ForCausalLM,
    Gemma3ForCausalLM,
    Gemma3TextConfig,
    GPT2Config,
    MistralConfig,
    MistralForCausalLM,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
    Qwen3Config,
    Qwen3ForCausalLM,
)

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tracer" / "test" / "fixtures" / "models"

PROMPTS = [
    "The capital of Texas is",
    "Dallas is a city in the state of",
    "one two three four five six seven",
]

# Word-level vocabulary: the prompts' words plus filler so the vocabulary is ~150 words.
WORDS = (
    "the The a an of in on at to is was are and or not it this that city state capital "
    "Texas Dallas Austin Houston California Sacramento Los Angeles France Paris Germany Berlin "
    "Spain Madrid Italy Rome country river mountain lake north south east west big small old "
    "new red blue green black white one two three four five six seven eight nine ten zero "
    "cat dog bird fish mat sat ran saw has had have with from by for as be he she they we you "
    "i my your his her their our who what when where why how which there here then than so "
    "but if because while after before up down left right near far good bad first last next "
    "day night year time people man woman child king queen word number letter name place "
    "home house road car train ship plane book table chair door window water fire earth air "
    "sun moon star sky rain snow tree flower food bread milk tea . , ! ?"
).split()

CORPUS = (
    "The capital of Texas is Austin. Dallas is a city in the state of Texas. "
    "Houston is a big city in Texas. The capital of California is Sacramento. "
    "Los Angeles is a city in the state of California. The capital of France is Paris. "
    "one two three four five six seven eight nine ten. The cat sat on the mat. "
    "The dog ran to the house and the bird saw the fish in the lake. "
)


def word_level_tokenizer() -> Tokenizer:
    """Whitespace word-level tokenizer with <unk>=0 and <bos>=1, adding <bos> like Llama's."""
    vocab = {"<unk>": 0, "<bos>": 1, "<eos>": 2}
    for w in WORDS:
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A <bos> $B", special_tokens=[("<bos>", 1)]
    )
    tok.add_special_tokens(["<unk>", "<bos>", "<eos>"])
    return tok


def byte_level_bpe_tokenizer() -> Tokenizer:
    """GPT-2 style byte-level BPE trained on CORPUS, <|endoftext|> appended last as in GPT-2."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=420,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
        special_tokens=[],
    )
    tok.train_from_iterator([CORPUS] * 4, trainer=trainer)
    tok.add_special_tokens(["<|endoftext|>"])
    return tok


def save_tokenizer(tok: Tokenizer, out: Path, **special: str) -> PreTrainedTokenizerFast:
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, **special)
    fast.save_pretrained(out)
    # transformers 5 names its own backend class; checkpoints on the Hub (and transformers 4.x,
    # which circuit-tracer needs) say PreTrainedTokenizerFast and carry special_tokens_map.json.
    config_path = out / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config.pop("backend", None)
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    (out / "special_tokens_map.json").write_text(json.dumps(special, indent=2, sort_keys=True) + "\n")
    return fast


def prompt_ids(fast: PreTrainedTokenizerFast, prompt: str) -> list[int]:
    """circuit-tracer's rule: tokenize without specials, then prepend BOS."""
    ids = fast(prompt, add_special_tokens=False).input_ids
    if fast.unk_token_id is not None and fast.unk_token_id in ids:
        raise ValueError(f"prompt {prompt!r} has words outside the test vocabulary")
    return [fast.bos_token_id, *ids]


def perturb_weights(model: torch.nn.Module, gen: torch.Generator, scale: float, gain_offset: float = 1.0) -> None:
    """Replace the default (tiny) init by one whose activations are O(1) and logits peaked.
    gain_offset 0 for Gemma, whose norms multiply by (1 + w)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim == 1 and ("norm" in name or name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name.endswith("ln_f.weight")):
                # Norm gains near 1 but not 1, so a missed gamma shows up in tests.
                p.copy_(gain_offset + 0.2 * torch.randn(p.shape, generator=gen))
            elif p.ndim == 1:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            else:
                fan_in = p.shape[0] if "c_" in name else p.shape[-1]  # GPT-2 Conv1D is [in, out]
                p.copy_(torch.randn(p.shape, generator=gen) * scale / fan_in**0.5)


def write_config_classic(out: Path) -> None:
    """Rewrite transformers-5 `rope_parameters` into the rope_theta / rope_scaling layout that
    checkpoints on the Hub (and transformers 4.x, which circuit-tracer needs) use."""
    path = out / "config.json"
    cfg = json.loads(path.read_text())
    rope = cfg.pop("rope_parameters", None)
    if rope is not None:
        cfg["rope_theta"] = rope.pop("rope_theta")
        cfg["rope_scaling"] = None if rope.get("rope_type", "default") == "default" else rope
    if "dtype" in cfg:
        cfg["torch_dtype"] = cfg["dtype"]
    path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")


def sample_sequences(vocab_size: int, special: list[int], bos: int, gen: torch.Generator) -> torch.Tensor:
    """Random token sequences [n_seq, seq] used to calibrate transcoders (BOS first, no specials)."""
    n_seq, seq = 160, 16
    allowed = torch.tensor([i for i in range(vocab_size) if i not in special])
    ids = allowed[torch.randint(len(allowed), (n_seq, seq), generator=gen)]
    ids[:, 0] = bos
    return ids


def mlp_sites(model: torch.nn.Module, arch: str, ids: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Per layer: transcoder input x (MLP input after its norm) and MLP output y, [N, d_model],
    positions > 0 only (circuit-tracer zeroes position 0).
    gemma2: x = ln2.hook_normalized (the pre-feedforward norm before its gain), gemma3: x = mlp.hook_in;
    y = hook_mlp_out (after post_feedforward_layernorm) for both."""
    if arch in ("gemma2", "gemma3"):
        return gemma_mlp_sites(model, arch, ids)
    layers = model.transformer.h if arch == "gpt2" else model.model.layers
    xs: list[list[torch.Tensor]] = [[] for _ in layers]
    ys: list[list[torch.Tensor]] = [[] for _ in layers]
    hooks = []

    def record(i: int):
        def hook(_module, inp, out) -> None:  # returns None so the output is left as it is
            xs[i].append(inp[0][:, 1:].reshape(-1, inp[0].shape[-1]))
            ys[i].append(out[:, 1:].reshape(-1, out.shape[-1]))

        return hook

    for i, layer in enumerate(layers):
        hooks.append(layer.mlp.register_forward_hook(record(i)))
    with torch.no_grad():
        model(ids)
    for h in hooks:
        h.remove()
    return [torch.cat(x) for x in xs], [torch.cat(y) for y in ys]


def gemma_mlp_sites(model: torch.nn.Module, arch: str, ids: torch.Tensor):
    layers = model.model.layers
    xs: list[list[torch.Tensor]] = [[] for _ in layers]
    ys: list[list[torch.Tensor]] = [[] for _ in layers]
    hooks = []

    def flat(t: torch.Tensor) -> torch.Tensor:
        return t[:, 1:].reshape(-1, t.shape[-1])

    def record_in(i: int, norm: torch.nn.Module):
        def hook(_module, inp, out) -> None:
            if arch == "gemma2":  # x / rms(x), the norm without its (1 + w) gain
                r = inp[0].float()
                xs[i].append(flat(r * torch.rsqrt(r.pow(2).mean(-1, keepdim=True) + norm.eps)))
            else:
                xs[i].append(flat(out))

        return hook

    def record_out(i: int):
        def hook(_module, _inp, out) -> None:
            ys[i].append(flat(out))

        return hook

    for i, layer in enumerate(layers):
        hooks.append(layer.pre_feedforward_layernorm.register_forward_hook(record_in(i, layer.pre_feedforward_layernorm)))
        hooks.append(layer.post_feedforward_layernorm.register_forward_hook(record_out(i)))
    with torch.no_grad():
        model(ids)
    for h in hooks:
        h.remove()
    return [torch.cat(x) for x in xs], [torch.cat(y) for y in ys]


def write_gemma_scope_copy(out: Path) -> None:
    """The per-layer transcoders again in GemmaScope's native layout: params.npz with W_enc [d_model,
    d_sae] (transposed), W_dec, b_enc, b_dec, threshold; layer 0 deflated, the others stored, as np.savez
    and np.savez_compressed write them."""
    from safetensors.torch import load_file

    tdir = out / "transcoders"
    for layer in range(len(list(tdir.glob("layer_*.safetensors")))):
        t = load_file(tdir / f"layer_{layer}.safetensors")
        d_sae = t["W_enc"].shape[0]
        dest = out / "gemma-scope" / f"layer_{layer}" / f"width_{d_sae}" / "average_l0_15"
        dest.mkdir(parents=True, exist_ok=True)
        arrays = {
            "W_enc": t["W_enc"].T.contiguous().numpy(),
            "W_dec": t["W_dec"].numpy(),
            "b_enc": t["b_enc"].numpy(),
            "b_dec": t["b_dec"].numpy(),
            "threshold": t["activation_function.threshold"].numpy(),
        }
        (np.savez_compressed if layer == 0 else np.savez)(dest / "params.npz", **arrays)


def write_gemma_scope_2_copy(out: Path) -> None:
    """The per-layer transcoders again in GemmaScope-2's layout, as circuit-tracer's gemma-scope-2
    loader reads it: params.safetensors with lowercase w_enc [d_model, d_sae] (transposed), w_dec,
    b_enc, b_dec, threshold and affine_skip_connection (= W_skipᵀ, applied as x @ affine)."""
    from safetensors.torch import load_file

    tdir = out / "transcoders"
    for layer in range(len(list(tdir.glob("layer_*.safetensors")))):
        t = load_file(tdir / f"layer_{layer}.safetensors")
        d_sae = t["W_enc"].shape[0]
        dest = out / "gemma-scope-2" / "transcoder" / f"layer_{layer}_width_{d_sae}"
        dest.mkdir(parents=True, exist_ok=True)
        tensors = {
            "w_enc": t["W_enc"].T.contiguous(),
            "w_dec": t["W_dec"].contiguous(),
            "b_enc": t["b_enc"].contiguous(),
            "b_dec": t["b_dec"].contiguous(),
            "threshold": t["activation_function.threshold"].contiguous(),
            "affine_skip_connection": t["W_skip"].T.contiguous(),
        }
        save_file(tensors, dest / "params.safetensors")


def make_encoder(x: torch.Tensor, x_prompts: torch.Tensor, d_tc: int, gen: torch.Generator, jumprelu: bool):
    """Random encoder whose biases make each feature fire on 4-12% of positions (10-20 active
    features per position: realistic, and small enough for compact reference fixtures).

    x: calibration inputs [N, d_model]; x_prompts: the fixture prompts' inputs [M, d_model]. Each
    bias is then nudged so that no pre-activation on the fixture prompts lies within 5% of a
    standard deviation of its threshold: which features are active, and how strongly, must not
    hinge on float32 rounding when two implementations are compared."""
    d_model = x.shape[1]
    W_enc = torch.randn(d_tc, d_model, generator=gen) / d_model**0.5  # [d_tc, d_model]
    pre = x @ W_enc.T  # [N, d_tc]
    rate = 0.04 + 0.08 * torch.rand(d_tc, generator=gen)  # target firing rate per feature
    q = torch.stack([torch.quantile(pre[:, f], 1 - rate[f].item()) for f in range(d_tc)])
    sd = pre.std(0)
    threshold = 0.5 * sd if jumprelu else torch.zeros(d_tc)
    b_enc = threshold - q  # pre + b_enc > threshold exactly where pre > q
    pre_prompts = x_prompts @ W_enc.T  # [M, d_tc]
    steps = [0.0] + [sign * 0.1 * k for k in range(1, 40) for sign in (1, -1)]
    for f in range(d_tc):
        margin = 0.05 * sd[f]
        for step in steps:
            gap = (pre_prompts[:, f] + b_enc[f] + step * sd[f] - threshold[f]).abs().min()
            if gap >= margin:
                b_enc[f] += step * sd[f]
                break
        else:
            raise RuntimeError(f"feature {f}: no bias keeps the fixture prompts clear of its threshold")
    acts = pre + b_enc
    acts = acts * (acts > threshold) if jumprelu else torch.relu(acts)
    return W_enc, b_enc, threshold, acts


def ridge(features: torch.Tensor, target: torch.Tensor, lam: float = 1e-2) -> torch.Tensor:
    """Least squares with a small ridge: [N, k], [N, d] -> [k, d]."""
    f = features.double()
    gram = f.T @ f + lam * torch.eye(f.shape[1], dtype=torch.float64)
    return torch.linalg.solve(gram, f.T @ target.double()).float()


def write_transcoder_set(out: Path, xs, ys, xps, d_tc: int, gen, jumprelu: bool, skip: bool, hooks: tuple[str, str], scan: str) -> list[float]:
    tdir = out / "transcoders"
    tdir.mkdir(parents=True, exist_ok=True)
    active = []
    for layer, (x, y, xp) in enumerate(zip(xs, ys, xps)):
        W_enc, b_enc, threshold, acts = make_encoder(x, xp, d_tc, gen, jumprelu)
        active.append((acts > 0).float().sum(1).mean().item())
        cols = torch.cat([acts, torch.ones(len(x), 1)] + ([x] if skip else []), 1)
        sol = ridge(cols, y)  # decoder fitted to the real MLP output
        fvu = ((cols @ sol - y).pow(2).sum() / (y - y.mean(0)).pow(2).sum()).item()
        print(f"  layer {layer}: fraction of MLP-output variance unexplained {fvu:.3f}")
        tensors = {
            "W_enc": W_enc.contiguous(),
            "W_dec": sol[:d_tc].contiguous(),  # [d_tc, d_model]
            "b_enc": b_enc.contiguous(),
            "b_dec": sol[d_tc].contiguous(),
        }
        if skip:
            tensors["W_skip"] = sol[d_tc + 1 :].T.contiguous()  # applied as x @ W_skip.T
        if jumprelu:
            tensors["activation_function.threshold"] = threshold.contiguous()
        save_file(tensors, tdir / f"layer_{layer}.safetensors")
    write_transcoder_config(tdir, "transcoder_set", hooks, scan, [f"layer_{i}.safetensors" for i in range(len(xs))])
    return active


def write_config_gemma3_classic(out: Path) -> None:
    """transformers-5 per-layer-type `rope_parameters` back into the transformers-4 fields
    (rope_theta, rope_local_base_freq, rope_scaling) that checkpoints on the Hub carry."""
    path = out / "config.json"
    cfg = json.loads(path.read_text())
    rope = cfg.pop("rope_parameters", None)
    if rope is not None:
        full, local = dict(rope["full_attention"]), dict(rope["sliding_attention"])
        cfg["rope_theta"] = full.pop("rope_theta")
        cfg["rope_local_base_freq"] = local.pop("rope_theta")
        cfg["rope_scaling"] = None if full.get("rope_type", "default") == "default" else full
    if "dtype" in cfg:
        cfg["torch_dtype"] = cfg["dtype"]
    path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")


def write_clt(out: Path, xs, ys, xps, d_tc: int, gen, hooks: tuple[str, str], scan: str) -> list[float]:
    tdir = out / "transcoders"
    tdir.mkdir(parents=True, exist_ok=True)
    n_layers = len(xs)
    d_model = xs[0].shape[1]
    encoded = [make_encoder(x, xp, d_tc, gen, jumprelu=False) for x, xp in zip(xs, xps)]
    acts = [e[3] for e in encoded]
    W_dec = [torch.zeros(d_tc, n_layers - i, d_model) for i in range(n_layers)]
    b_dec = []
    for j in range(n_layers):
        # Output layer j reads the features of every layer i <= j.
        sol = ridge(torch.cat([*acts[: j + 1], torch.ones(len(xs[j]), 1)], 1), ys[j])
        for i in range(j + 1):
            W_dec[i][:, j - i] = sol[i * d_tc : (i + 1) * d_tc]
        b_dec.append(sol[(j + 1) * d_tc])
    for i, (W_enc, b_enc, _, _) in enumerate(encoded):
        save_file(
            {f"W_enc_{i}": W_enc.contiguous(), f"b_enc_{i}": b_enc.contiguous(), f"b_dec_{i}": b_dec[i].contiguous()},
            tdir / f"W_enc_{i}.safetensors",
        )
        save_file({f"W_dec_{i}": W_dec[i].contiguous()}, tdir / f"W_dec_{i}.safetensors")
    write_transcoder_config(tdir, "cross_layer_transcoder", hooks, scan, None)
    return [(a > 0).float().sum(1).mean().item() for a in acts]


def write_transcoder_config(tdir: Path, kind: str, hooks: tuple[str, str], scan: str, paths: list[str] | None) -> None:
    lines = [
        f"model_name: {scan}",
        f"model_kind: {kind}",
        f"feature_input_hook: {hooks[0]}",
        f"feature_output_hook: {hooks[1]}",
        f"scan: {scan}",
    ]
    if paths is not None:
        lines.append("transcoders:")
        lines += [f"  - {p}" for p in paths]
    (tdir / "config.yaml").write_text("\n".join(lines) + "\n")


def write_expected(out: Path, arch_cls, fast: PreTrainedTokenizerFast, in_memory: torch.nn.Module) -> None:
    """Reload from disk (so the files are what is checked) and record float32 logits."""
    extra = {"attn_implementation": "eager"} if arch_cls in (Gemma2ForCausalLM, Gemma3ForCausalLM) else {}
    model = arch_cls.from_pretrained(out, dtype=torch.float32, **extra).eval()
    entries = []
    for prompt in PROMPTS:
        ids = prompt_ids(fast, prompt)
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0]  # [n_pos, vocab]
            ref = in_memory(torch.tensor([ids])).logits[0]
        assert torch.allclose(logits, ref, atol=1e-5), "reloaded model differs from the saved one"
        probs = torch.softmax(logits[-1], -1)
        top = torch.topk(probs, 5)
        print(f"  {prompt!r}: top p {[round(v, 3) for v in top.values.tolist()]}")
        entries.append({"prompt": prompt, "input_ids": ids, "logits": logits.tolist()})
    payload = {
        "about": "float32 logits [n_pos][vocab] from transformers for input_ids (BOS prepended)",
        "transformers_version": __import__("transformers").__version__,
        "prompts": entries,
    }
    (out / "expected.json").write_text(json.dumps(payload) + "\n")


def build(name: str, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    out = OUT / name
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    llama_hooks = ("mlp.hook_in", "mlp.hook_out")  # TransformerLens names circuit-tracer's configs use

    if name == "gpt2-tiny":
        fast = save_tokenizer(byte_level_bpe_tokenizer(), out, bos_token="<|endoftext|>", eos_token="<|endoftext|>", unk_token="<|endoftext|>")
        vocab = len(fast)
        eot = fast.convert_tokens_to_ids("<|endoftext|>")
        cfg = GPT2Config(vocab_size=vocab, n_positions=128, n_embd=64, n_layer=3, n_head=4, bos_token_id=eot, eos_token_id=eot, activation_function="gelu_new")
        arch_cls, arch = GPT2LMHeadModel, "gpt2"
    else:
        fast = save_tokenizer(word_level_tokenizer(), out, bos_token="<bos>", eos_token="<eos>", unk_token="<unk>")
        vocab = len(fast)
        common = dict(vocab_size=vocab, hidden_size=64, intermediate_size=128, num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128, bos_token_id=1, eos_token_id=2, rms_norm_eps=1e-6)
        if name == "gemma2-tiny":
            cfg = Gemma2Config(**common, num_hidden_layers=3, head_dim=16, query_pre_attn_scalar=24, sliding_window=4, attn_logit_softcapping=5.0, final_logit_softcapping=4.0, pad_token_id=0, hidden_activation="gelu_pytorch_tanh")
            arch_cls, arch = Gemma2ForCausalLM, "gemma2"
        elif name == "gemma3-tiny":
            rope = {
                "full_attention": {"rope_type": "linear", "factor": 4.0, "rope_theta": 1000000.0},
                "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
            }
            layer_types = ["sliding_attention", "full_attention", "sliding_attention", "full_attention"]
            cfg = Gemma3TextConfig(**common, num_hidden_layers=4, head_dim=16, query_pre_attn_scalar=32, sliding_window=4, layer_types=layer_types, rope_parameters=rope, pad_token_id=0, hidden_activation="gelu_pytorch_tanh")
            arch_cls, arch = Gemma3ForCausalLM, "gemma3"
        elif name == "mistral-tiny":
            cfg = MistralConfig(**common, num_hidden_layers=2, head_dim=16, sliding_window=3, rope_theta=10000.0, tie_word_embeddings=False)
            arch_cls, arch = MistralForCausalLM, "llama"
        elif name == "qwen3-tiny":
            cfg = Qwen3Config(**common, num_hidden_layers=2, head_dim=16, rope_theta=10000.0, tie_word_embeddings=True)
            arch_cls, arch = Qwen3ForCausalLM, "llama"
        else:
            rope_scaling = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64}
            cfg = LlamaConfig(**common, num_hidden_layers=3, rope_theta=10000.0, rope_scaling=rope_scaling, tie_word_embeddings=False)
            arch_cls, arch = LlamaForCausalLM, "llama"

    gemma = arch in ("gemma2", "gemma3")
    if gemma:
        cfg._attn_implementation = "eager"  # soft-capping needs the eager attention
    model = arch_cls(cfg).eval()
    perturb_weights(model, gen, scale=1.0, gain_offset=0.0 if gemma else 1.0)
    with torch.no_grad():
        # Peaked next-token distributions, so logit targets often stop before 10 (when tied this
        # also scales the embedding, which the first norm undoes).
        # Gemma's embeddings are scaled by √d, so its own-token logit is large already.
        model.lm_head.weight.mul_(2.0 if gemma else 3.0)
    model.save_pretrained(out, safe_serialization=True)
    if arch == "gemma3":
        write_config_gemma3_classic(out)
    else:
        write_config_classic(out)

    special = list(fast.all_special_ids)
    ids = sample_sequences(vocab, special, fast.bos_token_id, gen)
    xs, ys = mlp_sites(model, arch, ids)
    per_prompt = [mlp_sites(model, arch, torch.tensor([prompt_ids(fast, p)]))[0] for p in PROMPTS]
    xps = [torch.cat([x[layer] for x in per_prompt]) for layer in range(len(xs))]  # fixture prompts' inputs
    scan = f"circuit-atlas-tests/{name}"
    if name == "llama-clt-tiny":
        active = write_clt(out, xs, ys, xps, d_tc=160, gen=gen, hooks=llama_hooks, scan=scan)
    elif arch == "gemma2":
        active = write_transcoder_set(out, xs, ys, xps, 96, gen, jumprelu=True, skip=False, hooks=("ln2.hook_normalized", "hook_mlp_out"), scan=scan)
        write_gemma_scope_copy(out)
    elif arch == "gemma3":
        active = write_transcoder_set(out, xs, ys, xps, 96, gen, jumprelu=True, skip=True, hooks=("mlp.hook_in", "hook_mlp_out"), scan=scan)
        write_gemma_scope_2_copy(out)
    elif name == "llama-tiny":
        active = write_transcoder_set(out, xs, ys, xps, 192, gen, jumprelu=True, skip=True, hooks=llama_hooks, scan=scan)
    elif name == "mistral-tiny":
        active = write_transcoder_set(out, xs, ys, xps, 64, gen, jumprelu=False, skip=False, hooks=llama_hooks, scan=scan)
    else:
        active = write_transcoder_set(out, xs, ys, xps, 128, gen, jumprelu=False, skip=False, hooks=llama_hooks, scan=scan)
    print(f"{name}: vocab {vocab}, active features per position by layer {[round(a, 1) for a in active]}")
    write_expected(out, arch_cls, fast, model)


def main() -> None:
    torch.set_num_threads(1)
    names = ["llama-tiny", "qwen3-tiny", "gpt2-tiny", "llama-clt-tiny", "gemma2-tiny", "gemma3-tiny", "mistral-tiny"]
    wanted = sys.argv[1:] or names
    for seed, name in enumerate(names, start=1):
        if name in wanted:
            build(name, seed)


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
