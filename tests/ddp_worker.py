"""One rank of the distributed tests (tests/test_distributed.py starts it, torchrun).

    torchrun --standalone --nproc-per-node 2 tests/ddp_worker.py MODE OUT STEPS

MODE "parity" (float32) or "parity64" (float64): fit one step at a time on 2,048 real
digits into the run folder OUT (rank 0 writes its checkpoint), checking after every
step that all ranks hold bit-identical weights and buffers. MODE "die": `python -m
cgan_lib train` into the run folder OUT (a narrow cdcgan of the CPU's recipe, resumed
from its checkpoint), in which rank 1 crashes at step 3.
"""

import json
import os
import sys

import torch
import torch.distributed as dist

from cgan_lib import data, distributed, train
from cgan_lib.__main__ import main
from cgan_lib.run import TrainConfig


def config() -> TrainConfig:
    return TrainConfig(
        model="cdcgan", model_kwargs={"width": 16}, ema=0.9, checkpoint_every=2
    )


def small_data():
    images, labels = data.load_mnist("train")
    return data.to_signed(images[:2048]).to(torch.get_default_dtype()), labels[:2048]


def state(run) -> dict:
    return {
        "G": run.G.state_dict(),
        "D": run.D.state_dict(),
        "G_ema": run.G_ema.state_dict(),
    }


def flat(run) -> torch.Tensor:
    return torch.cat(
        [v.double().flatten() for part in state(run).values() for v in part.values()]
    )


def parity(out: str, steps: int) -> None:
    run, differences = config(), []
    for k in range(1, steps + 1):
        run = train.fit(run, steps=k, data=small_data(), out_dir=out, progress=False)
        mine = flat(run)
        everyone = [torch.empty_like(mine) for _ in range(distributed.world_size())]
        dist.all_gather(everyone, mine)
        differences.append(max((e - mine).abs().max().item() for e in everyone))
    if distributed.is_main():
        print(json.dumps({"rank_differences": differences}))


def die(out: str, steps: int) -> None:
    real_step = train.train_step

    def step(run, x, y):
        if distributed.rank() == 1 and run.step == 3:
            os._exit(3)  # a crash: no cleanup, no message
        return real_step(run, x, y)

    train.train_step = step
    sys.exit(main(train_command(out, steps)))


def train_command(out: str, steps: int) -> list[str]:
    """The small cdcgan run of the tests' command lines."""
    return (  # the CPU's recipe (clusters, EMA), narrower
        f"train --model cdcgan --width 16 --batch-size 64 --steps {steps} --out {out}"
    ).split()


if __name__ == "__main__":
    mode, out, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "die":  # the command line joins the process group itself
        die(out, steps)
    if mode == "parity64":
        torch.set_default_dtype(torch.float64)
    distributed.start(torch.device("cpu"))
    try:
        parity(out, steps)
    finally:
        distributed.stop()
