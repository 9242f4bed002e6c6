"""Rebuild the demo world model and everything around it, deterministically from seeds, on CPU.

    python -m training.world.build                  # everything (~30-40 min on 2 cores)
    python -m training.world.build --from transcoders   # reuse the saved model, redo the rest

Stages: model (world, corpus, tokenizer, LlamaForCausalLM), transcoders, dashboards, analysis
(graph-check prompts, intervention), report. Outputs go to models/atlas-world/.
"""

import argparse
import json
import os
import time
from pathlib import Path

import torch
from safetensors.torch import load_file
from tokenizers import Tokenizer
from transformers import GenerationConfig, LlamaForCausalLM

from . import analysis
from .corpus import (
    SAVED_SPECIAL_TOKENS,
    DEMO_PROMPT,
    GRAPH_CHECK_CITIES,
    RELATIONS,
    build_corpus,
    build_tokenizer,
    build_world,
    eval_prompt,
    relation_value,
    write_tokenizer,
)
from .dashboards import compute_dashboards
from .report import write_report
from .train_model import ModelSpec, evaluate, train_model
from .transcoders import (
    TranscoderSpec,
    collect_mlp_activations,
    finish_transcoder,
    save_transcoders,
    train_transcoder,
    transcoder_metrics,
)

ROOT = Path(__file__).resolve().parents[2]
STAGES = ("model", "transcoders", "dashboards", "analysis", "report")
SEED = 0
MODEL_SPEC = ModelSpec(seed=SEED)
TRANSCODER_SPEC = TranscoderSpec(seed=SEED)
JUMP_THRESHOLD = 0.2  # θ_f as a fraction of feature f's mean active value


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def activation_texts(corpus, world) -> list[str]:
    """The corpus plus every two-hop evaluation prompt (no answer), so transcoders and dashboards
    cover the prompts we trace, held-out compositions included."""
    return [s.text for s in corpus] + [eval_prompt(r, c) for r in RELATIONS for c in world.city_state]


def load_transcoders(out: Path, n_layers: int) -> list[dict[str, torch.Tensor]]:
    return [load_file(str(out / "transcoders" / f"layer_{i}.safetensors")) for i in range(n_layers)]


@torch.no_grad()
def renumber_bos_for_saving(model: LlamaForCausalLM, corpus, world) -> Tokenizer:
    """circuit-tracer (and our tracer, which matches it) takes the first truthy id among the bos, pad,
    eos and special ids as BOS, so a <bos> of id 0 would be passed over for <pad>. The saved checkpoint
    therefore gives <bos> and <pad> each other's ids, moving their embedding and unembedding rows with
    them: the same function of the same text. Returns the tokenizer with the saved ids."""
    trained = build_tokenizer(corpus, world)
    saved = build_tokenizer(corpus, world, SAVED_SPECIAL_TOKENS)
    old_id = [trained.token_to_id(saved.id_to_token(i)) for i in range(saved.get_vocab_size())]  # saved id → trained id
    model.model.embed_tokens.weight.copy_(model.model.embed_tokens.weight[old_id].clone())
    model.lm_head.weight.copy_(model.lm_head.weight[old_id].clone())
    for name in ("bos", "eos", "pad"):
        setattr(model.config, f"{name}_token_id", saved.token_to_id(f"<{name}>"))
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "models" / "atlas-world"))
    parser.add_argument("--from", dest="start", choices=STAGES, default="model")
    parser.add_argument("--steps", type=int, default=MODEL_SPEC.steps)
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("ATLAS_THREADS", "1")))
    torch.use_deterministic_algorithms(True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    todo = STAGES[STAGES.index(args.start) :]

    world = build_world(SEED)
    corpus = build_corpus(world)
    tok = build_tokenizer(corpus, world)
    meta_path = out / "training_history.json"

    if "model" in todo:
        log(f"corpus: {len(corpus)} sentences, vocabulary {tok.get_vocab_size()}")
        (out / "world.json").write_text(json.dumps(world.to_json(), indent=1) + "\n")
        spec = ModelSpec(**{**MODEL_SPEC.__dict__, "steps": args.steps})
        model, history, info = train_model(spec, tok, corpus, world, log=log)
        write_tokenizer(renumber_bos_for_saving(model, corpus, world), out)
        model.generation_config = GenerationConfig(
            bos_token_id=model.config.bos_token_id,
            eos_token_id=model.config.eos_token_id,
            pad_token_id=model.config.pad_token_id,
            do_sample=False,
            max_new_tokens=8,
        )
        model.save_pretrained(out, safe_serialization=True)
        meta_path.write_text(json.dumps({**info, "history": history}, indent=1) + "\n")
        log(f"model saved; best step {info['best_step']}")
    model = LlamaForCausalLM.from_pretrained(out, torch_dtype=torch.float32)
    model.eval()
    tok = Tokenizer.from_file(str(out / "tokenizer.json"))
    n_layers = model.config.num_hidden_layers
    pad_id = tok.token_to_id("<pad>")
    texts = activation_texts(corpus, world)
    seqs = [tok.encode(t).ids for t in texts]
    acts = collect_mlp_activations(model, seqs, pad_id)
    log(f"activations: {acts.x[0].shape[0]} positions x {n_layers} layers")

    tc_metrics_path = out / "transcoders" / "metrics.json"
    if "transcoders" in todo:
        tcs, metrics = [], []
        for layer in range(n_layers):
            log(f"transcoder layer {layer}")
            tc = train_transcoder(acts.x[layer], acts.y[layer], TRANSCODER_SPEC, log=log)
            before = transcoder_metrics(tc, acts.x[layer], acts.y[layer])
            tc = finish_transcoder(tc, acts.x[layer], acts.y[layer], JUMP_THRESHOLD)
            m = {"layer": layer, **transcoder_metrics(tc, acts.x[layer], acts.y[layer]), "relu_fvu": before["fvu"], "relu_l0": before["l0"], "l1_final": float(tc["l1_final"])}
            log(f"  {m}")
            tcs.append(tc)
            metrics.append(m)
        save_transcoders(tcs, out / "transcoders", model_name="atlas-world")
        tc_metrics_path.write_text(json.dumps({"spec": TRANSCODER_SPEC.__dict__, "jump_threshold": JUMP_THRESHOLD, "layers": metrics}, indent=1) + "\n")
    tcs = load_transcoders(out, n_layers)

    if "dashboards" in todo:
        # Computed by circuit-atlas itself (dashboards.py): the command users run on any model.
        compute_dashboards(ROOT, out, texts, log=log)

    analysis_path = ROOT / "training" / ".cache" / "analysis.json"
    if "analysis" in todo:
        result = run_analysis(model, tok, tcs, world, seqs, pad_id, out)
        analysis_path.parent.mkdir(parents=True, exist_ok=True)
        analysis_path.write_text(json.dumps(result, indent=1) + "\n")

    if "report" in todo:
        write_report(
            out,
            world=world,
            corpus=corpus,
            model=model,
            tok=tok,
            history=json.loads(meta_path.read_text()),
            tc_metrics=json.loads(tc_metrics_path.read_text()),
            analysis=json.loads(analysis_path.read_text()),
        )
        log("REPORT.md written")


def run_analysis(model, tok, tcs, world, seqs, pad_id, out: Path) -> dict:
    result: dict = {}
    result["composition"] = evaluate(model, tok, world)
    result["atomic"] = analysis.atomic_accuracy(model, tok, world)
    log(f"composition {result['composition']}")
    result["lens"] = analysis.logit_lens_and_probe(model, tok, world)
    result["replacement"] = analysis.replacement_agreement(model, tcs, seqs, pad_id)
    log(f"replacement agreement {result['replacement']}")
    feats = analysis.state_features(model, tcs, tok, world)
    result["state_feature_counts"] = {s: len(v) for s, v in feats.items()}
    dash_labels = {}
    for layer in range(len(tcs)):
        for d in json.loads((out / "dashboards" / f"layer_{layer}.json").read_text()):
            dash_labels[(layer, d["index"])] = d["label"]
    checks = []
    for city in GRAPH_CHECK_CITIES:
        state = world.city_state[city]
        prompt = eval_prompt("capital", city)
        pos = analysis.city_last_position(tok, prompt, city)
        acts = analysis.feature_acts_at(model, tcs, tok, prompt, pos)
        active = [
            {
                "layer": f["layer"],
                "feature": f["feature"],
                "position": pos,
                "node_id": f"{f['layer']}_{f['feature']}_{pos}",
                "activation": round(float(acts[f["layer"]][f["feature"]]), 4),
                "label": dash_labels.get((f["layer"], f["feature"]), ""),
            }
            for f in feats[state]
            if acts[f["layer"]][f["feature"]] > 0
        ]
        # features whose dashboard label names the state first (what the graph test looks for), then by activation
        active.sort(key=lambda a: (a["label"] != state, -a["activation"]))
        _, top = analysis.next_token_distribution(model, tok, prompt)
        checks.append(
            {
                "city": city,
                "state": state,
                "prompt": prompt,
                "tokens": [tok.id_to_token(i) for i in tok.encode(prompt).ids],
                "expected_answer": relation_value(world.states[state], "capital"),
                "city_position": pos,
                "model_top5": top,
                "state_labelled_features": [a["node_id"] for a in active if a["label"] == state],
                "state_features": active,
            }
        )
    swaps = []
    pairs = [("Dallas", "California"), ("Chicago", "Texas"), ("Seattle", "Florida"), ("Miami", "Washington"), ("Buffalo", "Michigan"), ("Detroit", "New York")]
    for city, new_state in pairs:
        for scale in (1.0, 2.0, 4.0):  # the smallest injection multiplier that works (or the largest tried)
            r = analysis.swap_state(model, tcs, tok, world, feats, city, new_state, scale)
            if r["success"]:
                break
        swaps.append(r)
    result["interventions"] = swaps
    result["graph_checks"] = checks
    (ROOT / "training" / "world" / "graph_checks.json").write_text(
        json.dumps(
            {
                "description": "Prompts for the TypeScript graph checks (issue 4): expected answer, and the "
                "transcoder features that carry the city's state at the city's last token (position counts "
                "<bos> as 0; node_id in the {layer}_{feature}_{pos} scheme); and the state-swap interventions as "
                "feature values to set (set_features), with the top predictions PyTorch gave for them. "
                "Generated by training/world/build.py.",
                "model": "models/atlas-world",
                "demo_prompt": DEMO_PROMPT,
                "prompts": checks,
                "interventions": swaps,
            },
            indent=1,
        )
        + "\n"
    )
    for s in swaps:
        log(f"intervention {s['city']} {s['from_state']}→{s['to_state']} x{s['scale']}: {s['top5'][:3]}")
    return result


if __name__ == "__main__":
    main()
