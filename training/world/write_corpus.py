"""Write the demo's dashboard corpus as plain text, one document per line, without torch or tokenizers:

    python3 -m training.world.write_corpus models/atlas-world/corpus.txt
    circuit-atlas features --model models/atlas-world --corpus models/atlas-world/corpus.txt --context-length 64

The texts are those build.py runs the model on for transcoders and dashboards (activation_texts):
every trained sentence of the world, then every two-hop evaluation prompt without its answer.
"""

import sys
import types
from pathlib import Path

# corpus.py imports the `tokenizers` package for its tokenizer builder, which this script never calls.
if "tokenizers" not in sys.modules:
    try:
        import tokenizers  # noqa: F401
    except ModuleNotFoundError:
        stub = types.ModuleType("tokenizers")
        stub.Tokenizer = stub.models = stub.pre_tokenizers = stub.processors = None
        sys.modules["tokenizers"] = stub

from .corpus import RELATIONS, build_corpus, build_world, eval_prompt  # noqa: E402

SEED = 0  # build.py's SEED


def activation_texts() -> list[str]:
    world = build_world(SEED)
    return [s.text for s in build_corpus(world)] + [eval_prompt(r, c) for r in RELATIONS for c in world.city_state]


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python3 -m training.world.write_corpus <out.txt>")
    texts = activation_texts()
    Path(sys.argv[1]).write_text("".join(t + "\n" for t in texts))
    print(f"wrote {len(texts)} lines to {sys.argv[1]}")
