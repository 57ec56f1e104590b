"""One run on several processes (chapter 13): torchrun, DistributedDataParallel and
gloo on the CPU. Each test starts real processes, as a reader's command would.
"""

import contextlib
import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cgan_lib import train
from cgan_lib.checkpoint import load_checkpoint

WORKER = Path(__file__).with_name("ddp_worker.py")
sys.path.insert(0, str(WORKER.parent))
import ddp_worker  # noqa: E402

ROOT = Path(__file__).parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "CGAN_PROGRESS": "off"}


def torchrun(*args, n: int = 2) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc-per-node", str(n), *map(str, args)]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=600, env=ENV, cwd=ROOT
    )


def cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cgan_lib", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
        env=ENV,
        cwd=ROOT,
    )


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    """4 steps of a small cdcgan on 2 processes x 64, one fit call per step, in float64
    and in float32: {dtype: (run folder, report)}."""
    runs = {}
    for mode, dtype in (("parity64", torch.float64), ("parity", torch.float32)):
        folder = tmp_path_factory.mktemp(mode) / "run"
        result = torchrun(WORKER, mode, folder, 4)
        assert result.returncode == 0, result.stderr[-4000:]
        runs[dtype] = folder, json.loads(result.stdout.strip().splitlines()[-1])
    return runs


@contextlib.contextmanager
def default_dtype(dtype):
    before = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


def one_process(steps: int, out_dir=None, **changes):
    config = dataclasses.replace(ddp_worker.config(), **changes)
    data = ddp_worker.small_data()
    return train.fit(config, steps=steps, data=data, out_dir=out_dir, progress=False)


def largest_difference(a, b) -> float:
    """The largest difference between the weights and buffers of two runs."""
    left, right = ddp_worker.flat(a), ddp_worker.flat(b)
    return (left - right).abs().max().item()


def test_in_float64_two_processes_x_64_are_one_process_x_128(two_processes):
    """The same arithmetic, summed in another order: in float64 the runs agree to
    rounding. This is the test of the method (shares, synced batch norm, averaged
    gradients)."""
    folder, _ = two_processes[torch.float64]
    with default_dtype(torch.float64):
        two = load_checkpoint(folder / "checkpoint.pt")
        one = one_process(4)
        other = one_process(4, batch_size=64)  # what 64 digits alone would do
    assert two.step == one.step == 4
    assert largest_difference(two, one) < 1e-10
    for key in one.history:  # the logged statistics are the global batch's
        assert torch.allclose(
            torch.tensor(two.history[key]), torch.tensor(one.history[key]), atol=1e-12
        ), key
    assert largest_difference(two, other) > 1e-4  # the test can tell


def test_in_float32_the_difference_is_bounded_by_adams_step(two_processes):
    """In float32 the rounding differs, and Adam's first steps move every weight by
    about the learning rate whatever the size of its gradient, so a gradient that is
    rounding noise moves a weight by up to about 2 lr, either way. Bounded by 2 lr per
    step; the logged statistics agree closely."""
    folder, _ = two_processes[torch.float32]
    two = load_checkpoint(folder / "checkpoint.pt")
    one = one_process(4)
    assert largest_difference(two, one) < 4 * 2 * one.config.lr_g
    for key in one.history:
        assert torch.allclose(
            torch.tensor(two.history[key]), torch.tensor(one.history[key]), atol=1e-4
        ), key


def test_every_rank_holds_the_same_weights_after_every_step(two_processes):
    for _, report in two_processes.values():
        assert report["rank_differences"] == [0.0] * 4


def test_a_run_of_two_processes_resumes_on_one(two_processes, tmp_path):
    folder, _ = two_processes[torch.float64]
    shutil.copytree(folder, tmp_path / "run")
    with default_dtype(torch.float64):
        resumed = one_process(6, out_dir=tmp_path / "run")
        straight = one_process(6)
    assert resumed.step == 6
    assert largest_difference(resumed, straight) < 1e-10


def test_nproc_trains_and_a_crashed_process_stops_the_other(tmp_path):
    out = tmp_path / "run"
    first = cli(*ddp_worker.train_command(out, 2), "--nproc", 2)
    assert first.returncode == 0, first.stderr[-4000:]
    assert "starting: torchrun --standalone --nproc-per-node 2" in first.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["processes"] == 2 and summary["step"] == 2
    assert summary["command"].startswith(
        "torchrun --nproc-per-node 2 -m cgan_lib train"
    )

    crashed = torchrun(WORKER, "die", out, 6)  # process 1 dies at step 3
    assert crashed.returncode != 0
    assert "another process of this run failed or was stopped" in crashed.stderr
    assert "the last checkpoint in" in crashed.stderr
    assert load_checkpoint(out / "checkpoint.pt").step == 2  # intact

    again = cli(*ddp_worker.train_command(out, 4), "--nproc", 2)
    assert again.returncode == 0, again.stderr[-4000:]
    assert "resuming from" in again.stdout
    assert json.loads((out / "summary.json").read_text())["step"] == 4


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--nproc", "0"], "--nproc"),
        (["--nproc", str((os.cpu_count() or 1) + 1)], "more processes than"),
        (["--nproc", "2", "--batch-size", "63"], "does not divide among 2"),
        (["--nproc", "2", "--r1", "1"], "one process only"),
    ],
)
def test_bad_requests_for_several_processes_get_a_sentence(tmp_path, flags, message):
    result = cli(*ddp_worker.train_command(tmp_path / "run", 2), *flags)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


# ------------------------------------------------------------------------------------
# The pieces, on one process.


def test_my_share_gives_each_rank_its_rows(monkeypatch):
    from cgan_lib import distributed

    batch = torch.arange(8)
    assert distributed.my_share(batch, None)[0] is batch  # one process: everything
    monkeypatch.setattr(distributed, "world_size", lambda: 2)
    for r, rows in ((0, [0, 1, 2, 3]), (1, [4, 5, 6, 7])):
        monkeypatch.setattr(distributed, "rank", lambda r=r: r)
        mine, none = distributed.my_share(batch, None)
        assert mine.tolist() == rows and none is None


def test_agree_on_one_process_returns_the_flags():
    from cgan_lib import distributed

    assert distributed.agree(True, False) == (True, False)


def test_epoch_permutation_depends_on_seed_and_epoch_only():
    a = train.epoch_permutation(3, 7, 100, "cpu")
    assert sorted(a.tolist()) == list(range(100))
    assert torch.equal(a, train.epoch_permutation(3, 7, 100, "cpu"))
    assert not torch.equal(a, train.epoch_permutation(3, 8, 100, "cpu"))


def test_cross_rank_batch_norm_is_batch_norm_on_one_process():
    from cgan_lib.distributed import CrossRankBatchNorm2d

    bn = torch.nn.BatchNorm2d(4)
    bn.weight.data.uniform_(0.5, 2)
    twin = CrossRankBatchNorm2d.like(bn)
    assert twin.weight is bn.weight and twin.running_mean is bn.running_mean
    x = torch.randn(6, 4, 3, 3)
    expected = torch.nn.functional.batch_norm(
        x, None, None, bn.weight, bn.bias, training=True
    )
    assert torch.allclose(twin(x), expected, atol=1e-6)


def test_wrap_syncs_batch_norm_and_keeps_the_optimisers_parameters(tmp_path):
    """A process group of one: wrap converts every BatchNorm2d and wraps both players
    in DistributedDataParallel around the very parameters the optimisers step."""
    import torch.distributed as dist

    from cgan_lib import distributed
    from cgan_lib.run import new_run

    dist.init_process_group(
        "gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1
    )
    try:
        run = new_run(ddp_worker.config(), "cpu")
        before = [id(p) for p in run.G.parameters()]
        G, D = distributed.wrap(run)
        assert isinstance(G, torch.nn.parallel.DistributedDataParallel)
        assert G.module is run.G and D.module is run.D
        for model in (run.G, run.D):
            kinds = {type(m) for m in model.modules()}
            assert torch.nn.BatchNorm2d not in kinds
            assert distributed.CrossRankBatchNorm2d in kinds
        assert [id(p) for p in run.G.parameters()] == before
        assert {id(p) for g in run.opt_g.param_groups for p in g["params"]} == set(
            before
        )
        run.parallel = G, D
    finally:
        dist.destroy_process_group()
    # the group has ended: the same run trains on as one process, without the wrappers
    run = train.fit(run, steps=1, data=ddp_worker.small_data(), progress=False)
    assert run.step == 1 and run.parallel is None


def test_players_are_the_networks_or_their_wrappers():
    from cgan_lib.run import GANRun, new_run

    run = new_run(ddp_worker.config(), "cpu")
    assert isinstance(run, GANRun) and run.players == (run.G, run.D)
    wrappers = (torch.nn.Identity(), torch.nn.Identity())
    run.parallel = wrappers
    assert run.players == wrappers
