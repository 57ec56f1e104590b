"""A training run: its config, its two networks and their optimisers, its random state
and progress.

    config = TrainConfig(model="cdcgan", ema=0.999)
    run = new_run(config)          # fresh weights from config.seed, on the best device
    run.generator                  # the network to sample from (EMA copy if any)

`train.fit` advances a run; `checkpoint.save_checkpoint` / `load_checkpoint` store and
restore exactly this object, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields, replace

import torch
import torch.nn as nn

from .clusters import attach_clusters
from .errors import MAX_SEED, BadInput, check_range, truncated_repr
from .losses import LOSSES
from .models import add_spectral_norm, build, model_options

HISTORY_KEYS = ("d_loss", "g_loss", "d_real", "d_fake")  # per step; d_real = mean D(x)


# The accepted range of each numeric setting: TrainConfig checks them, and the command
# line's flags take their ranges from here (so a limit is written once).
RANGES = {
    "batch_size": dict(lo=1, hi=65536, integer=True),
    "lr_g": dict(lo=0, hi=1),  # 0 freezes a player: chapter 3's head start
    "lr_d": dict(lo=0, hi=1),
    "ema": dict(lo=0, hi=0.99999),
    "augment_degrees": dict(lo=0, hi=180),
    "real_target": dict(lo=0, hi=1, lo_open=True),
    "r1": dict(lo=0, hi=1e4),
    "r2": dict(lo=0, hi=1e4),
    "gp_weight": dict(lo=0, hi=1e4),
    "seed": dict(lo=0, hi=MAX_SEED, integer=True),
    "snapshot_every": dict(lo=0, integer=True),
    "checkpoint_every": dict(lo=1, integer=True),
    "checkpoint_seconds": dict(lo=0, lo_open=True),
}


@dataclass
class TrainConfig:
    """What decides a run's weights, plus how often it is observed and saved."""

    model: str = "cdcgan"
    # overrides of models.MODELS[model]
    model_kwargs: dict = field(default_factory=dict)
    # the losses of chapter 3 ("nonsaturating", "saturating"), or chapter 9's "hinge",
    # "lsgan", "wgan-gp" (each one a D loss and a G loss; see losses.LOSSES)
    loss: str = "nonsaturating"
    batch_size: int = 128
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple = (0.5, 0.999)  # Adam, as in the DCGAN paper
    ema: float = 0.0  # decay of an average of G's weights used for sampling; 0 = off
    augment_degrees: float = 0.0  # random rotation of real digits, in degrees
    real_target: float = 1.0  # < 1 is one-sided label smoothing
    # bf16 autocast on a GPU (not faster for these networks: bench/README.md)
    mixed_precision: bool = False
    # (start_step, end_step): rates fall linearly to 0; () = constant
    lr_decay: tuple = ()
    # Chapter 9's regularisers of D: 0 / False = off
    spectral_norm: bool = False  # every weight of D divided by its spectral norm
    r1: float = 0.0  # gamma of the R1 penalty, gamma/2 E|grad D(x)|^2 on reals
    r2: float = 0.0  # the same on fakes
    gp_weight: float = 10.0  # lambda of WGAN-GP's penalty (loss="wgan-gp" only)
    seed: int = 0
    # Bookkeeping: how the run is observed and saved. It never changes the weights, so a
    # resumed run may change it freely (see weight_settings).
    # steps between snapshots of the fixed latent grid; 0 = per epoch
    snapshot_every: int = 0
    checkpoint_every: int = 1000  # steps between checkpoints (when fit has an out_dir)
    checkpoint_seconds: float = 60.0  # ... and at least this often in wall time

    def __post_init__(self):
        if self.loss not in LOSSES:
            choices = ", ".join(LOSSES)
            raise BadInput(f"loss must be one of {choices}, got {self.loss!r}")
        self.model_kwargs = dict(self.model_kwargs)
        if not isinstance(self.mixed_precision, bool):
            raise BadInput(
                f"mixed_precision must be True or False, got {self.mixed_precision!r}"
            )
        model_options(self.model, self.model_kwargs)  # a bad model option fails now
        for name, accepted in RANGES.items():
            setattr(self, name, check_range(name, getattr(self, name), **accepted))
        if len(self.betas) != 2:
            raise BadInput(f"betas must be two numbers in [0, 1), got {self.betas!r}")
        self.betas = tuple(check_range("beta", b, 0, 0.9999) for b in self.betas)
        if self.real_target != 1 and self.loss not in ("nonsaturating", "saturating"):
            raise BadInput(
                "real_target < 1 (label smoothing) is for the cross-entropy losses "
                f"(nonsaturating, saturating), not loss={self.loss!r}"
            )
        if not isinstance(self.spectral_norm, bool):
            raise BadInput(
                f"spectral_norm must be True or False, got {self.spectral_norm!r}"
            )
        self.lr_decay = tuple(
            check_range("lr_decay step", s, 0, 10**9, integer=True)
            for s in self.lr_decay
        )
        if self.lr_decay and not (
            len(self.lr_decay) == 2 and self.lr_decay[0] < self.lr_decay[1]
        ):
            raise BadInput(
                "lr_decay must be (start_step, end_step) with start < end, "
                f"got {self.lr_decay}"
            )

    def lr_factor(self, step: int) -> float:
        """Learning-rate multiplier at `step`: a pure function of the step, so resuming
        is exact.
        """
        if not self.lr_decay:
            return 1.0
        start, end = self.lr_decay
        return min(1.0, max(0.0, (end - step) / (end - start)))


BOOKKEEPING = ("snapshot_every", "checkpoint_every", "checkpoint_seconds")


def weight_settings(config: TrainConfig) -> dict:
    """What decides the weights: the config without bookkeeping, model options in full.

    Two configs with equal weight settings train identical weights, so a run may resume
    under either, whether a default is written out or left implicit.
    """
    settings = {k: v for k, v in asdict(config).items() if k not in BOOKKEEPING}
    settings["model_kwargs"] = model_options(config.model, config.model_kwargs)
    return settings


def with_bookkeeping_of(config: TrainConfig, other: TrainConfig) -> TrainConfig:
    """`config` with the snapshot and checkpoint cadence of `other`."""
    return replace(config, **{k: getattr(other, k) for k in BOOKKEEPING})


def config_from_dict(values: dict) -> TrainConfig:
    """A TrainConfig from a saved dict; BadInput names unknown fields (a newer
    cgan_lib?).
    """
    unknown = set(values) - {f.name for f in fields(TrainConfig)}
    if unknown:
        raise BadInput(
            f"unknown config fields {sorted(unknown)} (written by a newer cgan_lib?)"
        )
    return TrainConfig(**values)


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """The device to train on: the one asked for, else cuda > mps > cpu."""
    if device is None or str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        return torch.device("mps" if mps is not None and mps.is_available() else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise BadInput(
            f"unknown device {truncated_repr(device)}; use auto, cpu, cuda or mps"
        ) from None
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": getattr(torch.backends, "mps", None) is not None
        and torch.backends.mps.is_available(),
    }
    if not available.get(device.type, False):
        usable = ", ".join(k for k, ok in available.items() if ok)
        raise BadInput(
            f"device {str(device)!r} is not available here; available: {usable}"
        )
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise BadInput(
            f"{device} does not exist: this machine has "
            f"{torch.cuda.device_count()} GPU(s)"
        )
    return device


@dataclass
class GANRun:
    """Everything a training run has: models, optimisers, progress. A checkpoint stores
    this.
    """

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
    interrupted: bool = False  # the last fit() call was stopped by Ctrl-C or SIGTERM
    # (G, D) wrapped in DistributedDataParallel while fit runs on several processes
    # (chapter 13); never saved
    parallel: tuple | None = None

    @property
    def generator(self) -> nn.Module:
        """The generator to sample from: the EMA copy when there is one."""
        return self.G_ema if self.G_ema is not None else self.G

    @property
    def players(self) -> tuple[nn.Module, nn.Module]:
        """(G, D) as the training step calls them: the networks themselves, or on
        several processes their DistributedDataParallel wrappers (chapter 13).
        """
        return self.parallel if self.parallel is not None else (self.G, self.D)

    @property
    def device(self) -> torch.device:
        return next(self.G.parameters()).device


def new_run(config: TrainConfig, device=None, *, clustering: bool = True) -> GANRun:
    """A fresh run: weights drawn from config.seed, Adam optimisers, a seeded random
    stream. A self-conditioned DCGAN (model_kwargs clusters=K) clusters the training
    digits (each digit's, for the conditional one) here (`clusters.attach_clusters`);
    `clustering=False` skips that for a run whose weights, centres included, are
    about to be loaded from a file.
    """
    device = pick_device(device)
    torch.manual_seed(config.seed)  # initial weights depend on the seed only
    G, D = build(config.model, **config.model_kwargs)
    if clustering and D.centres is not None:
        attach_clusters(G, D, config.seed)
    if config.spectral_norm:
        add_spectral_norm(D)
    G, D = G.to(device), D.to(device)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False) if config.ema > 0 else None
    # one kernel per step instead of one per tensor on a GPU (bench/README.md)
    fused = device.type == "cuda"
    opt_g = torch.optim.Adam(
        G.parameters(), lr=config.lr_g, betas=config.betas, fused=fused
    )
    opt_d = torch.optim.Adam(
        D.parameters(), lr=config.lr_d, betas=config.betas, fused=fused
    )
    rng = torch.Generator(device=device)
    rng.manual_seed(config.seed)
    return GANRun(config, G, D, G_ema, opt_g, opt_d, rng)
