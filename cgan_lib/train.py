"""Training: the alternating discriminator/generator update, and the loop around it.

    run = fit(TrainConfig(model="cdcgan"), epochs=5, out_dir="runs/cdcgan")

`train_step` is one update of each player. `fit` repeats it over shuffled batches of the
training set, which it keeps as one tensor on the training device (no per-sample
DataLoader work). Every random draw of a step comes from the run's own
`torch.Generator`, whose state is checkpointed, and each epoch's shuffle is a function
of (seed, epoch), so a run that is interrupted and resumed ends with the same weights as
one that was not (on the CPU; GPU kernels are not all deterministic).
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn as nn

from . import clusters, distributed, losses
from .checkpoint import RunLock, load_checkpoint, save_checkpoint
from .data import mnist_tensors, random_rotate, to_uint8
from .errors import BadInput, CheckpointError, TrainingDiverged, check_range
from .run import (
    HISTORY_KEYS,
    GANRun,
    TrainConfig,
    new_run,
    weight_settings,
    with_bookkeeping_of,
)


def train_step(run: GANRun, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    """One discriminator update, then one generator update (chapter 4).

    Returns [d_loss, g_loss, mean D(x), mean D(G(z))] as one tensor, which the loop
    logs without waiting for the device at every step.
    """
    G, D = run.players
    cfg = run.config
    d_loss_fn, g_loss_fn = losses.LOSSES[cfg.loss]
    x, y_real, z, y_fake = draw(run, x, y)
    set_learning_rates(run)

    # Discriminator: push D(x) up and D(G(z)) down. fake.detach(): this backward pass
    # must not reach G.
    fake = G(z, y_fake)
    y_real, y_fake = clusters.discriminator_labels(run, x, y_real, z, y_fake)
    real_logits = D(x, y_real)
    fake_logits = D(fake.detach(), y_fake)
    d_loss = d_loss_fn(real_logits, fake_logits, cfg.real_target)
    d_loss = d_loss + losses.auxiliary_d_loss(
        cfg, D, x, y_real, fake.detach(), y_fake, z, run.rng
    )
    run.opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    run.opt_d.step()

    # Generator: make the just-updated D call the same fakes real. D is frozen for this
    # backward pass, which saves computing gradients nobody uses.
    D.requires_grad_(False)
    g_loss = g_loss_fn(D(fake, y_fake)) + losses.auxiliary_g_loss(
        cfg, D, fake, y_fake, z
    )
    run.opt_g.zero_grad(set_to_none=True)
    g_loss.backward()
    run.opt_g.step()
    D.requires_grad_(True)
    update_average(run)

    with torch.no_grad():
        d_real, d_fake = torch.sigmoid(real_logits), torch.sigmoid(fake_logits)
        return torch.stack([d_loss, g_loss, d_real.mean(), d_fake.mean()])


def draw(run: GANRun, x: torch.Tensor, y: torch.Tensor | None):
    """The step's random draws, from the run's own stream in a fixed order: latents z,
    labels for the fakes (conditional models), then, with `augment_degrees`, a random
    rotation of the real digits. Returns (x, y_real, z, y_fake); the labels are None
    for an unconditional model, which ignores the dataset's labels. On several
    processes every rank draws for the whole batch and keeps its own share (chapter 13).
    """
    G, rng = run.G, run.rng
    z = torch.randn(len(x), G.z_dim, generator=rng, device=x.device)
    y_fake = None
    if G.num_classes:
        y_fake = torch.randint(
            0, G.num_classes, (len(x),), generator=rng, device=x.device
        )
    if run.config.augment_degrees > 0:
        x = random_rotate(x, run.config.augment_degrees, rng)
    return distributed.my_share(x, (y if G.num_classes else None), z, y_fake)


def fit(
    run: GANRun | TrainConfig,
    *,
    steps: int | None = None,
    epochs: float | None = None,
    seconds: float | None = None,
    out_dir: str | Path | None = None,
    device=None,
    data: tuple[torch.Tensor, torch.Tensor] | None = None,
    progress: bool = True,
    log_every: int = 50,
    announce: str | None = None,
) -> GANRun:
    """Train until the run has taken `steps` steps (or `epochs` epochs) in all, or for
    `seconds`.

    `run` is a GANRun to continue, or a TrainConfig: a fresh run, or the run saved in
    `out_dir` resumed. `data` is (images in [-1, 1] (N, 1, 28, 28), labels), by default
    MNIST's training set. With `out_dir`, a checkpoint is written there every
    `checkpoint_every` steps or `checkpoint_seconds`, whichever comes first, at the end,
    and when Ctrl-C or SIGTERM stops the run (which then returns with `run.interrupted`
    set, ready to resume). `announce`, a line such as `train`'s recipe line, is printed
    once the folder is this call's (a run refused for its folder prints nothing).
    Returns the run.
    """
    folder = check_out_dir(out_dir)
    main = distributed.is_main()  # rank 0 of several processes, or the only one
    with RunLock(folder) if folder and main else nullcontext():
        if announce and main:
            print(announce)
        run = start_or_resume(run, folder, device)
        if distributed.world_size() == 1:
            run.parallel = None  # wrappers from an earlier, ended process group
        elif run.parallel is None:
            run.parallel = distributed.wrap(run)
        batches = Batches(run, data)
        target = target_step(run, steps, epochs, seconds, batches.steps_per_epoch)
        snapshot_every = run.config.snapshot_every or batches.steps_per_epoch
        clock, log = Clock(run, seconds), StepLog(run)
        bar = ProgressBar(run, target, seconds, progress and main)
        saver = Saver(run, folder if main else None)
        if run.step == 0 and not run.snapshots:
            run.snapshots.append((0, snapshot(run)))
        run.G.train(), run.D.train()
        halt = False
        with StopSignal() as stop:
            while run.step < target and not halt:
                with mixed_precision(run):
                    log.append(train_step(run, *batches.batch(run.step)))
                run.step += 1
                if run.step % log_every == 0:
                    log.flush()
                    bar.show(log, clock)
                if run.step % snapshot_every == 0:
                    run.snapshots.append((run.step, snapshot(run)))
                # on several processes every rank stops, and saves, at the same step
                halt, save = distributed.agree(
                    clock.expired() or stop.requested, saver.due()
                )
                if save:
                    log.flush()
                    clock.record()
                    saver.save()
        log.flush()
        bar.close()
        clock.record()
        if run.snapshots[-1][0] != run.step:
            run.snapshots.append((run.step, snapshot(run)))
        saver.save()
        (run.interrupted,) = distributed.agree(stop.requested)
        if run.interrupted and main:
            print(saver.resume_hint())
    return run


# --------------------------------------------------------------------------------------
# The pieces fit is made of, in the order it uses them.


def check_out_dir(out_dir) -> Path | None:
    """The run folder as a Path, or None; an empty name is refused (it would mean
    "here").
    """
    if out_dir is None:
        return None
    if not str(out_dir).strip():
        raise BadInput(
            "the output folder name is empty; name a folder such as runs/cdcgan"
        )
    folder = Path(out_dir)
    if folder.exists() and not folder.is_dir():
        raise BadInput(f"{folder} is a file; the output must be a folder")
    return folder


def start_or_resume(run: GANRun | TrainConfig, folder: Path | None, device) -> GANRun:
    """A GANRun to train: `run` itself, the run saved in `folder`, or a fresh one."""
    if isinstance(run, GANRun):
        return run
    if not isinstance(run, TrainConfig):
        raise BadInput(f"fit takes a TrainConfig or a GANRun, got {type(run).__name__}")
    path = folder / "checkpoint.pt" if folder is not None else None
    if path is not None and not path.exists() and (folder / "generator.pt").exists():
        raise CheckpointError(
            f"{folder} holds generator.pt (a sample-only generator) but no "
            "checkpoint.pt to resume; training would overwrite it: choose another "
            "output folder"
        )
    if path is None or not path.exists():
        return new_run(run, device)
    saved = load_checkpoint(path, device=device)
    ours, theirs = weight_settings(run), weight_settings(saved.config)
    if ours != theirs:
        diff = ", ".join(
            f"{k}: {theirs[k]!r} -> {ours[k]!r}" for k in ours if ours[k] != theirs[k]
        )
        raise CheckpointError(
            f"{path} was trained with other settings ({diff}); "
            "use another output folder, "
            "or delete it to start over"
        )
    # the snapshot and checkpoint cadence may change on resume
    saved.config = with_bookkeeping_of(saved.config, run)
    if distributed.is_main():
        print(f"resuming from {path} at step {saved.step}")
    return saved


class Batches:
    """Batch `step` of the training set: epoch-wise shuffles that depend on (seed,
    epoch) only.
    """

    def __init__(self, run: GANRun, data):
        images, labels = (
            data if data is not None else mnist_tensors("train", run.device)
        )
        self.images, self.labels = images.to(run.device), labels.to(run.device)
        self.seed, self.size = run.config.seed, run.config.batch_size
        self.steps_per_epoch = len(self.images) // self.size
        if self.steps_per_epoch == 0:
            raise BadInput(
                f"batch_size {self.size} is larger than the dataset "
                f"({len(self.images)} images)"
            )
        self.epoch, self.perm = -1, None

    def batch(self, step: int):
        epoch, i = divmod(step, self.steps_per_epoch)
        if epoch != self.epoch:
            self.epoch = epoch
            self.perm = epoch_permutation(
                self.seed, epoch, len(self.images), self.images.device
            )
        idx = self.perm[i * self.size : (i + 1) * self.size]
        return self.images[idx], self.labels[idx]


def epoch_permutation(seed: int, epoch: int, n: int, device) -> torch.Tensor:
    """One epoch's shuffle: a pure function of (seed, epoch), so resuming is exact."""
    g = torch.Generator().manual_seed((seed * 1_000_003 + epoch) % 2**63)
    return torch.randperm(n, generator=g).to(device)


MAX_STEPS = 10**9  # about 30 years of CPU training: anything beyond is a typo


def target_step(run, steps, epochs, seconds, steps_per_epoch) -> float:
    """The step to stop at (inf when only `seconds` bounds the run)."""
    if steps is None and epochs is None and seconds is None:
        raise BadInput("say how long to train: steps=, epochs= or seconds=")
    target = math.inf
    if steps is not None:
        target = check_range("steps", steps, 1, MAX_STEPS, integer=True)
    if epochs is not None:
        epochs = check_range(
            "epochs", epochs, 0, MAX_STEPS / steps_per_epoch, lo_open=True
        )
        target = min(target, max(1, round(epochs * steps_per_epoch)))
    if seconds is not None:
        check_range("seconds", seconds, 0, 10**9, lo_open=True)
    return target


class Clock:
    """Training time: the deadline of this call, and the run's total across calls."""

    def __init__(self, run: GANRun, seconds: float | None):
        self.run, self.start, self.start_step = run, time.perf_counter(), run.step
        self.base = run.elapsed
        self.deadline = self.start + seconds if seconds is not None else math.inf

    def expired(self) -> bool:
        return time.perf_counter() >= self.deadline

    def images_per_s(self) -> float:
        took = time.perf_counter() - self.start
        steps = self.run.step - self.start_step
        return steps * self.run.config.batch_size / took if steps else float("nan")

    def record(self) -> None:
        self.run.elapsed = self.base + time.perf_counter() - self.start
        self.run.images_per_s = self.images_per_s()


class StepLog:
    """Per-step stats, kept on the device and moved to `run.history` in one sync per
    flush.

    Flushing is also the NaN guard: a non-finite loss stops training before anything is
    saved.
    """

    def __init__(self, run: GANRun):
        self.run, self.pending = run, []

    def append(self, stats: torch.Tensor) -> None:
        self.pending.append(stats)

    def flush(self) -> None:
        if not self.pending:
            return
        # the mean over ranks on several processes: the global batch's statistics
        stats = distributed.average(torch.stack(self.pending)).double().cpu()
        first = self.run.step - len(self.pending) + 1
        self.pending.clear()
        bad = (~torch.isfinite(stats)).any(1).nonzero()
        if len(bad):
            i = int(bad[0])
            values = ", ".join(
                f"{k}={v:.4g}" for k, v in zip(HISTORY_KEYS, stats[i].tolist())
            )
            raise TrainingDiverged(
                f"training diverged at step {first + i}: {values}. Nothing was saved "
                "after this. To go on from the last checkpoint at a smaller rate: run "
                "= cgan_lib.load_checkpoint(path); run.config = dataclasses.replace("
                "run.config, lr_g=..., lr_d=...); fit(run, ...)."
            )
        for k, column in zip(HISTORY_KEYS, stats.T.tolist()):
            self.run.history[k].extend(column)


class Saver:
    """Checkpoints into the run folder every `checkpoint_every` steps or
    `checkpoint_seconds`.
    """

    def __init__(self, run: GANRun, folder: Path | None):
        self.run, self.last = run, time.perf_counter()
        self.path = folder / "checkpoint.pt" if folder is not None else None

    def due(self) -> bool:
        cfg = self.run.config
        return self.path is not None and (
            self.run.step % cfg.checkpoint_every == 0
            or time.perf_counter() - self.last >= cfg.checkpoint_seconds
        )

    def save(self) -> None:
        if self.path is not None:
            save_checkpoint(self.run, self.path)
            self.last = time.perf_counter()

    def resume_hint(self) -> str:
        if self.path is None:
            return (
                f"interrupted at step {self.run.step}; the returned run continues with "
                "fit(run, ...)"
            )
        return (
            f"interrupted at step {self.run.step}; saved {self.path}. "
            "The same command (or fit with the same out_dir) resumes it."
        )


class StopSignal:
    """Ctrl-C or SIGTERM during training asks the loop to stop between two steps.

    Stopping in the middle of a step could leave D updated and G not; stopping between
    steps lets fit save a consistent checkpoint. A second Ctrl-C stops at once.
    """

    requested = False

    def __enter__(self) -> StopSignal:
        self.previous = {}
        if threading.current_thread() is threading.main_thread():  # signals need it
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


class ProgressBar:
    """A tqdm bar over steps (or seconds, for a time budget) showing D(x), D(G(z)) and
    speed.
    """

    def __init__(self, run: GANRun, target: float, seconds, enabled: bool):
        self.by_time = target == math.inf
        total = int(seconds) if self.by_time else target - run.step
        self.bar = make_tqdm(total, "s" if self.by_time else "step", enabled)

    def show(self, log: StepLog, clock: Clock) -> None:
        if self.bar is None:
            return
        run = log.run
        done = (
            time.perf_counter() - clock.start
            if self.by_time
            else run.step - clock.start_step
        )
        self.bar.update(int(done) - self.bar.n)
        h = run.history
        self.bar.set_postfix_str(
            f"D(x)={h['d_real'][-1]:.2f} D(G(z))={h['d_fake'][-1]:.2f} "
            f"lossD={h['d_loss'][-1]:.3f} lossG={h['g_loss'][-1]:.3f} "
            f"{clock.images_per_s():.0f} img/s"
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def make_tqdm(total: int, unit: str, enabled: bool = True):
    """A tqdm bar, or None. CGAN_PROGRESS=text forces a plain bar (the HTML book); off
    hides it.
    """
    mode = "off" if not enabled else os.environ.get("CGAN_PROGRESS", "auto")
    if mode == "off":
        return None
    if mode == "text":
        from tqdm import tqdm
    else:
        from tqdm.auto import tqdm
    return tqdm(total=total, unit=unit, dynamic_ncols=True, mininterval=1.0)


def fixed_latents(G: nn.Module, seed: int, device, n_per_row: int = 10):
    """The fixed 10x10 latent grid of the snapshots: row r has label r (conditional
    models).
    """
    g = torch.Generator().manual_seed((seed + 1_000_003) % 2**63)
    z = torch.randn(10 * n_per_row, G.z_dim, generator=g).to(device)
    y = (
        torch.arange(10).repeat_interleave(n_per_row).to(device)
        if G.num_classes
        else None
    )
    return z, y


@torch.no_grad()
def snapshot(run: GANRun) -> torch.Tensor:
    """uint8 (100, 28, 28): the generator on the fixed grid; a run's snapshots make its
    timelapse.
    """
    G = run.generator
    was_training = G.training
    G.eval()
    z, y = fixed_latents(G, run.config.seed, run.device)
    images = to_uint8(G(z, y)).cpu()
    G.train(was_training)
    return images


def set_learning_rates(run: GANRun) -> None:
    """Both optimisers' rates for this step (the LR decay is a pure function of the
    step).
    """
    factor = run.config.lr_factor(run.step)
    for opt, lr in ((run.opt_d, run.config.lr_d), (run.opt_g, run.config.lr_g)):
        for group in opt.param_groups:
            group["lr"] = lr * factor


def mixed_precision(run: GANRun):
    """bf16 autocast around a step, on a GPU and only when the config asks: on an H100
    it was slower than float32 for these small networks (bench/README.md), and it
    changes the numbers. Elsewhere a context that does nothing.
    """
    on = run.config.mixed_precision and run.device.type == "cuda"
    return torch.autocast(run.device.type, dtype=torch.bfloat16, enabled=on)


def update_average(run: GANRun) -> None:
    """The EMA copy of G (chapter 8), when the run keeps one, follows G's weights."""
    if run.G_ema is not None:
        ema_update(run.G_ema, run.G, run.config.ema, run.step)


@torch.no_grad()
def ema_update(G_ema: nn.Module, G: nn.Module, decay: float, step: int) -> None:
    """G_ema <- decay * G_ema + (1 - decay) * G, with a warm-up that follows G early."""
    decay = min(decay, (1 + step) / (10 + step))
    # one fused call over all tensors instead of a Python loop: +12% steps/s on a GPU
    torch._foreach_lerp_(list(G_ema.parameters()), list(G.parameters()), 1 - decay)
    buffers = list(G_ema.buffers())
    if buffers:  # batch-norm statistics are copied, not averaged
        torch._foreach_copy_(buffers, list(G.buffers()))
