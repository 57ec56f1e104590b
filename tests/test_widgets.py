"""Each widget's callbacks, driven as a user would: the picture shown must be the one
the library draws for the current label, slider position and text."""

import base64
import re

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from cgan_lib import widgets
from cgan_lib.models import build
from cgan_lib.sample import interpolate, latents, sample_by_label, write_number
from cgan_lib.viz import grid, upscale


@pytest.fixture(scope="module")
def G():
    torch.manual_seed(0)
    return build("cdcgan", width=8)[0].eval()


def shown(image_widget) -> np.ndarray:
    """The picture an ipywidgets Image displays."""
    value = bytes(image_widget.value)
    assert value.startswith(b"\x89PNG")
    return iio.imread(value)


def inline_pictures(html: str) -> list[np.ndarray]:
    found = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    return [iio.imread(base64.b64decode(b64)) for b64 in found]


def test_digit_picker_shows_samples_of_the_chosen_digit(G):
    picker = widgets.DigitPicker(G, n=4, seed=0)

    def expected(digit, seed):
        images, _ = sample_by_label(G, 4, seed=seed, digits=[digit])
        return upscale(grid(images, nrow=4), 4)

    assert picker.digit.value == 7  # the default
    first = shown(picker.image)
    assert first.shape == (4 * 32, 4 * (2 + 4 * 30))  # one row of 4, enlarged 4 times
    assert np.array_equal(first, expected(7, 0))
    picker.digit.value = 3  # what clicking the "3" toggle does
    assert np.array_equal(shown(picker.image), expected(3, 0))
    picker.again.click()  # "new samples": the next seed
    assert picker.seed == 1
    assert np.array_equal(shown(picker.image), expected(3, 1))
    # the book's static picture: one row per digit, for the current seed
    (static,) = inline_pictures(picker.static_html())
    rows = np.concatenate(
        [grid(sample_by_label(G, 4, 1, [d])[0], 4) for d in range(10)]
    )
    assert np.array_equal(static, upscale(rows, 2))


def test_latent_slider_walks_the_slerp_path_of_the_chosen_digit(G):
    slider = widgets.LatentSlider(G, seeds=(0, 1), steps=8, digit=2)
    z0, z1 = latents(1, G.z_dim, 0)[0], latents(1, G.z_dim, 1)[0]

    def expected(digit, t):
        return upscale(interpolate(G, z0, z1, steps=8, label=digit)[t].numpy(), 6)

    assert slider.t.max == 7
    assert np.array_equal(shown(slider.image), expected(2, 0))
    slider.t.value = 7
    assert np.array_equal(shown(slider.image), expected(2, 7))
    slider.digit.value = 9
    assert np.array_equal(shown(slider.image), expected(9, 7))
    slider.t.value = 0  # the same z as at the start, another digit
    assert np.array_equal(shown(slider.image), expected(9, 0))
    assert not np.array_equal(expected(9, 0), expected(2, 0))
    assert slider.picture(2, 0).shape == (28, 28)
    (static,) = inline_pictures(slider.static_html())
    path = interpolate(G, z0, z1, steps=8, label=9)
    assert np.array_equal(static, upscale(grid(path, nrow=8), 3))


def test_number_box_draws_and_explains_bad_input(G):
    box = widgets.NumberBox(G, "42")
    assert np.array_equal(shown(box.image), upscale(write_number(G, "42").numpy(), 3))
    assert box.message.value == ""
    box.text.value = "1234567"
    longer = shown(box.image)
    assert np.array_equal(longer, upscale(write_number(G, "1234567").numpy(), 3))
    box.text.value = "12a"
    assert "character 'a' at position 3" in box.message.value
    assert np.array_equal(shown(box.image), longer)  # the last good picture stays
    box.text.value = ""
    assert "empty" in box.message.value
    box.text.value = "7"
    assert box.message.value == ""
    box.seed.value = 5
    box.invert.value = True
    want = write_number(G, "7", seed=5, invert=True).numpy()
    assert np.array_equal(shown(box.image), upscale(want, 3))
    (static,) = inline_pictures(box.static_html())
    assert np.array_equal(static, upscale(want, 3))
    assert 'alt="the number 7 in generated digits"' in box.static_html()


def test_display_with_fallback_carries_the_widget_and_a_picture(G, monkeypatch):
    displayed = []
    monkeypatch.setattr(
        "IPython.display.display", lambda obj, raw=False: displayed.append((obj, raw))
    )
    picker = widgets.DigitPicker(G, n=2)
    widgets.display_with_fallback(picker.widget, picker.static_html())
    widgets.display_with_fallback(picker.widget, "<b>still</b>", note="a note")
    (bundle, raw), (other, _) = displayed
    assert raw
    view = bundle["application/vnd.jupyter.widget-view+json"]
    assert view["model_id"] == picker.widget.model_id  # the live widget itself
    html = bundle["text/html"]
    assert picker.static_html() in html and "Colab" in html
    assert other["text/html"] == "<div><b>still</b><br>a note</div>"
