import os
import pickle

import pytest
import torch

from cgan_lib import TrainConfig, digit_classifier, fit
from cgan_lib.checkpoint import (
    RunLock,
    load_checkpoint,
    load_generator,
    read_file,
    save_checkpoint,
    save_generator,
    write_file,
)
from cgan_lib.errors import CheckpointError, RunLocked, TrainingDiverged


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny conditional DCGAN with an EMA copy, 3 steps on random pictures; a high
    learning rate makes G and its EMA copy clearly different."""
    images = torch.rand(64, 1, 28, 28) * 2 - 1
    config = TrainConfig(
        model="cdcgan",
        model_kwargs={"width": 8},
        batch_size=16,
        ema=0.9,
        lr_g=0.01,
        lr_d=0.01,
        seed=2,
    )
    run = fit(
        config,
        steps=3,
        data=(images, torch.arange(64) % 10),
        progress=False,
        device="cpu",
    )
    path = tmp_path_factory.mktemp("ck") / "checkpoint.pt"
    save_checkpoint(run, path)
    return run, path


@pytest.fixture(scope="module")
def checkpoint(trained):
    return trained[1]


def states_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_run_round_trips_exactly(trained):
    run, path = trained
    loaded = load_checkpoint(path, device="cpu")
    assert loaded.step == 3 and loaded.config == run.config
    assert loaded.history == run.history and len(loaded.history["d_loss"]) == 3
    for a, b in ((loaded.G, run.G), (loaded.D, run.D), (loaded.G_ema, run.G_ema)):
        assert states_equal(a.state_dict(), b.state_dict())
    assert [s for s, _ in loaded.snapshots] == [s for s, _ in run.snapshots]
    assert torch.equal(loaded.rng.get_state(), run.rng.get_state())
    assert loaded.opt_g.state_dict()["state"][0]["step"] == 3
    exp_avg = loaded.opt_d.state_dict()["state"][0]["exp_avg"]
    assert torch.equal(exp_avg, run.opt_d.state_dict()["state"][0]["exp_avg"])


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(CheckpointError, match="is a folder"):
        load_generator(tmp_path)


def test_truncated_file(tmp_path, checkpoint):
    bad = tmp_path / "truncated.pt"
    bad.write_bytes(checkpoint.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_generator(bad)


def test_not_a_torch_file(tmp_path):
    bad = tmp_path / "notes.pt"
    bad.write_text("hello")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(bad)


def test_a_torch_file_that_is_not_ours(tmp_path):
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(CheckpointError, match="not a cgan_lib checkpoint"):
        load_checkpoint(other)


class Payload:
    """Unpickling this object calls os.mkdir(marker): code a file must not run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_the_payload_runs_when_unpickled_naively(tmp_path):
    """The pickle test below is only meaningful if its payload is live."""
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(Payload(marker)))
    assert marker.is_dir()


@pytest.mark.parametrize("container", ["pickle", "torch"])
@pytest.mark.parametrize(
    "load",
    [
        load_checkpoint,
        load_generator,
        lambda path: digit_classifier.load_classifier.__wrapped__(path),
    ],
    ids=["load_checkpoint", "load_generator", "load_classifier"],
)
def test_code_inside_a_file_is_never_run(tmp_path, container, load):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    if container == "pickle":  # a bare pickle
        with open(evil, "wb") as f:
            pickle.dump(Payload(marker), f, protocol=2)
    else:  # a real torch file that looks like ours, with the payload among the weights
        state = {"format": "cgan_lib", "kind": "run", "version": 2}
        torch.save({**state, "G": {"w": Payload(marker)}}, evil)
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load(evil)
    assert not marker.exists(), "loading the file ran the code inside it"


def test_weights_of_another_model(tmp_path, checkpoint):
    state = torch.load(checkpoint, weights_only=True)
    state["config"]["model"] = "cmlp"  # a cdcgan's weights labelled as an MLP
    wrong = tmp_path / "wrong.pt"
    torch.save(state, wrong)
    with pytest.raises(CheckpointError, match="do not fit the model"):
        load_checkpoint(wrong)
    state["config"]["model"] = "transformer"
    torch.save(state, wrong)
    with pytest.raises(CheckpointError, match="unknown model 'transformer'"):
        load_checkpoint(wrong)


def test_a_file_of_another_kind_or_a_newer_version_is_refused(tmp_path, trained):
    run, _ = trained
    small = save_generator(run, tmp_path / "generator.pt")
    with pytest.raises(
        CheckpointError,
        match="holds a sample-only generator; expected a resumable training run",
    ):
        load_checkpoint(small)
    state = torch.load(small, weights_only=True)
    state["version"] = 99
    newer = tmp_path / "newer.pt"
    torch.save(state, newer)
    with pytest.raises(CheckpointError, match=r"newer cgan_lib \(file version 99"):
        load_generator(newer)


def test_non_finite_weights_are_neither_written_nor_read(tmp_path, checkpoint):
    state = torch.load(checkpoint, weights_only=True)
    name = next(iter(state["D"]))
    state["D"][name] = torch.full_like(state["D"][name], float("nan"))
    bad = tmp_path / "nan.pt"
    torch.save(state, bad)
    with pytest.raises(CheckpointError, match=rf"NaN or infinite weights \(D.{name}\)"):
        load_checkpoint(bad)
    run = load_checkpoint(checkpoint, device="cpu")
    with torch.no_grad():
        next(run.G.parameters())[0] = float("inf")
    with pytest.raises(TrainingDiverged, match="G has NaN/inf weights"):
        save_checkpoint(run, tmp_path / "never.pt")
    assert not (tmp_path / "never.pt").exists()


def test_sample_only_file_holds_the_ema_generator_in_float16(tmp_path, trained):
    run, checkpoint = trained
    small = save_generator(run, tmp_path / "generator.pt")
    stored = read_file(small, "generator")["G"]
    ema = run.G_ema.state_dict()
    assert stored.keys() == ema.keys()
    for key, value in stored.items():
        if value.is_floating_point():
            assert value.dtype == torch.float16, key
            assert torch.equal(value, ema[key].half()), key  # EMA weights, rounded
        else:
            assert torch.equal(value, ema[key]), key  # e.g. batch-norm step counts
    # the EMA copy, not the trained G, is what one samples from
    assert not states_equal(
        {k: v.half() for k, v in run.G.state_dict().items()}, stored
    )
    # one generator at 2 bytes a weight (plus the file's own bookkeeping), no D or
    # optimiser state
    numel = sum(v.numel() for v in stored.values() if v.is_floating_point())
    assert 2 * numel < small.stat().st_size < 2 * numel + 30_000
    assert small.stat().st_size < checkpoint.stat().st_size / 4

    G = load_generator(small)
    assert not G.training
    assert all(p.dtype == torch.float32 for p in G.parameters())
    z, y = torch.randn(3, G.z_dim), torch.tensor([1, 2, 3])
    with torch.no_grad():
        assert torch.allclose(G(z, y), run.G_ema.eval()(z, y), atol=2e-3)
        # a run file gives the same generator (its EMA copy), in float32
        G_run = load_generator(checkpoint)
        assert torch.equal(G_run(z, y), run.G_ema.eval()(z, y))


def test_writes_are_atomic(tmp_path, checkpoint):
    path = tmp_path / "file.pt"
    write_file({"n": 1}, path, "generator")
    with pytest.raises(Exception):  # torch.save cannot store a function
        write_file({"n": 2, "oops": lambda: 0}, path, "generator")
    # the failed write left the old file whole and no temporary file behind
    assert torch.load(path, weights_only=True)["n"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["file.pt"]


def test_a_run_folder_has_one_writer_at_a_time(tmp_path):
    with RunLock(tmp_path):
        assert (tmp_path / ".lock").read_text() == str(os.getpid())
        with pytest.raises(RunLocked, match=rf"in use .*\(pid {os.getpid()}\)"):
            with RunLock(tmp_path):
                pass
    with RunLock(tmp_path):  # released when the first writer finished
        pass
