"""The chapters' live widgets in the built book (web/cgan.js), in headless Chromium,
offline: the digit picker (chapter 7), the latent slider (10), the number box (11) and
the 2-D GAN that trains in the page (2). web/check_widgets.mjs drives them; the
project's classifier reads what they draw.

Skips when the book is not built or Chromium is absent, unless CGAN_REQUIRE_BUILD=1
(CI).
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from cgan_lib import digit_classifier

PAGES = {
    "toygan": "notebooks/02_minimax_game.html",
    "picker": "notebooks/07_conditional_gan.html",
    "slider": "notebooks/10_latent_space.html",
    "number": "notebooks/11_writing_numbers.html",
}


@pytest.fixture(scope="module")
def widgets(built_book):
    built_book.require(*PAGES.values())
    result = built_book.run("check_widgets.mjs", timeout=600)
    assert "error" not in result, result["error"]
    return result["pages"]


@pytest.fixture(scope="module")
def classifier():
    return digit_classifier.load_classifier()


def tiles(canvas, count):
    """A canvas of `count` 28x28 digits side by side, as uint8 (count, 28, 28)."""
    assert (canvas["width"], canvas["height"]) == (28 * count, 28)
    grey = torch.tensor(canvas["grey"], dtype=torch.uint8).reshape(28, 28 * count)
    return grey.reshape(28, count, 28).permute(1, 0, 2)


def read(classifier, digits):
    return digit_classifier.predict(classifier, digits)[0].tolist()


def test_every_widget_starts_offline_without_console_errors(widgets):
    assert set(widgets) == set(PAGES)
    for kind, page in widgets.items():
        assert page["states"] == [[kind, "ready"]], page["states"]
        assert page["consoleErrors"] == [], (kind, page["consoleErrors"])
        assert page["offsite"] == [], (kind, page["offsite"])  # no CDN, nothing sent


def test_pages_load_only_what_their_widget_needs(widgets):
    for kind, page in widgets.items():
        loaded = set(page["widgetBytes"])
        assert {"cgan.js", "cgan.css"} <= loaded
        assert page["widgetBytes"]["cgan.js"] < 64_000  # one small shared module
        onnx = {"cdcgan.onnx", "ort.wasm.min.js"}
        # nothing heavy until the reader scrolls near the widget
        assert not (onnx | {"tf.es2017.min.js"}) & set(page["loadedBeforeScroll"])
        if kind == "toygan":
            assert "tf.es2017.min.js" in loaded and not onnx & loaded
        else:
            assert onnx <= loaded and "tf.es2017.min.js" not in loaded


def test_controls_are_labelled_and_reached_by_tab(widgets):
    for kind, page in widgets.items():
        assert page["controls"], kind
        for control in page["controls"]:
            assert control["name"], (kind, control)  # a label or visible text
            assert control["reached"], (kind, control)  # Tab gets there


def test_widgets_fit_a_phone(widgets):
    for kind, page in widgets.items():
        phone = page["phone"]
        assert phone["documentWidth"] <= 391, (kind, phone)
        for box in phone["widgets"]:
            assert box["right"] <= 390 and box["scrollWidth"] <= box["clientWidth"] + 1


def test_picker_draws_the_digit_picked_with_the_keyboard(widgets, classifier):
    page = widgets["picker"]
    assert page["drawnBefore"] == "7:0" and page["pressed"] == "true"
    sevens, threes = tiles(page["before"], 8), tiles(page["after"], 8)
    assert (sevens.int() - threes.int()).abs().sum() > 8 * 1000
    assert sum(d == 7 for d in read(classifier, sevens)) >= 7
    assert sum(d == 3 for d in read(classifier, threes)) >= 7


def test_slider_moves_the_digit_and_lerp_shortens_z(widgets, classifier):
    page = widgets["slider"]
    start, end = tiles(page["before"], 1), tiles(page["after"], 1)
    assert (start.int() - end.int()).abs().sum() > 1000  # the End key moved it
    assert read(classifier, torch.cat([start, end])) == [4, 4]
    # the same z under all ten labels: the classifier reads 0..9 in order
    labels = read(classifier, tiles(page["allLabels"], 10))
    assert sum(a == b for a, b in zip(labels, range(10))) >= 9, labels

    def norm(readout):
        return float(re.search(r"\|z\| = ([0-9.]+)", readout).group(1))

    assert norm(page["lerpMid"]) < 0.85 * norm(page["slerpMid"])


def test_number_box_writes_the_typed_digits_in_order(widgets, classifier):
    page = widgets["number"]
    for number in ("9830976450", "2026"):
        canvas = page[f"number{number}"]
        width, height = canvas["width"], canvas["height"]
        assert height == 36  # 28-pixel digits on a 4-pixel margin
        grey = torch.tensor(canvas["grey"], dtype=torch.uint8).reshape(height, width)
        # cut where 4 or more blank columns separate digits (each piece keeps a blank
        # column either side and 2 more lie between pieces; a gap inside a digit
        # is narrower), centre each piece in 28x28
        inked = (grey > 40).any(0).tolist()
        runs, start = [], None
        for x, ink in enumerate(inked + [False]):
            if ink and start is None:
                start = x
            elif not ink and start is not None:
                if runs and start - runs[-1][1] < 4:
                    start = runs.pop()[0]  # the same digit, broken by a thin gap
                runs.append((start, x))
                start = None
        assert len(runs) == len(number), runs
        pieces = torch.zeros(len(runs), 28, 28, dtype=torch.uint8)
        for k, (a, b) in enumerate(runs):
            left = (28 - (b - a)) // 2
            pieces[k, :, left : left + b - a] = grey[4:32, a:b]
        drawn = read(classifier, pieces)
        assert sum(a == int(b) for a, b in zip(drawn, number)) >= len(number) - 1
    assert re.search(r"[\"']a[\"'] at position 3", page["badMessage"])


def test_in_page_gan_moves_its_samples_to_the_data(widgets):
    page = widgets["toygan"]
    assert page["controlsByKind"][:2] == [
        ["nonsaturating", "saturating"],
        ["ring", "grid", "moons"],
    ]
    start = page["start"]
    assert page["oneStep"]["step"] == 1  # the "one step" button, by keyboard
    trained = page["trained"]
    assert [t["step"] for t in trained] == [101, 201, 301, 401, 501, 601]
    # mean distance of generated points to the nearest mode of the ring: from about
    # the ring's radius (G starts near the origin) to well inside it
    assert trained[-1]["distance"] < 0.75 * start["distance"]
    assert min(t["distance"] for t in trained) < 0.6 * start["distance"]
    first, second = page["repeat"]
    assert first == second  # same seed, same run
    assert page["otherSeed"] != first
    assert page["played"]["step"] >= 40  # play ran, pause stopped it


@pytest.mark.parametrize("script", ["cgan.js", "check_widgets.mjs", "check_demo.mjs"])
def test_scripts_parse(script):
    """The page script and the checks are valid JavaScript (needs only node, no
    build), so a syntax slip shows here before the browser tests run."""
    if not shutil.which("node"):
        pytest.skip("node is not installed")
    path = Path(__file__).resolve().parents[1] / "web" / script
    proc = subprocess.run(
        ["node", "--check", str(path)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
