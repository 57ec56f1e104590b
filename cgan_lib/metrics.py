"""How good are the forgeries? Scores built on the project's own MNIST classifier.

- accuracy: the fraction of generated digits the classifier reads as the label they were
  drawn for (overall and per label): does the conditional generator draw the digit you
  asked for?
- Fréchet distance (FD) and its mean and covariance terms: the distance between
  Gaussians fitted to the classifier's penultimate features of generated and of real
  held-out digits (Heusel et al. 2017's FID, with an MNIST network for Inception).
- kernel distance (KID, Binkowski et al. 2018): unbiased MMD^2 with a cubic kernel in
  the same features; unlike the FD, its expectation does not depend on the sample size.
- precision, recall (Kynkäänniemi et al. 2019), density and coverage (Naeem et al.
  2020): k-nearest-neighbour balls in feature space, overall and per class.
- memorisation: each digit's distance to its nearest training digit (pixels and
  features) and the fraction of near-copies, beside held-out real digits.
- class histogram and classes drawn: what an *unconditional* generator draws.

Every score is a mean over disjoint draws with its spread, and comes with the
real-data reference computed the same way: a random half of the MNIST test set scored
against the other half, with the same number of samples.
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
from .errors import BadInput, CheckpointError, check_range
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


def frechet_terms(feats_a, feats_b) -> tuple[float, float]:
    """The Fréchet distance's two terms between Gaussians fitted to two feature sets:
    (||mu_a - mu_b||^2, Tr(S_a + S_b - 2 (S_a S_b)^(1/2))), the mean term and the
    covariance term. Their sum is the FD.

    Written out because it is the lesson (chapter 12); tests/test_metrics_crosscheck.py
    checks it against torchmetrics' FrechetInceptionDistance on the same features.
    The matrix square root is scipy.linalg.sqrtm (a well-tested Schur method); the tiny
    imaginary part that rounding can leave is dropped, as in the reference FID code.
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
    mean_term = float(((mu_a - mu_b) ** 2).sum())
    cov_term = float(np.trace(s_a) + np.trace(s_b) - 2 * np.trace(covmean))
    return mean_term, cov_term


def frechet_distance(feats_a, feats_b) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) between Gaussians fitted to
    two feature sets (the sum of `frechet_terms`).
    """
    return sum(frechet_terms(feats_a, feats_b))


def kernel_distance(feats_a, feats_b) -> float:
    """The kernel distance (KID, Binkowski et al. 2018): the unbiased estimate of
    MMD^2 with the cubic kernel k(x, y) = (x.y / d + 1)^3, d the feature size.

    Unbiased: the diagonals k(x_i, x_i) are left out of the within-set means, so its
    expectation is the true MMD^2 at any n (0 for two draws of one distribution), where
    the FD's is not. Written out (ten lines) because that is the lesson; checked
    against torchmetrics' KernelInceptionDistance in the tests.
    """
    a = torch.as_tensor(np.asarray(feats_a), dtype=torch.float64)
    b = torch.as_tensor(np.asarray(feats_b), dtype=torch.float64)
    m, n = len(a), len(b)
    if m < 2 or n < 2:
        raise BadInput("the kernel distance needs at least 2 samples on each side")
    d = a.shape[1]
    k_aa = (a @ a.T / d + 1) ** 3
    k_bb = (b @ b.T / d + 1) ** 3
    k_ab = (a @ b.T / d + 1) ** 3
    within_a = (k_aa.sum() - k_aa.diagonal().sum()) / (m * (m - 1))
    within_b = (k_bb.sum() - k_bb.diagonal().sum()) / (n * (n - 1))
    return float(within_a + within_b - 2 * k_ab.mean())


PRDC_K = 5  # Naeem et al.'s recommended number of neighbours


def _kth_neighbour_radius(feats: torch.Tensor, k: int) -> torch.Tensor:
    """Each point's distance to its k-th nearest *other* point of the same set."""
    d = torch.cdist(feats, feats)
    return d.kthvalue(k + 1, dim=1).values  # +1: the point itself, at distance 0


def prdc(real_feats, fake_feats, k: int = PRDC_K) -> dict:
    """Precision and recall (Kynkäänniemi et al. 2019), density and coverage (Naeem et
    al. 2020) of fake features against real ones, each real (fake) point owning a ball
    reaching its k-th nearest real (fake) neighbour:

    - precision: the fraction of fakes inside some real ball (are they realistic?);
    - recall: the fraction of reals inside some fake ball (is the variety there?);
    - density: real balls holding each fake, averaged and divided by k (about 1 for
      a perfect generator; unlike precision, one outlier real's huge ball barely
      moves it);
    - coverage: the fraction of real balls holding at least one fake.

    The formulas of the `prdc` package (Naeem et al.'s code), written with torch.cdist:
    that package computes its distances with scikit-learn on 8 worker threads, which
    takes seconds per call on a 2-core machine and the scores are computed ~50 times
    per table. tests/test_metrics_crosscheck.py checks this against `prdc` itself.
    """
    real = torch.as_tensor(np.asarray(real_feats), dtype=torch.float64)
    fake = torch.as_tensor(np.asarray(fake_feats), dtype=torch.float64)
    if min(len(real), len(fake)) <= k:
        raise BadInput(
            f"precision/recall need more than k = {k} samples on each side; "
            f"got {len(real)} real and {len(fake)} generated"
        )
    real_radius = _kth_neighbour_radius(real, k)  # (R,)
    fake_radius = _kth_neighbour_radius(fake, k)  # (F,)
    d = torch.cdist(real, fake)  # (R, F)
    inside_real_ball = d < real_radius[:, None]
    return {
        "precision": inside_real_ball.any(0).double().mean().item(),
        "recall": (d < fake_radius[None, :]).any(1).double().mean().item(),
        "density": inside_real_ball.sum(0).double().mean().item() / k,
        "coverage": (d.min(1).values < real_radius).double().mean().item(),
    }


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


# ------------------------------------------------------------------------------------
# Memorisation: how close is each digit to its nearest training digit?


def _classifier_digest(classifier_path) -> str:
    import hashlib

    return hashlib.sha256(Path(classifier_path).read_bytes()).hexdigest()[:16]


FEATURE_SEARCH_SIZE = 10_000


def feature_search_indices() -> torch.Tensor:
    """The training digits searched in feature space: a fixed random 10,000 of the
    60,000 (the pixel search covers all 60,000). Running the classifier over the
    whole training set takes minutes on a 2-core CPU; generated and held-out digits
    are searched among the same 10,000, so the two stay comparable.
    """
    generator = torch.Generator().manual_seed(0)
    order = torch.randperm(mnist.SIZES["train"], generator=generator)
    return order[:FEATURE_SEARCH_SIZE]


@lru_cache(maxsize=2)
def train_features(classifier_path: str = str(CLASSIFIER_PATH)) -> torch.Tensor:
    """The classifier's features (float32) of the training digits that
    `feature_search_indices` picks, cached on disk beside the MNIST copy.
    """
    digest = _classifier_digest(classifier_path)
    cache = mnist.cache_dir() / f"train_features_{FEATURE_SEARCH_SIZE}_{digest}.pt"
    if cache.is_file():
        try:
            feats = torch.load(cache, weights_only=True)
            if feats.shape == (FEATURE_SEARCH_SIZE, 128):
                return feats
        except (OSError, RuntimeError, AttributeError):
            pass  # a damaged cache is recomputed
    images, _ = mnist.load_mnist("train")
    images = images[feature_search_indices()]
    feats = predict(load_classifier(classifier_path), images)[1].float()
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        torch.save(feats, cache)
    except OSError:
        pass  # a read-only cache folder only costs time
    return feats


def _nearest(queries: torch.Tensor, keys: torch.Tensor, batch: int = 256):
    """(distance, index) of each query's nearest key, Euclidean."""
    dists, index = [], []
    for i in range(0, len(queries), batch):
        d = torch.cdist(queries[i : i + batch], keys)
        best = d.min(1)
        dists.append(best.values)
        index.append(best.indices)
    return torch.cat(dists), torch.cat(index)


def nearest_training_digits(images, classifier_path=CLASSIFIER_PATH) -> dict:
    """For each digit: the distance to its nearest training digit in pixels (images in
    [0, 1], 784-d Euclidean; all 60,000 searched) and in the classifier's features
    (among the 10,000 of `feature_search_indices`), and which one it is (indices into
    the training set).

    A generator that copies its training set sits at distance ~0; held-out real
    digits, never seen in training, show what an honest distance looks like.
    """
    images = _checked_images(images)
    train_images, _ = mnist.load_mnist("train")
    pixels = images.reshape(len(images), -1).float() / 255
    train_pixels = train_images.reshape(len(train_images), -1).float() / 255
    pixel_dist, pixel_index = _nearest(pixels, train_pixels)
    feats = predict(load_classifier(str(classifier_path)), images)[1].float()
    feat_dist, feat_index = _nearest(feats, train_features(str(classifier_path)))
    feat_index = feature_search_indices()[feat_index]  # an index into all 60,000
    return {
        "pixels": pixel_dist,
        "pixel_index": pixel_index,
        "features": feat_dist,
        "feature_index": feat_index,
    }


COPY_PERCENTILE = 1.0
COPY_REFERENCE_SAMPLES = 1000


@lru_cache(maxsize=4)
def copy_threshold(classifier_path: str = str(CLASSIFIER_PATH), seed: int = 0):
    """The pixel distance below which a digit counts as a copy: the 1st percentile of
    held-out real digits' distances to their nearest training digit (1,000 digits of
    test half B), so about 1% of honest digits fall below it.
    """
    _, (images_b, _) = reference_halves(seed)
    near = nearest_training_digits(images_b[:COPY_REFERENCE_SAMPLES], classifier_path)
    return float(np.percentile(near["pixels"].numpy(), COPY_PERCENTILE))


def copycat_digits(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A 'generator' that returns n random *training* digits (and their labels): a
    perfect memoriser, which every fidelity score rates as real. The memorisation
    scores must catch it.
    """
    images, labels = mnist.load_mnist("train")
    idx = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    return images[idx[:n]], labels[idx[:n]]


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
    images = _checked_images(images)
    labels = _checked_labels(labels, len(images))
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
        images, labels = mnist.to_uint8(generate(G, n=10 * per_class, seed=seed)), None
    out = score(images, labels, memo_samples=memo_samples, repeats=repeats)
    out["seconds"] = time.perf_counter() - start
    return out


def _pm(s: dict, name: str, digits: int = 3, scale: float = 1.0) -> str:
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
        ("accuracy", 12, lambda s, name: _pm(s, "accuracy")),
        ("Fréchet", 12, lambda s, name: _pm(s, "frechet_distance", 2)),
        ("FD mean", 11, lambda s, name: _pm(s, "fd_mean_term", 2)),
        ("FD cov", 11, lambda s, name: _pm(s, "fd_cov_term", 2)),
        ("classes", 8, lambda s, name: s["classes_drawn"]),
    ),
    (
        ("model", -16, lambda s, name: name[:16]),
        ("KID x1000", 11, lambda s, name: _pm(s, "kid", 2, 1000)),
        ("precision", 11, lambda s, name: _pm(s, "precision")),
        ("recall", 11, lambda s, name: _pm(s, "recall")),
        ("density", 11, lambda s, name: _pm(s, "density")),
        ("coverage", 11, lambda s, name: _pm(s, "coverage")),
    ),
    (
        ("model", -16, lambda s, name: name[:16]),
        ("n", 6, lambda s, name: s["n"]),
        ("draws", 8, lambda s, name: f"{s['draws']}x{s['draw_size']}"),
        ("copies", 11, lambda s, name: _pm(s, "copies")),
        ("nearest px", 11, lambda s, name: _pm(s, "nearest_train_pixels", 2)),
        ("nearest feat", 12, lambda s, name: _pm(s, "nearest_train_features", 2)),
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
