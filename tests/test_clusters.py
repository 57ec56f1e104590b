"""Self-conditioning (chapter 5): an unconditional DCGAN conditioned on k-means clusters
of the training digits, which it draws off z itself; and the conditional DCGAN
conditioned on clusters of each digit's images (chapter 8).
"""

import pytest
import torch

from cgan_lib import TrainConfig, clusters, data, fit, models, sample
from cgan_lib.__main__ import build_parser, train_config
from cgan_lib.checkpoint import load_checkpoint, load_generator, save_generator
from cgan_lib.errors import BadInput
from cgan_lib.run import new_run


def fake_clusters(k, seed=0, per_digit=False):
    """Stands in for clusters.pixel_clusters (25 s on the full training set): k random
    centres and unequal shares (k per digit, each digit's shares a row, if
    per_digit)."""
    g = torch.Generator().manual_seed(seed)
    shares = torch.arange(1, k + 1, dtype=torch.float32)
    shares = shares / shares.sum()
    groups = 10 if per_digit else 1
    centres = torch.rand(groups * k, 784, generator=g) * 2 - 1
    return centres, (shares.repeat(10, 1) if per_digit else shares)


@pytest.fixture
def no_kmeans(monkeypatch):
    monkeypatch.setattr("cgan_lib.clusters.pixel_clusters", fake_clusters)


def test_latent_code_with_a_prior_draws_each_category_at_its_share():
    z = torch.randn(200_000, 8, generator=torch.Generator().manual_seed(0))
    prior = torch.tensor([0.5, 0.1, 0.0, 0.3, 0.1])
    share = torch.bincount(models.latent_code(z, 5, prior), minlength=5) / len(z)
    assert share.sub(prior).abs().max() < 0.005
    assert share[2] == 0  # a category with no share is never drawn
    # unnormalised shares give the same categories; a float16 file's, nearly all
    exact = models.latent_code(z, 5, prior)
    assert torch.equal(models.latent_code(z, 5, prior * 37), exact)
    assert (models.latent_code(z, 5, prior.half()) == exact).float().mean() > 0.999
    # an equal prior cuts where the uniform code does
    same = models.latent_code(z, 10, torch.full((10,), 0.1)) == models.latent_code(
        z, 10
    )
    assert same.float().mean() > 0.9999


def test_clustered_dcgan_is_unconditional_outside_and_projects_clusters_inside():
    G, D = models.build("dcgan", width=16, clusters=7)
    assert G.num_classes == 0 and G.codes == 7 and D.num_classes == 7
    assert D.conditioning == "projection" and D.centres.shape == (7, 784)
    z = torch.randn(4, G.z_dim)
    assert G(z).shape == (4, 1, 28, 28)
    with pytest.raises(BadInput, match="unconditional"):
        G(z, torch.zeros(4, dtype=torch.long))
    # D.cluster: each image's nearest centre
    D.centres.copy_(torch.rand(7, 784) * 2 - 1)
    x = D.centres[[3, 0, 6]].view(3, 1, 28, 28) + 0.01
    assert clusters.nearest_cluster(D, x).tolist() == [3, 0, 6]
    # G draws the cluster from z[:, 0] with its prior: a prior on one cluster only
    # makes every image that cluster's, whatever z
    G.code_prior.copy_(torch.eye(7)[4])
    z = torch.randn(64, G.z_dim)
    assert models.latent_code(z, 7, G.code_prior).eq(4).all()


@pytest.mark.parametrize(
    "model, kwargs, message",
    [
        ("cdcgan", {"clusters": 10, "conditioning": "concat"}, "projection"),
        ("cdcgan", {"clusters": 10, "conditioning": "acgan"}, "projection"),
        ("mlp", {"clusters": 10}, "takes no option 'clusters'"),
        ("dcgan", {"clusters": 1}, "at least 2 categories"),
        ("dcgan", {"clusters": 2000}, "clusters"),
        ("dcgan", {"clusters": 10, "codes": 10}, "not both"),
    ],
)
def test_bad_clusters_are_refused_with_a_sentence(model, kwargs, message):
    with pytest.raises(BadInput, match=message):
        TrainConfig(model=model, model_kwargs=kwargs)


def test_pixel_clusters_group_digits_without_labels(mnist_train):
    centres, shares = clusters.pixel_clusters(10, seed=0)
    assert centres.shape == (10, 784) and shares.shape == (10,)
    assert centres.min() >= -1 - 1e-5 and centres.max() <= 1 + 1e-5  # means of pixels
    assert shares.sum().item() == pytest.approx(1, abs=1e-6) and shares.min() > 0
    # the clusters say something about the digits, which they never saw: far more
    # digits share their cluster's most common label than chance (10%) would give
    images, labels = mnist_train
    x = data.to_signed(images[:5000]).flatten(1)
    nearest = torch.cdist(x, centres).argmin(1)
    counts = torch.zeros(10, 10)
    counts.index_put_((nearest, labels[:5000]), torch.ones(5000), accumulate=True)
    purity = counts.max(1).values.sum() / 5000
    assert purity > 0.5  # 0.63 for seed 0
    # reproducible for a seed (the cache is bypassed)
    again, _ = clusters.pixel_clusters.__wrapped__(10, seed=0)
    assert torch.allclose(again, centres)


def test_new_run_sets_centres_and_prior_and_loading_never_reclusters(
    no_kmeans, monkeypatch, small_data, tmp_path
):
    config = TrainConfig(model="dcgan", model_kwargs={"width": 16, "clusters": 5})
    run = new_run(config, device="cpu")
    centres, shares = fake_clusters(5, config.seed)
    assert torch.equal(run.D.centres, centres)
    assert torch.equal(run.G.code_prior, shares)
    run = fit(run, steps=3, data=small_data, progress=False, out_dir=tmp_path)
    save_generator(run, tmp_path / "g.pt")

    def refuse(*args):
        raise AssertionError("loading a saved run must not cluster again")

    monkeypatch.setattr("cgan_lib.clusters.pixel_clusters", refuse)
    back = load_checkpoint(tmp_path / "checkpoint.pt")
    assert torch.equal(back.D.centres, run.D.centres)
    G = load_generator(tmp_path / "g.pt")
    assert torch.allclose(G.code_prior, shares, atol=1e-3)  # float16 in the file
    images = sample.generate(G, n=8, seed=0)
    assert images.shape == (8, 1, 28, 28) and images.abs().max() <= 1


def test_discriminator_sees_real_clusters_and_the_clusters_g_drew(
    no_kmeans, monkeypatch, small_data
):
    config = TrainConfig(model="dcgan", model_kwargs={"width": 16, "clusters": 5})
    run = new_run(config, device="cpu")
    seen = []
    forward = run.D.forward

    def spy(x, y=None):
        seen.append(y)
        return forward(x, y)

    monkeypatch.setattr(run.D, "forward", spy)
    x, _ = small_data
    x = x[: config.batch_size]
    fit(run, steps=1, data=(x, torch.zeros(len(x), dtype=torch.long)), progress=False)
    y_real, y_fake = seen[0], seen[1]
    # real: each digit's nearest centre (the batch is x, shuffled)
    assert torch.equal(
        y_real.sort().values, clusters.nearest_cluster(run.D, x).sort().values
    )
    assert len(y_real.unique()) > 1
    assert y_fake is not None and y_fake.max() < 5  # fake: the cluster G drew
    # the clusters G drew follow its prior (shares 1:2:3:4:5 of 15)
    counts = torch.bincount(y_fake, minlength=5)
    assert counts[4] > counts[0]


def test_command_line_sets_clusters():
    args = build_parser().parse_args(
        "train --model dcgan --clusters 100 --recipe plain --steps 9 --out x".split()
    )
    config, _ = train_config(args, torch.device("cpu"))
    assert config.model_kwargs["clusters"] == 100
    with pytest.raises(SystemExit):
        build_parser().parse_args("train --clusters x --steps 9 --out x".split())


# The conditional DCGAN with clusters within each digit (chapter 8)


def test_latent_code_with_one_prior_per_row_draws_each_rows_shares():
    n = 100_000
    z = torch.randn(2 * n, 8, generator=torch.Generator().manual_seed(1))
    rows = torch.tensor([[0.7, 0.2, 0.1, 0.0], [0.1, 0.1, 0.1, 0.7]])
    which = torch.arange(2).repeat_interleave(n)
    codes = models.latent_code(z, 4, rows[which])
    for r in range(2):
        share = torch.bincount(codes[which == r], minlength=4) / n
        assert share.sub(rows[r]).abs().max() < 0.006
    # one row for all gives what the shared prior gives
    same = models.latent_code(z, 4, rows[0].expand(2 * n, 4))
    assert torch.equal(same, models.latent_code(z, 4, rows[0]))


def test_clustered_cdcgan_draws_clusters_of_the_label_asked_for():
    G, D = models.build("cdcgan", width=16, refine=False, clusters=3)
    assert G.num_classes == 10 and G.codes == 3 and G.code_prior.shape == (10, 3)
    assert D.num_classes == 30 and D.groups == 10 and D.centres.shape == (30, 784)
    z, y = torch.randn(500, G.z_dim), torch.arange(10).repeat(50)
    assert G(z, y).shape == (500, 1, 28, 28)
    with pytest.raises(BadInput, match="conditional"):
        G(z)
    # G's category is a cluster of the digit it was asked for, drawn at its share
    G.code_prior.copy_(torch.tensor([0.0, 1.0, 0.0]).repeat(10, 1))
    assert torch.equal(G.category(z, y), y * 3 + 1)
    # nearest_cluster(D, x, y) looks only among y's centres, even where another
    # digit's is nearer
    D.centres.copy_(torch.rand(30, 784) * 2 - 1)
    x = D.centres[[4, 29]].view(2, 1, 28, 28)  # digit 1's cluster 1, digit 9's 2
    assert clusters.nearest_cluster(D, x).tolist() == [4, 29]
    assert clusters.nearest_cluster(D, x, torch.tensor([1, 9])).tolist() == [4, 29]
    assert clusters.nearest_cluster(D, x, torch.tensor([0, 5])).div(
        3, rounding_mode="floor"
    ).tolist() == [
        0,
        5,
    ]


def test_pixel_clusters_per_digit_cluster_each_digit_apart(mnist_train):
    centres, shares = clusters.pixel_clusters(4, seed=0, limit=6000, per_digit=True)
    assert centres.shape == (40, 784) and shares.shape == (10, 4)
    assert torch.allclose(shares.sum(1), torch.ones(10), atol=1e-6)
    assert shares.min() > 0
    # each group is its digit's: the nearest of all 40 centres is of the right digit
    # for most held-out digits (a nearest-centre classifier)
    images, labels = mnist_train
    x = data.to_signed(images[6000:8000]).flatten(1)
    nearest = torch.cdist(x, centres).argmin(1).div(4, rounding_mode="floor")
    assert (nearest == labels[6000:8000]).float().mean() > 0.85


def test_clustered_cdcgan_step_gives_d_clusters_within_the_labels(
    no_kmeans, monkeypatch, small_data, tmp_path
):
    config = TrainConfig(
        model="cdcgan", model_kwargs={"width": 16, "refine": False, "clusters": 3}
    )
    run = new_run(config, device="cpu")
    assert run.G.code_prior.shape == (10, 3) and run.D.centres.shape == (30, 784)
    seen = []
    forward = run.D.forward

    def spy(x, y=None):
        seen.append((x, y))
        return forward(x, y)

    monkeypatch.setattr(run.D, "forward", spy)
    x, labels = small_data
    x, labels = x[: config.batch_size], labels[: config.batch_size]
    fit(run, steps=1, data=(x, labels), progress=False)
    (x_real, y_real), (_, y_fake) = seen[0], seen[1]
    assert y_real.max() < 30 and y_fake.max() < 30
    # a real digit's cluster is its nearest centre of its own label's group
    order = torch.cdist(x_real.flatten(1), x.flatten(1)).argmin(1)  # undo the shuffle
    assert torch.equal(y_real, clusters.nearest_cluster(run.D, x_real, labels[order]))
    assert torch.equal(y_real.div(3, rounding_mode="floor"), labels[order])
    assert len(y_fake.div(3, rounding_mode="floor").unique()) > 5  # many digits
    # the file keeps the per-digit prior and sampling by label works
    save_generator(run, tmp_path / "g.pt")
    G = load_generator(tmp_path / "g.pt")
    assert G.code_prior.shape == (10, 3)
    images = sample.generate(G, torch.arange(10), seed=0)
    assert images.shape == (10, 1, 28, 28)


def test_latents_in_cluster_make_g_draw_that_cluster():
    G, _ = models.build("cdcgan", width=16, refine=False, clusters=4)
    G.code_prior.copy_(torch.tensor([0.5, 0.3, 0.15, 0.05]).repeat(10, 1))
    for digit, cluster in ((0, 0), (7, 3), (9, 1)):
        z = clusters.latents_in_cluster(G, cluster, 200, label=digit, seed=3)
        y = torch.full((200,), digit)
        assert torch.equal(G.category(z, y), y * 4 + cluster)
        assert z[:, 1:].std().item() == pytest.approx(1, abs=0.1)  # the rest: N(0, 1)
    again = clusters.latents_in_cluster(G, 3, 200, label=7, seed=3)
    assert torch.equal(again, clusters.latents_in_cluster(G, 3, 200, label=7, seed=3))
    with pytest.raises(BadInput, match="pass label"):
        clusters.latents_in_cluster(G, 0, 5)
    with pytest.raises(BadInput, match="cluster"):
        clusters.latents_in_cluster(G, 4, 5, label=0)
    G.code_prior[2, 1] = 0
    with pytest.raises(BadInput, match="no share"):
        clusters.latents_in_cluster(G, 1, 5, label=2)
    # an unconditional one takes no label; a model without clusters is refused
    U, _ = models.build("dcgan", width=16, clusters=5)
    z = clusters.latents_in_cluster(U, 2, 50, seed=0)
    assert models.latent_code(z, 5, U.code_prior).eq(2).all()
    with pytest.raises(BadInput, match="no label"):
        clusters.latents_in_cluster(U, 2, 5, label=1)
    with pytest.raises(BadInput, match="no clusters"):
        clusters.latents_in_cluster(models.build("cdcgan", width=16)[0], 0, 5, label=1)
