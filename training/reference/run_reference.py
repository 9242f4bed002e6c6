"""Run circuit-tracer 0.5.0 (the reference implementation) offline on the fixture models and save
what it produced as compact fixtures for tracer/test/reference.test.ts.

Run through training/reference/setup.sh (it makes the pinned virtual environment first):
    bash training/reference/setup.sh && training/.venv-reference/bin/python training/reference/run_reference.py
    ... run_reference.py bench --model llama-tiny --prompt "The capital of Texas is" --repeats 5

How a local model gets into circuit-tracer offline (the hard part)
------------------------------------------------------------------
circuit-tracer's loaders take Hub names: `ReplacementModel.from_pretrained(name, transcoder_set)`
downloads both. We use its TransformerLens backend, the default one, and build the pieces by hand:
1. the HF model is loaded from the local folder with transformers 4.57 (the version circuit-tracer pins);
2. a `HookedTransformerConfig` is made by TransformerLens' own `convert_hf_model_config` on the
   local folder (Llama, Qwen3), plus what TransformerLens' generic Llama branch leaves out and its
   official Llama-3 entries hard-code: `rotary_base` = rope_theta and the llama3 rope_scaling as
   `use_NTK_by_parts_rope` / `NTK_*`. GPT-2 is built by hand from TransformerLens' GPT-2 branch,
   because that branch reads `hf_config.n_ctx`, which transformers 4.57's GPT2Config no longer has;
   Gemma-2 and Gemma-3 likewise from the local config.json (gemma_hooked_config: TransformerLens only
   has entries for the official checkpoint names);
   the weights go through TransformerLens' `convert_{llama,qwen3,gpt2,gemma}_weights` and
   `load_and_process_state_dict` with the flags circuit-tracer's `from_pretrained_and_transcoders`
   uses (no LayerNorm folding, no centering; value biases folded, which is exact);
3. transcoders come from circuit-tracer's own `load_transcoder_set` / `load_clt` on the local files;
4. `TransformerLensReplacementModel._configure_replacement_model(transcoders)` turns the loaded
   HookedTransformer into the replacement model, exactly what `from_pretrained_and_transcoders`
   does after its download.
Before attributing, the replacement model's plain logits are checked against expected.json
(transformers 5 on the same files): this proves the reference ran the same model.
The nnsight backend is not used: it has no mapping for GPT2LMHeadModel in 0.5.0.

Fixtures written, per model and prompt, to tracer/test/fixtures/reference/<model>/<slug>.*
  <slug>.safetensors  tensors, see TENSORS below; all stored as F32 (integers < 2**24, exact)
  <slug>.json         settings, sizes, logit target tokens, replacement/completeness scores
  <slug>.graph.json   the graph JSON circuit-tracer's create_graph_files writes, re-serialized
                      without indentation (same content) to keep the repository small
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"  # the reference must never reach a hub
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
import yaml  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

import circuit_tracer  # noqa: E402
from circuit_tracer import attribute  # noqa: E402
from circuit_tracer.graph import (  # noqa: E402
    compute_edge_influence,
    compute_graph_scores,
    compute_node_influence,
    find_threshold,
    prune_graph,
)
from circuit_tracer.replacement_model.replacement_model_transformerlens import (  # noqa: E402
    TransformerLensReplacementModel,
)
from circuit_tracer.transcoder.cross_layer_transcoder import load_clt  # noqa: E402
from circuit_tracer.transcoder.single_layer_transcoder import load_transcoder_set  # noqa: E402
from circuit_tracer.utils.create_graph_files import create_graph_files  # noqa: E402
from transformer_lens import HookedTransformerConfig  # noqa: E402
from transformer_lens.loading_from_pretrained import convert_hf_model_config  # noqa: E402
from transformer_lens.pretrained.weight_conversions import (  # noqa: E402
    convert_gemma_weights,
    convert_gpt2_weights,
    convert_llama_weights,
    convert_qwen3_weights,
)
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "tracer" / "test" / "fixtures" / "models"
OUT = ROOT / "tracer" / "test" / "fixtures" / "reference"

NODE_THRESHOLD = 0.8
EDGE_THRESHOLD = 0.98
MAX_N_LOGITS = 10
DESIRED_LOGIT_PROB = 0.95
BATCH_SIZE = 256
# float32 as circuit-tracer runs by default; `fixtures --dtype float64 --out DIR` makes a
# higher-precision copy to tell float32 rounding apart from real differences.
DTYPE = torch.float32

PROMPTS = {
    "capital-of-texas": "The capital of Texas is",
    "dallas-state": "Dallas is a city in the state of",
    "counting": "one two three four five six seven",
}
# (model, slug, prompt, max_feature_nodes, batch_size): budget below the active count, small
# batches so the influence-ranked rounds (update_interval 4 x batch) happen more than once.
LIMITED_RUNS = [("llama-tiny", "capital-of-texas-max40", PROMPTS["capital-of-texas"], 40, 8)]
FIXTURE_MODELS = ["llama-tiny", "qwen3-tiny", "gpt2-tiny", "llama-clt-tiny", "gemma2-tiny", "gemma3-tiny"]

TENSORS = """\
input_tokens          int32 [n_pos]            token ids, BOS included (circuit-tracer's tokenization)
logit_token_ids       int32 [n_logits]         logit targets, most probable first
logit_probabilities   float32 [n_logits]       their probabilities (the logit node weights)
active_features       int32 [n_active, 3]      (layer, pos, feature) of every active feature
activation_values     float32 [n_active]       their activations
selected_features     int32 [n_selected]       indices into active_features that have graph nodes
adjacency_indptr      int32 [n_nodes + 1]      CSR of the dense adjacency A[target, source] by target row
adjacency_indices     int32 [nnz]              source node of each non-zero (ascending within a row)
adjacency_values      float32 [nnz]            A[target, source]
node_influence        float32 [n_nodes]        compute_node_influence on the unpruned graph
cumulative_scores     float32 [n_nodes]        prune_graph's cumulative influence share per node
node_mask_influence   uint8 [n_nodes]          nodes kept by the 0.8 influence threshold, before clean-up
pruned_node_mask      uint8 [n_nodes]          nodes kept after pruning and clean-up
pruned_edges          int32 [n_edges, 2]       (target, source) of the kept edges, row-major order
pruned_edge_scores    float32 [n_edges]        their edge scores (compute_edge_influence)
"""


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def hooked_config(model_dir: Path, hf_config) -> HookedTransformerConfig:
    """TransformerLens config for a local HF folder (see the module docstring, step 2)."""
    arch = hf_config.architectures[0]
    if arch == "GPT2LMHeadModel":
        cfg = {
            "d_model": hf_config.n_embd,
            "d_head": hf_config.n_embd // hf_config.n_head,
            "n_heads": hf_config.n_head,
            "d_mlp": hf_config.n_inner or hf_config.n_embd * 4,
            "n_layers": hf_config.n_layer,
            "n_ctx": hf_config.n_positions,
            "eps": hf_config.layer_norm_epsilon,
            "d_vocab": hf_config.vocab_size,
            "act_fn": hf_config.activation_function,
            "use_attn_scale": True,
            "use_local_attn": False,
            "scale_attn_by_inverse_layer_idx": hf_config.scale_attn_by_inverse_layer_idx,
            "normalization_type": "LN",
            "original_architecture": arch,
        }
    elif arch in ("LlamaForCausalLM", "Qwen3ForCausalLM"):
        cfg = convert_hf_model_config(str(model_dir))
        cfg["rotary_base"] = float(hf_config.rope_theta)
        scaling = getattr(hf_config, "rope_scaling", None) or {}
        if (scaling.get("rope_type") or scaling.get("type")) == "llama3":
            cfg["use_NTK_by_parts_rope"] = True
            cfg["NTK_original_ctx_len"] = scaling["original_max_position_embeddings"]
            cfg["NTK_by_parts_low_freq_factor"] = scaling["low_freq_factor"]
            cfg["NTK_by_parts_high_freq_factor"] = scaling["high_freq_factor"]
            cfg["NTK_by_parts_factor"] = scaling["factor"]
        elif scaling:
            raise ValueError(f"{model_dir}: rope_scaling {scaling} has no TransformerLens equivalent here")
    elif arch in ("Gemma2ForCausalLM", "Gemma3ForCausalLM"):
        cfg = gemma_hooked_config(hf_config, arch)
    else:
        raise ValueError(f"{model_dir}: architecture {arch} is not one the reference runner handles")
    cfg.pop("trust_remote_code", None)
    cfg["tokenizer_name"] = str(model_dir)  # create_graph_files loads the tokenizer from here
    cfg["model_name"] = model_dir.name
    return HookedTransformerConfig(**cfg, device="cpu", dtype=DTYPE)


def gemma_hooked_config(hf_config, arch: str) -> dict:
    """TransformerLens' Gemma-2 / Gemma-3 entries are hard-coded per official checkpoint name, so the
    same fields are filled from the local config.json. Two differ on purpose from TransformerLens'
    gemma-2 entries: `attn_types` follows transformers' layer_types (TransformerLens lists layer 0 as
    global, transformers makes it sliding; the same model only when prompts fit the window), and
    `attn_scale` is √query_pre_attn_scalar (TransformerLens' default √d_head, equal for the released models)."""
    gemma3 = arch == "Gemma3ForCausalLM"
    cfg = {
        "d_model": hf_config.hidden_size,
        "d_head": hf_config.head_dim,
        "n_heads": hf_config.num_attention_heads,
        "n_key_value_heads": hf_config.num_key_value_heads,
        "d_mlp": hf_config.intermediate_size,
        "n_layers": hf_config.num_hidden_layers,
        "n_ctx": hf_config.max_position_embeddings,
        "eps": hf_config.rms_norm_eps,
        "d_vocab": hf_config.vocab_size,
        "act_fn": hf_config.hidden_activation,
        "normalization_type": "RMS",
        "positional_embedding_type": "rotary",
        "rotary_dim": hf_config.head_dim,
        "use_attn_scale": True,
        "attn_scale": float(hf_config.query_pre_attn_scalar) ** 0.5,
        "window_size": hf_config.sliding_window,
        "use_local_attn": True,
        "attn_types": ["local" if t == "sliding_attention" else "global" for t in hf_config.layer_types],
        "gated_mlp": True,
        "final_rms": True,
        "use_normalization_before_and_after": True,
        "original_architecture": arch,
    }
    if hf_config.attn_logit_softcapping:
        cfg["attn_scores_soft_cap"] = float(hf_config.attn_logit_softcapping)
    if hf_config.final_logit_softcapping:
        cfg["output_logits_soft_cap"] = float(hf_config.final_logit_softcapping)
    if gemma3:
        cfg["use_qk_norm"] = True
        cfg["rotary_base"] = float(hf_config.rope_theta)
        cfg["rotary_base_local"] = float(hf_config.rope_local_base_freq)
        scaling = getattr(hf_config, "rope_scaling", None) or {}
        kind = scaling.get("rope_type") or scaling.get("type")
        if kind == "linear":
            cfg["rotary_scaling_factor"] = float(scaling["factor"])
        elif kind not in (None, "default"):
            raise ValueError(f"Gemma-3 rope_scaling {scaling} has no TransformerLens equivalent here")
    else:
        cfg["rotary_base"] = float(hf_config.rope_theta)
    return cfg


def load_transcoders(model_dir: Path):
    """circuit-tracer's own loaders on the local transcoders/ folder (paths made absolute)."""
    tdir = model_dir / "transcoders"
    config = yaml.safe_load((tdir / "config.yaml").read_text())
    common = dict(
        scan=config["scan"],
        feature_input_hook=config["feature_input_hook"],
        feature_output_hook=config["feature_output_hook"],
        device=torch.device("cpu"),
        dtype=DTYPE,
        lazy_encoder=False,
        lazy_decoder=False,
    )
    if config["model_kind"] == "transcoder_set":
        paths = {i: str(tdir / p) for i, p in enumerate(config["transcoders"])}
        return load_transcoder_set(paths, **common)
    if config["model_kind"] == "cross_layer_transcoder":
        return load_clt(str(tdir), **common)
    raise ValueError(f"{tdir}/config.yaml: unknown model_kind {config['model_kind']}")


def load_reference_model(model_dir: Path) -> TransformerLensReplacementModel:
    """A circuit-tracer ReplacementModel for a local HF folder with transcoders/, built offline."""
    model_dir = model_dir.resolve()
    name = model_dir.name
    # TransformerLens' config conversion skips AutoConfig for any path containing "llama" (it
    # then assumes an official Llama name), so it is given a neutral link to the folder.
    link_parent = tempfile.mkdtemp(prefix="ct-ref-")
    atexit.register(shutil.rmtree, link_parent, ignore_errors=True)
    link_dir = Path(link_parent) / name.replace("llama", "lm")
    link_dir.symlink_to(model_dir.resolve(), target_is_directory=True)
    hf_model = AutoModelForCausalLM.from_pretrained(link_dir, torch_dtype=DTYPE).eval()
    tokenizer = AutoTokenizer.from_pretrained(link_dir)
    cfg = hooked_config(link_dir, hf_model.config)
    convert = {
        "LlamaForCausalLM": convert_llama_weights,
        "Qwen3ForCausalLM": convert_qwen3_weights,
        "GPT2LMHeadModel": convert_gpt2_weights,
        "Gemma2ForCausalLM": convert_gemma_weights,
        "Gemma3ForCausalLM": convert_gemma_weights,
    }[cfg.original_architecture]
    model = TransformerLensReplacementModel(cfg, tokenizer=tokenizer)
    model.load_and_process_state_dict(
        convert(hf_model, cfg),
        fold_ln=False,
        center_writing_weights=False,
        center_unembed=False,
    )
    check_logits(model, model_dir)
    # circuit-tracer 0.5.0's _deduplicate_attention_buffers gives every layer the last layer's RoPE
    # tables; Gemma-3's local and global layers rotate differently, so its replacement model would
    # no longer be the model checked above. The per-layer tables are put back (the one change made
    # to the reference; its own nnsight backend, which it uses for Gemma-3, has no such sharing).
    per_layer_rotary = cfg.rotary_base_local is not None or cfg.rotary_scaling_factor != 1.0
    rotary = [(b.attn.rotary_sin, b.attn.rotary_cos) for b in model.blocks] if per_layer_rotary else None
    model._configure_replacement_model(load_transcoders(model_dir))
    if rotary is not None:
        for block, (sin, cos) in zip(model.blocks, rotary):
            block.attn.rotary_sin, block.attn.rotary_cos = sin, cos
    return model


def check_logits(model, model_dir: Path) -> float:
    """The reference model must compute what transformers computes on the same files."""
    if not (model_dir / "expected.json").exists():
        log(f"{model_dir.name}: no expected.json, logits not checked against transformers")
        return float("nan")
    expected = json.loads((model_dir / "expected.json").read_text())
    worst = 0.0
    for entry in expected["prompts"]:
        with torch.no_grad():
            logits = model(torch.tensor([entry["input_ids"]]))[0]
        worst = max(worst, (logits - torch.tensor(entry["logits"], dtype=logits.dtype)).abs().max().item())
    if worst > 1e-4:
        raise RuntimeError(f"{model_dir.name}: TransformerLens logits differ from transformers by {worst:.2e}")
    log(f"{model_dir.name}: reference model logits match transformers (max abs diff {worst:.1e})")
    return worst


def as_float32(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Every tensor stored as F32, the dtype the project's one safetensors reader returns; the
    integer tensors (ids, indices, masks) stay exact because they are all below 2**24."""
    out = {}
    for name, t in tensors.items():
        if not t.is_floating_point() and t.numel() and t.abs().max().item() >= 2**24:
            raise ValueError(f"{name} holds integers too large to store exactly as float32")
        out[name] = t.to(torch.float32).contiguous()
    return out


def to_csr(dense: torch.Tensor) -> dict[str, torch.Tensor]:
    nz = dense != 0
    counts = nz.sum(1)
    indptr = torch.zeros(dense.shape[0] + 1, dtype=torch.int64)
    indptr[1:] = torch.cumsum(counts, 0)
    rows, cols = nz.nonzero(as_tuple=True)  # row-major, so sources ascend within a row
    return {
        "adjacency_indptr": indptr.to(torch.int32),
        "adjacency_indices": cols.to(torch.int32),
        "adjacency_values": dense[rows, cols].to(torch.float32),
    }


def run_fixture(model, model_name: str, slug: str, prompt: str, max_feature_nodes: int | None, batch_size: int) -> None:
    started = time.perf_counter()
    graph = attribute(
        prompt,
        model,
        max_n_logits=MAX_N_LOGITS,
        desired_logit_prob=DESIRED_LOGIT_PROB,
        batch_size=batch_size,
        max_feature_nodes=max_feature_nodes,
    )
    seconds = time.perf_counter() - started
    expected = json.loads((MODELS / model_name / "expected.json").read_text())
    want_ids = next(p["input_ids"] for p in expected["prompts"] if p["prompt"] == prompt)
    if graph.input_tokens.tolist() != want_ids:
        raise RuntimeError(f"{model_name}/{slug}: circuit-tracer tokenized {graph.input_tokens.tolist()}, expected.json has {want_ids}")

    A = graph.adjacency_matrix
    n_nodes = A.shape[0]
    n_logits = len(graph.logit_targets)
    n_tokens = len(graph.input_tokens)
    logit_weights = torch.zeros(n_nodes)
    logit_weights[-n_logits:] = graph.logit_probabilities

    node_influence = compute_node_influence(A, logit_weights)
    pruned = prune_graph(graph, NODE_THRESHOLD, EDGE_THRESHOLD)
    # prune_graph does not return the influence-stage node mask or the edge scores: recompute them
    # with the same library functions, as prune_graph does internally.
    mask_influence = node_influence >= find_threshold(node_influence, NODE_THRESHOLD)
    mask_influence[-n_logits - n_tokens :] = True
    masked = A.clone()
    masked[~mask_influence] = 0
    masked[:, ~mask_influence] = 0
    edge_scores = compute_edge_influence(masked, logit_weights)
    edge_targets, edge_sources = pruned.edge_mask.nonzero(as_tuple=True)
    replacement, completeness = compute_graph_scores(graph)

    tensors = {
        "input_tokens": graph.input_tokens.to(torch.int32),
        "logit_token_ids": graph.logit_token_ids.to(torch.int32),
        "logit_probabilities": graph.logit_probabilities.to(torch.float32),
        "active_features": graph.active_features.to(torch.int32),
        "activation_values": graph.activation_values.to(torch.float32),
        "selected_features": graph.selected_features.to(torch.int32),
        **to_csr(A),
        "node_influence": node_influence.to(torch.float32),
        "cumulative_scores": pruned.cumulative_scores.to(torch.float32),
        "node_mask_influence": mask_influence.to(torch.uint8),
        "pruned_node_mask": pruned.node_mask.to(torch.uint8),
        "pruned_edges": torch.stack([edge_targets, edge_sources], 1).to(torch.int32),
        "pruned_edge_scores": edge_scores[edge_targets, edge_sources].to(torch.float32),
    }
    out_dir = OUT / model_name
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(as_float32(tensors), out_dir / f"{slug}.safetensors")

    n_features = len(graph.selected_features)
    meta = {
        "model": model_name,
        "slug": slug,
        "prompt": prompt,
        "circuit_tracer_version": circuit_tracer.__version__ if hasattr(circuit_tracer, "__version__") else "0.5.0",
        "backend": "transformerlens",
        "settings": {
            "max_n_logits": MAX_N_LOGITS,
            "desired_logit_prob": DESIRED_LOGIT_PROB,
            "batch_size": batch_size,
            "max_feature_nodes": max_feature_nodes,
            "node_threshold": NODE_THRESHOLD,
            "edge_threshold": EDGE_THRESHOLD,
            "update_interval": 4,
        },
        "n_layers": graph.cfg.n_layers,
        "n_pos": graph.n_pos,
        "n_active_features": len(graph.active_features),
        "n_selected_features": n_features,
        "n_error_nodes": graph.cfg.n_layers * graph.n_pos,
        "n_token_nodes": n_tokens,
        "n_logit_nodes": n_logits,
        "n_nodes": n_nodes,
        "adjacency_nnz": int((A != 0).sum()),
        "logit_targets": [{"token": t.token_str, "token_id": int(t.vocab_idx)} for t in graph.logit_targets],
        "replacement_score": replacement,
        "completeness_score": completeness,
        "pruned_nodes": int(pruned.node_mask.sum()),
        "pruned_edges": int(pruned.edge_mask.sum()),
        "tensors": TENSORS.splitlines(),
    }
    (out_dir / f"{slug}.json").write_text(json.dumps(meta, indent=2) + "\n")

    with tempfile.TemporaryDirectory() as tmp:
        create_graph_files(graph, slug, tmp, scan=model.scan, node_threshold=NODE_THRESHOLD, edge_threshold=EDGE_THRESHOLD)
        graph_json = json.loads((Path(tmp) / f"{slug}.json").read_text())
    (out_dir / f"{slug}.graph.json").write_text(json.dumps(graph_json, separators=(",", ":")) + "\n")
    log(
        f"{model_name}/{slug}: {n_features}/{len(graph.active_features)} features, {n_logits} logits, "
        f"{meta['adjacency_nnz']} edges -> pruned {meta['pruned_nodes']} nodes / {meta['pruned_edges']} edges, "
        f"replacement {replacement:.4f}, completeness {completeness:.4f}, {seconds:.2f}s"
    )


def make_fixtures(models: list[str]) -> None:
    for name in models:
        model = load_reference_model(MODELS / name)
        for slug, prompt in PROMPTS.items():
            run_fixture(model, name, slug, prompt, None, BATCH_SIZE)
        for run_model, slug, prompt, budget, batch in LIMITED_RUNS:
            if run_model == name:
                run_fixture(model, name, slug, prompt, budget, batch)


def bench(model_dir: Path, prompt: str, repeats: int, batch_size: int, max_feature_nodes: int | None) -> None:
    """Times circuit-tracer's attribute() (model loading excluded); prints one JSON line."""
    model = load_reference_model(model_dir)
    model_name = model_dir.name
    attribute(prompt, model, batch_size=batch_size, max_feature_nodes=max_feature_nodes)  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        attribute(prompt, model, batch_size=batch_size, max_feature_nodes=max_feature_nodes)
        times.append(time.perf_counter() - started)
    print(json.dumps({"model": model_name, "prompt": prompt, "seconds": times, "median_seconds": statistics.median(times), "torch_threads": torch.get_num_threads()}))


def main() -> None:
    global DTYPE, OUT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    fx = sub.add_parser("fixtures", help="write tracer/test/fixtures/reference (default)")
    fx.add_argument("--models", nargs="*", default=FIXTURE_MODELS)
    fx.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    fx.add_argument("--out", type=Path, default=OUT, help="fixture folder (default: the committed one)")
    bp = sub.add_parser("bench", help="time circuit-tracer's attribute() on one model and prompt")
    bp.add_argument("--model", required=True, help="a fixture model name or a model folder")
    bp.add_argument("--prompt", required=True)
    bp.add_argument("--repeats", type=int, default=5)
    bp.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    bp.add_argument("--max-feature-nodes", type=int, default=None)
    args = parser.parse_args()
    torch.manual_seed(0)
    if args.command == "bench":
        model_dir = Path(args.model) if Path(args.model).is_dir() else MODELS / args.model
        bench(model_dir, args.prompt, args.repeats, args.batch_size, args.max_feature_nodes)
    else:
        DTYPE = getattr(torch, getattr(args, "dtype", "float32"))
        OUT = getattr(args, "out", OUT)
        torch.set_default_dtype(DTYPE)
        make_fixtures(getattr(args, "models", FIXTURE_MODELS))


if __name__ == "__main__":
    main()
