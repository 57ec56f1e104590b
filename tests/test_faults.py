"""Issue 12: faults a user can cause, each reproduced where the user meets it.

The command line is exercised as the user runs it (`python -m cgan_lib ...` in a
subprocess) for signals, the run lock and one probe per kind of error; the many
variants of a bad argument go through `main()` in-process (the same parser and
error printing, without paying a torch import per case). "Was a bug" docstrings
record what a test caught before the library was fixed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import cgan_lib
from cgan_lib import checkpoint as ck
from cgan_lib import data, digit_classifier, metrics, sample
from cgan_lib import train as train_module
from cgan_lib.__main__ import main
from cgan_lib.errors import BadInput, CheckpointError, RunLocked
from cgan_lib.run import TrainConfig
from cgan_lib.train import fit

TINY = ["--model", "mlp", "--width", "8", "--threads", "1"]
PRETRAINED = ck.PRETRAINED_DIR


# ------------------------------------------------------------------------------------
# helpers


def cli_env(progress: str = "off") -> dict:
    return {
        **os.environ,
        "CGAN_PROGRESS": progress,
        "PYTHONUNBUFFERED": "1",
        "OMP_NUM_THREADS": "1",  # two torch threads on 2 shared cores: 10x slower
    }


def cli(*args, cwd=None, timeout=120) -> subprocess.CompletedProcess:
    """`python -m cgan_lib ARGS` as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "cgan_lib", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=cli_env(),
        cwd=cwd,
    )


class Proc:
    """A background `python -m cgan_lib` whose output is read while it runs."""

    def __init__(self, *args, progress="text"):
        self.p = subprocess.Popen(
            [sys.executable, "-m", "cgan_lib", *map(str, args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=cli_env(progress),
        )
        self.buf = {"out": bytearray(), "err": bytearray()}
        self.pumps = [
            threading.Thread(target=self._pump, args=(s, self.buf[k]), daemon=True)
            for s, k in ((self.p.stdout, "out"), (self.p.stderr, "err"))
        ]
        for t in self.pumps:
            t.start()

    @staticmethod
    def _pump(stream, buf):
        for chunk in iter(lambda: os.read(stream.fileno(), 4096), b""):
            buf.extend(chunk)

    def text(self, which):
        return self.buf[which].decode(errors="replace")

    def wait_for(self, needle, which="err", timeout=90):
        deadline = time.monotonic() + timeout
        while needle not in self.text(which):
            if self.p.poll() is not None or time.monotonic() > deadline:
                self.p.kill()
                pytest.fail(
                    f"never saw {needle!r}; rc={self.p.poll()}\n"
                    f"stdout: {self.text('out')[-2000:]}\n"
                    f"stderr: {self.text('err')[-2000:]}"
                )
            time.sleep(0.05)

    def finish(self, timeout=90):
        code = self.p.wait(timeout)
        for t in self.pumps:
            t.join(10)
        return code, self.text("out"), self.text("err")


def assert_one_line_error(stderr: str, *words: str) -> str:
    """stderr is one line `error: ...` without a traceback, naming each of `words`."""
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr[:3000]
    line = lines[0]
    assert line.startswith("error:"), line
    for word in words:
        assert word in line, (word, line)
    return line


def call(capsys, *args):
    """main(ARGS) in-process: (exit code, stdout, stderr)."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as e:  # argparse
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def strict_json(text: str):
    def refuse(constant):
        raise AssertionError(f"JSON holds {constant}")

    return json.loads(text, parse_constant=refuse)


def tiny_config(**kw) -> TrainConfig:
    return TrainConfig(model="mlp", model_kwargs={"width": 8}, batch_size=64, **kw)


def ckpt_step(path) -> int:
    return int(torch.load(path, map_location="cpu", weights_only=True)["step"])


def edited(src, dst, edit) -> Path:
    """A copy of checkpoint `src` at `dst` with `edit(state)` applied."""
    state = torch.load(src, map_location="cpu", weights_only=True)
    edit(state)
    torch.save(state, dst)
    return Path(dst)


def first_float(weights: dict) -> str:
    return next(k for k, v in weights.items() if v.is_floating_point())


def fill(part, value):
    def edit(state):
        state[part][first_float(state[part])].fill_(value)

    return edit


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# ------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread: two threads on a shared 2-core machine run 10x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def digits():
    images, labels = data.load_mnist("train")
    return data.to_signed(images[:512]), labels[:512]


@pytest.fixture(scope="module")
def saved(tmp_path_factory, digits):
    """Tiny runs (mlp and cmlp): checkpoint.pt and generator.pt in each folder."""
    root = tmp_path_factory.mktemp("saved")
    for name, model in (("mlp", "mlp"), ("cmlp", "cmlp")):
        config = TrainConfig(model=model, model_kwargs={"width": 8}, batch_size=64)
        run = fit(config, steps=3, out_dir=root / name, data=digits, progress=False)
        ck.save_generator(run, root / name / "generator.pt")
    return root


@pytest.fixture(scope="module")
def cli_signals(tmp_path_factory):
    """One run folder through a real command line's life (items 1 and 2).

    A trains until Ctrl-C (SIGINT). C resumes it, B starts while C trains (refused),
    then C is killed with SIGKILL. (SIGTERM is the same code path; it is sent
    in-process below, which costs no torch import.) Meanwhile `--ema nan` runs as
    the one argparse error seen through a real subprocess.
    """
    tmp = tmp_path_factory.mktemp("cli")
    out = tmp / "run"
    long = ["train", *TINY, "--steps", "100000", "--out", out]
    r = {"out": out}
    ema = subprocess.Popen(
        [sys.executable, "-m", "cgan_lib"]
        + [str(a) for a in numeric_argv(["train", "--ema", "nan"], tmp)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )
    a = Proc(*long)
    a.wait_for("img/s")  # the progress bar: A has trained >= 50 steps
    a.p.send_signal(signal.SIGINT)
    r["A"] = a.finish()
    r["ema"] = (ema.wait(120), *ema.communicate())
    r["step_A"] = ckpt_step(out / "checkpoint.pt")
    r["summary_A"] = (out / "summary.json").read_text()
    c = Proc(*long)
    c.wait_for("resuming from", "out")  # printed while C holds the lock
    r["B"] = cli(*long)
    r["C_alive"] = c.p.poll() is None
    c.p.kill()
    r["C"] = c.finish()
    r["step_C"] = ckpt_step(out / "checkpoint.pt")  # step_A, or C's step checkpoint
    return r


# ------------------------------------------------------------------------------------
# 1. Ctrl-C / SIGTERM leave a resumable checkpoint; checkpoints by wall time


def test_cli_sigint_before_first_checkpoint_leaves_resumable_checkpoint(cli_signals):
    code, out, err = cli_signals["A"]
    step = cli_signals["step_A"]
    assert code == 130, (out[-2000:], err[-2000:])
    assert "Traceback" not in err, err[-3000:]
    assert 50 <= step < 1000, step  # before the 1,000-step checkpoint
    assert f"interrupted at step {step}" in out, out[-2000:]
    summary = strict_json(cli_signals["summary_A"])
    assert summary["interrupted"] is True and summary["step"] == step


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_fit_interrupted_in_process_returns_resumable_run(
    tmp_path, digits, monkeypatch, signum
):
    real_step, calls = train_module.train_step, []

    def step_then_signal(run, x, y):
        calls.append(run.step)
        if len(calls) == 20:  # the user presses Ctrl-C during step 20
            os.kill(os.getpid(), signum)
        return real_step(run, x, y)

    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(train_module, "train_step", step_then_signal)
    run = fit(tiny_config(), steps=10**6, out_dir=tmp_path, data=digits, progress=False)
    monkeypatch.setattr(train_module, "train_step", real_step)
    assert run.interrupted is True
    assert run.step == 20
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == (
        handlers
    )
    assert ckpt_step(tmp_path / "checkpoint.pt") == 20
    resumed = fit(
        tiny_config(), steps=25, out_dir=tmp_path, data=digits, progress=False
    )
    assert resumed.step == 25 and resumed.interrupted is False
    # and the interruption did not change the weights (CPU runs resume exactly)
    straight = fit(tiny_config(), steps=25, data=digits, progress=False)
    for a, b in zip(resumed.G.state_dict().values(), straight.G.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("seconds, expect_early", [(0.05, True), (1e6, False)])
def test_checkpoint_seconds_saves_before_checkpoint_every(
    tmp_path, digits, monkeypatch, seconds, expect_early
):
    saves, real_save, real_step = (
        [],
        train_module.save_checkpoint,
        train_module.train_step,
    )

    def recording_save(run, path):
        saves.append(run.step)
        return real_save(run, path)

    def slow_step(run, x, y):
        time.sleep(0.01)  # a step of at least 10 ms: 60 steps last >= 0.6 s
        return real_step(run, x, y)

    monkeypatch.setattr(train_module, "save_checkpoint", recording_save)
    monkeypatch.setattr(train_module, "train_step", slow_step)
    config = tiny_config(checkpoint_every=10**6, checkpoint_seconds=seconds)
    fit(config, steps=60, out_dir=tmp_path, data=digits, progress=False)
    early = [s for s in saves if s < 60]
    assert bool(early) == expect_early, saves
    assert saves[-1] == 60 and ckpt_step(tmp_path / "checkpoint.pt") == 60


# ------------------------------------------------------------------------------------
# 2. one writer per run folder; temporary files unique per writer


def test_cli_second_train_on_same_out_is_refused(cli_signals):
    proc = cli_signals["B"]
    assert cli_signals["C_alive"], "C ended before B could be refused"
    assert proc.returncode == 1, proc.stderr
    assert_one_line_error(proc.stderr, "in use by another training process")
    assert proc.stdout.strip() == ""  # not even the recipe line: nothing ran


def test_cli_sigkilled_run_does_not_block_the_next_which_resumes(cli_signals, capsys):
    code, out, err = cli_signals["C"]
    path = cli_signals["out"] / "checkpoint.pt"
    assert code == -signal.SIGKILL
    assert f"resuming from {path} at step {cli_signals['step_A']}" in out, out
    # the same command with a near target: not blocked by C's lock, and it continues
    # from the last checkpoint (A's, or one C wrote at a 1,000-step multiple)
    target = cli_signals["step_C"] + 20
    run = ["train", *TINY, "--steps", target, "--out", cli_signals["out"]]
    code, out, err = call(capsys, *run)
    assert code == 0, err
    assert f"resuming from {path} at step {cli_signals['step_C']}" in out, out
    assert ckpt_step(path) == target
    summary = strict_json((cli_signals["out"] / "summary.json").read_text())
    assert summary["step"] == target and summary["interrupted"] is False
    # no writer left a temporary file behind
    assert not [f for f in listing(cli_signals["out"]) if f.endswith(".tmp")]


def test_fit_refuses_a_locked_folder_then_runs_once_released(tmp_path, digits):
    with ck.RunLock(tmp_path):
        with pytest.raises(RunLocked, match="in use by another training process"):
            fit(tiny_config(), steps=2, out_dir=tmp_path, data=digits, progress=False)
        assert not (tmp_path / "checkpoint.pt").exists()
    run = fit(tiny_config(), steps=2, out_dir=tmp_path, data=digits, progress=False)
    assert run.step == 2


def test_temporary_files_are_unique_per_writer_and_cleaned_up(
    tmp_path, saved, monkeypatch
):
    run = cgan_lib.load_checkpoint(saved / "mlp" / "checkpoint.pt")
    import tempfile  # checkpoints are written by mnist_files.write_atomically

    target, names, real_mkstemp = tmp_path / "checkpoint.pt", [], tempfile.mkstemp

    def spy(*a, **kw):
        fd, name = real_mkstemp(*a, **kw)
        names.append(Path(name).name)
        return fd, name

    monkeypatch.setattr(tempfile, "mkstemp", spy)
    ck.save_checkpoint(run, target)
    ck.save_checkpoint(run, target)
    assert len(set(names)) == 2 and "checkpoint.pt.tmp" not in names, names
    assert all(n.startswith(".checkpoint.pt.") for n in names), names

    def crash(obj, f, *a, **kw):
        f.write(b"half a file")
        raise OSError("disk full")

    before = target.read_bytes()
    monkeypatch.setattr(ck.torch, "save", crash)
    with pytest.raises(OSError):
        ck.save_checkpoint(run, target)
    assert listing(tmp_path) == ["checkpoint.pt"] and target.read_bytes() == before


# ------------------------------------------------------------------------------------
# 3. files say their kind and version; a file of another kind is named


def assert_says(path, kind):
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert (state.get("format"), state.get("kind")) == ("cgan_lib", kind), path
    assert state.get("version") == ck.VERSION, path


def test_files_say_their_kind_and_version(saved, tmp_path):
    blank = digit_classifier.MNISTClassifier()
    digit_classifier.save_classifier(blank, tmp_path / "c.pt", {})
    for path, kind in (
        (saved / "mlp" / "checkpoint.pt", "run"),
        (saved / "mlp" / "generator.pt", "generator"),
        (tmp_path / "c.pt", "classifier"),
    ):
        assert_says(path, kind)


def test_shipped_files_say_their_kind_and_version():
    """Was a bug: the shipped files were version-1 files with no 'kind'."""
    assert_says(PRETRAINED / "classifier.pt", "classifier")
    for name in ck.shipped_names():
        assert_says(PRETRAINED / f"{name}.pt", "generator")


def test_load_checkpoint_refuses_a_generator_file(saved):
    with pytest.raises(CheckpointError) as e:
        cgan_lib.load_checkpoint(saved / "mlp" / "generator.pt")
    assert "sample-only generator" in str(e.value)
    assert "resumable training run" in str(e.value)


def test_load_generator_refuses_the_classifier_and_vice_versa(saved):
    with pytest.raises(CheckpointError, match="holds the MNIST classifier"):
        cgan_lib.load_generator(PRETRAINED / "classifier.pt")
    with pytest.raises(CheckpointError, match="sample-only generator; expected the MN"):
        digit_classifier.load_classifier(saved / "mlp" / "generator.pt")


def test_resume_from_folder_whose_checkpoint_is_a_generator(
    tmp_path, saved, digits, capsys
):
    shutil.copy(saved / "mlp" / "generator.pt", tmp_path / "checkpoint.pt")
    with pytest.raises(CheckpointError, match="holds a sample-only generator; expe"):
        fit(tiny_config(), steps=2, out_dir=tmp_path, data=digits, progress=False)
    code, out, err = call(capsys, "train", *TINY, "--steps", 1, "--out", tmp_path)
    assert code == 1
    assert_one_line_error(err, "sample-only generator", "resumable training run")


def test_cli_train_into_folder_holding_only_a_generator_is_refused(
    tmp_path, saved, capsys, digits
):
    """Was a bug: train --out DIR where DIR holds only generator.pt starts a fresh
    run and silently overwrites that generator.pt; should refuse, naming the
    generator.pt it found and the checkpoint.pt it needs to resume"""
    shutil.copy(saved / "mlp" / "generator.pt", tmp_path / "generator.pt")
    before = (tmp_path / "generator.pt").read_bytes()
    code, out, err = call(capsys, "train", *TINY, "--steps", 1, "--out", tmp_path)
    assert (tmp_path / "generator.pt").read_bytes() == before
    assert code == 1
    assert_one_line_error(err, "generator.pt", "checkpoint.pt")
    with pytest.raises(CheckpointError, match="generator.pt"):
        fit(tiny_config(), steps=1, out_dir=tmp_path, data=digits, progress=False)
    assert listing(tmp_path) == [".lock", "generator.pt"]


def test_cli_ship_from_folder_holding_only_a_generator_names_it(
    tmp_path, saved, capsys
):
    """Was a bug: ship --run DIR where DIR holds generator.pt and summary.json but
    no checkpoint.pt says only 'checkpoint.pt does not exist'; should name the
    sample-only generator.pt it found as well as the run it wants"""
    shutil.copy(saved / "mlp" / "generator.pt", tmp_path / "generator.pt")
    (tmp_path / "summary.json").write_text("{}")
    before = listing(PRETRAINED)
    code, out, err = call(capsys, "ship", "--run", tmp_path, "--name", "zz_never")
    assert listing(PRETRAINED) == before
    assert code == 1
    assert_one_line_error(err, "generator", "checkpoint.pt")


# ------------------------------------------------------------------------------------
# 4. evaluate --samples: three encodings of the same digits, and bad files


@pytest.fixture(scope="module")
def test_digits():
    images, labels = data.load_mnist("test")
    return images[:500].numpy(), labels[:500].numpy()


def encodings(images: np.ndarray) -> dict:
    return {
        "uint8": images,
        "unit": (images / 255.0).astype(np.float32),
        "signed": (images / 127.5 - 1).astype(np.float32),
    }


def test_evaluate_samples_float_encodings_score_like_uint8(
    tmp_path, test_digits, capsys
):
    images, labels = test_digits
    accs = {}
    for name, x in encodings(images).items():
        np.savez(tmp_path / f"{name}.npz", images=x, labels=labels)
        read, read_labels = metrics.load_samples(tmp_path / f"{name}.npz")
        assert read.dtype == torch.uint8 and torch.equal(read, torch.from_numpy(images))
        assert torch.equal(read_labels, torch.from_numpy(labels))
        accs[name] = metrics.score(read, read_labels)["accuracy"]
    assert accs["uint8"] >= 0.98 and len(set(accs.values())) == 1, accs
    for name in ["unit"]:  # the command line, with --json
        json_out = tmp_path / f"{name}.json"
        code, out, err = call(
            capsys, "evaluate", "--samples", tmp_path / f"{name}.npz",
            "--json", json_out,
        )  # fmt: skip
        assert code == 0, err
        rows = strict_json(json_out.read_text())
        assert rows[f"{name}.npz"]["accuracy"] == accs["uint8"], rows


U8 = np.zeros((4, 28, 28), np.uint8)


def bad_npz(path: Path, case: str) -> Path:
    four = np.arange(4)
    arrays = {
        "shape": dict(images=np.zeros((4, 27, 27), np.uint8)),
        "channels_last": dict(images=U8[..., None]),
        "nan": dict(images=np.full((4, 28, 28), np.nan, np.float32)),
        "inf": dict(images=np.full((4, 28, 28), np.inf, np.float32)),
        "float_0_255": dict(images=U8.astype(np.float32) + 200),
        "int_300": dict(images=U8.astype(np.int16) + 300),
        "int_negative": dict(images=U8.astype(np.int16) - 1),
        "bool": dict(images=U8.astype(bool)),
        "labels_length": dict(images=U8, labels=four[:3]),
        "labels_float": dict(images=U8, labels=four.astype(np.float32)),
        "labels_text": dict(images=U8, labels=np.array(list("0123"))),
        "labels_range": dict(images=U8, labels=four + 7),
        "labels_negative": dict(images=U8, labels=four - 1),
        "zero_images": dict(images=U8[:0]),
        "no_images": dict(pictures=U8),
    }
    if case == "npy":
        path = path.with_suffix(".npy")
        np.save(path, U8)
    elif case == "text":
        path.write_text("not a zip")
    elif case == "folder":
        path.mkdir()
    elif case != "missing":
        np.savez(path, **arrays[case])
    return path


BAD_SAMPLES = {
    "shape": "(N, 28, 28)",
    "channels_last": "(N, 28, 28)",
    "nan": "NaN",
    "inf": "infinite",
    "float_0_255": "[-1, 1] or [0, 1]",
    "int_300": "0..255",
    "int_negative": "0..255",
    "bool": "got bool",
    "labels_length": "4 integers 0..9",
    "labels_float": "4 integers 0..9",
    "labels_text": "4 integers 0..9",
    "labels_range": "0..9; got 7..10",
    "labels_negative": "0..9; got -1..2",
    "zero_images": "0 images",
    "no_images": "no 'images' array",
    "npy": ".npy",
    "text": "not a readable .npz",
    "folder": "a folder",
    "missing": "is missing",
}


@pytest.mark.parametrize("case", list(BAD_SAMPLES))
def test_evaluate_refuses_bad_samples_in_one_line(tmp_path, capsys, case):
    path = bad_npz(tmp_path / "s.npz", case)
    with pytest.raises(BadInput):
        metrics.load_samples(path)
    code, out, err = call(capsys, "evaluate", "--samples", path)
    assert code == 1
    assert_one_line_error(err, BAD_SAMPLES[case])


@pytest.mark.parametrize("key", ["images", "labels"])
def test_evaluate_refuses_object_arrays_in_one_line(tmp_path, capsys, key):
    """Was a bug: an .npz whose images or labels are an object array (np.savez of a
    ragged list) raises numpy's ValueError 'Object arrays cannot be loaded when
    allow_pickle=False' out of load_samples: evaluate --samples prints a traceback;
    should be BadInput, one line"""
    arrays = {"images": U8, "labels": np.arange(4)}
    arrays[key] = np.array([*arrays[key][:3], "x"], dtype=object)
    np.savez(tmp_path / "s.npz", **arrays)
    code, out, err = call(capsys, "evaluate", "--samples", tmp_path / "s.npz")
    assert code == 1
    assert_one_line_error(err, "s.npz")


def test_score_reads_unit_floats_like_uint8(test_digits):
    """Was a bug: metrics.score (the Python API behind evaluate --samples) reads
    every non-uint8 array as [-1, 1]: float digits in [0, 1] score accuracy 0.08
    instead of 0.99; it should score them like load_samples does, or refuse"""
    images, labels = test_digits
    u8 = metrics.score(images, labels)["accuracy"]
    unit = metrics.score(torch.from_numpy(encodings(images)["unit"]), labels)
    assert unit["accuracy"] == pytest.approx(u8)


@pytest.mark.parametrize("case", ["shape", "nan", "labels_length", "labels_range"])
def test_score_refuses_what_load_samples_refuses(test_digits, case):
    """Was a bug: metrics.score accepts what load_samples refuses: (N, 27, 27)
    images are scored silently, NaN images raise scipy's ValueError, labels of the
    wrong length raise torch's RuntimeError, labels 12 score 0% silently; each
    should be BadInput naming the problem"""
    images, labels = (torch.from_numpy(a[:10]) for a in test_digits)
    if case == "shape":
        images = images[:, :27, :27].contiguous()
    elif case == "nan":
        images = torch.full((10, 28, 28), float("nan"))
    elif case == "labels_length":
        labels = labels[:5]
    else:
        labels = torch.full((10,), 12)
    with pytest.raises(BadInput):
        metrics.score(images, labels)


# ------------------------------------------------------------------------------------
# 5. non-finite weights and newer versions are refused on load


CORRUPTIONS = {
    "nan_G": (fill("G", float("nan")), "NaN or infinite weights (G."),
    "inf_G": (fill("G", float("inf")), "NaN or infinite weights (G."),
    "inf_D": (fill("D", float("-inf")), "NaN or infinite weights (D."),
    "newer": (lambda s: s.update(version=ck.VERSION + 1), "newer cgan_lib"),
}


@pytest.mark.parametrize("case", list(CORRUPTIONS))
@pytest.mark.parametrize("kind", ["checkpoint", "generator"])
def test_corrupt_or_newer_files_are_refused_on_load(tmp_path, saved, case, kind):
    if kind == "generator" and case == "inf_D":
        pytest.skip("a generator file has no discriminator")
    edit, message = CORRUPTIONS[case]
    path = edited(saved / "cmlp" / f"{kind}.pt", tmp_path / f"{kind}.pt", edit)
    with pytest.raises(CheckpointError, match=message.replace("(", r"\(")):
        cgan_lib.load_generator(path)
    if kind == "checkpoint":
        with pytest.raises(CheckpointError, match=message.replace("(", r"\(")):
            cgan_lib.load_checkpoint(path)


def test_cli_refuses_a_nan_generator_in_one_line(tmp_path, saved, capsys):
    src = saved / "cmlp" / "generator.pt"
    path = edited(src, tmp_path / "g.pt", fill("G", float("nan")))
    code, out, err = call(
        capsys, "sample", "--checkpoint", path, "--per-class", 1,
        "--out", tmp_path / "s.npz",
    )  # fmt: skip
    assert code == 1
    assert_one_line_error(err, "NaN or infinite", "g.pt")
    assert not (tmp_path / "s.npz").exists()


def test_nan_classifier_is_refused(tmp_path):
    nan = fill("weights", float("nan"))
    path = edited(PRETRAINED / "classifier.pt", tmp_path / "c.pt", nan)
    with pytest.raises(CheckpointError, match="NaN or infinite weights"):
        digit_classifier.load_classifier(path)


def drop(key):
    return lambda state: state.pop(key)


MALFORMED = {
    "no_config": drop("config"),
    "no_G": drop("G"),
    "step_nan": lambda s: s.update(step=float("nan")),
    "no_history": drop("history"),
    "optimizer_groups": lambda s: s["opt_g"]["param_groups"][0].update(params=[0]),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_checkpoint_is_refused_in_one_line(tmp_path, saved, capsys, case):
    """Was a bug: a checkpoint.pt with a malformed field got past read_file and
    failed with a traceback: no 'config' or 'G' or 'history' -> KeyError; step NaN
    -> ValueError; opt_g param_groups of another size -> torch's ValueError."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    path = edited(
        saved / "mlp" / "checkpoint.pt", run_dir / "checkpoint.pt", MALFORMED[case]
    )
    with pytest.raises(CheckpointError):
        cgan_lib.load_checkpoint(path)
    code, out, err = call(
        capsys, "train", *TINY, "--batch-size", 64, "--steps", 5, "--out", run_dir
    )
    assert code == 1
    assert_one_line_error(err, "checkpoint.pt")


@pytest.mark.parametrize("kind", ["checkpoint", "generator"])
def test_a_version_that_is_not_a_number_is_refused(tmp_path, saved, capsys, kind):
    """Was a bug: version '3' (text) failed with a TypeError traceback."""
    edit = lambda state: state.update(version="3")  # noqa: E731
    path = edited(saved / "cmlp" / f"{kind}.pt", tmp_path / f"{kind}.pt", edit)
    code, out, err = call(
        capsys, "sample", "--checkpoint", path, "--per-class", 1,
        "--out", tmp_path / "s.npz",
    )  # fmt: skip
    assert code == 1
    assert_one_line_error(err, f"{kind}.pt", "version")


def test_checkpoint_with_nan_optimizer_state_is_refused(tmp_path, saved):
    """Was a bug: a run checkpoint whose Adam state (opt_g exp_avg) holds NaN loads
    without complaint (only G, G_ema, D and classifier weights are checked);
    resuming it diverges. Should be refused on load like NaN weights"""

    def nan_adam(state):
        for slot in state["opt_g"]["state"].values():
            slot["exp_avg"].fill_(float("nan"))

    path = edited(saved / "mlp" / "checkpoint.pt", tmp_path / "c.pt", nan_adam)
    with pytest.raises(CheckpointError, match="NaN"):
        cgan_lib.load_checkpoint(path)


# ------------------------------------------------------------------------------------
# 6. numeric options: exit 2 with the range (CLI), BadInput (Python API)


NUMERIC = [
    (["train", "--augment", "inf"], "--augment", "in [0, 180], got inf"),
    (["train", "--ema", "nan"], "--ema", "in [0, 0.99999], got nan"),
    (["train!", "--epochs", "inf"], "--epochs", "in (0, 10000], got inf"),
    (["train!", "--minutes", "inf"], "--minutes", "in (0, 1000000], got inf"),
    (["train", "--lr-decay", "1", "inf"], "--lr-decay", "in [0, 10000], got inf"),
    (["train", "--seed", "9" * 23], "--seed", "in [0, 9223372036854775807]"),
    (["train", "--lr", "0"], "--lr", "in (0, 1], got 0"),
    (["train", "--batch-size", "0"], "--batch-size", "in [1, 65536], got 0"),
    (["train", "--width", "1"], "--width", "in [8, 1024], got 1"),
    (["train", "--threads", "0"], "--threads", "in [1, 1024], got 0"),
    (["sample", "--per-class", "10000000"], "--per-class", "in [1, 10000]"),
    (["number", "--scale", "1000"], "--scale", "in [1, 16], got 1000"),
]


def numeric_argv(argv: list[str], tmp: Path) -> list[str]:
    command, rest = argv[0], argv[1:]
    if command.startswith("train"):
        length = [] if command.endswith("!") else ["--steps", "3"]
        return ["train", "--model", "cdcgan", *length, "--out", tmp / "r", *rest]
    if command == "sample":
        return ["sample", "--checkpoint", "x.pt", "--out", tmp / "s.npz", *rest]
    return ["number", "--checkpoint", "x.pt", "--number", "12", "--out", "n.png", *rest]


@pytest.mark.parametrize("argv, option, message", NUMERIC, ids=[n[1] for n in NUMERIC])
def test_numeric_options_exit_2_naming_the_range(
    tmp_path, capsys, argv, option, message
):
    code, out, err = call(capsys, *numeric_argv(argv, tmp_path))
    assert code == 2
    assert_one_line_error(err, f"argument {option}", message)
    assert not (tmp_path / "r").exists()


def test_cli_numeric_error_as_the_user_sees_it(cli_signals):
    """A real subprocess (started with the signal tests): exit 2, one line."""
    code, out, err = cli_signals["ema"]
    assert code == 2
    assert_one_line_error(err, "--ema", "in [0, 0.99999], got nan")
    assert out == ""


API_VALUES = {
    "ema_nan": lambda: TrainConfig(ema=float("nan")),
    "augment_inf": lambda: TrainConfig(augment_degrees=float("inf")),
    "lr_decay_inf": lambda: TrainConfig(lr_decay=(1, float("inf"))),
    "seed_huge": lambda: TrainConfig(seed=99999999999999999999999),
    "lr_negative": lambda: TrainConfig(lr_g=-1e-4),
    "lr_d_nan": lambda: TrainConfig(lr_d=float("nan")),
    "batch_zero": lambda: TrainConfig(batch_size=0),
    "width_one": lambda: TrainConfig(model="cdcgan", model_kwargs={"width": 1}),
    "betas_nan": lambda: TrainConfig(betas=(float("nan"), 0.999)),
    "ckpt_seconds_zero": lambda: TrainConfig(checkpoint_seconds=0),
    "fit_epochs_inf": lambda d: fit(tiny_config(), epochs=float("inf"), data=d),
    "fit_seconds_inf": lambda d: fit(tiny_config(), seconds=float("inf"), data=d),
    "fit_steps_zero": lambda d: fit(tiny_config(), steps=0, data=d),
    "fit_steps_nan": lambda d: fit(tiny_config(), steps=float("nan"), data=d),
}


@pytest.mark.parametrize("case", list(API_VALUES))
def test_numeric_values_through_python_api_raise_badinput(digits, case):
    make = API_VALUES[case]
    with pytest.raises(BadInput):
        make(digits) if case.startswith("fit") else make()


def test_sample_by_label_refuses_huge_counts(saved):
    G = cgan_lib.load_generator(saved / "cmlp" / "generator.pt")
    with pytest.raises(BadInput, match=r"in \[1, 10000\], got 10000000"):
        cgan_lib.sample_by_label(G, 10**7)
    with pytest.raises(BadInput):
        cgan_lib.generate(cgan_lib.load_generator(saved / "mlp" / "generator.pt"), n=0)


@pytest.mark.parametrize("steps", [float("nan"), 2.5, 10**12])
def test_interpolate_refuses_bad_step_counts(saved, steps):
    """Was a bug: sample.interpolate checks only steps < 2: steps=nan or 2.5 raise
    torch's TypeError from linspace, steps=10**12 a 4 TB allocation error; should be
    BadInput with the range (2..MAX_IMAGES)"""
    G = cgan_lib.load_generator(saved / "cmlp" / "generator.pt")
    z = torch.randn(G.z_dim)
    with pytest.raises(BadInput):
        sample.interpolate(G, z, -z, steps=steps, label=3)


@pytest.mark.parametrize("option", [{"spacing": -100}, {"jitter": float("nan")}])
def test_write_number_refuses_bad_layout_numbers(saved, option):
    """Was a bug: write_number does not check spacing or jitter: spacing=-100 raises
    torch's RuntimeError (negative canvas), jitter=nan a ValueError; should be
    BadInput naming the range"""
    G = cgan_lib.load_generator(saved / "cmlp" / "generator.pt")
    with pytest.raises(BadInput):
        cgan_lib.write_number(G, "12", **option)


def test_huge_integer_option_names_the_range(tmp_path, capsys):
    """Was a bug: --seed with a 5000-digit number says 'expected a whole number'
    (int() refuses more than 4300 digits) although it is one; it should name the
    range like --seed 99999999999999999999999 does"""
    argv = numeric_argv(["train", "--seed", "1" * 5000], tmp_path)
    code, out, err = call(capsys, *argv)
    assert code == 2
    line = assert_one_line_error(err, "--seed", "in [0, 9223372036854775807]")
    assert len(line) < 300


# ------------------------------------------------------------------------------------
# 8. latent paths through the zero vector or between equal latents


@pytest.fixture(scope="module")
def shipped_G():
    return cgan_lib.pretrained("cdcgan")


def test_slerp_degenerate_endpoints_fall_back_to_lerp(shipped_G):
    z = torch.randn(shipped_G.z_dim, generator=torch.Generator().manual_seed(1))
    t = torch.linspace(0, 1, 7)
    zero = torch.zeros_like(z)
    for a, b in ((zero, z), (z, zero), (zero, zero)):
        path = sample.slerp(a, b, t)
        assert torch.isfinite(path).all()
        assert torch.allclose(path, sample.lerp(a, b, t))
    assert torch.allclose(sample.slerp(z, z, t), z.expand(7, -1), atol=1e-6)
    for a, b in ((zero, z), (z, zero), (z, z)):
        frames = sample.interpolate(shipped_G, a, b, steps=7, label=3)
        lerped = sample.interpolate(shipped_G, a, b, steps=7, label=3, method="lerp")
        assert torch.equal(frames, lerped)
        assert (frames.flatten(1).amax(1) > 128).all(), "a black frame"
        assert (frames.flatten(1).float().mean(1) > 5).all(), "a black frame"


def test_slerp_between_opposite_latents_keeps_norms(shipped_G):
    """Was a bug: slerp(z, -z) (antipodal latents: omega = pi, sin(omega) ~ 1e-16)
    returns a path whose norms are rounding noise (e.g. 10.2 -> 18.5 -> 0 -> 11.3
    for |z| = 10.2); should stay on a great circle of radius |z| (or fall back to
    lerp, as for equal latents)"""
    t = torch.linspace(0, 1, 11)
    for seed in range(5):
        z = torch.randn(shipped_G.z_dim, generator=torch.Generator().manual_seed(seed))
        norms = sample.slerp(z, -z, t).norm(dim=1)
        assert torch.isfinite(norms).all()
        assert (norms <= z.norm() * 1.001).all(), norms
        great_circle = torch.allclose(norms, z.norm().expand(11), rtol=1e-3)
        lerp = torch.allclose(norms, sample.lerp(z, -z, t).norm(dim=1), atol=1e-4)
        assert great_circle or lerp, norms


# ------------------------------------------------------------------------------------
# 9. summary.json never holds NaN (0 steps trained on resume)


def test_resume_with_target_reached_trains_zero_steps_and_writes_json(tmp_path, capsys):
    run = ["train", *TINY, "--batch-size", 64, "--out", tmp_path]
    assert call(capsys, *run, "--steps", 3)[0] == 0
    code, out, err = call(capsys, *run, "--steps", 1)  # already past step 1
    assert code == 0, err
    summary = strict_json((tmp_path / "summary.json").read_text())
    assert summary["step"] == 3 and summary["images_per_s"] is None
    assert strict_json(out[out.index("{") :]) == summary
    assert "resuming from" in out


# ------------------------------------------------------------------------------------
# 10. one-line errors for devices, widths, wrong shapes, folders, long numbers


def test_device_errors_are_one_line(tmp_path, capsys):
    base = ["train", *TINY, "--steps", 1, "--out", tmp_path / "r"]
    cases = [("banana", "unknown device 'banana'"), ("meta", "not available here")]
    if not torch.cuda.is_available():
        cases.append(("cuda", "'cuda' is not available here; available: cpu"))
    for device, message in cases:
        code, out, err = call(capsys, *base, "--device", device)
        assert code == 1, device
        assert_one_line_error(err, message)
    code, out, err = call(
        capsys, "train-classifier", "--device", "banana", "--out", tmp_path / "c.pt"
    )
    assert code == 1
    assert_one_line_error(err, "unknown device 'banana'")
    with pytest.raises(BadInput, match="unknown device"):
        cgan_lib.new_run(tiny_config(), "banana")


@pytest.mark.parametrize("part", ["G", "D"])
def test_checkpoint_with_wrong_shapes_is_refused(tmp_path, saved, capsys, part):
    def shrink(state):
        key = first_float(state[part])
        state[part][key] = state[part][key][..., :1].clone()

    src = saved / "cmlp" / "checkpoint.pt"
    path = edited(src, tmp_path / "c.pt", shrink)
    with pytest.raises(CheckpointError, match="do not fit"):
        cgan_lib.load_checkpoint(path)
    if part == "G":
        code, out, err = call(
            capsys, "sample", "--checkpoint", path, "--per-class", 1,
            "--out", tmp_path / "s.npz",
        )  # fmt: skip
        assert code == 1
        assert_one_line_error(err, "c.pt", "do not fit")


def test_folder_given_where_a_file_is_expected(tmp_path, capsys):
    for argv in (
        [
            "sample",
            "--checkpoint",
            tmp_path,
            "--per-class",
            1,
            "--out",
            tmp_path / "s.npz",
        ],
        [
            "number",
            "--checkpoint",
            tmp_path,
            "--number",
            12,
            "--out",
            tmp_path / "n.png",
        ],
        ["evaluate", "--checkpoint", tmp_path],
        ["export-onnx", "--checkpoint", tmp_path, "--out", tmp_path / "g.onnx"],
    ):
        code, out, err = call(capsys, *argv)
        assert code == 1, argv
        assert_one_line_error(err, "is a folder")
    code, out, err = call(
        capsys, "sample", "--checkpoint", "x.pt", "--per-class", 1, "--out", tmp_path
    )
    assert code == 1
    assert_one_line_error(err, "is a folder")


def test_a_10000_character_number_gets_a_short_message(saved, tmp_path, capsys):
    gen = saved / "cmlp" / "generator.pt"
    for number, message in (
        ("1" * 10000 + "a", "character 'a' at position 10001"),
        ("1" * 10000, "10000 digits"),
    ):
        code, out, err = call(
            capsys, "number", "--checkpoint", gen, "--number", number,
            "--out", tmp_path / "n.png",
        )  # fmt: skip
        assert code == 1
        assert len(assert_one_line_error(err, message)) < 300


@pytest.mark.parametrize("option", ["--device", "--model", "--name"])
def test_long_bad_values_get_short_messages(tmp_path, capsys, option):
    """Was a bug: 10,000-character values of other options are echoed whole:
    --device x*10000 (10,053-char 'unknown device' line), --model m*10000 (argparse
    'invalid choice', 10,130 chars), ship --name n*5000 (5,082 chars); should be cut
    like --number's message (< 300 chars)"""
    if option == "--name":
        argv = ["ship", "--run", tmp_path, "--name", "n" * 5000 + "/"]
    else:
        argv = ["train", *TINY, "--steps", 1, "--out", tmp_path / "r"]
        argv += [option, "x" * 10000]
    code, out, err = call(capsys, *argv)
    assert code in (1, 2)
    assert len(assert_one_line_error(err)) < 300


@pytest.mark.parametrize("where", ["checkpoint", "samples", "sample_out", "train_out"])
def test_overlong_paths_are_one_line_errors(tmp_path, saved, capsys, where):
    """Was a bug: a path longer than the OS allows (10,000 chars) escapes as OSError
    [Errno 36] File name too long with a traceback from Path.is_dir / mkdir (sample
    --checkpoint, evaluate --samples, sample --out, train --out); should be one line
    'error: ... file name too long'"""
    long = str(tmp_path / ("a" * 10000))
    gen = saved / "cmlp" / "generator.pt"
    one = ["--per-class", 1, "--out"]
    argv = {
        "checkpoint": ["sample", "--checkpoint", long, *one, tmp_path / "s.png"],
        "samples": ["evaluate", "--samples", long],
        "sample_out": ["sample", "--checkpoint", gen, *one, long + ".npz"],
        "train_out": ["train", *TINY, "--steps", 1, "--out", long],
    }[where]
    code, out, err = call(capsys, *argv)
    assert code == 1
    assert len(assert_one_line_error(err, "too long")) < 300


# ------------------------------------------------------------------------------------
# 11. empty --out, conditioning for unconditional models, ship --name


def test_cli_empty_out_is_refused(tmp_path, capsys, monkeypatch):
    """Was a bug: train --out '' trains into the current folder: cmd_train makes
    Path('') (== '.') before fit's empty-name check, so checkpoint.pt, generator.pt,
    samples.png, summary.json land in the cwd; should exit 1 with 'the output folder
    name is empty' (as --out ' ' does)"""
    monkeypatch.chdir(tmp_path)  # a bug writes here, not into the repository
    code, out, err = call(capsys, "train", *TINY, "--steps", 1, "--out", "")
    assert listing(tmp_path) == []
    assert code == 1
    assert_one_line_error(err, "output folder name is empty")


def test_cli_blank_out_and_api_empty_out_are_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = call(capsys, "train", *TINY, "--steps", 1, "--out", " ")
    assert code == 1
    assert_one_line_error(err, "output folder name is empty")
    for out_dir in ("", " "):
        with pytest.raises(BadInput, match="output folder name is empty"):
            fit(tiny_config(), steps=1, out_dir=out_dir)
    assert listing(tmp_path) == []


@pytest.mark.parametrize("model", ["mlp", "dcgan"])
def test_conditioning_for_unconditional_model_is_refused(tmp_path, capsys, model):
    argv = ["train", "--model", model, "--width", 8, "--conditioning", "concat"]
    code, out, err = call(capsys, *argv, "--steps", 1, "--out", tmp_path / "r")
    assert code == 1
    assert_one_line_error(err, f"model '{model}' takes no option 'conditioning'")
    assert not (tmp_path / "r").exists()
    with pytest.raises(BadInput, match="no label to condition on"):
        TrainConfig(model=model, model_kwargs={"conditioning": "concat"})


@pytest.mark.parametrize(
    "name", ["../x", "..", "", "a/b", "/tmp/x", "classifier", "x.pt", "a b"]
)
def test_ship_refuses_names_that_leave_the_pretrained_folder(
    tmp_path, saved, capsys, name
):
    before = listing(PRETRAINED)
    run = tmp_path / "run"
    shutil.copytree(saved / "mlp", run)
    (run / "summary.json").write_text("{}")
    code, out, err = call(capsys, "ship", "--run", run, "--name", name)
    assert code == 1
    assert_one_line_error(err, "--name must be letters, digits")
    assert listing(PRETRAINED) == before
    assert not (PRETRAINED.parent / "x.pt").exists()


# ------------------------------------------------------------------------------------
# 12. an unwritable --out is found before any training


def test_train_out_under_a_regular_file_fails_before_training(
    tmp_path, capsys, monkeypatch
):
    def no_data(*a, **kw):
        raise AssertionError("training data was loaded before --out was checked")

    monkeypatch.setattr(train_module, "mnist_tensors", no_data)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for out_dir, message in ((blocker / "run", "cannot write"), (blocker, "a file")):
        # no_data above fails the test if training data is loaded before the check
        code, out, err = call(capsys, "train", *TINY, "--steps", 5, "--out", out_dir)
        assert code == 1 and out.strip() == ""
        assert_one_line_error(err, str(blocker), message)
    with pytest.raises(BadInput, match="cannot write"):
        fit(tiny_config(), steps=5, out_dir=blocker / "run")


def test_file_outputs_under_a_regular_file_are_refused(tmp_path, saved, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    gen = saved / "cmlp" / "generator.pt"
    for argv in (
        ["sample", "--checkpoint", gen, "--per-class", 1, "--out", blocker / "s.npz"],
        ["number", "--checkpoint", gen, "--number", 1, "--out", blocker / "n.png"],
        ["evaluate", "--checkpoint", gen, "--json", blocker / "e.json"],
        ["train-classifier", "--out", blocker / "c.pt"],
        ["export-onnx", "--checkpoint", gen, "--out", blocker / "g.onnx"],
    ):
        code, out, err = call(capsys, *argv)
        assert code == 1, argv
        assert_one_line_error(err, "cannot write to", str(blocker))
    assert blocker.read_text() == "x"


# ------------------------------------------------------------------------------------
# the usage hint and tracebacks of real bugs


@pytest.mark.parametrize(
    "argv, hint",
    [
        (["train", "--bogus"], "python -m cgan_lib train --help"),
        (["sample", "--per-class", "x"], "python -m cgan_lib sample --help"),
        (["banana"], "python -m cgan_lib --help"),
        (
            ["train", *TINY, "--steps", "1", "--out", "r", "--bogus"],
            "python -m cgan_lib",
        ),
        ([], "python -m cgan_lib --help"),
    ],
)
def test_usage_hint_is_a_command_that_works(capsys, argv, hint):
    code, out, err = call(capsys, *argv)
    assert code == 2
    line = assert_one_line_error(err, f"(see: {hint}")
    command = line[line.index("(see: ") + 6 : -1].split()
    assert command[:3] == ["python", "-m", "cgan_lib"]
    code, out, err = call(capsys, *command[3:])
    assert code == 0 and out.startswith("usage: " + " ".join(command[:-1])), out


def test_a_non_library_exception_keeps_its_traceback(monkeypatch, tmp_path):
    import cgan_lib.__main__ as cli_module

    def bug(*a, **kw):
        raise ZeroDivisionError("a bug in cgan_lib")

    monkeypatch.setattr(cli_module, "load_generator", bug)
    out = str(tmp_path / "s.npz")
    with pytest.raises(ZeroDivisionError):
        main(["sample", "--checkpoint", "x.pt", "--per-class", "1", "--out", out])
