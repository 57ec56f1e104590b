"""viz: grids, PNGs, GIFs and plots, checked by their geometry and pixels."""

import base64
import inspect
import re

import imageio.v3 as iio
import matplotlib
import numpy as np
import pytest
import torch

from cgan_lib import data, models, viz

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture()
def digits():
    g = torch.Generator().manual_seed(0)
    return torch.randint(1, 256, (23, 28, 28), generator=g, dtype=torch.uint8)


def test_grid_places_each_digit_in_its_cell(digits):
    picture = viz.grid(digits, nrow=10)  # 23 digits: rows of 10, 10 and 3
    assert picture.dtype == np.uint8
    assert picture.shape == (2 + 3 * 30, 2 + 10 * 30)
    for i, digit in enumerate(digits):
        r, c = divmod(i, 10)
        cell = picture[2 + 30 * r : 30 + 30 * r, 2 + 30 * c : 30 + 30 * c]
        assert np.array_equal(cell, digit.numpy()), i
    # the padding and the unused cells of the last row are pad_value
    mask = np.ones_like(picture, dtype=bool)
    for i in range(23):
        r, c = divmod(i, 10)
        mask[2 + 30 * r : 30 + 30 * r, 2 + 30 * c : 30 + 30 * c] = False
    assert (picture[mask] == 0).all()
    white = viz.grid(digits[:4], nrow=2, padding=1, pad_value=255)
    assert white.shape == (1 + 2 * 29, 1 + 2 * 29) and white[0].min() == 255
    # (N, 1, 28, 28) is read as (N, 28, 28)
    assert np.array_equal(viz.grid(digits[:, None]), picture)


def test_upscale_is_nearest_neighbour():
    image = np.array([[0, 255], [10, 20]], dtype=np.uint8)
    big = viz.upscale(image, 3)
    assert big.shape == (6, 6) and big.dtype == np.uint8
    assert np.array_equal(big[::3, ::3], image) and np.array_equal(
        big[2::3, 2::3], image
    )
    assert viz.upscale(image, 1) is image


def test_save_png_round_trips(tmp_path, digits):
    picture = viz.grid(digits)
    path = viz.save_png(picture, tmp_path / "sub" / "g.png", scale=2)
    assert path == tmp_path / "sub" / "g.png"
    assert np.array_equal(iio.imread(path), viz.upscale(picture, 2))


def test_save_gif_frames_timing_and_boomerang(tmp_path, read_gif):
    frames = [np.full((4, 5), 40 * i, dtype=np.uint8) for i in range(4)]
    path = viz.save_gif(frames, tmp_path / "a.gif", fps=5, scale=2)
    shown, durations = read_gif(path)
    assert len(shown) == 4 and shown[0].shape == (8, 10)
    assert [int(f[0, 0]) for f in shown] == [0, 40, 80, 120]
    assert durations == [200] * 4  # 5 frames a second
    # boomerang: forward, then back without repeating either end; hold the last
    path = viz.save_gif(frames, tmp_path / "b.gif", fps=10, scale=1, boomerang=True)
    shown, durations = read_gif(path)
    assert [int(f[0, 0]) for f in shown] == [0, 40, 80, 120, 80, 40]
    path = viz.save_gif(frames, tmp_path / "c.gif", fps=10, scale=1, hold_last=3)
    shown, durations = read_gif(path)
    assert [int(f[0, 0]) for f in shown] == [0, 40, 80, 120]
    assert durations == [100, 100, 100, 400]  # the last frame held 3 frames longer
    with pytest.raises(ValueError, match="at least one frame"):
        viz.save_gif([], tmp_path / "d.gif")


def test_timelapse_is_one_grid_per_snapshot_and_holds_the_last(
    tmp_path, digits, monkeypatch
):
    written = {}

    def mimsave(path, frames, duration, loop):
        written.update(frames=frames, duration=duration, loop=loop)

    monkeypatch.setattr(viz.imageio, "mimsave", mimsave)
    snapshots = [(0, digits), (10, 255 - digits), (20, digits // 2)]
    viz.timelapse(snapshots, tmp_path / "t.gif", fps=4, scale=2)
    frames = written["frames"]
    assert len(frames) == 3 + 4 and written["duration"] == 250 and written["loop"] == 0
    want = [viz.upscale(viz.grid(images), 2) for _, images in snapshots]
    for frame, expected in zip(frames, want + [want[-1]] * 4):
        assert np.array_equal(frame, expected)


def test_timelapse_file_of_real_digits(tmp_path, read_gif):
    images, _ = data.load_mnist("test")
    snapshots = [
        (step, images[100 * i : 100 * i + 100]) for i, step in enumerate([0, 5])
    ]
    shown, durations = read_gif(viz.timelapse(snapshots, tmp_path / "t.gif", scale=1))
    assert durations == [250, 250 * 5]
    for frame, (_, digits) in zip(shown, snapshots):
        assert np.abs(frame.astype(int) - viz.grid(digits).astype(int)).max() <= 2


def test_smooth_is_a_moving_average():
    values = np.arange(10.0)
    assert np.allclose(viz.smooth(values, 3), np.arange(1.0, 9.0))  # mean of 3
    assert (
        len(viz.smooth(np.ones(100), 50)) == 51 and viz.smooth(np.ones(100)).max() == 1
    )
    noisy = np.random.default_rng(0).normal(size=5000)
    assert viz.smooth(noisy, 100).std() < noisy.std() / 5  # noise shrinks ~ 1/sqrt(w)
    # too short, or no window: returned as it is
    assert np.array_equal(viz.smooth([1, 2, 3], 50), [1, 2, 3])
    assert np.array_equal(viz.smooth([1, 2, 3], 1), [1, 2, 3])


def test_plot_history_draws_the_smoothed_curves_at_their_steps():
    steps = 40
    history = {
        "d_loss": list(np.linspace(1.4, 0.8, steps)),
        "g_loss": list(np.linspace(0.7, 1.5, steps)),
        "d_real": [0.7] * steps,
        "d_fake": [0.3] * steps,
    }
    fig = viz.plot_history(history, window=10, title="a run")
    try:
        losses, outputs = fig.axes
        assert [line.get_label() for line in losses.lines] == ["D loss", "G loss"]
        d_loss = losses.lines[0]
        assert np.allclose(d_loss.get_ydata(), viz.smooth(history["d_loss"], 10))
        # a moving average of 10 starts at step 9: the curve is not shifted left
        assert d_loss.get_xdata()[0] == 9 and d_loss.get_xdata()[-1] == steps - 1
        assert outputs.get_ylim() == (0, 1)
        assert np.allclose(outputs.lines[0].get_ydata(), 0.7)
        assert fig._suptitle.get_text() == "a run"
    finally:
        plt.close(fig)


def test_show_draws_the_image_in_grey_without_axes(digits):
    picture = viz.grid(digits[:3])
    ax = viz.show(picture, title="three")
    try:
        (image,) = ax.get_images()
        assert np.array_equal(image.get_array(), picture)
        assert image.get_clim() == (0, 255) and image.get_cmap().name == "gray"
        assert not ax.axison and ax.get_title() == "three"
    finally:
        plt.close(ax.figure)


def test_figure_to_array_renders_rgb_pixels():
    fig = plt.figure(figsize=(2, 1), dpi=50)
    fig.patch.set_facecolor((1.0, 0.0, 0.0))
    try:
        pixels = viz.figure_to_array(fig)
    finally:
        plt.close(fig)
    assert pixels.shape == (50, 100, 3) and pixels.dtype == np.uint8
    assert (pixels[..., 0] == 255).all() and (pixels[..., 1:] == 0).all()


def test_show_source_is_the_librarys_own_source():
    code = viz.show_source(data.to_signed)
    assert code.data == inspect.getsource(data.to_signed)
    assert code.data.startswith("def to_signed(")


def test_show_source_cuts_the_part_a_chapter_teaches():
    code = viz.show_source(models.ConvGenerator.__init__, "self.project =", "self.up =")
    lines = code.data.splitlines()
    assert lines[0] == "self.project = nn.Sequential("  # dedented to its first line
    assert lines[-1] == "self.up = nn.Sequential(*up, nn.Tanh())"
    assert "ConvTranspose2d" in code.data and "def __init__" not in code.data
    with pytest.raises(ValueError, match="no line of ConvGenerator.__init__"):
        viz.show_source(models.ConvGenerator.__init__, "self.nothing")


def test_inline_images_carry_the_file_bytes(tmp_path, digits):
    gif = viz.save_gif([viz.grid(digits)], tmp_path / "one.gif")
    html = viz.gif_html(gif, width=120, alt="a grid").data
    (b64,) = re.findall(r'src="data:image/gif;base64,([^"]+)"', html)
    assert base64.b64decode(b64) == gif.read_bytes()
    assert 'width="120"' in html and 'alt="a grid"' in html
    picture = viz.grid(digits[:2])
    assert np.array_equal(
        iio.imread(viz.png_bytes(picture, 3)), viz.upscale(picture, 3)
    )
    html = viz.image_html(picture, scale=2, alt="two")
    (b64,) = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert np.array_equal(iio.imread(base64.b64decode(b64)), viz.upscale(picture, 2))


def test_clipped_data_names_what_the_axes_cut_off():
    fig, (line, bars, errors, fine) = plt.subplots(1, 4)
    line.plot([0, 1, 2], [0, 5, 1]), line.set_ylim(0, 2)  # the peak is cut off
    bars.bar(range(3), [0.6, 0.9, 0.3]), bars.set_ylim(0.5, 1)  # one bar vanishes
    errors.errorbar([1, 2], [1, 2], [0.5, 3]), errors.set_ylim(0, 3)
    fine.bar(range(3), [0.6, 0.9, 0.7]), fine.set_ylim(0.5, 1)  # bases may be cut
    fine.axhline(3), fine.axvspan(-5, 10), fine.scatter([1], [0.8])  # not data
    found = viz.clipped_data(fig)
    assert len(found) == 3
    assert "1 outside y 0..2" in found[0] and "1 outside y 0.5..1" in found[1]
    assert "2 outside y 0..3" in found[2]
    log, _ = plt.subplots()
    axes = log.axes[0]
    axes.plot([1, 2, 3], [0, 1e-9, 1]), axes.set_yscale("log")
    axes.set_ylim(1e-8, 1)  # 0 is masked by the log axis; 1e-9 is hidden
    assert len(viz.clipped_data(log)) == 1
    axes.set_ylim(1e-10, 1)
    assert viz.clipped_data(log) == []
    plt.close("all")


def test_the_book_build_prints_a_warning_under_a_clipped_figure(capsys):
    import io

    viz.check_figures_when_drawn()
    viz.check_figures_when_drawn()  # installed once, however often it is called
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 5]), ax.set_ylim(0, 1)
    fig.savefig(io.BytesIO(), format="png")
    printed = capsys.readouterr().out
    assert printed.count(viz.CLIP_MARKER) == 1 and "1 outside y 0..1" in printed
    ax.set_ylim(0, 6)
    fig.savefig(io.BytesIO(), format="png")
    assert viz.CLIP_MARKER not in capsys.readouterr().out
    plt.close(fig)
