"""The built book's live generator, in headless Chromium, offline, against a server on
127.0.0.1."""

import re

import imageio.v3 as iio
import pytest
import torch

from cgan_lib import digit_classifier

PAGE = "book/live_demo.html"


@pytest.fixture(scope="module")
def demo(built_book, tmp_path_factory):
    built_book.require(PAGE)
    shot = tmp_path_factory.mktemp("demo") / "live_demo.png"
    result = built_book.run("check_demo.mjs", PAGE, shot, timeout=180)
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
    predicted, _ = digit_classifier.predict(digit_classifier.load_classifier(), drawn)
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
