"""Scoring generators: every score of chapter 12 with its spread, the real-data
references, and the tables.

The pieces come from three modules: `classifier` (the MNIST network that reads the
digits), `distances` (FD, KID, precision/recall/density/coverage on its features) and
`memorisation` (nearest training digits). Here they are put together:

- `score(images, labels)`: every score, each a mean over disjoint draws with its
  spread, against a held-out half of the test set (`data.reference_halves`);
  `real_reference` is the same for real digits, `evaluate_generator` for a generator.
- `TestSetFD`: the book's one yardstick, the Fréchet distance of 10,000 digits to the
  10,000 test digits, beside what real training digits score ("× real").
- `format_table`: the rows chapter 12 and the command line print.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from .data import load_mnist, reference_halves, to_uint8
from .digit_classifier import (
    CLASSIFIER_PATH,
    MAX_SAMPLES,
    check_images,
    check_labels,
    load_classifier,
    predict,
)
from .distances import PRDC_K, frechet_distance, frechet_terms, kernel_distance, prdc
from .errors import BadInput, check_range
from .memorisation import copy_threshold, nearest_training_digits
from .mnist_files import cache_dir, write_atomically
from .sample import generate, sample_by_label


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
    return check_images(images, path), check_labels(labels, len(images), path)


@functools.lru_cache(maxsize=8)
def _reference_features(classifier_path: str, seed: int = 0):
    model = load_classifier(classifier_path)
    _, (images_b, _) = reference_halves(seed)
    return predict(model, images_b)[1]


# ------------------------------------------------------------------------------------
# All scores, each with its spread over repeated draws.

REPEATS = 5  # disjoint draws each score is computed on: the mean and its spread
MEMO_SAMPLES = 500  # digits whose nearest training digit is searched (60,000 each)
SCORE_NAMES = (
    "accuracy",
    "frechet_distance",
    "fd_mean_term",
    "fd_cov_term",
    "kid",
    "precision",
    "recall",
    "density",
    "coverage",
    "copies",
    "nearest_train_pixels",
    "nearest_train_features",
)
PER_CLASS_NAMES = ("precision", "recall", "density", "coverage")


def _mean_and_std(values):
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    std = float(np.std(values, ddof=1)) if len(values) > 1 else None
    return float(np.mean(values)), std


def score(
    images,
    labels=None,
    classifier_path: str | Path = CLASSIFIER_PATH,
    seed: int = 0,
    repeats: int = REPEATS,
    memo_samples: int = MEMO_SAMPLES,
) -> dict:
    """Scores of a set of digits against the held-out half B of the test set.

    `images` are accepted in the scales `load_samples` accepts (uint8 0..255, floats in
    [-1, 1] or [0, 1]; (N, 28, 28) or (N, 1, 28, 28)) and refused otherwise.

    The N digits are split into `repeats` disjoint draws (of N // repeats digits, at
    least 100 each where N allows), each scored against its own disjoint draw of half
    B; every score is the mean over the draws and `<name>_std` their standard
    deviation (None for a single draw). Scores: accuracy (with `labels`, what each
    digit was drawn as), Fréchet distance and its mean and covariance terms, kernel
    distance (KID), precision, recall, density and coverage (overall, and per class
    in `per_class`), and memorisation: `copies` (the fraction of digits closer to a
    training digit than 99% of held-out real digits are) and the median distance to
    the nearest training digit in pixels and in features (on the first
    `memo_samples` digits: the search through 60,000 is the slow part). Also the
    class histogram of the classifier's readings and `classes_drawn`, the classes
    holding >= 5% of the digits.
    """
    check_range("repeats", repeats, 1, 100, integer=True)
    check_range("memo_samples", memo_samples, 1, MAX_SAMPLES, integer=True)
    model = load_classifier(str(classifier_path))
    images = check_images(images)
    labels = check_labels(labels, len(images))
    preds, feats = predict(model, images)
    hist = torch.bincount(preds, minlength=10)
    n = len(images)
    if n < 2:
        raise BadInput("scores need at least 2 digits")
    repeats = max(1, min(repeats, n // 100))
    size = n // repeats
    _, (_, labels_b) = reference_halves(seed)
    feats_b = _reference_features(str(classifier_path), seed)
    size_b = min(size, len(feats_b) // repeats)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed + 2))
    order_b = torch.randperm(
        len(feats_b), generator=torch.Generator().manual_seed(seed + 3)
    )
    # what each digit is, for the per-class scores: as requested, else as read
    classes = labels if labels is not None else preds

    memo_idx = order[: min(n, memo_samples)]
    near = nearest_training_digits(images[memo_idx], classifier_path)
    is_copy = near["pixels"] < copy_threshold(str(classifier_path), seed)
    memo_size = max(1, len(memo_idx) // repeats)

    draws = {name: [] for name in SCORE_NAMES}
    per_class = {name: [[] for _ in range(10)] for name in PER_CLASS_NAMES}
    for r in range(repeats):
        idx = order[r * size : (r + 1) * size]
        idx_b = order_b[r * size_b : (r + 1) * size_b]
        f, f_b = feats[idx], feats_b[idx_b]
        mean_term, cov_term = frechet_terms(f, f_b)
        draws["frechet_distance"].append(mean_term + cov_term)
        draws["fd_mean_term"].append(mean_term)
        draws["fd_cov_term"].append(cov_term)
        draws["kid"].append(kernel_distance(f, f_b))
        if min(len(f), len(f_b)) > PRDC_K:
            for name, value in prdc(f_b, f).items():
                draws[name].append(value)
        for d in range(10):
            mine, real = f[classes[idx] == d], f_b[labels_b[idx_b] == d]
            if min(len(mine), len(real)) > PRDC_K:
                for name, value in prdc(real, mine).items():
                    per_class[name][d].append(value)
        if labels is not None:
            draws["accuracy"].append((preds[idx] == labels[idx]).float().mean().item())
        part = slice(r * memo_size, (r + 1) * memo_size)
        draws["copies"].append(is_copy[part].float().mean().item())
        draws["nearest_train_pixels"].append(near["pixels"][part].median().item())
        draws["nearest_train_features"].append(near["features"][part].median().item())

    out = {"n": n, "draws": repeats, "draw_size": size, "reference_draw_size": size_b}
    for name, values in draws.items():
        if name == "accuracy" and labels is None:
            continue
        out[name], out[f"{name}_std"] = _mean_and_std(values)
    out["per_class"] = {
        name: [_mean_and_std(v)[0] for v in per_class[name]] for name in per_class
    }
    out["per_class_std"] = {
        name: [_mean_and_std(v)[1] for v in per_class[name]] for name in per_class
    }
    out["class_histogram"] = hist.tolist()
    out["classes_drawn"] = int((hist >= 0.05 * n).sum())
    if labels is not None:
        correct = preds == labels
        out["accuracy_per_label"] = [
            correct[labels == d].float().mean().item() if (labels == d).any() else None
            for d in range(10)
        ]
    return out


def real_reference(
    n: int = 5000,
    classifier_path: str | Path = CLASSIFIER_PATH,
    seed: int = 0,
    memo_samples: int = MEMO_SAMPLES,
    repeats: int = REPEATS,
) -> dict:
    """The same scores for n real digits from test half A: what a perfect generator
    would get, spread included (`repeats` draws, as in `score`).
    """
    (images_a, labels_a), _ = reference_halves(seed)
    if n > len(images_a):
        raise BadInput(f"the reference half has {len(images_a)} digits; asked for {n}")
    idx = torch.randperm(
        len(images_a), generator=torch.Generator().manual_seed(seed + 1)
    )[:n]
    return score(
        images_a[idx],
        labels_a[idx],
        classifier_path,
        seed,
        repeats=repeats,
        memo_samples=memo_samples,
    )


def evaluate_generator(
    G: nn.Module,
    per_class: int = 500,
    seed: int = 0,
    memo_samples: int = MEMO_SAMPLES,
    repeats: int = REPEATS,
) -> dict:
    """Scores of a generator: per_class samples of each digit (conditional) or 10 *
    per_class (unconditional), in `repeats` draws (see `score`); `memo_samples` of them
    searched for copies.
    """
    start = time.perf_counter()
    if G.num_classes:
        images, labels = sample_by_label(G, per_class, seed=seed)
    else:
        images, labels = to_uint8(generate(G, n=10 * per_class, seed=seed)), None
    out = score(images, labels, memo_samples=memo_samples, repeats=repeats)
    out["seconds"] = time.perf_counter() - start
    return out


def _mean_pm_spread(s: dict, name: str, digits: int = 3, scale: float = 1.0) -> str:
    """'mean±std' of a score, '-' where it is missing."""
    value, std = s.get(name), s.get(f"{name}_std")
    if value is None:
        return "-"
    text = f"{value * scale:.{digits}f}"
    return text + (f"±{std * scale:.{digits}f}" if std is not None else "±?")


TABLES = (
    # (column title, width, cell); a negative width is left-aligned
    (
        ("model", -16, lambda s, name: name[:16]),
        ("accuracy", 12, lambda s, name: _mean_pm_spread(s, "accuracy")),
        ("Fréchet", 12, lambda s, name: _mean_pm_spread(s, "frechet_distance", 2)),
        ("FD mean", 11, lambda s, name: _mean_pm_spread(s, "fd_mean_term", 2)),
        ("FD cov", 11, lambda s, name: _mean_pm_spread(s, "fd_cov_term", 2)),
        ("classes", 8, lambda s, name: s["classes_drawn"]),
    ),
    (
        ("model", -16, lambda s, name: name[:16]),
        ("KID x1000", 11, lambda s, name: _mean_pm_spread(s, "kid", 2, 1000)),
        ("precision", 11, lambda s, name: _mean_pm_spread(s, "precision")),
        ("recall", 11, lambda s, name: _mean_pm_spread(s, "recall")),
        ("density", 11, lambda s, name: _mean_pm_spread(s, "density")),
        ("coverage", 11, lambda s, name: _mean_pm_spread(s, "coverage")),
    ),
    (
        ("model", -16, lambda s, name: name[:16]),
        ("n", 6, lambda s, name: s["n"]),
        ("draws", 8, lambda s, name: f"{s['draws']}x{s['draw_size']}"),
        ("copies", 11, lambda s, name: _mean_pm_spread(s, "copies")),
        (
            "nearest px",
            11,
            lambda s, name: _mean_pm_spread(s, "nearest_train_pixels", 2),
        ),
        (
            "nearest feat",
            12,
            lambda s, name: _mean_pm_spread(s, "nearest_train_features", 2),
        ),
    ),
)


def format_table(rows: dict[str, dict]) -> str:
    """Plain-text tables of scores, one row per model or real data, <= 76 columns:
    fidelity and variety (accuracy, FD and its terms, classes drawn), the neighbour
    scores (KID, precision, recall, density, coverage), memorisation (copies, median
    distance to the nearest training digit). Each score is mean±std over the draws.
    """
    blocks = []
    for columns in TABLES:
        lines = []
        for name, s in [(None, None), *rows.items()]:
            cells = [
                title if name is None else cell(s, name) for title, _, cell in columns
            ]
            widths = [w for _, w, _ in columns]
            lines.append(
                " ".join(
                    f"{c:<{-w}}" if w < 0 else f"{c:>{w}}"
                    for c, w in zip(cells, widths)
                )
            )
            if name is None:
                lines.append("-" * len(lines[0]))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def draw_by_label(labels, counts, seed: int) -> torch.Tensor:
    """Indices of counts[d] digits of each label d, drawn without replacement."""
    g = torch.Generator().manual_seed(seed)
    return torch.cat(
        [
            torch.nonzero(labels == d).flatten()[
                torch.randperm(int((labels == d).sum()), generator=g)[: int(counts[d])]
            ]
            for d in range(10)
        ]
    )


class TestSetFD:
    """The Fréchet distance of 10,000 digits to MNIST's 10,000 test digits, in the
    project classifier's features: the book's yardstick (and issue 17's).

    A conditional generator draws its 10,000 digits with the test set's label counts
    (980 zeros, 1,135 ones, ...), not 1,000 per label: real training digits drawn 1,000
    per label score about twice as far from the test set as ones drawn with its counts
    (bench/fd_label_mix.py), so equal counts would charge a perfect generator for the
    test set's mix. `reference` is what a perfect generator scores: real training
    digits drawn with the same label counts, the mean over REFERENCE_SEEDS draws
    (`reference_std` their spread; the FD's small-sample bias is in both).
    """

    REFERENCE_SEEDS = range(5)

    def __init__(self, classifier=None):
        self.classifier = classifier if classifier is not None else load_classifier()
        images, labels = load_mnist("test")
        self.test_features = predict(self.classifier, images)[1]
        counts = torch.bincount(labels, minlength=10)
        self.labels = torch.arange(10).repeat_interleave(counts)  # the test set's mix

    @functools.cached_property
    def reference_draws(self) -> list[float]:
        # Every chapter needs the same five numbers, and 50,000 digits through the
        # classifier take 10-30 s on a CPU: they are kept on disk, keyed by the
        # classifier's weights and the seeds, and recomputed when either differs.
        key = {"classifier": _weights_sha256(self.classifier)}
        key["seeds"] = list(self.REFERENCE_SEEDS)
        path = cache_dir() / REFERENCE_CACHE_NAME
        draws = _read_reference_cache(path, key)
        if draws is None:
            train, train_labels = load_mnist("train")
            counts = torch.bincount(self.labels, minlength=10)
            draws = [
                self.of_images(train[draw_by_label(train_labels, counts, seed)])[1]
                for seed in self.REFERENCE_SEEDS
            ]
            _write_reference_cache(path, key, draws)
        return draws

    @property
    def reference(self) -> float:
        return statistics.fmean(self.reference_draws)

    @property
    def reference_std(self) -> float:
        return statistics.stdev(self.reference_draws)

    def of_images(self, images, labels=None):
        """(accuracy or None, FD, what the classifier reads) of `images`."""
        predicted, features = predict(self.classifier, images)
        accuracy = None
        if labels is not None:
            accuracy = (predicted == labels).float().mean().item()
        return accuracy, frechet_distance(features, self.test_features), predicted

    def of_generator(self, G, seed=0):
        """of_images of 10,000 digits, conditional ones with the test set's labels."""
        G = G.cpu()
        if G.num_classes:
            images = to_uint8(generate(G, self.labels, seed=seed))
            return self.of_images(images, self.labels)
        return self.of_images(to_uint8(generate(G, n=10_000, seed=seed)))


# The cache of TestSetFD's real-digit reference: a small JSON file naming what it is.
REFERENCE_CACHE_NAME = "test_set_fd_reference.json"
REFERENCE_CACHE_FORMAT = "cgan_lib.test_set_fd_reference"


def _weights_sha256(model: nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _read_reference_cache(path: Path, key: dict) -> list[float] | None:
    """The cached draws, or None where the file is absent, unreadable, of another
    kind, or made for another classifier or other seeds (then they are recomputed)."""
    try:
        stored = json.loads(path.read_text())
        draws = [float(d) for d in stored["draws"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if stored.get("format") != REFERENCE_CACHE_FORMAT or stored.get("key") != key:
        return None
    if len(draws) != len(key["seeds"]) or not all(map(math.isfinite, draws)):
        return None
    return draws


def _write_reference_cache(path: Path, key: dict, draws: list[float]) -> None:
    """Write atomically, as the MNIST cache is written, so two chapters computing it at
    once never leave half a file; a read-only cache folder is not an error."""
    text = json.dumps({"format": REFERENCE_CACHE_FORMAT, "key": key, "draws": draws})
    try:
        write_atomically(path, lambda f: f.write(text.encode()))
    except OSError:
        pass
