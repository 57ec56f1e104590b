"""Every page of the built book fits: in headless Chromium, at 1280 px no code listing,
cell output, display formula or table is wider than its box, and at 390 px (a phone) no
page is wider than the screen (a code block may scroll inside itself there).

Skips when the book is not built or Chromium is absent, unless CGAN_REQUIRE_BUILD=1
(CI).
"""

import pytest

SKIP_DIRS = {"_static", "_sources", "_images", "_downloads"}


def pages(html):
    """Every HTML page of the built book, relative to its folder (not the redirect
    that index.html is)."""
    return sorted(
        p.relative_to(html).as_posix()
        for p in html.rglob("*.html")
        if not SKIP_DIRS.intersection(p.relative_to(html).parts)
        and 'http-equiv="Refresh"' not in p.read_text()[:300]
    )


@pytest.fixture(scope="module")
def layout(built_book):
    built_book.require("index.html")
    return built_book.run("check_layout.mjs", *pages(built_book.html), timeout=600)


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
