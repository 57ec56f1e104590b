"""Export a conditional generator to ONNX, so a web page can run it with onnxruntime-web
(no Python, no kernel).

    python -m cgan_lib export-onnx --checkpoint cgan_lib/pretrained/cdcgan.pt \\
        --out cdcgan.onnx

The exported graph takes z (N, z_dim) float32 and labels (N,) int64 and returns pixels
(N, 28, 28) float32 in 0..255 (white ink on black), so the page only copies numbers into
a canvas.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from .errors import BadInput

OPSET = 17  # supported by onnxruntime-web's wasm backend


class PixelGenerator(nn.Module):
    """G(z, y) in [-1, 1] (N, 1, 28, 28) -> bytes-valued floats (N, 28, 28); what a
    canvas wants.
    """

    def __init__(self, G: nn.Module):
        super().__init__()
        self.G = G

    def forward(self, z, labels):
        return ((self.G(z, labels) + 1) * 127.5).clamp(0, 255).squeeze(1)


def export_onnx(G: nn.Module, path: str | Path, opset: int = OPSET) -> Path:
    """Write the conditional generator G (in eval mode) to one self-contained .onnx
    file.
    """
    if not G.num_classes:
        raise BadInput(
            "only conditional generators are exported (the page asks for a digit)"
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = PixelGenerator(G).eval()
    z = torch.zeros(2, G.z_dim)
    labels = torch.tensor([0, 1])
    # The TorchScript-based exporter writes one file with the weights inside and needs
    # no extra packages.
    # Labels are checked on the way in (models.check_labels); tracing records the
    # arithmetic only.
    with torch.no_grad():
        torch.onnx.export(
            model,
            (z, labels),
            str(path),
            input_names=["z", "labels"],
            output_names=["pixels"],
            dynamic_axes={"z": {0: "n"}, "labels": {0: "n"}, "pixels": {0: "n"}},
            opset_version=opset,
            dynamo=False,
        )
    return path
