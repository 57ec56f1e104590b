"""The project's MNIST classifier, the reader every score of the book is built on.

A small CNN trained once on MNIST's training set (`python -m cgan_lib
train-classifier`) and shipped as pretrained/classifier.pt with its card. `predict`
gives both what it reads (a label per digit) and its penultimate features (what the
Fréchet distance, KID and PRDC compare: distances.py). `check_images` is the boundary
check of every batch of digits the scores accept.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .checkpoint import PRETRAINED_DIR, read_file, write_file
from .data import load_mnist, mnist_tensors, random_rotate, to_signed, to_uint8
from .errors import BadInput, CheckpointError
from .run import pick_device

CLASSIFIER_PATH = PRETRAINED_DIR / "classifier.pt"


class MNISTClassifier(nn.Module):
    """A small CNN: three 3x3 conv blocks (32, 64, 128 channels) with max pooling, a
    128-d feature layer, 10 logits.
    """

    def __init__(self):
        super().__init__()

        def block(c_in, c_out):
            return [
                nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(True),
                nn.MaxPool2d(2),
            ]

        self.body = nn.Sequential(
            *block(1, 32),
            *block(32, 64),
            *block(64, 128),
            nn.Flatten(),
            nn.Linear(128 * 3 * 3, 128),
            nn.ReLU(True),
        )
        self.dropout = nn.Dropout(0.3)
        self.out = nn.Linear(128, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The 128-d penultimate features, the space the Fréchet distance is measured
        in.
        """
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.dropout(self.features(x)))


def _as_signed(images) -> torch.Tensor:
    """uint8 (N, 28, 28) or float in [-1, 1] (N, 1, 28, 28) -> float (N, 1, 28, 28) in
    [-1, 1].
    """
    images = torch.as_tensor(images)
    if images.dtype == torch.uint8:
        return to_signed(images)
    return images.float().reshape(-1, 1, 28, 28)


MAX_SAMPLES = 100_000


def check_images(images, path="images") -> torch.Tensor:
    images = images.numpy() if torch.is_tensor(images) else np.asarray(images)
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise BadInput(
            f"{path}: images must have shape (N, 28, 28); got {images.shape}"
        )
    if not 1 <= len(images) <= MAX_SAMPLES:
        raise BadInput(
            f"{path}: {len(images)} images; between 1 and {MAX_SAMPLES} are scored"
        )
    if images.dtype.kind in "ui":
        if images.min() < 0 or images.max() > 255:
            raise BadInput(f"{path}: integer images must lie in 0..255")
        return torch.from_numpy(images.astype(np.uint8))
    if images.dtype.kind != "f":
        raise BadInput(
            f"{path}: images must be integers 0..255 or floats; got {images.dtype}"
        )
    if not np.isfinite(images).all():
        raise BadInput(f"{path}: images hold NaN or infinite values")
    lo, hi = float(images.min()), float(images.max())
    if lo >= 0 and hi <= 1:  # [0, 1]
        return torch.from_numpy(np.round(images * 255).astype(np.uint8))
    if lo >= -1 and hi <= 1:  # [-1, 1], the generator's scale
        return to_uint8(torch.from_numpy(images.astype(np.float32)))
    raise BadInput(
        f"{path}: float images must lie in [-1, 1] or [0, 1]; "
        f"these span {lo:.3g}..{hi:.3g} "
        "(integers 0..255 are accepted too)"
    )


def check_labels(labels, n: int, path="labels") -> torch.Tensor | None:
    if labels is None:
        return None
    labels = labels.numpy() if torch.is_tensor(labels) else np.asarray(labels)
    if labels.dtype.kind not in "ui" or labels.shape != (n,):
        raise BadInput(
            f"{path}: labels must be {n} integers 0..9 (one per image); "
            f"got {labels.dtype} of shape {labels.shape}"
        )
    if labels.min() < 0 or labels.max() > 9:
        raise BadInput(
            f"{path}: labels must be 0..9; got {labels.min()}..{labels.max()}"
        )
    return torch.from_numpy(labels.astype(np.int64))


def train_classifier(
    epochs: int = 6,
    seed: int = 0,
    batch_size: int = 128,
    device=None,
    progress: bool = True,
):
    """Train the classifier on MNIST's training set (with small random rotations) and
    return (model, test accuracy).
    """
    from tqdm.auto import tqdm

    device = pick_device(device)
    torch.manual_seed(seed)
    g = torch.Generator(device=device).manual_seed(seed)
    x, y = mnist_tensors("train", device)
    model = MNISTClassifier().to(device)
    steps_per_epoch = len(x) // batch_size
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=3e-3, total_steps=epochs * steps_per_epoch
    )
    bar = tqdm(total=epochs * steps_per_epoch, disable=not progress, unit="step")
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(x), generator=g, device=device)
        for i in range(steps_per_epoch):
            idx = perm[i * batch_size : (i + 1) * batch_size]
            # robustness to the slants GAN digits have
            xb = random_rotate(x[idx], 10, g)
            loss = F.cross_entropy(model(xb), y[idx], label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.update()
        acc = accuracy(model, *load_mnist("test"))
        bar.set_postfix_str(f"epoch {epoch + 1} test accuracy {acc:.4f}")
    bar.close()
    return model.eval(), acc


@torch.no_grad()
def predict(
    model: MNISTClassifier, images, batch: int = 2000
) -> tuple[torch.Tensor, torch.Tensor]:
    """(predicted labels (N,), penultimate features (N, 128)) for uint8 or [-1, 1]
    images.
    """
    model.eval()
    device = next(model.parameters()).device
    x = _as_signed(images)
    preds, feats = [], []
    for i in range(0, len(x), batch):
        f = model.features(x[i : i + batch].to(device))
        feats.append(f.cpu())
        preds.append(model.out(f).argmax(1).cpu())
    return torch.cat(preds), torch.cat(feats).double()


def accuracy(model: MNISTClassifier, images, labels) -> float:
    preds, _ = predict(model, images)
    return (preds == torch.as_tensor(labels)).float().mean().item()


def save_classifier(model: MNISTClassifier, path: str | Path, card: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_file({"weights": model.state_dict()}, path, "classifier")
    path.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")


@lru_cache(maxsize=4)
def load_classifier(path: str | Path = CLASSIFIER_PATH) -> MNISTClassifier:
    """The project's MNIST classifier (the shipped one by default), in eval mode, on the
    CPU.
    """
    state = read_file(path, "classifier")
    model = MNISTClassifier()
    try:
        model.load_state_dict(state["weights"])
    except (RuntimeError, KeyError) as e:
        raise CheckpointError(
            f"{path}: weights do not fit the classifier "
            f"({str(e).splitlines()[0][:160]})"
        ) from None
    return model.eval()
