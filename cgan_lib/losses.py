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
"""

import torch
import torch.nn.functional as F


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


GENERATOR_LOSSES = {"saturating": saturating_loss, "nonsaturating": non_saturating_loss}
