"""cgan_lib: the small library behind the cgan-book chapters (GANs on MNIST, from minimax to conditional DCGAN).

One module per concept: data, models, losses, train, sample, viz (and the command line in __main__).
"""

import os

__version__ = "0.1.0"


def quick() -> bool:
    """True in quick mode (CGAN_QUICK=1): chapters shrink their live work so each runs in under a minute."""
    return os.environ.get("CGAN_QUICK", "0") not in ("", "0")


from .data import load_mnist, mnist_tensors  # noqa: F401
from .models import build  # noqa: F401
from .sample import generate, load_generator, model_card, pretrained, sample_by_label, write_number  # noqa: F401
from .train import TrainConfig, fit, load_checkpoint, pick_device, save_checkpoint  # noqa: F401
