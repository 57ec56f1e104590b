"""Images/s of the fast recipe's training step on the CPU, one setting changed at once.

    python bench/cpu_step_speed.py > bench/cpu_step_speed_2026-11-23.txt

Each line times 150 `train_step` calls (after 10 untimed ones) of the conditional DCGAN
at width 32 without refinement (the fast recipe), at batch 128 on all cores, except for
the one setting named: channels_last memory format (weights and batches), batch 64 or
256, width 24 or 16, one thread. Run it on a quiet machine: other work on the same cores
makes torch's threads wait for each other.
"""

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cgan_lib.data import mnist_tensors  # noqa: E402
from cgan_lib.recipes import recipe_settings  # noqa: E402
from cgan_lib.run import TrainConfig, new_run  # noqa: E402
from cgan_lib.train import train_step  # noqa: E402

THREADS = torch.get_num_threads()
VARIANTS = {
    "fast recipe": {},
    "channels_last": {"channels_last": True},
    "batch 64": {"batch_size": 64},
    "batch 256": {"batch_size": 256},
    "width 24": {"model_kwargs": {"width": 24, "refine": False}},
    "width 16": {"model_kwargs": {"width": 16, "refine": False}},
    "1 thread": {"threads": 1},
}


def images_per_s(images, labels, steps=150, channels_last=False, threads=None, **kw):
    torch.set_num_threads(threads or THREADS)
    fast = recipe_settings("cdcgan", "fast")
    run = new_run(TrainConfig(model="cdcgan", **(fast | kw)), torch.device("cpu"))
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    run.G.to(memory_format=fmt), run.D.to(memory_format=fmt)
    b = run.config.batch_size

    def batch(i):
        j = (i * b) % (len(images) - b)
        return images[j : j + b].contiguous(memory_format=fmt), labels[j : j + b]

    for i in range(10):
        train_step(run, *batch(i))
    start = time.perf_counter()
    for i in range(steps):
        train_step(run, *batch(i))
    return steps * b / (time.perf_counter() - start)


if __name__ == "__main__":
    images, labels = mnist_tensors("train", torch.device("cpu"))
    print(f"torch {torch.__version__}, {THREADS} threads")
    for name, change in VARIANTS.items():
        print(f"{name:>14}: {images_per_s(images, labels, **change):6.0f} images/s")
