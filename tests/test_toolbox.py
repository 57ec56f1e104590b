"""Chapter 9's toolbox: each loss and regulariser has the property that defines it, each
is selectable, validated and resumable, and the comparison file matches the chapter."""

import json
import math
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from cgan_lib import TrainConfig, fit, losses, models, toolbox
from cgan_lib.__main__ import build_parser, main
from cgan_lib.checkpoint import load_checkpoint
from cgan_lib.errors import BadInput, CheckpointError
from cgan_lib.run import new_run, weight_settings

BOOK = Path(__file__).resolve().parents[1]


class LinearCritic(nn.Module):
    """D(x) = <w, x> + b: its input gradient is w everywhere."""

    def __init__(self, w: torch.Tensor, b: float = 0.0):
        super().__init__()
        self.w, self.b = nn.Parameter(w.flatten()), b

    def forward(self, x, y=None):
        return x.flatten(1) @ self.w + self.b


def images(n=16):
    return torch.rand(n, 1, 28, 28) * 2 - 1


@pytest.mark.parametrize("norm", [0.5, 1.0, 3.0])
def test_gradient_penalty_is_zero_at_unit_gradient_norm_and_grows_away_from_it(norm):
    w = torch.randn(784)
    D = LinearCritic(w / w.norm() * norm)
    gp = losses.gradient_penalty(D, images(), images(), None)
    assert gp.item() == pytest.approx((norm - 1) ** 2, abs=1e-5)
    if norm != 1.0:  # and its gradient pushes the norm towards 1
        gp.backward()
        assert (D.w.grad @ D.w).item() * (norm - 1) > 0


def test_r1_is_zero_where_d_is_flat_and_the_squared_slope_elsewhere():
    flat = LinearCritic(torch.zeros(784), b=3.0)
    assert losses.r1_penalty(flat, images(), None).item() == 0.0
    w = torch.randn(784)
    assert losses.r1_penalty(LinearCritic(w), images(), None).item() == pytest.approx(
        w.square().sum().item(), rel=1e-5
    )


def test_hinge_costs_nothing_beyond_the_margin_and_pushes_inside_it():
    real = torch.tensor([1.0, 2.5, 7.0], requires_grad=True)
    fake = torch.tensor([-1.0, -4.0, -9.0], requires_grad=True)
    loss = losses.hinge_discriminator_loss(real, fake)
    loss.backward()
    assert loss.item() == 0.0 and not real.grad.any() and not fake.grad.any()
    inside = losses.hinge_discriminator_loss(torch.tensor([0.5]), torch.tensor([0.0]))
    assert inside.item() == pytest.approx(0.5 + 1.0)
    fake = torch.tensor([-3.0, 2.0], requires_grad=True)
    losses.hinge_generator_loss(fake).backward()
    assert torch.equal(fake.grad, torch.full((2,), -0.5))  # raises every score


def test_lsgan_targets_are_one_for_reals_and_zero_for_fakes():
    assert losses.least_squares_discriminator_loss(
        torch.ones(4), torch.zeros(4)
    ).item() == pytest.approx(0.0)
    assert losses.least_squares_generator_loss(torch.ones(4)).item() == 0.0
    # and the loss is quadratic in the distance from the target
    assert losses.least_squares_discriminator_loss(
        torch.full((4,), 3.0), torch.full((4,), -1.0)
    ).item() == pytest.approx(0.5 * 4 + 0.5 * 1)


def test_wasserstein_losses_are_the_mean_score_gap():
    real, fake = torch.tensor([2.0, 4.0]), torch.tensor([-1.0, 1.0])
    assert losses.wasserstein_discriminator_loss(real, fake).item() == -3.0
    assert losses.wasserstein_generator_loss(fake).item() == 0.0


def test_plain_configs_add_no_auxiliary_terms():
    run = new_run(TrainConfig(model="cmlp"), device="cpu")
    x, y, z = images(4), torch.arange(4), torch.randn(4, run.G.z_dim)
    assert losses.auxiliary_d_loss(run.config, run.D, x, y, x, y, z) == 0
    assert losses.auxiliary_g_loss(run.config, run.D, x, y, z) == 0


@pytest.mark.parametrize("model", ["cmlp", "cdcgan"])
def test_spectral_norm_makes_each_weight_of_d_have_spectral_norm_one(model):
    kwargs = {"width": 16} if model == "cdcgan" else {}
    run = new_run(
        TrainConfig(model=model, model_kwargs=kwargs, spectral_norm=True), "cpu"
    )
    D = run.D.train()
    with torch.no_grad():
        for _ in range(30):  # each training-mode forward pass is one power iteration
            D(images(8), torch.arange(8))
    layers = [m for m in D.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    assert layers and all(hasattr(m, "parametrizations") for m in layers)
    for m in layers:
        sigma = torch.linalg.matrix_norm(m.weight.detach().flatten(1), ord=2)
        assert sigma.item() == pytest.approx(1.0, abs=0.02)
    plain = new_run(TrainConfig(model=model, model_kwargs=kwargs), "cpu").D
    assert not any(hasattr(m, "parametrizations") for m in plain.modules())


@pytest.mark.parametrize("model", ["cmlp", "cdcgan"])
def test_acgan_discriminator_predicts_classes_and_ignores_the_label(model):
    kwargs = {"conditioning": "acgan"} | ({"width": 16} if model == "cdcgan" else {})
    G, D = models.build(model, **kwargs)
    x = images(6)
    assert D.classify(x).shape == (6, 10)
    D.eval()
    assert torch.equal(D(x, torch.zeros(6, dtype=torch.long)), D(x, torch.arange(6)))


def test_acgan_class_loss_falls_on_real_digits_while_training(small_data):
    x, y = small_data
    config = TrainConfig(model="cmlp", model_kwargs={"conditioning": "acgan"})
    run = new_run(config, device="cpu")
    held_x, held_y = x[-512:], y[-512:]
    with torch.no_grad():
        before = losses.class_loss(run.D, held_x, held_y).item()
    fit(run, steps=40, data=(x[:-512], y[:-512]), progress=False)
    with torch.no_grad():
        after = losses.class_loss(run.D, held_x, held_y).item()
    assert before == pytest.approx(math.log(10), abs=0.3)  # chance: uniform guesses
    assert after < 0.6 * before


def test_latent_code_draws_each_category_equally_often_from_z_alone():
    z = torch.randn(200_000, 8, generator=torch.Generator().manual_seed(0))
    for k in (2, 10):
        share = torch.bincount(models.latent_code(z, k), minlength=k) / len(z)
        assert share.sub(1 / k).abs().max() < 0.005
    # only the first coordinate decides, and it decides monotonically
    w = z.clone()
    w[:, 1:] = 0
    assert torch.equal(models.latent_code(w, 10), models.latent_code(z, 10))
    ramp = torch.linspace(-4, 4, 101)[:, None].expand(-1, 8)
    assert models.latent_code(ramp, 10).diff().ge(0).all()


def test_code_changes_the_image_and_the_code_head_reads_one_logit_per_category():
    G, D = models.build("dcgan", width=16, codes=10)
    G.eval()
    z = torch.randn(200, 64, generator=torch.Generator().manual_seed(1))
    assert D.infer_code(G(z)).shape == (200, 10)
    # two latents that differ only in the category (z[:, 0]) draw different images,
    # two that differ only within a category draw the same (G(z) is otherwise equal)
    codes = models.latent_code(z, 10)
    a = z[codes == 3][:1]
    other = a.clone()
    other[0, 0] = 2.5  # category 9 (above the 90% normal quantile, 1.28)
    assert models.latent_code(other, 10).item() == 9
    assert not torch.allclose(G(a), G(other))
    plain, _ = models.build("dcgan", width=16)
    assert not hasattr(plain, "codes") or plain.codes == 0


def test_infogan_code_loss_falls_while_training(small_data):
    """The defining property: G and D together make the category readable from the
    image; D's code head starts at chance (log 10) and ends well below it."""
    config = TrainConfig(model="dcgan", model_kwargs={"width": 16, "codes": 10})
    run = new_run(config, device="cpu")
    z = torch.randn(512, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        before = losses.code_loss(run.D, run.G(z), z).item()
    fit(run, steps=100, data=small_data, progress=False)
    with torch.no_grad():
        after = losses.code_loss(run.D, run.G(z), z).item()
    assert before == pytest.approx(math.log(10), abs=0.3)
    assert after < 0.4 * before  # about 0.5 after 100 steps from seeds 0 and 1


@pytest.mark.parametrize(
    "model, kwargs, message",
    [
        ("cdcgan", {"codes": 10}, "takes no option 'codes'"),
        ("mlp", {"codes": 10}, "takes no option 'codes'"),
        ("dcgan", {"codes": 1}, "at least 2 categories"),
        ("dcgan", {"codes": -3}, "codes"),
        ("dcgan", {"codes": 2.5}, "codes"),
    ],
)
def test_bad_codes_are_refused_with_a_sentence(model, kwargs, message):
    with pytest.raises(BadInput, match=message):
        TrainConfig(model=model, model_kwargs=kwargs)


RECIPES = [
    {"loss": "hinge", "spectral_norm": True},
    {"loss": "wgan-gp", "gp_weight": 5.0},
    {"loss": "lsgan", "r2": 1.0},
    {"r1": 10.0, "model_kwargs": {"conditioning": "acgan"}},
    {"model": "dcgan", "model_kwargs": {"width": 16, "codes": 10}},
]


@pytest.mark.parametrize("fields", RECIPES)
def test_each_recipe_resumes_exactly_and_refuses_other_settings(
    fields, small_data, tmp_path
):
    config = TrainConfig(**{"model": "cmlp", "batch_size": 64, **fields})
    whole = fit(config, steps=6, data=small_data, device="cpu", progress=False)
    fit(
        config, steps=3, data=small_data, device="cpu", out_dir=tmp_path, progress=False
    )
    resumed = fit(
        config, steps=6, data=small_data, device="cpu", out_dir=tmp_path, progress=False
    )
    for a, b in zip(whole.D.state_dict().values(), resumed.D.state_dict().values()):
        assert torch.equal(a, b)
    for a, b in zip(whole.G.parameters(), resumed.G.parameters()):
        assert torch.equal(a, b)
    saved = load_checkpoint(tmp_path / "checkpoint.pt")
    assert weight_settings(saved.config) == weight_settings(config)
    other = TrainConfig(model=config.model, batch_size=64)
    with pytest.raises(CheckpointError, match="other settings"):
        fit(other, steps=8, data=small_data, out_dir=tmp_path, progress=False)


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"loss": "wasserstein"}, "loss must be one of"),
        ({"r1": -1.0}, "r1"),
        ({"r2": float("nan")}, "r2"),
        ({"gp_weight": 1e9}, "gp_weight"),
        ({"spectral_norm": "yes"}, "spectral_norm must be True or False"),
        ({"loss": "hinge", "real_target": 0.9}, "cross-entropy losses"),
        ({"model_kwargs": {"conditioning": "auxiliary"}}, "conditioning must be"),
        ({"model": "mlp", "model_kwargs": {"conditioning": "acgan"}}, "no label"),
    ],
)
def test_bad_toolbox_settings_are_refused_with_a_sentence(fields, message):
    with pytest.raises(BadInput, match=message):
        TrainConfig(**{"model": "cmlp", **fields})


def test_command_line_selects_every_toolbox_option(tmp_path, capsys):
    args = [
        "train", "--model", "cmlp", "--steps", "2", "--out", str(tmp_path),
        "--loss", "wgan-gp", "--gp-weight", "5", "--spectral-norm", "--r1", "1",
        "--r2", "0.5", "--conditioning", "acgan", "--batch-size", "32",
    ]  # fmt: skip
    assert build_parser().parse_args(args).loss == "wgan-gp"
    assert main(args) == 0
    config = json.loads((tmp_path / "summary.json").read_text())["config"]
    want = TrainConfig(
        model="cmlp", loss="wgan-gp", gp_weight=5.0, spectral_norm=True, r1=1.0,
        r2=0.5, model_kwargs={"conditioning": "acgan"}, batch_size=32,
    )  # fmt: skip
    for key in ("loss", "gp_weight", "spectral_norm", "r1", "r2", "model_kwargs"):
        assert config[key] == asdict(want)[key]
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main([*args[:7], "--r1", "-2"])
    assert "--r1" in capsys.readouterr().err  # one line naming the option and range
    with pytest.raises(SystemExit):
        main([*args[:7], "--loss", "wasserstein"])
    assert "hinge" in capsys.readouterr().err  # the choices are listed


# ---- the comparison file and the chapter that reads it


def test_results_file_has_every_recipe_with_at_least_three_seeds():
    results = toolbox.load_results()
    assert len(results["seeds"]) >= 3
    assert set(results["recipes"]) == set(toolbox.RECIPES)
    assert results["command"].startswith("python bench/toolbox.py")
    for recipe in results["recipes"].values():
        for run in recipe["runs"]:
            assert set(toolbox.RUN_KEYS) <= set(run)
            assert 0 <= run["accuracy"] <= 1 and run["frechet_distance"] >= 0
            assert run["wall_seconds"] > 0
    for name, row in toolbox.summary_rows(results).items():
        accs = [r["accuracy"] for r in results["recipes"][name]["runs"]]
        assert min(accs) - 1e-9 <= row["accuracy"][0] <= max(accs) + 1e-9


def test_plot_reads_the_frechet_distance_in_times_real_digits():
    import matplotlib

    matplotlib.use("Agg")
    results = toolbox.load_results()
    rows = toolbox.summary_rows(results)
    fig = toolbox.plot(results, real_fd=2.0)
    fd_panel = fig.axes[1]
    assert "× real digits" in fd_panel.get_xlabel()
    means = fd_panel.lines[0].get_xdata()  # the error bar's centres, in row order
    expected = [row["frechet_distance"][0] / 2.0 for row in rows.values()]
    assert list(means) == pytest.approx(expected)
    assert 1.0 in [line.get_xdata()[0] for line in fd_panel.lines[1:]]  # real digits
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(BadInput, match="real_fd"):
            toolbox.plot(results, real_fd=bad)


def test_table_rows_are_the_files_means_and_verdicts():
    results = toolbox.load_results()
    text = toolbox.table(results).splitlines()
    rows = toolbox.summary_rows(results)
    base = rows[toolbox.BASELINE]
    for line, (name, row) in zip(text[2:], rows.items()):
        assert line.startswith(name)
        assert (
            f"{row['accuracy'][0] * 100:6.1f} ±{row['accuracy'][1] * 100:5.1f}" in line
        )
        assert f"{row['frechet_distance'][0]:6.1f}" in line
        if name != toolbox.BASELINE:
            assert line.count("beyond noise") == sum(
                toolbox.verdict(row[m], base[m]) == "beyond noise"
                for m in toolbox.METRICS
            )
    assert all(len(line) <= 76 for line in text)


def test_verdict_calls_small_differences_noise():
    assert toolbox.verdict((1.0, 0.1), (1.15, 0.05)) == "noise"
    assert toolbox.verdict((1.0, 0.1), (1.25, 0.05)) == "beyond noise"


def test_findings_name_recipes_at_chance_with_their_classes_drawn():
    results = json.loads(json.dumps(toolbox.load_results()))
    name = next(n for n in results["recipes"] if n != toolbox.BASELINE)
    for run in results["recipes"][name]["runs"]:
        run["accuracy"], run["classes_drawn"] = 0.1, 1
    bullet = next(b for b in toolbox.findings(results).splitlines() if "At chance" in b)
    assert f"{name} (classes drawn per seed: 1, 1, 1)" in bullet


def test_chapter_draws_its_table_and_plot_from_the_results_file():
    nb = json.loads((BOOK / "notebooks" / "09_gan_toolbox.ipynb").read_text())
    code = "\n".join(
        "".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"
    )
    assert "toolbox.load_results()" in code
    assert (
        "toolbox.table(results)" in code
        and "toolbox.plot(results, real_fd=real_fd)" in code
    )
    text = "\n".join("".join(c["source"]) for c in nb["cells"])
    assert "python bench/toolbox.py" in text
    readme = (BOOK / "bench" / "README.md").read_text()
    assert toolbox.load_results()["command"].strip() in readme


def test_findings_place_every_recipe_once_per_metric():
    results = toolbox.load_results()
    bullets = toolbox.findings(results).splitlines()
    rows = toolbox.summary_rows(results)
    named = sorted(n for n in rows if n != toolbox.BASELINE)
    for bullet, metric in zip(bullets, toolbox.METRICS):
        groups = dict(
            part.split(": ", 1)
            for part in bullet.split(f"vs {toolbox.BASELINE}: ")[1][:-1].split("; ")
        )
        listed = [n for names in groups.values() for n in names.split(", ")]
        assert sorted(n for n in listed if n != "none") == named
        for name in groups["within the noise"].split(", "):
            if name != "none":
                assert (
                    toolbox.verdict(rows[name][metric], rows[toolbox.BASELINE][metric])
                    == "noise"
                )


def test_add_spectral_norm_parametrizes_every_linear_and_conv_layer():
    _, D = models.build("cdcgan", width=16)
    models.add_spectral_norm(D)
    for m in D.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            assert "weight" in m.parametrizations
        if isinstance(m, nn.Embedding):
            assert not hasattr(m, "parametrizations")
