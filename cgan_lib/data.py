"""MNIST, the real one: 60,000 training and 10,000 test digits, and what a chapter does
with them.

    images, labels = load_mnist("train")   # uint8 (60000, 28, 28), int64 (60000,)
    x = to_signed(images)                  # float (N, 1, 28, 28) in [-1, 1], like tanh
    back = to_uint8(x)                     # and back, for pictures and scores

`load_mnist` reads a local copy, or downloads MNIST once and caches it on disk
(mnist_files.py has how, and what it does offline). `mnist_tensors` gives a split
ready to train on, on a device; `random_rotate` is the augmentation of chapter 1;
`reference_halves` the held-out halves of the test set that chapter 12 scores against.
"""

from __future__ import annotations

import functools
import math
import numbers

import torch
import torch.nn.functional as F

from .errors import BadInput
from .mnist_files import SIZES, SPLITS, load_arrays

__all__ = [
    "SIZES",
    "SPLITS",
    "load_mnist",
    "mnist_tensors",
    "random_rotate",
    "reference_halves",
    "to_signed",
    "to_uint8",
]


# -------------------------------------------------------------------------------------
# The public functions. They check their arguments here, at the boundary, so a wrong
# value fails with a message that names the accepted range instead of producing
# nonsense further down (an infinite rotation angle trains on black digits).


def _check_split(split) -> None:
    if split not in SPLITS:
        raise BadInput(f"split must be 'train' or 'test', got {split!r}")


def load_mnist(split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST `split` ("train" or "test") as (images uint8 (N, 28, 28), labels int64)."""
    _check_split(split)
    images, labels = load_arrays()[split]
    return torch.from_numpy(images), torch.from_numpy(labels)


def to_signed(images_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 0..255 (N, 28, 28) -> float (N, 1, 28, 28) in [-1, 1], the range of the
    generator's tanh.
    """
    if images_uint8.dtype != torch.uint8:
        raise BadInput(
            f"to_signed takes uint8 images (0..255), got {images_uint8.dtype}; "
            "images already in [-1, 1] need no conversion"
        )
    x = images_uint8.float().div(127.5).sub(1.0)
    return x.unsqueeze(1) if x.dim() == 3 else x


def to_uint8(images_signed: torch.Tensor) -> torch.Tensor:
    """The inverse of `to_signed`: float [-1, 1] (N, 1, 28, 28) -> uint8 (N, 28, 28)."""
    if not images_signed.is_floating_point():
        raise BadInput(
            f"to_uint8 takes float images in [-1, 1], got {images_signed.dtype}"
        )
    x = images_signed.detach().float().clamp(-1, 1).add(1).mul(127.5).round()
    x = x.to(torch.uint8)
    return x.squeeze(1) if x.dim() == 4 else x


def mnist_tensors(
    split: str = "train", device: str | torch.device = "cpu", limit: int | None = None
):
    """Training-ready tensors: images float (N, 1, 28, 28) in [-1, 1] and labels int64,
    on `device`; the first `limit` digits only, if given.

    The whole set is one tensor (47 MB as float for the training split), so a training
    loop can index batches directly on the device instead of collating samples one by
    one through a DataLoader.
    """
    _check_split(split)
    if limit is not None:
        if not isinstance(limit, numbers.Integral) or isinstance(limit, bool):
            raise BadInput(f"limit must be a positive whole number, got {limit!r}")
        if limit < 1:
            raise BadInput(
                f"limit must be a positive whole number (1 or more), got {limit}"
            )
    images, labels = load_mnist(split)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return to_signed(images.to(device)), labels.to(device)


def random_rotate(
    x: torch.Tensor, max_degrees: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Rotate each image of a batch (N, C, H, W) by its own random angle in
    [-max_degrees, max_degrees], with 0 <= max_degrees <= 180.

    Done for the whole batch at once with one affine grid, on whatever device the batch
    lives on. The background (-1 = black) is kept black by padding with the border's
    value.
    """
    ok = isinstance(max_degrees, numbers.Real) and not isinstance(max_degrees, bool)
    if not ok or not math.isfinite(max_degrees) or not 0 <= max_degrees <= 180:
        raise BadInput(
            f"max_degrees must be a finite number from 0 to 180, got {max_degrees!r}"
        )
    if max_degrees == 0:
        return x
    n = x.shape[0]
    u = torch.rand(n, generator=generator, device=x.device)
    angles = (u * 2 - 1) * math.radians(max_degrees)
    cos, sin = angles.cos(), angles.sin()
    zeros = torch.zeros_like(cos)
    rows = [torch.stack([cos, -sin, zeros], 1), torch.stack([sin, cos, zeros], 1)]
    theta = torch.stack(rows, 1).to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, padding_mode="border", align_corners=False)


@functools.lru_cache(maxsize=8)
def reference_halves(seed: int = 0):
    """A random split of the MNIST test set into two halves A and B (its first and
    second halves come from different writers, so split at random). B is the held-out
    reference every sample set is compared with.
    """
    images, labels = load_mnist("test")
    perm = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    a, b = perm[: len(perm) // 2], perm[len(perm) // 2 :]
    return (images[a], labels[a]), (images[b], labels[b])
