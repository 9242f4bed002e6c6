"""Feature dashboards in circuit-tracer's feature detail format, one JSON array per layer.

Each live feature gets: top activating contexts and examples from lower activation intervals
(per-token activations, contexts trimmed to 16 tokens), quantile values, a histogram, activation
frequency, the top and bottom direct logit effects (W_dec · diag(γ_final) · W_Uᵀ), and an
automatic label: the state it represents ("Texas"), the token it promotes ("say Austin"), or the
token it reads ("capital").
"""

from collections import Counter

import torch

from .transcoders import encode

CONTEXT = 16  # tokens shown per example
N_TOP, N_INTERVAL, N_INTERVALS = 6, 3, 3


def entity_spans(tokens: list[str], entities: dict[tuple[str, ...], tuple[str, str, str]]) -> list[tuple[str, str, str] | None]:
    """Per position: (kind, state, name) of the city/state/capital name the token belongs to, longest match first."""
    out: list[tuple[str, str, str] | None] = [None] * len(tokens)
    max_len = max(len(k) for k in entities)
    i = 0
    while i < len(tokens):
        for n in range(max_len, 0, -1):
            key = tuple(tokens[i : i + n])
            if len(key) == n and key in entities:
                for j in range(i, i + n):
                    out[j] = entities[key]
                i += n
                break
        else:
            i += 1
    return out


def world_entities(world) -> dict[tuple[str, ...], tuple[str, str, str]]:
    ents: dict[tuple[str, ...], tuple[str, str, str]] = {}
    for s in world.states.values():
        ents[tuple(s.name.split())] = ("state", s.name, s.name)
        ents[tuple(s.capital.split())] = ("capital", s.name, s.capital)
        for c in s.cities:
            ents[tuple(c.split())] = ("city", s.name, c)
    return ents


def auto_label(top_rows, seq_tokens, seq_entities, rows_seq, rows_pos, top_logit: str) -> str:
    """A short label from the top activating positions (see module docstring)."""
    states, nexts, currents = Counter(), Counter(), Counter()
    names: dict[str, set[str]] = {}
    for r in top_rows:
        s, p = int(rows_seq[r]), int(rows_pos[r])
        ent = seq_entities[s][p]
        if ent is not None and ent[0] in ("city", "state"):
            states[ent[1]] += 1
            names.setdefault(ent[1], set()).add(ent[2])
        currents[seq_tokens[s][p]] += 1
        if p + 1 < len(seq_tokens[s]):
            nexts[seq_tokens[s][p + 1]] += 1
    n = len(top_rows)
    if states and states.most_common(1)[0][1] >= 0.6 * n:
        state = states.most_common(1)[0][0]
        only = names[state]
        return state if len(only) > 1 else next(iter(only))  # one city only: name the city, not its state
    if nexts.get(top_logit, 0) >= 0.5 * max(1, sum(nexts.values())):  # prompts without answer don't count
        return f"say {top_logit}"
    (tok, count), *rest = currents.most_common(2)
    if count >= 0.5 * n:
        return tok
    return "/".join([tok] + [t for t, _ in rest])


def example(seq: int, center_pos: int, seq_tokens, seq_acts: dict[int, torch.Tensor], repeated: bool) -> dict:
    tokens = seq_tokens[seq]
    acts = seq_acts[seq]  # [len(tokens)], 0 at BOS
    start = max(0, min(center_pos - CONTEXT // 2, len(tokens) - CONTEXT))
    end = min(len(tokens), start + CONTEXT)
    return {
        "tokens": tokens[start:end],
        "tokens_acts_list": [round(float(a), 3) for a in acts[start:end]],
        "train_token_ind": center_pos - start,
        "is_repeated_datapoint": repeated,
    }


@torch.no_grad()
def layer_dashboards(layer: int, tc, x, rows_seq, rows_pos, seq_tokens, seq_entities, logit_dirs, vocab, special_ids):
    """Dashboards [one dict per live feature] for one layer.

    x [N, d_model] transcoder inputs at N positions; rows_seq/rows_pos [N] their sequence and position;
    logit_dirs [d_model, vocab] = diag(γ_final) W_Uᵀ.
    """
    acts_t = encode(tc, x).T.contiguous()  # [d_tc, N]: one contiguous row per feature
    n = acts_t.shape[1]
    seq_start: dict[int, int] = {}
    for r, s in enumerate(rows_seq.tolist()):
        seq_start.setdefault(s, r)
    effects = tc["W_dec"] @ logit_dirs  # [d_tc, vocab]
    effects[:, special_ids] = float("nan")
    out = []
    for f in torch.nonzero((acts_t > 0).any(1)).flatten().tolist():
        col = acts_t[f]
        nz = torch.nonzero(col > 0).flatten()
        vals = col[nz]
        order = nz[torch.argsort(vals, descending=True, stable=True)]

        def seq_acts_for(seqs):
            res = {}
            for s in seqs:
                r0 = seq_start[s]
                length = len(seq_tokens[s])
                res[s] = torch.cat([torch.zeros(1), col[r0 : r0 + length - 1]])
            return res

        used: set[int] = set()

        def pick(rows, k):
            chosen = []
            for r in rows.tolist():
                s = int(rows_seq[r])
                if s in used:
                    continue
                used.add(s)
                chosen.append(r)
                if len(chosen) == k:
                    break
            return chosen

        top = pick(order, N_TOP)
        groups = [("Top activations", top)]
        bounds = torch.linspace(float(vals.max()), 0.0, N_INTERVALS + 2)[1:]  # below the top range
        for i in range(N_INTERVALS):
            hi, lo = float(bounds[i]), float(bounds[i + 1])
            in_range = order[(col[order] <= hi) & (col[order] > lo)]
            if len(in_range) == 0:
                continue
            step = max(1, len(in_range) // N_INTERVAL)
            rows = pick(in_range[::step], N_INTERVAL)
            if rows:
                groups.append((f"Subsample Interval {i} ({lo:.2f} to {hi:.2f})", rows))
        seq_acts = seq_acts_for({int(rows_seq[r]) for _, rows in groups for r in rows})
        examples_quantiles = [
            {
                "quantile_name": name,
                "examples": [example(int(rows_seq[r]), int(rows_pos[r]), seq_tokens, seq_acts, False) for r in rows],
            }
            for name, rows in groups
        ]
        eff = effects[f]
        finite = torch.nan_to_num(eff, nan=float("-inf"))
        top_ids = torch.topk(finite, 10).indices.tolist()
        bottom_ids = torch.topk(torch.nan_to_num(-eff, nan=float("-inf")), 10).indices.tolist()
        top_logits = [vocab[i] for i in top_ids]
        label_rows = order[:20].tolist()
        q = torch.quantile(vals, torch.linspace(0.01, 1.0, 100)) if len(vals) > 1 else vals.repeat(100)
        hist = torch.histc(vals, bins=20, min=float(vals.min()), max=float(vals.max()))
        out.append(
            {
                "index": f,
                "layer": layer,
                "label": auto_label(label_rows, seq_tokens, seq_entities, rows_seq, rows_pos, top_logits[0]),
                "transcoder_id": f"atlas-world/plt/layer_{layer}",
                "examples_quantiles": examples_quantiles,
                "top_logits": top_logits,
                "bottom_logits": [vocab[i] for i in bottom_ids],
                "act_min": round(float(vals.min()), 4),
                "act_max": round(float(vals.max()), 4),
                "quantile_values": [round(float(v), 4) for v in q],
                "histogram": [int(h) for h in hist],
                "activation_frequency": round(len(nz) / n, 6),
            }
        )
    return out
