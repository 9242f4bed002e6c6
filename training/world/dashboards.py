"""Feature dashboards of the demo model, computed by circuit-atlas itself (`circuit-atlas features`,
tracer/src/features) over the texts the transcoders were trained on: circuit-tracer's feature-detail
format, one JSON array per layer, each feature with its top activating contexts and examples per
activation band (per-token activations, windows of 16 tokens), quantile values, a histogram,
activation frequency, the top and bottom direct logit effects and an automatic label (`--label`, the
generic labeller of tracer/src/labels). The same command builds dashboards for any model; this stage
only writes the corpus and calls it:

    python3 -m training.world.write_corpus /tmp/corpus.txt
    npx circuit-atlas features --model models/atlas-world --corpus /tmp/corpus.txt \
        --context-length 64 --force --label

Also here: the world's entity spans, for measuring where the state code sits (transcoder_trials.py).
"""

import subprocess
import tempfile
from pathlib import Path

CONTEXT = 64  # tokens per context, BOS included: the demo model's whole context (one sentence each)


def compute_dashboards(root: Path, model_dir: Path, texts: list[str], log=print) -> None:
    """Writes model_dir/dashboards/layer_{l}.json with `circuit-atlas features` over `texts` (one per line)."""
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.txt"
        corpus.write_text("".join(t.replace("\n", " ") + "\n" for t in texts))
        command = [
            "npx", "--no-install", "circuit-atlas", "features",
            "--model", str(model_dir), "--corpus", str(corpus), "--out", str(model_dir / "dashboards"),
            "--context-length", str(CONTEXT), "--force", "--label",
        ]
        log(" ".join(command))
        subprocess.run(command, cwd=root, check=True)


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
