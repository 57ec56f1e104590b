"""Each widget's callbacks, driven as a user would: the picture must change with the label, slider and text."""

import pytest
import torch

from cgan_lib import widgets
from cgan_lib.models import build


@pytest.fixture(scope="module")
def G():
    torch.manual_seed(0)
    return build("cdcgan", width=16)[0].eval()


def test_digit_picker_changes_with_the_digit_and_the_button(G):
    picker = widgets.DigitPicker(G, n=4)
    first = bytes(picker.image.value)
    assert first.startswith(b"\x89PNG")
    picker.digit.value = 3  # what clicking the "3" toggle does
    after_digit = bytes(picker.image.value)
    assert after_digit != first
    picker.again.click()  # "new samples"
    assert bytes(picker.image.value) not in (first, after_digit)
    assert "data:image/png;base64," in picker.static_html()


def test_latent_slider_changes_with_t_and_digit(G):
    slider = widgets.LatentSlider(G, seeds=(0, 1), steps=8, digit=2)
    start = bytes(slider.image.value)
    slider.t.value = 7
    end = bytes(slider.image.value)
    assert end != start
    slider.digit.value = 9
    assert bytes(slider.image.value) != end
    slider.t.value = 0
    # back at t=0 with digit 9: the same z as the start, another digit
    assert bytes(slider.image.value) != start
    assert slider.picture(2, 0).shape == (28, 28)


def test_number_box_draws_and_explains_bad_input(G):
    box = widgets.NumberBox(G, "42")
    good = bytes(box.image.value)
    assert good.startswith(b"\x89PNG") and box.message.value == ""
    box.text.value = "1234567"
    longer = bytes(box.image.value)
    assert longer != good
    box.text.value = "12a"
    assert "character 'a' at position 3" in box.message.value
    assert bytes(box.image.value) == longer  # the last good picture stays
    box.text.value = ""
    assert "empty" in box.message.value
    box.text.value = "7"
    assert box.message.value == ""
    box.invert.value = True
    inverted = bytes(box.image.value)
    box.invert.value = False
    assert bytes(box.image.value) != inverted


def test_display_with_fallback_carries_the_widget_and_a_picture(G, monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj, raw=False: shown.append((obj, raw)))
    picker = widgets.DigitPicker(G, n=2)
    widgets.display_with_fallback(picker.widget, picker.static_html())
    bundle, raw = shown[0]
    assert raw and "application/vnd.jupyter.widget-view+json" in bundle
    assert "data:image/png;base64," in bundle["text/html"] and "Colab" in bundle["text/html"]
