"""Drawing from a trained generator: by label, along latent paths, and whole multi-digit
numbers.

    G = load_generator("runs/cdcgan/checkpoint.pt")  # from cgan_lib.checkpoint
    images, labels = sample_by_label(G, per_class=8, seed=0)
    # uint8 (80, 28, 28), and labels 0..9 in blocks of 8
    picture = write_number(G, "9830976450", seed=0)
    # uint8 (H, W): one handwritten-looking number
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .data import to_uint8
from .errors import MAX_IMAGES, MAX_SEED, BadInput, check_digit, check_range

MAX_NUMBER_LENGTH = 64
MAX_PER_CLASS = MAX_IMAGES // 10


def check_number(number) -> str:
    """A string of decimal digits, or a ValueError that says what is wrong with it."""
    if not isinstance(number, str):
        number = str(number)
    if number == "":
        raise BadInput("the number is empty: type at least one digit 0-9")
    bad = [(i, ch) for i, ch in enumerate(number) if ch not in "0123456789"]
    if bad:
        i, ch = bad[0]
        shown = number if len(number) <= 24 else number[:20] + "..."
        raise BadInput(
            f"{shown!r} is not a number: character {ch!r} at position {i + 1} "
            "is not a digit 0-9"
        )
    if len(number) > MAX_NUMBER_LENGTH:
        raise BadInput(
            f"the number has {len(number)} digits; "
            f"at most {MAX_NUMBER_LENGTH} are drawn"
        )
    return number


def require_conditional(G: nn.Module, what: str = "draw a chosen digit") -> None:
    if not G.num_classes:
        raise BadInput(
            f"this generator is unconditional: it cannot {what}; "
            "use a conditional model "
            "(cmlp or cdcgan)"
        )


def latents(n: int, z_dim: int, seed: int | None = None, device="cpu") -> torch.Tensor:
    """n standard-normal latent vectors, reproducible for a seed."""
    n = check_range("the number of images", n, 1, MAX_IMAGES, integer=True)
    if seed is None:
        return torch.randn(n, z_dim).to(device)
    g = torch.Generator().manual_seed(
        check_range("seed", seed, 0, MAX_SEED, integer=True)
    )
    return torch.randn(n, z_dim, generator=g).to(device)


@torch.no_grad()
def generate(
    G: nn.Module,
    labels=None,
    *,
    n: int | None = None,
    z: torch.Tensor | None = None,
    seed: int | None = None,
    batch: int = 1000,
) -> torch.Tensor:
    """Images in [-1, 1] (N, 1, 28, 28): one per label (conditional G) or n of them
    (unconditional G).
    """
    device = next(G.parameters()).device
    if labels is not None:
        require_conditional(G)
        values = (
            labels.reshape(-1).tolist() if torch.is_tensor(labels) else list(labels)
        )
        labels = torch.tensor(
            [check_digit(v) for v in values], dtype=torch.long, device=device
        )
        n = len(labels)
    elif G.num_classes:
        raise BadInput(
            "this generator is conditional: pass the labels of the digits to draw"
        )
    if z is None:
        if n is None:
            raise BadInput("say how many images to draw: n=")
        z = latents(n, G.z_dim, seed, device)
    elif z.dim() != 2 or z.shape[1] != G.z_dim or not torch.isfinite(z).all():
        raise BadInput(
            f"z must be finite, of shape (N, {G.z_dim}); got {tuple(z.shape)}"
        )
    elif n is not None and len(z) != n:
        raise BadInput(f"{len(z)} latent vectors for {n} images")
    z = z.to(device)
    was_training = G.training
    G.eval()
    out = torch.cat(
        [
            G(z[i : i + batch], None if labels is None else labels[i : i + batch])
            for i in range(0, len(z), batch)
        ]
    )
    G.train(was_training)
    return out.cpu()


def sample_by_label(
    G: nn.Module, per_class: int, seed: int = 0, digits=range(10)
) -> tuple[torch.Tensor, torch.Tensor]:
    """per_class images of each digit: uint8 (len(digits) * per_class, 28, 28) and the
    labels, in blocks.
    """
    per_class = check_range("per_class", per_class, 1, MAX_PER_CLASS, integer=True)
    require_conditional(G)
    labels = torch.tensor(
        [check_digit(d) for d in digits], dtype=torch.long
    ).repeat_interleave(per_class)
    return to_uint8(generate(G, labels, seed=seed)), labels


def lerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Straight line z0 -> z1 at fractions t (T,): (T, z_dim)."""
    t = torch.as_tensor(t, dtype=z0.dtype).reshape(-1, 1)
    return (1 - t) * z0 + t * z1


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Great-circle path z0 -> z1 (Shoemake 1985; White 2016 for GANs): (T, z_dim).

    A Gaussian z concentrates near the sphere of radius sqrt(z_dim); the midpoint of a
    straight line has a norm about 0.7 times that, where the generator has rarely been
    trained. Slerp keeps the norm typical.
    """
    t = torch.as_tensor(t, dtype=torch.float64).reshape(-1, 1)
    a, b = z0.double(), z1.double()
    na, nb = a.norm(), b.norm()
    if na < 1e-8 or nb < 1e-8:  # the zero vector has no direction: the arc is undefined
        return lerp(z0, z1, t.to(z0.dtype))
    omega = torch.arccos(torch.dot(a / na, b / nb).clamp(-1, 1))
    if omega < 1e-3:  # (almost) parallel: the arc is a line, and sin(omega) would be ~0
        return lerp(z0, z1, t.to(z0.dtype))
    if math.pi - omega < 1e-3:  # opposite: every great circle joins them; take one
        ua = a / na
        e = torch.zeros_like(a)
        e[a.abs().argmin()] = 1.0
        e = e - (e @ ua) * ua
        radius = (1 - t) * na + t * nb
        arc = torch.cos(math.pi * t) * ua + torch.sin(math.pi * t) * (e / e.norm())
        return (radius * arc).to(z0.dtype)
    path = (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(
        omega
    )
    return path.to(z0.dtype)


def interpolate(
    G: nn.Module,
    z0: torch.Tensor,
    z1: torch.Tensor,
    steps: int = 10,
    label: int | None = None,
    method: str = "slerp",
) -> torch.Tensor:
    """uint8 (steps, 28, 28): G along the path z0 -> z1, for one digit label
    (conditional G).
    """
    steps = check_range("steps", steps, 2, MAX_IMAGES, integer=True)
    paths = {"slerp": slerp, "lerp": lerp}
    if method not in paths:
        raise BadInput(f"method must be 'slerp' or 'lerp', got {method!r}")
    z = paths[method](
        z0.flatten().float(), z1.flatten().float(), torch.linspace(0, 1, steps)
    )
    labels = [check_digit(label)] * steps if G.num_classes else None
    if labels is None and label is not None:
        require_conditional(G)
    return to_uint8(generate(G, labels, z=z))


def all_labels(G: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """uint8 (len(z), 10, 28, 28): each latent vector drawn as each digit 0..9 (style
    kept, digit changed).
    """
    require_conditional(G, "change the digit of a latent vector")
    z = z.reshape(-1, G.z_dim)
    zz = z.repeat_interleave(10, 0)
    labels = torch.arange(10).repeat(len(z))
    return to_uint8(generate(G, labels, z=zz)).reshape(len(z), 10, 28, 28)


def crop_to_ink(
    digit: torch.Tensor, threshold: int = 40, margin: int = 1
) -> torch.Tensor:
    """Keep the columns of a uint8 (28, 28) digit that hold ink (plus a margin); a blank
    digit keeps 8 columns.
    """
    cols = (digit > threshold).any(0).nonzero().flatten()
    if len(cols) == 0:
        return digit[:, 10:18]
    lo, hi = (
        max(int(cols[0]) - margin, 0),
        min(int(cols[-1]) + margin + 1, digit.shape[1]),
    )
    return digit[:, lo:hi]


@torch.no_grad()
def write_number(
    G: nn.Module,
    number: str,
    seed: int = 0,
    spacing: int = 2,
    jitter: float = 1.0,
    invert: bool = False,
    z: torch.Tensor | None = None,
) -> torch.Tensor:
    """One uint8 image (H, W) of `number` written with generated digits, left to right.

    Each digit is generated, cropped to its ink, slightly resized and shifted up or down
    (`jitter` scales both; 0 turns them off) and placed `spacing` pixels after the
    previous one. Light ink on black as in MNIST, or dark ink on white with `invert`.
    The same seed gives the same picture.
    """
    spacing = check_range("spacing", spacing, 0, 28, integer=True)
    jitter = check_range("jitter", jitter, 0, 3)
    number = check_number(number)
    require_conditional(G, "write a number")
    n = len(number)
    labels = torch.tensor([int(ch) for ch in number])
    digits = to_uint8(
        generate(G, labels, z=z if z is not None else latents(n, G.z_dim, seed))
    )
    g = torch.Generator().manual_seed(seed + 7)
    scales = 1 + jitter * 0.08 * (2 * torch.rand(n, generator=g) - 1)  # about +-8% size
    # a baseline jittered by about +-2 px
    shifts = (jitter * 2 * (2 * torch.rand(n, generator=g) - 1)).round().int()
    pieces = []
    for digit, scale in zip(digits, scales.tolist()):
        piece = crop_to_ink(digit)
        h, w = round(28 * scale), max(1, round(piece.shape[1] * scale))
        piece = F.interpolate(
            piece[None, None].float(), size=(h, w), mode="bilinear", align_corners=False
        )
        pieces.append(piece[0, 0].round().clamp(0, 255).to(torch.uint8))
    pad = 4
    height = max(p.shape[0] for p in pieces) + 2 * pad
    width = sum(p.shape[1] for p in pieces) + spacing * (n - 1) + 2 * pad
    canvas = torch.zeros(height, width, dtype=torch.uint8)
    x = pad
    for piece, shift in zip(pieces, shifts.tolist()):
        ph, pw = piece.shape
        # bottoms aligned on a jittered baseline
        top = min(max(height - pad - ph + shift, 0), height - ph)
        region = canvas[top : top + ph, x : x + pw]
        torch.maximum(region, piece, out=region)
        x += pw + spacing
    return 255 - canvas if invert else canvas
