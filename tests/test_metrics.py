import json

import numpy as np
import pytest
import torch

from cgan_lib import data, metrics
from cgan_lib.__main__ import main
from cgan_lib.errors import CheckpointError


def test_frechet_distance_matches_the_closed_form_for_gaussians():
    rng = np.random.default_rng(0)
    a = rng.normal(0.0, 1.0, size=(20000, 3))
    b = rng.normal([1.0, 0.0, 0.0], [1.0, 2.0, 0.5], size=(20000, 3))
    # diagonal covariances: ||mu_a - mu_b||^2 + sum (sigma_a - sigma_b)^2 = 1 + (0 + 1 + 0.25)
    assert metrics.frechet_distance(a, b) == pytest.approx(2.25, rel=0.03)
    assert metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="at least 2 samples"):
        metrics.frechet_distance(a[:1], b)


def test_shipped_classifier_meets_its_card():
    card = json.loads(metrics.CLASSIFIER_PATH.with_suffix(".json").read_text())
    model = metrics.load_classifier()
    acc = metrics.accuracy(model, *data.load_mnist("test"))
    assert acc >= 0.993, acc
    assert acc == pytest.approx(card["test_accuracy"], abs=0.0005)
    assert "train-classifier" in card["command"] and card["seed"] == 0


def test_real_reference_is_near_perfect_and_scores_can_fail():
    ref = metrics.real_reference(2000)
    assert ref["n"] == 2000 and ref["accuracy"] > 0.99 and ref["coverage"] == 10
    assert ref["frechet_distance"] < 5
    assert min(ref["accuracy_per_label"]) > 0.95
    (images, labels), _ = metrics.reference_halves(0)
    wrong = metrics.score(images[:1000], (labels[:1000] + 1) % 10)  # every label off by one
    assert wrong["accuracy"] < 0.05
    ones = images[labels == 1][:500]  # a "collapsed generator" that only draws ones
    collapsed = metrics.score(ones)
    assert collapsed["coverage"] == 1 and collapsed["class_histogram"][1] > 490
    assert collapsed["frechet_distance"] > 10 * ref["frechet_distance"]
    noise = metrics.score(torch.randint(0, 256, (1000, 28, 28), dtype=torch.uint8))
    assert noise["frechet_distance"] > 10 * ref["frechet_distance"]


def test_halves_are_a_random_disjoint_split():
    (a, la), (b, lb) = metrics.reference_halves(0)
    assert len(a) == len(b) == 5000
    test_images, _ = data.load_mnist("test")
    # not simply the first and second half of the file (which come from different writers)
    assert not torch.equal(a[:10], test_images[:10])
    assert torch.bincount(la, minlength=10).min() > 400 and torch.bincount(lb, minlength=10).min() > 400


def test_wrong_file_for_the_classifier(tmp_path):
    other = tmp_path / "x.pt"
    torch.save({"format": "cgan_lib.gan"}, other)
    with pytest.raises(CheckpointError, match="expected the MNIST classifier"):
        metrics.load_classifier(str(other))


def test_evaluate_command_on_a_samples_file(tmp_path, capsys):
    (images, labels), _ = metrics.reference_halves(0)
    npz = tmp_path / "real.npz"
    np.savez(npz, images=images[:1000].numpy(), labels=labels[:1000].numpy())
    assert main(["evaluate", "--samples", str(npz), "--json", str(tmp_path / "s.json")]) == 0
    out = capsys.readouterr().out
    assert "real data (test half A)" in out and "Fréchet" in out
    scores = json.loads((tmp_path / "s.json").read_text())
    assert scores["real.npz"]["accuracy"] > 0.99
    bad = tmp_path / "bad.npz"
    np.savez(bad, pictures=np.zeros((3, 28, 28)))
    assert main(["evaluate", "--samples", str(bad)]) == 1
    assert "no 'images' array" in capsys.readouterr().err
