"""Throughput and time-to-quality of cgan_lib's training against a plain reference loop.

    python bench/bench.py --models cdcgan cdcgan_refine --json cgan_lib/benchmarks.json
    python bench/bench.py --models cdcgan cmlp --minutes 2 --no-reference
    python bench/bench.py --models cdcgan cdcgan_refine shipped --minutes 1 \\
        --score-every 3 --json cgan_lib/benchmarks.json          # on a GPU

For each model: images/s, and the training wall time until 1,000 generated digits (100
per label) reach 90%, 95% and 98% accuracy under the project's classifier (scored every
--score-every seconds of training; scoring time is excluded), plus the accuracy and
Fréchet distance (5,000 samples in 5 draws, the model cards' scorer) at the end of the
budget (5 minutes by default), and the accuracy and Fréchet distance of 10,000 digits to
MNIST's 10,000 test digits, beside the same distance for 10,000 real training digits.
Conditional models are also timed to the shipped cdcgan card's quality (its accuracy and
Fréchet distance, by the card's own scorer) unless --no-card. "shipped" is the shipped
cdcgan's recipe, read from its model card (width 48, refine, EMA, 12 epochs with an LR
decay): it trains for its 12 epochs, whatever --minutes says.

The reference loop is written the way the seed projects do it: a map-style Dataset that
converts each uint8 digit to a PIL image and through ToTensor/Normalize, a DataLoader,
nn.BCELoss on sigmoid outputs, and the DCGAN recipe (width 64, one-hot labels
concatenated to G's input and D's input planes). It runs in the same process, on the
same data, device and budget. bench/README.md says how the shipped results were made.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn

from cgan_lib.checkpoint import load_generator, save_generator
from cgan_lib.data import load_mnist, mnist_tensors, to_uint8
from cgan_lib.digit_classifier import load_classifier, predict
from cgan_lib.metrics import TestSetFD, evaluate_generator, score
from cgan_lib.recipes import recipe_settings
from cgan_lib.run import TrainConfig, new_run, pick_device
from cgan_lib.sample import generate, sample_by_label
from cgan_lib.train import fit

TARGETS = (0.90, 0.95, 0.97, 0.98)
CARD_PATH = (
    Path(__file__).resolve().parents[1] / "cgan_lib" / "pretrained" / "cdcgan.json"
)
CARD = json.loads(CARD_PATH.read_text())

# Timed recipes. "cdcgan" is the library's fast recipe (cgan_lib.recipes: width 32,
# no refine, EMA), what `train` uses on a CPU; "cdcgan_refine" is the shipped
# architecture at width 32 (~1.7x the time per step); "shipped" is the library's shipped
# recipe (the card's config: width 48, refine, EMA, LR decay over epochs 8-12), trained
# for the card's 12 epochs whatever --minutes says.
NO_SNAPSHOTS = dict(snapshot_every=10**9)


def recipe(model, name, **extra):
    return TrainConfig(
        model=model, **recipe_settings(model, name), **NO_SNAPSHOTS, **extra
    )


TIMED_CONFIGS = {
    "cdcgan": recipe("cdcgan", "fast"),
    "cdcgan_refine": TrainConfig(
        model="cdcgan",
        model_kwargs={"width": 32, "refine": True},
        ema=0.999,
        **NO_SNAPSHOTS,
    ),
    "cmlp": recipe("cmlp", "fast"),
    "dcgan": recipe("dcgan", "fast"),
    "mlp": recipe("mlp", "fast"),
    "shipped": recipe("cdcgan", "shipped"),
}
FIXED_STEPS = {"shipped": CARD["step"]}


def card_scores(run):
    """The shipped card's scorer, exactly: the sample-only file (float16 weights),
    loaded back, scored with evaluate_generator(per_class, seed) as `ship` does."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "generator.pt"
        save_generator(run, path)
        return evaluate_generator(load_generator(path), **CARD["scored_with"])


def meets_card(scores) -> bool:
    return (
        scores["accuracy"] >= CARD["scores"]["accuracy"]
        and scores["frechet_distance"] <= CARD["scores"]["frechet_distance"]
    )


def quick_accuracy(G, classifier, seed=123):
    """Accuracy of 1,000 digits (100 per label) for a conditional G; None otherwise."""
    if not G.num_classes:
        return None
    images, labels = sample_by_label(G, 100, seed=seed)
    # an exact fraction: a float32 mean reads 900/1,000 as 0.8999..., below the 90% mark
    return (predict(classifier, images)[0] == labels).sum().item() / len(labels)


def bench_cgan_lib(name, seconds, score_every, device, classifier, card=True):
    started = time.perf_counter()
    run = new_run(
        TIMED_CONFIGS[name], device
    )  # a self-conditioned recipe clusters here
    setup = time.perf_counter() - started
    data = mnist_tensors("train", run.device)
    total = FIXED_STEPS.get(
        name
    )  # a fixed-length recipe trains for its steps, not for `seconds`
    card = card and bool(run.generator.num_classes)
    curve, card_curve, reached, to_card = [], [], {}, None

    def more():
        return run.step < total if total else run.elapsed < seconds

    while more():
        if total:
            fit(run, steps=total, seconds=score_every, data=data, progress=False)
        else:
            fit(
                run,
                seconds=min(score_every, seconds - run.elapsed),
                data=data,
                progress=False,
            )
        acc = quick_accuracy(
            run.generator, classifier
        )  # scoring time is not training time
        curve.append((round(run.elapsed, 1), acc))
        for t in TARGETS:
            if acc is not None and acc >= t and t not in reached:
                reached[t] = round(run.elapsed, 1)
        line = f"  {name}: {run.elapsed:6.1f}s  step {run.step:6d}  accuracy {acc}"
        if card:
            s = card_scores(run)
            card_curve.append(
                (
                    round(run.elapsed, 1),
                    round(s["accuracy"], 4),
                    round(s["frechet_distance"], 3),
                )
            )
            if to_card is None and meets_card(s):
                to_card = round(run.elapsed, 1)
            acc5k, fd = s["accuracy"], s["frechet_distance"]
            line += f"  (card scorer: accuracy {acc5k:.4f}, FD {fd:.3f})"
        print(line, flush=True)
    images_per_s = run.step * run.config.batch_size / run.elapsed
    extra = {
        "seconds": round(run.elapsed, 1),
        "steps": run.step,
        "batch_size": run.config.batch_size,
        # before the first step, not in `seconds`: building the run (the k-means of a
        # self-conditioned recipe); what the recipe was
        "setup_seconds": round(setup, 1),
        "model_kwargs": run.config.model_kwargs,
    }
    if card:
        extra |= {"seconds_to_card": to_card, "card_curve": card_curve}
    return run, images_per_s, curve, reached, extra


# --------------------------------------------------------------------------------------
# The reference: how a straightforward conditional DCGAN is usually written.


class RefDataset(torch.utils.data.Dataset):
    def __init__(self, images, labels):
        from torchvision import transforms

        self.images, self.labels = images.numpy(), labels.numpy()
        self.transform = transforms.Compose(
            [transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))]
        )

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        from PIL import Image

        return self.transform(Image.fromarray(self.images[i], mode="L")), int(
            self.labels[i]
        )


class RefG(nn.Module):
    def __init__(self, nz=100, ngf=64):
        super().__init__()
        self.z_dim, self.num_classes = nz, 10
        self.emb = nn.Embedding(10, 10)
        self.net = nn.Sequential(
            nn.ConvTranspose2d(nz + 10, ngf * 4, 7, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * 4),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, 1, 4, 2, 1, bias=False),
            nn.Tanh(),
        )

    def forward(self, z, y):
        return self.net(torch.cat([z, self.emb(y)], 1)[:, :, None, None])


class RefD(nn.Module):
    def __init__(self, ndf=64):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(11, ndf, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, 1, 7, 1, 0, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x, y):
        planes = (
            nn.functional.one_hot(y, 10)
            .float()[:, :, None, None]
            .expand(-1, -1, 28, 28)
        )
        return self.net(torch.cat([x, planes], 1)).view(-1)


def bench_reference(seconds, score_every, device, classifier):
    torch.manual_seed(0)
    G, D = RefG().to(device), RefD().to(device)
    for m in list(G.modules()) + list(D.modules()):
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0, 0.02)
    loader = torch.utils.data.DataLoader(
        RefDataset(*load_mnist("train")),
        batch_size=128,
        shuffle=True,
        drop_last=True,
    )
    crit = nn.BCELoss()
    opt_d = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
    trained, steps, next_score, curve, reached = 0.0, 0, score_every, [], {}
    tick = time.perf_counter()
    while trained < seconds:
        for (
            x,
            y,
        ) in (
            loader
        ):  # the time spent loading a batch counts as training time, as on a wall clock
            x, y = x.to(device), y.to(device)
            b = x.size(0)
            ones, zeros = torch.ones(b, device=device), torch.zeros(b, device=device)
            z = torch.randn(b, 100, device=device)
            yf = torch.randint(0, 10, (b,), device=device)
            fake = G(z, yf)
            D.zero_grad()
            loss_d = crit(D(x, y), ones) + crit(D(fake.detach(), yf), zeros)
            loss_d.backward()
            opt_d.step()
            G.zero_grad()
            loss_g = crit(D(fake, yf), ones)
            loss_g.backward()
            opt_g.step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            trained += time.perf_counter() - tick
            steps += 1
            if trained >= next_score or trained >= seconds:  # scoring time is excluded
                G.eval()
                acc = quick_accuracy(G, classifier)
                G.train()
                curve.append((round(trained, 1), acc))
                for t in TARGETS:
                    if acc >= t and t not in reached:
                        reached[t] = round(trained, 1)
                print(
                    f"  reference: {trained:6.1f}s  step {steps:6d}  "
                    f"accuracy {acc:.4f}",
                    flush=True,
                )
                next_score += score_every
            if trained >= seconds:
                break
            tick = time.perf_counter()
    return G.eval(), steps * 128 / trained, curve, reached


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--models", nargs="+", default=["cdcgan"], choices=list(TIMED_CONFIGS)
    )
    p.add_argument("--minutes", type=float, default=5.0)
    p.add_argument(
        "--score-every",
        type=float,
        default=20.0,
        help="seconds of training between scorings",
    )
    p.add_argument("--no-reference", action="store_true")
    p.add_argument(
        "--no-card",
        action="store_true",
        help="skip the (5,000-sample) check against the shipped card",
    )
    p.add_argument("--device", default="auto")
    p.add_argument("--json", help="write the results here too")
    p.add_argument(
        "--keep-others",
        action="store_true",
        help="with --json: keep the device entry's results for models not run now "
        "(each result says when and by which command it was measured)",
    )
    args = p.parse_args()
    device = pick_device(args.device)
    classifier = load_classifier()
    yardstick = TestSetFD(classifier)
    print(
        "real-data reference: 10,000 training digits with the test set's label counts "
        f"score FD {yardstick.reference:.4f} ± {yardstick.reference_std:.4f} "
        f"({len(yardstick.reference_draws)} draws) to the 10,000 test digits"
    )
    # the shipped cdcgan (12 epochs, 32 min on one CPU thread) on the same yardstick
    shipped_accuracy, shipped_fd, _ = yardstick.of_generator(
        load_generator(CARD_PATH.with_suffix(".pt"))
    )
    print(
        f"shipped cdcgan: accuracy {shipped_accuracy:.4f}, FD to the test set "
        f"{shipped_fd:.4f} (x{shipped_fd / yardstick.reference:.1f} the real digits')"
    )
    seconds = args.minutes * 60
    print(
        f"device: {device} ({describe_machine(device)}), "
        f"budget: {args.minutes} min per model"
    )
    results = {}
    jobs = [(m, bench_cgan_lib) for m in args.models] + (
        [] if args.no_reference else [("reference", None)]
    )
    for name, _ in jobs:
        if name == "reference":
            G, ips, curve, reached = bench_reference(
                seconds, args.score_every, device, classifier
            )
            if G.num_classes:
                images, labels = sample_by_label(G.cpu(), 500, seed=0)
            else:
                images, labels = to_uint8(generate(G.cpu(), n=5000, seed=0)), None
            final, extra = score(images, labels), {"seconds": round(curve[-1][0], 1)}
            final_G = G
        else:
            run, ips, curve, reached, extra = bench_cgan_lib(
                name,
                seconds,
                args.score_every,
                device,
                classifier,
                card=not args.no_card,
            )
            final = card_scores(
                run
            )  # the card's scorer: 500 per label, seed 0, the float16 sample-only file
            final_G = run.generator
        accuracy_10k, fd_10k, _ = yardstick.of_generator(final_G)
        results[name] = {
            "images_per_s": round(ips, 1),
            "seconds_to_accuracy": {str(t): reached.get(t) for t in TARGETS},
            "final_accuracy": final.get("accuracy"),
            "final_frechet_distance": round(final["frechet_distance"], 3),
            "final_accuracy_10k": accuracy_10k,
            "fd_10k": round(fd_10k, 4),
            "minutes": round(extra["seconds"] / 60, 2),
            **extra,
            "curve": curve,
        }
        card = (
            f", time to the card's quality: {extra['seconds_to_card']}"
            if "seconds_to_card" in extra
            else ""
        )
        print(
            f"{name}: {ips:.0f} img/s, "
            f"time to 90/95/97/98%: {[reached.get(t) for t in TARGETS]}{card}, "
            f"after {extra['seconds']:.0f} s: accuracy {final.get('accuracy')}, "
            f"FD {final['frechet_distance']:.3f}; 10,000 digits: accuracy "
            f"{accuracy_10k}, FD to the test set {fd_10k:.3f} "
            f"(x{fd_10k / yardstick.reference:.1f} the real digits')",
            flush=True,
        )
    if "reference" in results:
        ref = results["reference"]
        for name in args.models:
            r = results[name]
            print(
                f"{name} / reference: "
                f"throughput x{r['images_per_s'] / ref['images_per_s']:.2f}, "
                f"FD at the end "
                f"x{r['final_frechet_distance'] / ref['final_frechet_distance']:.2f}"
            )
    print(
        json.dumps(
            {
                k: {kk: vv for kk, vv in v.items() if "curve" not in kk}
                for k, v in results.items()
            }
        )
    )
    if args.json:
        # merged by device type: CPU and GPU results live in one file, benchmarks.json
        path = Path(args.json)
        merged = json.loads(path.read_text()) if path.exists() else {}
        command = "python " + " ".join(sys.argv)
        for result in results.values():  # each result's own provenance
            result.update(date=time.strftime("%Y-%m-%d"), command=command)
        if args.keep_others and device.type in merged:
            entry = merged[device.type]
            for name, result in entry.get("models", {}).items():
                if name not in results:
                    result.setdefault("date", entry.get("date"))
                    result.setdefault("command", entry.get("command"))
                    results[name] = result
        merged[device.type] = {
            "machine": describe_machine(device),
            "minutes": args.minutes,
            "date": time.strftime("%Y-%m-%d"),
            "command": command,
            "torch": torch.__version__,
            "fd_10k_reference": round(yardstick.reference, 4),
            "fd_10k_reference_std": round(yardstick.reference_std, 4),
            "fd_10k_labels": "the test set's label counts",
            "card": {
                "file": "cgan_lib/pretrained/cdcgan.json",
                "scored_with": CARD["scored_with"],
                "accuracy": CARD["scores"]["accuracy"],
                "frechet_distance": CARD["scores"]["frechet_distance"],
                "accuracy_10k": shipped_accuracy,
                "fd_10k": round(shipped_fd, 4),
            },
            "models": results,
        }
        path.write_text(json.dumps(merged, indent=1) + "\n")


def describe_machine(device) -> str:
    import os
    import platform

    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    return (
        f"{os.cpu_count()}-core {platform.machine()} CPU, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}"
    )


if __name__ == "__main__":
    main()
