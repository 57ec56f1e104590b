"""Files: what a checkpoint holds, how it is written and checked, and the shipped
models.

Every file the library writes is a dict of plain tensors, numbers, strings, lists and
dicts (so `torch.load(..., weights_only=True)` reads it without running code) that says
what it is:

    {"format": "cgan_lib", "kind": "run" | "generator" | "classifier",
     "version": 2, ...}

- a *run* (`save_checkpoint`): both networks, optimisers, random state, history; it
  resumes exactly;
- a *generator* (`save_generator`): the network to sample from, in float16, a fraction
  of the size;
- a *classifier*: the MNIST classifier the scores are built on (digit_classifier.py).

Reading checks the format, the kind, the version and that every weight is finite, and
names what it found and what it wanted. Writing goes to a temporary file unique to the
writer, then an atomic rename, so a crash never leaves half a file and two writers never
share a temporary name. `RunLock` keeps a second process from writing into a run folder
that a live one is using.
"""

from __future__ import annotations

import json
import math
import os
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn as nn

from .errors import (
    BadInput,
    CganError,
    CheckpointError,
    RunLocked,
    TrainingDiverged,
    truncated_repr,
)
from .mnist_files import write_atomically
from .run import GANRun, config_from_dict, new_run, pick_device

try:  # POSIX (Linux, macOS, Colab); on Windows runs are not locked
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

FORMAT, VERSION = "cgan_lib", 2
KINDS = {
    "run": "a resumable training run",
    "generator": "a sample-only generator",
    "classifier": "the MNIST classifier",
}
# Version 1 files (the first edition's) named their kind in the format field.
LEGACY_FORMATS = {"cgan_lib.gan": None, "cgan_lib.classifier": "classifier"}
PRETRAINED_DIR = Path(__file__).parent / "pretrained"


def write_file(state: dict, path: str | Path, kind: str) -> Path:
    """torch.save `state`, labelled as `kind`, to `path` atomically (readers see the
    old file or the new one, never half of one; see mnist_files.write_atomically)."""
    path = Path(path)
    state = {"format": FORMAT, "kind": kind, "version": VERSION, **state}
    write_atomically(path, lambda f: torch.save(state, f))
    return path


def _non_finite(state, prefix=""):
    """The name of the first tensor in `state` holding NaN or inf, or None."""
    if torch.is_tensor(state):
        if state.is_floating_point() and not torch.isfinite(state).all():
            return prefix or "tensor"
        return None
    items = state.items() if isinstance(state, dict) else []
    for key, value in items:
        found = _non_finite(value, f"{prefix}.{key}" if prefix else str(key))
        if found:
            return found
    return None


def read_file(path: str | Path, kind: str | tuple[str, ...]) -> dict:
    """Load a file written by `write_file`; check it is ours and of one of `kind`."""
    path, wanted = Path(path), (kind,) if isinstance(kind, str) else kind
    want = " or ".join(KINDS[k] for k in wanted)
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder; expected a file holding {want}")
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist; expected a file holding {want}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types for a bad file
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise CheckpointError(
            f"{path} is not a readable checkpoint (truncated, corrupted or not a torch "
            f"file): {first}"
        ) from None
    fmt = state.get("format") if isinstance(state, dict) else None
    if fmt in LEGACY_FORMATS:
        found = LEGACY_FORMATS[fmt] or ("run" if "D" in state else "generator")
    elif fmt == FORMAT:
        found = state.get("kind")
    else:
        raise CheckpointError(f"{path} is not a cgan_lib checkpoint; expected {want}")
    if not isinstance(state.get("version", 0), int):
        raise CheckpointError(f"{path}: its version field is not a number")
    if state.get("version", 0) > VERSION:
        raise CheckpointError(
            f"{path} was written by a newer cgan_lib (file version {state['version']}; "
            f"this one reads up to {VERSION}): upgrade cgan_lib to read it"
        )
    if found not in wanted:
        raise CheckpointError(
            f"{path} holds {KINDS.get(found, repr(found))}; expected {want}"
        )
    # weights, and the optimisers' moment estimates, which would poison a resumed run
    tensors = ("G", "G_ema", "D", "weights", "opt_g", "opt_d")
    bad = _non_finite({k: state.get(k) for k in tensors})
    if bad:
        raise CheckpointError(
            f"{path} holds NaN or infinite weights ({bad}); it cannot be used"
        )
    return state


def _load_weights(module: nn.Module, weights: dict, path, what: str) -> None:
    try:
        module.load_state_dict(weights)
    except (RuntimeError, KeyError) as e:
        raise CheckpointError(
            f"{path}: the {what} weights do not fit the model its config names "
            f"({str(e).splitlines()[0][:160]})"
        ) from None


def _check_finite(run: GANRun) -> None:
    for name, module in (("G", run.G), ("D", run.D)):
        if not all(torch.isfinite(p).all() for p in module.parameters()):
            raise TrainingDiverged(
                f"{name} has NaN/inf weights; refusing to write a checkpoint"
            )


def save_checkpoint(run: GANRun, path: str | Path) -> Path:
    """Write the whole run (kind "run"), from which training resumes exactly."""
    _check_finite(run)
    return write_file(
        {
            "config": asdict(run.config),
            "step": run.step,
            "elapsed": run.elapsed,
            "G": run.G.state_dict(),
            "G_ema": run.G_ema.state_dict() if run.G_ema is not None else None,
            "D": run.D.state_dict(),
            "opt_g": run.opt_g.state_dict(),
            "opt_d": run.opt_d.state_dict(),
            "rng": run.rng.get_state(),
            "rng_device": run.device.type,
            "history": {
                k: torch.tensor(v, dtype=torch.float64) for k, v in run.history.items()
            },
            "snapshot_steps": torch.tensor(
                [s for s, _ in run.snapshots], dtype=torch.int64
            ),
            "snapshot_images": torch.stack([im for _, im in run.snapshots])
            if run.snapshots
            else torch.zeros(0),
        },
        path,
        "run",
    )


def save_generator(run: GANRun, path: str | Path) -> Path:
    """Write only the generator one samples from (the EMA copy when there is one), in
    float16.

    A small, sample-only file (kind "generator"); its weights load back as float32.
    """
    _check_finite(run)
    weights = {
        k: v.half() if v.is_floating_point() else v
        for k, v in run.generator.state_dict().items()
    }
    state = {
        "config": asdict(run.config),
        "step": run.step,
        "elapsed": run.elapsed,
        "G": weights,
    }
    return write_file(state, path, "generator")


def _run_from_state(state: dict, path, device) -> GANRun:
    try:
        run = new_run(config_from_dict(state["config"]), device, clustering=False)
    except BadInput as e:  # e.g. a model name or option this version does not know
        raise CheckpointError(f"{path}: {e}") from None
    _load_weights(run.G, state["G"], path, "generator")
    if run.G_ema is not None:
        _load_weights(
            run.G_ema, state.get("G_ema") or state["G"], path, "EMA generator"
        )
    run.step, run.elapsed = int(state["step"]), float(state["elapsed"])
    if run.step < 0 or not math.isfinite(run.elapsed):
        raise CheckpointError(f"{path}: step or elapsed time out of range")
    return run


@contextmanager
def damaged_file_errors(path):
    """Inside this, a malformed field of `path` becomes a CheckpointError naming it."""
    try:
        yield
    except CganError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as e:
        detail = (str(e).splitlines() or [type(e).__name__])[0][:120]
        raise CheckpointError(
            f"{path} is damaged: a field is missing or malformed "
            f"({type(e).__name__}: {detail})"
        ) from None


def load_checkpoint(path: str | Path, device=None) -> GANRun:
    """The GANRun of a run file written by `save_checkpoint`, ready to train on or
    sample from.
    """
    state = read_file(path, "run")
    with damaged_file_errors(path):
        return _resumable_run(state, path, device)


def _resumable_run(state: dict, path, device) -> GANRun:
    run = _run_from_state(state, path, device)
    _load_weights(run.D, state["D"], path, "discriminator")
    for opt, key in ((run.opt_g, "opt_g"), (run.opt_d, "opt_d")):
        opt.load_state_dict(state[key])
        for group in opt.param_groups:  # fused Adam is a GPU choice: follow this device
            group["fused"] = run.device.type == "cuda"
    if state["rng_device"] == run.device.type:
        run.rng.set_state(state["rng"])
    else:  # another device's generator state cannot be restored: reseed reproducibly
        run.rng.manual_seed(run.config.seed + run.step)
    run.history = {k: v.tolist() for k, v in state["history"].items()}
    run.snapshots = list(
        zip(state["snapshot_steps"].tolist(), state["snapshot_images"])
    )
    return run


def load_generator(path: str | Path, device=None) -> nn.Module:
    """The generator of a run or generator file (its EMA copy if trained with one), in
    eval mode.
    """
    state = read_file(path, ("run", "generator"))
    with damaged_file_errors(path):
        run = _run_from_state(state, path, pick_device(device) if device else "cpu")
    return run.generator.eval()


def shipped_names() -> list[str]:
    return sorted(p.stem for p in PRETRAINED_DIR.glob("*.pt") if p.stem != "classifier")


def pretrained(name: str = "cdcgan", device=None) -> nn.Module:
    """A shipped generator by name (cgan_lib/pretrained/NAME.json says how it was
    trained).
    """
    if name not in shipped_names():
        raise BadInput(
            f"no shipped model {truncated_repr(name)}; "
            f"shipped: {', '.join(shipped_names())}"
        )
    return load_generator(PRETRAINED_DIR / f"{name}.pt", device)


def model_card(name: str) -> dict:
    """A shipped generator's card: command, config, seed, device, time, scores."""
    path = PRETRAINED_DIR / f"{name}.json"
    if name not in shipped_names() or not path.is_file():
        raise BadInput(
            f"no model card for {name!r}; shipped: {', '.join(shipped_names())}"
        )
    return json.loads(path.read_text())


def check_ship_name(name: str) -> str:
    """A model name for the pretrained folder: letters, digits, '_' and '-', nothing
    that leaves it.
    """
    if (
        not name
        or not all(ch.isalnum() or ch in "_-" for ch in name)
        or name == "classifier"
    ):
        raise BadInput(
            "--name must be letters, digits, '_' or '-' (and not 'classifier'), "
            f"got {truncated_repr(name)}"
        )
    return name


class RunLock:
    """An exclusive lock on a run folder while one process trains into it.

    The operating system drops the lock when its process ends, even by `kill -9`, so a
    stale lock never blocks the next run. The lock file holds the owner's process id,
    for the message.
    """

    def __init__(self, folder: str | Path):
        self.folder, self.file = Path(folder), None

    def __enter__(self) -> RunLock:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.file = open(self.folder / ".lock", "a+")
        except OSError as e:
            raise BadInput(
                f"cannot write to {self.folder} ({e.strerror}); choose another folder"
            ) from None
        if fcntl is not None:
            try:
                fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self.file.seek(0)
                owner = self.file.read().strip() or "unknown"
                self.file.close()
                raise RunLocked(
                    f"{self.folder} is in use by another training process "
                    f"(pid {owner}); "
                    "wait for it to finish, or choose another output folder"
                ) from None
        self.file.truncate(0)
        self.file.write(str(os.getpid()))
        self.file.flush()
        return self

    def __exit__(self, *exc) -> None:
        self.file.close()  # closing releases the lock


def json_text(values: dict, indent: int | None = 2) -> str:
    """JSON without NaN or infinity (which are not JSON): those become null."""

    def clean(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    return json.dumps(clean(values), indent=indent, allow_nan=False)
