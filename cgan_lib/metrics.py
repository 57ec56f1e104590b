"""How good are the forgeries? Scores built on the project's own MNIST classifier.

- accuracy: the fraction of generated digits the classifier reads as the label they were
  drawn for (overall and per label): does the conditional generator draw the digit you
  asked for?
- Fréchet distance (FD): the distance between Gaussians fitted to the classifier's
  penultimate features of generated and of real held-out digits (Heusel et al. 2017's
  FID, with an MNIST network instead of Inception): do the forgeries look like, and vary
  like, real digits?
- class histogram: what an *unconditional* generator draws; a collapsed one draws a few
  digits only.

Every score comes with the real-data reference computed the same way: a random half of
the MNIST test set scored against the other half, with the same number of samples.
"""

from __future__ import annotations

import json
import time
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import data as mnist
from .checkpoint import PRETRAINED_DIR, read_file, write_file
from .errors import BadInput, CheckpointError
from .run import pick_device
from .sample import generate, sample_by_label

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
        return mnist.to_signed(images)
    return images.float().reshape(-1, 1, 28, 28)


MAX_SAMPLES = 100_000


def load_samples(path: str | Path) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Digits to score, from an .npz file: (uint8 images (N, 28, 28), int64 labels or
    None).

    The file holds `images` of shape (N, 28, 28) or (N, 1, 28, 28), as written by
    `python -m cgan_lib sample` or by your own code, in one of three scales: integers
    0..255, floats in [-1, 1] (a generator's tanh output), or floats in [0, 1]. A float
    array whose values all lie in [0, 1] is read as [0, 1]. An optional `labels` array
    holds what each digit was drawn as (N integers 0..9). Anything else is refused with
    a message that names the problem.
    """
    path = Path(path)
    if path.is_dir() or not path.is_file():
        what = "a folder" if path.is_dir() else "missing"
        raise BadInput(
            f"{path} is {what}; expected an .npz file with an 'images' array"
        )
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise BadInput(f"{path} is not a readable .npz file ({str(e)[:120]})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise BadInput(
            f"{path} holds a single array (.npy); expected an .npz archive: "
            "np.savez(path, images=images, labels=labels)"
        )
    with archive:
        if "images" not in archive.files:
            raise BadInput(f"{path} has no 'images' array (it has: {archive.files})")
        try:
            images = archive["images"]
            labels = archive["labels"] if "labels" in archive.files else None
        except ValueError as e:  # e.g. an object array, which would need pickle
            raise BadInput(f"{path}: cannot read its arrays ({str(e)[:100]})") from None
    return _checked_images(images, path), _checked_labels(labels, len(images), path)


def _checked_images(images, path="images") -> torch.Tensor:
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
        return mnist.to_uint8(torch.from_numpy(images.astype(np.float32)))
    raise BadInput(
        f"{path}: float images must lie in [-1, 1] or [0, 1]; "
        f"these span {lo:.3g}..{hi:.3g} "
        "(integers 0..255 are accepted too)"
    )


def _checked_labels(labels, n: int, path="labels") -> torch.Tensor | None:
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
    x, y = mnist.mnist_tensors("train", device)
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
            xb = mnist.random_rotate(
                x[idx], 10, g
            )  # robustness to the slants GAN digits have
            loss = F.cross_entropy(model(xb), y[idx], label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.update()
        acc = accuracy(model, *mnist.load_mnist("test"))
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


def frechet_distance(feats_a: torch.Tensor, feats_b: torch.Tensor) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) between Gaussians fitted to
    two feature sets.

    The matrix square root is scipy.linalg.sqrtm (a well-tested Schur method), not
    hand-rolled; the tiny imaginary part that rounding can leave is dropped, as in the
    reference FID code.
    """
    from scipy import linalg

    a, b = np.asarray(feats_a, dtype=np.float64), np.asarray(feats_b, dtype=np.float64)
    if len(a) < 2 or len(b) < 2:
        raise BadInput("the Fréchet distance needs at least 2 samples on each side")
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(s_a @ s_b)  # (no disp=: newer SciPy dropped it)
    if not np.isfinite(covmean).all():
        # a singular product: nudge both diagonals, as the reference code does
        eps = np.eye(len(s_a)) * 1e-6
        covmean = linalg.sqrtm((s_a + eps) @ (s_b + eps))
    covmean = covmean.real
    return float(
        ((mu_a - mu_b) ** 2).sum()
        + np.trace(s_a)
        + np.trace(s_b)
        - 2 * np.trace(covmean)
    )


@lru_cache(maxsize=8)
def reference_halves(seed: int = 0):
    """A random split of the MNIST test set into two halves A and B (its first and
    second halves come from different writers, so split at random). B is the held-out
    reference every sample set is compared with.
    """
    images, labels = mnist.load_mnist("test")
    perm = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    a, b = perm[: len(perm) // 2], perm[len(perm) // 2 :]
    return (images[a], labels[a]), (images[b], labels[b])


@lru_cache(maxsize=8)
def _reference_features(classifier_path: str, seed: int = 0):
    model = load_classifier(classifier_path)
    _, (images_b, _) = reference_halves(seed)
    return predict(model, images_b)[1]


def score(
    images, labels=None, classifier_path: str | Path = CLASSIFIER_PATH, seed: int = 0
) -> dict:
    """Scores of a set of digits against the held-out half B of the test set.

    `images` are accepted in the scales `load_samples` accepts (uint8 0..255, floats in
    [-1, 1] or [0, 1]; (N, 28, 28) or (N, 1, 28, 28)) and refused otherwise.

    With `labels` (what each digit was drawn as): accuracy overall and per label.
    Always: Fréchet distance, class histogram of the classifier's readings, and coverage
    (classes holding >= 5% of the samples).
    """
    model = load_classifier(str(classifier_path))
    images = _checked_images(images)
    labels = _checked_labels(labels, len(images))
    preds, feats = predict(model, images)
    hist = torch.bincount(preds, minlength=10)
    out = {
        "n": len(images),
        "frechet_distance": frechet_distance(
            feats, _reference_features(str(classifier_path), seed)
        ),
        "class_histogram": hist.tolist(),
        "coverage": int((hist >= 0.05 * len(images)).sum()),
    }
    if labels is not None:
        labels = torch.as_tensor(labels)
        correct = preds == labels
        out["accuracy"] = correct.float().mean().item()
        out["accuracy_per_label"] = [
            correct[labels == d].float().mean().item() if (labels == d).any() else None
            for d in range(10)
        ]
    return out


def real_reference(
    n: int = 5000, classifier_path: str | Path = CLASSIFIER_PATH, seed: int = 0
) -> dict:
    """The same scores for n real digits from test half A: what a perfect generator
    would get.
    """
    (images_a, labels_a), _ = reference_halves(seed)
    if n > len(images_a):
        raise BadInput(f"the reference half has {len(images_a)} digits; asked for {n}")
    idx = torch.randperm(
        len(images_a), generator=torch.Generator().manual_seed(seed + 1)
    )[:n]
    return score(images_a[idx], labels_a[idx], classifier_path, seed)


def evaluate_generator(G: nn.Module, per_class: int = 500, seed: int = 0) -> dict:
    """Scores of a generator: per_class samples of each digit (conditional) or 10 *
    per_class (unconditional).
    """
    start = time.perf_counter()
    if G.num_classes:
        images, labels = sample_by_label(G, per_class, seed=seed)
    else:
        images, labels = mnist.to_uint8(generate(G, n=10 * per_class, seed=seed)), None
    out = score(images, labels)
    out["seconds"] = time.perf_counter() - start
    return out


def format_table(rows: dict[str, dict]) -> str:
    """A plain-text table of scores, one row per model or real data, 76 columns wide."""
    head = ["model", "n", "accuracy", "worst label", "Fréchet", "classes"]
    widths = (-28, 6, 9, 12, 8, 8)  # negative: left-aligned
    lines = []
    for name, s in [(None, None), *rows.items()]:
        if name is None:
            cells = head
        else:
            acc = f"{s['accuracy']:.4f}" if s.get("accuracy") is not None else "-"
            per, worst = s.get("accuracy_per_label"), "-"
            if per:
                d = int(np.nanargmin([np.nan if v is None else v for v in per]))
                worst = f"{d}: {per[d]:.3f}"
            fd = f"{s['frechet_distance']:.2f}"
            cells = [name[:28], s["n"], acc, worst, fd, s["coverage"]]
        lines.append(
            " ".join(
                f"{c:<{-w}}" if w < 0 else f"{c:>{w}}" for c, w in zip(cells, widths)
            )
        )
        if name is None:
            lines.append("-" * len(lines[0]))
    return "\n".join(lines)
