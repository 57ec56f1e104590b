"""Steps-to-quality of unconditional DCGAN settings, for issue 14's target (one thread).

    python bench/unconditional_probe.py --steps 3000 --codes 10 --out runs/probe.jsonl

Trains the unconditional DCGAN for --steps steps on one CPU thread, and every --every
steps scores its EMA generator like the model cards (metrics.evaluate_generator,
per_class=500, seed=0: 5 draws of 1,000): Fréchet distance, precision, recall and the
digit farthest from 10% of the samples. One JSON line per score, so two settings run
side by side, one thread each, compare by steps.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from cgan_lib import TrainConfig, fit, metrics, mnist_tensors


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--every", type=int, default=1000)
    p.add_argument("--codes", type=int, default=0)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--refine", action="store_true")
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    kwargs = {"width": args.width, "refine": args.refine, "codes": args.codes}
    config = TrainConfig(
        model="dcgan", model_kwargs=kwargs, ema=0.999, lr_g=args.lr, lr_d=args.lr,
        seed=args.seed, snapshot_every=10**9,
    )  # fmt: skip
    run, data = config, mnist_tensors("train", "cpu")
    started = time.perf_counter()
    while not hasattr(run, "step") or run.step < args.steps:
        target = (run.step if hasattr(run, "step") else 0) + args.every
        run = fit(run, steps=target, data=data, device="cpu", progress=False)
        s = metrics.evaluate_generator(run.generator, per_class=500, seed=0)
        hist = torch.tensor(s["class_histogram"], dtype=torch.float)
        line = {
            "settings": vars(args) | {"out": None},
            "step": run.step,
            "train_seconds": round(run.elapsed, 1),
            "wall_seconds": round(time.perf_counter() - started, 1),
            "frechet_distance": round(s["frechet_distance"], 3),
            "frechet_distance_std": round(s["frechet_distance_std"], 3),
            "precision": round(s["precision"], 3),
            "recall": round(s["recall"], 3),
            "farthest_digit_points": round(
                float((hist / hist.sum() - 0.1).abs().max()) * 100, 2
            ),
        }
        print(json.dumps(line), flush=True)
        with open(args.out, "a") as f:
            f.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
