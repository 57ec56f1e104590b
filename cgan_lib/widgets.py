"""Widgets for Jupyter and Colab: pick a digit, walk the latent space, write a number.

Each is a small ipywidgets panel whose drawing is a plain function of its controls
(`picture`), so it is tested without a browser. `display_with_fallback` shows the live
widget where a kernel runs it and a static picture in the HTML book, which has no kernel
(its live versions run in the page's own script).
"""

from __future__ import annotations

import numpy as np
import torch

from .sample import interpolate, latents, sample_by_label, write_number
from .viz import grid, image_html, png_bytes


def display_with_fallback(widget, fallback_html: str, note: str = ""):
    """Display `widget` live where a kernel runs it; the HTML book shows `fallback_html`
    instead.

    The output carries both the widget view and a text/html rendering. Jupyter and Colab
    render the widget; the book's configuration (nb_mime_priority_overrides in
    _config.yml) skips widget views, so the static picture appears, with a note saying
    how to get the live version.
    """
    from IPython.display import display  # IPython: only in notebooks

    bundle = widget._repr_mimebundle_() or {}
    bundle = dict(bundle[0] if isinstance(bundle, tuple) else bundle)
    live = note or (
        "<em>A static picture of this widget. Open the chapter in Colab "
        "(rocket icon above) "
        "or run it locally to use it.</em>"
    )
    bundle["text/html"] = f"<div>{fallback_html}<br>{live}</div>"
    display(bundle, raw=True)


class DigitPicker:
    """Pick a digit, see fresh samples of it: a conditional generator's demo."""

    def __init__(self, G, n: int = 8, seed: int = 0):
        import ipywidgets as w  # optional: pip install cgan_lib[widgets]

        self.G, self.n, self.seed = G, n, seed
        self.digit = w.ToggleButtons(
            options=list(range(10)),
            value=7,
            description="digit",
            style={"button_width": "32px"},
        )
        self.again = w.Button(description="new samples", icon="refresh")
        self.image = w.Image(format="png")
        self.digit.observe(lambda change: self.draw(), names="value")
        self.again.on_click(lambda _: self.next_seed())
        self.widget = w.VBox([w.HBox([self.digit, self.again]), self.image])
        self.draw()

    def picture(self, digit: int, seed: int) -> np.ndarray:
        images, _ = sample_by_label(self.G, self.n, seed=seed, digits=[digit])
        return grid(images, nrow=self.n)

    def draw(self):
        self.image.value = png_bytes(self.picture(self.digit.value, self.seed))

    def next_seed(self):
        self.seed += 1
        self.draw()

    def static_html(self) -> str:
        rows = np.concatenate([self.picture(d, self.seed) for d in range(10)])
        return image_html(rows, scale=2, alt="samples of every digit 0-9, one row each")


class LatentSlider:
    """Walk a spherical interpolation between two latent points for a chosen digit."""

    def __init__(self, G, seeds=(0, 1), steps: int = 24, digit: int = 3):
        import ipywidgets as w  # optional: pip install cgan_lib[widgets]

        self.G, self.steps = G, steps
        self.z0, self.z1 = (latents(1, G.z_dim, s)[0] for s in seeds)
        self._cache = {}  # each digit's path is computed once, when first shown
        self.t = w.IntSlider(
            min=0, max=steps - 1, value=0, description="t", continuous_update=True
        )
        self.digit = w.Dropdown(
            options=list(range(10)), value=digit, description="digit"
        )
        self.image = w.Image(format="png")
        self.t.observe(lambda change: self.draw(), names="value")
        self.digit.observe(lambda change: self.draw(), names="value")
        self.widget = w.VBox([w.HBox([self.digit, self.t]), self.image])
        self.draw()

    def path(self, digit: int) -> torch.Tensor:
        if digit not in self._cache:
            label = digit if self.G.num_classes else None
            self._cache[digit] = interpolate(
                self.G, self.z0, self.z1, steps=self.steps, label=label
            )
        return self._cache[digit]

    def picture(self, digit: int, t: int) -> np.ndarray:
        return self.path(digit)[t].numpy()

    def draw(self):
        self.image.value = png_bytes(
            self.picture(self.digit.value, self.t.value), scale=6
        )

    def static_html(self) -> str:
        return image_html(
            grid(self.path(self.digit.value), nrow=len(self.path(self.digit.value))),
            scale=3,
            alt="the interpolation path, left to right",
        )


class NumberBox:
    """Type a number, see it written in generated handwriting; bad input gets a message,
    not a traceback.
    """

    def __init__(self, G, number: str = "9830976450", seed: int = 0):
        import ipywidgets as w  # optional: pip install cgan_lib[widgets]

        self.G = G
        self.text = w.Text(value=number, description="number", continuous_update=False)
        self.seed = w.IntText(
            value=seed, description="seed", layout=w.Layout(width="160px")
        )
        self.invert = w.Checkbox(value=False, description="dark on white")
        self.message = w.HTML()
        self.image = w.Image(format="png")
        for control in (self.text, self.seed, self.invert):
            control.observe(lambda change: self.draw(), names="value")
        self.widget = w.VBox(
            [w.HBox([self.text, self.seed, self.invert]), self.message, self.image]
        )
        self.draw()

    def picture(self, number: str, seed: int = 0, invert: bool = False) -> np.ndarray:
        return write_number(self.G, number, seed=seed, invert=invert).numpy()

    def draw(self):
        try:
            self.image.value = png_bytes(
                self.picture(self.text.value, self.seed.value, self.invert.value),
                scale=3,
            )
            self.message.value = ""
        except ValueError as e:  # the library's own, readable message
            self.message.value = f'<span style="color:#b00">{e}</span>'

    def static_html(self) -> str:
        return image_html(
            self.picture(self.text.value, self.seed.value, self.invert.value),
            scale=3,
            alt=f"the number {self.text.value} in generated digits",
        )
