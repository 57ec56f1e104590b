"""Drawing from a trained generator: by label, along latent paths, and whole multi-digit numbers.

    G = load_generator("runs/cdcgan/checkpoint.pt")
    images, labels = sample_by_label(G, per_class=8, seed=0)     # uint8 (80, 28, 28), labels 0..9 in blocks
    picture = write_number(G, "9830976450", seed=0)              # uint8 (H, W), one handwritten-looking number
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from .data import to_uint8
from .train import load_checkpoint, pick_device

MAX_NUMBER_LENGTH = 64


def check_digit(label) -> int:
    """A digit label 0..9 as an int, or a ValueError naming the bad value."""
    if isinstance(label, bool) or not isinstance(label, int):
        try:
            as_int = int(label)
        except (TypeError, ValueError):
            raise ValueError(f"a digit must be an integer 0..9, got {label!r}") from None
        if as_int != label:
            raise ValueError(f"a digit must be an integer 0..9, got {label!r}")
        label = as_int
    if not 0 <= label <= 9:
        raise ValueError(f"a digit must be 0..9, got {label}")
    return label


def check_number(number) -> str:
    """A string of decimal digits, or a ValueError that says what is wrong with it."""
    if not isinstance(number, str):
        number = str(number)
    if number == "":
        raise ValueError("the number is empty: type at least one digit 0-9")
    bad = [(i, ch) for i, ch in enumerate(number) if ch not in "0123456789"]
    if bad:
        i, ch = bad[0]
        raise ValueError(f"{number!r} is not a number: character {ch!r} at position {i + 1} is not a digit 0-9")
    if len(number) > MAX_NUMBER_LENGTH:
        raise ValueError(f"the number has {len(number)} digits; at most {MAX_NUMBER_LENGTH} are drawn")
    return number


def require_conditional(G: nn.Module, what: str = "draw a chosen digit") -> None:
    if not G.num_classes:
        raise ValueError(f"this generator is unconditional: it cannot {what}; use a conditional model "
                         "(cmlp or cdcgan)")


def load_generator(path: str | Path, device=None) -> nn.Module:
    """The generator (its EMA copy when trained with one) of a checkpoint, in eval mode."""
    run = load_checkpoint(path, device=pick_device(device) if device else "cpu")
    return run.generator.eval()


def pretrained(name: str = "cdcgan", device=None) -> nn.Module:
    """A shipped generator by model name (see cgan_lib/pretrained/*.json for how each was trained)."""
    from .metrics import PRETRAINED_DIR

    path = PRETRAINED_DIR / f"{name}.pt"
    if not path.exists():
        shipped = sorted(p.stem for p in PRETRAINED_DIR.glob("*.pt") if p.stem != "classifier")
        raise ValueError(f"no shipped model {name!r}; shipped: {', '.join(shipped) or 'none'}")
    return load_generator(path, device)


def model_card(name: str) -> dict:
    """The model card of a shipped generator: the command, config, seed, device, wall time and scores."""
    import json

    from .metrics import PRETRAINED_DIR

    path = PRETRAINED_DIR / f"{name}.json"
    if not path.exists():
        raise ValueError(f"no model card for {name!r} in {PRETRAINED_DIR}")
    return json.loads(path.read_text())


def latents(n: int, z_dim: int, seed: int | None = None, device="cpu") -> torch.Tensor:
    """n standard-normal latent vectors, reproducible for a seed."""
    g = torch.Generator().manual_seed(seed) if seed is not None else None
    return torch.randn(n, z_dim, generator=g).to(device)


@torch.no_grad()
def generate(G: nn.Module, labels=None, *, n: int | None = None, z: torch.Tensor | None = None,
             seed: int | None = None, batch: int = 1000) -> torch.Tensor:
    """Images in [-1, 1] (N, 1, 28, 28): one per label (conditional G) or n of them (unconditional G)."""
    device = next(G.parameters()).device
    if labels is not None:
        require_conditional(G)
        values = labels.reshape(-1).tolist() if torch.is_tensor(labels) else list(labels)
        labels = torch.tensor([check_digit(v) for v in values], dtype=torch.long, device=device)
        n = len(labels)
    elif G.num_classes:
        raise ValueError("this generator is conditional: pass the labels of the digits to draw")
    if z is None:
        if n is None or n < 1:
            raise ValueError(f"the number of images must be at least 1, got {n}")
        z = latents(n, G.z_dim, seed, device)
    elif n is not None and len(z) != n:
        raise ValueError(f"{len(z)} latent vectors for {n} images")
    z = z.to(device)
    was_training = G.training
    G.eval()
    out = torch.cat([G(z[i : i + batch], None if labels is None else labels[i : i + batch])
                     for i in range(0, len(z), batch)])
    G.train(was_training)
    return out.cpu()


def sample_by_label(G: nn.Module, per_class: int, seed: int = 0, digits=range(10)) -> tuple[torch.Tensor, torch.Tensor]:
    """per_class images of each digit: uint8 (len(digits) * per_class, 28, 28) and the labels, in blocks."""
    if isinstance(per_class, bool) or not isinstance(per_class, int) or per_class < 1:
        raise ValueError(f"per_class must be a positive whole number, got {per_class!r}")
    require_conditional(G)
    labels = torch.tensor([check_digit(d) for d in digits], dtype=torch.long).repeat_interleave(per_class)
    return to_uint8(generate(G, labels, seed=seed)), labels


def lerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Straight line z0 -> z1 at fractions t (T,): (T, z_dim)."""
    t = torch.as_tensor(t, dtype=z0.dtype).reshape(-1, 1)
    return (1 - t) * z0 + t * z1


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Great-circle path z0 -> z1 (Shoemake 1985; White 2016 for GANs): (T, z_dim).

    A Gaussian z concentrates near the sphere of radius sqrt(z_dim); the midpoint of a straight line has a
    norm about 0.7 times that, where the generator has rarely been trained. Slerp keeps the norm typical.
    """
    t = torch.as_tensor(t, dtype=z0.dtype).reshape(-1, 1)
    cos = torch.dot(z0 / z0.norm(), z1 / z1.norm()).clamp(-1, 1)
    omega = torch.arccos(cos)
    if omega.abs() < 1e-4:  # (almost) parallel: the arc is a line
        return lerp(z0, z1, t)
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)


def interpolate(G: nn.Module, z0: torch.Tensor, z1: torch.Tensor, steps: int = 10, label: int | None = None,
                method: str = "slerp") -> torch.Tensor:
    """uint8 (steps, 28, 28): G along the path z0 -> z1, for one digit label (conditional G)."""
    if steps < 2:
        raise ValueError(f"an interpolation needs at least 2 steps, got {steps}")
    paths = {"slerp": slerp, "lerp": lerp}
    if method not in paths:
        raise ValueError(f"method must be 'slerp' or 'lerp', got {method!r}")
    z = paths[method](z0.flatten().float(), z1.flatten().float(), torch.linspace(0, 1, steps))
    labels = [check_digit(label)] * steps if G.num_classes else None
    if labels is None and label is not None:
        require_conditional(G)
    return to_uint8(generate(G, labels, z=z))


def all_labels(G: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """uint8 (len(z), 10, 28, 28): each latent vector drawn as each digit 0..9 (style kept, digit changed)."""
    require_conditional(G, "change the digit of a latent vector")
    z = z.reshape(-1, G.z_dim)
    zz = z.repeat_interleave(10, 0)
    labels = torch.arange(10).repeat(len(z))
    return to_uint8(generate(G, labels, z=zz)).reshape(len(z), 10, 28, 28)


def crop_to_ink(digit: torch.Tensor, threshold: int = 40, margin: int = 1) -> torch.Tensor:
    """Keep the columns of a uint8 (28, 28) digit that hold ink (plus a margin); a blank digit keeps 8 columns."""
    cols = (digit > threshold).any(0).nonzero().flatten()
    if len(cols) == 0:
        return digit[:, 10:18]
    lo, hi = max(int(cols[0]) - margin, 0), min(int(cols[-1]) + margin + 1, digit.shape[1])
    return digit[:, lo:hi]


@torch.no_grad()
def write_number(G: nn.Module, number: str, seed: int = 0, spacing: int = 2, jitter: float = 1.0,
                 invert: bool = False, z: torch.Tensor | None = None) -> torch.Tensor:
    """One uint8 image (H, W) of `number` written with generated digits, left to right.

    Each digit is generated, cropped to its ink, slightly resized and shifted up or down (`jitter` scales
    both; 0 turns them off) and placed `spacing` pixels after the previous one. Light ink on black as in
    MNIST, or dark ink on white with `invert`. The same seed gives the same picture.
    """
    number = check_number(number)
    require_conditional(G, "write a number")
    n = len(number)
    labels = torch.tensor([int(ch) for ch in number])
    digits = to_uint8(generate(G, labels, z=z if z is not None else latents(n, G.z_dim, seed)))
    g = torch.Generator().manual_seed(seed + 7)
    scales = 1 + jitter * 0.08 * (2 * torch.rand(n, generator=g) - 1)  # about +-8% size
    shifts = (jitter * 2 * (2 * torch.rand(n, generator=g) - 1)).round().int()  # about +-2 px baseline
    pieces = []
    for digit, scale in zip(digits, scales.tolist()):
        piece = crop_to_ink(digit)
        h, w = round(28 * scale), max(1, round(piece.shape[1] * scale))
        piece = F.interpolate(piece[None, None].float(), size=(h, w), mode="bilinear", align_corners=False)
        pieces.append(piece[0, 0].round().clamp(0, 255).to(torch.uint8))
    pad = 4
    height = max(p.shape[0] for p in pieces) + 2 * pad
    width = sum(p.shape[1] for p in pieces) + spacing * (n - 1) + 2 * pad
    canvas = torch.zeros(height, width, dtype=torch.uint8)
    x = pad
    for piece, shift in zip(pieces, shifts.tolist()):
        ph, pw = piece.shape
        top = min(max(height - pad - ph + shift, 0), height - ph)  # bottoms aligned on a jittered baseline
        region = canvas[top : top + ph, x : x + pw]
        torch.maximum(region, piece, out=region)
        x += pw + spacing
    return 255 - canvas if invert else canvas
