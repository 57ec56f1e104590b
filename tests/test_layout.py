"""Every page of the built book fits: in headless Chromium, at 1280 px no code listing,
cell output, display formula or table is wider than its box, and at 390 px (a phone) no
page is wider than the screen (a code block may scroll inside itself there).

Skips when the book is not built or Chromium is absent, unless CGAN_REQUIRE_BUILD=1
(CI).
"""

import functools
import http.server
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
REQUIRED = os.environ.get("CGAN_REQUIRE_BUILD") == "1"  # CI: a missing build fails
SKIP_DIRS = {"_static", "_sources", "_images", "_downloads"}


def _skip_or_fail(reason):
    if REQUIRED:
        pytest.fail(reason)
    pytest.skip(reason)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def pages():
    """Every HTML page of the built book, relative to _build/html (not the redirect
    that index.html is)."""
    return sorted(
        p.relative_to(HTML).as_posix()
        for p in HTML.rglob("*.html")
        if not SKIP_DIRS.intersection(p.relative_to(HTML).parts)
        and 'http-equiv="Refresh"' not in p.read_text()[:300]
    )


@pytest.fixture(scope="module")
def layout():
    if not (HTML / "index.html").exists():
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
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        proc = subprocess.run(
            ["node", str(ROOT / "web" / "check_layout.mjs"), base, *pages()],
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, "CHROMIUM": chromium},
        )
    finally:
        server.shutdown()
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_every_page_was_measured(layout):
    assert len(layout) >= 10
    errors = [
        f"{page} at {width} px: {m['error']}"
        for page, widths in layout.items()
        for width, m in widths.items()
        if "error" in m
    ]
    assert not errors, "\n".join(errors)


def test_code_outputs_and_formulas_fit_their_column_at_1280px(layout):
    lines = [
        f"{page}: {o['kind']} {o['content']}px in {o['box']}px: {o['first']!r}"
        for page, widths in layout.items()
        for o in widths["1280"].get("offenders", [])
    ]
    assert not lines, f"{len(lines)} blocks wider than their box at 1280 px:\n" + (
        "\n".join(lines)
    )


def test_no_page_is_wider_than_a_phone(layout):
    wide = [
        f"{page}: {m['documentWidth']}px in a {m['viewport']}px viewport"
        for page, widths in layout.items()
        for m in [widths["390"]]
        if m.get("documentWidth", 0) > m.get("viewport", 390) + 1
    ]
    assert not wide, f"{len(wide)} pages wider than the screen at 390 px:\n" + (
        "\n".join(wide)
    )
