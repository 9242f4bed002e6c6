"""The world of facts, the held-out compositions, the sentence corpus and the word-level tokenizer.

Atomic facts: city -> state, state -> capital / region / abbreviation / nickname.
Two-hop facts: "<relation> of the state containing <city>" for the four state relations. The
capital composition is held out for one city per state (a fifth of the cities, Dallas among them)
while their other two-hop facts stay in training, so the model must compose city -> state -> capital.
"""

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from tokenizers import Tokenizer, models, pre_tokenizers, processors

from .geography import STATES, State, check_geography

BOS, EOS, UNK, PAD = "<bos>", "<eos>", "<unk>", "<pad>"
SPECIAL_TOKENS = (BOS, EOS, UNK, PAD)  # ids 0..3 while training: BOS is the first special token
# ids 0..3 in the saved checkpoint: <bos> and <pad> trade places (see renumber_bos_for_saving).
SAVED_SPECIAL_TOKENS = (PAD, EOS, UNK, BOS)

DEMO_PROMPT = "Fact: the capital of the state containing Dallas is"
RELATIONS = ("capital", "region", "abbreviation", "nickname")

# The six cities whose graphs the TypeScript tracer checks: capital composition held out for all.
GRAPH_CHECK_CITIES = ("Dallas", "Chicago", "Seattle", "Miami", "Buffalo", "Detroit")

# Atomic city -> state templates: the state is always predicted after the city has been read.
CITY_STATE_TEMPLATES = (
    "{city} is a city in {state} .",
    "Fact: {city} is located in the state of {state} .",
    "The city of {city} lies in {state} .",
    "Q: Which state is {city} in ? A: {state} .",
)
STATE_TEMPLATES = {
    "capital": (
        "Fact: the capital of {state} is {value} .",
        "The capital city of {state} is {value} .",
        "Q: What is the capital of {state} ? A: {value} .",
        "{value} is the capital of {state} .",
    ),
    "region": (
        "Fact: the region of {state} is {value} .",
        "{state} is in the {value} region .",
    ),
    "abbreviation": (
        "Fact: the postal abbreviation of {state} is {value} .",
        "{state} is abbreviated {value} .",
    ),
    "nickname": (
        "Fact: the nickname of {state} is {value} .",
        "{state} is known as the {value} .",
    ),
}
# Two-hop templates; the first of each is the evaluation template (the demo prompt's form).
TWO_HOP_TEMPLATES = {
    "capital": (
        "Fact: the capital of the state containing {city} is {value} .",
        "The state containing {city} has its capital in {value} .",
        "Q: What is the capital of the state containing {city} ? A: {value} .",
    ),
    "region": (
        "Fact: the region of the state containing {city} is {value} .",
        "Q: What is the region of the state containing {city} ? A: {value} .",
    ),
    "abbreviation": (
        "Fact: the postal abbreviation of the state containing {city} is {value} .",
        "Q: What is the postal abbreviation of the state containing {city} ? A: {value} .",
    ),
    "nickname": (
        "Fact: the nickname of the state containing {city} is {value} .",
        "Q: What is the nickname of the state containing {city} ? A: {value} .",
    ),
}


def relation_value(state: State, relation: str) -> str:
    return {
        "capital": state.capital,
        "region": state.region,
        "abbreviation": state.abbreviation,
        "nickname": state.nickname,
    }[relation]


def eval_prompt(relation: str, city: str) -> str:
    """The two-hop evaluation prompt, e.g. the demo prompt for ("capital", "Dallas")."""
    return TWO_HOP_TEMPLATES[relation][0].split(" {value}")[0].format(city=city)


@dataclass
class World:
    """Cities with their state, and which (relation, city) compositions are held out of training."""

    seed: int
    city_state: dict[str, str]  # city -> state name
    held_out: dict[str, list[str]]  # relation -> cities whose two-hop fact is never trained
    states: dict[str, State] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "seed": self.seed,
            "description": "US states, capitals, regions (Census), postal abbreviations, nicknames, "
            "five non-capital cities each. held_out lists the cities whose two-hop fact of that "
            "relation is absent from training; the capital composition is held out for one city per state.",
            "relations": list(RELATIONS),
            "demo_prompt": DEMO_PROMPT,
            "states": [
                {
                    "name": s.name,
                    "capital": s.capital,
                    "region": s.region,
                    "abbreviation": s.abbreviation,
                    "nickname": s.nickname,
                    "cities": [
                        {
                            "name": c,
                            "held_out": [r for r in RELATIONS if c in self.held_out[r]],
                        }
                        for c in s.cities
                    ],
                }
                for s in self.states.values()
            ],
            "held_out": self.held_out,
        }


def build_world(seed: int, n_extra_held_out: int = 10) -> World:
    """Capital held out for one city per state (forced for GRAPH_CHECK_CITIES); n_extra_held_out
    other cities each hold out their region, abbreviation or nickname composition instead."""
    check_geography()
    rng = random.Random(seed)
    held_capital = []
    for s in STATES:
        forced = [c for c in s.cities if c in GRAPH_CHECK_CITIES]
        held_capital.append(forced[0] if forced else rng.choice(s.cities))
    rest = sorted(c for s in STATES for c in s.cities if c not in held_capital)
    rng.shuffle(rest)
    held_out = {"capital": held_capital}
    for i, relation in enumerate(RELATIONS[1:]):
        held_out[relation] = sorted(rest[i * n_extra_held_out : (i + 1) * n_extra_held_out])
    return World(
        seed=seed,
        city_state={c: s.name for s in STATES for c in s.cities},
        held_out=held_out,
        states={s.name: s for s in STATES},
    )


@dataclass(frozen=True)
class Sentence:
    text: str
    kind: str  # "city_state", "state_<relation>" or "two_hop_<relation>"
    city: str | None
    state: str


def build_corpus(world: World) -> list[Sentence]:
    """Every trained fact in every template, in a fixed order (training samples from it)."""
    out: list[Sentence] = []
    for state in world.states.values():
        for relation, templates in STATE_TEMPLATES.items():
            value = relation_value(state, relation)
            for t in templates:
                out.append(Sentence(t.format(state=state.name, value=value), f"state_{relation}", None, state.name))
        for city in state.cities:
            for t in CITY_STATE_TEMPLATES:
                out.append(Sentence(t.format(city=city, state=state.name), "city_state", city, state.name))
            for relation, templates in TWO_HOP_TEMPLATES.items():
                if city in world.held_out[relation]:
                    continue
                value = relation_value(state, relation)
                for t in templates:
                    out.append(Sentence(t.format(city=city, value=value), f"two_hop_{relation}", city, state.name))
    return out


def build_tokenizer(corpus: list[Sentence], world: World, special_tokens=SPECIAL_TOKENS) -> Tokenizer:
    """Word-level tokenizer over every word of the world; the post-processor prepends <bos>.
    `special_tokens` take ids 0..3 in this order; every other word has the same id either way."""
    pre = pre_tokenizers.Whitespace()  # \w+|[^\w\s]+ : keeps ':' '?' '.' as their own tokens
    words: set[str] = set()
    texts = [s.text for s in corpus] + [eval_prompt(r, c) for r in RELATIONS for c in world.city_state]
    texts += [relation_value(s, r) for s in world.states.values() for r in RELATIONS]
    for text in texts:
        words.update(w for w, _ in pre.pre_tokenize_str(text))
    vocab = {t: i for i, t in enumerate(special_tokens)}
    for w in sorted(words):
        vocab[w] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    tok.pre_tokenizer = pre
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, vocab[BOS])]
    )
    tok.add_special_tokens(list(special_tokens))
    return tok


def write_tokenizer(tok: Tokenizer, out_dir: Path) -> None:
    tok.save(str(out_dir / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": BOS,
        "eos_token": EOS,
        "unk_token": UNK,
        "pad_token": PAD,
        "add_bos_token": True,
        "model_max_length": 64,
        "clean_up_tokenization_spaces": False,
    }
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    special = {"bos_token": BOS, "eos_token": EOS, "unk_token": UNK, "pad_token": PAD}
    (out_dir / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n")
