"""Generators and discriminators for 28x28 digits: MLP and convolutional (DCGAN),
unconditional and conditional.

Every generator maps a latent batch z (N, z_dim), and for conditional models labels y
(N,), to images (N, 1, 28, 28) in [-1, 1] (tanh). Every discriminator maps images (and
labels) to one *logit* per image, D(x) = sigmoid(logit); the losses work on logits
because that is numerically stable.

Conditioning (Mirza & Osindero, 2014): the label is one-hot encoded and concatenated to
the generator's input, and to the discriminator's input (as 10 constant planes for the
convolutional one). The projection discriminator (Miyato & Koyama, 2018) instead adds
<embed(y), features(x)> to an unconditional logit. The auxiliary-classifier
discriminator (ACGAN, Odena et al., 2017) does not see the label: a second head,
`D.classify(x)`, predicts it, and both players are trained to make it right.

An unconditional DCGAN may also take a categorical *code* (InfoGAN, Chen et al., 2016):
`codes=K` reads one of K equally likely categories off the first latent coordinate
(`latent_code`), feeds it to G one-hot beside z, and gives D a head, `D.infer_code(x)`,
that must tell the category back from the image alone. No label is ever used; the
players are rewarded for making the category readable, and on MNIST Chen et al. report
that 10 categories became the digit classes (it is not guaranteed: a category can take
a style, such as slant, instead).

A *self-conditioned* DCGAN (`clusters=K`, chapter 5; after Liu et al., 2020, who cluster
the discriminator's features, where we cluster pixels once) also takes a category off
z[:, 0], but drawn with the shares of K k-means clusters of the training digits
(`G.code_prior`), and its discriminator is a projection discriminator over the clusters,
whose centres it keeps (`D.centres`). The clustering and the relabelling live in
clusters.py.

`build(name)` makes the pair for one of the names in `MODELS`.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .errors import BadInput, check_range, truncated_repr

NUM_CLASSES = 10
CONDITIONINGS = ("concat", "projection", "acgan")  # how a discriminator sees the label


def one_hot(y: torch.Tensor, num_classes: int, dtype=torch.float32) -> torch.Tensor:
    return F.one_hot(y, num_classes).to(dtype)


def check_labels(y: torch.Tensor | None, num_classes: int, n: int) -> None:
    """Conditional models need n labels in 0..num_classes-1; unconditional ones take
    none.
    """
    # ONNX export traces the arithmetic; the checks are for eager callers
    if torch.jit.is_tracing():
        return
    if num_classes == 0:
        if y is not None:
            raise BadInput("this model is unconditional: it takes no labels")
        return
    if y is None:
        raise BadInput(
            "this model is conditional: pass labels y (one per latent vector)"
        )
    if y.shape != (n,):
        raise BadInput(f"expected {n} labels, got a tensor of shape {tuple(y.shape)}")
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise BadInput(
            f"labels must be in 0..{num_classes - 1}, "
            f"got {y.min().item()}..{y.max().item()}"
        )


def latent_code(
    z: torch.Tensor, codes: int, prior: torch.Tensor | None = None
) -> torch.Tensor:
    """The category (N,) in 0..codes-1 that z's first coordinate falls in: z[:, 0] ~
    N(0, 1) cut at the normal quantiles k/codes, so each category has probability
    1/codes, or, with `prior` (codes,), at the quantiles of its running sum, so that
    category k has probability prior[k] / prior.sum(). `prior` may also be (N, codes),
    one row of shares per latent vector. A function of z, so that a generator with a
    code is still G(z).
    """
    u = 0.5 * (1 + torch.erf(z[:, 0] / 2**0.5))  # the normal CDF: uniform on (0, 1)
    if prior is None:
        return (u * codes).floor().clamp(0, codes - 1).long()
    # prior (codes,) for all, or (N, codes): one row per latent vector (its digit's).
    # The category is the number of cumulative shares at or below u (a comparison and
    # a sum rather than searchsorted, which ONNX cannot export)
    edges = prior.float().cumsum(-1) / prior.float().sum(-1, keepdim=True)
    return (edges <= u[:, None]).sum(-1).clamp(max=codes - 1)


class MLPGenerator(nn.Module):
    """z (+ one-hot y) -> 256 -> 512 -> 784, as in Goodfellow et al. (2014), smaller to
    train on a CPU.
    """

    def __init__(self, z_dim: int, num_classes: int, width: int):
        super().__init__()
        self.z_dim, self.num_classes = z_dim, num_classes
        self.codes, self.code_prior = 0, None  # no InfoGAN code, no clusters
        self.net = nn.Sequential(
            nn.Linear(z_dim + num_classes, width),
            nn.LeakyReLU(0.2),
            nn.Linear(width, 2 * width),
            nn.LeakyReLU(0.2),
            nn.Linear(2 * width, 28 * 28),
            nn.Tanh(),
        )

    def forward(self, z, y=None):
        check_labels(y, self.num_classes, z.shape[0])
        h = z if y is None else torch.cat([z, one_hot(y, self.num_classes, z.dtype)], 1)
        return self.net(h).view(-1, 1, 28, 28)


class MLPDiscriminator(nn.Module):
    """784 (+ one-hot y) -> 512 -> 256 -> 1 logit.

    conditioning="concat": the one-hot label is concatenated to the input (Mirza &
    Osindero). conditioning="projection": logit = linear(features) + <embed(y),
    features> (Miyato & Koyama). conditioning="acgan": the logit ignores the label and
    classify(x) predicts it (Odena et al.).
    """

    def __init__(self, num_classes: int, width: int, conditioning: str):
        super().__init__()
        if conditioning not in CONDITIONINGS:
            raise BadInput(
                f"conditioning must be one of {CONDITIONINGS}, got {conditioning!r}"
            )
        self.num_classes, self.conditioning = num_classes, conditioning
        # what every discriminator declares: no InfoGAN code head, no cluster centres
        self.codes, self.centres = 0, None
        concat = num_classes if conditioning == "concat" else 0
        self.features = nn.Sequential(
            nn.Linear(28 * 28 + concat, 2 * width),
            nn.LeakyReLU(0.2),
            nn.Linear(2 * width, width),
            nn.LeakyReLU(0.2),
        )
        self.head = nn.Linear(width, 1)
        if num_classes and conditioning == "projection":
            self.embed = nn.Embedding(num_classes, width)
            nn.init.normal_(self.embed.weight, std=0.02)
        if num_classes and conditioning == "acgan":
            self.class_head = nn.Linear(width, num_classes)

    def classify(self, x):
        """ACGAN: class logits (N, num_classes) from the same features as the logit."""
        return self.class_head(self.features(x.flatten(1)))

    def forward(self, x, y=None):
        check_labels(y, self.num_classes, x.shape[0])
        h = x.flatten(1)
        if y is not None and self.conditioning == "concat":
            h = torch.cat([h, one_hot(y, self.num_classes, h.dtype)], 1)
        h = self.features(h)
        logit = self.head(h).squeeze(1)
        if y is not None and self.conditioning == "projection":
            logit = logit + (self.embed(y) * h).sum(1)
        return logit


class ConvGenerator(nn.Module):
    """DCGAN generator for 28x28: z to 7x7, then two stride-2 transposed convolutions.

        (N, z_dim [+10]) -> Linear -> (2w, 7, 7) -> ConvT -> (w, 14, 14)
                         -> ConvT -> (1, 28, 28)

    with batch norm and ReLU between layers and tanh at the end (Radford et al., 2015).

    refine=True adds a 3x3 convolution after each upsampling,
    (w, 14, 14) -> Conv3x3 -> (w, 14, 14), and the last transposed convolution keeps
    w/2 channels for a final Conv3x3 -> (1, 28, 28). Each pixel is then drawn by a
    layer that sees its neighbours at the same resolution, not only the stride-2
    "stamp" of a transposed convolution, at a higher cost per step (measured in
    bench/README.md).
    """

    def __init__(
        self,
        z_dim: int,
        num_classes: int,
        width: int,
        refine: bool,
        codes: int = 0,
        code_prior: bool = False,
    ):
        super().__init__()
        self.z_dim, self.num_classes, self.codes = z_dim, num_classes, codes
        if code_prior:  # the clusters' shares, set from the data (self-conditioning);
            # a conditional G has codes clusters per label, each row its label's shares
            shape = (num_classes, codes) if num_classes else (codes,)
            self.register_buffer("code_prior", torch.full(shape, 1.0 / codes))
        else:  # equally likely categories (InfoGAN)
            self.code_prior = None
        # one input per (label, cluster) pair when both: a cluster is its label's
        code_inputs = codes * (num_classes if code_prior and num_classes else 1)
        self.project = nn.Sequential(
            nn.Linear(z_dim + num_classes + code_inputs, 2 * width * 7 * 7, bias=False),
            nn.Unflatten(1, (2 * width, 7, 7)),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(True),
        )
        up = [
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(True),
        ]
        if refine:
            up += [
                nn.Conv2d(width, width, 3, 1, 1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(True),
                nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width // 2),
                nn.ReLU(True),
                nn.Conv2d(width // 2, 1, 3, 1, 1),
            ]
        else:
            up += [nn.ConvTranspose2d(width, 1, 4, 2, 1)]
        self.up = nn.Sequential(*up, nn.Tanh())

    def category(self, z, y=None):
        """The category (N,) G draws for z (and labels y): z[:, 0]'s code, or with
        per-label clusters, the pair's index y * codes + code (label-major, like the
        discriminator's centres).
        """
        prior = self.code_prior
        if prior is not None and prior.dim() == 2:  # clusters within each label
            return y * self.codes + latent_code(z, self.codes, prior[y])
        return latent_code(z, self.codes, prior)

    def forward(self, z, y=None):
        check_labels(y, self.num_classes, z.shape[0])
        h = z if y is None else torch.cat([z, one_hot(y, self.num_classes, z.dtype)], 1)
        if self.codes:  # the category z[:, 0] falls in, one-hot
            c = self.category(z, y)
            inputs = self.project[0].in_features - h.shape[1]
            h = torch.cat([h, one_hot(c, inputs, z.dtype)], 1)
        return self.up(self.project(h))


class ConvDiscriminator(nn.Module):
    """DCGAN discriminator for 28x28: two stride-2 convolutions with leaky ReLU, then
    one logit.

    conditioning="concat": the one-hot label enters as 10 extra constant input planes.
    conditioning="projection": logit = linear(features) + <embed(y), features>.
    conditioning="acgan": the logit ignores the label; classify(x) predicts it.
    clustered=True: the num_classes "labels" are pixel clusters whose centres D keeps
    (self-conditioning, see clusters.py); with groups=10, they are 10 groups of
    clusters, one group per digit.
    """

    def __init__(
        self,
        num_classes: int,
        width: int,
        conditioning: str,
        codes: int = 0,
        clustered: bool = False,
        groups: int = 1,
    ):
        super().__init__()
        if conditioning not in CONDITIONINGS:
            raise BadInput(
                f"conditioning must be one of {CONDITIONINGS}, got {conditioning!r}"
            )
        self.num_classes, self.conditioning = num_classes, conditioning
        self.codes, self.groups = codes, groups
        in_ch = 1 + (num_classes if num_classes and conditioning == "concat" else 0)
        self.features = nn.Sequential(
            nn.Conv2d(in_ch, width, 4, 2, 1),
            nn.LeakyReLU(0.2, True),  # no batch norm on the input layer
            nn.Conv2d(width, 2 * width, 4, 2, 1, bias=False),
            nn.BatchNorm2d(2 * width),
            nn.LeakyReLU(0.2, True),
            nn.Flatten(),
        )
        self.head = nn.Linear(2 * width * 7 * 7, 1)
        if num_classes and conditioning == "projection":
            self.embed = nn.Embedding(num_classes, 2 * width * 7 * 7)
            nn.init.normal_(self.embed.weight, std=0.02)
        if num_classes and conditioning == "acgan":
            self.class_head = nn.Linear(2 * width * 7 * 7, num_classes)
        if codes:
            self.code_head = nn.Linear(2 * width * 7 * 7, codes)
        if clustered:  # k-means centres of the training digits, set from the data
            self.register_buffer("centres", torch.zeros(num_classes, 28 * 28))
        else:
            self.centres = None

    def classify(self, x):
        """ACGAN: class logits (N, num_classes) from the same features as the logit."""
        return self.class_head(self.features(x))

    def infer_code(self, x):
        """InfoGAN: logits (N, codes) of the category G was given, from the image."""
        return self.code_head(self.features(x))

    def forward(self, x, y=None):
        check_labels(y, self.num_classes, x.shape[0])
        if y is not None and self.conditioning == "concat":
            planes = one_hot(y, self.num_classes, x.dtype)[:, :, None, None].expand(
                -1, -1, *x.shape[2:]
            )
            x = torch.cat([x, planes], 1)
        h = self.features(x)
        logit = self.head(h).squeeze(1)
        if y is not None and self.conditioning == "projection":
            logit = logit + (self.embed(y) * h).sum(1)
        return logit


def dcgan_init(module: nn.Module) -> None:
    """The DCGAN paper's initialisation: N(0, 0.02) weights, batch-norm scales N(1,
    0.02).
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


# The one place each model's hyper-parameters are set. `build(name, **overrides)` and
# training configs (TrainConfig.model_kwargs) override these; the classes above have no
# defaults of their own.
MODELS = {
    "mlp": dict(arch="mlp", z_dim=64, num_classes=0, width=256),
    "cmlp": dict(
        arch="mlp", z_dim=64, num_classes=NUM_CLASSES, width=256, conditioning="concat"
    ),
    "dcgan": dict(
        arch="conv",
        z_dim=64,
        num_classes=0,
        width=64,
        refine=False,
        codes=0,
        clusters=0,
    ),
    "cdcgan": dict(
        arch="conv",
        z_dim=64,
        num_classes=NUM_CLASSES,
        width=64,
        refine=True,
        conditioning="projection",
        clusters=0,
    ),
}
LIMITS = {
    "z_dim": (1, 1024),
    "width": (8, 1024),
    "codes": (0, 100),
    "clusters": (0, 1000),
}  # beyond these a model is useless or huge


def model_options(name: str, overrides: dict | None = None) -> dict:
    """The full hyper-parameters of model `name`: its MODELS entry updated with
    `overrides`.

    Checked here, so a bad option fails with a sentence before any weight is allocated.
    """
    if name not in MODELS:
        raise BadInput(
            f"unknown model {truncated_repr(name)}; choose one of {', '.join(MODELS)}"
        )
    opts = dict(MODELS[name])
    for key, value in (overrides or {}).items():
        if key not in opts or key in ("arch", "num_classes"):
            extra = ", ".join(k for k in opts if k not in ("arch", "num_classes"))
            why = " (it has no label to condition on)" if key == "conditioning" else ""
            raise BadInput(
                f"model {name!r} takes no option {key!r}{why}; its options: {extra}"
            )
        opts[key] = value
    for key, (lo, hi) in LIMITS.items():
        if key in opts:
            opts[key] = check_range(key, opts[key], lo, hi, integer=True)
    for key, what in (("codes", "no code"), ("clusters", "no clusters")):
        if opts.get(key) == 1:
            raise BadInput(f"{key} must be 0 ({what}) or at least 2 categories, got 1")
    if opts.get("codes") and opts.get("clusters"):
        raise BadInput(
            "a DCGAN takes codes (InfoGAN) or clusters (self-conditioning), not both"
        )
    if opts.get("clusters") and opts.get("conditioning", "projection") != "projection":
        raise BadInput(
            "clusters need the projection discriminator (conditioning='projection'), "
            f"got conditioning={opts['conditioning']!r}"
        )
    if "conditioning" in opts and opts["conditioning"] not in CONDITIONINGS:
        raise BadInput(
            f"conditioning must be one of {', '.join(CONDITIONINGS)}, "
            f"got {opts['conditioning']!r}"
        )
    if "refine" in opts and not isinstance(opts["refine"], bool):
        raise BadInput(f"refine must be True or False, got {opts['refine']!r}")
    return opts


def build(name: str, **overrides) -> tuple[nn.Module, nn.Module]:
    """(generator, discriminator) for a model name in MODELS; keyword arguments override
    it.
    """
    opts = model_options(name, overrides)
    z_dim, k, width = opts["z_dim"], opts["num_classes"], opts["width"]
    conditioning = opts.get("conditioning", "concat")  # unused by unconditional models
    if opts["arch"] == "mlp":
        return MLPGenerator(z_dim, k, width), MLPDiscriminator(k, width, conditioning)
    clusters = opts.get("clusters", 0)  # self-conditioning: per label, if it has one
    if clusters:  # G draws a cluster off z; D is conditioned on it, by projection
        G = ConvGenerator(z_dim, k, width, opts["refine"], clusters, code_prior=True)
        groups = max(k, 1)  # a conditional model clusters each digit on its own
        D = ConvDiscriminator(
            groups * clusters, width, "projection", clustered=True, groups=groups
        )
    else:
        codes = opts.get("codes", 0)  # InfoGAN's categorical code (unconditional)
        G = ConvGenerator(z_dim, k, width, opts["refine"], codes)
        D = ConvDiscriminator(k, width, conditioning, codes)
    dcgan_init(G), dcgan_init(D)
    return G, D


def add_spectral_norm(D: nn.Module) -> nn.Module:
    """Spectral normalisation (Miyato et al., 2018) of every weight of D but embeddings.

    Each weight W is used as W / sigma(W), its largest singular value estimated by one
    power iteration per forward pass, so D cannot grow steeper by growing its weights.
    A linear layer is then (about) 1-Lipschitz; for a convolution the reshaped kernel's
    norm is only a proxy for its slope, and batch norm is not normalised. torch's
    parametrization does the work.
    """
    for m in D.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.utils.parametrizations.spectral_norm(m)
    return D


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
