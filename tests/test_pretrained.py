"""Every shipped generator is re-scored and must match its model card; the card must
describe the file shipped beside it; the conditional DCGAN must meet its targets."""

import json
import shlex

import pytest

import cgan_lib
from cgan_lib.__main__ import build_parser
from cgan_lib.checkpoint import PRETRAINED_DIR, read_file
from cgan_lib.data import SIZES
from cgan_lib.metrics import evaluate_generator

CARDS = sorted(p for p in PRETRAINED_DIR.glob("*.json") if p.stem != "classifier")
EXPECTED = {"mlp", "mlp_saturating", "dcgan", "cmlp", "cdcgan"}


def test_the_chapters_models_are_all_shipped_and_small():
    assert EXPECTED <= {p.stem for p in CARDS}
    assert all(p.with_suffix(".pt").is_file() for p in CARDS)
    total = sum(p.stat().st_size for p in PRETRAINED_DIR.iterdir())
    assert total < 10 * 2**20, f"cgan_lib/pretrained is {total / 2**20:.1f} MB"


@pytest.mark.parametrize("card_path", CARDS, ids=lambda p: p.stem)
def test_card_describes_the_file_shipped_beside_it(card_path):
    card = json.loads(card_path.read_text())
    stored = read_file(card_path.with_suffix(".pt"), ("run", "generator"))
    config = json.loads(json.dumps(stored["config"]))  # tuples as the card's lists
    assert config == card["config"] and stored["step"] == card["step"]
    assert card["config"]["model"] == card["model"]


@pytest.mark.parametrize("card_path", CARDS, ids=lambda p: p.stem)
def test_card_command_reproduces_its_config_and_length(card_path):
    card = json.loads(card_path.read_text())
    words = shlex.split(card["command"])
    assert words[:4] == ["python", "-m", "cgan_lib", "train"]
    args = build_parser().parse_args(words[3:])
    config = card["config"]
    assert args.model == config["model"] and args.seed == config["seed"]
    assert args.loss == config["loss"] and args.batch_size == config["batch_size"]
    assert args.lr == config["lr_g"] == config["lr_d"]
    assert args.ema == config["ema"] and args.augment == config["augment_degrees"]
    assert args.width == config["model_kwargs"].get("width")
    steps_per_epoch = SIZES["train"] // args.batch_size
    if args.epochs is not None:
        assert round(args.epochs * steps_per_epoch) == card["step"]
    if args.lr_decay:
        want = [round(e * steps_per_epoch) for e in args.lr_decay]
        assert config["lr_decay"] == want
    # the throughput the chapters quote is the run's: steps x batch / training time
    images = card["step"] * config["batch_size"]
    assert card["images_per_s"] == pytest.approx(images / card["seconds"], rel=0.01)


@pytest.mark.parametrize("card_path", CARDS, ids=lambda p: p.stem)
def test_shipped_generator_still_scores_what_its_card_says(card_path):
    card = json.loads(card_path.read_text())
    per_class, seed = card["scored_with"]["per_class"], card["scored_with"]["seed"]
    G = cgan_lib.pretrained(card_path.stem)
    scores = evaluate_generator(G, per_class=per_class, seed=seed)
    expected = card["scores"]
    assert scores["n"] == expected["n"] == 10 * per_class
    assert scores["frechet_distance"] == pytest.approx(
        expected["frechet_distance"], rel=0.03, abs=0.05
    )
    assert scores["coverage"] == expected["coverage"]
    if G.num_classes:
        assert scores["accuracy"] == pytest.approx(expected["accuracy"], abs=0.003)
    else:  # what an unconditional generator draws, digit by digit
        for got, want in zip(scores["class_histogram"], expected["class_histogram"]):
            assert got == pytest.approx(want, abs=0.01 * scores["n"])


def test_conditional_dcgan_meets_its_accuracy_targets():
    s = cgan_lib.model_card("cdcgan")["scores"]
    assert s["accuracy"] >= 0.99
    assert min(s["accuracy_per_label"]) >= 0.97


def test_conditional_dcgan_meets_its_frechet_target():
    card = cgan_lib.model_card("cdcgan")
    real = card["real_reference"]
    assert real["n"] == card["scores"]["n"]  # compared at the same sample size
    assert card["scores"]["frechet_distance"] <= 2 * real["frechet_distance"]
