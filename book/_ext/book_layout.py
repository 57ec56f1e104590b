"""The book's own stylesheet (static/cgan_layout.css): 88-column code fits the text
column at 1280 px, and no page is wider than a phone's screen. Checked in headless
Chromium by tests/test_layout.py."""

from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"


def _add_static_path(app):
    app.config.html_static_path.append(str(STATIC))


def setup(app):
    app.connect("builder-inited", _add_static_path)
    app.add_css_file("cgan_layout.css")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
