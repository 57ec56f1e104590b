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


def _read_gif(path):
    """A GIF's frames as grey uint8 arrays, and each frame's duration in ms.

    Pillow's writer merges a run of identical frames into one frame shown for their
    total time, so a held frame shows up as a longer duration, not as more frames.
    """
    import imageio.v3 as iio
    from PIL import Image

    pixels = iio.imread(path, index=None)
    frames = [f[..., 0] if f.ndim == 3 else f for f in pixels]  # grey: R = G = B
    durations = []
    with Image.open(path) as gif:
        assert gif.info.get("loop") == 0, "the GIF should loop forever"
        for i in range(gif.n_frames):
            gif.seek(i)
            durations.append(gif.info["duration"])
    assert len(durations) == len(frames)
    return frames, durations


@pytest.fixture()
def read_gif():
    return _read_gif
