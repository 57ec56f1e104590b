"""GPU speed experiments for cgan_lib's train step (issue 17). Not a test.

    OUT=/tmp/out DEADLINE=510 python bench/gpu_variants.py   # CUDA; SMOKE=1: on CPU

Variants are applied from outside the library (a patched copy of train.train_step, and
of models.check_labels), so everything else is the committed library. Prints one JSON
line per measurement and appends them to $OUT/explore.jsonl. The lines measured on
2026-11-23 (H100, library at 874a944) are in gpu_variants_2026-11-23.jsonl;
bench/README.md summarises them.
"""

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cgan_lib import data as mnist  # noqa: E402
from cgan_lib import models  # noqa: E402
from cgan_lib import train as T  # noqa: E402
from cgan_lib.losses import GENERATOR_LOSSES, discriminator_loss  # noqa: E402
from cgan_lib.metrics import evaluate_generator, load_classifier, predict  # noqa: E402
from cgan_lib.sample import load_generator, sample_by_label  # noqa: E402

T0 = time.perf_counter()
ONLY = os.environ.get("ONLY", "012345")
QSEC = 2 if os.environ.get("SMOKE") == "1" else 30
DEADLINE = float(os.environ.get("DEADLINE", 500))
OUT = Path(os.environ.get("OUT", "/tmp/out"))
OUT.mkdir(parents=True, exist_ok=True)
LOG = open(OUT / "explore.jsonl", "a")
SMOKE = os.environ.get("SMOKE") == "1"
dev = torch.device("cpu" if SMOKE else "cuda")
LIB_STEP = T.train_step
ORIG_CHECK = models.check_labels


def emit(**kw):
    kw["t"] = round(time.perf_counter() - T0, 1)
    line = json.dumps(kw)
    print(line, flush=True)
    LOG.write(line + "\n")
    LOG.flush()


def left():
    return DEADLINE - (time.perf_counter() - T0)


def shape_only_check(y, num_classes, n):
    """check_labels without the GPU->CPU syncs of int(y.min()), int(y.max()) on CUDA."""
    if y is not None and y.is_cuda:
        if num_classes == 0:
            raise ValueError("unconditional")
        if y.shape != (n,):
            raise ValueError("shape")
        return
    ORIG_CHECK(y, num_classes, n)


def make_step(amp=True, foreach_ema=False, channels_last=False):
    cache = {}

    @torch.no_grad()
    def ema(G_ema, G, decay, step):
        if "p" not in cache:
            cache["p"] = (list(G_ema.parameters()), list(G.parameters()))
            cache["b"] = (list(G_ema.buffers()), list(G.buffers()))
        decay = min(decay, (1 + step) / (10 + step))
        torch._foreach_lerp_(cache["p"][0], cache["p"][1], 1 - decay)
        torch._foreach_copy_(cache["b"][0], cache["b"][1])

    def step(run, x, y):
        cfg, G, D, rng = run.config, run.G, run.D, run.rng
        n, device = x.shape[0], x.device
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp)
        z = torch.randn(n, G.z_dim, generator=rng, device=device)
        y_fake = (
            torch.randint(0, G.num_classes, (n,), generator=rng, device=device)
            if G.num_classes
            else None
        )
        y_real = y if G.num_classes else None
        factor = cfg.lr_factor(run.step)
        for opt, lr in ((run.opt_d, cfg.lr_d), (run.opt_g, cfg.lr_g)):
            for group in opt.param_groups:
                group["lr"] = lr * factor
        with autocast:
            fake = G(z, y_fake)
            real_logits = D(x, y_real)
            fake_logits = D(fake.detach(), y_fake)
            d_loss = discriminator_loss(
                real_logits.float(), fake_logits.float(), cfg.real_target
            )
        run.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        run.opt_d.step()
        D.requires_grad_(False)
        with autocast:
            g_loss = GENERATOR_LOSSES[cfg.loss](D(fake, y_fake).float())
        run.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        run.opt_g.step()
        D.requires_grad_(True)
        if run.G_ema is not None:
            if foreach_ema:
                ema(run.G_ema, G, cfg.ema, run.step)
            else:
                T.ema_update(run.G_ema, G, cfg.ema, run.step)
        with torch.no_grad():
            return torch.stack(
                [
                    d_loss,
                    g_loss,
                    torch.sigmoid(real_logits.float()).mean(),
                    torch.sigmoid(fake_logits.float()).mean(),
                ]
            )

    return step


def config(kind, batch=128):
    if kind == "fast":
        return T.TrainConfig(
            model="cdcgan",
            model_kwargs={"width": 32, "refine": False},
            ema=0.999,
            snapshot_every=10**9,
            batch_size=batch,
        )
    card = json.loads(
        (Path(T.__file__).parent / "pretrained" / "cdcgan.json").read_text()
    )
    c = dict(card["config"])
    c["batch_size"] = batch
    return T.TrainConfig(**c)


def prepare(
    kind,
    batch=128,
    amp=True,
    nocheck=False,
    foreach_ema=False,
    fused=False,
    channels_last=False,
    lib=False,
    compile_mode=None,
):
    """A fresh run with the variant applied (the patches are global)."""
    models.check_labels = shape_only_check if nocheck else ORIG_CHECK
    T.train_step = LIB_STEP if lib else make_step(amp, foreach_ema, channels_last)
    run = T.new_run(config(kind, batch), dev)
    if fused:
        run.opt_g = torch.optim.Adam(
            run.G.parameters(), lr=run.config.lr_g, betas=run.config.betas, fused=True
        )
        run.opt_d = torch.optim.Adam(
            run.D.parameters(), lr=run.config.lr_d, betas=run.config.betas, fused=True
        )
    if channels_last:
        for m in (run.G, run.D, run.G_ema):
            m.to(memory_format=torch.channels_last)
    if compile_mode:
        run.G = torch.compile(run.G, mode=compile_mode)
        run.D = torch.compile(run.D, mode=compile_mode)
    return run


VARIANTS = {
    "lib (HEAD: bf16, label checks)": dict(lib=True),
    "fp32, label checks": dict(amp=False),
    "bf16, no label sync": dict(nocheck=True),
    "fp32, no label sync": dict(amp=False, nocheck=True),
    "bf16, no sync, foreach EMA": dict(nocheck=True, foreach_ema=True),
    "bf16, no sync, foreach EMA, fused Adam": dict(
        nocheck=True, foreach_ema=True, fused=True
    ),
    "fp32, no sync, foreach EMA, fused Adam": dict(
        amp=False, nocheck=True, foreach_ema=True, fused=True
    ),
    "bf16, no sync, foreach, fused, channels_last": dict(
        nocheck=True, foreach_ema=True, fused=True, channels_last=True
    ),
}
BEST = dict(nocheck=True, foreach_ema=True, fused=True)


def throughput(run, data, warm=60, steps=400):
    if SMOKE:
        warm, steps = 2, 3
    T.fit(run, steps=run.step + warm, data=data, progress=False)
    SMOKE or torch.cuda.synchronize()
    T.fit(run, steps=run.step + steps, data=data, progress=False)
    return run.images_per_s


def card_scores(G_run):
    """The card's scorer: sample-only file, load_generator, evaluate_generator(500)."""
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "g.pt"
        T.save_checkpoint(G_run, p, include_training_state=False)
        s = evaluate_generator(load_generator(p), per_class=500, seed=0)
    return s


def quick_accuracy(G, classifier):
    images, labels = sample_by_label(G, 100, seed=123)
    return (predict(classifier, images)[0] == labels).float().mean().item()


def main():
    emit(
        what="env",
        torch=torch.__version__,
        gpu=None if SMOKE else torch.cuda.get_device_name(0),
        python=sys.version.split()[0],
        cudnn=torch.backends.cudnn.version(),
    )
    data = mnist.mnist_tensors("train", dev)
    classifier = load_classifier()
    card = json.loads(
        (Path(T.__file__).parent / "pretrained" / "cdcgan.json").read_text()
    )
    target_acc, target_fd = (
        card["scores"]["accuracy"],
        card["scores"]["frechet_distance"],
    )

    # 0. scorer cost, and the shipped file under this scorer here
    if "0" in ONLY:
        shipped_pt = Path(T.__file__).parent / "pretrained" / "cdcgan.pt"
        t = time.perf_counter()
        s = evaluate_generator(load_generator(shipped_pt), 500, 0)
        emit(
            what="shipped file rescored",
            accuracy=s["accuracy"],
            fd=s["frechet_distance"],
            seconds=round(time.perf_counter() - t, 2),
        )
        t = time.perf_counter()
        quick_accuracy(load_generator(shipped_pt), classifier)
        emit(what="quick accuracy cost", seconds=round(time.perf_counter() - t, 3))

    # 1. throughput of variants at batch 128
    for kind in ("fast", "shipped") if "1" in ONLY else ():
        for name, opts in VARIANTS.items():
            try:
                run = prepare(kind, **opts)
                ips = throughput(run, data)
                emit(
                    what="throughput",
                    kind=kind,
                    variant=name,
                    batch=128,
                    images_per_s=round(ips),
                    ms_per_step=round(128 / ips * 1000, 3),
                )
            except Exception as e:  # noqa: BLE001
                emit(what="throughput", kind=kind, variant=name, error=repr(e)[:300])
    # 2. batch sweep, lib and best
    for kind in ("fast", "shipped") if "2" in ONLY else ():
        for batch in (256,) if SMOKE else (256, 512, 1024):
            for name, opts in (("lib", dict(lib=True)), ("best", BEST)):
                run = prepare(kind, batch=batch, **opts)
                ips = throughput(run, data, warm=30, steps=200)
                emit(
                    what="throughput",
                    kind=kind,
                    variant=name,
                    batch=batch,
                    images_per_s=round(ips),
                    ms_per_step=round(batch / ips * 1000, 3),
                )

    # 4. the shipped recipe, whole (12 epochs, LR decay): lib bf16, best bf16, best fp32
    for name, opts in (
        (("lib", dict(lib=True)), ("best", BEST), ("best fp32", dict(BEST, amp=False)))[
            2 if SMOKE else 0 :
        ]
        if "4" in ONLY
        else ()
    ):
        if left() < 90:
            emit(what="skipped shipped", variant=name)
            continue
        run = prepare("shipped", **opts)
        total = 3748 if SMOKE else card["step"]
        if SMOKE:
            run.step = 3740
        evals = []
        while run.step < total:
            T.fit(run, steps=min(total, run.step + 468), data=data, progress=False)
            if run.step >= 3744:
                s = card_scores(run)
                evals.append(
                    (
                        run.step,
                        round(run.elapsed, 1),
                        round(s["accuracy"], 4),
                        round(s["frechet_distance"], 3),
                    )
                )
        s = card_scores(run)
        emit(
            what="shipped recipe",
            variant=name,
            seconds=round(run.elapsed, 1),
            steps=run.step,
            images_per_s=round(run.step * 128 / run.elapsed),
            final_accuracy=s["accuracy"],
            final_fd=round(s["frechet_distance"], 4),
            card_met=s["accuracy"] >= target_acc and s["frechet_distance"] <= target_fd,
            evals=evals,
        )

    # 3. quality of the fast recipe in 30 s of training: lib b128, best b128, b256, b512
    quality = [
        ("lib", dict(lib=True), 128),
        ("best", BEST, 128),
        ("best", BEST, 256),
        ("best", BEST, 512),
    ]
    for name, opts, batch in quality if "3" in ONLY else ():
        if left() < 120:
            emit(what="skipped quality", variant=name, batch=batch)
            continue
        run = prepare("fast", batch=batch, **opts)
        curve, reached = [], {}
        while run.elapsed < QSEC:
            T.fit(run, seconds=min(2.5, QSEC - run.elapsed), data=data, progress=False)
            acc = quick_accuracy(run.generator, classifier)
            curve.append((round(run.elapsed, 1), round(acc, 3)))
            for tg in (0.9, 0.95, 0.98):
                if acc >= tg and tg not in reached:
                    reached[tg] = round(run.elapsed, 1)
        s = card_scores(run)
        emit(
            what="quality fast 30s",
            variant=name,
            batch=batch,
            reached=reached,
            steps=run.step,
            images_per_s=round(run.step * batch / run.elapsed),
            final_accuracy=s["accuracy"],
            final_fd=round(s["frechet_distance"], 3),
            curve=curve,
        )

    # 5. torch.compile (default mode), throughput and its compile time, shipped and fast
    for kind in ("shipped", "fast") if "5" in ONLY else ():
        if left() < 100:
            emit(what="skipped compile", kind=kind)
            continue
        try:
            run = prepare(kind, compile_mode="default", **BEST)
            t = time.perf_counter()
            T.fit(run, steps=20, data=data, progress=False)
            SMOKE or torch.cuda.synchronize()
            compile_s = time.perf_counter() - t
            ips = throughput(run, data, warm=40, steps=400)
            emit(
                what="compile",
                kind=kind,
                mode="default",
                first_20_steps_s=round(compile_s, 1),
                images_per_s=round(ips),
                ms_per_step=round(128 / ips * 1000, 3),
            )
        except Exception as e:  # noqa: BLE001
            emit(what="compile", kind=kind, error=repr(e)[:400])
    emit(what="done")


if __name__ == "__main__":
    main()
