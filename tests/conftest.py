import pytest
import torch

from cgan_lib import data


@pytest.fixture(scope="session")
def mnist_train():
    return data.load_mnist("train")


@pytest.fixture()
def fresh_data_state(monkeypatch):
    """Forget the in-memory copy so a test sees the source chain; restore afterwards."""
    saved = dict(data._MEMORY)
    data._MEMORY.clear()
    yield monkeypatch
    data._MEMORY.clear()
    data._MEMORY.update(saved)


@pytest.fixture()
def small_data(mnist_train):
    """2,048 real digits in [-1, 1] with labels: a real but quick training set."""
    images, labels = mnist_train
    return data.to_signed(images[:2048]), labels[:2048]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
