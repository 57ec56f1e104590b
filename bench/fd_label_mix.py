"""Why issue 17's yardstick draws digits with the test set's label counts.

    python bench/fd_label_mix.py > bench/fd_label_mix_2026-11-23.txt

Real MNIST training digits, 10,000 at a time, scored against the 10,000 test digits with
cgan_lib.metrics.TestSetFD (the project classifier's features), for three ways of
choosing them, 5 draws each: 1,000 per label (what the yardstick drew before), at random
(the training set's own mix, which varies from draw to draw), and with the test set's
label counts (what it draws now). A perfect conditional generator is charged whatever
the real digits drawn the same way score.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cgan_lib.data import load_mnist  # noqa: E402
from cgan_lib.digit_classifier import load_classifier  # noqa: E402
from cgan_lib.metrics import TestSetFD, draw_by_label  # noqa: E402


def main() -> None:
    yardstick = TestSetFD(load_classifier())
    train, labels = load_mnist("train")
    test_counts = torch.bincount(yardstick.labels, minlength=10)
    print(f"test set's label counts: {test_counts.tolist()}")
    print("10,000 training digits against the 10,000 test digits, 5 draws each:")
    ways = {
        "1,000 per label": lambda s: draw_by_label(labels, [1000] * 10, s),
        "at random": lambda s: torch.randperm(
            len(train), generator=torch.Generator().manual_seed(s)
        )[:10_000],
        "the test set's label counts": lambda s: draw_by_label(labels, test_counts, s),
    }
    for name, pick in ways.items():
        fds = [yardstick.of_images(train[pick(s)])[1] for s in range(5)]
        print(
            f"{name:>27}: FD {statistics.fmean(fds):.4f} ± {statistics.stdev(fds):.4f}"
            f" ({', '.join(f'{x:.3f}' for x in fds)})"
        )


if __name__ == "__main__":
    main()
