"""Analyses for the report: atomic accuracy, logit lens and state probes per layer, replacement-model
agreement, state features at the city position, and the Texas → California intervention."""

from contextlib import contextmanager

import torch
from tokenizers import Tokenizer

from .corpus import PAD, RELATIONS, World, eval_prompt, relation_value
from .train_model import answer_accuracy, pad_batch
from .transcoders import decode, encode


def atomic_accuracy(model, tok: Tokenizer, world: World) -> dict[str, float]:
    """Accuracy on trained single-hop facts in their "Fact:" template."""
    out = {}
    cities = list(world.city_state.items())
    ok = answer_accuracy(
        model, tok, [f"Fact: {c} is located in the state of" for c, _ in cities], [s for _, s in cities]
    )
    out["city → state"] = sum(ok) / len(ok)
    prompts = {
        "capital": "Fact: the capital of {s} is",
        "region": "Fact: the region of {s} is",
        "abbreviation": "Fact: the postal abbreviation of {s} is",
        "nickname": "Fact: the nickname of {s} is",
    }
    for r, p in prompts.items():
        states = list(world.states.values())
        ok = answer_accuracy(model, tok, [p.format(s=s.name) for s in states], [relation_value(s, r) for s in states])
        out[f"state → {r}"] = sum(ok) / len(ok)
    return out


@torch.no_grad()
def residuals(model, ids: torch.Tensor) -> list[torch.Tensor]:
    """Residual stream after the embedding and after every layer: n_layers + 1 tensors [B, T, d]."""
    return list(model(input_ids=ids, output_hidden_states=True).hidden_states)


def city_last_position(tok: Tokenizer, prompt: str, city: str) -> int:
    ids = tok.encode(prompt).ids
    city_ids = tok.encode(city, add_special_tokens=False).ids
    for i in range(len(ids) - len(city_ids), -1, -1):
        if ids[i : i + len(city_ids)] == city_ids:
            return i + len(city_ids) - 1
    raise ValueError(f"{city!r} not in {prompt!r}")


@torch.no_grad()
def logit_lens_and_probe(model, tok: Tokenizer, world: World) -> dict:
    """Per layer: (a) linear-probe accuracy for the state at the city's last token, trained on
    trained cities (all four two-hop prompts) and tested on the capital-held-out cities in the demo
    template; (b) logit-lens top-1 rate of the capital's first token at the last position of the
    held-out demo-template prompts (final norm + unembedding applied to the residual)."""
    states = sorted(world.states)
    pad = tok.token_to_id(PAD)
    held = set(world.held_out["capital"])

    def collect(pairs):  # pairs of (relation, city) → per-layer [n, d] at the city and last position
        prompts = [eval_prompt(r, c) for r, c in pairs]
        seqs = [tok.encode(p).ids for p in prompts]
        ids, _ = pad_batch(seqs, pad)
        hs = residuals(model, ids)
        city_pos = torch.tensor([city_last_position(tok, p, c) for p, (_, c) in zip(prompts, pairs)])
        last = torch.tensor([len(s) - 1 for s in seqs])
        rows = torch.arange(len(seqs))
        return [h[rows, city_pos] for h in hs], [h[rows, last] for h in hs]

    train_pairs = [(r, c) for r in RELATIONS for c in world.city_state if c not in held]
    test_pairs = [("capital", c) for c in world.held_out["capital"]]
    train_city, _ = collect(train_pairs)
    test_city, test_last = collect(test_pairs)
    y_train = torch.tensor([states.index(world.city_state[c]) for _, c in train_pairs])
    y_test = torch.tensor([states.index(world.city_state[c]) for _, c in test_pairs])
    capitals = [relation_value(world.states[world.city_state[c]], "capital") for _, c in test_pairs]
    cap_ids = torch.tensor([tok.encode(a, add_special_tokens=False).ids[0] for a in capitals])
    rows = []
    for layer, (xtr, xte, last) in enumerate(zip(train_city, test_city, test_last)):
        probe_acc = linear_probe(xtr, y_train, xte, y_test, n_classes=len(states))
        lens_logits = model.lm_head(model.model.norm(last))  # [n, vocab]
        lens_top1 = float((lens_logits.argmax(-1) == cap_ids).float().mean())
        rank = (lens_logits > lens_logits.gather(1, cap_ids[:, None])).sum(1).float()
        rows.append(
            {
                "layer": "embedding" if layer == 0 else f"after layer {layer - 1}",
                "state_probe_held_out": probe_acc,
                "capital_lens_top1": lens_top1,
                "capital_lens_mean_rank": float(rank.mean()),
            }
        )
    return {"rows": rows, "n_probe_train": len(train_pairs), "n_test": len(test_pairs)}


def linear_probe(xtr, ytr, xte, yte, n_classes: int) -> float:
    """Multinomial logistic regression (standardised inputs, L2) trained with L-BFGS."""
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    a, b = (xtr - mu) / sd, (xte - mu) / sd
    with torch.enable_grad():
        w = torch.zeros(a.shape[1], n_classes, requires_grad=True)
        c = torch.zeros(n_classes, requires_grad=True)
        opt = torch.optim.LBFGS([w, c], lr=0.5, max_iter=200)

        def closure():
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(a @ w + c, ytr) + 1e-3 * (w**2).sum()
            loss.backward()
            return loss

        opt.step(closure)
    return float(((b @ w + c).argmax(-1) == yte).float().mean())


@contextmanager
def mlp_patch(model, fn):
    """Replace each MLP's output by fn(layer, mlp_input, mlp_output, position-batch)."""
    hooks = [
        layer.mlp.register_forward_hook(lambda m, inp, out, i=i: fn(i, inp[0], out))
        for i, layer in enumerate(model.model.layers)
    ]
    try:
        yield
    finally:
        for h in hooks:
            h.remove()


@torch.no_grad()
def replacement_agreement(model, tcs, seqs: list[list[int]], pad_id: int, batch: int = 256) -> dict:
    """Top-1 next-token agreement of the replacement model (every MLP replaced by its transcoder,
    no error terms) with the model, over all non-padding corpus positions."""
    agree = total = 0
    for start in range(0, len(seqs), batch):
        ids, labels = pad_batch(seqs[start : start + batch], pad_id)
        mask = labels != -100
        base = model(input_ids=ids).logits.argmax(-1)
        with mlp_patch(model, lambda i, x, y: decode(tcs[i], encode(tcs[i], x))):
            repl = model(input_ids=ids).logits.argmax(-1)
        agree += int(((base == repl) & mask).sum())
        total += int(mask.sum())
    return {"agreement": agree / total, "positions": total}


@torch.no_grad()
def feature_acts_at(model, tcs, tok: Tokenizer, prompt: str, pos: int) -> list[torch.Tensor]:
    """Transcoder activations [d_tc] of every layer at one position of a prompt."""
    cache = {}
    ids = torch.tensor([tok.encode(prompt).ids])
    with mlp_patch(model, lambda i, x, y: cache.__setitem__(i, encode(tcs[i], x[0, pos]))):
        model(input_ids=ids)
    return [cache[i] for i in range(len(tcs))]


@torch.no_grad()
def state_features(model, tcs, tok: Tokenizer, world: World, enrichment: float = 4.0) -> dict[str, list[dict]]:
    """For every state S, the features enriched for S at its cities' last token: over the four two-hop
    prompts of all cities, f's mean activation on S's cities is ≥ `enrichment` × its mean over the 50
    per-state means. The state code at the city is distributed, so few features are exclusive to one
    state; enrichment picks the features that together carry it (the paper's "Texas" supernode).
    Returns S → [{layer, feature, mean_act (mean on S's cities), enrichment, recall, precision}]."""
    states = sorted(world.states)
    pairs = [(r, c) for r in RELATIONS for c in world.city_state]
    acts = [[] for _ in tcs]
    for r, c in pairs:
        p = eval_prompt(r, c)
        for layer, a in enumerate(feature_acts_at(model, tcs, tok, p, city_last_position(tok, p, c))):
            acts[layer].append(a)
    label = torch.tensor([states.index(world.city_state[c]) for _, c in pairs])
    out: dict[str, list[dict]] = {s: [] for s in states}
    for layer, rows in enumerate(acts):
        a = torch.stack(rows)  # [n_pairs, d_tc]
        fired = (a > 0).float()
        per_state = torch.stack([a[label == si].mean(0) for si in range(len(states))])  # [50, d_tc]
        overall = per_state.mean(0)
        for si, s in enumerate(states):
            inside = label == si
            ratio = per_state[si] / overall.clamp(min=1e-9)
            recall = fired[inside].mean(0)
            precision = fired[inside].sum(0) / fired.sum(0).clamp(min=1)
            for f in torch.nonzero((ratio >= enrichment) & (per_state[si] > 0)).flatten().tolist():
                out[s].append(
                    {
                        "layer": layer,
                        "feature": f,
                        "mean_act": float(per_state[si, f]),
                        "enrichment": float(ratio[f]),
                        "recall": float(recall[f]),
                        "precision": float(precision[f]),
                    }
                )
    return out


@torch.no_grad()
def next_token_distribution(model, tok: Tokenizer, prompt: str, patch=None, k: int = 5):
    ids = torch.tensor([tok.encode(prompt).ids])
    if patch is None:
        logits = model(input_ids=ids).logits[0, -1]
    else:
        with mlp_patch(model, patch):
            logits = model(input_ids=ids).logits[0, -1]
    probs = logits.softmax(-1)
    top = torch.topk(probs, k)
    return probs, [(tok.id_to_token(int(i)), float(p)) for p, i in zip(top.values, top.indices)]


@torch.no_grad()
def swap_state(model, tcs, tok: Tokenizer, world: World, feats, city: str, new_state: str, scale: float, relation="capital"):
    """The paper's intervention: at the city's last token, set the city's state features to 0 and the
    features of `new_state` to `scale` × their mean activation over that state's cities; the
    difference times W_dec is added to the MLP output of each layer (everything else runs freely)."""
    prompt = eval_prompt(relation, city)
    pos = city_last_position(tok, prompt, city)
    old_state = world.city_state[city]
    base_acts = feature_acts_at(model, tcs, tok, prompt, pos)
    target = [a.clone() for a in base_acts]
    for f in feats[old_state]:
        target[f["layer"]][f["feature"]] = 0.0
    for f in feats[new_state]:
        target[f["layer"]][f["feature"]] = scale * f["mean_act"]
    delta = [t - a for t, a in zip(target, base_acts)]

    def patch(i, x, y):
        y = y.clone()
        y[0, pos] += delta[i] @ tcs[i]["W_dec"]
        return y

    probs, top = next_token_distribution(model, tok, prompt, patch)
    first = lambda s: tok.encode(relation_value(world.states[s], relation), add_special_tokens=False).ids[0]  # noqa: E731
    return {
        "prompt": prompt,
        "city": city,
        "from_state": old_state,
        "to_state": new_state,
        "scale": scale,
        "n_suppressed": len(feats[old_state]),
        "n_injected": len(feats[new_state]),
        "top5": top,
        "p_new": float(probs[first(new_state)]),
        "p_old": float(probs[first(old_state)]),
        "success": top[0][0] == tok.id_to_token(first(new_state)),
        # the same intervention as feature values, for the TypeScript tracer's intervention test
        "set_features": [
            {"layer": layer, "feature": f, "position": pos, "value": round(float(target[layer][f]), 6)}
            for layer in range(len(delta))
            for f in torch.nonzero(delta[layer]).flatten().tolist()
        ],
    }
