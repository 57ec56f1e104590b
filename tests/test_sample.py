import math

import pytest
import torch

import cgan_lib
from cgan_lib import digit_classifier, sample
from cgan_lib.data import to_uint8
from cgan_lib.models import build


@pytest.fixture(scope="module")
def G():
    torch.manual_seed(0)
    return build("cdcgan", width=8)[0].eval()


@pytest.fixture(scope="module")
def shipped():
    """The shipped conditional DCGAN: real digits, with ink and background."""
    return cgan_lib.pretrained("cdcgan")


def test_latents_are_standard_normal_and_reproducible():
    z = sample.latents(4000, 16, seed=3)
    assert z.shape == (4000, 16) and z.dtype == torch.float32
    assert abs(z.mean().item()) < 0.02 and z.std().item() == pytest.approx(1, abs=0.02)
    assert torch.equal(z, sample.latents(4000, 16, seed=3))
    assert not torch.equal(z, sample.latents(4000, 16, seed=4))
    with pytest.raises(ValueError, match="the number of images must be"):
        sample.latents(0, 16)


def test_generate_draws_one_image_per_label_from_its_z(G):
    z = sample.latents(6, G.z_dim, seed=1)
    labels = [3, 1, 4, 1, 5, 9]
    images = sample.generate(G, labels, z=z)
    assert images.shape == (6, 1, 28, 28) and -1 <= images.min() <= images.max() <= 1
    with torch.no_grad():
        assert torch.equal(images, G(z, torch.tensor(labels)))
    # the seed picks the latents; batching does not change the pictures
    assert torch.equal(sample.generate(G, labels, seed=1), images)
    assert torch.allclose(sample.generate(G, labels, z=z, batch=4), images, atol=1e-6)
    # tensors of labels work too, and the generator's mode is left as it was
    G.train()
    assert torch.allclose(sample.generate(G, torch.tensor(labels), z=z), images)
    assert G.training
    G.eval()


def test_generate_refuses_what_it_cannot_draw(G):
    with pytest.raises(ValueError, match="conditional: pass the labels"):
        sample.generate(G, n=3)
    with pytest.raises(ValueError, match=r"z must be finite, of shape \(N, 64\)"):
        sample.generate(G, [1, 2], z=torch.randn(2, 5))
    with pytest.raises(ValueError, match="3 latent vectors for 2 images"):
        sample.generate(G, [1, 2], z=torch.randn(3, 64), n=2)


def test_sample_by_label_blocks_and_types(G):
    images, labels = sample.sample_by_label(G, per_class=3, seed=0)
    assert images.shape == (30, 28, 28) and images.dtype == torch.uint8
    assert labels.tolist() == [d for d in range(10) for _ in range(3)]
    assert torch.equal(images, to_uint8(sample.generate(G, labels, seed=0)))
    again, _ = sample.sample_by_label(G, per_class=3, seed=0)
    other, _ = sample.sample_by_label(G, per_class=3, seed=1)
    assert torch.equal(images, again) and not torch.equal(images, other)
    some, some_labels = sample.sample_by_label(G, per_class=2, seed=0, digits=[8, 3])
    assert some_labels.tolist() == [8, 8, 3, 3] and some.shape == (4, 28, 28)


def test_sample_by_label_draws_the_digit_asked_for(shipped):
    images, labels = sample.sample_by_label(shipped, per_class=5, seed=0)
    predicted, _ = digit_classifier.predict(digit_classifier.load_classifier(), images)
    assert (predicted == labels).float().mean() >= 0.9  # the card says 99.5%


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, 10_001])
def test_per_class_must_be_positive(G, bad):
    with pytest.raises(ValueError, match=r"per_class must be a whole number in \[1, "):
        sample.sample_by_label(G, bad)


@pytest.mark.parametrize(
    "bad, message",
    [
        (10, "must be 0..9, got 10"),
        (-1, "must be 0..9, got -1"),
        (2.5, "integer 0..9"),
        ("seven", "integer 0..9"),
    ],
)
def test_bad_digits_are_named(G, bad, message):
    with pytest.raises(ValueError, match=message):
        sample.generate(G, [1, bad])


def test_unconditional_generator_cannot_draw_a_chosen_digit():
    G_u = build("dcgan", width=8)[0]
    with pytest.raises(ValueError, match="unconditional"):
        sample.sample_by_label(G_u, 2)
    with pytest.raises(ValueError, match="unconditional"):
        sample.all_labels(G_u, torch.randn(1, G_u.z_dim))
    assert sample.generate(G_u, n=4, seed=0).shape == (4, 1, 28, 28)


def test_lerp_is_the_straight_line():
    z0, z1 = torch.randn(64), torch.randn(64)
    t = torch.linspace(0, 1, 5)
    path = sample.lerp(z0, z1, t)
    assert path.shape == (5, 64)
    for ti, zi in zip(t, path):
        assert torch.allclose(zi, z0 + ti * (z1 - z0), atol=1e-6)


def test_slerp_walks_the_great_circle_at_constant_speed():
    z0, z1 = torch.randn(64), torch.randn(64)
    z1 = z1 / z1.norm() * z0.norm()  # equal norms: the path stays on one sphere
    t = torch.linspace(0, 1, 9)
    path = sample.slerp(z0, z1, t)
    assert path.shape == (9, 64)
    assert torch.allclose(path[0], z0, atol=1e-5)
    assert torch.allclose(path[-1], z1, atol=1e-5)
    norms = path.norm(dim=1)
    assert torch.allclose(norms, z0.norm().expand(9), rtol=1e-4)
    # equal angles between consecutive points: an eighth of the arc each
    unit = path / norms[:, None]
    steps = torch.arccos((unit[:-1] * unit[1:]).sum(1).clamp(-1, 1))
    omega = torch.arccos(torch.dot(z0, z1) / z0.norm() ** 2)
    assert torch.allclose(steps, (omega / 8).expand(8), atol=1e-3)
    # lerp's midpoint is shorter: the norm the generator rarely saw in training
    assert sample.lerp(z0, z1, t)[4].norm() < 0.9 * z0.norm()


def test_slerp_closed_form_and_degenerate_cases():
    e0, e1 = torch.eye(2)[0] * 3, torch.eye(2)[1] * 3  # orthogonal, norm 3
    mid = sample.slerp(e0, e1, torch.tensor([0.5]))[0]
    # sin(pi/4) / sin(pi/2) of each: (e0 + e1) / sqrt(2)
    assert torch.allclose(mid, (e0 + e1) / math.sqrt(2), atol=1e-6)
    t = torch.linspace(0, 1, 3)
    # parallel vectors and the zero vector have no arc: slerp is then lerp
    assert torch.allclose(sample.slerp(e0, 2 * e0, t), sample.lerp(e0, 2 * e0, t))
    zero = torch.zeros(2)
    assert torch.allclose(sample.slerp(zero, e1, t), sample.lerp(zero, e1, t))


def test_interpolate_draws_g_along_the_path(G):
    z0, z1 = sample.latents(2, G.z_dim, seed=5)
    frames = sample.interpolate(G, z0, z1, steps=7, label=3)
    assert frames.shape == (7, 28, 28) and frames.dtype == torch.uint8
    path = sample.slerp(z0, z1, torch.linspace(0, 1, 7))
    assert torch.equal(frames, to_uint8(sample.generate(G, [3] * 7, z=path)))
    lerped = sample.interpolate(G, z0, z1, steps=7, label=3, method="lerp")
    assert torch.equal(lerped[0], frames[0]) and torch.equal(lerped[-1], frames[-1])
    assert not torch.equal(lerped[3], frames[3])  # same ends, another way between
    other_label = sample.interpolate(G, z0, z1, steps=7, label=5)
    assert torch.equal(other_label[0], to_uint8(sample.generate(G, [5], z=z0[None]))[0])
    with pytest.raises(ValueError, match="steps"):
        sample.interpolate(G, z0, z1, steps=1, label=3)
    with pytest.raises(ValueError, match="slerp"):
        sample.interpolate(G, z0, z1, label=3, method="cubic")


def test_all_labels_keeps_each_z_and_changes_the_digit(G):
    z = sample.latents(3, G.z_dim, seed=7)
    styles = sample.all_labels(G, z)
    assert styles.shape == (3, 10, 28, 28) and styles.dtype == torch.uint8
    for i in range(3):
        want = to_uint8(sample.generate(G, list(range(10)), z=z[i].expand(10, -1)))
        assert torch.equal(styles[i], want)
    assert len({tuple(im.flatten().tolist()) for im in styles[0]}) == 10


@pytest.mark.parametrize("number", ["7", "42", "9830976450"])
def test_write_number_lays_out_cropped_digits_left_to_right(shipped, number):
    spacing, pad = 2, 4
    z = sample.latents(len(number), shipped.z_dim, seed=0)
    digits = to_uint8(sample.generate(shipped, [int(c) for c in number], z=z))
    pieces = [sample.crop_to_ink(d) for d in digits]
    picture = sample.write_number(shipped, number, seed=0, jitter=0)
    # without jitter: full-height digits on a 4-pixel margin, 2 pixels apart
    width = sum(p.shape[1] for p in pieces) + spacing * (len(number) - 1) + 2 * pad
    assert picture.shape == (28 + 2 * pad, width) and picture.dtype == torch.uint8
    x = pad
    for piece in pieces:
        assert torch.equal(picture[pad : pad + 28, x : x + piece.shape[1]], piece)
        x += piece.shape[1] + spacing
    assert picture[:, :pad].max() == 0 and picture[:, x - spacing :].max() == 0


def test_write_number_grows_with_the_number_of_digits(shipped):
    widths = [
        sample.write_number(shipped, "1234567890"[:n], seed=0).shape[1]
        for n in (1, 2, 5, 10)
    ]
    assert widths == sorted(widths) and len(set(widths)) == 4
    # a cropped digit is narrower than its 28-pixel box: ten fit in far less than 280
    assert widths[-1] < 10 * 28


def test_write_number_seed_jitter_invert_and_z(shipped):
    img = sample.write_number(shipped, "9830976450", seed=0)
    assert img.dtype == torch.uint8 and img.dim() == 2
    # jitter: heights within about 8% of 28 pixels, on a 4-pixel margin
    assert round(28 * 0.92) + 8 <= img.shape[0] <= round(28 * 1.08) + 8
    assert torch.equal(img, sample.write_number(shipped, "9830976450", seed=0))
    assert not torch.equal(img, sample.write_number(shipped, "9830976450", seed=1))
    assert (img == 0).float().mean() > 0.5  # light ink on a black page, as MNIST
    short = sample.write_number(shipped, "42", seed=0)
    inverted = sample.write_number(shipped, "42", seed=0, invert=True)
    assert torch.equal(inverted, 255 - short)
    assert torch.equal(sample.write_number(shipped, 42, seed=0), short)  # int: digits
    # one z for every digit: two equal digits come out identical
    z = sample.latents(1, shipped.z_dim, seed=11).repeat(2, 1)
    twins = sample.write_number(shipped, "77", z=z, jitter=0)
    w = (twins.shape[1] - 8 - 2) // 2
    assert torch.equal(twins[:, 4 : 4 + w], twins[:, 4 + w + 2 : 4 + 2 * w + 2])


@pytest.mark.parametrize(
    "bad, message",
    [
        ("12a", r"character 'a' at position 3"),
        ("", "empty"),
        ("-5", r"character '-' at position 1"),
        ("3.14", r"character '\.' at position 2"),
        ("1 2", "position 2"),
        ("1" * 65, "at most 64"),
    ],
)
def test_bad_numbers_get_a_clear_message(G, bad, message):
    with pytest.raises(ValueError, match=message):
        sample.write_number(G, bad)


def test_crop_to_ink_keeps_only_inked_columns():
    digit = torch.zeros(28, 28, dtype=torch.uint8)
    digit[5:20, 10:14] = 200
    digit[0, 2] = 40  # at the threshold: not ink
    cropped = sample.crop_to_ink(digit, margin=1)
    assert cropped.shape == (28, 6) and torch.equal(cropped, digit[:, 9:15])
    assert sample.crop_to_ink(digit, margin=0).shape == (28, 4)
    assert sample.crop_to_ink(digit, threshold=39, margin=0).shape == (28, 12)
    # a blank digit keeps the middle 8 columns, so a space still has a width
    blank = sample.crop_to_ink(torch.zeros(28, 28, dtype=torch.uint8))
    assert blank.shape == (28, 8)
