"""Transcoder trials for readable circuits (issue 10): train the demo model's transcoders with another
recipe into a folder outside the repository, next to copies of the model files, and measure at once
how concentrated the state code at the city position is (the full measure is `npm run bench --
circuits` with CIRCUITS_MODEL_DIR pointing at the folder, after `circuit-atlas features`).

    python -m training.world.transcoder_trials --out /tmp/atlas-try-1 --d-tc 2048 --target-l0 8
    python -m training.world.transcoder_trials --out /tmp/t --layers 1 --steps 800   # quick, one layer

State concentration at the city's last token (demo template, all 250 cities; printed per layer):
`active` = mean number of active features there; `exclusive` = features firing on ≥ 3 of one state's
5 cities with ≥ 60% of their firings there; `states` = states having such a feature; `mass` = mean
share of the activation·‖W_dec‖ at a city that goes to features with ≥ 60% of their firings on its
own state (state features, or features of that one city).
"""

import argparse
import json
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

import torch
from safetensors.torch import load_file
from tokenizers import Tokenizer
from transformers import LlamaForCausalLM

from .analysis import city_last_position, feature_acts_at
from .build import JUMP_THRESHOLD, ROOT, SEED, TRANSCODER_SPEC, activation_texts
from .corpus import build_corpus, build_world, eval_prompt
from .dashboards import entity_spans, world_entities
from .transcoders import (
    collect_mlp_activations,
    finish_transcoder,
    save_transcoders,
    train_transcoder,
    transcoder_metrics,
)

MODEL_FILES = (
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "special_tokens_map.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "training_history.json",
    "world.json",
)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def city_positions(tok: Tokenizer, seqs: list[list[int]], acts, world) -> torch.Tensor:
    """[N] bool: the collected position is the last token of a city name."""
    vocab = [tok.id_to_token(i) for i in range(tok.get_vocab_size())]
    ents = world_entities(world)
    last = set()
    for s, ids in enumerate(seqs):
        spans = entity_spans([vocab[i] for i in ids], ents)
        for p, e in enumerate(spans):
            if e is not None and e[0] == "city" and (p + 1 == len(spans) or spans[p + 1] != e):
                last.add((s, p))
    return torch.tensor([(int(s), int(p)) in last for s, p in zip(acts.seq, acts.pos)])


@torch.no_grad()
def state_concentration(model, tcs, tok: Tokenizer, world, layers: list[int]) -> list[dict]:
    states = sorted(world.states)
    cities = list(world.city_state)
    label = torch.tensor([states.index(world.city_state[c]) for c in cities])
    rows = []
    for c in cities:
        p = eval_prompt("capital", c)
        rows.append(feature_acts_at(model, tcs, tok, p, city_last_position(tok, p, c)))
    out = []
    for layer in layers:
        a = torch.stack([r[layer] for r in rows])  # [n_cities, d_tc]
        fired = a > 0
        per_state = torch.stack([fired[label == si].sum(0) for si in range(len(states))])  # [50, d_tc]
        best = per_state.max(0)
        share = best.values / fired.sum(0).clamp(min=1)
        exclusive = (best.values >= 3) & (share >= 0.6)
        owner = torch.where(exclusive, best.indices, torch.full_like(best.indices, -1))
        pure_owner = torch.where(share >= 0.6, best.indices, torch.full_like(best.indices, -1))  # city or state features
        w = a * tcs[layer]["W_dec"].norm(dim=1)
        own = (w * (pure_owner[None, :] == label[:, None])).sum(1) / w.sum(1).clamp(min=1e-9)
        out.append(
            {
                "layer": layer,
                "active": round(float(fired.float().sum(1).mean()), 1),
                "exclusive": int(exclusive.sum()),
                "states": int(owner[exclusive].unique().numel()),
                "mass": round(float(own.mean()), 3),
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--model", default=str(ROOT / "models" / "atlas-world"))
    parser.add_argument("--layers", default="", help="comma list; default all (a partial run writes no folder)")
    parser.add_argument("--d-tc", type=int, default=TRANSCODER_SPEC.d_tc)
    parser.add_argument("--target-l0", type=float, default=TRANSCODER_SPEC.target_l0)
    parser.add_argument("--steps", type=int, default=TRANSCODER_SPEC.steps)
    parser.add_argument("--lr", type=float, default=TRANSCODER_SPEC.lr)
    parser.add_argument("--city-weight", type=float, default=TRANSCODER_SPEC.city_weight)
    parser.add_argument("--resample-at", default=",".join(str(f) for f in TRANSCODER_SPEC.resample_at), help="e.g. 0.2,0.4,0.6")
    parser.add_argument("--data-init", action="store_true")
    parser.add_argument("--seed-reach", type=float, default=TRANSCODER_SPEC.seed_reach)
    parser.add_argument("--jump", type=float, default=JUMP_THRESHOLD)
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("ATLAS_THREADS", "1")))
    torch.use_deterministic_algorithms(True)
    src, out = Path(args.model), Path(args.out)
    spec = replace(
        TRANSCODER_SPEC, d_tc=args.d_tc, target_l0=args.target_l0, steps=args.steps, lr=args.lr, city_weight=args.city_weight,
        data_init=args.data_init,
        seed_reach=args.seed_reach,
        resample_at=tuple(float(f) for f in args.resample_at.split(",") if f),
    )
    world = build_world(SEED)
    corpus = build_corpus(world)
    model = LlamaForCausalLM.from_pretrained(src, torch_dtype=torch.float32).eval()
    tok = Tokenizer.from_file(str(src / "tokenizer.json"))
    n_layers = model.config.num_hidden_layers
    layers = [int(v) for v in args.layers.split(",")] if args.layers else list(range(n_layers))
    seqs = [tok.encode(t).ids for t in activation_texts(corpus, world)]
    acts = collect_mlp_activations(model, seqs, tok.token_to_id("<pad>"))
    at_city = city_positions(tok, seqs, acts, world)
    log(f"spec {spec.__dict__} jump {args.jump}; {len(at_city)} positions, {int(at_city.sum())} at cities")
    tcs: list = [None] * n_layers
    metrics = []
    for layer in layers:
        x, y = acts.x[layer], acts.y[layer]
        tc = train_transcoder(x, y, spec, log=log, city_mask=at_city)
        before = transcoder_metrics(tc, x, y)
        tc = finish_transcoder(tc, x, y, args.jump)
        m = {"layer": layer, **transcoder_metrics(tc, x, y), "relu_fvu": before["fvu"], "relu_l0": before["l0"]}
        m["city_fvu"] = transcoder_metrics(tc, x[at_city], y[at_city])["fvu"]
        log(f"  {m}")
        tcs[layer] = tc
        metrics.append(m)
    for layer in range(n_layers):  # layers not trained keep the source's transcoders (partial runs)
        if tcs[layer] is None:
            tcs[layer] = load_file(str(src / "transcoders" / f"layer_{layer}.safetensors"))
    conc = state_concentration(model, tcs, tok, world, layers)
    for c in conc:
        log(f"  state concentration {c}")
    out.mkdir(parents=True, exist_ok=True)
    if len(layers) == n_layers:
        for name in MODEL_FILES:
            shutil.copy(src / name, out / name)
        save_transcoders(tcs, out / "transcoders", model_name="atlas-world")
    (out / "trial.json").write_text(
        json.dumps({"spec": spec.__dict__, "jump_threshold": args.jump, "layers": metrics, "state_concentration": conc}, indent=1)
        + "\n"
    )


if __name__ == "__main__":
    main()
