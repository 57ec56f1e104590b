import math

import pytest
import torch
import torch.nn as nn

from cgan_lib import losses
from cgan_lib.errors import BadInput
from cgan_lib.models import (
    MODELS,
    ConvDiscriminator,
    ConvGenerator,
    MLPDiscriminator,
    MLPGenerator,
    build,
    count_parameters,
)

LOG2 = math.log(2)


# ------------------------------------------------------------------------------------
# Parameter counts, from each architecture's layer list (models.py's docstrings).


def linear(n_in, n_out, bias=True):
    return n_in * n_out + (n_out if bias else 0)


def conv(c_in, c_out, k, bias=True):
    return c_in * c_out * k * k + (c_out if bias else 0)


def batch_norm(c):
    return 2 * c  # scale and shift; the running statistics are buffers, not parameters


def expected_counts(z, k, w, arch, conditioning="concat", refine=False):
    """(generator, discriminator) parameter counts for a model's options."""
    if arch == "mlp":
        g = linear(z + k, w) + linear(w, 2 * w) + linear(2 * w, 784)
        concat = k if conditioning == "concat" else 0
        d = linear(784 + concat, 2 * w) + linear(2 * w, w) + linear(w, 1)
        if k and conditioning == "projection":
            d += k * w
        return g, d
    g = linear(z + k, 2 * w * 49, bias=False) + batch_norm(2 * w)
    g += conv(2 * w, w, 4, bias=False) + batch_norm(w)
    if refine:
        g += conv(w, w, 3, bias=False) + batch_norm(w)
        g += conv(w, w // 2, 4, bias=False) + batch_norm(w // 2) + conv(w // 2, 1, 3)
    else:
        g += conv(w, 1, 4)
    in_ch = 1 + (k if k and conditioning == "concat" else 0)
    d = conv(in_ch, w, 4) + conv(w, 2 * w, 4, bias=False) + batch_norm(2 * w)
    d += linear(2 * w * 49, 1)
    if k and conditioning == "projection":
        d += k * 2 * w * 49
    return g, d


@pytest.mark.parametrize(
    "name, options",
    [
        ("mlp", {}),
        ("mlp", {"width": 8, "z_dim": 5}),
        ("cmlp", {"width": 8}),
        ("cmlp", {"width": 8, "conditioning": "projection"}),
        ("dcgan", {"width": 8}),
        ("dcgan", {"width": 32, "refine": True}),
        ("cdcgan", {}),
        ("cdcgan", {"width": 8, "conditioning": "concat", "refine": False}),
    ],
)
def test_parameter_counts_follow_the_architecture(name, options):
    opts = {**MODELS[name], **options}
    z, k, w = opts["z_dim"], opts["num_classes"], opts["width"]
    want_g, want_d = expected_counts(
        z, k, w, opts["arch"], opts.get("conditioning", "concat"), opts.get("refine")
    )
    G, D = build(name, **options)
    assert (count_parameters(G), count_parameters(D)) == (want_g, want_d)


def test_count_parameters_counts_weights_not_buffers():
    bn = nn.BatchNorm2d(4)  # 8 parameters, 9 buffers (running mean, var, count)
    assert count_parameters(bn) == 8
    assert count_parameters(nn.Sequential(nn.Linear(3, 2), bn)) == 8 + 8


# ------------------------------------------------------------------------------------
# What goes in and what comes out.


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_maps_latents_to_digits_and_digits_to_logits(name):
    G, D = build(name, width=8)
    z = torch.randn(5, G.z_dim) * 10  # large inputs: tanh still bounds the pixels
    y = torch.arange(5) if G.num_classes else None
    x = G(z, y)
    assert x.shape == (5, 1, 28, 28) and x.min() >= -1 and x.max() <= 1
    logits = D(x, y)
    assert logits.shape == (5,) and logits.dtype == torch.float32


@pytest.mark.parametrize(
    "name, classes",
    [
        ("mlp", (MLPGenerator, MLPDiscriminator)),
        ("cmlp", (MLPGenerator, MLPDiscriminator)),
        ("dcgan", (ConvGenerator, ConvDiscriminator)),
        ("cdcgan", (ConvGenerator, ConvDiscriminator)),
    ],
)
def test_build_makes_the_classes_the_chapters_show(name, classes):
    G, D = build(name, width=8)
    assert (type(G), type(D)) == classes
    assert (G.z_dim, G.num_classes) == (64, MODELS[name]["num_classes"])


def test_the_classes_work_on_their_own():
    z, y, x = torch.randn(2, 16), torch.tensor([3, 7]), torch.rand(2, 1, 28, 28)
    G = ConvGenerator(z_dim=16, num_classes=10, width=8, refine=False)
    assert G(z, y).shape == (2, 1, 28, 28)
    assert MLPGenerator(z_dim=16, num_classes=0, width=8)(z).shape == (2, 1, 28, 28)
    assert MLPDiscriminator(10, 8, "concat")(x, y).shape == (2,)
    assert ConvDiscriminator(0, 8, "projection")(x).shape == (2,)  # no label: no embed
    assert not hasattr(ConvDiscriminator(0, 8, "projection"), "embed")


@pytest.mark.parametrize(
    "name, options",
    [
        ("cmlp", {}),
        ("cmlp", {"conditioning": "projection"}),
        ("cdcgan", {}),
        ("cdcgan", {"conditioning": "concat"}),
    ],
)
def test_conditional_models_depend_on_the_label(name, options):
    G, D = build(name, width=8, **options)
    G.eval(), D.eval()
    z = torch.randn(1, G.z_dim).repeat(10, 1)
    x = G(z, torch.arange(10))
    # same z, ten labels: ten different images (tiny at initialisation, yet
    # distinct), and each one is the same image whatever batch it is drawn in
    assert len({tuple(image.flatten().tolist()) for image in x}) == 10
    assert torch.allclose(G(z[:1], torch.tensor([4])), x[4:5], atol=1e-6)
    logits = D(x[:1].repeat(10, 1, 1, 1), torch.arange(10))
    # one image, judged differently under each label
    assert len(set(logits.tolist())) == 10


def first_weighted_layer(module):
    return next(m for m in module.modules() if isinstance(m, (nn.Linear, nn.Conv2d)))


@pytest.mark.parametrize("name", ["cmlp", "cdcgan"])
def test_concat_conditioning_feeds_the_label_with_the_image(name):
    _, D = build(name, width=8, conditioning="concat")
    D.eval()
    first = first_weighted_layer(D)
    image_inputs = 784 if name == "cmlp" else 1  # pixels, or one image plane
    assert first.weight.shape[1] == image_inputs + 10  # + 10 one-hot inputs
    x = torch.rand(1, 1, 28, 28).repeat(10, 1, 1, 1) * 2 - 1
    assert D(x, torch.arange(10)).std() > 1e-6
    with torch.no_grad():  # cut the label's inputs: the label no longer matters
        first.weight[:, image_inputs:] = 0
    assert torch.allclose(D(x, torch.arange(10)), D(x[:1], torch.tensor([0])))


@pytest.mark.parametrize("name", ["cmlp", "cdcgan"])
def test_projection_conditioning_adds_the_label_at_the_end(name):
    _, D = build(name, width=8, conditioning="projection")
    D.eval()
    assert first_weighted_layer(D).weight.shape[1] == (784 if name == "cmlp" else 1)
    x = torch.rand(1, 1, 28, 28).repeat(10, 1, 1, 1) * 2 - 1
    labels = torch.arange(10)
    # logit(x, y) = head(h(x)) + <embed(y), h(x)>, with h the features before the head
    h = D.features(x.flatten(1) if name == "cmlp" else x)
    want = D.head(h).squeeze(1) + (D.embed(labels) * h).sum(1)
    assert torch.allclose(D(x, labels), want, atol=1e-6)
    with torch.no_grad():
        D.embed.weight.zero_()
    assert torch.allclose(D(x, labels), D.head(h).squeeze(1).expand(10), atol=1e-6)


def test_conditioning_must_be_one_of_the_two():
    with pytest.raises(ValueError, match="conditioning must be"):
        build("cmlp", conditioning="film")


def test_refine_adds_a_same_resolution_convolution_after_each_upsampling():
    def plain_convs(G):  # refining layers are the only non-transposed convolutions
        return [m for m in G.modules() if type(m) is nn.Conv2d]

    plain, _ = build("cdcgan", width=8, refine=False)
    G, _ = build("cdcgan", width=8)  # the book's conditional DCGAN refines by default
    assert plain_convs(plain) == [] and plain_convs(build("dcgan", width=8)[0]) == []
    convs = plain_convs(G)
    assert [(c.kernel_size, c.stride) for c in convs] == [((3, 3), (1, 1))] * 2
    seen = []
    hooks = [
        c.register_forward_hook(lambda m, i, o: seen.append((i[0].shape, o.shape)))
        for c in convs
    ]
    G(torch.randn(2, G.z_dim), torch.tensor([0, 1]))
    for h in hooks:
        h.remove()
    # each keeps its input's resolution: one at 14x14, the last draws the 28x28 digit
    assert [(tuple(i[1:]), tuple(o[1:])) for i, o in seen] == [
        ((8, 14, 14), (8, 14, 14)),
        ((4, 28, 28), (1, 28, 28)),
    ]
    with pytest.raises(ValueError, match="takes no option"):
        build("cmlp", refine=True)


def test_label_errors_name_the_problem():
    G, D = build("cdcgan", width=8)
    with pytest.raises(BadInput, match=r"labels must be in 0..9, got 3..11"):
        G(torch.randn(2, G.z_dim), torch.tensor([3, 11]))
    with pytest.raises(BadInput, match=r"labels must be in 0..9"):
        D(torch.zeros(1, 1, 28, 28), torch.tensor([-1]))
    with pytest.raises(BadInput, match="expected 2 labels"):
        G(torch.randn(2, G.z_dim), torch.tensor([1, 2, 3]))
    with pytest.raises(BadInput, match="conditional"):
        G(torch.randn(2, G.z_dim))
    G_u, _ = build("dcgan", width=8)
    with pytest.raises(BadInput, match="unconditional"):
        G_u(torch.randn(2, G_u.z_dim), torch.tensor([1, 2]))


def test_build_refuses_unknown_names_and_options():
    with pytest.raises(ValueError, match="unknown model 'vae'"):
        build("vae")
    with pytest.raises(ValueError, match="takes no option"):
        build("mlp", dropout=0.5)


@torch.no_grad()
def test_build_applies_the_dcgan_initialisation_to_conv_models():
    G, D = build("cdcgan")
    weights = torch.cat(
        [m.weight.flatten() for m in G.modules() if isinstance(m, nn.ConvTranspose2d)]
    )
    assert weights.mean().abs() < 2e-3 and weights.std() == pytest.approx(
        0.02, rel=0.05
    )
    norms = [m for m in D.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and all(m.bias.abs().max() == 0 for m in norms)


# ------------------------------------------------------------------------------------
# Losses, against closed forms.


def test_losses_at_logit_zero_are_the_textbook_constants():
    zero = torch.zeros(8)  # D = 1/2 everywhere
    assert losses.discriminator_loss(zero, zero).item() == pytest.approx(2 * LOG2)
    assert losses.saturating_loss(zero).item() == pytest.approx(-LOG2)
    assert losses.non_saturating_loss(zero).item() == pytest.approx(LOG2)


def test_losses_equal_their_textbook_formulas():
    real, fake = torch.randn(64) * 3, torch.randn(64) * 3
    d_real, d_fake = torch.sigmoid(real), torch.sigmoid(fake)
    expected_d = -(torch.log(d_real).mean() + torch.log(1 - d_fake).mean())
    assert torch.allclose(losses.discriminator_loss(real, fake), expected_d, atol=1e-5)
    saturating = torch.log(1 - d_fake).mean()
    assert torch.allclose(losses.saturating_loss(fake), saturating, atol=1e-5)
    non_saturating = -torch.log(d_fake).mean()
    assert torch.allclose(losses.non_saturating_loss(fake), non_saturating, atol=1e-5)
    # one-sided label smoothing: real digits count as real with probability 0.9
    smoothed = losses.discriminator_loss(real, fake, real_target=0.9)
    real_term = -(0.9 * torch.log(d_real) + 0.1 * torch.log(1 - d_real)).mean()
    expected = real_term - torch.log(1 - d_fake).mean()
    assert torch.allclose(smoothed, expected, atol=1e-5)


def test_generator_loss_gradients_against_the_logit():
    """d/dl log(1 - sigmoid(l)) = -sigmoid(l); d/dl -log sigmoid(l) = sigmoid(l) - 1."""
    logits = torch.tensor([-10.0, -2.0, 0.0, 3.0], requires_grad=True)
    n = len(logits)
    (g_sat,) = torch.autograd.grad(losses.saturating_loss(logits) * n, logits)
    (g_ns,) = torch.autograd.grad(losses.non_saturating_loss(logits) * n, logits)
    d = torch.sigmoid(logits.detach())
    assert torch.allclose(g_sat, -d, atol=1e-6)
    assert torch.allclose(g_ns, -(1 - d), atol=1e-6)
    # where D confidently rejects a fake (logit -10) only the non-saturating loss pushes
    assert abs(g_sat[0].item()) < 1e-4 and abs(g_ns[0].item()) > 0.99


def test_discriminator_loss_gradient_pushes_real_up_and_fake_down():
    real = torch.tensor([0.5, -1.0], requires_grad=True)
    fake = torch.tensor([1.0, -0.5], requires_grad=True)
    g_real, g_fake = torch.autograd.grad(
        losses.discriminator_loss(real, fake), [real, fake]
    )
    assert torch.allclose(g_real, -(1 - torch.sigmoid(real.detach())) / 2)
    assert torch.allclose(g_fake, torch.sigmoid(fake.detach()) / 2)


def test_losses_stay_finite_where_d_saturates():
    huge = torch.tensor([-1e4, 1e4])
    for value in (
        losses.discriminator_loss(huge, huge),
        losses.saturating_loss(huge),
        losses.non_saturating_loss(huge),
    ):
        assert torch.isfinite(value)
    # -log sigmoid(-1e4) = 1e4 (+ softplus's exp(-1e4), which is 0)
    assert losses.non_saturating_loss(torch.tensor([-1e4])).item() == 1e4
    assert losses.discriminator_loss(torch.tensor([1e4]), torch.tensor([-1e4])) == 0
