"""Chapter 5: the unconditional DCGAN with and without clusters, on the same recipe.

    python bench/dcgan_clusters_seeds.py --seeds 0 1 2 --clusters 0 200 --steps 1500

The shipped `dcgan` and `dcgan_clusters` differ in more than the clusters (learning
rate, epochs, decay), so their cards cannot say what the clusters alone do. It trains
`dcgan_clusters`'s recipe (width 32, 1e-3, EMA 0.999) with `--clusters K` for each K and
seed, for a fixed number of steps on one CPU thread (two runs share the 2-core machine
without changing each other's results: the steps, not the time, are fixed), scores each
run with the book's yardstick (`metrics.TestSetFD`: 10,000 digits against the test set,
beside real digits' own value) and with the model cards' scorer (precision, recall and
the digits' balance, 5,000 digits in 5 draws of 1,000), and writes the runs to
`--json`, replacing an earlier run of the same seed and K (under a lock: two runs may
share the file). Chapter 5 reads the committed file.
"""

from __future__ import annotations

import argparse
import fcntl
import functools
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cgan_lib.checkpoint import load_checkpoint  # noqa: E402
from cgan_lib.metrics import TestSetFD, evaluate_generator  # noqa: E402

RECIPE = "--recipe plain --model dcgan --width 32 --lr 1e-3 --ema 0.999"


@functools.cache
def yardstick() -> TestSetFD:
    return TestSetFD()


def scores(checkpoint: Path) -> dict:
    run = load_checkpoint(checkpoint)
    G = run.generator.eval()
    s = evaluate_generator(G, 500, 0, memo_samples=1)
    hist = np.array(s["class_histogram"]) / s["n"]
    return {
        "fd_10k": round(yardstick().of_generator(G)[1], 4),
        "step": run.step,
        "clusters": run.config.model_kwargs.get("clusters", 0),
        "seed": run.config.seed,
        "frechet_distance": round(s["frechet_distance"], 4),
        "frechet_distance_std": round(s["frechet_distance_std"], 4),
        "precision": round(s["precision"], 4),
        "recall": round(s["recall"], 4),
        "farthest_from_tenth": round(float(np.abs(hist - 0.1).max()), 4),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--clusters", type=int, nargs="+", default=[0, 200])
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--runs", default="runs/dcgan_clusters_seeds", help="run folders")
    p.add_argument("--json", default="cgan_lib/dcgan_clusters_seeds.json")
    args = p.parse_args()
    torch.set_num_threads(1)  # the scoring; training runs in its own process
    for seed in args.seeds:
        for k in args.clusters:
            folder = Path(args.runs) / f"k{k}_seed{seed}"
            command = (
                f"python -m cgan_lib train {RECIPE} --clusters {k} "
                f"--steps {args.steps} --seed {seed} --threads 1 --out {folder}"
            )
            started = time.perf_counter()
            argv = [sys.executable, *command.split()[1:]]  # this interpreter
            subprocess.run(argv, check=True, cwd=ROOT)
            wall = time.perf_counter() - started
            line = {
                "command": command,
                "wall_seconds": round(wall, 1),
                "threads": 1,
                **scores(ROOT / folder / "checkpoint.pt"),
            }
            record(Path(args.json), line, args.steps)
            print(json.dumps(line), flush=True)


def record(path: Path, line: dict, steps: int) -> None:
    """Put one run into the file at path (read again: two runs may share it)."""
    with open(path.with_name(f".{path.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one writer at a time
        _record(path, line, steps)


def _record(path: Path, line: dict, steps: int) -> None:
    entry = json.loads(path.read_text()) if path.exists() else {}
    entry.update(
        script="bench/dcgan_clusters_seeds.py",
        recipe=RECIPE + " --clusters K",
        steps=steps,
        yardstick="fd_10k: metrics.TestSetFD, 10,000 digits against the test set",
        fd_10k_reference=round(yardstick().reference, 4),
        scorer="evaluate_generator(G, per_class=500, seed=0): 5 draws of 1,000",
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
