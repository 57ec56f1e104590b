"""Quality after a number of *steps*, for comparing recipes on a busy machine.

    python bench/steps_to_quality.py NAME 'lr_g=1e-3, lr_d=1e-3' [STEP ...]

Trains TrainConfig(model="cdcgan", <the keyword arguments given>) on one CPU thread
and, at each STEP (default 300 600 900 1200 1800 2400 3000), prints one JSON line: the
accuracy of 1,000 digits (100 per label, seed 123); at steps 900, 1800 and the last,
also the accuracy of 10,000 digits (1,000 per label, seed 0), their Fréchet distance
to MNIST's 10,000 test digits (bench.py's `fd_10k`) and the class histogram of what
the classifier reads. Steps, not seconds: two of these can share a 2-core machine
without their results depending on each other; bench/bench.py converts steps to
seconds by measuring images/s on a quiet machine. The lines behind the fast recipe's
learning rate are in bench/cpu_recipes_2026-11-23.jsonl.
"""

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import quick_accuracy  # noqa: E402  (bench/bench.py, beside this)
from cgan_lib.data import mnist_tensors  # noqa: E402
from cgan_lib.digit_classifier import load_classifier  # noqa: E402
from cgan_lib.metrics import TestSetFD  # noqa: E402
from cgan_lib.run import TrainConfig, new_run  # noqa: E402
from cgan_lib.train import fit  # noqa: E402


def main():
    torch.set_num_threads(1)
    name, spec = sys.argv[1], sys.argv[2]
    steps = [int(s) for s in sys.argv[3:]] or [300, 600, 900, 1200, 1800, 2400, 3000]
    settings = eval(f"dict({spec})")  # a benchmark script's own argument, not input
    config = TrainConfig(
        model=settings.pop("model", "cdcgan"), snapshot_every=10**9, **settings
    )
    run = new_run(config, torch.device("cpu"))
    data = mnist_tensors("train", run.device)
    classifier = load_classifier()
    yardstick = TestSetFD(classifier)  # its real-digit reference is not needed here
    for step in steps:
        fit(run, steps=step, data=data, progress=False)
        G = run.generator
        line = {"name": name, "config": spec, "step": step}
        if G.num_classes:
            line["acc"] = round(quick_accuracy(G, classifier), 4)
        if step in (900, 1800, steps[-1]):
            accuracy, fd, read = yardstick.of_generator(G)
            line["fd10k"] = round(fd, 4)
            if accuracy is not None:
                line["acc10k"] = round(accuracy, 4)
            line["hist"] = torch.bincount(read, minlength=10).tolist()
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
