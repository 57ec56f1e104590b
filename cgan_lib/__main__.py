"""Command line: python -m cgan_lib {train, sample, number, evaluate, ...} (each has
--help).

Every option is checked when it is parsed (finite, in range; the range is in the
message), and the library's own errors (cgan_lib.errors.CganError) print as one line.
Any other exception keeps its traceback: that is a bug worth reporting.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from . import distributed, recipes
from .checkpoint import json_text, load_generator, save_generator
from .data import SIZES
from .digit_classifier import save_classifier, train_classifier
from .errors import (
    BadInput,
    CganError,
    PeerLost,
    check_range,
    describe_range,
    truncated_repr,
)
from .export import export_onnx
from .losses import LOSSES
from .metrics import (
    evaluate_generator,
    format_table,
    load_samples,
    real_reference,
    score,
)
from .models import CONDITIONINGS, LIMITS, MODELS
from .run import RANGES, TrainConfig, pick_device
from .sample import MAX_PER_CLASS, check_number, sample_by_label, write_number
from .ship import ship_run
from .train import MAX_STEPS, check_out_dir, fit
from .viz import grid, save_png, timelapse


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one clear line and a command that works, not usage
        message = re.sub(r"'([^']{37})[^']{4,}'", r"'\1...'", message)  # long typos
        self.exit(2, f"error: {message} (see: {self.prog} --help)\n")


def number(lo=None, hi=None, *, integer=False, lo_open=False):
    """An argparse type: a finite number in range, or a message naming the range."""

    def parse(text):
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            if integer and re.fullmatch(r"\s*[+-]?\d+\s*", text):  # too long for int()
                accepted = describe_range(lo, hi, integer=True, lo_open=lo_open)
                digits = len(text.strip())
                raise argparse.ArgumentTypeError(
                    f"the value must be {accepted}, got a {digits}-digit number"
                ) from None
            kind = "a whole number" if integer else "a number"
            raise argparse.ArgumentTypeError(
                f"expected {kind}, got {truncated_repr(text)}"
            ) from None
        try:
            return check_range(
                "the value", value, lo, hi, integer=integer, lo_open=lo_open
            )
        except BadInput as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    return parse


SEED = number(**RANGES["seed"])
MAX_EPOCHS, MAX_MINUTES = 10_000, 10**6


def output_file(path: str, suffixes: tuple[str, ...]) -> Path:
    """An output file name: not empty, not a folder, the right suffix, in a writable
    folder.
    """
    if not path.strip():
        raise BadInput("the output file name is empty")
    out = Path(path)
    if out.is_dir():
        raise BadInput(
            f"{out} is a folder; name a file ending in {' or '.join(suffixes)}"
        )
    if out.suffix.lower() not in suffixes:
        raise BadInput(f"--out must end in {' or '.join(suffixes)}, got {out.name!r}")
    folder = out.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".{out.name}.write-test"
        probe.touch()
        probe.unlink()
    except OSError as e:
        raise BadInput(
            f"cannot write to {folder} ({e.strerror}); choose another --out"
        ) from None
    return out


# --------------------------------------------------------------------------------------
# train


def add_train(sub) -> None:
    p = sub.add_parser("train", help="train a GAN on MNIST into --out (resumable)")
    p.add_argument("--model", required=True, choices=list(MODELS))
    length = p.add_mutually_exclusive_group(required=True)
    length.add_argument(
        "--epochs",
        type=number(0, MAX_EPOCHS, lo_open=True),
        help="train until this many epochs in total",
    )
    length.add_argument(
        "--steps",
        type=number(1, MAX_STEPS, integer=True),
        help="train until this many steps in total",
    )
    length.add_argument(
        "--minutes",
        type=number(0, MAX_MINUTES, lo_open=True),
        help="train for this many minutes",
    )
    p.add_argument(
        "--out",
        required=True,
        help="run folder; an existing checkpoint there is resumed",
    )
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument(
        "--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda, mps"
    )
    p.add_argument(
        "--loss",
        choices=list(LOSSES),
        help="the D and G losses (chapters 3 and 9)",
    )
    p.add_argument(
        "--spectral-norm",
        action="store_true",
        default=None,
        help="spectral normalisation of D's weights (chapter 9)",
    )
    p.add_argument(
        "--r1", type=number(**RANGES["r1"]), help="R1 penalty gamma (0 = off)"
    )
    p.add_argument(
        "--r2", type=number(**RANGES["r2"]), help="R2 penalty gamma (0 = off)"
    )
    p.add_argument(
        "--gp-weight",
        type=number(**RANGES["gp_weight"]),
        help="WGAN-GP penalty weight (--loss wgan-gp only; default 10)",
    )
    p.add_argument(
        "--recipe",
        default="auto",
        choices=list(recipes.RECIPE_NAMES),
        help="starting settings: fast (CPU), shipped (the shipped model's), plain (the "
        "library's defaults), or auto: fast on a CPU, shipped on a GPU "
        "(cgan_lib/recipes.py); flags override it",
    )
    p.add_argument(
        "--batch-size",
        type=number(**RANGES["batch_size"]),
        help="default: the recipe's (128)",
    )
    p.add_argument(
        "--lr",
        type=number(0, 1, lo_open=True),
        help="both players; default: the recipe's (2e-4, 1e-3 for the fast cdcgan)",
    )
    p.add_argument(
        "--width",
        type=number(*LIMITS["width"], integer=True),
        help="network width (default: the model's, see models.MODELS)",
    )
    p.add_argument(
        "--conditioning",
        choices=list(CONDITIONINGS),
        help="how D sees the label (conditional models only)",
    )
    p.add_argument(
        "--refine",
        action=argparse.BooleanOptionalAction,
        help="conv generators: a 3x3 convolution after each upsampling",
    )
    p.add_argument(
        "--codes",
        type=number(*LIMITS["codes"], integer=True),
        help="unconditional DCGAN: an InfoGAN categorical code with this many "
        "categories (0 = none, the default)",
    )
    p.add_argument(
        "--clusters",
        type=number(*LIMITS["clusters"], integer=True),
        help="DCGANs: self-conditioned on this many k-means clusters of the training "
        "digits (of each digit's, for cdcgan; 0 = none, the default; chapter 5)",
    )
    p.add_argument(
        "--ema",
        type=number(**RANGES["ema"]),
        help="EMA decay of generator weights, e.g. 0.999 (0 = off; default: the "
        "recipe's)",
    )
    p.add_argument(
        "--augment",
        type=number(**RANGES["augment_degrees"]),
        help="random rotation of real digits, degrees",
    )
    p.add_argument(
        "--lr-decay",
        type=number(0, MAX_EPOCHS),
        nargs=2,
        metavar=("START", "END"),
        help="decay learning rates linearly to 0 from epoch START to epoch END",
    )
    p.add_argument(
        "--threads",
        type=number(1, 1024, integer=True),
        help="CPU threads for torch (default: all cores)",
    )
    p.add_argument(
        "--nproc",
        type=number(1, 1024, integer=True),
        help="train on this many processes: starts torchrun --standalone "
        "--nproc-per-node N for you (chapter 13)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="with --nproc: allow more processes than CPU cores",
    )
    p.set_defaults(func=cmd_train)


# Flags that override a recipe's settings when given: model options, then TrainConfig's.
MODEL_FLAGS = ("width", "conditioning", "refine", "codes", "clusters")
CONFIG_FLAGS = {
    "loss": "loss",
    "batch_size": "batch_size",
    "ema": "ema",
    "augment": "augment_degrees",
    "spectral_norm": "spectral_norm",
    "r1": "r1",
    "r2": "r2",
    "gp_weight": "gp_weight",
    "seed": "seed",
}


def train_config(args, device: torch.device) -> tuple[TrainConfig, str]:
    """The run's TrainConfig and recipe name: the recipe (cgan_lib.recipes) gives the
    starting settings, and every flag given overrides them. TrainConfig checks the
    result once.
    """
    recipe = recipes.choose(args.recipe, device)
    settings = recipes.recipe_settings(args.model, recipe)
    model_kwargs = settings.setdefault("model_kwargs", {})
    for flag in MODEL_FLAGS:
        if getattr(args, flag) is not None:
            model_kwargs[flag] = getattr(args, flag)
    for flag, setting in CONFIG_FLAGS.items():
        if getattr(args, flag) is not None:
            settings[setting] = getattr(args, flag)
    if args.lr is not None:  # one rate for both players
        settings["lr_g"] = settings["lr_d"] = args.lr
    if args.lr_decay:  # epochs -> steps of fit's default data, MNIST's train
        batch = settings.get("batch_size", TrainConfig.batch_size)
        steps_per_epoch = SIZES["train"] // batch
        settings["lr_decay"] = tuple(round(e * steps_per_epoch) for e in args.lr_decay)
    return TrainConfig(model=args.model, **settings), recipe


def cmd_train(args):
    if args.nproc and not distributed.launched_by_torchrun():
        return launch_torchrun(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    # under torchrun: join the other processes, on this process's device
    device = distributed.start(pick_device(args.device))
    processes = distributed.world_size()
    config, recipe = train_config(args, device)
    out = check_out_dir(args.out)
    started = time.perf_counter()
    seconds = args.minutes * 60 if args.minutes else None
    try:
        run = fit(
            config,
            steps=args.steps,
            epochs=args.epochs,
            seconds=seconds,
            out_dir=out,
            device=device,
            announce=recipes.reason(recipe, args.recipe, device),  # once ours
        )
    except RuntimeError as e:
        if distributed.world_size() == 1 or isinstance(e, CganError):
            raise
        raise PeerLost(
            f"process {distributed.rank()} of {distributed.world_size()} stopped: "
            f"another process of this run failed or was stopped ({first_line(e)}); "
            f"the last checkpoint in {out} is intact, and the same command resumes it"
        ) from None
    finally:
        distributed.stop()
    if not distributed.is_main():  # rank 0 writes the run's files
        return 130 if run.interrupted else 0
    save_generator(run, out / "generator.pt")
    save_png(grid(run.snapshots[-1][1]), out / "samples.png", scale=2)
    timelapse(run.snapshots, out / "timelapse.gif")
    summary = {
        "command": args.command_line,
        "config": asdict(run.config),
        "model": config.model,
        "recipe": recipe,
        "step": run.step,
        "device": str(run.device),
        "threads": torch.get_num_threads(),
        "processes": processes,
        "seconds": round(run.elapsed, 1),
        "wall_seconds_this_call": round(time.perf_counter() - started, 1),
        "images_per_s": round(run.images_per_s, 1),
        "interrupted": run.interrupted,
        "checkpoint": str(out / "checkpoint.pt"),
    }
    text = json_text(summary)
    (out / "summary.json").write_text(text + "\n")
    print(text)
    return 130 if run.interrupted else 0


def first_line(error: Exception) -> str:
    return truncated_repr(str(error).strip().splitlines()[0] if str(error) else "", 120)


def launch_torchrun(args) -> int:
    """`train --nproc N`: the same command under torchrun, on N local processes."""
    cores = os.cpu_count() or 1
    if args.nproc > cores and not args.force:
        raise BadInput(
            f"--nproc {args.nproc} asks for more processes than this machine's {cores} "
            "CPU cores; they would take turns, not work in parallel (add --force to "
            "start them anyway)"
        )
    # refuse before starting anything: a batch that does not divide, an option that
    # trains on one process only
    config, _ = train_config(args, pick_device(args.device))
    distributed.check_config(config, args.nproc)
    rest, skip = [], False
    for a in args.argv:  # the command without --nproc N and --force
        if skip:
            skip = False
        elif a in ("--nproc", "--force") or a.startswith("--nproc="):
            skip = a == "--nproc"
        else:
            rest.append(a)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc-per-node", str(args.nproc), "-m", "cgan_lib", *rest]
    print("starting:", shlex.join(["torchrun", *command[3:]]), flush=True)
    code = subprocess.call(command)
    if code:
        print(
            f"error: the run on {args.nproc} processes stopped (exit code {code}); "
            "the lines above say why",
            file=sys.stderr,
        )
    return code


# --------------------------------------------------------------------------------------
# sample


def add_sample(sub) -> None:
    p = sub.add_parser("sample", help="draw --per-class digits of each label")
    p.add_argument("--checkpoint", required=True)
    p.add_argument(
        "--per-class", type=number(1, MAX_PER_CLASS, integer=True), required=True
    )
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument(
        "--digit",
        type=number(0, 9, integer=True),
        action="append",
        metavar="0..9",
        help="only this digit (repeat for several)",
    )
    p.add_argument(
        "--out",
        required=True,
        help="FILE.npz (images uint8, labels int64) or FILE.png (a grid)",
    )
    p.set_defaults(func=cmd_sample)


def cmd_sample(args):
    out = output_file(args.out, (".npz", ".png"))
    G = load_generator(args.checkpoint)
    digits = args.digit or range(10)
    images, labels = sample_by_label(G, args.per_class, seed=args.seed, digits=digits)
    if out.suffix.lower() == ".npz":
        labels = labels.numpy().astype(np.int64)
        np.savez_compressed(out, images=images.numpy(), labels=labels)
    else:
        save_png(grid(images, nrow=args.per_class), out, scale=2)
    print(f"wrote {len(images)} digits to {out}")


# --------------------------------------------------------------------------------------
# number


def add_number(sub) -> None:
    p = sub.add_parser(
        "number", help="write a whole number with generated digits, as a PNG"
    )
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--number", required=True)
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--invert", action="store_true", help="dark ink on white")
    p.add_argument("--scale", type=number(1, 16, integer=True), default=3)
    p.add_argument("--out", required=True, help="FILE.png")
    p.set_defaults(func=cmd_number)


def cmd_number(args):
    # checked before loading anything: a typo should fail fast
    number = check_number(args.number)
    out = output_file(args.out, (".png",))
    G = load_generator(args.checkpoint)
    picture = write_number(G, number, seed=args.seed, invert=args.invert)
    save_png(picture.numpy(), out, scale=args.scale)
    print(f"wrote {number} to {out}")


# --------------------------------------------------------------------------------------
# evaluate


def add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="score a checkpoint or an .npz of digits")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint")
    source.add_argument(
        "--samples",
        help="an .npz: images (N, 28, 28) as uint8 0..255 or "
        "floats in [-1, 1] or [0, 1]; optional labels (N,) 0..9",
    )
    p.add_argument(
        "--per-class",
        type=number(1, MAX_PER_CLASS, integer=True),
        default=500,
        help="samples per digit (checkpoint only)",
    )
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--json", help="also write the scores to this .json file")
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args):
    json_out = output_file(args.json, (".json",)) if args.json is not None else None
    rows = {}
    if args.checkpoint:
        G = load_generator(args.checkpoint)
        rows[Path(args.checkpoint).name] = evaluate_generator(
            G, args.per_class, args.seed
        )
    else:
        images, labels = load_samples(args.samples)
        rows[Path(args.samples).name] = score(images, labels)
    n = next(iter(rows.values()))["n"]
    rows["real data (test half A)"] = real_reference(min(n, 5000))
    print(format_table(rows))
    print(json_text(rows, indent=None))
    if json_out:
        json_out.write_text(json_text(rows) + "\n")


# --------------------------------------------------------------------------------------
# ship


def add_ship(sub) -> None:
    p = sub.add_parser(
        "ship", help="a run's generator into cgan_lib/pretrained/, with a card"
    )
    p.add_argument("--run", required=True, help="a folder written by train")
    p.add_argument("--name", required=True, help="letters, digits, '_' or '-'")
    p.add_argument(
        "--per-class", type=number(1, MAX_PER_CLASS, integer=True), default=500
    )
    p.add_argument("--seed", type=SEED, default=0)
    p.set_defaults(func=cmd_ship)


def cmd_ship(args):
    """A run's generator into cgan_lib/pretrained/ with a scored card and a timelapse
    (the work is the library's: ship.ship_run).
    """
    card = ship_run(args.run, args.name, args.per_class, args.seed)
    print(json_text(card["scores"], indent=None))


# --------------------------------------------------------------------------------------
# export-onnx


def add_export_onnx(sub) -> None:
    p = sub.add_parser(
        "export-onnx", help="a conditional generator as ONNX, for the web page"
    )
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", required=True, help="FILE.onnx")
    p.add_argument(
        "--fallback", help="also a PNG of samples (for pages without JavaScript)"
    )
    p.set_defaults(func=cmd_export_onnx)


def cmd_export_onnx(args):
    out = output_file(args.out, (".onnx",))
    fallback = (
        output_file(args.fallback, (".png",)) if args.fallback is not None else None
    )
    G = load_generator(args.checkpoint)
    path = export_onnx(G, out)
    if fallback:  # the picture a page shows where JavaScript is off
        images, _ = sample_by_label(G, 8, seed=0)
        save_png(grid(images, nrow=8), fallback, scale=2)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


# --------------------------------------------------------------------------------------
# train-classifier


def add_train_classifier(sub) -> None:
    p = sub.add_parser(
        "train-classifier", help="train the MNIST classifier behind the scores"
    )
    p.add_argument("--epochs", type=number(1, 1000, integer=True), default=6)
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", required=True, help="FILE.pt")
    p.set_defaults(func=cmd_train_classifier)


def cmd_train_classifier(args):
    out = output_file(args.out, (".pt",))
    started = time.perf_counter()
    model, acc = train_classifier(
        epochs=args.epochs, seed=args.seed, device=args.device
    )
    card = {
        "command": args.command_line,
        "epochs": args.epochs,
        "seed": args.seed,
        "device": str(next(model.parameters()).device),
        "wall_seconds": round(time.perf_counter() - started, 1),
        "test_accuracy": acc,
    }
    save_classifier(model.cpu(), out, card)
    print(json_text(card, indent=None))


COMMANDS = (
    add_train,
    add_sample,
    add_number,
    add_evaluate,
    add_ship,
    add_export_onnx,
    add_train_classifier,
)


def build_parser() -> Parser:
    parser = Parser(
        prog="python -m cgan_lib", description="Train and sample GANs on MNIST digits."
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    # recorded in model cards
    launcher = "python -m cgan_lib "
    if distributed.launched_by_torchrun():  # the command the reader typed
        per_node = os.environ.get("LOCAL_WORLD_SIZE", os.environ["WORLD_SIZE"])
        launcher = f"torchrun --nproc-per-node {per_node} -m cgan_lib "
    args.command_line = launcher + shlex.join(argv)
    args.argv = argv
    try:
        return args.func(args) or 0
    except CganError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # the machine refused: a path too long, a full disk, no access
        where = f": {truncated_repr(str(e.filename), 80)}" if e.filename else ""
        print(f"error: {e.strerror or e}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # outside training (which saves and returns on its own)
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
