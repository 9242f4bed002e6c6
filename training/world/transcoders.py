"""Per-layer transcoders (PLT): read the MLP input after post_attention_layernorm, write the MLP output.

Training is ReLU with an L1 penalty weighted by decoder norms ("Circuit Tracing" §2.1 uses a
sparsity penalty on a·‖W_dec‖), then a JumpReLU threshold cuts the tiny activations the L1
leaves behind, and the decoder is refit by least squares on the resulting codes to undo the L1
shrinkage. Files follow circuit-tracer's layout: layer_{i}.safetensors with W_enc [d_tc, d_model],
W_dec [d_tc, d_model], b_enc [d_tc], b_dec [d_model], activation_function.threshold [d_tc].
"""

from dataclasses import dataclass
from pathlib import Path

import torch
import yaml
from safetensors.torch import save_file
from tokenizers import Tokenizer

from .corpus import PAD
from .train_model import pad_batch


@dataclass
class TranscoderSpec:
    d_tc: int = 1024
    l1: float = 3e-3  # initial coefficient of Σ_f a_f ‖W_dec,f‖ / ‖y − ȳ‖ (adapted towards target_l0)
    target_l0: float = 20.0  # L0 the L1 coefficient is steered to (the JumpReLU threshold then lowers it)
    steps: int = 1500
    batch_size: int = 512
    lr: float = 3e-3
    seed: int = 0
    city_weight: float = 1.0  # sampling weight of positions at a city's last token (1: uniform over positions)
    data_init: bool = False  # seed features on sampled inputs (see seed_features; with city_weight, only those drawn at cities)
    seed_reach: float = 0.5  # a seeded feature is 1 at its input, 0 at this fraction of the way from the mean input to it
    resample_at: tuple[float, ...] = ()  # fractions of training at which dead features are re-seeded on badly coded inputs


@dataclass
class Activations:
    """MLP input x [N, d_model] and output y [N, d_model] per layer over N corpus positions."""

    x: list[torch.Tensor]
    y: list[torch.Tensor]
    seq: torch.Tensor  # [N] sequence index of each position
    pos: torch.Tensor  # [N] token position (BOS at 0 excluded, as the tracer zeroes it)


@torch.no_grad()
def collect_mlp_activations(model, seqs: list[list[int]], pad_id: int, batch: int = 256) -> Activations:
    n_layers = model.config.num_hidden_layers
    xs: list[list[torch.Tensor]] = [[] for _ in range(n_layers)]
    ys: list[list[torch.Tensor]] = [[] for _ in range(n_layers)]
    cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    hooks = [
        layer.mlp.register_forward_hook(lambda m, inp, out, i=i: cache.__setitem__(i, (inp[0], out)))
        for i, layer in enumerate(model.model.layers)
    ]
    seq_idx, pos_idx = [], []
    try:
        for start in range(0, len(seqs), batch):
            chunk = seqs[start : start + batch]
            ids, labels = pad_batch(chunk, pad_id)
            model(input_ids=ids)
            mask = labels != -100
            mask[:, 0] = False  # BOS position
            b, t = torch.nonzero(mask, as_tuple=True)
            seq_idx.append(b + start)
            pos_idx.append(t)
            for i in range(n_layers):
                x, y = cache[i]
                xs[i].append(x[mask].clone())
                ys[i].append(y[mask].clone())
    finally:
        for h in hooks:
            h.remove()
    return Activations(
        x=[torch.cat(v) for v in xs],
        y=[torch.cat(v) for v in ys],
        seq=torch.cat(seq_idx),
        pos=torch.cat(pos_idx),
    )


def encode(tc: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Feature activations [N, d_tc]: JumpReLU(x W_encᵀ + b_enc; θ), ReLU when no threshold."""
    pre = x @ tc["W_enc"].T + tc["b_enc"]
    theta = tc.get("activation_function.threshold")
    if theta is None:
        return torch.relu(pre)
    return torch.where(pre > theta, pre, torch.zeros_like(pre))


def decode(tc: dict[str, torch.Tensor], a: torch.Tensor) -> torch.Tensor:
    return a @ tc["W_dec"] + tc["b_dec"]


def fvu(y: torch.Tensor, y_hat: torch.Tensor) -> float:
    """Fraction of variance unexplained: Σ‖y − ŷ‖² / Σ‖y − ȳ‖²."""
    return float(((y - y_hat) ** 2).sum() / ((y - y.mean(0)) ** 2).sum())


def train_transcoder(
    x: torch.Tensor, y: torch.Tensor, spec: TranscoderSpec, log=print, city_mask: torch.Tensor | None = None
) -> dict[str, torch.Tensor]:
    n, d_model = x.shape
    city_idx = torch.nonzero(city_mask).flatten() if city_mask is not None and spec.city_weight != 1.0 else None
    if city_idx is not None:  # each batch: this many rows from city positions, the rest uniform over all
        n_city = round(spec.batch_size * spec.city_weight * len(city_idx) / (n + (spec.city_weight - 1) * len(city_idx)))
    gen = torch.Generator().manual_seed(spec.seed)

    def sample_rows(size: int, gen: torch.Generator) -> torch.Tensor:
        if city_idx is None:
            return torch.randint(n, (size,), generator=gen)
        k = round(size * n_city / spec.batch_size)
        return torch.cat([city_idx[torch.randint(len(city_idx), (k,), generator=gen)], torch.randint(n, (size - k,), generator=gen)])

    y_scale = float(((y - y.mean(0)) ** 2).sum(1).mean().sqrt())  # typical ‖y − ȳ‖
    x_scale = float((x**2).sum(1).mean().sqrt())
    w_dec = torch.randn(spec.d_tc, d_model, generator=gen)
    w_dec = w_dec / w_dec.norm(dim=1, keepdim=True) * (0.1 * y_scale)
    w_enc = torch.randn(spec.d_tc, d_model, generator=gen)
    w_enc = w_enc / w_enc.norm(dim=1, keepdim=True) / x_scale
    params = {
        "W_enc": w_enc.requires_grad_(),
        "W_dec": w_dec.requires_grad_(),
        "b_enc": torch.zeros(spec.d_tc).requires_grad_(),
        "b_dec": y.mean(0).clone().requires_grad_(),
    }
    if spec.data_init:
        with torch.no_grad():
            rows = sample_rows(spec.d_tc, gen)
            seeded = torch.nonzero(city_mask[rows]).flatten() if city_idx is not None else torch.arange(spec.d_tc)
            seed_features(params, seeded, rows[seeded], x, y - y.mean(0), x.mean(0), reach=spec.seed_reach)
    opt = torch.optim.Adam(params.values(), lr=spec.lr, betas=(0.9, 0.999))
    var = float(((y - y.mean(0)) ** 2).sum(1).mean())
    l1, l0_ema = spec.l1, None
    resample_steps = {int(f * spec.steps) for f in spec.resample_at}
    fired = torch.zeros(spec.d_tc, dtype=torch.bool)
    for step in range(spec.steps):
        if step in resample_steps:
            resample_dead(params, opt, ~fired, x, y, gen, log)
            fired.zero_()
        lr = spec.lr * min(1.0, (step + 1) / 100) * (1.0 if step < 0.8 * spec.steps else 0.2)
        for g in opt.param_groups:
            g["lr"] = lr
        idx = sample_rows(spec.batch_size, gen)
        xb, yb = x[idx], y[idx]
        a = torch.relu(xb @ params["W_enc"].T + params["b_enc"])  # [B, d_tc]
        y_hat = a @ params["W_dec"] + params["b_dec"]
        mse = ((y_hat - yb) ** 2).sum(1).mean() / var
        sparsity = (a * params["W_dec"].norm(dim=1)).sum(1).mean() / y_scale
        warm = min(1.0, step / (0.1 * spec.steps))  # warm the penalty up
        loss = mse + warm * l1 * sparsity
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        fired |= (a > 0).any(0)
        l0 = float((a > 0).float().sum(1).mean())
        l0_ema = l0 if l0_ema is None else 0.9 * l0_ema + 0.1 * l0
        if warm == 1.0 and step < 0.8 * spec.steps:  # steer the L1 coefficient, then hold it to converge
            l1 *= float(torch.tensor((l0_ema - spec.target_l0) / spec.target_l0).clamp(-1, 1).mul(0.05).exp())
        if (step + 1) % 500 == 0:
            log(f"    step {step + 1} nmse {mse.item():.4f} L0 {l0_ema:.1f} l1 {l1:.2e}")
    return {**{k: v.detach() for k, v in params.items()}, "l1_final": torch.tensor(l1)}


def seed_features(params, feats, rows, x, y_centered, x_mean, dec=None, reach: float = 0.5) -> None:
    """Features `feats` fire on inputs near x[rows] (activation 1 there, 0 at `reach` of the way from the
    mean input to it, along it) and write `dec` (default y_centered[rows])."""
    u = x[rows] - x_mean  # [n, d_model]
    w = u / (u**2).sum(1, keepdim=True).clamp(min=1e-12) / (1 - reach)  # w·u = 1 / (1 − reach)
    params["W_enc"][feats] = w
    params["b_enc"][feats] = -(w @ x_mean) - reach / (1 - reach)
    params["W_dec"][feats] = y_centered[rows] if dec is None else dec


@torch.no_grad()
def resample_dead(params, opt, dead: torch.Tensor, x: torch.Tensor, y: torch.Tensor, gen, log, n_sample: int = 8192) -> None:
    """Re-seed features that never fired since the last resampling ("Towards Monosemanticity"): each
    takes an input drawn with probability ∝ its squared reconstruction error, fires on inputs near it
    (activation 1 there, 0 halfway to the mean input) and writes that input's error. Badly coded inputs
    are the rare ones (a city's last token), so the new features are specific to them."""
    idx_dead = torch.nonzero(dead).flatten()
    if len(idx_dead) == 0:
        return
    idx = torch.randint(len(x), (n_sample,), generator=gen)
    xb, yb = x[idx], y[idx]
    a = torch.relu(xb @ params["W_enc"].T + params["b_enc"])
    err = yb - (a @ params["W_dec"] + params["b_dec"])  # [n_sample, d_model]
    pick = torch.multinomial((err**2).sum(1) ** 2, len(idx_dead), replacement=False, generator=gen)
    seed_features(params, idx_dead, idx[pick], x, None, x.mean(0), err[pick])
    for p in (params["W_enc"], params["W_dec"], params["b_enc"]):  # fresh Adam moments for re-seeded rows
        state = opt.state.get(p)
        if state:
            state["exp_avg"][idx_dead] = 0
            state["exp_avg_sq"][idx_dead] = 0
    log(f"    resampled {len(idx_dead)} dead features")


@torch.no_grad()
def finish_transcoder(tc: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor, rel_threshold: float):
    """JumpReLU threshold θ_f = rel_threshold · (mean active value of f), then refit W_dec, b_dec
    by least squares on the thresholded codes (removes the L1 shrinkage)."""
    pre = x @ tc["W_enc"].T + tc["b_enc"]
    a = torch.relu(pre)
    active = (a > 0).float()
    mean_active = (a.sum(0) / active.sum(0).clamp(min=1)).clamp(min=1e-6)
    theta = rel_threshold * mean_active
    tc = dict(tc, **{"activation_function.threshold": theta})
    codes = encode(tc, x)  # [N, d_tc]
    live = codes.abs().sum(0) > 0
    design = torch.cat([codes[:, live], torch.ones(len(x), 1)], 1).double()  # [N, n_live + 1]
    gram = design.T @ design + 1e-6 * torch.eye(design.shape[1], dtype=torch.float64)
    sol = torch.linalg.solve(gram, design.T @ y.double()).float()  # [n_live + 1, d_model]
    w_dec = tc["W_dec"].clone()
    w_dec[live] = sol[:-1]
    return dict(tc, W_dec=w_dec, b_dec=sol[-1])


@torch.no_grad()
def transcoder_metrics(tc: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    a = encode(tc, x)
    return {
        "fvu": fvu(y, decode(tc, a)),
        "l0": float((a > 0).float().sum(1).mean()),
        "dead_fraction": float(((a > 0).sum(0) == 0).float().mean()),
        "d_tc": int(a.shape[1]),
    }


def save_transcoders(tcs: list[dict[str, torch.Tensor]], out_dir: Path, model_name: str) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, tc in enumerate(tcs):
        tensors = {k: tc[k].contiguous().float() for k in ("W_enc", "W_dec", "b_enc", "b_dec", "activation_function.threshold")}
        save_file(tensors, str(out_dir / f"layer_{i}.safetensors"))
        paths.append(f"layer_{i}.safetensors")
    config = {
        "model_name": model_name,
        "model_kind": "transcoder_set",
        "feature_input_hook": "mlp.hook_in",
        "feature_output_hook": "mlp.hook_out",
        "scan": "atlas-world/plt",
        "activation": "jump_relu",
        "transcoders": paths,
    }
    (out_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def corpus_sequences(tok: Tokenizer, texts: list[str]) -> list[list[int]]:
    return [tok.encode(t).ids for t in texts]


def pad_id(tok: Tokenizer) -> int:
    return tok.token_to_id(PAD)
