"""Pictures: image grids, GIFs, training curves. Images are uint8 (N, 28, 28) throughout, 0 = black."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torchvision.utils import make_grid

from .sample import interpolate, latents, sample_by_label, write_number


def grid(images: torch.Tensor, nrow: int = 10, padding: int = 2, pad_value: int = 0) -> np.ndarray:
    """uint8 (N, 28, 28) -> one uint8 (H, W) image, `nrow` images per row."""
    images = torch.as_tensor(images)
    if images.dim() == 3:
        images = images.unsqueeze(1)
    g = make_grid(images, nrow=nrow, padding=padding, pad_value=pad_value)
    return g[0].numpy()


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement, so small digits stay crisp in a GIF or on a page."""
    return np.kron(image, np.ones((factor, factor), dtype=image.dtype)) if factor > 1 else image


def save_png(image: np.ndarray, path: str | Path, scale: int = 1) -> Path:
    import imageio.v3 as iio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, upscale(np.asarray(image, dtype=np.uint8), scale))
    return path


def save_gif(frames, path: str | Path, fps: float = 5, scale: int = 2, boomerang: bool = False,
             hold_last: int = 0) -> Path:
    """Frames (each a uint8 (H, W) image) as a looping GIF; `boomerang` plays forward then back."""
    import imageio.v2 as imageio

    frames = [upscale(np.asarray(f, dtype=np.uint8), scale) for f in frames]
    if not frames:
        raise ValueError("a GIF needs at least one frame")
    if boomerang:
        frames = frames + frames[-2:0:-1]
    frames = frames + [frames[-1]] * hold_last
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    imageio.mimsave(path, frames, duration=1000 / fps, loop=0)
    return path


def timelapse(snapshots, path: str | Path, fps: float = 4, scale: int = 2) -> Path:
    """A GIF of the fixed latent grid over training, from a run's [(step, uint8 (100, 28, 28))] snapshots."""
    return save_gif([grid(images) for _, images in snapshots], path, fps=fps, scale=scale, hold_last=4)


def smooth(values, window: int = 50) -> np.ndarray:
    """Moving average, so the trend of a noisy per-step curve is visible."""
    v = np.asarray(values, dtype=float)
    if len(v) < window or window <= 1:
        return v
    return np.convolve(v, np.ones(window) / window, mode="valid")


def plot_history(history: dict, window: int = 50, title: str | None = None):
    """Two panels: D and G losses, and mean D(x) vs D(G(z)), per step (smoothed). Returns the figure."""
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.4))
    for key, label in (("d_loss", "D loss"), ("g_loss", "G loss")):
        s = smooth(history[key], window)
        ax1.plot(np.arange(len(s)) + (len(history[key]) - len(s)), s, label=label)
    ax1.set_xlabel("step"), ax1.set_ylabel("loss"), ax1.legend()
    for key, label in (("d_real", "D(x), real"), ("d_fake", "D(G(z)), fake")):
        s = smooth(history[key], window)
        ax2.plot(np.arange(len(s)) + (len(history[key]) - len(s)), s, label=label)
    ax2.axhline(0.5, color="gray", lw=0.8, ls="--")
    ax2.set_ylim(0, 1), ax2.set_xlabel("step"), ax2.set_ylabel("mean discriminator output"), ax2.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def show(image: np.ndarray, title: str | None = None, scale: float = 1.0, ax=None):
    """Show one uint8 image in grey, without axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        h, w = np.asarray(image).shape[:2]
        _, ax = plt.subplots(figsize=(scale * w / 40, scale * h / 40))
    ax.imshow(image, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def show_source(obj):
    """Display the source of a library function or class in a notebook (highlighted in the HTML book)."""
    import inspect

    from IPython.display import Code

    return Code(inspect.getsource(obj), language="python")


def img_tag(data: bytes, mime: str, alt: str, width: int | None = None) -> str:
    """An inline <img> (base64 data URI): renders the same in Jupyter, Colab and the HTML book, no file needed."""
    import base64

    size = f' width="{width}"' if width else ""
    return f'<img src="data:{mime};base64,{base64.b64encode(data).decode("ascii")}"{size} alt="{alt}">'


def gif_html(path: str | Path, width: int | None = None, alt: str = "animation"):
    """An animated GIF file shown inline in a notebook."""
    from IPython.display import HTML

    return HTML(img_tag(Path(path).read_bytes(), "image/gif", alt, width))


def figure_to_array(fig) -> np.ndarray:
    """Render a matplotlib figure to an RGB uint8 array (a GIF frame)."""
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


# ---------------------------------------------------------------------------------------------------------
# Widgets. Each is a small ipywidgets panel whose drawing is a plain function of its controls, so it can be
# tested without a browser. `display_with_fallback` shows the live widget in Jupyter/Colab and a static
# picture in the HTML book (which has no kernel).


def png_bytes(image: np.ndarray, scale: int = 4) -> bytes:
    import io

    import imageio.v3 as iio

    buf = io.BytesIO()
    iio.imwrite(buf, upscale(np.asarray(image, dtype=np.uint8), scale), extension=".png")
    return buf.getvalue()


def image_html(image: np.ndarray, scale: int = 3, alt: str = "generated digits") -> str:
    return img_tag(png_bytes(image, scale), "image/png", alt)


def display_with_fallback(widget, fallback_html: str, note: str = ""):
    """Display `widget` live where a kernel runs it; the HTML book shows `fallback_html` instead.

    The output carries both the widget view and a text/html rendering. Jupyter and Colab render the widget;
    the book's configuration (nb_mime_priority_overrides in _config.yml) skips widget views, so the static
    picture appears, with a note saying how to get the live version.
    """
    from IPython.display import display

    bundle = widget._repr_mimebundle_() or {}
    bundle = dict(bundle[0] if isinstance(bundle, tuple) else bundle)
    live = note or ("<em>A static picture of this widget. Open the chapter in Colab (rocket icon above) "
                    "or run it locally to use it.</em>")
    bundle["text/html"] = f"<div>{fallback_html}<br>{live}</div>"
    display(bundle, raw=True)


class DigitPicker:
    """Pick a digit, see fresh samples of it: a conditional generator's one-line demo."""

    def __init__(self, G, n: int = 8, seed: int = 0):
        import ipywidgets as w

        self.G, self.n, self.seed = G, n, seed
        self.digit = w.ToggleButtons(options=list(range(10)), value=7, description="digit",
                                     style={"button_width": "32px"})
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
        import ipywidgets as w

        self.G, self.steps = G, steps
        self.z0, self.z1 = (latents(1, G.z_dim, s)[0] for s in seeds)
        self._cache = {}  # each digit's path is computed once, when first shown
        self.t = w.IntSlider(min=0, max=steps - 1, value=0, description="t", continuous_update=True)
        self.digit = w.Dropdown(options=list(range(10)), value=digit, description="digit")
        self.image = w.Image(format="png")
        self.t.observe(lambda change: self.draw(), names="value")
        self.digit.observe(lambda change: self.draw(), names="value")
        self.widget = w.VBox([w.HBox([self.digit, self.t]), self.image])
        self.draw()

    def path(self, digit: int) -> torch.Tensor:
        if digit not in self._cache:
            label = digit if self.G.num_classes else None
            self._cache[digit] = interpolate(self.G, self.z0, self.z1, steps=self.steps, label=label)
        return self._cache[digit]

    def picture(self, digit: int, t: int) -> np.ndarray:
        return self.path(digit)[t].numpy()

    def draw(self):
        self.image.value = png_bytes(self.picture(self.digit.value, self.t.value), scale=6)

    def static_html(self) -> str:
        return image_html(grid(self.path(self.digit.value), nrow=len(self.path(self.digit.value))), scale=3,
                          alt="the interpolation path, left to right")


class NumberBox:
    """Type a number, see it written in generated handwriting; bad input gets a message, not a traceback."""

    def __init__(self, G, number: str = "9830976450", seed: int = 0):
        import ipywidgets as w

        self.G = G
        self.text = w.Text(value=number, description="number", continuous_update=False)
        self.seed = w.IntText(value=seed, description="seed", layout=w.Layout(width="160px"))
        self.invert = w.Checkbox(value=False, description="dark on white")
        self.message = w.HTML()
        self.image = w.Image(format="png")
        for control in (self.text, self.seed, self.invert):
            control.observe(lambda change: self.draw(), names="value")
        self.widget = w.VBox([w.HBox([self.text, self.seed, self.invert]), self.message, self.image])
        self.draw()

    def picture(self, number: str, seed: int = 0, invert: bool = False) -> np.ndarray:
        return write_number(self.G, number, seed=seed, invert=invert).numpy()

    def draw(self):
        try:
            self.image.value = png_bytes(self.picture(self.text.value, self.seed.value, self.invert.value), scale=3)
            self.message.value = ""
        except ValueError as e:  # the library's own, readable message
            self.message.value = f'<span style="color:#b00">{e}</span>'

    def static_html(self) -> str:
        return image_html(self.picture(self.text.value, self.seed.value, self.invert.value), scale=3,
                          alt=f"the number {self.text.value} in generated digits")
