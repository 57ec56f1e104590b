"""The maths of chapter 12's scores: distances between two sets of classifier features.

- Fréchet distance (FD) and its mean and covariance terms: the distance between
  Gaussians fitted to the two sets (Heusel et al. 2017's FID, with the project's MNIST
  classifier in place of Inception).
- kernel distance (KID, Binkowski et al. 2018): unbiased MMD^2 with a cubic kernel;
  unlike the FD, its expectation does not depend on the sample size.
- precision, recall (Kynkäänniemi et al. 2019), density and coverage (Naeem et al.
  2020): k-nearest-neighbour balls in feature space.

Each takes two float tensors of features (N, d) and returns numbers; tests check them
against torchmetrics and prdc.
"""

from __future__ import annotations

import numpy as np
import torch

from .errors import BadInput


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
    takes seconds per call on a 2-core machine, and `metrics.score` calls it 55 times
    per row of a table (once per draw, and once per draw and digit class).
    tests/test_metrics_crosscheck.py checks this against `prdc` itself.
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
