import pickle

import pytest
import torch

from cgan_lib import TrainConfig, fit
from cgan_lib.checkpoint import load_checkpoint, load_generator, save_checkpoint, save_generator
from cgan_lib.errors import CheckpointError


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    images = torch.rand(256, 1, 28, 28) * 2 - 1
    run = fit(TrainConfig(model="cdcgan", model_kwargs={"width": 16}, batch_size=64), steps=2,
              data=(images, torch.arange(256) % 10), progress=False)
    path = tmp_path_factory.mktemp("ck") / "checkpoint.pt"
    save_checkpoint(run, path)
    return path


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")


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


def test_arbitrary_pickles_are_not_executed(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    evil = tmp_path / "evil.pt"
    with open(evil, "wb") as f:
        pickle.dump(Evil(), f)
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(evil)


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


def test_sample_only_checkpoint_is_small_and_loads(tmp_path, checkpoint):
    run = load_checkpoint(checkpoint)
    small = tmp_path / "generator.pt"
    save_generator(run, small)
    assert small.stat().st_size < checkpoint.stat().st_size / 4  # one generator, float16, no D/optimisers
    G = load_generator(small)
    assert all(p.dtype == torch.float32 for p in G.parameters())  # stored as float16, loaded as float32
    z, y = torch.randn(3, G.z_dim), torch.tensor([1, 2, 3])
    with torch.no_grad():
        assert torch.allclose(G(z, y), run.generator.eval()(z, y), atol=2e-3)
