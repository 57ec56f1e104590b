"""Shipping a trained run: its generator into cgan_lib/pretrained/, with a model card
that records the command, seed, device, wall time and the scores it earned.

    card = ship_run("runs/cdcgan", "cdcgan")   # python -m cgan_lib ship does this

The card is scored on the file users will load (the float16 sample-only generator),
beside real held-out digits scored the same way, and tests/test_pretrained.py re-scores
every shipped card.
"""

from __future__ import annotations

import json
from pathlib import Path

from .checkpoint import (
    PRETRAINED_DIR,
    check_ship_name,
    json_text,
    load_checkpoint,
    load_generator,
    save_generator,
)
from .errors import BadInput
from .metrics import evaluate_generator, real_reference
from .viz import timelapse


def ship_run(run_dir, name: str, per_class: int = 500, seed: int = 0) -> dict:
    """Ship the run trained in `run_dir` (a folder written by `train`) as `name`:
    pretrained/NAME.pt, NAME.json (the card) and, for a conditional model, NAME.gif.
    Returns the card.
    """
    name = check_ship_name(name)
    run_dir = Path(run_dir)
    summary_path = run_dir / "summary.json"
    if not (run_dir / "checkpoint.pt").exists() and (run_dir / "generator.pt").exists():
        raise BadInput(
            f"{run_dir} holds generator.pt (a sample-only generator) but no "
            "checkpoint.pt: ship needs the whole run (its snapshots make the timelapse)"
        )
    if not summary_path.is_file():
        raise BadInput(
            f"{run_dir} has no summary.json: is it a folder written by train?"
        )
    summary = json.loads(summary_path.read_text())
    run = load_checkpoint(run_dir / "checkpoint.pt")
    target = save_generator(run, PRETRAINED_DIR / f"{name}.pt")
    G = load_generator(target)  # score what users will load: the float16 file
    scores = evaluate_generator(G, per_class, seed=seed)
    n = 10 * per_class
    # the same digits as one draw, against one draw of real ones: the FD's small-sample
    # bias shrinks with the draw, so this is the sharper comparison of the two
    one = evaluate_generator(G, per_class, seed, memo_samples=1, repeats=1)
    real_one = real_reference(n, memo_samples=1, repeats=1)
    card = {
        **summary,
        "scored_with": {"per_class": per_class, "seed": seed},
        "scores": scores,
        "real_reference": real_reference(n),
        "one_draw": {
            "n": one["n"],
            "accuracy": one["accuracy"],
            "frechet_distance": one["frechet_distance"],
            "real_frechet_distance": real_one["frechet_distance"],
        },
    }
    if run.G.num_classes:  # a conditional model's grid has rows 0-9: the book shows it
        every = max(1, len(run.snapshots) // 10)  # ~ten frames keep the GIF under 1 MB
        frames = run.snapshots[::every] + run.snapshots[-1:]
        timelapse(frames, PRETRAINED_DIR / f"{name}.gif", scale=1)
    (PRETRAINED_DIR / f"{name}.json").write_text(json_text(card) + "\n")
    return card
