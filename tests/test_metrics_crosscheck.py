"""The hand-written scores of cgan_lib.metrics against kept implementations, on the
same features of the project classifier:

- the Fréchet distance against torchmetrics' FrechetInceptionDistance and the kernel
  distance against its KernelInceptionDistance, both given the classifier as a custom
  feature extractor (torchmetrics >= 1.0 needs no torch-fidelity for that). FD to a
  relative 1e-6 (both in float64 from the same float32 features; only the matrix
  square root differs: scipy's Schur method here, eigenvalues there); KID to a
  relative 1e-4 (torchmetrics sums its kernels in float32, we in float64);
- precision, recall, density and coverage against the `prdc` package (Naeem et al.'s
  code): exactly equal up to float rounding (1e-9), on sets with no tied distances.
"""

import numpy as np
import pytest
import torch
from torch import nn

from cgan_lib import data, digit_classifier, distances

fid_module = pytest.importorskip("torchmetrics.image.fid")
kid_module = pytest.importorskip("torchmetrics.image.kid")
prdc_package = pytest.importorskip("prdc")


class ClassifierFeatures(nn.Module):
    """The project classifier as torchmetrics' feature extractor: uint8 digits in,
    the 128 penultimate features out."""

    num_features = 128  # tells torchmetrics the size (else it probes a 299x299 RGB)

    def __init__(self):
        super().__init__()
        self.classifier = digit_classifier.load_classifier()

    def forward(self, images):
        return self.classifier.features(data.to_signed(images))


@pytest.fixture(scope="module")
def two_sets():
    """500 real digits (test half A), 400 blurred ones of half B: close, not equal."""
    (a, _), (b, _) = data.reference_halves(0)
    blurred = data.to_uint8(
        torch.nn.functional.avg_pool2d(
            data.to_signed(b[:400]), 3, 1, 1, count_include_pad=False
        )
    )
    return a[:500], blurred


def features(images):
    return digit_classifier.predict(digit_classifier.load_classifier(), images)[1]


def test_frechet_distance_matches_torchmetrics(two_sets):
    real, fake = two_sets
    fid = fid_module.FrechetInceptionDistance(feature=ClassifierFeatures())
    fid.update(real, real=True)
    fid.update(fake, real=False)
    theirs = fid.compute().item()
    ours = distances.frechet_distance(features(real), features(fake))
    assert ours == pytest.approx(theirs, rel=1e-6)
    mean_term, cov_term = distances.frechet_terms(features(real), features(fake))
    assert mean_term + cov_term == pytest.approx(theirs, rel=1e-6)
    assert mean_term > 0 and cov_term > 0


def test_kernel_distance_matches_torchmetrics(two_sets):
    real, fake = two_sets
    kid = kid_module.KernelInceptionDistance(
        feature=ClassifierFeatures(), subsets=1, subset_size=len(fake)
    )
    kid.update(real[: len(fake)], real=True)  # one subset of all: no random draw
    kid.update(fake, real=False)
    theirs = kid.compute()[0].item()
    ours = distances.kernel_distance(features(real[: len(fake)]), features(fake))
    assert ours == pytest.approx(theirs, rel=1e-4)
    assert ours > 0


def test_precision_recall_density_coverage_match_the_prdc_package(two_sets):
    real, fake = two_sets
    f_real, f_fake = features(real).numpy(), features(fake).numpy()
    for k in (3, 5):
        theirs = prdc_package.compute_prdc(f_real, f_fake, nearest_k=k)
        ours = distances.prdc(f_real, f_fake, k=k)
        assert set(ours) == set(theirs)
        for name, value in theirs.items():
            assert ours[name] == pytest.approx(float(value), abs=1e-9), (name, k)
    # blurred digits are less realistic than sharp ones: the scores must see it
    sharp = distances.prdc(f_real[:250], f_real[250:])
    assert ours["precision"] < sharp["precision"] or ours["density"] < sharp["density"]


def test_random_features_agree_too():
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(300, 16)), rng.normal(0.3, 1.2, size=(200, 16))
    theirs = prdc_package.compute_prdc(real, fake, nearest_k=5)
    ours = distances.prdc(real, fake)
    for name, value in theirs.items():
        assert ours[name] == pytest.approx(float(value), abs=1e-9), name
