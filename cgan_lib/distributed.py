"""One run on several processes (chapter 13): data parallelism with torchrun.

    torchrun --nproc-per-node 2 -m cgan_lib train --model cdcgan --steps 200 \
        --out runs/ddp

torchrun starts N copies of the command and tells each its rank through the environment.
Every rank holds both networks, computes the step on its share of the global batch, and
DistributedDataParallel (DDP) averages the gradients over the ranks inside `backward`,
so every rank applies the same update and the weights stay identical. What a GAN needs
beyond that textbook recipe, each in one function below:

- both players are wrapped, and the generator's loss runs back through the wrapped D
  with D frozen, so D's gradient averaging is not triggered by G's step (`wrap`);
- every rank draws the *global* batch's latents and labels from the run's one random
  stream and keeps its own slice (`my_share`): each rank's z differs, yet the stream
  does not depend on N, so a run resumes on any number of processes;
- batch norm's statistics are the global batch's (`sync_batch_norm`), so 2 processes
  x 64 is the same step as 1 process x 128;
- the ranks agree, once per step, on whether to stop or save (`agree`): a time budget or
  Ctrl-C seen by one rank stops all of them at the same step;
- rank 0 alone writes files; the others only compute.
"""

from __future__ import annotations

import os
from datetime import timedelta

import torch
import torch.distributed as dist
import torch.distributed._functional_collectives as funcol
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel

from .errors import BadInput
from .models import model_options

# What the step does that DDP's single forward-backward contract does not cover here: a
# gradient of D taken inside D's loss (double backward) and heads of D that one of the
# two backward passes leaves unused. They train on one process.
ONE_PROCESS_ONLY = "R1/R2, WGAN-GP, ACGAN and InfoGAN codes"


def world_size() -> int:
    """How many processes train this run (1 without torchrun)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    """This process's index among them, 0..world_size()-1."""
    return dist.get_rank() if world_size() > 1 else 0


def is_main() -> bool:
    """Rank 0: the one process that prints and writes files."""
    return rank() == 0


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def start(device: torch.device) -> torch.device:
    """Under torchrun: join the process group its environment describes (gloo for CPU
    tensors, NCCL for GPUs) and return this rank's device (GPU number LOCAL_RANK on a
    GPU node). Without torchrun: `device` unchanged.
    """
    if not launched_by_torchrun() or dist.is_initialized():
        return device
    if device.type == "mps":
        raise BadInput("several processes need --device cpu or cuda (gloo has no mps)")
    if device.type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if local >= torch.cuda.device_count():
            raise BadInput(
                f"process {local} has no GPU of its own: this node has "
                f"{torch.cuda.device_count()}; use --nproc-per-node at most that"
            )
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    # a rank that waits longer than this for the others is stopped with an error
    dist.init_process_group(backend, timeout=timedelta(minutes=5))
    return device


def stop() -> None:
    """Leave the process group (at the end of `train`)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def check_config(config, n: int | None = None) -> None:
    """Refuse what this module does not run on n processes (default: this run's), with
    the reason.
    """
    n = n or world_size()
    if config.batch_size % n:
        raise BadInput(
            f"batch size {config.batch_size} does not divide among {n} processes; "
            f"use a multiple of {n} (each process takes batch size / {n})"
        )
    options = model_options(config.model, config.model_kwargs)
    if (
        config.r1
        or config.r2
        or config.loss == "wgan-gp"
        or options.get("conditioning") == "acgan"
        or options.get("codes")
    ):
        raise BadInput(
            f"{ONE_PROCESS_ONLY} train on one process only (their extra gradients "
            "through D are not covered by DistributedDataParallel here); drop them or "
            "train without torchrun"
        )


def wrap(run) -> tuple[nn.Module, nn.Module]:
    """G and D as the step calls them on several processes: their batch norms take
    global statistics, and each is wrapped in DistributedDataParallel, which copies
    rank 0's weights to every rank now and averages gradients in every backward pass.

    run.G and run.D stay the plain modules (checkpoints, sampling and EMA use them);
    the wrappers share their parameters. forward_sync_buffers=False: with synchronised
    statistics every rank computes the same buffers, so copying rank 0's at every
    forward pass would be wasted work (the tests check the ranks stay identical).
    """
    check_config(run.config)
    sync_batch_norm(run.G)
    sync_batch_norm(run.D)
    ids = [run.device.index] if run.device.type == "cuda" else None

    def ddp(m):
        return DistributedDataParallel(m, device_ids=ids, forward_sync_buffers=False)

    return ddp(run.G), ddp(run.D)


def sync_batch_norm(module: nn.Module) -> None:
    """Make every BatchNorm2d in `module` normalise with the global batch's statistics:
    torch's SyncBatchNorm on a GPU; on the CPU, where SyncBatchNorm refuses to run,
    CrossRankBatchNorm2d. In place, sharing the parameters, so optimisers keep them.
    """
    if next(module.parameters()).device.type == "cuda":
        nn.SyncBatchNorm.convert_sync_batchnorm(module)
        return
    for parent in list(module.modules()):
        for name, child in parent.named_children():
            if type(child) is nn.BatchNorm2d:
                setattr(parent, name, CrossRankBatchNorm2d.like(child))


class CrossRankBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are those of the global batch.

    Each rank sums its share; an all-reduce adds the sums of all ranks (the mean, then
    the squared deviations from it). The all-reduce is differentiable (`summed`), so
    the backward pass adds up, across ranks, the gradients that flow through the
    statistics: exactly the gradient of batch norm over the whole batch. Outside
    training, or on one process, it is BatchNorm2d. (The tests compare a run on two
    processes with one on one process, in float64: they agree to 1e-10.)
    """

    @classmethod
    def like(cls, bn: nn.BatchNorm2d) -> CrossRankBatchNorm2d:
        if not (bn.affine and bn.track_running_stats and bn.momentum is not None):
            raise BadInput("only affine batch norms with running statistics sync here")
        new = cls(bn.num_features, bn.eps, bn.momentum)
        new.weight, new.bias = bn.weight, bn.bias  # the same Parameters
        new.running_mean, new.running_var = bn.running_mean, bn.running_var
        new.num_batches_tracked = bn.num_batches_tracked
        return new.train(bn.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or world_size() == 1:
            return super().forward(x)
        c, dims = x.size(1), (0, 2, 3)
        n = x.numel() / c * world_size()  # equal shares
        # two all-reduces, the mean first, then the squared deviations from it: the
        # variance as precise as BatchNorm2d's own
        mean = summed(x.sum(dims)) / n
        centred = x - mean.view(1, c, 1, 1)
        var = summed((centred * centred).sum(dims)) / n  # biased
        with torch.no_grad():
            self.num_batches_tracked += 1
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(var * n / (n - 1), self.momentum)  # unbiased
        shape = (1, c, 1, 1)
        x_hat = centred * torch.rsqrt(var.view(shape) + self.eps)
        return x_hat * self.weight.view(shape) + self.bias.view(shape)


def summed(t: torch.Tensor) -> torch.Tensor:
    """The sum over ranks of `t`, differentiable: its backward pass sums the gradients
    over ranks too (torch's functional collectives; the older torch.distributed.nn
    one is deprecated).
    """
    return funcol.all_reduce(t, "sum", dist.group.WORLD)


def my_share(*tensors):
    """This rank's slice of each global-batch tensor (None stays None): rank r of N
    takes rows [r B/N, (r+1) B/N).
    """
    n = world_size()
    if n == 1:
        return tensors
    r = rank()
    return tuple(
        t if t is None else t[r * (len(t) // n) : (r + 1) * (len(t) // n)]
        for t in tensors
    )


def average(stats: torch.Tensor) -> torch.Tensor:
    """The mean over ranks of a tensor of per-rank means (equal shares, so the global
    batch's mean).
    """
    if world_size() == 1:
        return stats
    stats = stats.clone()
    dist.all_reduce(stats)
    return stats / world_size()


def agree(*flags: bool) -> tuple[bool, ...]:
    """Each flag, true if it is true on any rank: one small all-reduce, so that every
    rank stops, or saves, at the same step.
    """
    if world_size() == 1:
        return flags
    t = torch.tensor([float(f) for f in flags])
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return tuple(bool(v) for v in t.tolist())
