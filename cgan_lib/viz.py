"""Pictures: image grids, PNGs and GIFs, training curves, inline HTML images. Images are
uint8 (N, 28, 28) throughout, 0 = black.
"""

from __future__ import annotations

import base64
import inspect
import io
import textwrap
from pathlib import Path

import imageio.v2 as imageio
import imageio.v3 as iio
import numpy as np
import torch
from torchvision.utils import make_grid


def grid(
    images: torch.Tensor, nrow: int = 10, padding: int = 2, pad_value: int = 0
) -> np.ndarray:
    """uint8 (N, 28, 28) -> one uint8 (H, W) image, `nrow` images per row."""
    images = torch.as_tensor(images)
    if images.dim() == 3:
        images = images.unsqueeze(1)
    g = make_grid(images, nrow=nrow, padding=padding, pad_value=pad_value)
    return g[0].numpy()


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement: small digits stay crisp in a GIF or on a page."""
    return (
        np.kron(image, np.ones((factor, factor), dtype=image.dtype))
        if factor > 1
        else image
    )


def save_png(image: np.ndarray, path: str | Path, scale: int = 1) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, upscale(np.asarray(image, dtype=np.uint8), scale))
    return path


def save_gif(
    frames,
    path: str | Path,
    fps: float = 5,
    scale: int = 2,
    boomerang: bool = False,
    hold_last: int = 0,
) -> Path:
    """Frames (each a uint8 (H, W) image) as a looping GIF; `boomerang` plays forward
    then back.
    """
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
    """A GIF of the fixed latent grid over training, from a run's [(step, uint8 (100,
    28, 28))] snapshots.
    """
    return save_gif(
        [grid(images) for _, images in snapshots],
        path,
        fps=fps,
        scale=scale,
        hold_last=4,
    )


def smooth(values, window: int = 50) -> np.ndarray:
    """Moving average, so the trend of a noisy per-step curve is visible."""
    v = np.asarray(values, dtype=float)
    if len(v) < window or window <= 1:
        return v
    return np.convolve(v, np.ones(window) / window, mode="valid")


def plot_history(history: dict, window: int = 50, title: str | None = None):
    """Two panels: D and G losses, and mean D(x) vs D(G(z)), per step (smoothed).
    Returns the figure.
    """
    import matplotlib.pyplot as plt  # heavy (~0.5 s): only the plots need it

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.4))
    for key, label in (("d_loss", "D loss"), ("g_loss", "G loss")):
        s = smooth(history[key], window)
        ax1.plot(np.arange(len(s)) + (len(history[key]) - len(s)), s, label=label)
    ax1.set_xlabel("step"), ax1.set_ylabel("loss"), ax1.legend()
    for key, label in (("d_real", "D(x), real"), ("d_fake", "D(G(z)), fake")):
        s = smooth(history[key], window)
        ax2.plot(np.arange(len(s)) + (len(history[key]) - len(s)), s, label=label)
    ax2.axhline(0.5, color="gray", lw=0.8, ls="--")
    (
        ax2.set_ylim(0, 1),
        ax2.set_xlabel("step"),
        ax2.set_ylabel("mean discriminator output"),
        ax2.legend(),
    )
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def show(image: np.ndarray, title: str | None = None, scale: float = 1.0, ax=None):
    """Show one uint8 image in grey, without axes."""
    import matplotlib.pyplot as plt  # heavy (~0.5 s): only the plots need it

    if ax is None:
        h, w = np.asarray(image).shape[:2]
        _, ax = plt.subplots(figsize=(scale * w / 40, scale * h / 40))
    ax.imshow(image, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def show_source(obj, start: str | None = None, stop: str | None = None):
    """Display the source of a library function or class in a notebook (highlighted in
    the HTML book). With `start` and `stop`, only the lines from the first one that
    contains `start` to the first one after it that contains `stop` (a chapter shows
    the part it teaches), dedented.
    """
    from IPython.display import Code  # IPython: only in notebooks

    lines = inspect.getsource(obj).splitlines(keepends=True)
    first = 0 if start is None else _line_with(lines, start, 0, obj)
    last = len(lines) - 1 if stop is None else _line_with(lines, stop, first, obj)
    return Code(textwrap.dedent("".join(lines[first : last + 1])), language="python")


def _line_with(lines: list[str], text: str, after: int, obj) -> int:
    for i in range(after, len(lines)):
        if text in lines[i]:
            return i
    raise ValueError(f"no line of {obj.__qualname__}'s source contains {text!r}")


def img_tag(data: bytes, mime: str, alt: str, width: int | None = None) -> str:
    """An inline <img> (base64 data URI): renders the same in Jupyter, Colab and the
    HTML book, no file needed.
    """
    size = f' width="{width}"' if width else ""
    encoded = base64.b64encode(data).decode("ascii")
    return f'<img src="data:{mime};base64,{encoded}"{size} alt="{alt}">'


def gif_html(path: str | Path, width: int | None = None, alt: str = "animation"):
    """An animated GIF file shown inline in a notebook."""
    from IPython.display import HTML  # IPython: only in notebooks

    return HTML(img_tag(Path(path).read_bytes(), "image/gif", alt, width))


def figure_to_array(fig) -> np.ndarray:
    """Render a matplotlib figure to an RGB uint8 array (a GIF frame)."""
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def png_bytes(image: np.ndarray, scale: int = 4) -> bytes:
    buf = io.BytesIO()
    iio.imwrite(
        buf, upscale(np.asarray(image, dtype=np.uint8), scale), extension=".png"
    )
    return buf.getvalue()


def image_html(image: np.ndarray, scale: int = 3, alt: str = "generated digits") -> str:
    return img_tag(png_bytes(image, scale), "image/png", alt)


# A figure whose axes cut off part of what it plots hides data from the reader (a
# point above ylim, a bar's top beyond the frame). The book build looks for them.
CLIP_MARKER = "FigureClipWarning"


def _outside(values, low, high, log: bool) -> int:
    values = np.asarray(values, dtype=float).ravel()
    values = values[np.isfinite(values)]
    if log:  # a log axis never shows values <= 0: matplotlib masks them, not a clip
        values, low, high = np.log10(values[values > 0]), np.log10(low), np.log10(high)
    slack = 0.01 * (high - low)  # markers drawn on the frame itself are shown
    return int(((values < low - slack) | (values > high + slack)).sum())


def clipped_data(fig) -> list[str]:
    """What each axes of `fig` plots outside its own limits: lines, scatter points,
    error bars and the far ends of bars (a bar's base may sit below the frame).
    Artists drawn in axes coordinates (axhline, axvspan, text) are not data."""
    found = []
    for n, ax in enumerate(fig.axes):
        (x0, x1), (y0, y1) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
        xlog, ylog = ax.get_xscale() == "log", ax.get_yscale() == "log"
        xs, ys = [], []
        for line in ax.get_lines():
            if line.get_transform() == ax.transData and line.get_visible():
                x, y = line.get_data()
                xs.append(np.asarray(x, dtype=float)), ys.append(np.asarray(y, float))
        for collection in ax.collections:
            if collection.get_transform() == ax.transData:  # error bars
                for segment in getattr(collection, "get_segments", list)():
                    xs.append(segment[:, 0]), ys.append(segment[:, 1])
            elif collection.get_offset_transform() == ax.transData:  # scatter
                offsets = np.asarray(collection.get_offsets(), dtype=float)
                if offsets.size:
                    xs.append(offsets[:, 0]), ys.append(offsets[:, 1])
        for patch in ax.patches:
            if patch.get_data_transform() == ax.transData and hasattr(
                patch, "get_height"
            ):
                px, py = patch.get_x(), patch.get_y()
                w, h = patch.get_width(), patch.get_height()
                if py == 0:  # a vertical bar from 0: its top, and its sides
                    xs.append(np.array([px, px + w])), ys.append(np.array([h]))
                elif px == 0:  # a horizontal bar from 0
                    xs.append(np.array([w])), ys.append(np.array([py, py + h]))
        x_out = sum(_outside(v, x0, x1, xlog) for v in xs)
        y_out = sum(_outside(v, y0, y1, ylog) for v in ys)
        if x_out or y_out:
            title = ax.get_title() or ax.get_ylabel() or f"axes {n}"
            found.append(
                f"{title!r}: {x_out} values outside x {x0:.3g}..{x1:.3g}, "
                f"{y_out} outside y {y0:.3g}..{y1:.3g}"
            )
    return found


def check_figures_when_drawn() -> None:
    """Print a warning under every figure, as it is drawn into the page, whose axes
    clip its data (the book build sets CGAN_CHECK_FIGURES=1; tests/test_book.py fails
    on the warning in a built page)."""
    from matplotlib.backend_bases import FigureCanvasBase

    if getattr(FigureCanvasBase.print_figure, "checks_clipping", False):
        return
    print_figure = FigureCanvasBase.print_figure

    def checked(self, *args, **kwargs):
        for problem in clipped_data(self.figure):
            print(f"{CLIP_MARKER}: a figure hides data: {problem}")
        return print_figure(self, *args, **kwargs)

    checked.checks_clipping = True
    FigureCanvasBase.print_figure = checked
