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


# --------------------------------------------------------------------------------------
# 2-D: the ring of Gaussians and mode coverage


def test_ring_centres_lie_evenly_on_the_circle():
    c = toy.ring_centres(8, radius=2.0)
    assert c.shape == (8, 2)
    assert np.allclose(np.linalg.norm(c, axis=1), 2.0)
    assert np.allclose(c[0], [2.0, 0.0])
    gaps = np.linalg.norm(c - np.roll(c, 1, axis=0), axis=1)
    assert np.allclose(gaps, 2 * 2.0 * math.sin(math.pi / 8))  # equal chords


def test_sample_2d_draws_each_mode_with_its_spread():
    centres = toy.ring_centres(4, radius=3.0)
    g = torch.Generator().manual_seed(0)
    x = toy.sample_2d(40000, centres, 0.1, g)
    assert x.shape == (40000, 2) and x.dtype == torch.float32
    nearest = torch.cdist(x, torch.tensor(centres, dtype=torch.float32)).argmin(1)
    shares = torch.bincount(nearest, minlength=4).float() / len(x)
    assert torch.allclose(shares, torch.full((4,), 0.25), atol=0.01)
    around_0 = x[nearest == 0] - torch.tensor(centres[0], dtype=torch.float32)
    assert around_0.mean(0).abs().max() < 0.01
    assert torch.allclose(around_0.std(0), torch.full((2,), 0.1), atol=0.005)


def test_mode_coverage_counts_modes_and_good_samples():
    centres = toy.ring_centres(8)
    g = torch.Generator().manual_seed(0)
    real = toy.sample_2d(8000, centres, 0.05, g).numpy()
    modes, good = toy.mode_coverage(real, centres, 0.05)
    assert modes == 8 and good > 0.98  # 3 std holds ~99% of a round 2-D Gaussian
    # every sample on mode 0: one mode, all good (a collapsed generator)
    collapsed = np.repeat(centres[:1], 500, axis=0)
    assert toy.mode_coverage(collapsed, centres, 0.05) == (1, 1.0)
    # the centre of the ring is far from every mode: nothing good, nothing covered
    assert toy.mode_coverage(np.zeros((100, 2)), centres, 0.05) == (0, 0.0)
    # half on mode 2, half off the ring; a mode needs min_fraction of all samples
    mixed = np.concatenate([np.repeat(centres[2:3], 50, 0), np.zeros((50, 2))])
    assert toy.mode_coverage(mixed, centres, 0.05) == (1, 0.5)
    few = np.concatenate([centres[:1], np.repeat(centres[1:2], 999, 0)])
    assert toy.mode_coverage(few, centres, 0.05, min_fraction=0.01)[0] == 1
    assert toy.mode_coverage(few, centres, 0.05, min_fraction=0.001)[0] == 2


def test_packed_discriminator_judges_packs():
    D = toy.PackedDiscriminator(2, pack=4, hidden=8)
    assert D(torch.zeros(12, 2)).shape == (3,)
    x = torch.randn(8, 2)
    # a pack is its samples side by side: the first logit sees only rows 0-3
    y = x.clone()
    y[4:] = 5.0
    assert torch.equal(D(x)[:1], D(y)[:1]) and not torch.equal(D(x)[1:], D(y)[1:])
    assert toy.PackedDiscriminator(2, pack=1, hidden=8)(x).shape == (8,)


def test_gan_2d_covers_the_ring_and_a_fast_generator_collapses():
    healthy = toy.train_gan_2d(steps=1200, eval_every=400, seed=0)
    assert healthy.steps == [0, 400, 800, 1200]
    assert len(healthy.history["d_loss"]) == 1200 and len(healthy.samples) == 4
    assert healthy.samples[-1].shape == (2000, 2)
    assert healthy.modes[0] == 0  # an untrained G sits near the centre
    assert healthy.modes[-1] >= 6 and healthy.good[-1] > healthy.good[0]
    # reported numbers are mode_coverage of the returned samples
    assert (healthy.modes[-1], healthy.good[-1]) == toy.mode_coverage(
        healthy.samples[-1], toy.ring_centres(), 0.05
    )
    collapsed = toy.train_gan_2d(steps=1200, eval_every=400, lr_d=1e-4, seed=0)
    assert max(collapsed.modes) <= 2
    again = toy.train_gan_2d(steps=5, eval_every=5, seed=0)
    assert again.history["d_loss"] == healthy.history["d_loss"][:5]


def test_gan_2d_refuses_bad_settings():
    with pytest.raises(toy.BadInput, match="multiple of pack"):
        toy.train_gan_2d(steps=1, batch=100, pack=3)
    with pytest.raises(toy.BadInput, match="d_steps"):
        toy.train_gan_2d(steps=1, d_steps=0)


# --------------------------------------------------------------------------------------
# The Dirac-GAN


def radius2(path):
    return (path**2).sum(1)


def test_dirac_field_is_the_gradient_of_the_value_and_of_r1():
    theta, psi, gamma = 0.7, -1.3, 0.4
    t = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
    p = torch.tensor(psi, dtype=torch.float64, requires_grad=True)
    x_real = torch.zeros((), dtype=torch.float64, requires_grad=True)
    logit = lambda x: p * x  # noqa: E731  D's logit, linear in x
    value = torch.nn.functional.logsigmoid(logit(x_real)) + torch.log1p(
        -torch.sigmoid(logit(t))
    )
    assert value.item() == pytest.approx(toy.dirac_value(theta, psi), abs=1e-12)
    # R1 by autograd: the gradient of D's logit at the real point, squared
    (d_logit_dx,) = torch.autograd.grad(logit(x_real), x_real, create_graph=True)
    r1 = 0.5 * gamma * d_logit_dx**2
    assert r1.item() == pytest.approx(toy.dirac_r1(psi, gamma), abs=1e-12)
    g_theta, g_psi = torch.autograd.grad(value - r1, (t, p))
    v_theta, v_psi = toy.dirac_field(theta, psi, gamma)
    # G descends V; D ascends V - R1
    assert v_theta == pytest.approx(-g_theta.item(), abs=1e-12)
    assert v_psi == pytest.approx(g_psi.item(), abs=1e-12)
    # the field is zero only at the equilibrium
    assert toy.dirac_field(0.0, 0.0, gamma) == (0.0, 0.0)
    grid = np.meshgrid(np.linspace(-1, 1, 5), np.linspace(-1, 1, 5))
    assert toy.dirac_field(*grid)[0].shape == (5, 5)


def test_simultaneous_steps_spiral_out_every_step():
    path = toy.dirac_gan(1.0, 0.0, steps=200, lr=0.1, mode="simultaneous")
    r2 = radius2(path)
    assert path.shape == (201, 2) and np.array_equal(path[0], [1.0, 0.0])
    assert np.all(np.diff(r2) > 0)
    # exactly: r^2 grows by the factor 1 + lr^2 sigmoid(psi theta)^2
    s = 1 / (1 + np.exp(-path[:-1, 0] * path[:-1, 1]))
    assert np.allclose(r2[1:], r2[:-1] * (1 + 0.1**2 * s**2))
    # a smaller step spirals out more slowly over the same time (lr * steps)
    slow = toy.dirac_gan(1.0, 0.0, steps=2000, lr=0.01, mode="simultaneous")
    assert 1 < radius2(slow)[-1] < r2[-1]


def test_alternating_steps_cycle_without_converging():
    path = toy.dirac_gan(1.0, 0.0, steps=5000, lr=0.1, mode="alternating")
    r = np.sqrt(radius2(path))
    assert r.max() < 1.5 and r[-1000:].min() > 0.5  # bounded, never at (0, 0)
    # it goes round: theta changes sign again and again
    assert (np.diff(np.sign(path[:, 0])) != 0).sum() > 10


def test_r1_makes_the_dirac_gan_converge():
    for mode in ("simultaneous", "alternating"):
        path = toy.dirac_gan(1.0, 0.0, steps=2000, lr=0.1, mode=mode, gamma=0.3)
        r = np.sqrt(radius2(path))
        assert r[-1] < 1e-3 * r[0]
        assert np.all(r[100::100] < r[:-100:100])  # it shrinks over every stretch


def test_dirac_gan_refuses_bad_settings():
    with pytest.raises(toy.BadInput, match="mode"):
        toy.dirac_gan(mode="leapfrog")
    with pytest.raises(toy.BadInput, match="lr"):
        toy.dirac_gan(lr=0.0)
    with pytest.raises(toy.BadInput, match="gamma"):
        toy.dirac_gan(gamma=-1.0)
