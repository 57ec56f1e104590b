import imageio.v3 as iio
import numpy as np
import pytest
import torch

import cgan_lib
from cgan_lib.__main__ import main
from cgan_lib.checkpoint import save_generator
from cgan_lib.export import export_onnx
from cgan_lib.models import build
from cgan_lib.run import TrainConfig, new_run
from cgan_lib.sample import sample_by_label
from cgan_lib.viz import grid, upscale


def run_onnx(path, z, labels):
    ort = pytest.importorskip("onnxruntime")  # pinned in requirements.txt
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"z": z.numpy(), "labels": labels.numpy()})[0]


def test_onnx_matches_torch_for_the_same_z_and_labels(tmp_path):
    G = cgan_lib.pretrained("cdcgan")
    path = export_onnx(G, tmp_path / "g.onnx")
    # another batch size than the export's: the batch dimension is dynamic
    z = torch.randn(16, G.z_dim, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(16) % 10
    pixels = run_onnx(path, z, labels)
    with torch.no_grad():
        expected = G(z, labels).squeeze(1).numpy()
    assert pixels.shape == (16, 28, 28) and pixels.dtype == np.float32
    # bytes-valued floats: (x + 1) * 127.5, white ink on black
    assert np.abs(pixels / 127.5 - 1 - expected).max() < 1e-4
    assert pixels.min() >= 0 and pixels.max() <= 255
    # the label input matters: the same z as a 3 and as an 8
    same_z = z[:1].repeat(2, 1)
    three, eight = run_onnx(path, same_z, torch.tensor([3, 8]))
    assert np.abs(three - eight).mean() > 10


def test_a_self_conditioned_generator_exports_with_its_clusters(tmp_path):
    G = build("cdcgan", width=8, refine=False, clusters=3)[0].eval()
    G.code_prior.copy_(torch.tensor([0.6, 0.3, 0.1]).repeat(10, 1))
    path = export_onnx(G, tmp_path / "g.onnx")
    z = torch.randn(300, G.z_dim, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(300) % 10
    with torch.no_grad():
        expected = G(z, labels).squeeze(1).numpy()
    # the graph draws the same cluster from z[:, 0] as torch does, for every z
    assert np.abs(run_onnx(path, z, labels) / 127.5 - 1 - expected).max() < 1e-4


def test_unconditional_generators_are_not_exported(tmp_path):
    with pytest.raises(ValueError, match="only conditional"):
        export_onnx(build("dcgan", width=8)[0], tmp_path / "g.onnx")
    assert not (tmp_path / "g.onnx").exists()


def test_export_command_writes_the_model_and_its_fallback_picture(tmp_path):
    run = new_run(TrainConfig(model="cmlp", model_kwargs={"width": 8}), "cpu")
    checkpoint = save_generator(run, tmp_path / "generator.pt")
    out, fallback = tmp_path / "web" / "g.onnx", tmp_path / "web" / "fallback.png"
    args = ["export-onnx", "--checkpoint", str(checkpoint), "--out", str(out)]
    assert main([*args, "--fallback", str(fallback)]) == 0
    G = cgan_lib.load_generator(checkpoint)
    z, labels = torch.randn(3, G.z_dim), torch.tensor([0, 5, 9])
    with torch.no_grad():
        want = ((G(z, labels) + 1) * 127.5).clamp(0, 255).squeeze(1).numpy()
    assert np.abs(run_onnx(out, z, labels) - want).max() < 1e-3
    # the picture for pages without JavaScript: 8 samples of each digit, a row each
    picture = iio.imread(fallback)
    assert picture.shape == (2 * (2 + 10 * 30), 2 * (2 + 8 * 30))
    images, _ = sample_by_label(G, 8, seed=0)
    assert np.array_equal(picture, upscale(grid(images, nrow=8), 2))
