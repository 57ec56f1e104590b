"""Every shipped generator is re-scored and must match its model card; the conditional DCGAN must meet its targets."""

import json

import pytest

import cgan_lib
from cgan_lib.checkpoint import PRETRAINED_DIR
from cgan_lib.metrics import evaluate_generator

CARDS = sorted(p for p in PRETRAINED_DIR.glob("*.json") if p.stem != "classifier")
EXPECTED = {"mlp", "mlp_saturating", "dcgan", "cmlp", "cdcgan"}


def test_the_chapters_models_are_all_shipped_and_small():
    assert EXPECTED <= {p.stem for p in CARDS}
    total = sum(p.stat().st_size for p in PRETRAINED_DIR.iterdir())
    assert total < 10 * 2**20, f"cgan_lib/pretrained is {total / 2**20:.1f} MB"


@pytest.mark.parametrize("card_path", CARDS, ids=lambda p: p.stem)
def test_card_records_how_the_model_was_made(card_path):
    card = json.loads(card_path.read_text())
    assert card["command"].startswith("python -m cgan_lib train ")
    assert f"--seed {card['config']['seed']}" in card["command"]
    assert card["config"]["model"] == card["model"] and card["model"] in card["command"]
    for key in ("device", "seconds", "images_per_s", "step", "scores", "real_reference"):
        assert key in card, key
    assert card["seconds"] > 0 and card["step"] > 0


@pytest.mark.parametrize("card_path", CARDS, ids=lambda p: p.stem)
def test_shipped_generator_still_scores_what_its_card_says(card_path):
    card = json.loads(card_path.read_text())
    per_class, seed = card["scored_with"]["per_class"], card["scored_with"]["seed"]
    G = cgan_lib.pretrained(card_path.stem)
    scores = evaluate_generator(G, per_class=per_class, seed=seed)
    expected = card["scores"]
    assert scores["n"] == expected["n"]
    assert scores["frechet_distance"] == pytest.approx(expected["frechet_distance"], rel=0.03, abs=0.05)
    assert scores["coverage"] == expected["coverage"]
    if G.num_classes:
        assert scores["accuracy"] == pytest.approx(expected["accuracy"], abs=0.003)


def test_conditional_dcgan_meets_its_accuracy_targets():
    s = cgan_lib.model_card("cdcgan")["scores"]
    assert s["accuracy"] >= 0.99
    assert min(s["accuracy_per_label"]) >= 0.97


def test_conditional_dcgan_meets_its_frechet_target():
    card = cgan_lib.model_card("cdcgan")
    assert card["scores"]["frechet_distance"] <= 2 * card["real_reference"]["frechet_distance"]
