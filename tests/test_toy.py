import math

import numpy as np
import pytest
import torch

from cgan_lib import toy

GRID = np.linspace(-8, 8, 4001)
DX = GRID[1] - GRID[0]
LOG4 = math.log(4)


def integral(f):
    return float(np.sum(f) * DX)


def test_gaussian_pdf_is_a_normalised_density_with_its_mean_and_variance():
    p = toy.gaussian_pdf(GRID, 0.5, 1.5)
    assert integral(p) == pytest.approx(1, abs=1e-6)
    assert integral(GRID * p) == pytest.approx(0.5, abs=1e-5)  # tails cut at 8
    assert integral((GRID - 0.5) ** 2 * p) == pytest.approx(1.5**2, abs=1e-4)
    assert p.max() == pytest.approx(1 / (1.5 * math.sqrt(2 * math.pi)), rel=1e-6)


def test_mixture_pdf_weights_its_components():
    p = toy.mixture_pdf(GRID, (-2, 2), (0.5, 0.5))
    assert integral(p) == pytest.approx(1, abs=1e-6)
    assert integral(GRID * p) == pytest.approx(0, abs=1e-6)  # two equal bumps
    q = toy.mixture_pdf(GRID, (-2, 2), (0.5, 0.5), weights=(0.2, 0.8))
    assert integral(q) == pytest.approx(1, abs=1e-6)
    assert integral(GRID * q) == pytest.approx(0.2 * -2 + 0.8 * 2, abs=1e-6)
    assert integral(q[GRID > 0]) == pytest.approx(0.8, abs=1e-4)


def test_sample_mixture_draws_from_the_mixture():
    g = torch.Generator().manual_seed(0)
    x = toy.sample_mixture(20000, (-2.0, 2.0), (0.5, 0.5), g)
    assert x.shape == (20000, 1) and x.dtype == torch.float32
    left = x[x < 0]
    assert len(left) / len(x) == pytest.approx(0.5, abs=0.02)
    assert left.mean().item() == pytest.approx(-2, abs=0.03)
    assert left.std().item() == pytest.approx(0.5, abs=0.03)
    again = toy.sample_mixture(20000, (-2.0, 2.0), (0.5, 0.5), g.manual_seed(0))
    assert torch.equal(x, again)


def test_kl_of_two_gaussians_matches_the_closed_form():
    for (m1, s1), (m2, s2) in [((0, 1), (1, 1)), ((0.5, 0.7), (-1, 1.8))]:
        p, q = toy.gaussian_pdf(GRID, m1, s1), toy.gaussian_pdf(GRID, m2, s2)
        closed = math.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5
        assert toy.kl(p, q, DX) == pytest.approx(closed, abs=1e-5)
    p = toy.gaussian_pdf(GRID, 0, 1)
    assert toy.kl(p, p, DX) == pytest.approx(0, abs=1e-12)
    # KL is not symmetric
    q = toy.gaussian_pdf(GRID, 0, 2)
    assert abs(toy.kl(p, q, DX) - toy.kl(q, p, DX)) > 0.1


def test_jsd_is_symmetric_and_bounded_by_log2():
    p = toy.gaussian_pdf(GRID, -5, 0.3)
    q = toy.gaussian_pdf(GRID, 5, 0.3)
    r = toy.gaussian_pdf(GRID, 0.5, 1.5)
    assert toy.jsd(p, p, DX) == pytest.approx(0.0, abs=1e-9)
    # (almost) disjoint supports: the most two densities can differ
    assert toy.jsd(p, q, DX) == pytest.approx(math.log(2), abs=1e-3)
    assert toy.jsd(p, r, DX) == pytest.approx(toy.jsd(r, p, DX), abs=1e-12)
    assert 0 < toy.jsd(p, r, DX) < math.log(2)
    # the definition: the average KL to the midpoint density
    m = (p + r) / 2
    want = 0.5 * toy.kl(p, m, DX) + 0.5 * toy.kl(r, m, DX)
    assert toy.jsd(p, r, DX) == pytest.approx(want, abs=1e-12)


def test_optimal_discriminator_is_the_density_ratio():
    p_data = toy.gaussian_pdf(GRID, 0, 1)
    p_g = toy.gaussian_pdf(GRID, 1, 1)
    d = toy.optimal_discriminator(p_data, p_g)
    # for N(0, 1) vs N(1, 1): D*(x) = 1 / (1 + exp(x - 1/2)), one half at x = 1/2
    assert np.allclose(d, 1 / (1 + np.exp(GRID - 0.5)), atol=1e-9)
    assert np.allclose(toy.optimal_discriminator(p_g, p_g), 0.5)
    # where neither density has mass D* is 1/2, not 0/0
    zeros = np.zeros(3)
    assert np.array_equal(toy.optimal_discriminator(zeros, zeros), [0.5, 0.5, 0.5])


def test_optimal_discriminator_beats_every_perturbation():
    p_data = toy.mixture_pdf(GRID, (-2, 2), (0.5, 0.5))
    p_g = toy.gaussian_pdf(GRID, 0.5, 1.5)
    d_star = toy.optimal_discriminator(p_data, p_g)
    best = toy.value(d_star, p_data, p_g, DX)
    rng = np.random.default_rng(0)
    for _ in range(20):
        other = np.clip(d_star + rng.normal(0, 0.05, d_star.shape), 1e-6, 1 - 1e-6)
        assert toy.value(other, p_data, p_g, DX) < best


def test_value_of_the_undecided_discriminator_is_minus_log4():
    p_data = toy.mixture_pdf(GRID, (-2, 2), (0.5, 0.5))
    p_g = toy.gaussian_pdf(GRID, 0.5, 1.5)
    half = np.full_like(GRID, 0.5)
    assert toy.value(half, p_data, p_g, DX) == pytest.approx(-LOG4, abs=1e-6)


@pytest.mark.parametrize("mean, std", [(0.5, 1.5), (3.0, 0.4), (0.0, 1.0)])
def test_value_at_the_optimum_is_minus_log4_plus_twice_the_jsd(mean, std):
    p_data = toy.gaussian_pdf(GRID, 0.0, 1.0)
    p_g = toy.gaussian_pdf(GRID, mean, std)
    c = toy.value(toy.optimal_discriminator(p_data, p_g), p_data, p_g, DX)
    assert c == pytest.approx(-LOG4 + 2 * toy.jsd(p_data, p_g, DX), abs=1e-6)
    assert c >= -LOG4 - 1e-9  # the generator's best is p_g = p_data


def test_mlp_shapes():
    net = toy.mlp(4, 1, hidden=16)
    assert net(torch.zeros(7, 4)).shape == (7, 1)
    # 4 -> 16 -> 16 -> 1, with biases
    assert sum(p.numel() for p in net.parameters()) == (4 * 16 + 16) + (
        16 * 16 + 16
    ) + (16 + 1)


def test_toy_gan_learns_the_two_bumps():
    grid = np.linspace(-5, 5, 101)
    _, D, snapshots, history = toy.train_toy_gan(
        steps=400, snapshot_every=200, seed=0, grid=grid
    )
    assert [s.step for s in snapshots] == [0, 200, 400]
    assert len(history["d_loss"]) == len(history["g_loss"]) == 400
    first, last = snapshots[0].generated, snapshots[-1].generated
    assert first.shape == (4000,) and snapshots[-1].d_curve.shape == (101,)
    assert all(0 < s.d_curve.min() and s.d_curve.max() < 1 for s in snapshots)
    with torch.no_grad():  # the snapshot's curve is the returned D on the grid
        d = torch.sigmoid(D(torch.tensor(grid, dtype=torch.float32)[:, None]))
    assert np.allclose(snapshots[-1].d_curve, d.squeeze(1).numpy(), atol=1e-6)
    # G starts as a narrow blob at 0 and ends on both bumps (means -2 and 2)
    assert np.mean(np.abs(first)) < 0.5
    assert (last < -1).mean() > 0.3 and (last > 1).mean() > 0.3
    assert abs(np.mean(np.abs(last)) - 2) < 0.5
    # near equilibrium D says about 1/2 and its loss is near log 4
    assert np.mean(history["d_loss"][-50:]) == pytest.approx(LOG4, abs=0.1)
    # the same seed trains the same GAN
    again = toy.train_toy_gan(steps=20, snapshot_every=20, seed=0, grid=grid)[3]
    assert again["d_loss"] == history["d_loss"][:20]
