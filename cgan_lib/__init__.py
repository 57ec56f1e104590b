"""cgan_lib: the small library behind the cgan-book chapters (GANs on MNIST, from minimax to conditional DCGAN).

One module per concept: data, models, losses, train, sample, viz (and the command line in __main__).
"""

__version__ = "0.1.0"

from .data import load_mnist, mnist_tensors  # noqa: F401
from .models import build  # noqa: F401
from .sample import generate, load_generator, sample_by_label, write_number  # noqa: F401
from .train import TrainConfig, fit, load_checkpoint, pick_device, save_checkpoint  # noqa: F401
