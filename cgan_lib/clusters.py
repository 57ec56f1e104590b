"""Self-conditioning (chapters 5 and 8): k-means clusters of the training digits stand
in for labels the models never see.

A self-conditioned DCGAN (model option `clusters=K`; after Liu et al., 2020, who cluster
the discriminator's features, where we cluster pixels once) works like a conditional
GAN whose labels are clusters:

- `pixel_clusters` runs k-means on the training digits' pixels (K clusters of all
  digits, or K within each digit for the conditional model): centres and shares.
- `attach_clusters` stores them in the two networks: the centres in D (`D.centres`),
  the shares in G (`G.code_prior`), so a saved run carries them and never re-clusters.
- G draws a cluster off z[:, 0] with those shares (`models.latent_code`), so users
  still call G(z) or G(z, y); `latents_in_cluster` is its inverse, to show a cluster.
- `discriminator_labels` is the training step's one hook: D judges a real digit with
  its nearest centre (`nearest_cluster`) and a fake with the cluster G drew it for.

Nothing else in the library knows about clusters: the models keep the two buffers
(the shipped checkpoints store them there), and the training step calls the hook.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn as nn

from .data import load_mnist, to_signed
from .errors import MAX_IMAGES, MAX_SEED, BadInput, check_digit, check_range
from .mnist_files import say
from .models import model_options


@functools.lru_cache(maxsize=4)
def pixel_clusters(
    k: int, seed: int = 0, limit: int | None = None, per_digit: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """k-means clusters of MNIST's 60,000 training digits (the first `limit` of them, if
    given) in pixel space (scikit-learn's KMeans, one k-means++ start from `seed`):
    (centres float (k, 784) in [-1, 1], the share of the digits in each cluster (k,)).
    No label is used. About 25 s for k = 100 on 2 CPU cores; cached for the process.

    per_digit=True clusters each digit's images on their own, k clusters per digit (the
    labels choose the group, k-means the clusters within it): centres (10 k, 784),
    digit d's at rows d k .. d k + k - 1, and shares (10, k), each row summing to 1.
    """
    from sklearn.cluster import KMeans  # imported here: only clustering needs it

    k = check_range("clusters", k, 2, 1000, integer=True)
    images, labels = load_mnist("train")
    if limit is not None:
        least = k * (10 if per_digit else 1)
        limit = check_range("limit", limit, least, len(images), integer=True)
        images, labels = images[:limit], labels[:limit]
    x = to_signed(images).flatten(1).numpy()
    groups = [x[labels.numpy() == d] for d in range(10)] if per_digit else [x]
    what = f"{len(x):,} training digits into {k} groups (k-means)"
    if per_digit:
        what = f"each digit of {len(x):,} training digits into {k} groups (10 k-means)"
    say(f"clustering {what}...")
    centres, shares = [], []
    for group in groups:
        km = KMeans(k, n_init=1, random_state=seed % 2**32).fit(group)
        centres.append(torch.from_numpy(km.cluster_centers_).float())
        counts = np.bincount(km.labels_, minlength=k) / len(group)
        shares.append(torch.from_numpy(counts).float())
    if not per_digit:
        return centres[0], shares[0]
    return torch.cat(centres), torch.stack(shares)


def attach_clusters(G: nn.Module, D: nn.Module, seed: int) -> None:
    """Cluster the training digits (each digit's, for a conditional G) and store the
    centres in D and the shares in G.
    """
    per_digit = bool(G.num_classes)
    centres, shares = pixel_clusters(G.codes, seed, per_digit=per_digit)
    D.centres.copy_(centres)
    G.code_prior.copy_(shares)


def nearest_cluster(D: nn.Module, x: torch.Tensor, y=None) -> torch.Tensor:
    """The index (N,) of each image's nearest cluster centre in D, or with labels y,
    the nearest among the centres of its label's group (label-major: digit d's K
    clusters are d K .. d K + K - 1).
    """
    distances = torch.cdist(x.flatten(1), D.centres)
    if y is None:
        return distances.argmin(1)
    per_group = D.num_classes // D.groups
    within = distances.view(len(x), D.groups, per_group)[torch.arange(len(x)), y]
    return y * per_group + within.argmin(1)


def discriminator_labels(run, x, y_real, z, y_fake):
    """The labels D sees in a training step. With clusters (the config's model option
    clusters=K): a real digit's nearest cluster, and for a fake the cluster G drew it
    for (`G.category`, read off z). Without: the labels themselves, unchanged. It reads
    the run's own G and D (their centres and shares), also when the step calls them
    through DistributedDataParallel wrappers (chapter 13).
    """
    cfg = run.config
    if not model_options(cfg.model, cfg.model_kwargs).get("clusters"):
        return y_real, y_fake
    return nearest_cluster(run.D, x, y_real), run.G.category(z, y_fake)


def latents_in_cluster(
    G: nn.Module, cluster: int, n: int, label: int | None = None, seed: int = 0
) -> torch.Tensor:
    """n latent vectors that a self-conditioned generator (clusters=K) draws for one
    cluster (of `label`'s, for a conditional one): z[:, 0] is drawn inside that
    cluster's slice of the normal distribution, the slice `models.latent_code` cuts by
    the clusters' shares; the other coordinates are plain N(0, 1). The inverse of
    latent_code, to show what G draws for each cluster.
    """
    prior = G.code_prior
    if prior is None:
        raise BadInput("this generator has no clusters (train it with clusters=K)")
    if prior.dim() == 2:  # one row of shares per label
        if label is None:
            raise BadInput("this generator clusters each digit: pass label 0..9")
        prior = prior[check_digit(label)]
    elif label is not None:
        raise BadInput("this generator's clusters are of all digits: pass no label")
    cluster = check_range("cluster", cluster, 0, G.codes - 1, integer=True)
    edges = torch.cat([torch.zeros(1), prior.float().cpu().cumsum(0)])
    edges = edges / edges[-1]
    lo, hi = edges[cluster], edges[cluster + 1]
    if hi <= lo:
        raise BadInput(
            f"cluster {cluster} has no share of the digits: G never draws it"
        )
    n = check_range("the number of images", n, 1, MAX_IMAGES, integer=True)
    g = torch.Generator().manual_seed(
        check_range("seed", seed, 0, MAX_SEED, integer=True)
    )
    z = torch.randn(n, G.z_dim, generator=g)
    u = (lo + (hi - lo) * torch.rand(n, generator=g)).clamp(1e-7, 1 - 1e-7)
    z[:, 0] = 2**0.5 * torch.erfinv(2 * u - 1)  # the normal quantile of u
    return z
