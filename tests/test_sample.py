import pytest
import torch

from cgan_lib import sample
from cgan_lib.models import build


@pytest.fixture(scope="module")
def G():
    torch.manual_seed(0)
    return build("cdcgan", width=16)[0].eval()


def test_sample_by_label_blocks_and_types(G):
    images, labels = sample.sample_by_label(G, per_class=3, seed=0)
    assert images.shape == (30, 28, 28) and images.dtype == torch.uint8
    assert labels.tolist() == [d for d in range(10) for _ in range(3)]
    again, _ = sample.sample_by_label(G, per_class=3, seed=0)
    other, _ = sample.sample_by_label(G, per_class=3, seed=1)
    assert torch.equal(images, again) and not torch.equal(images, other)


@pytest.mark.parametrize("bad", [0, -2, 1.5, True])
def test_per_class_must_be_positive(G, bad):
    with pytest.raises(ValueError, match="per_class must be a whole number in \\[1, 10000\\]"):
        sample.sample_by_label(G, bad)


@pytest.mark.parametrize("bad, message", [(10, "must be 0..9, got 10"), (-1, "must be 0..9, got -1"),
                                          (2.5, "integer 0..9"), ("seven", "integer 0..9")])
def test_bad_digits_are_named(G, bad, message):
    with pytest.raises(ValueError, match=message):
        sample.generate(G, [1, bad])


def test_unconditional_generator_cannot_draw_a_chosen_digit():
    G_u = build("dcgan", width=16)[0]
    with pytest.raises(ValueError, match="unconditional"):
        sample.sample_by_label(G_u, 2)
    assert sample.generate(G_u, n=4, seed=0).shape == (4, 1, 28, 28)


def test_lerp_and_slerp_paths():
    z0, z1 = torch.randn(64), torch.randn(64)
    t = torch.linspace(0, 1, 5)
    for path in (sample.lerp, sample.slerp):
        zs = path(z0, z1, t)
        assert zs.shape == (5, 64)
        assert torch.allclose(zs[0], z0, atol=1e-5) and torch.allclose(zs[-1], z1, atol=1e-5)
    assert torch.allclose(sample.lerp(z0, z1, t)[2], (z0 + z1) / 2)
    # slerp between two vectors of equal norm keeps that norm; lerp's midpoint is shorter
    z1 = z1 / z1.norm() * z0.norm()
    norms = sample.slerp(z0, z1, t).norm(dim=1)
    assert torch.allclose(norms, z0.norm().expand(5), rtol=1e-4)
    assert sample.lerp(z0, z1, t)[2].norm() < 0.9 * z0.norm()


def test_interpolation_and_all_labels(G):
    frames = sample.interpolate(G, torch.randn(64), torch.randn(64), steps=7, label=3)
    assert frames.shape == (7, 28, 28) and frames.dtype == torch.uint8
    assert not torch.equal(frames[0], frames[-1])
    with pytest.raises(ValueError, match="at least 2 steps"):
        sample.interpolate(G, torch.randn(64), torch.randn(64), steps=1, label=3)
    with pytest.raises(ValueError, match="slerp"):
        sample.interpolate(G, torch.randn(64), torch.randn(64), label=3, method="cubic")
    grid = sample.all_labels(G, torch.randn(2, 64))
    assert grid.shape == (2, 10, 28, 28)
    assert not torch.equal(grid[0, 0], grid[0, 1])


def test_write_number(G):
    img = sample.write_number(G, "9830976450", seed=0)
    assert img.dtype == torch.uint8 and img.dim() == 2 and 28 <= img.shape[0] <= 40
    short = sample.write_number(G, "42", seed=0)
    assert img.shape[1] > 3 * short.shape[1]  # ten digits are much wider than two
    assert torch.equal(img, sample.write_number(G, "9830976450", seed=0))  # deterministic for a seed
    assert not torch.equal(img, sample.write_number(G, "9830976450", seed=1))
    assert torch.equal(sample.write_number(G, "42", seed=0, invert=True), 255 - short)
    assert sample.write_number(G, 7, seed=0).shape[1] < short.shape[1]  # an int is read as its digits


@pytest.mark.parametrize("bad, message", [("12a", r"character 'a' at position 3"), ("", "empty"),
                                          ("-5", r"character '-' at position 1"), ("1 2", "position 2"),
                                          ("1" * 65, "at most 64")])
def test_bad_numbers_get_a_clear_message(G, bad, message):
    with pytest.raises(ValueError, match=message):
        sample.write_number(G, bad)


def test_crop_to_ink_keeps_only_inked_columns():
    digit = torch.zeros(28, 28, dtype=torch.uint8)
    digit[5:20, 10:14] = 200
    assert sample.crop_to_ink(digit, margin=1).shape == (28, 6)
    assert sample.crop_to_ink(torch.zeros(28, 28, dtype=torch.uint8)).shape == (28, 8)
