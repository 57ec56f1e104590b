"""1-D toy GANs for the minimax chapter: densities on a grid, the optimal discriminator,
the JSD, and a tiny GAN whose generator density and discriminator curve we can watch
while it trains (as in GAN Lab).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

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
