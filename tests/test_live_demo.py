"""The built book's live generator, in headless Chromium, offline, against a server on
127.0.0.1."""

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

import imageio.v3 as iio
import pytest
import torch

from cgan_lib import metrics

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
PAGE = HTML / "book" / "live_demo.html"
REQUIRED = (
    os.environ.get("CGAN_REQUIRE_BUILD") == "1"
)  # CI: a missing build or browser is a failure


def _skip_or_fail(reason):
    if REQUIRED:
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    if not PAGE.exists():
        _skip_or_fail("the book is not built (run `make book`)")
    chromium = (
        os.environ.get("CHROMIUM")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
    )
    if not chromium:
        _skip_or_fail(
            "Chromium is not installed (Debian: apt-get install chromium); "
            ".ci/run installs it"
        )
    if (
        not shutil.which("node")
        or not (ROOT / "web" / "node_modules" / "playwright-core").exists()
    ):
        _skip_or_fail("node and web/node_modules are needed (`make demo` runs npm ci)")
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(HTML)
    )
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    shot = tmp_path_factory.mktemp("demo") / "live_demo.png"
    url = f"http://127.0.0.1:{server.server_address[1]}/book/live_demo.html"
    try:
        proc = subprocess.run(
            ["node", str(ROOT / "web" / "check_demo.mjs"), url, str(shot)],
            capture_output=True,
            text=True,
            timeout=180,
            env={**os.environ, "CHROMIUM": chromium},
        )
    finally:
        server.shutdown()
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["screenshot"] = shot
    return result


def test_page_loads_offline_without_console_errors(demo):
    assert "error" not in demo, demo.get("error")
    assert demo["state"] == "ready"
    assert demo["consoleErrors"] == []
    assert demo["offsite"] == []  # every script, wasm and model file came from the book
    page = iio.imread(demo["screenshot"])
    assert page.shape[1] >= 390 and page.shape[0] > 300  # a whole page, not a sliver
    assert page.std() > 10  # something drawn, not a blank screen


def digits_of(demo, *keys):
    pixels = [torch.tensor(demo[k], dtype=torch.uint8).reshape(1, 28, 28) for k in keys]
    return torch.cat(pixels)


def test_picking_a_digit_draws_a_digit_the_classifier_reads_as_it(demo):
    drawn = digits_of(demo, "seven", "sevenSlid", "three")
    predicted, _ = metrics.predict(metrics.load_classifier(), drawn)
    # the slider moves through styles of the same digit
    assert predicted.tolist() == [7, 7, 3]
    assert all(d.float().mean() > 10 for d in drawn)  # ink, not a blank canvas


def test_slider_changes_the_image(demo):
    before, after = digits_of(demo, "seven", "sevenSlid").int()
    assert (before - after).abs().sum() > 1000


def test_number_box_draws_and_rejects_bad_input(demo):
    width, height = demo["numberCanvas"]
    # as sample.write_number: 28-pixel digits on a 4-pixel margin, side by side and
    # cropped to their ink (four digits: narrower than four 28-pixel boxes)
    assert height == 36 and 40 < width < 4 * 28 + 20
    assert re.search(r"[\"']a[\"'] at position 3", demo["badNumberMessage"])
