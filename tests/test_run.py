"""What a run is: its config checks, which settings decide the weights, resuming."""

import pytest
import torch

from cgan_lib import TrainConfig, fit
from cgan_lib.errors import BadInput, CheckpointError
from cgan_lib.models import MODELS, build, model_options
from cgan_lib.run import new_run, pick_device, weight_settings


def test_model_table_is_the_one_source_of_hyper_parameters():
    G, D = build("cdcgan")
    assert G.z_dim == MODELS["cdcgan"]["z_dim"] and G.num_classes == 10
    # the projection discriminator has an embedding; the concat one has 10 extra planes
    assert hasattr(D, "embed") and MODELS["cdcgan"]["conditioning"] == "projection"
    G8, _ = build("cdcgan", width=8, z_dim=16)
    assert G8.z_dim == 16 and G8.project[0].out_features == 2 * 8 * 7 * 7
    assert model_options("cdcgan", {"width": 8})["width"] == 8
    assert model_options("cdcgan")["width"] == MODELS["cdcgan"]["width"]


@pytest.mark.parametrize(
    "model, options, message",
    [
        ("dcgan", {"conditioning": "concat"}, "no label to condition on"),
        ("mlp", {"refine": True}, "takes no option 'refine'"),
        ("cdcgan", {"width": 1}, r"width must be a whole number in \[8, 1024\]"),
        ("cdcgan", {"conditioning": "sideways"}, "conditioning must be one of"),
        ("gan9000", {}, "unknown model 'gan9000'"),
    ],
)
def test_bad_model_options_are_named(model, options, message):
    with pytest.raises(BadInput, match=message):
        TrainConfig(model=model, model_kwargs=options)


@pytest.mark.parametrize(
    "field, value",
    [
        ("ema", float("nan")),
        ("ema", 1.0),
        ("augment_degrees", float("inf")),
        ("lr_g", -1e-4),
        ("lr_d", float("nan")),
        ("seed", 2**70),
        ("seed", -1),
        ("batch_size", 0),
        ("real_target", 0.0),
        ("lr_decay", (5, 5)),
        ("checkpoint_seconds", 0),
    ],
)
def test_config_refuses_nonsense_with_the_range(field, value):
    with pytest.raises(BadInput, match=field.split("_decay")[0]):
        TrainConfig(model="mlp", **{field: value})


def test_weight_settings_ignore_cadence_and_explicit_defaults():
    plain = TrainConfig(model="cdcgan")
    explicit = TrainConfig(
        model="cdcgan",
        model_kwargs={"width": MODELS["cdcgan"]["width"]},
        snapshot_every=7,
        checkpoint_every=3,
        checkpoint_seconds=5,
    )
    assert weight_settings(plain) == weight_settings(explicit)
    assert weight_settings(plain) != weight_settings(
        TrainConfig(model="cdcgan", seed=1)
    )


def test_resume_accepts_new_cadence_and_refuses_new_weights(tmp_path, small_data):
    cfg = TrainConfig(model="mlp", model_kwargs={"width": 8}, checkpoint_every=1000)
    fit(cfg, steps=3, out_dir=tmp_path, data=small_data, progress=False)
    again = TrainConfig(
        model="mlp",
        model_kwargs={"width": 8, "z_dim": MODELS["mlp"]["z_dim"]},
        checkpoint_every=2,
        snapshot_every=1,
    )
    run = fit(again, steps=5, out_dir=tmp_path, data=small_data, progress=False)
    assert run.step == 5 and run.config.checkpoint_every == 2
    other = TrainConfig(model="mlp", model_kwargs={"width": 8}, lr_g=1e-3)
    with pytest.raises(CheckpointError, match=r"lr_g: 0.0002 -> 0.001"):
        fit(other, steps=6, out_dir=tmp_path, data=small_data, progress=False)


def test_pick_device_names_what_is_available():
    assert pick_device("cpu") == torch.device("cpu")
    with pytest.raises(BadInput, match="unknown device 'banana'"):
        pick_device("banana")
    if not torch.cuda.is_available():
        with pytest.raises(
            BadInput, match="'cuda' is not available here; available: cpu"
        ):
            pick_device("cuda")


def test_new_run_is_a_function_of_the_seed():
    a, b = (
        new_run(TrainConfig(model="mlp", seed=5)),
        new_run(TrainConfig(model="mlp", seed=5)),
    )
    c = new_run(TrainConfig(model="mlp", seed=6))
    pa, pb, pc = (torch.cat([p.flatten() for p in r.G.parameters()]) for r in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)
