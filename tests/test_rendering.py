"""Maths renders on every built page (after `make book`).

MathJax typesets what Sphinx marks as maths (`<span class="math">`, `<div
class="math">`). Markdown printed by a cell is parsed as MyST (`_config.yml`:
nb_render_markdown_format), so its `$x$` becomes maths too, while a `\\(x\\)` in it
loses its backslash and shows as "(x)". What MathJax never typesets is a `$x$` the
parser did not take as maths, or a fragment that a Markdown construct broke out of its
maths: a source line starting with "+ " or "1)" turns the rest of an equation into a
list item, and the reader sees raw `\\(`, `\\log` or `$`. This test reads each page's
text outside maths and code and fails on those; a second test reads the notebooks'
sources for `\\(` in printed Markdown, which no built page can show. A third fails
on a figure whose axes cut off part of its data (cgan_lib.viz.clipped_data).

Run it after `make book` (.ci/run does): `CGAN_REQUIRE_BUILD=1 .venv/bin/python -m
pytest tests/test_rendering.py`.
"""

import re
from html.parser import HTMLParser

import pytest
from test_book import HTML, ROOT, chapter_pages, needs_build

SKIPPED_TAGS = {"script", "style", "pre", "code", "head", "nav", "svg", "title"}
DOLLAR_MATHS = re.compile(r"\$[^$\s][^$\n]*?\$")
DELIMITER = re.compile(r"\\[()\[\]]")
LATEX_COMMAND = re.compile(r"\\(?:[a-zA-Z]{2,}|[,;!])")


class PageText(HTMLParser):
    """Text runs of a page outside maths, code and page furniture, each with whether
    it sits in a cell output and in a list item."""

    def __init__(self):
        super().__init__()
        self.stack, self.runs = [], []

    def handle_starttag(self, tag, attrs):
        if tag in ("br", "img", "hr", "input", "meta", "link", "wbr", "source"):
            return
        cls = dict(attrs).get("class") or ""
        self.stack.append((tag, cls))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                return

    def handle_data(self, data):
        if not data.strip():
            return
        for tag, cls in self.stack:
            classes = cls.split()
            if tag in SKIPPED_TAGS or "math" in classes or "highlight" in cls:
                return
        in_output = any("cell_output" in cls for _, cls in self.stack)
        in_list = any(tag == "li" for tag, _ in self.stack)
        self.runs.append((data, in_output, in_list))


def problems(html: str) -> list[str]:
    page = PageText()
    page.feed(html)
    found = []
    for text, in_output, in_list in page.runs:
        for m in DOLLAR_MATHS.finditer(text):
            found.append(f"unrendered $maths$: {m.group(0)[:60]!r}")
        for m in DELIMITER.finditer(text):
            where = text[max(0, m.start() - 30) : m.end() + 30]
            found.append(f"a maths delimiter left in the text: {where!r}")
        if in_list:
            for m in LATEX_COMMAND.finditer(text):
                where = text[max(0, m.start() - 30) : m.end() + 30]
                found.append(f"LaTeX in a list item, outside maths: {where!r}")
    return found


@needs_build
@pytest.mark.parametrize("page", chapter_pages(), ids=lambda p: p.stem)
def test_maths_renders_on_every_page(page):
    assert page.exists(), page
    found = problems(page.read_text())
    assert not found, f"{page.relative_to(HTML)}:\n" + "\n".join(found[:10])


@needs_build
@pytest.mark.parametrize("page", chapter_pages(), ids=lambda p: p.stem)
def test_no_figure_hides_data_outside_its_axes(page):
    # The build runs with CGAN_CHECK_FIGURES=1: cgan_lib.viz prints this marker under
    # any figure whose axes cut off a point, a bar or an error bar it plots.
    from cgan_lib.viz import CLIP_MARKER

    text = page.read_text()
    at = text.find(CLIP_MARKER)
    assert at < 0, f"{page.relative_to(HTML)}: {text[at : at + 200]}"


def test_the_scan_finds_each_kind_of_fault():
    output = '<div class="cell_output"><div class="output text_markdown">{}</div></div>'
    good = (
        '<p>The loss <span class="math notranslate">\\(\\log D\\)</span> falls.</p>'
        + output.format('<p>D(x) rose to <span class="math">\\(0.8\\)</span></p>')
        + "<pre>echo $HOME $PATH</pre><p>costs $5</p>"
    )
    assert problems(good) == []
    assert problems(output.format("<p>so $G$ wins</p>"))  # a cell's $maths$
    assert problems(output.format("<p>so \\(G\\) wins</p>"))  # not taken as maths
    assert problems("<p>…\\(, and under that assumption…\\)</p>")  # broken maths
    assert problems("<ul><li><p>\\log p(x) + \\log q</p></li></ul>")  # a split equation


def test_printed_markdown_writes_maths_between_dollars():
    # In Markdown a cell prints, "\\(" is an escaped "(": the reader sees "(D(x))"
    # where the code meant maths, and nothing in the built page looks like a fault.
    import json

    found = []
    for path in sorted(ROOT.glob("notebooks/*.ipynb")):
        for i, cell in enumerate(json.loads(path.read_text())["cells"]):
            source = "".join(cell["source"])
            if cell["cell_type"] == "code" and "Markdown(" in source:
                # "\\(" in a string, or r"\(" in a raw one: both print a backslash
                if "\\(" in source or "\\)" in source:
                    found.append(f"{path.name}, cell {i}")
    assert not found, found
