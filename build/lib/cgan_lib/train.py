"""Training: the alternating D/G update loop, its history, snapshots, and checkpoints that resume exactly.

    run = fit(TrainConfig(model="cdcgan"), epochs=5, out_dir="runs/cdcgan")

`fit` keeps the whole training set as one tensor on the training device and indexes batches from it, so
there is no per-sample DataLoader work. Every random draw of a step (latent z, fake labels, augmentation)
comes from one `torch.Generator` whose state is checkpointed, and each epoch's shuffle is a function of
(seed, epoch), so a run that is interrupted and resumed ends with the same weights as one that was not (on
the CPU; GPU kernels are not all deterministic).
"""

from __future__ import annotations

import copy
import math
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
import torch.nn as nn

from . import data as mnist
from .losses import GENERATOR_LOSSES, discriminator_loss
from .models import build

HISTORY_KEYS = ("d_loss", "g_loss", "d_real", "d_fake")  # per step; d_real = mean D(x), d_fake = mean D(G(z))
CHECKPOINT_FORMAT = "cgan_lib.gan"


@dataclass
class TrainConfig:
    model: str = "cdcgan"
    model_kwargs: dict = field(default_factory=dict)  # e.g. {"width": 32, "conditioning": "concat"}
    loss: str = "nonsaturating"  # generator loss: "nonsaturating" or "saturating" (see losses.py)
    batch_size: int = 128
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple = (0.5, 0.999)  # Adam, as in the DCGAN paper
    ema: float = 0.0  # decay of an exponential moving average of G's weights used for sampling; 0 = off
    augment_degrees: float = 0.0  # random rotation of real digits, in degrees
    real_target: float = 1.0  # < 1 is one-sided label smoothing
    lr_decay: tuple = ()  # (start_step, end_step): learning rates fall linearly to 0 between them; () = constant
    seed: int = 0
    snapshot_every: int = 0  # steps between snapshots of the fixed latent grid; 0 = once per epoch
    checkpoint_every: int = 1000  # steps between checkpoints (when fit has an out_dir)

    def __post_init__(self):
        if self.loss not in GENERATOR_LOSSES:
            raise ValueError(f"loss must be one of {', '.join(GENERATOR_LOSSES)}, got {self.loss!r}")
        if self.batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.betas = tuple(self.betas)
        self.lr_decay = tuple(int(s) for s in self.lr_decay)
        if self.lr_decay and not (len(self.lr_decay) == 2 and 0 <= self.lr_decay[0] < self.lr_decay[1]):
            raise ValueError(f"lr_decay must be (start_step, end_step) with start < end, got {self.lr_decay}")

    def lr_factor(self, step: int) -> float:
        """Learning-rate multiplier at `step`: a pure function of the step, so resuming stays exact."""
        if not self.lr_decay:
            return 1.0
        start, end = self.lr_decay
        return min(1.0, max(0.0, (end - step) / (end - start)))


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; nothing was saved after it happened."""


class CheckpointError(ValueError):
    """A file that is not a usable checkpoint (missing, truncated, not ours, or of another model)."""


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """The device to train on: the one asked for, else cuda > mps > cpu."""
    if device is not None and str(device) != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@dataclass
class GANRun:
    """Everything a training run has: models, optimisers, progress. A checkpoint stores exactly this."""

    config: TrainConfig
    G: nn.Module
    D: nn.Module
    G_ema: nn.Module | None
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    rng: torch.Generator
    step: int = 0
    elapsed: float = 0.0  # seconds spent training, over all sessions
    history: dict = field(default_factory=lambda: {k: [] for k in HISTORY_KEYS})
    snapshots: list = field(default_factory=list)  # [(step, uint8 (100, 28, 28))]
    images_per_s: float = float("nan")  # throughput of the last fit() call

    @property
    def generator(self) -> nn.Module:
        """The generator to sample from: the EMA copy when there is one."""
        return self.G_ema if self.G_ema is not None else self.G

    @property
    def device(self) -> torch.device:
        return next(self.G.parameters()).device


def new_run(config: TrainConfig, device=None) -> GANRun:
    device = pick_device(device)
    torch.manual_seed(config.seed)  # initial weights depend on the seed only
    G, D = build(config.model, **config.model_kwargs)
    G, D = G.to(device), D.to(device)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False) if config.ema > 0 else None
    opt_g = torch.optim.Adam(G.parameters(), lr=config.lr_g, betas=config.betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=config.lr_d, betas=config.betas)
    rng = torch.Generator(device=device)
    rng.manual_seed(config.seed)
    return GANRun(config, G, D, G_ema, opt_g, opt_d, rng)


def fixed_latents(G: nn.Module, seed: int, device, n_per_row: int = 10):
    """The fixed 10x10 latent grid used for snapshots: row r has label r for conditional models."""
    g = torch.Generator().manual_seed(seed + 1_000_003)
    z = torch.randn(10 * n_per_row, G.z_dim, generator=g).to(device)
    y = torch.arange(10).repeat_interleave(n_per_row).to(device) if G.num_classes else None
    return z, y


@torch.no_grad()
def snapshot(run: GANRun) -> torch.Tensor:
    G = run.generator
    was_training = G.training
    G.eval()
    z, y = fixed_latents(G, run.config.seed, run.device)
    images = mnist.to_uint8(G(z, y)).cpu()
    G.train(was_training)
    return images


def epoch_permutation(seed: int, epoch: int, n: int, device) -> torch.Tensor:
    """The shuffle of epoch `epoch`: a pure function of (seed, epoch), so resuming mid-epoch is exact."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g).to(device)


@torch.no_grad()
def ema_update(G_ema: nn.Module, G: nn.Module, decay: float, step: int) -> None:
    decay = min(decay, (1 + step) / (10 + step))  # warm up: follow G closely at the start
    for p_ema, p in zip(G_ema.parameters(), G.parameters()):
        p_ema.lerp_(p, 1 - decay)
    for b_ema, b in zip(G_ema.buffers(), G.buffers()):
        b_ema.copy_(b)


def train_step(run: GANRun, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    """One discriminator update then one generator update. Returns [d_loss, g_loss, D(x), D(G(z))]."""
    cfg, G, D, rng = run.config, run.G, run.D, run.rng
    n, device = x.shape[0], x.device
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    z = torch.randn(n, G.z_dim, generator=rng, device=device)
    y_fake = torch.randint(0, G.num_classes, (n,), generator=rng, device=device) if G.num_classes else None
    y_real = y if G.num_classes else None
    if cfg.augment_degrees > 0:
        x = mnist.random_rotate(x, cfg.augment_degrees, rng)

    factor = cfg.lr_factor(run.step)
    for opt, lr in ((run.opt_d, cfg.lr_d), (run.opt_g, cfg.lr_g)):
        for group in opt.param_groups:
            group["lr"] = lr * factor

    # Discriminator: push D(x) up and D(G(z)) down. fake.detach(): this step must not update G.
    with autocast:
        fake = G(z, y_fake)
        real_logits = D(x, y_real)
        fake_logits = D(fake.detach(), y_fake)
        d_loss = discriminator_loss(real_logits.float(), fake_logits.float(), cfg.real_target)
    run.opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    run.opt_d.step()

    # Generator: make the (just updated) D call the same fakes real. D's weights are frozen for this
    # backward pass, which saves computing gradients nobody uses.
    D.requires_grad_(False)
    with autocast:
        g_loss = GENERATOR_LOSSES[cfg.loss](D(fake, y_fake).float())
    run.opt_g.zero_grad(set_to_none=True)
    g_loss.backward()
    run.opt_g.step()
    D.requires_grad_(True)
    if run.G_ema is not None:
        ema_update(run.G_ema, G, cfg.ema, run.step)

    with torch.no_grad():
        return torch.stack([d_loss, g_loss, torch.sigmoid(real_logits.float()).mean(),
                            torch.sigmoid(fake_logits.float()).mean()])


def _progress_bar(total, unit, enabled):
    if not enabled:
        return None
    mode = os.environ.get("CGAN_PROGRESS", "auto")  # "text" forces a plain text bar, e.g. for the HTML book
    if mode == "off":
        return None
    if mode == "text":
        from tqdm import tqdm
    else:
        from tqdm.auto import tqdm
    return tqdm(total=total, unit=unit, dynamic_ncols=True, mininterval=1.0)


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
) -> GANRun:
    """Train until the run has taken `steps` steps (or `epochs` epochs) in total, or for `seconds` more.

    `run` is a TrainConfig (a fresh run; or, if `out_dir` holds a checkpoint of the same config, that run
    resumed) or a GANRun to continue. `data` is (images in [-1, 1] (N, 1, 28, 28), labels) and defaults
    to the MNIST training set. With `out_dir`, a checkpoint is written there every
    `config.checkpoint_every` steps and at the end. Returns the run.
    """
    if steps is None and epochs is None and seconds is None:
        raise ValueError("say how long to train: steps=, epochs= or seconds=")
    ckpt_path = Path(out_dir) / "checkpoint.pt" if out_dir is not None else None
    if isinstance(run, TrainConfig):
        if ckpt_path is not None and ckpt_path.exists():
            resumed = load_checkpoint(ckpt_path, device=device)
            if asdict(resumed.config) != asdict(run):
                raise CheckpointError(f"{ckpt_path} was trained with another config; use a new out_dir or delete it")
            run = resumed
            print(f"resuming from {ckpt_path} at step {run.step}")
        else:
            run = new_run(run, device)
    cfg, device = run.config, run.device
    images, labels = data if data is not None else mnist.mnist_tensors("train", device)
    images, labels = images.to(device), labels.to(device)
    steps_per_epoch = len(images) // cfg.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"batch_size {cfg.batch_size} is larger than the dataset ({len(images)} images)")
    target = math.inf
    if steps is not None:
        target = min(target, steps)
    if epochs is not None:
        target = min(target, round(epochs * steps_per_epoch))
    snapshot_every = cfg.snapshot_every or steps_per_epoch
    deadline = time.perf_counter() + seconds if seconds is not None else math.inf

    bar = _progress_bar(int(seconds) if target == math.inf else target - run.step,
                        "s" if target == math.inf else "step", progress)
    pending: list[torch.Tensor] = []

    def flush():
        """Move buffered per-step stats to the history (one device sync), refusing NaN/inf."""
        if not pending:
            return
        stats = torch.stack(pending).double().cpu()
        first = run.step - len(pending) + 1
        pending.clear()
        bad = (~torch.isfinite(stats)).any(1).nonzero()
        if len(bad):
            i = int(bad[0])
            values = ", ".join(f"{k}={v:.4g}" for k, v in zip(HISTORY_KEYS, stats[i].tolist()))
            raise TrainingDiverged(
                f"training diverged at step {first + i}: {values}. No checkpoint was written after this; "
                "try a lower learning rate or another loss, and restart from the last checkpoint."
            )
        for k, column in zip(HISTORY_KEYS, stats.T.tolist()):
            run.history[k].extend(column)

    if run.step == 0 and not run.snapshots:
        run.snapshots.append((0, snapshot(run)))
    start, start_step, base_elapsed = time.perf_counter(), run.step, run.elapsed
    perm_epoch, perm = -1, None
    run.G.train(), run.D.train()
    while run.step < target and time.perf_counter() < deadline:
        epoch, i = divmod(run.step, steps_per_epoch)
        if epoch != perm_epoch:
            perm, perm_epoch = epoch_permutation(cfg.seed, epoch, len(images), device), epoch
        idx = perm[i * cfg.batch_size : (i + 1) * cfg.batch_size]
        pending.append(train_step(run, images[idx], labels[idx]))
        run.step += 1
        if run.step % log_every == 0 or run.step == target:
            flush()
            if bar is not None:
                now = time.perf_counter()
                # a step bar counts steps; a time bar counts whole seconds since the start
                bar.update((run.step - start_step if target != math.inf else int(now - start)) - bar.n)
                rate = (run.step - start_step) * cfg.batch_size / (now - start)
                h = run.history
                bar.set_postfix_str(f"D(x)={h['d_real'][-1]:.2f} D(G(z))={h['d_fake'][-1]:.2f} "
                                    f"lossD={h['d_loss'][-1]:.3f} lossG={h['g_loss'][-1]:.3f} {rate:.0f} img/s")
        if run.step % snapshot_every == 0:
            run.snapshots.append((run.step, snapshot(run)))
        if ckpt_path is not None and run.step % cfg.checkpoint_every == 0:
            flush()
            run.elapsed = base_elapsed + time.perf_counter() - start
            save_checkpoint(run, ckpt_path)
    flush()
    if bar is not None:
        bar.close()
    took = time.perf_counter() - start
    run.elapsed = base_elapsed + took
    if run.step > start_step:
        run.images_per_s = (run.step - start_step) * cfg.batch_size / took
    if run.snapshots[-1][0] != run.step:
        run.snapshots.append((run.step, snapshot(run)))
    if ckpt_path is not None:
        save_checkpoint(run, ckpt_path)
    return run


# ---------------------------------------------------------------------------------------------------------
# Checkpoints: plain tensors, numbers, strings, lists and dicts only, so torch.load(weights_only=True) reads them.


def save_checkpoint(run: GANRun, path: str | Path, include_training_state: bool = True) -> None:
    """Write `run` to `path` atomically. Without the training state it is a small, sample-only file."""
    for name, module in (("G", run.G), ("D", run.D)):
        if not all(torch.isfinite(p).all() for p in module.parameters()):
            raise TrainingDiverged(f"{name} has NaN/inf weights; refusing to write a poisoned checkpoint")
    state = {
        "format": CHECKPOINT_FORMAT,
        "version": 1,
        "config": asdict(run.config),
        "step": run.step,
        "elapsed": run.elapsed,
        "G": run.G.state_dict(),
        "G_ema": run.G_ema.state_dict() if run.G_ema is not None else None,
    }
    if include_training_state:
        state |= {
            "D": run.D.state_dict(),
            "opt_g": run.opt_g.state_dict(),
            "opt_d": run.opt_d.state_dict(),
            "rng": run.rng.get_state(),
            "rng_device": run.device.type,
            "history": {k: torch.tensor(v, dtype=torch.float64) for k, v in run.history.items()},
            "snapshot_steps": torch.tensor([s for s, _ in run.snapshots], dtype=torch.int64),
            "snapshot_images": torch.stack([im for _, im in run.snapshots]) if run.snapshots else torch.zeros(0),
        }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # a crash mid-write never leaves a truncated checkpoint behind


def read_checkpoint_file(path: str | Path, expected_format: str) -> dict:
    """torch.load a checkpoint safely (weights_only) and check it is one of ours, of the expected kind."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types for a bad file; say it plainly
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path} is not a readable checkpoint (truncated, corrupted or not a torch file): "
                              f"{first[:200]}") from None
    fmt = state.get("format") if isinstance(state, dict) else None
    if fmt != expected_format:
        what = f"a {fmt!r} file" if fmt else "not a cgan_lib checkpoint"
        raise CheckpointError(f"{path} is {what}; expected a {expected_format!r} checkpoint")
    return state


def _load_weights(module: nn.Module, weights: dict, path, what: str) -> None:
    try:
        module.load_state_dict(weights)
    except (RuntimeError, KeyError) as e:
        raise CheckpointError(f"{path}: the {what} weights do not fit the model its config names "
                              f"({str(e).splitlines()[0][:160]})") from None


def load_checkpoint(path: str | Path, device=None) -> GANRun:
    """A GANRun from a checkpoint written by `save_checkpoint`, ready to sample from or to train on."""
    state = read_checkpoint_file(path, CHECKPOINT_FORMAT)
    known = {f.name for f in fields(TrainConfig)}
    cfg_dict = state["config"]
    unknown = set(cfg_dict) - known
    if unknown:
        raise CheckpointError(f"{path}: config has unknown fields {sorted(unknown)} (written by a newer cgan_lib?)")
    try:
        config = TrainConfig(**cfg_dict)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: invalid config: {e}") from None
    try:
        run = new_run(config, device)
    except ValueError as e:  # e.g. a model name this version does not know
        raise CheckpointError(f"{path}: {e}") from None
    _load_weights(run.G, state["G"], path, "generator")
    if run.G_ema is not None:
        _load_weights(run.G_ema, state["G_ema"] or state["G"], path, "EMA generator")
    run.step, run.elapsed = int(state["step"]), float(state["elapsed"])
    if "D" in state:
        _load_weights(run.D, state["D"], path, "discriminator")
        run.opt_g.load_state_dict(state["opt_g"])
        run.opt_d.load_state_dict(state["opt_d"])
        if state["rng_device"] == run.device.type:
            run.rng.set_state(state["rng"])
        else:  # another device's generator state cannot be restored: reseed reproducibly instead
            run.rng.manual_seed(config.seed + run.step)
        run.history = {k: v.tolist() for k, v in state["history"].items()}
        run.snapshots = list(zip(state["snapshot_steps"].tolist(), state["snapshot_images"]))
    return run
