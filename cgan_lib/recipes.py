"""Training recipes: the settings `python -m cgan_lib train` starts from, by device.

Two recipes per model, in one table:

- "fast": what reaches good digits soonest on a CPU. For the convolutional models, width
  32 and no refinement convolutions (more images/s than the shipped architecture), with
  an EMA of G's weights, which sharpens the samples of a short run. The conditional
  DCGAN also learns at 1e-3, five times the DCGAN paper's 2e-4 (the EMA keeps the
  faster, noisier steps from showing in the samples), and is self-conditioned on 10
  k-means clusters of each digit's images (chapter 8). What each choice buys is
  measured in the benchmark files, not here: bench/README.md, cgan_lib/benchmarks.json
  and cgan_lib/fast_clusters.json.
- "shipped": the exact settings of the shipped model, read from its model card.
- "plain": the library's own defaults (models.MODELS and TrainConfig) and nothing else:
  what `train` did before recipes, and what the shipped models' commands name.

`--recipe auto` (the default) takes "fast" on a CPU and "shipped" on a GPU. The numbers
behind that choice are bench/bench.py's, in cgan_lib/benchmarks.json: `reason()` quotes
them, and `train` prints it. Flags given on the command line override the recipe.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .checkpoint import model_card
from .errors import BadInput
from .models import MODELS

BENCHMARKS = Path(__file__).resolve().parent / "benchmarks.json"

FAST = {
    "cdcgan": dict(
        model_kwargs={"width": 32, "refine": False, "clusters": 10},
        ema=0.999,
        lr_g=1e-3,
        lr_d=1e-3,
    ),
    "dcgan": dict(model_kwargs={"width": 32}, ema=0.999),
    "cmlp": dict(ema=0.999),
    "mlp": dict(ema=0.999),
}
RECIPE_NAMES = ("auto", "fast", "shipped", "plain")
# What a recipe may set: the weight settings of TrainConfig, never seed or bookkeeping.
SHIPPED_KEYS = (
    "model_kwargs",
    "loss",
    "batch_size",
    "lr_g",
    "lr_d",
    "betas",
    "ema",
    "augment_degrees",
    "real_target",
    "lr_decay",
)


def recipe_settings(model: str, recipe: str) -> dict:
    """TrainConfig keyword arguments of `recipe` (fast, shipped, plain) for `model`."""
    if model not in MODELS:
        raise BadInput(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    if recipe == "plain":
        return {}
    if recipe == "fast":
        return {
            k: (dict(v) if isinstance(v, dict) else v) for k, v in FAST[model].items()
        }
    if recipe == "shipped":
        config = model_card(model)["config"]
        settings = {k: config[k] for k in SHIPPED_KEYS if k in config}
        # JSON lists back to the tuples of TrainConfig
        for key in ("betas", "lr_decay"):
            if key in settings:
                settings[key] = tuple(settings[key])
        return settings
    raise BadInput(f"recipe must be one of {', '.join(RECIPE_NAMES)}, got {recipe!r}")


def choose(recipe: str, device: torch.device) -> str:
    """The recipe to use: `recipe` itself, or for "auto" fast on a CPU, shipped on a
    GPU.
    """
    if recipe not in RECIPE_NAMES:
        raise BadInput(
            f"recipe must be one of {', '.join(RECIPE_NAMES)}, got {recipe!r}"
        )
    if recipe != "auto":
        return recipe
    return "fast" if device.type in ("cpu", "mps") else "shipped"


def reason(recipe: str, asked: str, device: torch.device) -> str:
    """One line saying which recipe train uses and why, quoting benchmarks.json."""
    if asked != "auto":
        return f"recipe {recipe} (asked for with --recipe {asked})"
    other = "shipped" if recipe == "fast" else "fast"
    line = f"recipe {recipe}, chosen for a {device.type.upper()} by --recipe auto"
    entry = None
    if BENCHMARKS.exists():
        entry = json.loads(BENCHMARKS.read_text()).get(device.type)
    if entry:
        models, minutes = entry.get("models", {}), entry.get("minutes", 5)
        compared = (
            ("fast cdcgan", "cdcgan"),
            ("shipped recipe", "shipped"),
            ("shipped architecture at width 32", "cdcgan_refine"),
        )
        reference = entry.get("fd_10k_reference")
        parts = [
            f"{label} {describe_result(models[key], minutes, reference)}"
            for label, key in compared
            if key in models
        ]
        line += f" (bench/bench.py on {entry.get('machine', device.type)}: "
        line += "; ".join(parts) + ")"
    return f"{line}. --recipe {other} trains the other one."


def describe_result(
    result: dict, minutes: float, reference: float | None = None
) -> str:
    """'95% accuracy in 62 s, 98% accuracy in 170 s, FD 0.71 (x8.4 real digits') after
    5 min': one benchmark result in words; the FD is to the test set over 10,000
    digits where the file has it, against `reference`, real digits' FD.
    """
    took = result.get("minutes", minutes)
    seconds = result.get("seconds_to_accuracy", {})
    reached = [
        f"{float(t):.0%} accuracy in {seconds[t]:.0f} s"
        if seconds.get(t)
        else f"not {float(t):.0%} in {took:g} min"
        for t in ("0.95", "0.98")
        if t in seconds
    ]
    fd = result.get("fd_10k")
    if fd is not None and reference:
        reached.append(
            f"FD {fd:.2f} (x{fd / reference:.1f} real digits') after {took:g} min"
        )
    elif result.get("final_frechet_distance") is not None:
        reached.append(f"FD {result['final_frechet_distance']:.2f} after {took:g} min")
    return ", ".join(reached)
