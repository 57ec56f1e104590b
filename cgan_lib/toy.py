"""Toy GANs for the theory chapters.

1-D (the minimax chapter): densities on a grid, the optimal discriminator, the JSD, and
a tiny GAN whose generator density and discriminator curve we can watch while it trains
(as in GAN Lab). 2-D (the failures chapter): a ring of Gaussians, the modes a generator
covers, and a tiny GAN on it. The Dirac-GAN: the two-number game that oscillates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from .errors import BadInput, check_range
from .losses import discriminator_loss, non_saturating_loss


def gaussian_pdf(x: np.ndarray, mean: float, std: float) -> np.ndarray:
    return np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))


def mixture_pdf(x: np.ndarray, means, stds, weights=None) -> np.ndarray:
    weights = (
        np.ones(len(means)) / len(means) if weights is None else np.asarray(weights)
    )
    return sum(w * gaussian_pdf(x, m, s) for w, m, s in zip(weights, means, stds))


def optimal_discriminator(p_data: np.ndarray, p_g: np.ndarray) -> np.ndarray:
    """D*(x) = p_data(x) / (p_data(x) + p_g(x)): the discriminator that maximises V(D,
    G) for a fixed G.
    """
    total = p_data + p_g
    return np.divide(p_data, total, out=np.full_like(total, 0.5), where=total > 0)


def value(d: np.ndarray, p_data: np.ndarray, p_g: np.ndarray, dx: float) -> float:
    """V(D, G) = ∫ p_data log D + p_g log(1 - D) dx, by the rectangle rule."""
    eps = 1e-300
    return float(np.sum(p_data * np.log(d + eps) + p_g * np.log(1 - d + eps)) * dx)


def kl(p: np.ndarray, q: np.ndarray, dx: float) -> float:
    mask = p > 0
    return float(np.sum(p[mask] * np.log(p[mask] / q[mask])) * dx)


def jsd(p: np.ndarray, q: np.ndarray, dx: float) -> float:
    """Jensen–Shannon divergence, in nats: between 0 (p = q) and log 2 (disjoint
    supports).
    """
    m = (p + q) / 2
    return 0.5 * kl(p, m, dx) + 0.5 * kl(q, m, dx)


def sample_mixture(
    n: int, means, stds, generator: torch.Generator | None = None
) -> torch.Tensor:
    """n samples (n, 1) from an equal-weight Gaussian mixture."""
    k = torch.randint(0, len(means), (n,), generator=generator)
    eps = torch.randn(n, generator=generator)
    return (
        torch.tensor(means, dtype=torch.float32)[k]
        + torch.tensor(stds, dtype=torch.float32)[k] * eps
    )[:, None]


def mlp(n_in: int, n_out: int, hidden: int = 32) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(n_in, hidden),
        nn.LeakyReLU(0.2),
        nn.Linear(hidden, hidden),
        nn.LeakyReLU(0.2),
        nn.Linear(hidden, n_out),
    )


@dataclass
class ToySnapshot:
    step: int
    generated: np.ndarray  # samples of G
    d_curve: np.ndarray  # D(x) on the grid


def train_toy_gan(
    means=(-2.0, 2.0),
    stds=(0.5, 0.5),
    steps: int = 3000,
    batch: int = 256,
    z_dim: int = 4,
    lr: float = 2e-3,
    snapshot_every: int = 250,
    seed: int = 0,
    grid=np.linspace(-5, 5, 401),
):
    """Train a small MLP GAN on a 1-D Gaussian mixture; return (G, D, snapshots, history
    of losses).
    """
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    G, D = mlp(z_dim, 1), mlp(1, 1)
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.999))
    grid_t = torch.tensor(grid, dtype=torch.float32)[:, None]
    z_fixed = torch.randn(4000, z_dim, generator=g)
    snapshots, history = [], {"d_loss": [], "g_loss": []}

    def snap(step):
        with torch.no_grad():
            snapshots.append(
                ToySnapshot(
                    step,
                    G(z_fixed).squeeze(1).numpy(),
                    torch.sigmoid(D(grid_t)).squeeze(1).numpy(),
                )
            )

    snap(0)
    for step in range(1, steps + 1):
        real = sample_mixture(batch, means, stds, g)
        fake = G(torch.randn(batch, z_dim, generator=g))
        d_loss = discriminator_loss(D(real).squeeze(1), D(fake.detach()).squeeze(1))
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_loss = non_saturating_loss(D(fake).squeeze(1))
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        history["d_loss"].append(d_loss.item())
        history["g_loss"].append(g_loss.item())
        if step % snapshot_every == 0:
            snap(step)
    return G, D, snapshots, history


# --------------------------------------------------------------------------------------
# 2-D: a ring of Gaussians, the classic picture of mode collapse (Metz et al. 2017).


def ring_centres(modes: int = 8, radius: float = 2.0) -> np.ndarray:
    """(modes, 2): the means of `modes` Gaussians evenly spaced on a circle."""
    angles = 2 * math.pi * np.arange(modes) / modes
    return radius * np.stack([np.cos(angles), np.sin(angles)], 1)


def sample_2d(
    n: int, centres: np.ndarray, std: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """n samples (n, 2) from an equal-weight mixture of round Gaussians at `centres`."""
    centres = torch.as_tensor(np.asarray(centres), dtype=torch.float32)
    k = torch.randint(0, len(centres), (n,), generator=generator)
    return centres[k] + std * torch.randn(n, 2, generator=generator)


def mode_coverage(
    samples, centres: np.ndarray, std: float, min_fraction: float = 0.01
) -> tuple[int, float]:
    """(modes covered, share of good samples) of a sample set.

    A sample is *good* when it lies within 3 std of its nearest mode; a mode is
    *covered* when at least `min_fraction` of all samples are good samples of it.
    """
    x = np.asarray(samples, dtype=float)
    dist = np.linalg.norm(x[:, None, :] - np.asarray(centres)[None], axis=2)
    nearest, good = dist.argmin(1), dist.min(1) <= 3 * std
    counts = np.bincount(nearest[good], minlength=len(centres))
    return int((counts >= min_fraction * len(x)).sum()), float(good.mean())


class PackedDiscriminator(nn.Module):
    """D that judges `pack` samples at once, concatenated (PacGAN, Lin et al. 2018): a
    generator that puts every sample on one mode is caught by the lack of variety in a
    pack, which no single sample shows.
    """

    def __init__(self, n_in: int, pack: int, hidden: int):
        super().__init__()
        self.pack = pack
        self.net = mlp(n_in * pack, 1, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, n_in) -> (N // pack,) logits; N must be a multiple of pack."""
        return self.net(x.reshape(len(x) // self.pack, -1)).squeeze(1)


@dataclass
class Toy2DRun:
    G: nn.Module
    D: nn.Module
    steps: list  # the steps at which the generator was measured
    samples: list  # (n_eval, 2) samples of G at each of those steps (fixed latents)
    modes: list  # modes covered at each of those steps
    good: list  # share of good samples at each of those steps
    history: dict  # per step: d_loss, g_loss


def train_gan_2d(
    centres: np.ndarray | None = None,
    std: float = 0.05,
    steps: int = 2000,
    batch: int = 128,
    z_dim: int = 16,
    hidden: int = 64,
    lr_g: float = 1e-3,
    lr_d: float = 1e-3,
    d_steps: int = 1,
    pack: int = 1,
    eval_every: int = 100,
    n_eval: int = 2000,
    seed: int = 0,
) -> Toy2DRun:
    """Train a small MLP GAN (non-saturating loss, Adam) on a 2-D mixture, by default
    the ring of 8 Gaussians; measure modes covered and good samples every `eval_every`
    steps.

    `d_steps` discriminator updates per generator update; `pack` > 1 makes D judge
    packs of samples (PacGAN). Both are remedies for mode collapse.
    """
    centres = ring_centres() if centres is None else np.asarray(centres)
    check_range("steps", steps, 1, integer=True)
    check_range("d_steps", d_steps, 1, 100, integer=True)
    check_range("pack", pack, 1, 64, integer=True)
    if batch % pack:
        raise BadInput(f"batch ({batch}) must be a multiple of pack ({pack})")
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    G, D = mlp(z_dim, 2, hidden), PackedDiscriminator(2, pack, hidden)
    opt_g = torch.optim.Adam(G.parameters(), lr=lr_g, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=lr_d, betas=(0.5, 0.999))
    z_eval = torch.randn(n_eval, z_dim, generator=g)
    run = Toy2DRun(G, D, [], [], [], [], {"d_loss": [], "g_loss": []})

    def measure(step):
        with torch.no_grad():
            x = G(z_eval).numpy()
        modes, good = mode_coverage(x, centres, std)
        run.steps.append(step), run.samples.append(x)
        run.modes.append(modes), run.good.append(good)

    measure(0)
    for step in range(1, steps + 1):
        for _ in range(d_steps):
            real = sample_2d(batch, centres, std, g)
            fake = G(torch.randn(batch, z_dim, generator=g)).detach()
            d_loss = discriminator_loss(D(real), D(fake))
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
        g_loss = non_saturating_loss(D(G(torch.randn(batch, z_dim, generator=g))))
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        run.history["d_loss"].append(d_loss.item())
        run.history["g_loss"].append(g_loss.item())
        if step % eval_every == 0 or step == steps:
            measure(step)
    return run


# --------------------------------------------------------------------------------------
# The Dirac-GAN (Mescheder, Geiger, Nowozin 2018): the smallest GAN that oscillates.
#
# Real data is a point mass at 0; the generator is a point theta; the discriminator's
# logit is linear, l(x) = psi * x. The minimax value (the real term is log sigmoid(0)):
#
#   V(theta, psi) = -log 2 + log(1 - sigmoid(psi theta)) = -log 2 - softplus(psi theta)
#
# D ascends V in psi, G descends it in theta. The only equilibrium is (0, 0). R1 (the
# squared gradient of D's logit on real data, times gamma / 2) is gamma/2 psi^2 here.


def dirac_value(theta, psi):
    """V(theta, psi) of the Dirac-GAN (numpy arrays or floats)."""
    return -math.log(2) - np.logaddexp(0.0, np.multiply(psi, theta))


def dirac_r1(psi, gamma: float):
    """The R1 penalty gamma/2 * E_real |d l / d x|^2: with l(x) = psi x it is gamma/2
    psi^2."""
    return 0.5 * gamma * np.square(psi)


def dirac_field(theta, psi, gamma: float = 0.0):
    """The direction each player moves: (-dV/dtheta, dV/dpsi - d R1/dpsi).

    G descends V, D ascends V minus the R1 penalty:
        v_theta = psi * sigmoid(psi theta),
        v_psi = -theta * sigmoid(psi theta) - gamma * psi.
    Works elementwise on arrays, for plotting the field.
    """
    s = 1 / (1 + np.exp(-np.multiply(psi, theta)))
    return psi * s, -theta * s - gamma * np.asarray(psi)


def dirac_gan(
    theta: float = 1.0,
    psi: float = 0.0,
    steps: int = 100,
    lr: float = 0.1,
    mode: str = "simultaneous",
    gamma: float = 0.0,
) -> np.ndarray:
    """(steps + 1, 2): the path of (theta, psi) under gradient steps of size `lr`.

    mode="simultaneous": both players step from the same point (Euler's method).
    mode="alternating": D steps first, then G steps against the updated D (what
    cgan_lib.train_step does).
    """
    if mode not in ("simultaneous", "alternating"):
        raise BadInput(f"mode must be 'simultaneous' or 'alternating', got {mode!r}")
    check_range("steps", steps, 0, 10**7, integer=True)
    check_range("lr", lr, 0, lo_open=True)
    check_range("gamma", gamma, 0)
    path = np.empty((steps + 1, 2))
    path[0] = theta, psi
    for i in range(steps):
        if mode == "simultaneous":
            v_theta, v_psi = dirac_field(theta, psi, gamma)
            theta, psi = theta + lr * v_theta, psi + lr * v_psi
        else:
            psi = psi + lr * dirac_field(theta, psi, gamma)[1]
            theta = theta + lr * dirac_field(theta, psi, gamma)[0]
        path[i + 1] = theta, psi
    return path
