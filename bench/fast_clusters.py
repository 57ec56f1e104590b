"""Does self-conditioning on clusters within each digit help the fast CPU recipe? Seeds.

    python bench/fast_clusters.py --seeds 0 1 2 --clusters 0 10 --steps 2906 \\
        --json cgan_lib/fast_clusters.json

Trains the conditional DCGAN's fast recipe (cgan_lib.recipes: width 32, no refinement,
EMA 0.999, 1e-3) with `--clusters K` for each K and seed, for a fixed number of steps
(2,906: what the recipe reached in 5 minutes on the 2-core CPU) on one CPU thread, with
the `train` command, and appends one JSON line per run: the command, wall time, and
the scores of bench/bench.py's yardstick (10,000 digits with the test set's label
counts, FD to the 10,000 test digits) and of the model cards' scorer (5,000 digits:
5 draws of 1,000, and one draw of 5,000 against 5,000 held-out real digits). Each run
is also written to `--json` (chapter 8 reads it there), replacing an earlier run of the
same seed and K and keeping the others.
Two runs share the 2-core machine fairly when each has one thread: the steps, not the
time, are fixed.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cgan_lib.checkpoint import load_checkpoint  # noqa: E402
from cgan_lib.digit_classifier import load_classifier  # noqa: E402
from cgan_lib.metrics import TestSetFD, evaluate_generator  # noqa: E402


def scores(checkpoint: Path) -> dict:
    run = load_checkpoint(checkpoint)
    G = run.generator.eval()
    yardstick = TestSetFD(load_classifier())
    accuracy_10k, fd_10k, _ = yardstick.of_generator(G)
    cards = evaluate_generator(G, 500, 0, memo_samples=1)
    one = evaluate_generator(G, 500, 0, memo_samples=1, repeats=1)
    return {
        "step": run.step,
        "clusters": run.config.model_kwargs.get("clusters", 0),
        "seed": run.config.seed,
        "accuracy_10k": round(accuracy_10k, 4),
        "fd_10k": round(fd_10k, 4),
        "fd_10k_reference": round(yardstick.reference, 4),
        "card_fd": round(cards["frechet_distance"], 4),
        "card_fd_std": round(cards["frechet_distance_std"], 4),
        "precision": round(cards["precision"], 4),
        "recall": round(cards["recall"], 4),
        "one_draw_fd": round(one["frechet_distance"], 4),
        "one_draw_accuracy": round(one["accuracy"], 4),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    p.add_argument("--clusters", type=int, nargs="+", default=[0, 10])
    p.add_argument("--steps", type=int, default=2906)
    p.add_argument("--runs", default="runs/fast_clusters", help="run folders here")
    p.add_argument("--json", default="cgan_lib/fast_clusters.json", help="runs go here")
    args = p.parse_args()
    torch.set_num_threads(1)  # the scoring; training runs in its own process
    for seed in args.seeds:
        for k in args.clusters:
            folder = Path(args.runs) / f"k{k}_seed{seed}"
            command = (
                f"python -m cgan_lib train --model cdcgan --recipe fast --clusters {k} "
                f"--steps {args.steps} --seed {seed} --threads 1 --out {folder}"
            )
            started = time.perf_counter()
            subprocess.run(command.split(), check=True, cwd=ROOT)
            wall = time.perf_counter() - started
            summary = json.loads((ROOT / folder / "summary.json").read_text())
            line = {
                "command": command,
                "wall_seconds": round(wall, 1),
                "train_seconds": summary["seconds"],
                "threads": 1,
                **scores(ROOT / folder / "checkpoint.pt"),
            }
            record(Path(args.json), line, args.steps)
            print(json.dumps(line), flush=True)


def record(path: Path, line: dict, steps: int) -> None:
    """Put one run into the file at path (read again: two runs may share it)."""
    entry = json.loads(path.read_text()) if path.exists() else {}
    entry.update(
        script="bench/fast_clusters.py",
        recipe="fast (cgan_lib.recipes.FAST['cdcgan']), --clusters K",
        steps=steps,
        machine=f"2-core {platform.machine()} CPU, torch {torch.__version__}",
    )
    runs = [
        r
        for r in entry.get("runs", [])
        if (r["seed"], r["clusters"]) != (line["seed"], line["clusters"])
    ]
    entry["runs"] = sorted(runs + [line], key=lambda r: (r["clusters"], r["seed"]))
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(entry, indent=1) + "\n")
    tmp.replace(path)  # atomic: a reader never sees half a file


if __name__ == "__main__":
    main()
