"""Checks of the book's sources (always) and of the built HTML (after `make book`)."""

import ast
import base64
import importlib
import json
import os
import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import imageio.v3 as iio
import pytest

import cgan_lib

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import sync_notebooks  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
HTML = ROOT / "_build" / "html"


def toc_files():
    return re.findall(r"file:\s*(\S+)", (ROOT / "_toc.yml").read_text()) + re.findall(
        r"root:\s*(\S+)", (ROOT / "_toc.yml").read_text()
    )


def test_every_chapter_is_in_the_toc_and_exists():
    files = toc_files()
    for nb in NOTEBOOKS:
        assert f"notebooks/{nb.stem}" in files, f"{nb.name} is not in _toc.yml"
    for f in files:
        exists = (ROOT / f"{f}.ipynb").exists() or (ROOT / f"{f}.md").exists()
        assert exists, f"_toc.yml names missing {f}"
    # the toc lists the chapters in their reading (file name) order, each once
    in_toc = [f for f in files if f.startswith("notebooks/")]
    assert in_toc == [f"notebooks/{nb.stem}" for nb in NOTEBOOKS]


def test_notebooks_are_synced_and_stored_without_outputs():
    assert sync_notebooks.main(check=True) == 0
    for path in NOTEBOOKS:
        nb = json.loads(path.read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert not cell["outputs"] and cell["execution_count"] is None, (
                    path.name
                )


def test_colab_cell_installs_from_the_configured_repository_only_in_colab():
    url, branch = sync_notebooks.repository()
    assert url.startswith("https://github.com/")
    config = (ROOT / "_config.yml").read_text()
    assert 'colab_url: "https://colab.research.google.com"' in config
    for path in NOTEBOOKS:
        cells = json.loads(path.read_text())["cells"]
        first_code = next(c for c in cells if c["cell_type"] == "code")
        assert first_code["source"] == sync_notebooks.colab_cell_source(), path.name
        assert f"git+{url}@{branch}" in first_code["source"]
        assert 'if "google.colab" in sys.modules' in first_code["source"]
    # the URL appears nowhere else in the notebooks' code: one place holds it
    for path in NOTEBOOKS:
        code = [
            c["source"]
            for c in json.loads(path.read_text())["cells"][2:]
            if c["cell_type"] == "code"
        ]
        assert not any(url in src for src in code), path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapter_structure(path):
    cells = json.loads(path.read_text())["cells"]
    text = "\n".join(c["source"] for c in cells if c["cell_type"] == "markdown")
    code = "\n".join(c["source"] for c in cells if c["cell_type"] == "code")
    assert text.lstrip().startswith("# "), "a chapter starts with its title"
    for required in (
        "**Objectives.**",
        "**Prerequisites.**",
        "**Time.**",
        "## Summary",
        "## Exercises",
    ):
        assert required in text, f"{path.name} lacks {required}"
    assert ":class: dropdown" in text, "exercises come with hidden solutions"
    assert "cgan_lib.quick()" in code, "the chapter reads quick mode"
    assert "import cgan_lib" in code


def chapter_code(path) -> list[ast.Module]:
    cells = json.loads(path.read_text())["cells"]
    trees = []
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        lines = cell["source"].splitlines()
        source = "\n".join(line for line in lines if line.lstrip()[:1] not in "%!")
        trees.append(ast.parse(source))
    return trees


def library_names_used(trees: list[ast.Module]) -> set[str]:
    """The cgan_lib functions and classes a chapter's code imports or reaches through a
    module (viz.grid, cgan_lib.pretrained, models.ConvDiscriminator.forward -> the
    class)."""
    aliases, used = {}, set()
    nodes = [node for tree in trees for node in ast.walk(tree)]
    for node in nodes:
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "cgan_lib":
                    aliases[a.asname or a.name] = cgan_lib
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            "cgan_lib"
        ):
            module = importlib.import_module(node.module)
            for a in node.names:
                if not hasattr(module, a.name):  # a submodule: cgan_lib.viz
                    importlib.import_module(f"{node.module}.{a.name}")
                aliases[a.asname or a.name] = getattr(module, a.name)

    def ours(obj):
        return callable(obj) and getattr(obj, "__module__", "").startswith("cgan_lib")

    for node in nodes:
        chain = []
        while isinstance(node, ast.Attribute):
            chain.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name) or node.id not in aliases:
            continue
        obj = aliases[node.id]
        if ours(obj):
            used.add(obj.__name__)
            continue
        for attr in reversed(chain):  # through modules, to the first function/class
            obj = getattr(obj, attr, None)
            if ours(obj):
                used.add(obj.__name__)
                break
    return used


def test_every_library_function_a_chapter_uses_has_a_test():
    """A name check, not a proof: each function or class the chapters use must at least
    be named in a unit test file (the tests themselves check its behaviour)."""
    used = {}
    for path in NOTEBOOKS:
        for name in library_names_used(chapter_code(path)):
            used.setdefault(name, []).append(path.stem[:2])
    assert {"grid", "fit", "write_number", "frechet_distance"} <= set(used)  # found
    tests = "\n".join(
        p.read_text()
        for p in (ROOT / "tests").glob("test_*.py")
        if p.name != "test_book.py"
    )

    def named(name):  # called, reached as an attribute, or imported
        calls = rf"\b{name}\s*\(|\.{name}\b"
        imports = rf"^\s*(from|import)\b.*\b{name}\b|^\s+{name},\s*$"
        return re.search(f"{calls}|{imports}", tests, re.M)

    untested = {
        name: sorted(set(chapters))
        for name, chapters in used.items()
        if not named(name)
    }
    assert not untested, f"used by chapters but named in no test: {untested}"


# ------------------------------------------------------------------------------------
# The built book. CI builds it, then runs these with CGAN_REQUIRE_BUILD=1 so that a
# missing build fails.

needs_build = pytest.mark.skipif(
    not HTML.exists() and os.environ.get("CGAN_REQUIRE_BUILD") != "1",
    reason="the book is not built (run `make book`)",
)


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.images = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag == "img" and attrs.get("src"):
            self.images.append(attrs["src"])


def chapter_pages():
    return [HTML / f"{f}.html" for f in toc_files()]


@needs_build
def test_every_page_was_built_and_chapters_have_figures():
    for page in chapter_pages():
        assert page.exists(), page
    for nb in NOTEBOOKS:
        page = HTML / "notebooks" / f"{nb.stem}.html"
        outputs = _Outputs()
        outputs.feed(page.read_text())
        # figures computed by the chapter: images inside cell outputs (the Colab logo
        # and other page furniture do not count), each a real picture
        assert outputs.images, f"{nb.stem} shows no figure"
        for src in outputs.images:
            if src.startswith("data:"):
                uri = base64.b64decode(src.split(",", 1)[1])
            else:
                uri = page.parent / unquote(urlparse(src).path)
            picture = iio.imread(uri, index=0)  # a GIF's first frame
            assert min(picture.shape[:2]) >= 50, f"{nb.stem}: {src[:80]} is tiny"
            assert picture.std() > 0, f"{nb.stem}: {src[:80]} is blank"


class _Outputs(HTMLParser):
    """Text, classes and images inside cell outputs only (not the highlighted source,
    which may say `except ValueError`)."""

    def __init__(self):
        super().__init__()
        self.depth, self.text, self.classes, self.images = 0, [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        cls = attrs.get("class") or ""
        if self.depth:
            self.depth += tag == "div"
            self.classes.append(cls)
            if tag == "img" and attrs.get("src"):
                self.images.append(attrs["src"])
        elif tag == "div" and "cell_output" in cls:
            self.depth = 1

    def handle_endtag(self, tag):
        if self.depth and tag == "div":
            self.depth -= 1

    def handle_data(self, data):
        if self.depth:
            self.text.append(data)


ERROR_LINE = re.compile(r"^\s*\w*(Error|Exception|Warning): ", re.M)


@needs_build
def test_no_error_output_in_the_built_pages():
    for page in chapter_pages():
        html = page.read_text()
        assert "Traceback (most recent call last)" not in html, page.name
        outputs = _Outputs()
        outputs.feed(html)
        text = "".join(outputs.text)
        for cls in outputs.classes:
            assert not re.search(r"\b(traceback|stderr|error)\b", cls), (
                f"{page.name}: an output of class {cls!r}"
            )
        match = ERROR_LINE.search(text)
        if match:
            shown = text[match.start() : match.start() + 120]
            pytest.fail(f"{page.name} shows an error or warning: {shown!r}")


def test_the_output_scan_finds_errors_and_figures():
    """The scans above must be able to fail: feed them a traceback-like output, a
    highlighted source line, and pictures in and out of outputs."""
    bad = (
        '<div class="cell_output docutils container"><div class="output stderr">'
        "<pre>ValueError: boom</pre></div></div>"
    )
    source = '<div class="cell_input"><span class="ne">ValueError</span></div>'
    outputs = _Outputs()
    outputs.feed(bad + source)
    assert ERROR_LINE.search("".join(outputs.text))
    assert "output stderr" in outputs.classes
    clean = _Outputs()
    clean.feed(source)
    assert clean.text == []
    figure = (
        '<img alt="Colab logo" src="logo_colab.png">'
        '<div class="cell_output docutils container"><div class="output">'
        '<img alt="" src="../_images/a.png" /></div></div>'
    )
    pictures = _Outputs()
    pictures.feed(figure)
    assert pictures.images == ["../_images/a.png"]  # the page's logo is not a figure


@needs_build
def test_internal_links_and_images_resolve():
    for page in HTML.rglob("*.html"):
        parser = _Links()
        parser.feed(page.read_text())
        for ref in parser.links + parser.images:
            parsed = urlparse(ref)
            if parsed.scheme or ref.startswith(("#", "mailto:", "data:")):
                continue
            target = (page.parent / unquote(parsed.path)).resolve()
            assert target.exists(), f"{page.relative_to(HTML)} links to missing {ref}"


@needs_build
def test_colab_launch_buttons():
    url, branch = sync_notebooks.repository()
    repo = urlparse(url).path.strip("/")
    for nb in NOTEBOOKS:
        html = (HTML / "notebooks" / f"{nb.stem}.html").read_text()
        assert (
            f"https://colab.research.google.com/github/{repo}/blob/{branch}/notebooks/{nb.stem}.ipynb"
            in html
        )
