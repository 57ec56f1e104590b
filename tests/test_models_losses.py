import pytest
import torch

from cgan_lib import losses
from cgan_lib.models import MODELS, build, count_parameters


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_maps_latents_to_digits_and_digits_to_logits(name):
    G, D = build(name)
    z = torch.randn(5, G.z_dim)
    y = torch.arange(5) if G.num_classes else None
    x = G(z, y)
    assert x.shape == (5, 1, 28, 28) and x.min() >= -1 and x.max() <= 1
    assert D(x, y).shape == (5,)
    assert count_parameters(G) > 10_000 and count_parameters(D) > 10_000


@pytest.mark.parametrize("name, options", [("cmlp", {}), ("cmlp", {"conditioning": "projection"}),
                                           ("cdcgan", {}), ("cdcgan", {"conditioning": "concat"})])
def test_conditional_models_depend_on_the_label(name, options):
    G, D = build(name, **options)
    G.eval(), D.eval()
    z = torch.randn(1, G.z_dim).repeat(10, 1)
    x = G(z, torch.arange(10))
    assert (x[0] - x[1]).abs().max() > 1e-4  # same z, different digit -> different image
    logits = D(x[:1].repeat(10, 1, 1, 1), torch.arange(10))
    assert logits.std() > 1e-6  # the same image is judged differently under different labels


def test_concat_and_projection_conditioning():
    _, D = build("cdcgan", conditioning="concat")
    assert D.features[0].in_channels == 11  # 1 image plane + 10 one-hot planes
    _, D = build("cmlp", conditioning="projection")
    assert D.features[0].in_features == 784 and D.embed.weight.shape == (10, 256)  # the label enters at the end
    with pytest.raises(ValueError, match="conditioning must be"):
        build("cmlp", conditioning="film")


def test_refine_adds_a_same_resolution_convolution_after_each_upsampling():
    plain, _ = build("cdcgan", refine=False)
    G, _ = build("cdcgan")  # the book's conditional DCGAN refines by default; the unconditional one does not
    assert not any(isinstance(m, torch.nn.Conv2d) for m in plain.up)
    convs = [m for m in G.up if isinstance(m, torch.nn.Conv2d)]
    assert [(c.kernel_size, c.stride) for c in convs] == [((3, 3), (1, 1))] * 2
    seen = []
    hooks = [c.register_forward_hook(lambda m, i, o: seen.append(tuple(o.shape[1:]))) for c in convs]
    G(torch.randn(2, G.z_dim), torch.tensor([0, 1]))
    [h.remove() for h in hooks]
    assert seen == [(64, 14, 14), (1, 28, 28)]  # one at 14x14, the last one draws the 28x28 digit
    assert not any(isinstance(m, torch.nn.Conv2d) for m in build("dcgan")[0].up)
    with pytest.raises(ValueError, match="takes no option"):
        build("cmlp", refine=True)


def test_label_errors_name_the_problem():
    G, D = build("cdcgan")
    with pytest.raises(ValueError, match=r"labels must be in 0..9"):
        G(torch.randn(2, G.z_dim), torch.tensor([3, 11]))
    with pytest.raises(ValueError, match=r"labels must be in 0..9"):
        D(torch.zeros(1, 1, 28, 28), torch.tensor([-1]))
    with pytest.raises(ValueError, match="conditional"):
        G(torch.randn(2, G.z_dim))
    G_u, _ = build("dcgan")
    with pytest.raises(ValueError, match="unconditional"):
        G_u(torch.randn(2, G_u.z_dim), torch.tensor([1, 2]))


def test_build_refuses_unknown_names_and_options():
    with pytest.raises(ValueError, match="unknown model 'vae'"):
        build("vae")
    with pytest.raises(ValueError, match="takes no option"):
        build("mlp", dropout=0.5)


def test_losses_equal_their_textbook_formulas():
    real, fake = torch.randn(64) * 3, torch.randn(64) * 3
    d_real, d_fake = torch.sigmoid(real), torch.sigmoid(fake)
    expected_d = -(torch.log(d_real).mean() + torch.log(1 - d_fake).mean())
    assert torch.allclose(losses.discriminator_loss(real, fake), expected_d, atol=1e-5)
    assert torch.allclose(losses.saturating_loss(fake), torch.log(1 - d_fake).mean(), atol=1e-5)
    assert torch.allclose(losses.non_saturating_loss(fake), -torch.log(d_fake).mean(), atol=1e-5)
    smoothed = losses.discriminator_loss(real, fake, real_target=0.9)
    expected = -(0.9 * torch.log(d_real) + 0.1 * torch.log(1 - d_real)).mean() - torch.log(1 - d_fake).mean()
    assert torch.allclose(smoothed, expected, atol=1e-5)


def test_saturating_gradient_vanishes_where_the_generator_is_losing():
    """When D confidently rejects a fake (logit -10, D = 4.5e-5), only the non-saturating loss still pushes."""
    logit = torch.tensor([-10.0], requires_grad=True)
    (g_sat,) = torch.autograd.grad(losses.saturating_loss(logit), logit)
    (g_ns,) = torch.autograd.grad(losses.non_saturating_loss(logit), logit)
    assert abs(g_sat.item()) < 1e-4 and abs(g_ns.item()) > 0.99
    assert torch.isfinite(losses.non_saturating_loss(torch.tensor([-1e4])))  # stable, no log(0)
