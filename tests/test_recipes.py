"""The recipe table behind `train`: fast on a CPU, the shipped card's settings on a GPU,
and the reason printed quotes the benchmark file."""

import json

import pytest
import torch

from cgan_lib import recipes
from cgan_lib.__main__ import main
from cgan_lib.checkpoint import model_card
from cgan_lib.errors import BadInput
from cgan_lib.models import MODELS
from cgan_lib.run import TrainConfig, weight_settings


def test_auto_is_fast_on_a_cpu_and_shipped_on_a_gpu():
    assert recipes.choose("auto", torch.device("cpu")) == "fast"
    assert recipes.choose("auto", torch.device("cuda")) == "shipped"
    assert recipes.choose("shipped", torch.device("cpu")) == "shipped"
    with pytest.raises(BadInput, match="recipe must be one of auto, fast, shipped"):
        recipes.choose("quick", torch.device("cpu"))


@pytest.mark.parametrize("model", list(MODELS))
def test_every_model_has_both_recipes_and_they_make_valid_configs(model):
    for recipe in ("fast", "shipped"):
        TrainConfig(model=model, **recipes.recipe_settings(model, recipe))


@pytest.mark.parametrize("model", list(MODELS))
def test_the_shipped_recipe_is_the_cards_config(model):
    card = model_card(model)["config"]
    config = TrainConfig(model=model, **recipes.recipe_settings(model, "shipped"))
    expected = TrainConfig(
        model=model, **{k: v for k, v in card.items() if k in recipes.SHIPPED_KEYS}
    )
    assert weight_settings(config) == weight_settings(expected)


def test_the_fast_conv_recipe_is_narrower_and_has_an_ema():
    fast = TrainConfig(model="cdcgan", **recipes.recipe_settings("cdcgan", "fast"))
    shipped = TrainConfig(
        model="cdcgan", **recipes.recipe_settings("cdcgan", "shipped")
    )
    assert fast.model_kwargs["width"] < shipped.model_kwargs["width"]
    assert fast.ema > 0
    # self-conditioned on clusters within each digit (bench/README.md)
    assert fast.model_kwargs["clusters"] >= 2


def test_recipe_settings_are_copies():
    settings = recipes.recipe_settings("cdcgan", "fast")
    settings["model_kwargs"]["width"] = 8
    assert recipes.recipe_settings("cdcgan", "fast")["model_kwargs"]["width"] == 32


def test_the_reason_quotes_the_benchmark_file():
    entry = json.loads(recipes.BENCHMARKS.read_text())["cpu"]
    seconds = entry["models"]["cdcgan"]["seconds_to_accuracy"]["0.98"]
    line = recipes.reason("fast", "auto", torch.device("cpu"))
    assert f"98% accuracy in {seconds:.0f} s" in line
    assert "--recipe shipped" in line
    assert "asked for" in recipes.reason("shipped", "shipped", torch.device("cpu"))
    with pytest.raises(BadInput, match="unknown model"):
        recipes.recipe_settings("gan", "fast")


def run_train(tmp_path, capsys, *flags):
    out = tmp_path / "run"
    argv = ["train", "--model", "cdcgan", "--steps", "1", "--out", str(out)]
    assert main([*argv, "--device", "cpu", *flags]) == 0
    printed = capsys.readouterr().out
    return printed, json.loads((out / "summary.json").read_text())


def test_train_on_a_cpu_uses_the_fast_recipe_and_says_why(tmp_path, capsys):
    printed, summary = run_train(tmp_path, capsys)
    assert "recipe fast, chosen for a CPU by --recipe auto" in printed
    assert summary["recipe"] == "fast"
    assert summary["config"]["model_kwargs"] == {
        "width": 32,
        "refine": False,
        "clusters": 10,
    }
    assert summary["config"]["ema"] == 0.999
    # the recipe's learning rate reaches the run, not the CLI's own default
    fast_lr = recipes.FAST["cdcgan"]["lr_g"]
    assert summary["config"]["lr_g"] == summary["config"]["lr_d"] == fast_lr
    assert fast_lr != TrainConfig.lr_g


def test_flags_override_the_recipe_and_shipped_is_one_flag_away(tmp_path, capsys):
    flags = ("--width", "16", "--ema", "0", "--lr", "3e-4")
    _, summary = run_train(tmp_path, capsys, *flags)
    assert summary["config"]["model_kwargs"] == {
        "width": 16,
        "refine": False,
        "clusters": 10,
    }
    assert summary["config"]["ema"] == 0
    assert summary["config"]["lr_g"] == summary["config"]["lr_d"] == 3e-4
    _, summary = run_train(tmp_path / "b", capsys, "--recipe", "shipped")
    assert summary["recipe"] == "shipped"
    assert summary["config"]["model_kwargs"] == {"width": 48}
    assert tuple(summary["config"]["lr_decay"]) == tuple(
        model_card("cdcgan")["config"]["lr_decay"]
    )
