"""More GPU experiments for issue 17: the shipped recipe at larger batches (fp32, the
faster eager step) and torch.compile of G and D. Reuses gpu_variants.py's variants;
appends to $OUT/explore.jsonl.

    cd bench && OUT=/tmp/out DEADLINE=185 python gpu_variants_extra.py
"""

import json
import time

import gpu_variants as E  # noqa: E402  (run from bench/, as below)
import torch
from gpu_variants import T, emit

_config = E.config


def config(kind, batch=128, lr=2e-4):
    c = _config(kind, batch)
    if kind == "shipped":
        spe = 60000 // batch
        c = T.TrainConfig(
            **{**c.__dict__, "lr_decay": (8 * spe, 12 * spe), "lr_g": lr, "lr_d": lr}
        )
    return c


def shipped(batch, lr, **opts):
    E.config = lambda kind, b=128: config(kind, b, lr)
    run = E.prepare("shipped", batch=batch, **opts)
    data = E.mnist.mnist_tensors("train", E.dev)
    spe = 60000 // batch
    evals = []
    while run.step < 12 * spe:
        T.fit(run, steps=min(12 * spe, run.step + spe), data=data, progress=False)
        if run.step >= 10 * spe:
            s = E.card_scores(run)
            evals.append(
                (
                    run.step,
                    round(run.elapsed, 1),
                    round(s["accuracy"], 4),
                    round(s["frechet_distance"], 3),
                )
            )
    card = json.loads(
        (E.Path(T.__file__).parent / "pretrained" / "cdcgan.json").read_text()
    )["scores"]
    emit(
        what="shipped recipe",
        batch=batch,
        lr=lr,
        opts=str(opts),
        seconds=round(run.elapsed, 1),
        steps=run.step,
        images_per_s=round(run.step * batch / run.elapsed),
        final=evals[-1],
        card_met=evals[-1][2] >= card["accuracy"]
        and evals[-1][3] <= card["frechet_distance"],
        evals=evals,
    )
    E.config = _config


def compiled(mode, **opts):
    data = E.mnist.mnist_tensors("train", E.dev)
    run = E.prepare("shipped", compile_mode=mode, **opts)
    t = time.perf_counter()
    T.fit(run, steps=20, data=data, progress=False)
    torch.cuda.synchronize()
    first = time.perf_counter() - t
    ips = E.throughput(run, data, warm=40, steps=400)
    emit(
        what="compile",
        kind="shipped",
        mode=mode,
        opts=str(opts),
        first_20_steps_s=round(first, 1),
        images_per_s=round(ips),
        ms_per_step=round(128 / ips * 1000, 3),
    )


FP32_BEST = dict(E.BEST, amp=False)
jobs = [
    lambda: shipped(512, 2e-4, **FP32_BEST),
    lambda: shipped(256, 2e-4, **FP32_BEST),
    lambda: compiled("default", **FP32_BEST),
    lambda: shipped(512, 4e-4, **FP32_BEST),
    lambda: compiled("reduce-overhead", **FP32_BEST),
]
for job in jobs:
    if E.left() < 15:
        break
    try:
        job()
    except Exception as e:  # noqa: BLE001
        emit(what="error", error=repr(e)[:400])
emit(what="extras done")
