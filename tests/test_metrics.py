import json

import numpy as np
import pytest
import torch

from cgan_lib import data, digit_classifier, distances, memorisation, metrics
from cgan_lib.__main__ import main
from cgan_lib.errors import CheckpointError
from cgan_lib.models import build

# ------------------------------------------------------------------------------------
# The Fréchet distance, on samples whose mean and covariance are known exactly.


def with_moments(n, mean, cov, seed=0):
    """n samples whose sample mean is `mean` and sample covariance (ddof 1) is `cov`."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(mean)))
    x -= x.mean(0)
    x = x @ np.linalg.inv(np.linalg.cholesky(np.cov(x, rowvar=False))).T  # whiten
    return x @ np.linalg.cholesky(cov).T + mean


def psd_sqrt(m):
    w, v = np.linalg.eigh(m)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_closed_form(mu_a, s_a, mu_b, s_b):
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2), by eigh."""
    root = psd_sqrt(s_a)
    cross = psd_sqrt(root @ s_b @ root)
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a + s_b - 2 * cross))


def test_the_sample_helper_has_the_exact_moments():
    cov = np.array([[2.0, 0.3], [0.3, 0.5]])
    x = with_moments(50, np.array([1.0, -2.0]), cov)
    assert np.allclose(x.mean(0), [1, -2]) and np.allclose(np.cov(x, rowvar=False), cov)


def test_frechet_distance_of_diagonal_gaussians():
    # ||mu_a - mu_b||^2 + sum (sigma_a - sigma_b)^2 = 1 + (0 + 1 + 0.25)
    a = with_moments(500, np.zeros(3), np.eye(3))
    b = with_moments(500, np.array([1.0, 0, 0]), np.diag([1.0, 4.0, 0.25]), seed=1)
    assert distances.frechet_distance(a, b) == pytest.approx(2.25, abs=1e-9)
    assert distances.frechet_distance(b, a) == pytest.approx(2.25, abs=1e-9)
    assert distances.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_of_scaled_and_rotated_covariances():
    s_a = np.array([[4.0, 1.0], [1.0, 1.0]])
    a = with_moments(300, np.zeros(2), s_a)
    # S_b = c^2 S_a: the covariance term is (1 - c)^2 Tr(S_a)
    b = with_moments(300, np.array([0.0, 3.0]), 9 * s_a, seed=1)
    assert distances.frechet_distance(a, b) == pytest.approx(9 + 4 * 5, abs=1e-8)
    # the same covariance turned by 90 degrees: diag eigenvalues swap places
    turn = np.array([[0.0, -1.0], [1.0, 0.0]])
    c = with_moments(300, np.zeros(2), turn @ s_a @ turn.T, seed=2)
    want = frechet_closed_form(np.zeros(2), s_a, np.zeros(2), turn @ s_a @ turn.T)
    assert distances.frechet_distance(a, c) == pytest.approx(want, abs=1e-8)
    assert want > 1  # not a trivial zero


def test_frechet_distance_of_random_covariances_and_its_invariances():
    rng = np.random.default_rng(3)
    m_a, m_b = rng.normal(size=(2, 6, 6))
    s_a, s_b = m_a @ m_a.T + 0.1 * np.eye(6), m_b @ m_b.T + 0.1 * np.eye(6)
    mu_a, mu_b = rng.normal(size=(2, 6))
    a, b = with_moments(400, mu_a, s_a), with_moments(400, mu_b, s_b, seed=1)
    want = frechet_closed_form(mu_a, s_a, mu_b, s_b)
    assert distances.frechet_distance(a, b) == pytest.approx(want, rel=1e-8)
    # moving both sets together changes nothing; torch tensors are accepted
    shift = rng.normal(size=6)
    moved = distances.frechet_distance(torch.tensor(a + shift), torch.tensor(b + shift))
    assert moved == pytest.approx(want, rel=1e-8)
    with pytest.raises(ValueError, match="at least 2 samples"):
        distances.frechet_distance(a[:1], b)


def test_frechet_distance_of_singular_covariances_is_finite():
    a = with_moments(100, np.zeros(2), np.eye(2))
    flat = np.zeros((100, 3))
    flat[:, :2] = a  # a third feature that never varies: S is singular
    value = distances.frechet_distance(flat, flat + [1.0, 0, 0])
    assert value == pytest.approx(1.0, abs=1e-4)


# ------------------------------------------------------------------------------------
# The classifier and the scores built on it.


def test_shipped_classifier_meets_its_card():
    card = json.loads(digit_classifier.CLASSIFIER_PATH.with_suffix(".json").read_text())
    model = digit_classifier.load_classifier()
    acc = digit_classifier.accuracy(model, *data.load_mnist("test"))
    assert acc >= 0.993, acc
    assert acc == pytest.approx(card["test_accuracy"], abs=0.0005)
    assert "train-classifier" in card["command"] and card["seed"] == 0
    assert f"--epochs {card['epochs']}" in card["command"]


def test_predict_and_accuracy_on_known_digits():
    model = digit_classifier.load_classifier()
    (images, labels), _ = data.reference_halves(0)
    images, labels = images[:300], labels[:300]
    predicted, features = digit_classifier.predict(model, images)
    assert predicted.shape == (300,) and predicted.dtype == torch.int64
    assert features.shape == (300, 128) and features.dtype == torch.float64
    # uint8 pictures and the generator's [-1, 1] scale are read the same
    again, _ = digit_classifier.predict(model, data.to_signed(images))
    assert torch.equal(predicted, again)
    right = (predicted == labels).float().mean().item()
    assert digit_classifier.accuracy(model, images, labels) == right > 0.97
    assert digit_classifier.accuracy(model, images, (labels + 1) % 10) < 0.05
    assert digit_classifier.accuracy(model, images, predicted) == 1.0


def test_score_reports_accuracy_per_label_and_classes_drawn():
    (images, labels), _ = data.reference_halves(0)
    keep = labels < 3  # only zeros, ones and twos
    s = metrics.score(images[keep][:600], labels[keep][:600])
    assert s["n"] == 600 and sum(s["class_histogram"]) == 600
    assert (
        s["classes_drawn"] == 3 and sum(s["class_histogram"][3:]) < 6
    )  # a few misread
    assert [a is None for a in s["accuracy_per_label"]] == [False] * 3 + [True] * 7
    assert all(a > 0.97 for a in s["accuracy_per_label"][:3])
    unlabelled = metrics.score(images[:200])
    assert "accuracy" not in unlabelled and unlabelled["n"] == 200


def test_real_reference_is_near_perfect_and_scores_can_fail():
    ref = metrics.real_reference(2000)
    assert ref["n"] == 2000 and ref["accuracy"] > 0.99 and ref["classes_drawn"] == 10
    assert ref["frechet_distance"] < 5
    assert min(ref["accuracy_per_label"]) > 0.95
    (images, labels), _ = data.reference_halves(0)
    wrong = metrics.score(images[:1000], (labels[:1000] + 1) % 10)  # labels off by 1
    assert wrong["accuracy"] < 0.05
    ones = images[labels == 1][:500]  # a "collapsed generator" that only draws ones
    collapsed = metrics.score(ones)
    assert collapsed["classes_drawn"] == 1 and collapsed["class_histogram"][1] > 490
    assert collapsed["frechet_distance"] > 10 * ref["frechet_distance"]
    noise = metrics.score(torch.randint(0, 256, (1000, 28, 28), dtype=torch.uint8))
    assert noise["frechet_distance"] > 10 * ref["frechet_distance"]
    with pytest.raises(ValueError, match="reference half has 5000 digits"):
        metrics.real_reference(5001)


def test_halves_are_a_random_disjoint_split_of_the_test_set():
    (a, la), (b, lb) = data.reference_halves(0)
    test_images, test_labels = data.load_mnist("test")
    assert len(a) == len(b) == 5000

    # together they are the test set, each digit once (compared as sorted rows)
    def rows(images, labels):
        table = torch.cat([images.flatten(1).long(), labels[:, None]], 1)
        return sorted(map(tuple, table.tolist()))

    assert rows(torch.cat([a, b]), torch.cat([la, lb])) == rows(
        test_images, test_labels
    )
    # not simply the first and second half of the file (which come from different
    # writers), balanced, reproducible, and another seed splits otherwise
    assert not torch.equal(a[:10], test_images[:10])
    assert torch.bincount(la, minlength=10).min() > 400
    assert torch.bincount(lb, minlength=10).min() > 400
    assert torch.equal(data.reference_halves.__wrapped__(0)[0][0], a)
    assert not torch.equal(data.reference_halves(1)[0][0], a)


def test_evaluate_generator_scores_what_it_draws():
    torch.manual_seed(0)
    G = build("cdcgan", width=8)[0]
    s = metrics.evaluate_generator(G, per_class=3, seed=0)
    assert s["n"] == 30 and len(s["accuracy_per_label"]) == 10
    assert 0 <= s["accuracy"] <= 1 and s["seconds"] > 0
    # an untrained generator draws grey noise: far from real digits (at n = 30 both
    # FDs carry a large small-sample bias, so the margin is smaller than at n = 1000)
    real = metrics.real_reference(30)
    assert s["frechet_distance"] > 4 * real["frechet_distance"]
    assert s["kid"] > 0.1 > abs(real["kid"])
    G_u = build("dcgan", width=8)[0]
    u = metrics.evaluate_generator(G_u, per_class=3, seed=0)
    assert u["n"] == 30 and "accuracy" not in u and sum(u["class_histogram"]) == 30


def test_format_table_shows_every_score_with_its_spread():
    full = {name: 0.5 for name in metrics.SCORE_NAMES}
    full |= {f"{name}_std": 0.01 for name in metrics.SCORE_NAMES}
    full |= {"n": 5000, "draws": 5, "draw_size": 1000, "classes_drawn": 10}
    full["frechet_distance"], full["kid"] = 0.3412, 0.00123
    unlabelled = {k: v for k, v in full.items() if not k.startswith("accuracy")}
    single = dict(unlabelled, draws=1, frechet_distance_std=None)
    rows = {"cdcgan": full, "a very long model name": unlabelled, "one": single}
    blocks = metrics.format_table(rows).split("\n\n")
    assert len(blocks) == 3
    for block in blocks:
        lines = block.splitlines()
        assert len(lines) == 2 + len(rows) and set(lines[1]) == {"-"}
        assert len({len(line) for line in lines}) == 1  # columns line up
        assert len(lines[0]) <= 76
        assert lines[2].startswith("cdcgan ")
        assert lines[3].startswith("a very long mode ")  # cut to its column
    first, second, third = (block.splitlines() for block in blocks)
    assert first[0].split() == ["model", "accuracy", "Fréchet", "FD", "mean"] + [
        "FD",
        "cov",
        "classes",
    ]
    assert first[2].split()[1:] == ["0.500±0.010", "0.34±0.01", "0.50±0.01"] + [
        "0.50±0.01",
        "10",
    ]
    assert first[3].split()[4] == "-"  # no accuracy without labels
    assert first[4].split()[2] == "0.34±?"  # one draw: no spread to show
    assert second[2].split()[1:3] == ["1.23±10.00", "0.500±0.010"]  # KID x 1000
    assert third[2].split()[1:4] == ["5000", "5x1000", "0.500±0.010"]


def test_wrong_file_for_the_classifier(tmp_path):
    other = tmp_path / "x.pt"
    torch.save({"format": "cgan_lib.gan"}, other)
    with pytest.raises(CheckpointError, match="expected the MNIST classifier"):
        digit_classifier.load_classifier(str(other))


def test_evaluate_command_on_a_samples_file(tmp_path, capsys):
    (images, labels), _ = data.reference_halves(0)
    npz = tmp_path / "real.npz"
    np.savez(npz, images=images[:1000].numpy(), labels=labels[:1000].numpy())
    assert (
        main(["evaluate", "--samples", str(npz), "--json", str(tmp_path / "s.json")])
        == 0
    )
    out = capsys.readouterr().out
    assert "real data (test half A)" in out and "Fréchet" in out
    scores = json.loads((tmp_path / "s.json").read_text())
    assert list(scores) == ["real.npz", "real data (test half A)"]
    mine = scores["real.npz"]
    assert mine == json.loads(json.dumps(metrics.score(images[:1000], labels[:1000])))
    assert mine["n"] == 1000 and mine["accuracy"] > 0.99 and mine["classes_drawn"] == 10
    assert 0 <= mine["frechet_distance"] < 5
    # the same digits in the generator's scale [-1, 1] get the same scores
    signed = tmp_path / "signed.npz"
    np.savez(signed, images=data.to_signed(images[:1000]).numpy())
    assert (
        main(["evaluate", "--samples", str(signed), "--json", str(tmp_path / "t.json")])
        == 0
    )
    other = json.loads((tmp_path / "t.json").read_text())["signed.npz"]
    assert other["frechet_distance"] == pytest.approx(mine["frechet_distance"])
    bad = tmp_path / "bad.npz"
    np.savez(bad, pictures=np.zeros((3, 28, 28)))
    assert main(["evaluate", "--samples", str(bad)]) == 1
    assert "no 'images' array" in capsys.readouterr().err


# ------------------------------------------------------------------------------------
# Kernel distance, neighbour scores, spreads, memorisation (issue 15).


def test_kernel_distance_is_unbiased_where_the_frechet_distance_is_not():
    rng = np.random.default_rng(0)
    kid, fd = [], []
    for _ in range(40):  # two draws of one 8-d Gaussian, 20 points each
        a, b = rng.normal(size=(2, 20, 8))
        kid.append(distances.kernel_distance(a, b))
        fd.append(distances.frechet_distance(a, b))
    # KID averages to ~0 (within 3 standard errors); FD stays well above 0
    assert abs(np.mean(kid)) < 3 * np.std(kid) / np.sqrt(len(kid))
    assert np.mean(fd) > 10 * np.std(fd) / np.sqrt(len(fd))
    a, b = rng.normal(size=(2, 200, 8))
    assert distances.kernel_distance(a, b + 1) > 20 * abs(
        distances.kernel_distance(a, b)
    )
    with pytest.raises(ValueError, match="at least 2 samples"):
        distances.kernel_distance(a[:1], b)


def test_frechet_terms_split_mean_from_covariance():
    a = with_moments(500, np.zeros(3), np.eye(3))
    b = with_moments(500, np.array([1.0, 0, 0]), np.diag([1.0, 4.0, 0.25]), seed=1)
    mean_term, cov_term = distances.frechet_terms(a, b)
    assert mean_term == pytest.approx(1.0) and cov_term == pytest.approx(1.25)


def test_precision_falls_for_off_manifold_fakes_and_recall_for_narrow_ones():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(400, 4))
    same = distances.prdc(real, rng.normal(size=(400, 4)))
    far = distances.prdc(real, rng.normal(size=(400, 4)) + 3)  # unrealistic fakes
    narrow = distances.prdc(real, 0.2 * rng.normal(size=(400, 4)))  # no variety
    assert same["precision"] > 0.8 and same["recall"] > 0.8
    assert 0.7 < same["density"] < 1.3 and same["coverage"] > 0.8
    assert far["precision"] < 0.2 and far["coverage"] < 0.2
    assert narrow["precision"] > 0.9 and narrow["recall"] < 0.3
    assert narrow["coverage"] < 0.3
    with pytest.raises(ValueError, match="more than k = 5 samples"):
        distances.prdc(real[:5], real)


def test_scores_come_with_spreads_and_per_class_values():
    s = metrics.real_reference(1000)
    assert s["draws"] == 5 and s["draw_size"] == 200
    for name in metrics.SCORE_NAMES:
        assert s[name] is not None and s[f"{name}_std"] >= 0, name
    assert s["frechet_distance"] == pytest.approx(s["fd_mean_term"] + s["fd_cov_term"])
    assert 0.8 < s["precision"] <= 1 and 0.8 < s["recall"] <= 1
    assert 0.8 < s["coverage"] <= 1 and s["copies"] < 0.05
    for name in metrics.PER_CLASS_NAMES:
        assert len(s["per_class"][name]) == 10 and min(s["per_class"][name]) > 0.5
    # one class removed: that class's coverage and recall drop, overall ones too
    (images, labels), _ = data.reference_halves(0)
    no_sevens = metrics.score(images[labels != 7][:1000], labels[labels != 7][:1000])
    assert no_sevens["per_class"]["coverage"][7] is None
    assert no_sevens["coverage"] < s["coverage"] - 0.05  # 7s own ~10% of real balls
    with pytest.raises(ValueError, match="repeats"):
        metrics.score(images[:100], repeats=0)


def test_a_copycat_is_caught_by_memorisation_and_by_nothing_else():
    real = metrics.real_reference(500)
    images, labels = memorisation.copycat_digits(500)
    copycat = metrics.score(images, labels)
    assert copycat["copies"] == 1.0 and real["copies"] < 0.05
    # (cdist's matrix-product form leaves rounding of ~1e-3 around 0)
    assert copycat["nearest_train_pixels"] < 0.01 < real["nearest_train_pixels"]
    assert copycat["accuracy"] > 0.99 and copycat["precision"] > 0.8
    near = memorisation.nearest_training_digits(images[:20])
    train_images, _ = data.load_mnist("train")
    assert torch.equal(train_images[near["pixel_index"]], images[:20])
    assert near["pixels"].max() < 0.01
    # a copy with one pixel changed is still a copy
    touched = images[:20].clone()
    touched[:, 0, 0] = 255
    assert (memorisation.nearest_training_digits(touched)["pixels"] < 1.01).all()
    assert memorisation.copy_threshold() > 1.01


# ------------------------------------------------------------------------------------
# The book's yardstick: TestSetFD's real-digit reference is computed once and kept.


def test_test_set_fd_reference_is_kept_on_disk_and_checked(tmp_path, monkeypatch):
    monkeypatch.setattr(metrics, "cache_dir", lambda: tmp_path)
    monkeypatch.setattr(metrics.TestSetFD, "REFERENCE_SEEDS", range(2))
    first = metrics.TestSetFD()
    draws = first.reference_draws
    assert len(draws) == 2 and draws[0] != draws[1]  # two different draws
    assert 0 < first.reference < 1  # real digits sit close to the test set
    path = tmp_path / metrics.REFERENCE_CACHE_NAME
    stored = json.loads(path.read_text())
    assert stored["format"] == metrics.REFERENCE_CACHE_FORMAT
    assert stored["draws"] == draws

    # A second yardstick reads the file: it never loads the training digits.
    real_load = metrics.load_mnist

    def test_split_only(split="train"):
        assert split == "test", "the reference was recomputed, not read"
        return real_load(split)

    monkeypatch.setattr(metrics, "load_mnist", test_split_only)
    assert metrics.TestSetFD(first.classifier).reference_draws == draws
    monkeypatch.setattr(metrics, "load_mnist", real_load)

    # A damaged file, or one made for other seeds, is recomputed, never trusted.
    for damaged in ("{not json", json.dumps({**stored, "draws": [0.0, float("nan")]})):
        path.write_text(damaged)
        assert metrics.TestSetFD(first.classifier).reference_draws == draws
    monkeypatch.setattr(metrics.TestSetFD, "REFERENCE_SEEDS", range(1))
    assert metrics.TestSetFD(first.classifier).reference_draws == draws[:1]
    assert json.loads(path.read_text())["key"]["seeds"] == [0]


def test_test_set_fd_of_the_test_digits_is_zero():
    yardstick = metrics.TestSetFD()
    images, labels = data.load_mnist("test")
    accuracy, fd, _ = yardstick.of_images(images, labels)
    assert abs(fd) < 1e-3 and accuracy > 0.98
