import pytest
import torch

from cgan_lib import TrainConfig, fit, load_checkpoint
from cgan_lib.errors import CheckpointError, TrainingDiverged


def params(module):
    return [p.detach().clone() for p in module.state_dict().values()]


def same(a, b):
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))


def test_a_short_real_run_moves_the_losses_and_round_trips(tmp_path, small_data):
    cfg = TrainConfig(model="cdcgan", model_kwargs={"width": 16}, batch_size=64, seed=1, snapshot_every=20)
    run = fit(cfg, steps=60, out_dir=tmp_path, data=small_data, progress=False, log_every=10)
    h = run.history
    assert run.step == 60 and all(len(h[k]) == 60 for k in h)
    # the discriminator learns quickly to tell real from fake: its loss falls from ~2 log 2 = 1.39
    assert h["d_loss"][0] > 1.0 and sum(h["d_loss"][-10:]) / 10 < h["d_loss"][0]
    assert sum(h["d_real"][-10:]) > sum(h["d_fake"][-10:])  # D tells real from fake
    assert len(set(h["g_loss"])) > 50  # G's loss moves every step
    assert [s for s, _ in run.snapshots] == [0, 20, 40, 60]
    assert run.snapshots[-1][1].shape == (100, 28, 28) and run.snapshots[-1][1].dtype == torch.uint8
    assert run.images_per_s > 0 and run.elapsed > 0

    loaded = load_checkpoint(tmp_path / "checkpoint.pt")
    assert loaded.step == 60 and loaded.history == run.history
    assert same(params(loaded.G), params(run.G)) and same(params(loaded.D), params(run.D))
    z, y = torch.randn(4, 64), torch.arange(4)
    loaded.G.eval(), run.G.eval()
    assert torch.equal(loaded.G(z, y), run.G(z, y))
    assert all(torch.equal(a, b) for (_, a), (_, b) in zip(loaded.snapshots, run.snapshots))


@pytest.mark.parametrize("model", ["cmlp", "cdcgan"])
def test_interrupted_and_resumed_equals_uninterrupted(tmp_path, small_data, model):
    # ema, augmentation and several epochs (2048 // 128 = 16 steps each) exercise every source of randomness
    cfg = TrainConfig(model=model, model_kwargs={"width": 16}, ema=0.99, augment_degrees=10, seed=3,
                      checkpoint_every=1000, lr_decay=(10, 40))
    whole = fit(cfg, steps=40, data=small_data, progress=False)
    fit(cfg, steps=23, out_dir=tmp_path, data=small_data, progress=False)  # "interrupted" mid-epoch at 23
    resumed = fit(cfg, steps=40, out_dir=tmp_path, data=small_data, progress=False)
    assert resumed.step == 40
    for a, b in ((whole.G, resumed.G), (whole.D, resumed.D), (whole.G_ema, resumed.G_ema)):
        assert same(params(a), params(b))
    assert whole.history == resumed.history
    # and a run with another seed really is different (the test can fail)
    other = fit(TrainConfig(**{**cfg.__dict__, "seed": 4}), steps=5, data=small_data, progress=False)
    assert not same(params(other.G), params(fit(cfg, steps=5, data=small_data, progress=False).G))


def test_nan_stops_training_with_a_clear_message_and_no_checkpoint(tmp_path, small_data):
    images, labels = small_data
    poisoned = images.clone()
    poisoned[:] = float("nan")
    cfg = TrainConfig(model="cmlp", checkpoint_every=1)
    with pytest.raises(TrainingDiverged, match=r"diverged at step 1: d_loss=nan"):
        fit(cfg, steps=5, out_dir=tmp_path, data=(poisoned, labels), progress=False)
    assert not (tmp_path / "checkpoint.pt").exists()


def test_time_budget_and_length_arguments(small_data):
    run = fit(TrainConfig(model="mlp"), seconds=1.0, data=small_data, progress=False)
    assert run.step > 0 and run.elapsed < 5
    with pytest.raises(ValueError, match="say how long"):
        fit(TrainConfig(model="mlp"), data=small_data)
    run = fit(TrainConfig(model="mlp", batch_size=256), epochs=1, data=small_data, progress=False)
    assert run.step == 2048 // 256


def test_resuming_with_another_config_is_refused(tmp_path, small_data):
    fit(TrainConfig(model="mlp"), steps=2, out_dir=tmp_path, data=small_data, progress=False)
    with pytest.raises(CheckpointError, match="other settings"):
        fit(TrainConfig(model="mlp", lr_g=1e-3), steps=4, out_dir=tmp_path, data=small_data, progress=False)


def test_saturating_and_non_saturating_runs_differ_from_the_same_seed(small_data):
    a = fit(TrainConfig(model="mlp", loss="saturating", seed=0), steps=10, data=small_data, progress=False)
    b = fit(TrainConfig(model="mlp", loss="nonsaturating", seed=0), steps=10, data=small_data, progress=False)
    assert a.history["d_loss"][0] == b.history["d_loss"][0]  # same seed: same first D step
    assert not same(params(a.G), params(b.G))
    with pytest.raises(ValueError, match="loss must be one of"):
        TrainConfig(loss="wasserstein")


def test_linear_lr_decay_schedule():
    cfg = TrainConfig(lr_decay=(100, 200))
    assert [cfg.lr_factor(s) for s in (0, 100, 150, 200, 300)] == [1.0, 1.0, 0.5, 0.0, 0.0]
    assert TrainConfig().lr_factor(10**6) == 1.0
    with pytest.raises(ValueError, match="lr_decay"):
        TrainConfig(lr_decay=(200, 100))
