"""Generators and discriminators: an MLP pair, a DCGAN pair and a class-conditional DCGAN.

Conventions (the whole course relies on them):

- A generator maps noise ``z`` of shape ``(B, latent_dim)`` to images ``(B, 1, 28, 28)`` in
  ``[-1, 1]`` (tanh output), or to points ``(B, 2)`` for the 2-D toy data (no tanh).
- A discriminator maps a batch to **one logit per sample, shape (B,)**: ``sigmoid(D(x))`` is
  the probability that ``x`` is real. There is never a Sigmoid or a softmax at the end; the
  losses use the numerically stable ``binary_cross_entropy_with_logits``.

Every model remembers its constructor arguments (``model.arch``), so checkpoints can store
"which network is this" as plain data and :func:`model_from_arch` can rebuild it.

The DCGAN sizes are deliberately light (G about 350k parameters, D about 40k): on a 2-core
laptop CPU they train several times faster than the 1-2M-parameter tutorial networks, and the
shipped generator stays far below 2 MB.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

import torch
from torch import nn
from torch.nn import functional as F

ASSETS = Path(__file__).resolve().parent / "assets"


class _Remembers(nn.Module):
    """Base class that records the constructor's keyword arguments in ``self.arch``.

    ``arch = {"class": "DCGANGenerator", "kwargs": {...}}`` holds only plain Python types
    (ints, floats, strings, tuples), so it can be saved with tensors and loaded back with
    ``torch.load(weights_only=True)``.
    """

    def _remember(self, **kwargs) -> None:
        self.arch = {"class": type(self).__name__, "kwargs": dict(kwargs)}


@contextlib.contextmanager
def eval_mode(*modules: nn.Module) -> Iterator[None]:
    """``with eval_mode(G, D): ...``: the modules in eval mode for the block, each then put
    back in the mode it had (batch norm uses its running statistics and does not update them,
    dropout is off). The course samples, scores and plots in this mode."""
    flags = [m.training for m in modules]
    for m in modules:
        m.eval()
    try:
        yield
    finally:
        for m, flag in zip(modules, flags):
            m.train(flag)


@torch.no_grad()
def refresh_batch_norm(G: nn.Module, latent_dim: int, seed: int, conditional: bool = False,
                       n: int = 1024, batch_size: int = 64) -> None:
    """Set G's batch-norm running statistics to those of G's own activations on ``n`` noise
    vectors (a cumulative average over batches of ``batch_size``, as SWA's ``update_bn``).

    For the moving average of G, whose weights no batch ever went through. The noise comes
    from its own generator seeded with ``seed``, so the training run's random stream is
    untouched and the result is the same at every call with the same weights.
    """
    bns = [m for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    device = next(G.parameters()).device
    z = torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(seed + 7919)).to(device)
    y = torch.arange(n, device=device) % G.n_classes if conditional else None
    momenta = [m.momentum for m in bns]
    was_training = G.training
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over all batches
    G.train()
    for i in range(0, n, batch_size):
        zb = z[i:i + batch_size]
        G(zb) if y is None else G(zb, y[i:i + batch_size])
    for m, momentum in zip(bns, momenta):
        m.momentum = momentum
    G.train(was_training)


def _check_z(z: torch.Tensor, latent_dim: int) -> None:
    if not isinstance(z, torch.Tensor) or z.dim() != 2 or z.shape[1] != latent_dim:
        got = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
        raise ValueError(f"the generator expects z of shape (B, {latent_dim}), got {got}; "
                         f"draw it with torch.randn(B, {latent_dim}).")


def _check_x(x: torch.Tensor, in_shape: tuple[int, ...]) -> None:
    if not isinstance(x, torch.Tensor) or tuple(x.shape[1:]) != tuple(in_shape) or x.dim() < 2:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"the discriminator expects a batch of shape (B, {', '.join(map(str, in_shape))}), "
                         f"got {got}; MNIST images must be (B, 1, 28, 28) scaled to [-1, 1].")


def _check_y(y: torch.Tensor, batch: int, n_classes: int) -> None:
    if not isinstance(y, torch.Tensor) or y.shape != (batch,) or y.dtype not in (torch.int64, torch.int32):
        got = (tuple(y.shape), y.dtype) if isinstance(y, torch.Tensor) else type(y).__name__
        raise ValueError(f"expected class labels y of shape ({batch},) and integer dtype, got {got}.")
    # the values only on the CPU: on a GPU, reading them would make the host wait for the
    # device at every forward pass (train_gan checks the training labels once, up front)
    if batch and y.device.type == "cpu" and (int(y.min()) < 0 or int(y.max()) >= n_classes):
        raise ValueError(f"class labels must lie in 0..{n_classes - 1}, got {int(y.min())}..{int(y.max())}.")


def _prod(shape) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n


# ---------------------------------------------------------------------------------------
# MLP GAN (notebooks 04 and 05)
# ---------------------------------------------------------------------------------------

class MLPGenerator(_Remembers):
    """``z -> Linear -> ReLU -> ... -> Linear -> tanh -> reshape to out_shape``.

    With the defaults this is the course's 100 -> 256 -> 256 -> 784 generator. For 2-D toy
    data use ``out_shape=(2,), out_activation=None``: points are not bounded to [-1, 1].
    """

    def __init__(self, latent_dim: int = 100, hidden: tuple[int, ...] = (256, 256),
                 out_shape: tuple[int, ...] = (1, 28, 28), out_activation: str | None = "tanh"):
        super().__init__()
        if out_activation not in ("tanh", None):
            raise ValueError(f"out_activation must be 'tanh' or None, got {out_activation!r}")
        hidden, out_shape = tuple(int(h) for h in hidden), tuple(int(s) for s in out_shape)
        self._remember(latent_dim=latent_dim, hidden=hidden, out_shape=out_shape,
                       out_activation=out_activation)
        self.latent_dim, self.out_shape = latent_dim, out_shape
        layers: list[nn.Module] = []
        width = latent_dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]  # (B, width) -> (B, h)
            width = h
        layers.append(nn.Linear(width, _prod(out_shape)))  # (B, width) -> (B, prod(out_shape))
        if out_activation == "tanh":
            layers.append(nn.Tanh())  # images live in [-1, 1], like the scaled real data
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        _check_z(z, self.latent_dim)
        return self.net(z).view(z.shape[0], *self.out_shape)


class MLPDiscriminator(_Remembers):
    """``x -> flatten -> Linear -> LeakyReLU(0.2) -> ... -> Linear -> one logit (B,)``.

    No dropout: it made training steps 16-20% slower on a CPU and is not needed here.
    ``spectral_norm=True`` divides every weight by its largest singular value (Miyato et
    al. 2018), which bounds D's Lipschitz constant.
    """

    def __init__(self, in_shape: tuple[int, ...] = (1, 28, 28), hidden: tuple[int, ...] = (256, 256),
                 spectral_norm: bool = False):
        super().__init__()
        hidden, in_shape = tuple(int(h) for h in hidden), tuple(int(s) for s in in_shape)
        if spectral_norm:  # recorded only when on, so older descriptions stay valid
            self._remember(in_shape=in_shape, hidden=hidden, spectral_norm=True)
        else:
            self._remember(in_shape=in_shape, hidden=hidden)
        self.in_shape = in_shape
        sn = nn.utils.parametrizations.spectral_norm if spectral_norm else (lambda m: m)
        layers: list[nn.Module] = [nn.Flatten()]  # (B, *in_shape) -> (B, prod(in_shape))
        width = _prod(in_shape)
        for h in hidden:
            layers += [sn(nn.Linear(width, h)), nn.LeakyReLU(0.2)]  # (B, width) -> (B, h)
            width = h
        layers.append(sn(nn.Linear(width, 1)))  # (B, width) -> (B, 1): a logit, no sigmoid
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_x(x, self.in_shape)
        return self.net(x).view(-1)  # (B, 1) -> (B,)


# ---------------------------------------------------------------------------------------
# DCGAN (Radford et al. 2015), sized for 28x28 MNIST on a CPU
# ---------------------------------------------------------------------------------------

class DCGANGenerator(_Remembers):
    """Two dense layers to a 7x7 map, then two transposed convolutions: 7 -> 14 -> 28.

    The DCGAN guidelines: no pooling, transposed convolutions to upsample, batch norm and
    ReLU in every hidden layer, tanh at the output. Kernel 4 with stride 2 and padding 1
    doubles the size exactly, ``(H - 1) * 2 - 2 * 1 + 4 = 2H``, and because 4 is divisible
    by 2 every output pixel receives the same number of kernel taps (fewer checkerboards).

    ``hidden``: width of a dense layer between ``z`` and the 7x7 map (as in InfoGAN's MNIST
    generator, Chen et al. 2016); 0 projects ``z`` straight to the map. The transposed
    convolutions only see a few neighbouring cells, so the digit's overall shape is decided
    by the dense part: with a single dense layer it is a ReLU of a *linear* function of
    ``z``. Measured with the discriminator's matching hidden layer (see
    :class:`DCGANDiscriminator`): judge-confident on 82% of samples after 4,000 steps, where
    the single-layer pair levels off near 65% (``assets/PRETRAINED.md``).
    """

    def __init__(self, latent_dim: int = 100, channels: tuple[int, int] = (64, 32), hidden: int = 256):
        super().__init__()
        c1, c2 = (int(c) for c in channels)
        hidden = int(hidden)
        self._remember(latent_dim=latent_dim, channels=(c1, c2), hidden=hidden)
        self.latent_dim = latent_dim
        self.c1 = c1
        if hidden:
            self.project = nn.Sequential(
                nn.Linear(self._in_features(), hidden, bias=False),  # (B, latent) -> (B, hidden)
                nn.BatchNorm1d(hidden), nn.ReLU(),
                nn.Linear(hidden, c1 * 7 * 7, bias=False),           # (B, hidden) -> (B, c1*49)
            )
        else:
            self.project = nn.Linear(self._in_features(), c1 * 7 * 7, bias=False)  # (B, latent) -> (B, c1*49)
        self.body = nn.Sequential(
            nn.BatchNorm2d(c1), nn.ReLU(),                               # (B, c1, 7, 7)
            nn.ConvTranspose2d(c1, c2, 4, stride=2, padding=1, bias=False),  # (B, c1, 7, 7) -> (B, c2, 14, 14)
            nn.BatchNorm2d(c2), nn.ReLU(),                               # (B, c2, 14, 14)
            nn.ConvTranspose2d(c2, 1, 4, stride=2, padding=1),           # (B, c2, 14, 14) -> (B, 1, 28, 28)
            nn.Tanh(),                                                   # pixels in [-1, 1]
        )

    def _in_features(self) -> int:
        return self.latent_dim

    def _trunk(self, h: torch.Tensor) -> torch.Tensor:
        h = self.project(h).view(h.shape[0], self.c1, 7, 7)  # (B, c1*49) -> (B, c1, 7, 7)
        return self.body(h)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        _check_z(z, self.latent_dim)
        return self._trunk(z)


class DCGANDiscriminator(_Remembers):
    """Two strided convolutions 28 -> 14 -> 7 with LeakyReLU(0.2), a dense hidden layer,
    then one logit (B,).

    ``batch_norm`` (default) puts batch norm after the second convolution and the dense
    layer (DCGAN guideline: never on D's input layer); measured on MNIST with ``hidden=0`` it
    kept D informative (D(x) ~ 0.77 after 1,000 steps, where without it D sat at 0.5 and could
    not tell real from fake). ``spectral_norm=True`` (Miyato et al. 2018) instead divides every
    weight by its largest singular value, which bounds D's Lipschitz constant; it replaces
    batch norm. Use ``batch_norm=False`` for WGAN-GP: the gradient penalty is per sample, and
    batch norm mixes samples.

    ``hidden``: width of the dense layer after the convolutions (InfoGAN's MNIST
    discriminator has one, Chen et al. 2016); 0 goes straight from the 7x7 features to the
    logit. The generator's hidden layer needs this partner: measured alone, with D's logit a
    linear function of the 7x7 features, the pair collapsed onto one digit within 2,000 steps.
    """

    def __init__(self, channels: tuple[int, int] = (32, 64), batch_norm: bool = True,
                 spectral_norm: bool = False, hidden: int = 256):
        super().__init__()
        c1, c2 = (int(c) for c in channels)
        hidden = int(hidden)
        self._remember(channels=(c1, c2), batch_norm=batch_norm, spectral_norm=spectral_norm,
                       hidden=hidden)
        self.in_shape = (1, 28, 28)
        sn = nn.utils.parametrizations.spectral_norm if spectral_norm else (lambda m: m)
        use_bn = batch_norm and not spectral_norm
        layers = [
            sn(nn.Conv2d(1, c1, 4, stride=2, padding=1)),                    # (B, 1, 28, 28) -> (B, c1, 14, 14)
            nn.LeakyReLU(0.2),
            sn(nn.Conv2d(c1, c2, 4, stride=2, padding=1, bias=not use_bn)),  # (B, c1, 14, 14) -> (B, c2, 7, 7)
            nn.BatchNorm2d(c2) if use_bn else nn.Identity(),
            nn.LeakyReLU(0.2),
            nn.Flatten(),                                                    # (B, c2, 7, 7) -> (B, c2*49)
        ]
        if hidden:
            layers += [sn(nn.Linear(c2 * 7 * 7, hidden, bias=not use_bn)),   # (B, c2*49) -> (B, hidden)
                       nn.BatchNorm1d(hidden) if use_bn else nn.Identity(),
                       nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers)
        self.head = sn(nn.Linear(hidden or c2 * 7 * 7, 1))                  # (B, F) -> (B, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_x(x, self.in_shape)
        return self.head(self.features(x)).view(-1)  # (B, 1) -> (B,)


class ConditionalDCGANGenerator(DCGANGenerator):
    """G(z, y): the label's learned embedding is concatenated to ``z`` before the dense layer.

    ``[z, embed(y)]`` has ``latent_dim + embed_dim`` features; the rest is the DCGAN generator,
    without the dense hidden layer by default (``hidden=0``): with hidden layers in both
    conditional networks and lr_g 1e-3, the pair collapsed onto one image within 1,000 steps
    (D(x) 0.94), where this layout with lr 2e-4 drew digits of the asked class.
    """

    def __init__(self, latent_dim: int = 100, n_classes: int = 10, embed_dim: int = 10,
                 channels: tuple[int, int] = (64, 32), hidden: int = 0):
        self.n_classes, self.embed_dim = n_classes, embed_dim
        super().__init__(latent_dim=latent_dim, channels=channels, hidden=hidden)
        self._remember(latent_dim=latent_dim, n_classes=n_classes, embed_dim=embed_dim,
                       channels=tuple(int(c) for c in channels), hidden=int(hidden))
        self.embed = nn.Embedding(n_classes, embed_dim)  # (B,) -> (B, embed_dim)

    def _in_features(self) -> int:
        return self.latent_dim + self.embed_dim

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        _check_z(z, self.latent_dim)
        _check_y(y, z.shape[0], self.n_classes)
        return self._trunk(torch.cat([z, self.embed(y)], dim=1))  # (B, latent + embed) -> (B, 1, 28, 28)


class ConditionalDCGANDiscriminator(DCGANDiscriminator):
    """D(x, y) as a projection discriminator (Miyato & Koyama 2018).

    With ``h = features(x)`` (B, F): ``D(x, y) = w . h + b + embed(y) . h``. The first term
    asks "is this a real digit?", the inner product with the class embedding asks "is it a
    real digit *of class y*?". Cheaper and better-behaved than concatenating a label map.
    """

    def __init__(self, n_classes: int = 10, channels: tuple[int, int] = (32, 64),
                 batch_norm: bool = True, spectral_norm: bool = False, hidden: int = 0):
        super().__init__(channels=channels, batch_norm=batch_norm, spectral_norm=spectral_norm,
                         hidden=hidden)
        self._remember(n_classes=n_classes, channels=tuple(int(c) for c in channels),
                       batch_norm=batch_norm, spectral_norm=spectral_norm, hidden=int(hidden))
        self.n_classes = n_classes
        self.embed = nn.Embedding(n_classes, self.head.in_features)  # (B,) -> (B, F)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        _check_x(x, self.in_shape)
        _check_y(y, x.shape[0], self.n_classes)
        h = self.features(x)                                          # (B, F)
        return self.head(h).view(-1) + (self.embed(y) * h).sum(dim=1)  # (B,)


class ConcatDCGANDiscriminator(DCGANDiscriminator):
    """D(x, y) with the label concatenated to the input: the image and ``n_classes`` constant
    maps, the one-hot of y (Mirza & Osindero 2014's conditioning, as convolutional cGANs
    first did it). The first convolution sees ``1 + n_classes`` channels; the rest is the
    DCGAN discriminator. The alternative to :class:`ConditionalDCGANDiscriminator`'s
    projection, compared with it in notebook 10.
    """

    def __init__(self, n_classes: int = 10, channels: tuple[int, int] = (32, 64),
                 batch_norm: bool = True, hidden: int = 0):
        super().__init__(channels=channels, batch_norm=batch_norm, hidden=hidden)
        self._remember(n_classes=n_classes, channels=tuple(int(c) for c in channels),
                       batch_norm=batch_norm, hidden=int(hidden))
        self.n_classes = n_classes
        first = self.features[0]
        self.features[0] = nn.Conv2d(1 + n_classes, first.out_channels, 4, stride=2, padding=1)  # (B, 1 + n, 28, 28) -> (B, c1, 14, 14)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        _check_x(x, self.in_shape)
        _check_y(y, x.shape[0], self.n_classes)
        maps = F.one_hot(y, self.n_classes).to(x.dtype)[:, :, None, None].expand(-1, -1, *x.shape[2:])
        return self.head(self.features(torch.cat([x, maps], dim=1))).view(-1)  # (B,)


# ---------------------------------------------------------------------------------------
# Initialisation, construction, pretrained weights
# ---------------------------------------------------------------------------------------

def dcgan_init_(module: nn.Module) -> nn.Module:
    """The DCGAN initialisation, in place: conv/linear/embedding weights ~ N(0, 0.02),
    batch-norm weights ~ N(1, 0.02), all biases 0. Returns ``module`` for chaining.

    Spectral-normalised layers keep their raw weight in ``parametrizations.weight.original``;
    that is the tensor initialised here.
    """
    from torch.nn.utils import parametrize

    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
            weight = (m.parametrizations.weight.original if parametrize.is_parametrized(m, "weight")
                      else m.weight)
            nn.init.normal_(weight, 0.0, 0.02)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return module


_CLASSES = {cls.__name__: cls for cls in (MLPGenerator, MLPDiscriminator, DCGANGenerator,
                                           DCGANDiscriminator, ConditionalDCGANGenerator,
                                           ConditionalDCGANDiscriminator, ConcatDCGANDiscriminator)}
ARCHS = ("mlp", "dcgan", "cdcgan")


def arch_of(model: nn.Module) -> dict:
    """The plain-data description ``{"class": ..., "kwargs": {...}}`` of a course model."""
    arch = getattr(model, "arch", None)
    if arch is None:
        raise ValueError(f"{type(model).__name__} is not one of the course's models "
                         f"({', '.join(_CLASSES)}), so it cannot be described for a checkpoint.")
    return {"class": arch["class"], "kwargs": dict(arch["kwargs"])}


def model_from_arch(arch: dict) -> nn.Module:
    """Rebuild an (untrained) model from :func:`arch_of`'s description."""
    cls = _CLASSES.get(arch.get("class")) if isinstance(arch, dict) else None
    if cls is None:
        raise ValueError(f"unknown model description {arch!r}; expected a dict with 'class' one "
                         f"of {sorted(_CLASSES)} and 'kwargs'.")
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in arch.get("kwargs", {}).items()}
    if issubclass(cls, (DCGANGenerator, DCGANDiscriminator)):
        kwargs.setdefault("hidden", 0)  # saved before the dense hidden layers existed: none
    return cls(**kwargs)


def build_gan(arch: str, latent_dim: int = 100, *, g_kwargs: dict | None = None,
              d_kwargs: dict | None = None) -> tuple[nn.Module, nn.Module]:
    """A fresh ``(G, D)`` pair: ``"mlp"``, ``"dcgan"`` or ``"cdcgan"`` (class-conditional).

    DCGAN models get :func:`dcgan_init_`; the MLPs keep PyTorch's default init.
    Extra constructor arguments go through ``g_kwargs`` / ``d_kwargs``, e.g.
    ``build_gan("dcgan", d_kwargs={"spectral_norm": True})``.
    """
    g_kwargs, d_kwargs = dict(g_kwargs or {}), dict(d_kwargs or {})
    if arch == "mlp":
        return MLPGenerator(latent_dim, **g_kwargs), MLPDiscriminator(**d_kwargs)
    if arch == "dcgan":
        return (dcgan_init_(DCGANGenerator(latent_dim, **g_kwargs)),
                dcgan_init_(DCGANDiscriminator(**d_kwargs)))
    if arch == "cdcgan":
        return (dcgan_init_(ConditionalDCGANGenerator(latent_dim, **g_kwargs)),
                dcgan_init_(ConditionalDCGANDiscriminator(**d_kwargs)))
    raise ValueError(f"unknown architecture {arch!r}; choose one of {ARCHS}.")


def pretrained_path(arch: str) -> Path:
    return ASSETS / f"{arch}_generator.pt"


def load_pretrained(arch: str = "dcgan", device: str | torch.device | None = None) -> nn.Module:
    """The shipped pretrained generator for ``"mlp"`` or ``"dcgan"``, in eval mode.

    The file holds ``{"arch": {...}, "state_dict": {...}}`` and is read with
    ``torch.load(weights_only=True)`` (no pickled code runs). See ``assets/PRETRAINED.md``
    for the command that trained it and its measured quality.
    """
    if arch not in ("mlp", "dcgan"):
        raise ValueError(f"no pretrained generator for {arch!r}; choose 'mlp' or 'dcgan'.")
    path = pretrained_path(arch)
    if not path.exists():
        raise FileNotFoundError(
            f"the pretrained {arch} generator {path} is missing; reinstall the package or "
            f"train one: python -m gan_course train {arch} --minutes 5 --out runs/{arch}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        G = model_from_arch(blob["arch"])
        G.load_state_dict(blob["state_dict"])
    except Exception as err:  # corrupt file, wrong keys: say which file
        raise RuntimeError(f"could not load the pretrained generator {path}: {err}") from err
    if device is not None:
        G = G.to(device)
    return G.eval()
