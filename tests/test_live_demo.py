"""The built book's live generator, in headless Chromium, offline, against a server on 127.0.0.1."""

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

from cgan_lib import metrics

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
PAGE = HTML / "book" / "live_demo.html"
REQUIRED = os.environ.get("CGAN_REQUIRE_BUILD") == "1"  # CI: a missing build or browser is a failure


def _skip_or_fail(reason):
    if REQUIRED:
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    if not PAGE.exists():
        _skip_or_fail("the book is not built (run `make book`)")
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        _skip_or_fail("Chromium is not installed (Debian: apt-get install chromium); .ci/run installs it")
    if not shutil.which("node") or not (ROOT / "web" / "node_modules" / "playwright-core").exists():
        _skip_or_fail("node and web/node_modules are needed (`make demo` runs npm ci)")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(HTML))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    shot = tmp_path_factory.mktemp("demo") / "live_demo.png"
    url = f"http://127.0.0.1:{server.server_address[1]}/book/live_demo.html"
    try:
        proc = subprocess.run(["node", str(ROOT / "web" / "check_demo.mjs"), url, str(shot)], capture_output=True,
                              text=True, timeout=180, env={**os.environ, "CHROMIUM": chromium})
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
    assert demo["offsite"] == []  # every script, wasm and model file came from the book itself
    assert demo["screenshot"].stat().st_size > 10_000


def test_picking_7_draws_a_digit_the_classifier_calls_7(demo):
    seven = torch.tensor(demo["seven"], dtype=torch.uint8).reshape(1, 28, 28)
    three = torch.tensor(demo["three"], dtype=torch.uint8).reshape(1, 28, 28)
    predicted, _ = metrics.predict(metrics.load_classifier(), torch.cat([seven, three]))
    assert predicted.tolist() == [7, 3]
    assert seven.float().mean() > 10  # ink, not a blank canvas


def test_slider_changes_the_image(demo):
    before, after = torch.tensor(demo["seven"]), torch.tensor(demo["sevenSlid"])
    assert (before - after).abs().sum() > 1000


def test_number_box_draws_and_rejects_bad_input(demo):
    width, height = demo["numberCanvas"]
    assert height == 36 and 40 < width < 4 * 28 + 20  # four cropped digits side by side
    assert "position 3" in demo["badNumberMessage"]
