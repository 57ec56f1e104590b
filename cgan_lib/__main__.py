"""Command line: python -m cgan_lib {train, sample, number} ...  (each has --help)."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one clear line instead of usage + message
        self.exit(2, f"error: {message} (see python -m cgan_lib {self.prog.split()[-1]} --help)\n")


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def cmd_train(args):
    from dataclasses import asdict

    import torch

    from .data import SIZES
    from .train import TrainConfig, fit, save_checkpoint
    from .viz import grid, save_png, timelapse

    model_kwargs = {} if args.width is None else {"width": args.width}
    if args.conditioning:
        model_kwargs["conditioning"] = args.conditioning
    if args.refine is not None:
        model_kwargs["refine"] = args.refine
    if args.threads:
        torch.set_num_threads(args.threads)
    steps_per_epoch = SIZES["train"] // args.batch_size  # fit's default data: the MNIST training set
    lr_decay = tuple(round(e * steps_per_epoch) for e in args.lr_decay) if args.lr_decay else ()
    config = TrainConfig(model=args.model, model_kwargs=model_kwargs, loss=args.loss, batch_size=args.batch_size,
                         lr_g=args.lr, lr_d=args.lr, ema=args.ema, augment_degrees=args.augment, seed=args.seed,
                         lr_decay=lr_decay)
    out = Path(args.out)
    started = time.perf_counter()
    run = fit(config, steps=args.steps, epochs=args.epochs, seconds=args.minutes * 60 if args.minutes else None,
              out_dir=out, device=args.device)
    save_checkpoint(run, out / "generator.pt", include_training_state=False)
    save_png(grid(run.snapshots[-1][1]), out / "samples.png", scale=2)
    timelapse(run.snapshots, out / "timelapse.gif")
    summary = {"command": args.command_line, "config": asdict(config), "model": config.model, "step": run.step, "device": str(run.device), "threads": torch.get_num_threads(), "seconds": round(run.elapsed, 1),
               "wall_seconds_this_call": round(time.perf_counter() - started, 1),
               "images_per_s": round(run.images_per_s, 1), "checkpoint": str(out / "checkpoint.pt")}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary))


def cmd_sample(args):
    from .sample import load_generator, sample_by_label
    from .viz import grid, save_png

    G = load_generator(args.checkpoint)
    images, labels = sample_by_label(G, args.per_class, seed=args.seed, digits=args.digit or range(10))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".npz":
        np.savez_compressed(out, images=images.numpy(), labels=labels.numpy().astype(np.int64))
    elif out.suffix == ".png":
        save_png(grid(images, nrow=args.per_class), out, scale=2)
    else:
        raise ValueError(f"--out must end in .npz or .png, got {out.name!r}")
    print(f"wrote {len(images)} digits to {out}")


def cmd_number(args):
    from .sample import check_number, load_generator, write_number
    from .viz import save_png

    number = check_number(args.number)  # before loading anything: a typo should fail fast
    G = load_generator(args.checkpoint)
    save_png(write_number(G, number, seed=args.seed, invert=args.invert).numpy(), args.out, scale=args.scale)
    print(f"wrote {number} to {args.out}")


def cmd_train_classifier(args):
    from .metrics import save_classifier, train_classifier

    started = time.perf_counter()
    model, acc = train_classifier(epochs=args.epochs, seed=args.seed, device=args.device)
    card = {"command": args.command_line,
            "epochs": args.epochs, "seed": args.seed, "device": str(next(model.parameters()).device),
            "wall_seconds": round(time.perf_counter() - started, 1), "test_accuracy": acc}
    save_classifier(model.cpu(), args.out, card)
    print(json.dumps(card))


def cmd_ship(args):
    """Write a finished run's generator into cgan_lib/pretrained/ with a scored model card and a small timelapse."""
    from .metrics import PRETRAINED_DIR, evaluate_generator, real_reference
    from .sample import load_generator
    from .train import load_checkpoint, save_checkpoint
    from .viz import timelapse

    run_dir = Path(args.run)
    summary = json.loads((run_dir / "summary.json").read_text())
    run = load_checkpoint(run_dir / "checkpoint.pt")
    PRETRAINED_DIR.mkdir(exist_ok=True)
    target = PRETRAINED_DIR / f"{args.name}.pt"
    save_checkpoint(run, target, include_training_state=False)
    scores = evaluate_generator(load_generator(target), args.per_class, seed=args.seed)  # what users will load
    card = {**summary, "scored_with": {"per_class": args.per_class, "seed": args.seed},
            "scores": scores, "real_reference": real_reference(10 * args.per_class)}
    if run.G.num_classes:  # a conditional model's grid has rows 0-9: worth a timelapse (the book shows it)
        every = max(1, len(run.snapshots) // 10)  # about ten frames keep the GIF under a megabyte
        timelapse(run.snapshots[::every] + run.snapshots[-1:], PRETRAINED_DIR / f"{args.name}.gif", scale=1)
    (PRETRAINED_DIR / f"{args.name}.json").write_text(json.dumps(card, indent=2) + "\n")
    print(json.dumps(card["scores"]))


def cmd_export_onnx(args):
    from .export import export_onnx
    from .sample import load_generator, sample_by_label
    from .viz import grid, save_png

    G = load_generator(args.checkpoint)
    path = export_onnx(G, args.out)
    if args.fallback:  # the picture a page shows where JavaScript is off
        images, _ = sample_by_label(G, 8, seed=0)
        save_png(grid(images, nrow=8), args.fallback, scale=2)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


def cmd_evaluate(args):
    from .metrics import evaluate_generator, format_table, real_reference, score
    from .sample import load_generator

    rows = {}
    if args.checkpoint:
        rows[Path(args.checkpoint).name] = evaluate_generator(load_generator(args.checkpoint), args.per_class, args.seed)
    else:
        with np.load(args.samples) as z:
            if "images" not in z or z["images"].ndim != 3 or z["images"].shape[1:] != (28, 28):
                raise ValueError(f"{args.samples} holds no 'images' array of shape (N, 28, 28)")
            rows[Path(args.samples).name] = score(z["images"].astype(np.uint8), z["labels"] if "labels" in z else None)
    n = next(iter(rows.values()))["n"]
    rows["real data (test half A)"] = real_reference(min(n, 5000))
    print(format_table(rows))
    print(json.dumps(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


def main(argv=None):
    from .models import MODELS

    parser = Parser(prog="python -m cgan_lib", description="Train and sample GANs on MNIST digits.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    p = sub.add_parser("train", help="train a GAN on MNIST, writing checkpoint.pt (resumable) to --out")
    p.add_argument("--model", required=True, choices=list(MODELS))
    length = p.add_mutually_exclusive_group(required=True)
    length.add_argument("--epochs", type=positive_float, help="train until this many epochs in total")
    length.add_argument("--steps", type=positive_int, help="train until this many steps in total")
    length.add_argument("--minutes", type=positive_float, help="train for this many minutes")
    p.add_argument("--out", required=True, help="run folder; an existing checkpoint there is resumed")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda, mps")
    p.add_argument("--loss", default="nonsaturating", choices=["nonsaturating", "saturating"])
    p.add_argument("--batch-size", type=positive_int, default=128)
    p.add_argument("--lr", type=positive_float, default=2e-4)
    p.add_argument("--width", type=positive_int, help="network width (default: the model's)")
    p.add_argument("--conditioning", choices=["concat", "projection"], help="conditional conv D only")
    p.add_argument("--refine", action=argparse.BooleanOptionalAction,
                   help="conv generators: a 3x3 convolution after each upsampling (default: the model's)")
    p.add_argument("--ema", type=float, default=0.0, help="EMA decay of generator weights, e.g. 0.999")
    p.add_argument("--augment", type=float, default=0.0, help="random rotation of real digits, degrees")
    p.add_argument("--lr-decay", type=float, nargs=2, metavar=("START", "END"),
                   help="decay learning rates linearly to 0 from epoch START to epoch END")
    p.add_argument("--threads", type=positive_int, help="CPU threads for torch (default: all cores)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sample", help="draw --per-class digits of each label from a checkpoint")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--per-class", type=positive_int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--digit", type=int, action="append", help="only this digit (repeat for several)")
    p.add_argument("--out", required=True, help="FILE.npz (images uint8, labels int64) or FILE.png (a grid)")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("number", help="write a whole number with generated digits, as a PNG")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--number", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--invert", action="store_true", help="dark ink on white")
    p.add_argument("--scale", type=positive_int, default=3)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_number)

    p = sub.add_parser("evaluate", help="score a checkpoint or a samples .npz with the MNIST classifier")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint")
    source.add_argument("--samples", help="an .npz with images (N, 28, 28) uint8 and optionally labels")
    p.add_argument("--per-class", type=positive_int, default=500, help="samples per digit (checkpoint only)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="also write the scores to this file")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("ship", help="copy a run's generator into cgan_lib/pretrained/ with a scored model card")
    p.add_argument("--run", required=True, help="a folder written by train")
    p.add_argument("--name", required=True)
    p.add_argument("--per-class", type=positive_int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_ship)

    p = sub.add_parser("export-onnx", help="export a conditional generator to ONNX for onnxruntime-web")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--fallback", help="also write a PNG of samples (for pages without JavaScript)")
    p.set_defaults(func=cmd_export_onnx)

    p = sub.add_parser("train-classifier", help="train the MNIST classifier the scores are built on")
    p.add_argument("--epochs", type=positive_int, default=6)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_train_classifier)

    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.command_line = "python -m cgan_lib " + shlex.join(argv)  # recorded in model cards
    from .data import MNISTUnavailable
    from .train import CheckpointError, TrainingDiverged

    try:
        args.func(args)
    except (ValueError, CheckpointError, MNISTUnavailable, TrainingDiverged, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; a run resumes from its last checkpoint with the same command", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
