import numpy as np
import pytest
import torch

import cgan_lib
from cgan_lib.export import export_onnx
from cgan_lib.models import build


def test_onnx_matches_torch_for_the_same_z_and_labels(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    G = cgan_lib.pretrained("cdcgan")
    path = export_onnx(G, tmp_path / "g.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    z = torch.randn(16, G.z_dim, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(16) % 10
    pixels = session.run(None, {"z": z.numpy(), "labels": labels.numpy()})[0]
    with torch.no_grad():
        expected = G(z, labels).squeeze(1).numpy()
    assert pixels.shape == (16, 28, 28)
    # compare in the generator's own units, [-1, 1]
    assert np.abs(pixels / 127.5 - 1 - expected).max() < 1e-4
    assert pixels.min() >= 0 and pixels.max() <= 255


def test_unconditional_generators_are_not_exported(tmp_path):
    with pytest.raises(ValueError, match="only conditional"):
        export_onnx(build("dcgan")[0], tmp_path / "g.onnx")
