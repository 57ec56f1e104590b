"""GAN losses, written on discriminator logits l, where D = sigmoid(l).

Two identities keep them short and numerically stable (no log(0) when D saturates):

    log D      = log sigmoid(l)   = -softplus(-l)
    log(1 - D) = log sigmoid(-l)  = -softplus(l)

Discriminator: maximise E log D(x) + E log(1 - D(G(z))),
    i.e. minimise softplus(-l_real) + softplus(l_fake).
Generator, minimax ("saturating", Goodfellow et al. 2014):
    minimise E log(1 - D(G(z))) = -softplus(l_fake).
Generator, non-saturating (the paper's practical fix):
    minimise -E log D(G(z)) = softplus(-l_fake).

Below them, chapter 9's toolbox: hinge, least squares and Wasserstein losses on the same
raw scores, the WGAN-GP, R1 and R2 gradient penalties, and ACGAN's class loss.
"""

import torch
import torch.nn.functional as F

from .models import latent_code, model_options


def discriminator_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor, real_target: float = 1.0
) -> torch.Tensor:
    """-[E log D(x) + E log(1 - D(G(z)))]. real_target < 1 is one-sided label smoothing
    (Salimans et al. 2016).
    """
    if real_target == 1.0:
        real_term = F.softplus(-real_logits).mean()
    else:
        real_term = F.binary_cross_entropy_with_logits(
            real_logits, torch.full_like(real_logits, real_target)
        )
    return real_term + F.softplus(fake_logits).mean()


def saturating_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The minimax generator loss E log(1 - D(G(z))): its gradient vanishes when D
    confidently rejects fakes.
    """
    return -F.softplus(fake_logits).mean()


def non_saturating_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """-E log D(G(z)): same fixed point, strong gradients exactly when the generator is
    losing.
    """
    return F.softplus(-fake_logits).mean()


# --------------------------------------------------------------------------------------
# The toolbox (chapter 9): other losses on the same logits, and penalties on D.
# Each discriminator loss takes real_target so the table below has one signature; only
# the cross-entropy loss uses it (TrainConfig refuses real_target < 1 with the others).


def hinge_discriminator_loss(real_logits, fake_logits, real_target=1.0):
    """E max(0, 1 - D(x)) + E max(0, 1 + D(G(z))) (Lim & Ye 2017; Miyato et al. 2018).

    A real scored above +1, or a fake below -1, costs nothing: D stops pushing on
    samples it already separates by the margin and spends its capacity on the others.
    """
    return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()


def hinge_generator_loss(fake_logits):
    """-E D(G(z)): the generator raises the critic's score of its samples."""
    return -fake_logits.mean()


def least_squares_discriminator_loss(real_logits, fake_logits, real_target=1.0):
    """LSGAN (Mao et al. 2017): D regresses its raw score to 1 on reals, 0 on fakes.

    A fake far on the wrong side of the boundary is still penalised quadratically, so
    the generator keeps a gradient where the sigmoid of the cross-entropy saturates.
    """
    return 0.5 * ((real_logits - 1) ** 2).mean() + 0.5 * (fake_logits**2).mean()


def least_squares_generator_loss(fake_logits):
    """0.5 E (D(G(z)) - 1)^2: the generator wants its samples scored as reals (1)."""
    return 0.5 * ((fake_logits - 1) ** 2).mean()


def wasserstein_discriminator_loss(real_logits, fake_logits, real_target=1.0):
    """E D(G(z)) - E D(x): the critic's estimate of the Wasserstein-1 distance, negated
    (Arjovsky et al. 2017). Only meaningful for a 1-Lipschitz critic, which the
    gradient penalty below enforces softly (WGAN-GP, Gulrajani et al. 2017).
    """
    return fake_logits.mean() - real_logits.mean()


def wasserstein_generator_loss(fake_logits):
    """-E D(G(z))."""
    return -fake_logits.mean()


def gradient_penalty(D, real, fake, y, rng=None):
    """WGAN-GP: E (||grad_x D(x_hat)|| - 1)^2 at random points x_hat between a real
    and a fake image; zero when D's gradient norm is 1 there (a 1-Lipschitz critic).
    """
    eps = torch.rand(real.shape[0], 1, 1, 1, generator=rng, device=real.device)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x_hat, y).sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def r1_penalty(D, x, y):
    """R1 (Mescheder et al. 2018): E ||grad_x D(x)||^2 on real images (R2: on fakes).

    Zero where D is flat around the data, so D cannot build steep walls that make
    training oscillate (the Dirac-GAN of chapter 6); weighted by gamma / 2.
    """
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x, y).sum(), x, create_graph=True)
    return grad.flatten(1).square().sum(1).mean()


def code_loss(D, fake, z):
    """InfoGAN (Chen et al. 2016): cross-entropy of D's code head on G's images with the
    categories G drew them from (read off z). Both players minimise it: log K minus it
    is a lower bound on the mutual information between the code and the image, so
    lowering it raises the bound.
    """
    return F.cross_entropy(D.infer_code(fake), latent_code(z, D.codes))


def class_loss(D, x, y):
    """ACGAN (Odena et al. 2017): cross-entropy of D's class head on images x with
    labels y. D adds it on reals and fakes; G adds it on its fakes, for its labels.
    """
    return F.cross_entropy(D.classify(x), y)


# The loss pairs TrainConfig.loss names: (discriminator loss, generator loss).
# Chapter 3's two share the discriminator's cross-entropy; chapter 9's each bring
# their own pair.
LOSSES = {
    "nonsaturating": (discriminator_loss, non_saturating_loss),
    "saturating": (discriminator_loss, saturating_loss),
    "hinge": (hinge_discriminator_loss, hinge_generator_loss),
    "lsgan": (least_squares_discriminator_loss, least_squares_generator_loss),
    "wgan-gp": (wasserstein_discriminator_loss, wasserstein_generator_loss),
}


def auxiliary_d_loss(cfg, D, x, y_real, fake, y_fake, z, rng=None):
    """What a config adds to D's loss beyond the pair in LOSSES (chapter 9): WGAN-GP's
    gradient penalty, R1 on reals, R2 on fakes, ACGAN's class loss on both, InfoGAN's
    code loss. 0 for the plain recipes. The config says which (its model's options),
    so a discriminator of the reader's own needs no attributes beyond forward.
    """
    options = model_options(cfg.model, cfg.model_kwargs)
    terms = []
    if cfg.loss == "wgan-gp":
        terms.append(cfg.gp_weight * gradient_penalty(D, x, fake, y_real, rng))
    if cfg.r1 > 0:
        terms.append(cfg.r1 / 2 * r1_penalty(D, x, y_real))
    if cfg.r2 > 0:
        terms.append(cfg.r2 / 2 * r1_penalty(D, fake, y_fake))
    if options.get("conditioning") == "acgan":
        terms.append(class_loss(D, x, y_real) + class_loss(D, fake, y_fake))
    if options.get("codes"):
        terms.append(code_loss(D, fake, z))
    return sum(terms)


def auxiliary_g_loss(cfg, D, fake, y_fake, z):
    """What G adds to its loss (chapter 9): ACGAN's generator wants D to read its label,
    InfoGAN's wants D to read its category. 0 for the plain recipes.
    """
    options = model_options(cfg.model, cfg.model_kwargs)
    terms = []
    if options.get("conditioning") == "acgan":
        terms.append(class_loss(D, fake, y_fake))
    if options.get("codes"):
        terms.append(code_loss(D, fake, z))
    return sum(terms)
