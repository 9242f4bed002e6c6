"""Checks on the committed artifacts in models/atlas-world (run: python -m pytest training/world/test_artifacts.py -q)."""

import json
from pathlib import Path

import pytest
import torch
import yaml
from safetensors import safe_open
from tokenizers import Tokenizer
from transformers import LlamaForCausalLM

MODEL = Path(__file__).resolve().parents[2] / "models" / "atlas-world"
DEMO_PROMPT = "Fact: the capital of the state containing Dallas is"


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(2)
    m = LlamaForCausalLM.from_pretrained(MODEL)
    m.eval()
    return m


@pytest.fixture(scope="module")
def tok():
    return Tokenizer.from_file(str(MODEL / "tokenizer.json"))


def test_tokenizer_prepends_bos_and_knows_every_demo_word(tok):
    enc = tok.encode(DEMO_PROMPT)
    config = json.loads((MODEL / "tokenizer_config.json").read_text())
    assert enc.tokens[0] == config["bos_token"] == "<bos>"
    # circuit-tracer passes over a BOS of id 0 (it takes the first truthy candidate id)
    assert enc.ids[0] != 0
    assert enc.tokens[1:] == ["Fact", ":", "the", "capital", "of", "the", "state", "containing", "Dallas", "is"]
    assert "<unk>" not in enc.tokens


def test_model_answers_the_demo_prompt_with_austin(model, tok):
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([tok.encode(DEMO_PROMPT).ids])).logits[0, -1]
    assert tok.id_to_token(int(logits.argmax())) == "Austin"


def test_dallas_capital_composition_is_held_out_in_world_json():
    world = json.loads((MODEL / "world.json").read_text())
    assert "Dallas" in world["held_out"]["capital"]
    assert len(world["held_out"]["capital"]) == 50


def test_transcoders_follow_circuit_tracer_layout(model):
    config = yaml.safe_load((MODEL / "transcoders" / "config.yaml").read_text())
    assert config["model_kind"] == "transcoder_set"
    assert config["feature_input_hook"] == "mlp.hook_in" and config["feature_output_hook"] == "mlp.hook_out"
    n_layers, d_model = model.config.num_hidden_layers, model.config.hidden_size
    assert config["transcoders"] == [f"layer_{i}.safetensors" for i in range(n_layers)]
    for path in config["transcoders"]:
        with safe_open(str(MODEL / "transcoders" / path), framework="pt") as f:
            d_tc = f.get_slice("b_enc").get_shape()[0]
            assert f.get_slice("W_enc").get_shape() == [d_tc, d_model]
            assert f.get_slice("W_dec").get_shape() == [d_tc, d_model]
            assert f.get_slice("b_dec").get_shape() == [d_model]
            assert f.get_slice("activation_function.threshold").get_shape() == [d_tc]


def test_transcoders_meet_the_fvu_and_l0_aims():
    metrics = json.loads((MODEL / "transcoders" / "metrics.json").read_text())["layers"]
    for m in metrics:
        assert m["fvu"] <= 0.10, m
        assert m["l0"] <= 32, m


def test_dashboards_are_feature_detail_json_with_labels(model):
    n_layers = model.config.num_hidden_layers
    labels = []
    for layer in range(n_layers):
        feats = json.loads((MODEL / "dashboards" / f"layer_{layer}.json").read_text())
        assert feats, f"layer {layer} has no live features"
        for d in feats[:50]:
            for key in ("index", "examples_quantiles", "top_logits", "bottom_logits", "act_min", "act_max",
                        "quantile_values", "histogram", "activation_frequency", "label"):
                assert key in d, key
            ex = d["examples_quantiles"][0]["examples"][0]
            assert len(ex["tokens"]) == len(ex["tokens_acts_list"]) <= 16
            assert ex["tokens_acts_list"][ex["train_token_ind"]] == max(ex["tokens_acts_list"])
        labels += [d["label"] for d in feats]
    assert "Texas" in labels


def test_graph_check_prompts_name_live_texas_features():
    checks = json.loads((Path(__file__).with_name("graph_checks.json")).read_text())
    dallas = checks["prompts"][0]
    assert dallas["prompt"] == DEMO_PROMPT and dallas["expected_answer"] == "Austin"
    assert len(checks["prompts"]) == 6
    for p in checks["prompts"]:
        assert p["state_features"], p["city"]
        assert p["tokens"][p["city_position"]] == p["city"].split()[-1]


def test_artifacts_are_well_under_50_mb():
    total = sum(p.stat().st_size for p in MODEL.rglob("*") if p.is_file())
    assert total < 40e6, total


def test_swapping_texas_for_california_features_at_dallas_makes_sacramento_the_answer(model, tok):
    from safetensors.torch import load_file

    from training.world import analysis
    from training.world.corpus import build_world

    world = build_world(0)
    tcs = [load_file(str(MODEL / "transcoders" / f"layer_{i}.safetensors")) for i in range(model.config.num_hidden_layers)]
    feats = analysis.state_features(model, tcs, tok, world)
    before = analysis.swap_state(model, tcs, tok, world, {"Texas": [], "California": []}, "Dallas", "California", 1.0)
    after = analysis.swap_state(model, tcs, tok, world, feats, "Dallas", "California", 1.0)
    assert before["top5"][0][0] == "Austin"
    assert after["top5"][0][0] == "Sacramento", after["top5"]
