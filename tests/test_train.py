import dataclasses
import math
import types

import pytest
import torch
import torch.nn.functional as F

import cgan_lib.train as train_module
from cgan_lib import TrainConfig, fit, load_checkpoint
from cgan_lib.errors import BadInput, CheckpointError, TrainingDiverged
from cgan_lib.run import new_run
from cgan_lib.train import train_step

TINY = {"width": 8}
# runs resume exactly on the CPU (GPU kernels are not all deterministic)
CPU = "cpu"


def params(module):
    return [p.detach().clone() for p in module.state_dict().values()]


def same(a, b):
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))


def flat(module):
    return torch.cat([p.detach().flatten() for p in module.parameters()])


# ------------------------------------------------------------------------------------
# One step.


@pytest.mark.parametrize("loss", ["nonsaturating", "saturating"])
def test_train_step_against_a_discriminator_with_a_known_answer(loss):
    """D with zero weights and head bias c says logit c to everything, so the step's
    numbers have closed forms. Adam's first step moves a weight by exactly lr against
    its gradient's sign; only the head bias has a gradient, so G is then scored by a D
    whose logit is c - lr: the generator step sees the discriminator after its
    update."""
    c, lr = 2.0, 2e-4
    run = new_run(TrainConfig(model="mlp", model_kwargs=TINY, loss=loss, lr_d=lr), CPU)
    with torch.no_grad():
        for p in run.D.parameters():
            p.zero_()
        run.D.head.bias.fill_(c)
    G_before = flat(run.G)
    x = torch.rand(16, 1, 28, 28) * 2 - 1
    d_loss, g_loss, d_real, d_fake = train_step(run, x, None).tolist()
    c_t = torch.tensor(c)
    assert d_real == pytest.approx(torch.sigmoid(c_t).item(), abs=1e-6)
    assert d_fake == pytest.approx(torch.sigmoid(c_t).item(), abs=1e-6)
    # -log D(x) - log(1 - D(G(z))) = softplus(-c) + softplus(c)
    assert d_loss == pytest.approx((F.softplus(-c_t) + F.softplus(c_t)).item(), 1e-6)
    assert run.D.head.bias.item() == pytest.approx(c - lr, abs=1e-7)  # one D update
    after = torch.tensor(c - lr)
    if loss == "nonsaturating":  # -log D(G(z))
        want, stale = F.softplus(-after).item(), F.softplus(-c_t).item()
    else:  # log(1 - D(G(z)))
        want, stale = -F.softplus(after).item(), -F.softplus(c_t).item()
    assert g_loss == pytest.approx(want, abs=2e-6)
    assert abs(g_loss - stale) > 1e-5  # not the loss under the D before its update
    # a constant D gives G no gradient: Adam leaves it where it was
    assert torch.equal(flat(run.G), G_before)


def test_train_step_updates_both_players_and_leaves_d_trainable(small_data):
    run = new_run(TrainConfig(model="cdcgan", model_kwargs=TINY, batch_size=32), CPU)
    G0, D0 = flat(run.G), flat(run.D)
    x, y = small_data[0][:32], small_data[1][:32]
    stats = train_step(run, x, y)
    assert stats.shape == (4,) and torch.isfinite(stats).all()
    assert 0 < stats[2] < 1 and 0 < stats[3] < 1  # mean D(x), mean D(G(z))
    assert not torch.equal(flat(run.G), G0) and not torch.equal(flat(run.D), D0)
    assert all(p.requires_grad for p in run.D.parameters())  # frozen only for G's step
    assert run.step == 0  # counting steps is fit's job


def test_ema_copy_follows_g_with_the_warm_up_decay(small_data):
    run = new_run(TrainConfig(model="cmlp", model_kwargs=TINY, ema=0.999), CPU)
    assert same(params(run.G_ema), params(run.G))  # starts as a copy of G
    assert run.generator is run.G_ema and not run.G_ema.training
    G0 = flat(run.G)
    train_step(run, small_data[0][:64], small_data[1][:64])
    decay = min(0.999, (1 + 0) / (10 + 0))  # warm-up at step 0: 0.1
    want = decay * G0 + (1 - decay) * flat(run.G)
    assert torch.allclose(flat(run.G_ema), want, atol=1e-7)
    assert not torch.allclose(flat(run.G_ema), flat(run.G), atol=1e-6)
    no_ema = new_run(TrainConfig(model="cmlp", model_kwargs=TINY), CPU)
    assert no_ema.G_ema is None and no_ema.generator is no_ema.G


# ------------------------------------------------------------------------------------
# The loop.


def test_a_short_real_run_learns_and_round_trips(tmp_path, small_data):
    cfg = TrainConfig(
        model="cdcgan", model_kwargs=TINY, batch_size=64, seed=1, snapshot_every=20
    )
    run = fit(
        cfg, steps=60, out_dir=tmp_path, data=small_data, progress=False, device=CPU
    )
    h = run.history
    assert run.step == 60 and all(len(h[k]) == 60 for k in h)
    assert all(math.isfinite(v) for k in h for v in h[k])
    assert all(0 < v < 1 for k in ("d_real", "d_fake") for v in h[k])
    # an untrained D says 1/2 to everything: its first loss is 2 log 2 = 1.386...
    assert h["d_loss"][0] == pytest.approx(2 * math.log(2), abs=0.05)
    # ... then it learns to tell real from fake
    mean = lambda k, s: sum(h[k][s]) / len(h[k][s])  # noqa: E731
    assert mean("d_loss", slice(-10, None)) < h["d_loss"][0] - 0.1
    assert mean("d_real", slice(-10, None)) > mean("d_fake", slice(-10, None)) + 0.1
    # snapshots of the fixed latent grid at steps 0, 20, 40, 60: the generator moved
    assert [s for s, _ in run.snapshots] == [0, 20, 40, 60]
    first, last = run.snapshots[0][1], run.snapshots[-1][1]
    assert last.shape == (100, 28, 28) and last.dtype == torch.uint8
    assert (last.float() - first.float()).abs().mean() > 5  # grey levels, of 255
    assert run.images_per_s > 0 and run.elapsed > 0 and run.device.type == "cpu"

    loaded = load_checkpoint(tmp_path / "checkpoint.pt", CPU)
    assert loaded.step == 60 and loaded.history == run.history
    assert same(params(loaded.G), params(run.G))
    assert same(params(loaded.D), params(run.D))
    assert all(
        torch.equal(a, b) for (_, a), (_, b) in zip(loaded.snapshots, run.snapshots)
    )


@pytest.mark.parametrize("model", ["cmlp", "cdcgan"])
def test_interrupted_and_resumed_equals_uninterrupted(tmp_path, small_data, model):
    # ema, augmentation and several epochs (2048 // 128 = 16 steps each) exercise
    # every source of randomness
    cfg = TrainConfig(
        model=model,
        model_kwargs=TINY,
        ema=0.99,
        augment_degrees=10,
        seed=3,
        checkpoint_every=1000,
        lr_decay=(10, 40),
    )
    whole = fit(cfg, steps=40, data=small_data, progress=False, device=CPU)
    # "interrupted" mid-epoch at step 23, then resumed from the folder
    fit(cfg, steps=23, out_dir=tmp_path, data=small_data, progress=False, device=CPU)
    resumed = fit(
        cfg, steps=40, out_dir=tmp_path, data=small_data, progress=False, device=CPU
    )
    assert resumed.step == 40
    for a, b in (
        (whole.G, resumed.G),
        (whole.D, resumed.D),
        (whole.G_ema, resumed.G_ema),
    ):
        assert same(params(a), params(b))
    assert whole.history == resumed.history
    # and a run with another seed really is different (the test can fail)
    other = fit(
        TrainConfig(**{**cfg.__dict__, "seed": 4}),
        steps=5,
        data=small_data,
        progress=False,
        device=CPU,
    )
    five = fit(cfg, steps=5, data=small_data, progress=False, device=CPU)
    assert not same(params(other.G), params(five.G))


def test_a_run_continues_in_memory_and_reads_its_rates_every_step(small_data):
    """Chapter 3's head start: a run trained in two fit calls, G frozen for the first
    by a zero learning rate, then given one on the run's config."""
    frozen = TrainConfig(model="mlp", model_kwargs=TINY, lr_g=0.0, seed=0)
    run = new_run(frozen, CPU)
    G0, D0 = flat(run.G), flat(run.D)
    fit(run, steps=4, data=small_data, progress=False, device=CPU)
    assert run.step == 4 and torch.equal(flat(run.G), G0)  # only D learned
    assert not torch.equal(flat(run.D), D0)
    run.config.lr_g = 2e-4
    same_run = fit(run, steps=10, data=small_data, progress=False, device=CPU)
    assert same_run is run and run.step == 10 and len(run.history["d_loss"]) == 10
    assert not torch.equal(flat(run.G), G0)
    # two calls on one run equal one call of the same length
    cfg = TrainConfig(model="mlp", model_kwargs=TINY, seed=0, snapshot_every=10**9)
    split = new_run(cfg, CPU)
    fit(split, steps=4, data=small_data, progress=False, device=CPU)
    fit(split, steps=10, data=small_data, progress=False, device=CPU)
    whole = fit(
        new_run(cfg, CPU), steps=10, data=small_data, progress=False, device=CPU
    )
    assert same(params(split.G), params(whole.G)) and split.history == whole.history


def test_nan_stops_training_with_a_clear_message_and_no_checkpoint(
    tmp_path, small_data
):
    images, labels = small_data
    poisoned = torch.full_like(images, float("nan"))
    cfg = TrainConfig(model="cmlp", model_kwargs=TINY, checkpoint_every=1)
    with pytest.raises(TrainingDiverged, match=r"diverged at step 1: d_loss=nan"):
        fit(
            cfg,
            steps=5,
            out_dir=tmp_path,
            data=(poisoned, labels),
            progress=False,
            device=CPU,
        )
    assert not (tmp_path / "checkpoint.pt").exists()


def test_the_divergence_message_recipe_goes_on_at_a_smaller_rate(tmp_path, small_data):
    # What TrainingDiverged tells the user to do: load the last checkpoint, lower the
    # rates in its config, and fit the run itself (resuming from a TrainConfig with
    # other rates is refused).
    cfg = TrainConfig(model="mlp", model_kwargs=TINY, lr_g=1.0, lr_d=1.0)
    run = fit(
        cfg, steps=3, out_dir=tmp_path, data=small_data, progress=False, device=CPU
    )
    with torch.no_grad():
        next(run.G.parameters()).view(-1)[0] = float("inf")
    with pytest.raises(TrainingDiverged, match="load_checkpoint") as error:
        fit(run, steps=5, data=small_data, progress=False, device=CPU)
    assert "dataclasses.replace(run.config, lr_g=..., lr_d=...)" in str(error.value)
    run = load_checkpoint(tmp_path / "checkpoint.pt")
    assert run.step == 3 and run.config.lr_g == 1.0
    run.config = dataclasses.replace(run.config, lr_g=2e-4, lr_d=2e-4)
    fit(run, steps=6, out_dir=tmp_path, data=small_data, progress=False, device=CPU)
    assert run.step == 6 and all(math.isfinite(v) for v in run.history["d_loss"])
    assert {g["lr"] for g in run.opt_g.param_groups} == {2e-4}
    saved = load_checkpoint(tmp_path / "checkpoint.pt")
    assert saved.step == 6 and saved.config.lr_d == 2e-4


class FakeClock:
    """perf_counter for cgan_lib.train: time moves one second per training step."""

    def __init__(self):
        self.now = 1000.0

    def perf_counter(self):
        return self.now


def test_a_time_budget_stops_training_when_it_is_spent(small_data, monkeypatch):
    clock = FakeClock()
    real_step = train_module.train_step

    def one_second_step(*args):
        clock.now += 1.0
        return real_step(*args)

    fake_time = types.SimpleNamespace(perf_counter=clock.perf_counter)
    monkeypatch.setattr(train_module, "time", fake_time)
    monkeypatch.setattr(train_module, "train_step", one_second_step)
    cfg = TrainConfig(model="mlp", model_kwargs=TINY, batch_size=64)
    run = fit(cfg, seconds=5.0, data=small_data, progress=False, device=CPU)
    assert run.step == 5 and run.elapsed == 5.0
    assert run.images_per_s == 64.0  # 5 steps of 64 images in 5 seconds
    fit(run, seconds=2.5, data=small_data, progress=False, device=CPU)
    assert run.step == 8 and run.elapsed == 8.0  # training time adds up across calls


def test_length_arguments(small_data):
    with pytest.raises(BadInput, match="say how long"):
        fit(TrainConfig(model="mlp"), data=small_data)
    cfg = TrainConfig(model="mlp", model_kwargs=TINY, batch_size=256)
    run = fit(cfg, epochs=1, data=small_data, progress=False, device=CPU)
    assert run.step == 2048 // 256
    run = fit(cfg, epochs=1.5, steps=10, data=small_data, progress=False, device=CPU)
    assert run.step == 10  # whichever ends first: 1.5 epochs are 12 steps
    with pytest.raises(BadInput, match="batch_size 4096 is larger than the dataset"):
        fit(TrainConfig(model="mlp", batch_size=4096), steps=1, data=small_data)


def test_resuming_with_another_config_is_refused(tmp_path, small_data):
    cfg = TrainConfig(model="mlp", model_kwargs=TINY)
    fit(cfg, steps=2, out_dir=tmp_path, data=small_data, progress=False, device=CPU)
    other = TrainConfig(model="mlp", model_kwargs=TINY, lr_g=1e-3)
    with pytest.raises(CheckpointError, match="other settings"):
        fit(
            other,
            steps=4,
            out_dir=tmp_path,
            data=small_data,
            progress=False,
            device=CPU,
        )


def test_saturating_and_non_saturating_runs_differ_from_the_same_seed(small_data):
    def run(loss):
        cfg = TrainConfig(model="mlp", model_kwargs=TINY, loss=loss, seed=0)
        return fit(cfg, steps=3, data=small_data, progress=False, device=CPU)

    a, b = run("saturating"), run("nonsaturating")
    # same seed: the same first discriminator step; then each G follows its own loss
    assert a.history["d_loss"][0] == b.history["d_loss"][0]
    assert a.history["g_loss"][0] < 0 < b.history["g_loss"][0]
    assert not same(params(a.G), params(b.G))
    with pytest.raises(ValueError, match="loss must be one of"):
        TrainConfig(loss="wasserstein")


def test_linear_lr_decay_schedule_reaches_the_optimisers(small_data):
    cfg = TrainConfig(model="mlp", model_kwargs=TINY, lr_decay=(100, 200))
    assert [cfg.lr_factor(s) for s in (0, 100, 150, 200, 300)] == [1, 1, 0.5, 0, 0]
    assert TrainConfig().lr_factor(10**6) == 1.0
    with pytest.raises(ValueError, match="lr_decay"):
        TrainConfig(lr_decay=(200, 100))
    cfg = TrainConfig(model="mlp", model_kwargs=TINY, lr_d=1e-3, lr_decay=(5, 10))
    run = fit(cfg, steps=8, data=small_data, progress=False, device=CPU)
    # the last step taken was step 7 (counting from 0): factor (10 - 7) / 5 = 0.6
    assert run.opt_g.param_groups[0]["lr"] == pytest.approx(2e-4 * 0.6)
    assert run.opt_d.param_groups[0]["lr"] == pytest.approx(1e-3 * 0.6)


def test_fit_refuses_what_it_cannot_train(tmp_path):
    with pytest.raises(BadInput, match="fit takes a TrainConfig or a GANRun"):
        fit({"model": "mlp"}, steps=1)
    (tmp_path / "file").write_text("")
    with pytest.raises(BadInput, match="is a file; the output must be a folder"):
        fit(TrainConfig(model="mlp"), steps=1, out_dir=tmp_path / "file")
