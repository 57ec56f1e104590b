"""Chapter 9's comparison: every recipe of cgan_lib.toolbox.RECIPES, several seeds each.

    python bench/toolbox.py --steps 500 --jobs 2  # 24 runs: ~21 min on 2 cores
    python bench/toolbox.py --steps 500 --jobs 2 --resume  # go on after a stop
    python bench/toolbox.py --steps 40 --seeds 0 1 --per-class 20 --out /tmp/t.json

Every run trains chapter 8's conditional DCGAN (cgan_lib.toolbox.MODEL and BASE) for the
same number of steps, one CPU thread per run and --jobs runs side by side (a fixed step
count, not a time budget, so that runs sharing the machine are compared fairly; each
run's wall time is recorded beside its scores), then scores its generator like the model
cards do (cgan_lib.metrics.evaluate_generator). The file is rewritten after every run,
so an interrupted benchmark leaves the runs it finished.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shlex
import signal
import statistics
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

import cgan_lib
from cgan_lib import fit, metrics, mnist_tensors, toolbox


def one_run(job: tuple) -> tuple[str, dict]:
    """Train recipe `name` from `seed` for `steps` on one CPU thread; its scores."""
    name, seed, steps, per_class = job
    torch.set_num_threads(1)
    config = toolbox.config(name, seed)
    started = time.perf_counter()
    run = fit(
        config, steps=steps, data=mnist_tensors("train", "cpu"), device="cpu",
        progress=False,
    )  # fmt: skip
    wall = time.perf_counter() - started
    if run.interrupted:  # stopped by a signal: a short run must not be recorded
        return name, None
    scores = metrics.evaluate_generator(run.generator, per_class=per_class, seed=seed)
    return name, {
        "seed": seed,
        "accuracy": scores["accuracy"],
        "frechet_distance": scores["frechet_distance"],
        "classes_drawn": scores["classes_drawn"],
        **{k: scores[k] for k in ("precision", "recall", "density", "coverage")},
        # sigmoid(D) on the last 100 steps' batches: who was winning at the end
        "d_real_last_100": statistics.fmean(run.history["d_real"][-100:]),
        "d_fake_last_100": statistics.fmean(run.history["d_fake"][-100:]),
        "wall_seconds": round(wall, 1),
        "train_seconds": round(run.elapsed, 1),
    }


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--per-class", type=int, default=100, help="samples per digit")
    p.add_argument("--recipes", nargs="+", choices=list(toolbox.RECIPES), default=None)
    p.add_argument("--jobs", type=int, default=1, help="runs at a time, 1 thread each")
    p.add_argument("--out", default=str(toolbox.RESULTS_PATH))
    p.add_argument(
        "--resume",
        action="store_true",
        help="keep the runs in --out made with these settings; run the rest",
    )
    args = p.parse_args(argv)
    names = args.recipes or list(toolbox.RECIPES)
    base = asdict(toolbox.config(toolbox.BASELINE, 0))
    results = {
        "command": " ".join(
            ["python bench/toolbox.py"]
            + [shlex.quote(a) for a in sys.argv[1:] if a != "--resume"]
        ),
        "model": toolbox.MODEL,
        "base": {k: base[k] for k in ("model_kwargs", "lr_g", "lr_d", "betas", "ema")},
        "steps": args.steps,
        "batch_size": base["batch_size"],
        "seeds": args.seeds,
        "per_class": args.per_class,
        "device": f"a {os.cpu_count()}-core "
        f"{platform.processor() or platform.machine()} CPU, 1 thread per run, "
        f"{args.jobs} run(s) at a time",
        "version": cgan_lib.__version__,
        "torch": torch.__version__,
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "recipes": {},
    }
    out = Path(args.out)
    done = set()
    if args.resume and out.exists():
        done = keep_finished_runs(json.loads(out.read_text()), results, names)
        print(f"resuming {out}: {len(done)} runs kept", flush=True)
    # seeds outermost: a cut-short benchmark still compares every recipe
    jobs = [
        (n, s, args.steps, args.per_class)
        for s in args.seeds
        for n in names
        if (n, s) not in done
    ]
    mnist_tensors("train", "cpu")  # make the MNIST cache once, before the workers
    # SIGTERM ends the benchmark like Ctrl-C, and neither leaves a worker behind
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    pool = multiprocessing.get_context("spawn").Pool(args.jobs)
    try:
        record(pool.imap_unordered(one_run, jobs), results, names, out)
        pool.close()
        pool.join()
    finally:  # SIGKILL: a worker inside fit would take SIGTERM as "stop and save"
        for worker in multiprocessing.active_children():
            worker.kill()
        pool.terminate()


SAME_SETTINGS = ("model", "base", "steps", "batch_size", "per_class", "version")


def keep_finished_runs(old: dict, results: dict, names: list[str]) -> set:
    """Copy into `results` the runs of `old` (a results file) that this benchmark
    would make again: same settings, a recipe and seed it asks for, the same recipe
    config. Returns their (recipe, seed) pairs."""
    if any(old.get(k) != json.loads(json.dumps(results[k])) for k in SAME_SETTINGS):
        sys.exit("--resume: the file was made with other settings; use another --out")
    kept = set()
    for name in names:
        entry = old["recipes"].get(name)
        if entry is None or entry["config"] != toolbox.RECIPES[name]:
            continue
        runs = [r for r in entry["runs"] if r["seed"] in results["seeds"]]
        if runs:
            results["recipes"][name] = {"config": entry["config"], "runs": runs}
            kept |= {(name, r["seed"]) for r in runs}
    results["started"] = old.get("started", results["started"])
    return kept


def record(finished, results: dict, names: list[str], out: Path) -> None:
    """Add each finished run to `results` and rewrite the file after each one."""
    for name, run in finished:
        if run is None:
            sys.exit(f"a run was interrupted; {out} keeps the runs before it")
        entry = results["recipes"].setdefault(
            name, {"config": toolbox.RECIPES[name], "runs": []}
        )
        entry["runs"].append(run)
        entry["runs"].sort(key=lambda r: r["seed"])
        print(
            f"seed {run['seed']} {name:<22} acc {run['accuracy']:.3f} "
            f"FD {run['frechet_distance']:.2f} {run['wall_seconds']:.0f} s",
            flush=True,
        )
        results["recipes"] = {
            n: results["recipes"][n] for n in names if n in results["recipes"]
        }
        results["finished"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
