"""cgan_lib: the small library behind the cgan-book chapters (GANs on MNIST digits).

One module per concept, listed so that each imports only modules above it (a test
checks it, tests/test_structure.py):

    errors      the library's exceptions, its limits and the boundary checks
    mnist_files  where MNIST comes from: a local copy, torchvision or PyPI; its cache
    data        MNIST as tensors; scaling to [-1, 1] and back; augmentation
    models      MLP and convolutional generators and discriminators; MODELS, build()
    losses      the loss pairs on logits, penalties, auxiliary terms (ACGAN, InfoGAN)
    clusters    self-conditioning: k-means clusters of the digits standing in for labels
    distributed  one run on several processes (torchrun, DDP): shares, synced batch norm
    run         TrainConfig, GANRun (what a training run holds), new_run, pick_device
    checkpoint  the file format, save/load/resume, the run-folder lock, shipped models
    train       train_step (one D and one G update) and fit (the loop)
    step_check  chapter 4's checker of a training step written by the reader
    sample      drawing by label, latent paths, whole numbers
    digit_classifier  the MNIST classifier every score reads digits with
    distances   FD, KID, precision/recall/density/coverage on its features
    memorisation  each digit's nearest training digit; copies
    metrics     every score with its spread, real references, the test-set FD, tables
    viz         grids, PNGs, GIFs, plots
    widgets     the ipywidgets panels
    toy         1-D and 2-D GANs for the theory chapters
    export      ONNX for the web page
    toolbox     chapter 9's recipes and the table of their benchmark results
    recipes     the command line's training recipes (fast on a CPU, the shipped ones)
    ship        a trained run into pretrained/, with its scored model card
    __main__    the command line: python -m cgan_lib --help
"""

import os

__version__ = "0.2.0"


def quick() -> bool:
    """True in quick mode (CGAN_QUICK=1): chapters shrink their live work to under a
    minute.
    """
    return os.environ.get("CGAN_QUICK", "0") not in ("", "0")


from .checkpoint import (  # noqa: E402
    load_checkpoint,
    load_generator,
    model_card,
    pretrained,
    save_checkpoint,
    save_generator,
)
from .data import load_mnist, mnist_tensors  # noqa: E402
from .errors import BadInput, CganError, CheckpointError, TrainingDiverged  # noqa: E402
from .models import build  # noqa: E402
from .run import GANRun, TrainConfig, new_run, pick_device  # noqa: E402
from .sample import generate, sample_by_label, write_number  # noqa: E402
from .train import fit  # noqa: E402

if os.environ.get("CGAN_CHECK_FIGURES", "0") not in ("", "0"):  # the book build
    from .viz import check_figures_when_drawn

    check_figures_when_drawn()

__all__ = [
    "BadInput",
    "CganError",
    "CheckpointError",
    "GANRun",
    "TrainConfig",
    "TrainingDiverged",
    "build",
    "fit",
    "generate",
    "load_checkpoint",
    "load_generator",
    "load_mnist",
    "mnist_tensors",
    "model_card",
    "new_run",
    "pick_device",
    "pretrained",
    "quick",
    "sample_by_label",
    "save_checkpoint",
    "save_generator",
    "write_number",
]
