import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from cgan_lib.__main__ import main


def cli(*args, timeout=600):
    env = {**os.environ, "CGAN_PROGRESS": "off"}
    return subprocess.run([sys.executable, "-m", "cgan_lib", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    proc = cli("train", "--model", "cmlp", "--steps", "40", "--out", str(out), "--seed", "0")
    assert proc.returncode == 0, proc.stderr
    return out


def test_train_writes_checkpoint_samples_and_timelapse(trained):
    for name in ("checkpoint.pt", "generator.pt", "samples.png", "timelapse.gif", "summary.json"):
        assert (trained / name).exists(), name


def test_sample_npz_format(trained, tmp_path):
    out = tmp_path / "s.npz"
    proc = cli("sample", "--checkpoint", str(trained / "checkpoint.pt"), "--per-class", "5", "--seed", "0",
               "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    with np.load(out) as z:
        assert z["images"].shape == (50, 28, 28) and z["images"].dtype == np.uint8
        assert z["labels"].dtype == np.int64 and z["labels"].tolist() == [d for d in range(10) for _ in range(5)]
        assert z["images"].max() > 0


def test_number_png(trained, tmp_path):
    out = tmp_path / "n.png"
    assert main(["number", "--checkpoint", str(trained / "generator.pt"), "--number", "2026", "--out", str(out)]) == 0
    assert out.stat().st_size > 100


@pytest.mark.parametrize("args, message", [
    (["sample", "--checkpoint", "{ck}", "--per-class", "0", "--out", "{tmp}/s.npz"], "whole number in [1, 10000], got 0"),
    (["sample", "--checkpoint", "{ck}", "--per-class", "2", "--digit", "10", "--out", "{tmp}/s.npz"], "in [0, 9], got 10"),
    (["sample", "--checkpoint", "{ck}", "--per-class", "2", "--digit", "-1", "--out", "{tmp}/s.npz"], "in [0, 9], got -1"),
    (["sample", "--checkpoint", "{tmp}/missing.pt", "--per-class", "2", "--out", "{tmp}/s.npz"], "does not exist"),
    (["sample", "--checkpoint", "{ck}", "--per-class", "2", "--out", "{tmp}/s.txt"], ".npz or .png"),
    (["number", "--checkpoint", "{ck}", "--number", "12a", "--out", "{tmp}/n.png"], "character 'a'"),
    (["number", "--checkpoint", "{ck}", "--number", "", "--out", "{tmp}/n.png"], "empty"),
    (["train", "--model", "gpt", "--steps", "3", "--out", "{tmp}/r"], "invalid choice"),
    (["train", "--model", "mlp", "--out", "{tmp}/r"], "one of the arguments"),
    (["train", "--model", "cmlp", "--refine", "--steps", "3", "--out", "{tmp}/r"], "takes no option 'refine'"),
])
def test_bad_arguments_exit_nonzero_with_one_clear_line(trained, tmp_path, capsys, args, message):
    args = [a.format(ck=trained / "checkpoint.pt", tmp=tmp_path) for a in args]
    try:
        code = main(args)
    except SystemExit as e:  # argparse's own errors
        code = e.code
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert message in err and len(err.splitlines()) == 1, err


def test_sample_of_one_digit(trained, tmp_path):
    out = tmp_path / "sevens.npz"
    assert main(["sample", "--checkpoint", str(trained / "checkpoint.pt"), "--per-class", "4", "--digit", "7",
                 "--out", str(out)]) == 0
    with np.load(out) as z:
        assert z["labels"].tolist() == [7, 7, 7, 7] and z["images"].shape == (4, 28, 28)


def test_train_records_the_refine_choice(tmp_path):
    from cgan_lib.checkpoint import load_generator

    out = tmp_path / "plain"
    assert main(["train", "--model", "cdcgan", "--width", "8", "--no-refine", "--steps", "2", "--out", str(out)]) == 0
    G = load_generator(out / "generator.pt")
    # refining layers are the only plain (not transposed) convolutions in a generator
    assert not [m for m in G.modules() if type(m) is torch.nn.Conv2d]
    assert main(["train", "--model", "cdcgan", "--width", "8", "--refine", "--steps", "2",
                 "--out", str(tmp_path / "refined")]) == 0
    G = load_generator(tmp_path / "refined" / "generator.pt")
    assert len([m for m in G.modules() if type(m) is torch.nn.Conv2d]) == 2
