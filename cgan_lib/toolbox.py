"""Chapter 9's comparison: the recipes of the GAN toolbox and the table of their scores.

`bench/toolbox.py` trains every recipe in RECIPES (on MODEL, with BASE's settings) for
the same number of steps from several seeds and writes `toolbox_results.json` beside
this file; `load_results`, `summary` and `table` turn that file into the chapter's
table, and `plot` into its figure with error bars. Two recipes differ beyond the noise
only when their means are further apart than twice the larger of their two standard
deviations (`verdict`).
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

from .errors import BadInput
from .run import TrainConfig

RESULTS_PATH = Path(__file__).parent / "toolbox_results.json"
BASELINE = "non-saturating"  # every recipe is compared with this one
METRICS = ("accuracy", "frechet_distance")  # what each run records, higher/lower better

# Every recipe trains chapter 8's conditional DCGAN at the fast recipe's width and EMA,
# at the DCGAN paper's learning rate (2e-4, betas 0.5/0.999) for all: each loss or
# regulariser is dropped into the same training, not tuned for itself. Its discriminator
# sees the label by projection (chapter 8's); "concat D" and "ACGAN D" change that.
MODEL = "cdcgan"
BASE = {"model_kwargs": {"width": 32, "refine": False}, "ema": 0.999}

# name -> the TrainConfig fields it changes from BASE
RECIPES = {
    "non-saturating": {},
    "hinge": {"loss": "hinge"},
    "hinge + spectral norm": {"loss": "hinge", "spectral_norm": True},
    "WGAN-GP": {"loss": "wgan-gp"},
    "LSGAN": {"loss": "lsgan"},
    "non-saturating + R1": {"r1": 10.0},
    "concat D": {"model_kwargs": {"conditioning": "concat"}},
    "ACGAN D": {"model_kwargs": {"conditioning": "acgan"}},
}


def config(name: str, seed: int):
    """The TrainConfig of recipe `name` from `seed`: BASE with the recipe's changes
    (model_kwargs merged, so projection and ACGAN keep BASE's width)."""
    fields = {**BASE, **RECIPES[name]}
    fields["model_kwargs"] = {
        **BASE["model_kwargs"],
        **RECIPES[name].get("model_kwargs", {}),
    }
    return TrainConfig(model=MODEL, seed=seed, **fields)


RUN_KEYS = ("seed", "accuracy", "frechet_distance", "classes_drawn", "wall_seconds")
HEADER_KEYS = ("command", "model", "steps", "seeds", "per_class", "device", "version")


def load_results(path: str | Path = RESULTS_PATH) -> dict:
    """The results file, checked: its header and, per recipe, one entry per seed."""
    path = Path(path)
    if not path.exists():
        raise BadInput(f"{path} does not exist; make it with: python bench/toolbox.py")
    results = json.loads(path.read_text())
    missing = [k for k in (*HEADER_KEYS, "recipes") if k not in results]
    if missing:
        raise BadInput(f"{path} lacks {', '.join(missing)}: not a toolbox results file")
    for name, recipe in results["recipes"].items():
        seeds = [r["seed"] for r in recipe["runs"]]
        if sorted(seeds) != sorted(results["seeds"]):
            raise BadInput(f"{path}: recipe {name!r} has seeds {seeds}")
    return results


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1) of a recipe's runs."""
    return statistics.fmean(values), statistics.stdev(values)


def summary_rows(results: dict) -> dict:
    """recipe -> {metric: (mean, std)} and its mean wall time per run."""
    out = {}
    for name, recipe in results["recipes"].items():
        runs = recipe["runs"]
        row = {m: mean_std([r[m] for r in runs]) for m in METRICS}
        row["wall_seconds"] = statistics.fmean(r["wall_seconds"] for r in runs)
        out[name] = row
    return out


def verdict(a: tuple[float, float], b: tuple[float, float]) -> str:
    """'beyond noise' when |mean_a - mean_b| > 2 * max(std_a, std_b), else 'noise'."""
    (mean_a, std_a), (mean_b, std_b) = a, b
    return "beyond noise" if abs(mean_a - mean_b) > 2 * max(std_a, std_b) else "noise"


def table(results: dict) -> str:
    """The chapter's table: mean ± std per recipe and each difference from BASELINE."""
    rows = summary_rows(results)
    base = rows[BASELINE]
    lines = [
        f"{'recipe':<22} {'accuracy %':>13} {'vs base':>12} "
        f"{'Fréchet':>11} {'vs base':>12}",
        "-" * 74,
    ]
    for name, row in rows.items():
        cells = [f"{name:<22}"]
        for m, scale in (("accuracy", 100), ("frechet_distance", 1)):
            mean, std = row[m]
            cells.append(
                f"{mean * scale:6.1f} ±{std * scale:5.1f}".rjust(
                    13 if m == "accuracy" else 11
                )
            )
            cells.append(
                f"{'-':>12}" if name == BASELINE else f"{verdict(row[m], base[m]):>12}"
            )
        lines.append(" ".join(cells))
    return "\n".join(lines)


def plot(results: dict, real_fd: float | None = None):
    """Accuracy and Fréchet distance per recipe, mean with ± one std error bars.

    With `real_fd` (real digits' own Fréchet distance under the same scorer) the right
    panel reads in "× real digits", the book's scale, with real digits at 1.
    """
    import matplotlib.pyplot as plt

    fd_scale, fd_label = 1.0, "Fréchet distance, lower is better"
    if real_fd is not None:
        if not (math.isfinite(real_fd) and real_fd > 0):
            raise BadInput(f"real_fd must be a positive finite number, got {real_fd!r}")
        fd_scale = 1 / real_fd
        fd_label = "Fréchet distance, × real digits (lower is better)"
    rows = summary_rows(results)
    names = list(rows)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    for ax, (m, label, scale) in zip(
        axes,
        (
            ("accuracy", "classifier accuracy (%), higher is better", 100),
            ("frechet_distance", fd_label, fd_scale),
        ),
    ):
        means = [rows[n][m][0] * scale for n in names]
        stds = [rows[n][m][1] * scale for n in names]
        ax.errorbar(means, range(len(names)), xerr=stds, fmt="o", capsize=4)
        ax.axvline(rows[BASELINE][m][0] * scale, color="grey", lw=0.8, ls="--")
        ax.set_xlabel(label)
    if real_fd is not None:
        axes[1].axvline(1.0, color="green", lw=0.8, ls=":", label="real digits")
        axes[1].legend(loc="lower right", fontsize=8)
    axes[0].set_yticks(range(len(names)), names)
    axes[0].invert_yaxis()
    fig.suptitle(
        f"{len(results['seeds'])} seeds per recipe, {results['steps']} steps each "
        "(mean ± one standard deviation)"
    )
    fig.tight_layout()
    return fig


def findings(results: dict) -> str:
    """Markdown bullets: per metric, which recipes beat or trail BASELINE beyond the
    noise and which are within it; then the range of wall times.
    """
    rows = summary_rows(results)
    base = rows[BASELINE]
    lines = []
    for metric, label, sign in (
        ("accuracy", "Accuracy", 1),  # sign: +1 when higher is better
        ("frechet_distance", "Fréchet distance", -1),
    ):
        groups = {"better": [], "worse": [], "within the noise": []}
        for name, row in rows.items():
            if name == BASELINE:
                continue
            if verdict(row[metric], base[metric]) == "noise":
                groups["within the noise"].append(name)
            elif sign * (row[metric][0] - base[metric][0]) > 0:
                groups["better"].append(name)
            else:
                groups["worse"].append(name)
        parts = [f"{k}: {', '.join(v) or 'none'}" for k, v in groups.items()]
        lines.append(f"- **{label}** vs {BASELINE}: " + "; ".join(parts) + ".")
    at_chance = [name for name, row in rows.items() if row["accuracy"][0] < 0.15]
    if at_chance:  # 10% is guessing; classes drawn says whether it collapsed
        drawn = {
            name: ", ".join(
                str(r["classes_drawn"]) for r in results["recipes"][name]["runs"]
            )
            for name in at_chance
        }
        lines.append(
            "- **At chance** (under 15% accuracy; guessing scores 10%): "
            + "; ".join(f"{n} (classes drawn per seed: {drawn[n]})" for n in at_chance)
            + "."
        )
    seconds = {name: row["wall_seconds"] for name, row in rows.items()}
    fast, slow = min(seconds, key=seconds.get), max(seconds, key=seconds.get)
    lines.append(
        f"- **Wall time per run**: from {seconds[fast]:.0f} s ({fast}) to "
        f"{seconds[slow]:.0f} s ({slow}), on {results['device']}."
    )
    return "\n".join(lines)
