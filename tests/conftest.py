import functools
import http.server
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
import torch

from cgan_lib import data, mnist_files


@pytest.fixture(scope="session")
def mnist_train():
    return data.load_mnist("train")


@pytest.fixture()
def fresh_data_state(monkeypatch):
    """Forget the in-memory copy so a test sees the source chain; restore afterwards."""
    saved = dict(mnist_files._MEMORY)
    mnist_files._MEMORY.clear()
    yield monkeypatch
    mnist_files._MEMORY.clear()
    mnist_files._MEMORY.update(saved)


@pytest.fixture()
def small_data(mnist_train):
    """2,048 real digits in [-1, 1] with labels: a real but quick training set."""
    images, labels = mnist_train
    return data.to_signed(images[:2048]), labels[:2048]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _read_gif(path):
    """A GIF's frames as grey uint8 arrays, and each frame's duration in ms.

    Pillow's writer merges a run of identical frames into one frame shown for their
    total time, so a held frame shows up as a longer duration, not as more frames.
    """
    import imageio.v3 as iio
    from PIL import Image

    pixels = iio.imread(path, index=None)
    frames = [f[..., 0] if f.ndim == 3 else f for f in pixels]  # grey: R = G = B
    durations = []
    with Image.open(path) as gif:
        assert gif.info.get("loop") == 0, "the GIF should loop forever"
        for i in range(gif.n_frames):
            gif.seek(i)
            durations.append(gif.info["duration"])
    assert len(durations) == len(frames)
    return frames, durations


@pytest.fixture()
def read_gif():
    return _read_gif


class BuiltBook:
    """The built HTML book (_build/html) served on 127.0.0.1, for the checks that drive
    it in headless Chromium with a script from web/ (node + playwright-core)."""

    root = Path(__file__).resolve().parents[1]
    # CGAN_BOOK_HTML: check another build, e.g. a small book of a few pages
    html = Path(os.environ.get("CGAN_BOOK_HTML") or root / "_build" / "html")
    # CI (.ci/run): a missing build, browser or node is a failure, not a skip
    required = os.environ.get("CGAN_REQUIRE_BUILD") == "1"

    def skip_or_fail(self, reason):
        if self.required:
            pytest.fail(reason)
        pytest.skip(reason)

    def require(self, *pages):
        """Skip (or fail in CI) unless the book, Chromium and node are here."""
        for page in pages or ("index.html",):
            if not (self.html / page).exists():
                self.skip_or_fail(f"the book is not built (run `make book`): no {page}")
        self.chromium = (
            os.environ.get("CHROMIUM")
            or shutil.which("chromium")
            or shutil.which("chromium-browser")
        )
        if not self.chromium:
            self.skip_or_fail(
                "Chromium is not installed (Debian: apt-get install chromium); "
                ".ci/run installs it"
            )
        if (
            not shutil.which("node")
            or not (self.root / "web" / "node_modules" / "playwright-core").exists()
        ):
            self.skip_or_fail(
                "node and web/node_modules are needed (`make demo` runs npm ci)"
            )

    def run(self, script, *args, timeout=600):
        """Serve the book, run `node web/SCRIPT BASE_URL ARGS...`, return the JSON
        object it prints last."""
        handler = functools.partial(_QuietHandler, directory=str(self.html))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            proc = subprocess.run(
                ["node", str(self.root / "web" / script), base, *map(str, args)],
                capture_output=True,
                text=True,
                timeout=timeout,
                env={**os.environ, "CHROMIUM": self.chromium},
            )
        finally:
            server.shutdown()
        assert proc.returncode == 0, proc.stderr[-2000:]
        return json.loads(proc.stdout.strip().splitlines()[-1])


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def built_book():
    return BuiltBook()
