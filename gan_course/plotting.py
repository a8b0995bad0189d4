"""Figures for the course. Every public function returns a matplotlib ``Figure`` and never
calls ``plt.show()``: a notebook cell ends with ``plt.show()`` (or ``;``), tests inspect the
figure, and a script saves it with ``fig.savefig(...)``.

The ``draw_*`` functions draw onto an existing ``Axes``; the figure functions and the live
dashboard (:mod:`gan_course.live`) are built from them.

Digits are drawn with dark ink on white (``cmap="gray_r"``, pixel -1 = white background,
+1 = black ink), as on paper, everywhere in the course.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import torch

DIGIT_CMAP = "gray_r"     # -1 (background) -> white, +1 (ink) -> black
GRID_PAD_VALUE = -0.8     # light grey lines between the digits of a grid
LOG4, LOG2 = math.log(4), math.log(2)


# ---------------------------------------------------------------------------------- helpers

def _to_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float32)


def _series(history, name: str) -> np.ndarray:
    """``history.name`` or ``history[name]`` (a History or a plain dict of lists) as floats."""
    if isinstance(history, Mapping):
        values = history.get(name, [])
    else:
        values = getattr(history, name, [])
    return np.asarray(values, dtype=float)


def _steps(history, n: int) -> np.ndarray:
    steps = _series(history, "step")
    return steps if len(steps) == n else np.arange(1, n + 1)


def _samples_of(history_or_samples) -> list:
    if isinstance(history_or_samples, Mapping):
        return list(history_or_samples.get("samples", []))
    if hasattr(history_or_samples, "samples"):
        return list(history_or_samples.samples)
    return list(history_or_samples)


def smooth(values, weight: float = 0.9) -> np.ndarray:
    """Exponential moving average, debiased: s_t = w s_{t-1} + (1 - w) v_t, divided by
    1 - w^t so the first points are not pulled towards 0 (as TensorBoard's smoothing)."""
    v = np.asarray(values, dtype=float)
    out, acc, norm = np.empty_like(v), 0.0, 0.0
    for i, x in enumerate(v):
        acc = weight * acc + (1 - weight) * x
        norm = weight * norm + (1 - weight)
        out[i] = acc / norm
    return out


def make_grid(x, nrow: int = 8, pad: int = 2, pad_value: float = GRID_PAD_VALUE) -> np.ndarray:
    """Tile images (N, 1, H, W) (or (N, H, W)) into one 2-D array, ``nrow`` images per row."""
    a = _to_numpy(x)
    if a.ndim == 4:
        if a.shape[1] != 1:
            raise ValueError(f"expected 1-channel images (N, 1, H, W), got {a.shape}")
        a = a[:, 0]
    if a.ndim != 3 or len(a) == 0:
        raise ValueError(f"expected images of shape (N, 1, H, W), got {np.shape(x)}")
    n, h, w = a.shape
    ncol = min(nrow, n)
    nrows = math.ceil(n / ncol)
    grid = np.full((nrows * (h + pad) + pad, ncol * (w + pad) + pad), pad_value, dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, ncol)
        grid[pad + r * (h + pad): pad + r * (h + pad) + h, pad + c * (w + pad): pad + c * (w + pad) + w] = a[i]
    return grid


def _check_range(a: np.ndarray) -> None:
    if a.size and (a.min() < -1.5 or a.max() > 1.5):
        raise ValueError(f"expected images in [-1, 1] (background -1), got values in "
                         f"[{a.min():.1f}, {a.max():.1f}]; 0..255 images: x / 127.5 - 1")


def save_grid(x, path, nrow: int = 8):
    """Write digits (N, 1, 28, 28) in [-1, 1] to ``path`` as one PNG, dark ink on white.

    No figure is made (the command line uses it), so it is fast and leaves nothing open.
    """
    import matplotlib.image
    from pathlib import Path

    a = np.clip(_to_numpy(x), -1, 1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    matplotlib.image.imsave(path, make_grid(a, nrow), cmap=DIGIT_CMAP, vmin=-1, vmax=1)
    return path


# ------------------------------------------------------------------------ digits and samples

def draw_grid(ax, x, nrow: int = 8, title: str | None = None) -> None:
    """Draw a grid of digits (N, 1, 28, 28) in [-1, 1] onto ``ax``, dark ink on white."""
    a = _to_numpy(x)
    _check_range(a)
    ax.imshow(make_grid(a, nrow), cmap=DIGIT_CMAP, vmin=-1, vmax=1, interpolation="nearest")
    ax.set_xticks([]), ax.set_yticks([])
    if title:
        ax.set_title(title)


def sample_grid(x, nrow: int = 8, title: str | None = None, size: float | None = None):
    """A figure of digits (N, 1, 28, 28) in [-1, 1], ``nrow`` per row, dark ink on white."""
    n = len(x)
    ncol = min(nrow, n)
    rows = math.ceil(n / ncol)
    width = size or min(0.6 * ncol + 0.4, 8.0)
    fig, ax = plt.subplots(figsize=(width, width * rows / ncol + (0.35 if title else 0.1)),
                           layout="constrained")
    draw_grid(ax, x, nrow, title)
    return fig


def samples_over_time(samples, n_show: int = 16, max_panels: int = 6, nrow: int | None = None):
    """Grids of the fixed-noise samples at several training steps, side by side.

    ``samples``: ``history.samples`` (a list of ``(step, images)``) or the history itself.
    At most ``max_panels`` snapshots are shown, evenly spaced, always with the first and the
    last; each shows the first ``n_show`` images, so the same noise is followed across steps.
    """
    snaps = _samples_of(samples)
    if not snaps:
        raise ValueError("no samples to show: the history has no (step, images) snapshots; "
                         "train with cfg.sample_every smaller than the number of steps")
    if len(snaps) > max_panels:
        keep = np.unique(np.linspace(0, len(snaps) - 1, max_panels).round().astype(int))
        snaps = [snaps[i] for i in keep]
    nrow = nrow or int(math.ceil(math.sqrt(n_show)))
    fig, axes = plt.subplots(1, len(snaps), figsize=(1.9 * len(snaps) + 0.2, 2.5), squeeze=False,
                             layout="constrained")
    for ax, (step, x) in zip(axes[0], snaps):
        draw_grid(ax, x[:n_show], nrow, title=f"step {int(step):,}")
    fig.suptitle("samples of the same fixed noise during training", fontsize=11)
    return fig


# --------------------------------------------------------------------------- training curves

def _reference_lines(loss: str) -> tuple[dict, bool]:
    """Equilibrium values to mark for each loss name, and whether D outputs are probabilities."""
    if loss == "nonsaturating":
        return {"loss_d": LOG4, "loss_g": LOG2}, True
    if loss == "saturating":
        return {"loss_d": LOG4, "loss_g": -LOG2}, True
    return {}, False  # wgan-gp: critic scores, no fixed equilibrium value


def _draw_series(ax, history, name: str, label: str, color: str, smoothing: float) -> bool:
    """One recorded series: faint raw values, solid smoothed ones. False if not recorded."""
    v = _series(history, name)
    if not len(v):
        return False
    steps = _steps(history, len(v))
    ax.plot(steps, v, color=color, alpha=0.25, lw=0.8)
    ax.plot(steps, smooth(v, smoothing), color=color, lw=1.6, label=label)
    return True


def draw_losses(ax, history, smoothing: float = 0.9, loss: str = "nonsaturating") -> None:
    """loss_D and loss_G per step (faint: raw, solid: smoothed), with their values at the
    equilibrium D = 1/2: loss_D = -log(1/2) - log(1/2) = log 4, loss_G = -log(1/2) = log 2."""
    ref, _ = _reference_lines(loss)
    for name, label, color in (("loss_d", "loss$_D$", "C0"), ("loss_g", "loss$_G$", "C1")):
        if not _draw_series(ax, history, name, label, color, smoothing):
            continue
        if name in ref:
            value = ref[name]
            text = {LOG4: "log 4", LOG2: "log 2", -LOG2: "-log 2"}[value]
            ax.axhline(value, color=color, ls="--", lw=0.9)
            above = name == "loss_d"  # log 4 sits above G's line: label it above, G's below
            ax.annotate(f"{text} (D = 1/2)", (1.0, value), xycoords=("axes fraction", "data"),
                        xytext=(-4, 3 if above else -3), textcoords="offset points", ha="right",
                        va="bottom" if above else "top", fontsize=8, color=color)
    ax.set_xlabel("generator step")
    ax.set_ylabel("loss")
    ax.set_title("losses")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", fontsize=8)


def draw_d_outputs(ax, history, smoothing: float = 0.9, loss: str = "nonsaturating") -> None:
    """Mean D(x) on real and D(G(z)) on fake batches; both tend to 1/2 at the equilibrium."""
    _, probabilities = _reference_lines(loss)
    for name, label, color in (("d_real", "D(x), real", "C2"), ("d_fake", "D(G(z)), fake", "C3")):
        _draw_series(ax, history, name, label, color, smoothing)
    ax.set_xlabel("generator step")
    if probabilities:
        ax.axhline(0.5, color="k", ls="--", lw=0.9)
        ax.annotate("1/2: D cannot tell", (0.0, 0.5), xycoords=("axes fraction", "data"),
                    xytext=(4, -10), textcoords="offset points", ha="left", fontsize=8)
        ax.set_ylim(-0.02, 1.02)
        ax.set_ylabel("mean D output (probability real)")
    else:
        ax.set_ylabel("mean critic score")
    ax.set_title("discriminator outputs")
    if ax.get_legend_handles_labels()[0]:  # right side: the 1/2 line's label is on the left
        ax.legend(loc="center right", fontsize=8)


def plot_losses(history, smoothing: float = 0.9, loss: str = "nonsaturating"):
    """Loss curves of a run (``History`` or dict of lists); see :func:`draw_losses`."""
    fig, ax = plt.subplots(figsize=(6, 3.4), layout="constrained")
    draw_losses(ax, history, smoothing, loss)
    return fig


def plot_d_outputs(history, smoothing: float = 0.9, loss: str = "nonsaturating"):
    """D(x) and D(G(z)) curves of a run; see :func:`draw_d_outputs`."""
    fig, ax = plt.subplots(figsize=(6, 3.4), layout="constrained")
    draw_d_outputs(ax, history, smoothing, loss)
    return fig


def plot_history(history, smoothing: float = 0.9, loss: str = "nonsaturating", title: str | None = None):
    """Both panels side by side: losses and D outputs."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.6), layout="constrained")
    draw_losses(a, history, smoothing, loss)
    draw_d_outputs(b, history, smoothing, loss)
    if title:
        fig.suptitle(title)
    return fig


# --------------------------------------------------------------------------------- 2-D toys

def draw_toy_decision(ax, G, D, data, n: int = 1000, grid_size: int = 100, seed: int = 0,
                      loss: str = "nonsaturating", n_arrows: int = 150, colorbar: bool = True) -> dict:
    """D's decision surface, real and fake samples and G's gradient field on a 2-D toy.

    - colour: D(x) = sigmoid(logit) over a grid (for ``loss="wgan-gp"`` the raw critic score);
    - dots: ``n`` real samples (black) and ``n`` fakes G(z) (orange);
    - arrows, at ``n_arrows`` fakes: v = -d loss_G / d x_fake, the direction in which G's
      update moves that sample (for the non-saturating loss, towards higher D(x)); lengths
      are drawn to scale with one another.

    Returns the arrays drawn (``grid``, ``real``, ``fake``, ``grad``) for inspection.
    """
    from gan_course.losses import get_losses
    from gan_course.models import eval_mode

    _, g_loss_fn = get_losses(loss)
    dev = next(D.parameters()).device
    with eval_mode(G, D):
        gen = torch.Generator().manual_seed(seed)
        real = data.sample(n, generator=gen)
        z = torch.randn(n, G.latent_dim, generator=gen).to(dev)
        with torch.no_grad():
            fake = G(z).float()
        if fake.dim() != 2 or fake.shape[1] != 2:
            raise ValueError(f"plot_toy_decision needs a 2-D generator (output (B, 2)), got "
                             f"{tuple(fake.shape)}")
        # the gradient field: d loss_G / d x at the fakes (loss summed, not averaged, so each
        # arrow is that sample's own gradient, whatever n is)
        # (autograd.grad, not backward: D's own .grad must stay untouched)
        x_fake = fake[:n_arrows].clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(g_loss_fn(D(x_fake)) * len(x_fake), x_fake)
        grad = -grad.detach().cpu().numpy()
        fake = fake.cpu().numpy()
        real = real.numpy()
        # the view: the data's modes with a margin, widened to the bulk of the fakes
        x0, x1, y0, y1 = data.limits(margin=1.0)
        lo = np.minimum([x0, y0], np.quantile(fake, 0.02, axis=0) - 0.5)
        hi = np.maximum([x1, y1], np.quantile(fake, 0.98, axis=0) + 0.5)
        gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], grid_size), np.linspace(lo[1], hi[1], grid_size))
        pts = torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], 1)).float().to(dev)
        with torch.no_grad():
            scores = D(pts).float()
            surface = (scores if loss == "wgan-gp" else torch.sigmoid(scores)).cpu().numpy()
    surface = surface.reshape(grid_size, grid_size)
    if loss == "wgan-gp":
        mesh = ax.pcolormesh(gx, gy, surface, cmap="RdBu", shading="auto")
        label = "critic score D(x)"
    else:
        mesh = ax.pcolormesh(gx, gy, surface, cmap="RdBu", vmin=0, vmax=1, shading="auto")
        ax.contour(gx, gy, surface, levels=[0.5], colors="k", linewidths=0.8, linestyles="--")
        label = "D(x) = P(real)"
    if colorbar:
        ax.figure.colorbar(mesh, ax=ax, label=label, fraction=0.046, pad=0.03)
    ax.scatter(real[:, 0], real[:, 1], s=4, c="k", alpha=0.5, label="real", lw=0)
    ax.scatter(fake[:, 0], fake[:, 1], s=5, c="#ff9f1c", alpha=0.8, label="fake G(z)", lw=0)
    ax.quiver(fake[:n_arrows, 0], fake[:n_arrows, 1], grad[:, 0], grad[:, 1], color="#5a189a",
              angles="xy", width=0.004, alpha=0.9)
    ax.set_xlim(lo[0], hi[0]), ax.set_ylim(lo[1], hi[1])
    ax.set_aspect("equal")
    ax.set_xlabel("$x_1$"), ax.set_ylabel("$x_2$")
    ax.legend(loc="upper right", fontsize=8, markerscale=3, framealpha=0.8)
    return {"grid": (gx, gy, surface), "real": real, "fake": fake, "grad": grad}


def plot_toy_decision(G, D, data, n: int = 1000, grid_size: int = 100, seed: int = 0,
                      loss: str = "nonsaturating", title: str | None = None):
    """One figure of :func:`draw_toy_decision` (arrows: -d loss_G / d x at the fakes)."""
    fig, ax = plt.subplots(figsize=(6, 5.2), layout="constrained")
    draw_toy_decision(ax, G, D, data, n=n, grid_size=grid_size, seed=seed, loss=loss)
    ax.set_title(title or f"{getattr(data, 'name', 'toy')}: D's surface, samples, G's gradient")
    return fig


# ------------------------------------------------------------------------------ judge output

def draw_class_histogram(ax, counts, title: str | None = None) -> None:
    """Bars of the judge's class counts 0..9, with the uniform share N/10 dashed."""
    counts = np.asarray(counts, dtype=float)
    if counts.shape != (10,):
        raise ValueError(f"expected 10 class counts, got shape {counts.shape}")
    n = counts.sum()
    ax.bar(np.arange(10), counts, color="C0")
    ax.axhline(n / 10, color="k", ls="--", lw=0.9, label=f"uniform: {n / 10:,.0f} each")
    ax.set_xticks(np.arange(10))
    ax.set_ylim(0, 1.25 * max(counts.max(), n / 10, 1))  # room for the legend above the bars
    ax.set_xlabel("class the judge assigns")
    ax.set_ylabel("samples")
    q = counts[counts > 0] / max(n, 1)
    entropy = float(-(q * np.log(q)).sum()) + 0.0
    ax.set_title(title or f"class histogram (entropy {entropy:.2f} of max log 10 = {math.log(10):.2f} nats)",
                 fontsize=10)
    ax.legend(loc="upper right", fontsize=8)


def class_histogram(counts, title: str | None = None):
    """Figure of the judge's class counts (``judge_scores(...)["class_counts"]``)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.2), layout="constrained")
    draw_class_histogram(ax, counts, title)
    return fig
