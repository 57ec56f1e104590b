"""Chapter 9's comparison: every recipe of cgan_lib.toolbox.RECIPES, several seeds each.

    python bench/toolbox.py  # 8 recipes x 3 seeds: about 25 min on a busy 2-core CPU
    python bench/toolbox.py --steps 40 --seeds 0 1 --per-class 20 --out /tmp/t.json

Every run trains chapter 7's conditional MLP for the same number of steps (a fixed step
count is fairer than a time budget on a machine shared with other work; each run's wall
time is recorded beside its scores), then scores its generator like the model cards do
(cgan_lib.metrics.evaluate_generator). The file is rewritten after every run, so an
interrupted benchmark leaves the runs it finished.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
from pathlib import Path

import torch

import cgan_lib
from cgan_lib import TrainConfig, fit, metrics, mnist_tensors
from cgan_lib.toolbox import RECIPES, RESULTS_PATH


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--per-class", type=int, default=50, help="samples per digit")
    p.add_argument("--recipes", nargs="+", choices=list(RECIPES), default=None)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--out", default=str(RESULTS_PATH))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    names = args.recipes or list(RECIPES)
    results = {
        "command": " ".join(
            ["python bench/toolbox.py", *map(shlex.quote, sys.argv[1:])]
        ),
        "model": "cmlp",
        "steps": args.steps,
        "batch_size": TrainConfig().batch_size,
        "seeds": args.seeds,
        "per_class": args.per_class,
        "device": f"cpu ({platform.processor() or platform.machine()}), "
        f"{args.threads} thread(s), machine shared with other work",
        "version": cgan_lib.__version__,
        "torch": torch.__version__,
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "recipes": {},
    }
    data = mnist_tensors("train", "cpu")
    out = Path(args.out)
    for seed in args.seeds:  # seeds outermost: a cut-short run still compares recipes
        for name in names:
            config = TrainConfig(model="cmlp", seed=seed, **RECIPES[name])
            started = time.perf_counter()
            run = fit(config, steps=args.steps, data=data, device="cpu", progress=False)
            wall = time.perf_counter() - started
            scores = metrics.evaluate_generator(
                run.generator, per_class=args.per_class, seed=seed
            )
            entry = results["recipes"].setdefault(
                name, {"config": RECIPES[name], "runs": []}
            )
            entry["runs"].append(
                {
                    "seed": seed,
                    "accuracy": scores["accuracy"],
                    "frechet_distance": scores["frechet_distance"],
                    # classes holding >= 5% of the samples (called coverage before
                    # metrics had precision/recall/density/coverage; those are kept too)
                    "classes_drawn": scores.get(
                        "classes_drawn", scores.get("coverage")
                    ),
                    **{
                        k: scores[k]
                        for k in ("precision", "recall", "density", "coverage")
                        if k in scores and "classes_drawn" in scores
                    },
                    "wall_seconds": round(wall, 1),
                    "train_seconds": round(run.elapsed, 1),
                }
            )
            print(
                f"seed {seed} {name:<22} acc {scores['accuracy']:.3f} "
                f"FD {scores['frechet_distance']:.2f} {wall:.0f} s",
                flush=True,
            )
            results["finished"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
            out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
