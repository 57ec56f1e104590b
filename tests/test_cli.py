"""The command line, with every output file opened and checked against the library."""

import json
import os
import subprocess
import sys
from dataclasses import asdict

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from cgan_lib.__main__ import main
from cgan_lib.checkpoint import load_checkpoint, load_generator
from cgan_lib.run import pick_device
from cgan_lib.sample import sample_by_label, write_number
from cgan_lib.viz import grid, upscale


def cli(*args, timeout=600):
    env = {**os.environ, "CGAN_PROGRESS": "off"}
    return subprocess.run(
        [sys.executable, "-m", "cgan_lib", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def grid_side(n_images, padding=2):
    """Pixels along one side of a grid of n_images 28x28 digits (make_grid's layout)."""
    return padding + n_images * (28 + padding)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    proc = cli(
        *("train", "--model", "cmlp", "--width", "8", "--steps", "40"),
        *("--seed", "0", "--out", str(out)),
    )
    assert proc.returncode == 0, proc.stderr
    return out, proc.stdout


@pytest.fixture(scope="module")
def run_dir(trained):
    return trained[0]


@pytest.fixture(scope="module")
def G(run_dir):
    """The generator the commands below read from the run's checkpoint."""
    return load_generator(run_dir / "checkpoint.pt")


def test_train_writes_a_resumable_run_with_the_asked_settings(run_dir):
    run = load_checkpoint(run_dir / "checkpoint.pt", device="cpu")
    assert run.step == 40 and len(run.history["d_loss"]) == 40
    assert run.config.model == "cmlp" and run.config.model_kwargs == {"width": 8}
    assert run.config.seed == 0
    G = load_generator(run_dir / "generator.pt")  # the float16 copy of the same G
    z, y = torch.randn(5, G.z_dim), torch.arange(5)
    with torch.no_grad():
        assert torch.allclose(G(z, y), run.generator.eval()(z, y), atol=2e-3)


def test_train_writes_the_last_snapshot_as_samples_png(run_dir):
    run = load_checkpoint(run_dir / "checkpoint.pt", device="cpu")
    picture = iio.imread(run_dir / "samples.png")
    # 100 digits, 10 a row, enlarged twice
    assert picture.shape == (2 * grid_side(10), 2 * grid_side(10))
    assert np.array_equal(picture, upscale(grid(run.snapshots[-1][1]), 2))


def test_train_writes_a_timelapse_of_every_snapshot(run_dir, read_gif):
    run = load_checkpoint(run_dir / "checkpoint.pt", device="cpu")
    assert [s for s, _ in run.snapshots] == [0, 40]  # the start and the end
    frames, durations = read_gif(run_dir / "timelapse.gif")
    assert len(frames) == len(run.snapshots)
    for frame, (_, images) in zip(frames, run.snapshots):
        assert frame.shape == (2 * grid_side(10), 2 * grid_side(10))
        want = upscale(grid(images), 2).astype(int)
        assert np.abs(frame.astype(int) - want).max() <= 2  # GIF palette rounding
    # 4 frames a second; the last one held for 4 more frames
    assert durations == [250] * (len(frames) - 1) + [250 * 5]


def test_train_summary_says_what_ran(trained):
    run_dir, stdout = trained
    summary = json.loads((run_dir / "summary.json").read_text())
    assert json.loads(stdout[stdout.index("{") :]) == summary  # printed, and written
    run = load_checkpoint(run_dir / "checkpoint.pt", device="cpu")
    assert summary["step"] == 40 and summary["model"] == "cmlp"
    assert summary["config"] == json.loads(json.dumps(asdict(run.config)))
    assert summary["command"] == (
        f"python -m cgan_lib train --model cmlp --width 8 --steps 40 --seed 0 "
        f"--out {run_dir}"
    )
    assert summary["device"] == str(pick_device())
    assert summary["checkpoint"] == str(run_dir / "checkpoint.pt")
    assert summary["interrupted"] is False
    assert summary["seconds"] == pytest.approx(run.elapsed, abs=0.06)
    # throughput over the training time: 40 steps of 128 images
    assert summary["images_per_s"] == pytest.approx(
        40 * 128 / run.elapsed, rel=0.05, abs=1
    )


def test_sample_npz_holds_the_librarys_samples_in_label_order(
    run_dir, G, tmp_path, capsys
):
    out = tmp_path / "s.npz"
    args = ["sample", "--checkpoint", str(run_dir / "checkpoint.pt")]
    assert main([*args, "--per-class", "5", "--seed", "3", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote 50 digits to {out}"
    images, labels = sample_by_label(G, 5, seed=3)
    with np.load(out) as z:
        assert sorted(z.files) == ["images", "labels"]
        assert z["images"].shape == (50, 28, 28) and z["images"].dtype == np.uint8
        assert z["labels"].dtype == np.int64
        assert z["labels"].tolist() == [0] * 5 + [1] * 5 + [2] * 5 + [
            d for d in range(3, 10) for _ in range(5)
        ]
        # the seed decides the digits: the same as the library's for seed 3
        assert np.array_equal(z["images"], images.numpy())
        other, _ = sample_by_label(G, 5, seed=4)
        assert not np.array_equal(z["images"], other.numpy())


def test_sample_png_is_a_grid_one_row_per_digit(run_dir, G, tmp_path):
    out = tmp_path / "s.png"
    checkpoint = str(run_dir / "checkpoint.pt")
    assert (
        main(
            [
                "sample",
                "--checkpoint",
                checkpoint,
                "--per-class",
                "3",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    picture = iio.imread(out)
    assert picture.shape == (2 * grid_side(10), 2 * grid_side(3))  # 10 rows of 3
    images, _ = sample_by_label(G, 3, seed=0)
    assert np.array_equal(picture, upscale(grid(images, nrow=3), 2))


def test_sample_of_chosen_digits(run_dir, G, tmp_path):
    out = tmp_path / "some.npz"
    args = ["sample", "--checkpoint", str(run_dir / "checkpoint.pt")]
    args += ["--per-class", "4", "--digit", "7", "--digit", "2", "--out", str(out)]
    assert main(args) == 0
    images, _ = sample_by_label(G, 4, seed=0, digits=[7, 2])
    with np.load(out) as z:
        assert z["labels"].tolist() == [7, 7, 7, 7, 2, 2, 2, 2]
        assert np.array_equal(z["images"], images.numpy())


def test_number_png_is_the_librarys_picture_enlarged(run_dir, G, tmp_path):
    out = tmp_path / "n.png"
    args = ["number", "--checkpoint", str(run_dir / "checkpoint.pt"), "--number"]
    assert main([*args, "2026", "--out", str(out)]) == 0
    picture = iio.imread(out)
    want = write_number(G, "2026", seed=0).numpy()
    assert picture.shape == (3 * want.shape[0], 3 * want.shape[1])  # --scale 3
    assert np.array_equal(picture, upscale(want, 3))
    flags = ["--seed", "5", "--invert", "--scale", "1", "--out", str(out)]
    assert main([*args, "2026", *flags]) == 0
    inverted = write_number(G, "2026", seed=5, invert=True).numpy()
    assert np.array_equal(iio.imread(out), inverted)
    assert inverted.mean() > 128  # dark ink on white


def test_evaluate_a_checkpoint_writes_scores_in_range(run_dir, tmp_path, capsys):
    out = tmp_path / "scores.json"
    args = ["evaluate", "--checkpoint", str(run_dir / "checkpoint.pt")]
    assert main([*args, "--per-class", "5", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert list(rows) == ["checkpoint.pt", "real data (test half A)"]
    printed = capsys.readouterr().out
    assert "checkpoint.pt" in printed and "Fréchet" in printed
    for name, s in rows.items():
        assert s["n"] == 50, name
        assert 0 <= s["accuracy"] <= 1, name
        assert len(s["accuracy_per_label"]) == 10
        assert all(0 <= a <= 1 for a in s["accuracy_per_label"]), name
        assert s["accuracy"] == pytest.approx(np.mean(s["accuracy_per_label"]))
        assert 0 <= s["frechet_distance"] < 1e4, name
        assert sum(s["class_histogram"]) == 50 and 1 <= s["classes_drawn"] <= 10
    # 40 steps of a width-8 MLP draw blobs; real digits are read right
    assert rows["real data (test half A)"]["accuracy"] > 0.9
    real_fd = rows["real data (test half A)"]["frechet_distance"]
    assert rows["checkpoint.pt"]["frechet_distance"] > 10 * real_fd


@pytest.mark.parametrize(
    "args, message",
    [
        (["sample", "--per-class", "0", "--out", "{tmp}/s.npz"], "[1, 10000], got 0"),
        (["sample", "--per-class", "2", "--digit", "10"], "in [0, 9], got 10"),
        (["sample", "--per-class", "2", "--digit", "-1"], "in [0, 9], got -1"),
        (["sample", "--per-class", "2", "--out", "{tmp}/s.txt"], ".npz or .png"),
        (["number", "--number", "12a", "--out", "{tmp}/n.png"], "character 'a'"),
        (["number", "--number", "", "--out", "{tmp}/n.png"], "empty"),
        (["train", "--model", "gpt", "--steps", "3"], "invalid choice"),
        (["train", "--model", "mlp"], "one of the arguments"),
        (
            ["train", "--model", "cmlp", "--refine", "--steps", "3"],
            "no option 'refine'",
        ),
        (["train", "--model", "mlp", "--ema", "nan", "--steps", "3"], "[0, 0.99999]"),
    ],
)
def test_bad_arguments_exit_nonzero_with_one_clear_line(
    run_dir, tmp_path, capsys, args, message
):
    args = [a.format(tmp=tmp_path) for a in args]
    if args[0] in ("sample", "number"):
        args += ["--checkpoint", str(run_dir / "checkpoint.pt")]
    if "--out" not in args:
        args += ["--out", str(tmp_path / ("r" if args[0] == "train" else "s.npz"))]
    try:
        code = main(args)
    except SystemExit as e:  # argparse's own errors
        code = e.code
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert message in err and len(err.splitlines()) == 1, err
    assert [p.name for p in tmp_path.iterdir()] == []  # and nothing was written


def test_a_missing_checkpoint_is_one_line(tmp_path, capsys):
    args = ["sample", "--checkpoint", str(tmp_path / "missing.pt")]
    assert main([*args, "--per-class", "2", "--out", str(tmp_path / "s.npz")]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        f"error: {tmp_path / 'missing.pt'} does not exist; expected a file holding "
        "a resumable training run or a sample-only generator"
    )


def test_train_records_the_refine_choice(tmp_path):
    def plain_convs(G):  # refining layers are the only non-transposed convolutions
        return [m for m in G.modules() if type(m) is torch.nn.Conv2d]

    for flag, convs in (("--no-refine", 0), ("--refine", 2)):
        out = tmp_path / flag
        args = ["train", "--model", "cdcgan", "--width", "8", flag, "--steps", "2"]
        assert main([*args, "--out", str(out)]) == 0
        assert len(plain_convs(load_generator(out / "generator.pt"))) == convs
        config = load_checkpoint(out / "checkpoint.pt").config
        assert config.model_kwargs["width"] == 8
        assert config.model_kwargs["refine"] == (flag == "--refine")
