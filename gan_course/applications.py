"""What GANs are used for, each measured against the simplest thing that could replace it
(notebook 10).

- **More training data** (:func:`train_classifier`): the course's small CNN (the judge's
  architecture, :class:`gan_course.judge.Judge`) trained on a few labelled digits, its
  batches topped up with random shifts of them (the classic augmentation) or with digits a
  class-conditional generator draws for each class (:func:`conditional_batches`).
- **Restoration by optimising the latent code** (:func:`restore`, Yeh et al. 2017): find
  ``z`` whose ``G(z)`` matches the pixels one can see, ``min_z ||m * (G(z) - y)||^2 / |m|
  + lambda ||z||^2 / d``, the second term ``-log p(z)`` up to constants (it keeps ``z``
  where G was trained), then read the hidden pixels off ``G(z)``. The baselines: the
  nearest training digit on the visible pixels (:func:`nearest_on_visible`), and for noise a
  blur (:func:`blur`). Measured by :func:`psnr` on the restored pixels.
- **D as a feature extractor** (:func:`linear_probe`, Radford et al. 2015): a logistic
  regression on the features of a trained D, fitted on a few labels, against the same probe
  on raw pixels.
- **Latent arithmetic** (:func:`attribute_direction`): a direction in ``z`` along which a
  measured style attribute of G's digits (:func:`thickness`, :func:`slant`) grows, found
  from samples labelled by that attribute.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from gan_course.judge import Judge, random_shift
from gan_course.models import eval_mode


# ---------------------------------------------------------------------------------------
# more training data
# ---------------------------------------------------------------------------------------

def conditional_batches(G, n_classes: int = 10, pool: int = 10_000, seed: int = 0):
    """``draw(k, generator) -> (x, y)``: ``k`` labelled samples of the class-conditional ``G``.

    ``pool`` samples are drawn once (the classes in turn, noise from ``seed``, G in eval
    mode, on the CPU) and each call picks ``k`` of them at random: sampling G at every step
    of a classifier's training would cost more than the training.
    """
    from gan_course.metrics import sample_generator

    x = sample_generator(G, pool, seed=seed)       # labels 0, 1, ..., 9, 0, 1, ...
    y = torch.arange(pool) % n_classes

    def draw(k: int, generator: torch.Generator):
        idx = torch.randint(pool, (k,), generator=generator)
        return x[idx], y[idx]
    return draw


def train_classifier(x: torch.Tensor, y: torch.Tensor, *, steps: int = 600, batch_size: int = 64,
                     lr: float = 2e-3, seed: int = 0, shift: int = 0, extra=None,
                     extra_fraction: float = 0.5, device=None) -> Judge:
    """A :class:`~gan_course.judge.Judge` CNN trained by cross-entropy on ``(x, y)``.

    Each step takes ``batch_size`` labelled digits (drawn with replacement: with 100 digits
    an "epoch" is under two batches), shifted by up to ``shift`` pixels when ``shift`` > 0,
    and, when ``extra`` (``draw(k, generator) -> (x, y)``, e.g. :func:`conditional_batches`)
    is given, adds ``extra_fraction * batch_size`` of its samples. Adam with a cosine-decayed
    rate; everything seeded from ``seed``. Returns the classifier in eval mode.
    """
    from gan_course.runtime import pick_device

    dev = pick_device(device)
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = Judge().to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    n_extra = int(round(extra_fraction * batch_size)) if extra is not None else 0
    net.train()
    for _ in range(steps):
        idx = torch.randint(len(x), (batch_size,), generator=g)
        xb, yb = x[idx], y[idx]
        if shift:
            xb = random_shift(xb, shift, g)
        if n_extra:
            xe, ye = extra(n_extra, g)
            xb, yb = torch.cat([xb, xe]), torch.cat([yb, ye])
        loss = F.cross_entropy(net(xb.to(dev)), yb.to(dev))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return net.eval()


# ---------------------------------------------------------------------------------------
# restoration
# ---------------------------------------------------------------------------------------

def restore(G, y: torch.Tensor, mask: torch.Tensor, *, steps: int = 200, lr: float = 0.1,
            prior_weight: float = 0.1, starts: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Fit ``z`` to the visible pixels: ``min_z sum(m (G(z) - y)^2) / sum(m) + w ||z||^2 / d``.

    ``y`` (B, 1, 28, 28) the damaged digits in [-1, 1], ``mask`` the same shape, 1 where a
    pixel is seen (for denoising: all ones). Adam on z from ``starts`` random starts
    ``z ~ N(0, I)`` (seeded) per digit, optimised together; each digit keeps the start that
    fits its visible pixels best. The objective is not convex: measured while writing
    notebook 10 (the shipped DCGAN, 100 half-masked digits, starts seeded one by one), the
    judge read the true class in 63% of the completions from one start and in 86% from the
    best of four. G stays in eval mode and is not changed. Returns
    ``(G(z), z)`` of the best starts, the restorations and their codes.
    """
    device = next(G.parameters()).device
    b = len(y)
    y_all = y.to(device).repeat(starts, 1, 1, 1)                     # (starts * B, 1, 28, 28)
    m_all = mask.to(device).float().repeat(starts, 1, 1, 1)
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(starts * b, G.latent_dim, generator=g).to(device).requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    params = [p for p in G.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)

    def misfit(x):
        return ((x - y_all) ** 2 * m_all).flatten(1).sum(1) / m_all.flatten(1).sum(1).clamp(min=1)
    try:
        with eval_mode(G):
            for _ in range(steps):
                loss = (misfit(G(z)) + prior_weight * z.pow(2).mean(1)).sum()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            with torch.no_grad():
                x = G(z)
                best = misfit(x).view(starts, b).argmin(0)           # (B,): the best start of each digit
                pick = best * b + torch.arange(b, device=device)
                out, z_out = x[pick].float().cpu(), z[pick].detach().cpu()
    finally:
        for p in params:
            p.requires_grad_(True)
    return out, z_out


def nearest_on_visible(y: torch.Tensor, mask: torch.Tensor, train: torch.Tensor) -> torch.Tensor:
    """For each damaged digit, the training digit closest to it on its visible pixels (the
    whole digit is returned): the baseline that copies instead of generating."""
    out = []
    flat_train = train.flatten(1)
    for yi, mi in zip(y.flatten(1), mask.flatten(1).bool()):
        d = ((flat_train[:, mi] - yi[mi]) ** 2).sum(1)
        out.append(train[d.argmin()])
    return torch.stack(out)


def blur(x: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    """A Gaussian blur (5 x 5 kernel) of images (B, 1, 28, 28): the denoising baseline."""
    r = torch.arange(-2, 3, dtype=x.dtype)
    k = torch.exp(-r ** 2 / (2 * sigma ** 2))
    k = (k[:, None] * k[None, :]) / k.sum() ** 2
    return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="replicate"), k.view(1, 1, 5, 5))


def psnr(restored: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Peak signal-to-noise ratio per image (B,) in dB, on the pixels where ``mask`` is 1
    (all of them when None): ``10 log10(range^2 / MSE)``, range 2 for pixels in [-1, 1]."""
    m = torch.ones_like(truth) if mask is None else mask.float()
    mse = ((restored - truth) ** 2 * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp(min=1)
    return 10 * torch.log10(4.0 / mse.clamp(min=1e-10))


# ---------------------------------------------------------------------------------------
# D's features
# ---------------------------------------------------------------------------------------

@torch.no_grad()
def features(D, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """``D.features(x)`` (N, F) in eval mode, on the CPU: the layer before D's logit."""
    device = next(D.parameters()).device
    with eval_mode(D):
        return torch.cat([D.features(x[i:i + batch_size].to(device)).float().cpu()
                          for i in range(0, len(x), batch_size)])


def linear_probe(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor,
                 test_y: torch.Tensor, *, weight_decay: float = 1e-3, steps: int = 300) -> float:
    """Held-out accuracy of a logistic regression on flattened features: standardised with the
    training rows' mean and spread, fitted by L-BFGS with an L2 penalty ``weight_decay``."""
    a, b = train_x.flatten(1).double(), test_x.flatten(1).double()
    mean, std = a.mean(0), a.std(0).nan_to_num(1.0).clamp(min=1e-6)
    a, b = (a - mean) / std, (b - mean) / std
    n_classes = int(max(train_y.max(), test_y.max())) + 1
    w = torch.zeros(a.shape[1], n_classes, dtype=a.dtype, requires_grad=True)
    bias = torch.zeros(n_classes, dtype=a.dtype, requires_grad=True)
    opt = torch.optim.LBFGS([w, bias], max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(a @ w + bias, train_y) + weight_decay * w.pow(2).sum()
        loss.backward()
        return loss
    opt.step(closure)
    with torch.no_grad():
        return float(((b @ w + bias).argmax(1) == test_y).double().mean())


# ---------------------------------------------------------------------------------------
# style attributes and latent arithmetic
# ---------------------------------------------------------------------------------------

def thickness(x: torch.Tensor) -> torch.Tensor:
    """The ink of each digit (B,): the mean of (x + 1) / 2, i.e. the share of the image that
    is stroke. Thicker strokes, more ink."""
    return ((x + 1) / 2).flatten(1).mean(1)


def slant(x: torch.Tensor) -> torch.Tensor:
    """How far each digit leans (B,): the shear ``sum w (c - c0)(r0 - r) / sum w (r - r0)^2``
    of the ink ``w = (x + 1) / 2`` about its centre, rows ``r`` counted downwards. Positive:
    the top leans right, like italics."""
    w = ((x + 1) / 2).flatten(1)                                    # (B, 784)
    r = torch.arange(28, dtype=w.dtype).repeat_interleave(28)       # row of each pixel
    c = torch.arange(28, dtype=w.dtype).repeat(28)                  # column of each pixel
    total = w.sum(1).clamp(min=1e-6)
    r0, c0 = (w * r).sum(1) / total, (w * c).sum(1) / total
    dr, dc = r[None] - r0[:, None], c[None] - c0[:, None]
    return (w * dc * -dr).sum(1) / (w * dr ** 2).sum(1).clamp(min=1e-6)


def attribute_direction(z: torch.Tensor, values: torch.Tensor, quantile: float = 0.2) -> torch.Tensor:
    """The unit direction in z from the samples with the lowest ``quantile`` of an attribute
    to those with the highest: ``mean(z | high) - mean(z | low)``, normalised. The samples
    are labelled by measuring their attribute, not by hand."""
    lo, hi = torch.quantile(values, quantile), torch.quantile(values, 1 - quantile)
    d = z[values >= hi].mean(0) - z[values <= lo].mean(0)
    return d / d.norm()


__all__ = ["conditional_batches", "train_classifier", "restore", "nearest_on_visible", "blur",
           "psnr", "features", "linear_probe", "thickness", "slant", "attribute_direction"]
