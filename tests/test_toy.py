import math

import numpy as np
import pytest

from cgan_lib import toy

GRID = np.linspace(-8, 8, 4001)
DX = GRID[1] - GRID[0]


def test_optimal_discriminator_beats_every_perturbation_and_is_half_at_equality():
    p_data = toy.mixture_pdf(GRID, (-2, 2), (0.5, 0.5))
    p_g = toy.gaussian_pdf(GRID, 0.5, 1.5)
    d_star = toy.optimal_discriminator(p_data, p_g)
    best = toy.value(d_star, p_data, p_g, DX)
    rng = np.random.default_rng(0)
    for _ in range(20):
        other = np.clip(d_star + rng.normal(0, 0.05, d_star.shape), 1e-6, 1 - 1e-6)
        assert toy.value(other, p_data, p_g, DX) < best
    assert np.allclose(toy.optimal_discriminator(p_g, p_g), 0.5)


@pytest.mark.parametrize("mean, std", [(0.5, 1.5), (3.0, 0.4), (0.0, 1.0)])
def test_value_at_the_optimum_is_minus_log4_plus_twice_the_jsd(mean, std):
    p_data = toy.gaussian_pdf(GRID, 0.0, 1.0)
    p_g = toy.gaussian_pdf(GRID, mean, std)
    c = toy.value(toy.optimal_discriminator(p_data, p_g), p_data, p_g, DX)
    assert c == pytest.approx(-math.log(4) + 2 * toy.jsd(p_data, p_g, DX), abs=1e-6)


def test_jsd_bounds():
    p = toy.gaussian_pdf(GRID, -5, 0.3)
    q = toy.gaussian_pdf(GRID, 5, 0.3)
    assert toy.jsd(p, p, DX) == pytest.approx(0.0, abs=1e-9)
    assert toy.jsd(p, q, DX) == pytest.approx(math.log(2), abs=1e-3)  # (almost) disjoint supports


def test_toy_gan_learns_the_two_bumps():
    _, _, snapshots, history = toy.train_toy_gan(steps=1500, snapshot_every=500, seed=0)
    first, last = snapshots[0].generated, snapshots[-1].generated
    assert len(snapshots) == 4 and len(history["d_loss"]) == 1500
    # at the end the samples sit on both bumps (means -2 and 2), not in one place
    assert (last < -1).mean() > 0.25 and (last > 1).mean() > 0.25
    assert abs(np.mean(np.abs(last)) - 2) < abs(np.mean(np.abs(first)) - 2)
