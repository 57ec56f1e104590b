"""The top-level names every chapter uses: quick mode, the device, the errors, the
shipped models and their cards."""

import json

import pytest
import torch

import cgan_lib
from cgan_lib import errors
from cgan_lib.checkpoint import PRETRAINED_DIR, shipped_names
from cgan_lib.run import pick_device


@pytest.mark.parametrize(
    "value, quick", [(None, False), ("", False), ("0", False), ("1", True)]
)
def test_quick_mode_follows_cgan_quick(monkeypatch, value, quick):
    if value is None:
        monkeypatch.delenv("CGAN_QUICK", raising=False)
    else:
        monkeypatch.setenv("CGAN_QUICK", value)
    assert cgan_lib.quick() is quick


def test_pick_device_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device() == torch.device("cuda")
    assert pick_device("auto") == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device() == torch.device("mps")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device() == torch.device("cpu")
    assert pick_device(torch.device("cpu")) == torch.device("cpu")


def test_every_library_error_is_a_cgan_error_and_a_builtin_type():
    expected = {
        errors.BadInput: ValueError,
        errors.CheckpointError: ValueError,
        errors.TrainingDiverged: RuntimeError,
        errors.RunLocked: RuntimeError,
        errors.MNISTUnavailable: RuntimeError,
    }
    for error, builtin in expected.items():
        assert issubclass(error, errors.CganError) and issubclass(error, builtin)
    assert cgan_lib.BadInput is errors.BadInput
    with pytest.raises(ValueError):  # user code catching ValueError keeps working
        cgan_lib.TrainConfig(batch_size=0)


def test_check_range_names_the_value_and_the_range():
    assert errors.check_range("n", 3, 1, 5, integer=True) == 3
    assert errors.check_range("x", "0.5", 0, 1) == 0.5
    for bad in (0, 6, 2.5, True, float("nan"), "three"):
        with pytest.raises(
            errors.BadInput, match=r"n must be a whole number in \[1, 5\]"
        ):
            errors.check_range("n", bad, 1, 5, integer=True)
    with pytest.raises(
        errors.BadInput, match=r"lr must be a finite number in \(0, 1\]"
    ):
        errors.check_range("lr", 0, 0, 1, lo_open=True)
    with pytest.raises(errors.BadInput, match="got inf"):
        errors.check_range("x", float("inf"), 0)


def test_the_chapters_models_are_all_shipped():
    assert {"mlp", "mlp_saturating", "dcgan", "cmlp", "cdcgan"} <= set(shipped_names())
    assert "classifier" not in shipped_names()


@pytest.mark.parametrize(
    "name, conditional, z_dim",
    [("mlp", False, 64), ("dcgan", False, 64), ("cdcgan", True, 64)],
)
def test_pretrained_loads_a_ready_generator(name, conditional, z_dim):
    G = cgan_lib.pretrained(name)
    assert not G.training and bool(G.num_classes) == conditional and G.z_dim == z_dim
    assert all(p.dtype == torch.float32 for p in G.parameters())
    y = torch.arange(3) if conditional else None
    with torch.no_grad():
        x = G(torch.randn(3, z_dim), y)
    assert x.shape == (3, 1, 28, 28)
    # trained: mostly black background, some white ink (an untrained G is all grey)
    pixels = (x + 1) / 2
    assert (pixels < 0.1).float().mean() > 0.5 and (pixels > 0.9).float().mean() > 0.02


def test_model_card_is_the_shipped_json():
    card = cgan_lib.model_card("cdcgan")
    assert card == json.loads((PRETRAINED_DIR / "cdcgan.json").read_text())
    assert card["model"] == "cdcgan" and "scores" in card


@pytest.mark.parametrize("call", [cgan_lib.pretrained, cgan_lib.model_card])
def test_unknown_shipped_names_list_the_real_ones(call):
    with pytest.raises(
        errors.BadInput,
        match="shipped: cdcgan, cdcgan_clusters, cmlp, dcgan, dcgan_clusters, mlp",
    ):
        call("gpt")
    with pytest.raises(errors.BadInput):
        call("classifier")  # the classifier is not a generator
    with pytest.raises(errors.BadInput):
        call("../pretrained/cdcgan")  # no way out of the folder
