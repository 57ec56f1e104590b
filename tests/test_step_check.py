"""Chapter 4's checker: a correct step passes, and each classic mistake, written here
independently of the library's catalogue, is caught and named.
"""

import pytest
import torch
import torch.nn.functional as F

from cgan_lib.errors import BadInput
from cgan_lib.step_check import MISTAKES, check_step


def bce(logits, target):
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def step_with(
    *, detach=True, zero_d=True, zero_g=True, swap=False, g_opt="g", saturating=False
):
    """A step in the PyTorch DCGAN tutorial's style (BCE with targets), with switches
    for each mistake: a second implementation, not the library's."""

    def step(G, D, opt_g, opt_d, x, z):
        fake = G(z)
        if zero_d:
            D.zero_grad()
        real_target, fake_target = (0.0, 1.0) if swap else (1.0, 0.0)
        d_fake = D(fake.detach() if detach else fake)
        (bce(D(x), real_target) + bce(d_fake, fake_target)).backward(
            retain_graph=not detach
        )
        opt_d.step()
        if zero_g:
            G.zero_grad()
        logits = D(fake)
        loss = -bce(logits, 0.0) if saturating else bce(logits, 1.0)
        loss.backward()
        (opt_g if g_opt == "g" else opt_d).step()

    return step


def test_a_correct_step_in_another_style_passes():
    report = check_step(step_with())
    assert report.passed, str(report)
    assert max(report.max_diff.values()) <= 1e-6
    assert "PASSED" in str(report)


@pytest.mark.parametrize(
    "switches, name",
    [
        (dict(zero_d=False, zero_g=False), "no zero_grad"),
        (dict(zero_d=False), "no zero_grad for D"),
        (dict(zero_g=False), "no zero_grad for G"),
        (dict(swap=True), "swapped targets"),
        (dict(g_opt="d"), "G stepped by D's optimiser"),
        (dict(saturating=True), "saturating loss"),
    ],
)
def test_each_classic_mistake_is_named(switches, name):
    report = check_step(step_with(**switches))
    assert not report.passed
    assert report.mistake == name, str(report)
    assert name in str(report)
    assert "detach" not in str(report)  # the detach watch sees only D's own update


def test_no_detach_is_caught_whether_it_raises_or_not():
    # without retain_graph, G's graph is freed by D's backward: the error is explained
    def raises(G, D, opt_g, opt_d, x, z):
        fake = G(z)
        opt_d.zero_grad()
        (bce(D(x), 1.0) + bce(D(fake), 0.0)).backward()
        opt_d.step()
        opt_g.zero_grad()
        bce(D(fake), 1.0).backward()
        opt_g.step()

    report = check_step(raises)
    assert report.error and report.mistake == "no detach"

    # zeroing both players up front lets it run, and G's update carries D's loss
    def runs(G, D, opt_g, opt_d, x, z):
        opt_d.zero_grad(), opt_g.zero_grad()
        (bce(D(x), 1.0) + bce(D(G(z)), 0.0)).backward()
        opt_d.step()
        bce(D(G(z)), 1.0).backward()
        opt_g.step()

    report = check_step(runs)
    assert not report.passed and report.mistake == "no detach", str(report)


def test_a_step_that_moves_nothing_is_not_passed_and_the_watch_says_why():
    report = check_step(lambda G, D, opt_g, opt_d, x, z: None)
    assert not report.passed and report.mistake is None
    assert "opt_d stepped 0 times" in str(report)


def test_every_catalogued_mistake_differs_from_the_library_step():
    for name, (mistake, _) in MISTAKES.items():
        assert not check_step(mistake).passed, name


def test_an_unwritten_step_and_bad_arguments_get_clear_messages():
    def todo(G, D, opt_g, opt_d, x, z):
        raise NotImplementedError

    assert "fill in" in str(check_step(todo))
    with pytest.raises(BadInput, match="needs a function"):
        check_step("my_step")
    with pytest.raises(BadInput, match="steps"):
        check_step(step_with(), steps=1)


def test_updating_g_first_fails_without_a_false_detach_hint():
    def g_first(G, D, opt_g, opt_d, x, z):
        fake = G(z)
        opt_g.zero_grad()
        bce(D(fake), 1.0).backward()
        opt_g.step()
        opt_d.zero_grad()
        (bce(D(x), 1.0) + bce(D(fake.detach()), 0.0)).backward()
        opt_d.step()

    report = check_step(g_first)
    assert not report.passed and report.mistake is None
    assert "detach" not in str(report)


def test_chapter_4_describes_the_checkers_start_as_it_is():
    import json
    from pathlib import Path

    from cgan_lib.step_check import CHECK_CONFIG

    chapter = (
        Path(__file__).resolve().parents[1] / "notebooks" / "04_training_step.ipynb"
    )
    text = " ".join(
        " ".join(
            "".join(c["source"]) for c in json.loads(chapter.read_text())["cells"]
        ).split()
    )
    width, batch = CHECK_CONFIG["model_kwargs"]["width"], CHECK_CONFIG["batch_size"]
    assert CHECK_CONFIG["model"] == "mlp" and CHECK_CONFIG["seed"] == 0
    assert f"(the MLP GAN at width {width}, seed 0, batches of {batch})" in text
