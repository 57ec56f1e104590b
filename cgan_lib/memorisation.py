"""Memorisation: how close is each generated digit to its nearest training digit?

In pixels (all 60,000 training digits) and in the classifier's features (a fixed
10,000 of them), beside held-out real digits measured the same way; a digit closer
than `copy_threshold` (the 1st percentile of held-out digits' distances) counts as a
copy. `copycat_digits` is a perfect memoriser the scores must catch.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from .data import SIZES, load_mnist, reference_halves
from .digit_classifier import CLASSIFIER_PATH, check_images, load_classifier, predict
from .mnist_files import cache_dir


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
    order = torch.randperm(SIZES["train"], generator=generator)
    return order[:FEATURE_SEARCH_SIZE]


@lru_cache(maxsize=2)
def train_features(classifier_path: str = str(CLASSIFIER_PATH)) -> torch.Tensor:
    """The classifier's features (float32) of the training digits that
    `feature_search_indices` picks, cached on disk beside the MNIST copy.
    """
    digest = _classifier_digest(classifier_path)
    cache = cache_dir() / f"train_features_{FEATURE_SEARCH_SIZE}_{digest}.pt"
    if cache.is_file():
        try:
            feats = torch.load(cache, weights_only=True)
            if feats.shape == (FEATURE_SEARCH_SIZE, 128):
                return feats
        except (OSError, RuntimeError, AttributeError):
            pass  # a damaged cache is recomputed
    images, _ = load_mnist("train")
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
    images = check_images(images)
    train_images, _ = load_mnist("train")
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
    images, labels = load_mnist("train")
    idx = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    return images[idx[:n]], labels[idx[:n]]
