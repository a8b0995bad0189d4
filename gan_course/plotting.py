"""Figures for the course. Every public function returns a matplotlib ``Figure`` and never
calls ``plt.show()``: a notebook cell ends with ``plt.show()`` (or ``;``), tests inspect the
figure, and a script saves it with ``fig.savefig(...)``.

The ``draw_*`` functions draw onto an existing ``Axes``; the figure functions, the live
dashboard (:mod:`gan_course.live`) and the widgets (:mod:`gan_course.widgets`) are built
from them.

One colour convention for the whole course (these figures, the dashboard, the widgets,
:func:`gan_course.theory.plot_minimax`), in the constants below:

- real is blue (:data:`REAL_COLOR`), fake is orange (:data:`FAKE_COLOR`): real samples,
  ``D(x)`` and ``p_data`` in blue; generated samples, ``D(G(z))`` and ``p_g`` in orange;
- D's surface uses :data:`D_CMAP`, orange (D = 0, "fake") through white (D = 1/2) to blue
  (D = 1, "real"), so each side of D's boundary has the colour of what D calls it;
- the players' own curves (the losses) and G's gradient arrows have colours of their own
  (:data:`D_COLOR`, :data:`G_COLOR`), so they are not read as real or fake;
- digits are dark ink on white (:data:`DIGIT_CMAP` = ``gray_r``, pixel -1 = white
  background, +1 = black ink), as on paper, and so are maps computed from them, such as a
  convolution's output (:func:`draw_digit` with ``signed=True``: 0 mid grey, larger darker);
  weights that are not images (a convolution kernel) use :data:`SIGNED_CMAP`, centred so
  that 0 is white.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import LinearSegmentedColormap, to_rgb

from gan_course.recorder import sample_grids, series

# ------------------------------------------------------------------------ colours and ink

REAL_COLOR = "#2166ac"    # blue: real data, D(x), p_data
FAKE_COLOR = "#e66101"    # orange: generated data G(z), D(G(z)), p_g
REAL_NAME, FAKE_NAME = "blue", "orange"  # for titles that name the colours
D_COLOR = "0.2"           # D's loss: dark grey, neither real nor fake
G_COLOR = "#5e3c99"       # purple: G's loss and G's gradient arrows


def _tint(color, amount: float = 0.55) -> tuple[float, float, float]:
    """``color`` mixed with white (``amount`` of white): a background that keeps dots of the
    full colour visible on top of it."""
    return tuple(c + (1 - c) * amount for c in to_rgb(color))


# D(x) in [0, 1]: 0 (fake) orange, 1/2 white, 1 (real) blue
D_CMAP = LinearSegmentedColormap.from_list("d_fake_to_real",
                                           [_tint(FAKE_COLOR), (1.0, 1.0, 1.0), _tint(REAL_COLOR)])
DIGIT_CMAP = "gray_r"     # -1 (background) -> white, +1 (ink) -> black
SIGNED_CMAP = "PiYG"      # signed weights: negative pink, 0 white, positive green (not real/fake)
GRID_PAD_VALUE = -0.8     # light grey lines between the digits of a grid
LOG4, LOG2 = math.log(4), math.log(2)


# ---------------------------------------------------------------------------------- helpers

def _to_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float32)


def _steps(history, n: int) -> np.ndarray:
    steps = series(history, "step")
    return steps if len(steps) == n else np.arange(1, n + 1)


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


def draw_digit(ax, x, title: str | None = None, signed: bool = False, colorbar: bool = False,
               fontsize: float = 9):
    """Draw one image (H, W), (1, H, W) or (1, 1, H, W) onto ``ax``, dark ink on white, no
    ticks. Returns the image.

    A digit's pixels lie in [-1, 1]: -1 white, +1 black. ``signed=True`` is for a map
    computed from a digit whose values may leave that range, such as a convolution's
    output: the range widens symmetrically to [-m, m] with ``m = max(1, max |x|)``, so 0
    stays mid grey, larger is darker, and values within [-1, 1] keep a digit's shades (the
    identity kernel's output looks like its input). ``colorbar`` adds the scale.
    """
    a = _to_numpy(x)
    a = a.reshape(a.shape[-2:]) if a.ndim > 2 and math.prod(a.shape[:-2]) == 1 else a
    if a.ndim != 2:
        raise ValueError(f"expected one image, shape (H, W) or (1, H, W), got {np.shape(x)}")
    m = max(1.0, float(np.abs(a).max())) if signed and a.size else 1.0
    image = ax.imshow(a, cmap=DIGIT_CMAP, vmin=-m, vmax=m, interpolation="nearest")
    ax.set_xticks([]), ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=fontsize)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.03,
                           label="value (0 = mid grey, larger = darker)" if signed else "pixel")
    return image


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
    snaps = sample_grids(samples)
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
    return {}, False  # WGAN, hinge, least squares: raw scores, not probabilities


def _draw_series(ax, history, name: str, label: str, color: str, smoothing: float) -> bool:
    """One recorded series: faint raw values, solid smoothed ones. False if not recorded."""
    v = series(history, name)
    if not len(v):
        return False
    steps = _steps(history, len(v))
    ax.plot(steps, v, color=color, alpha=0.25, lw=0.8)
    ax.plot(steps, smooth(v, smoothing), color=color, lw=1.6, label=label)
    return True


def _label_reference_lines(ax, lines: list[tuple[float, str, str]]) -> None:
    """Dashed lines at the values ``(value, label, color)``, labelled as tick labels of a
    second y axis on the right: outside the plotting area, where no curve can cover them,
    and hidden by matplotlib itself if the view is later zoomed past them."""
    for value, _, color in lines:
        ax.axhline(value, color=color, ls="--", lw=0.9)
    right = ax.secondary_yaxis("right")
    right.set_yticks([v for v, _, _ in lines], labels=[text for _, text, _ in lines])
    right.tick_params(length=3, labelsize=8)
    for tick, (_, _, color) in zip(right.get_yticklabels(), lines):
        tick.set_color(color)


def _legend_below(ax) -> None:
    """The curves' legend in one row under the x axis label, where it covers no curve
    (``loc="best"`` would search the data for a gap: 0.9 s more CPU per drawing at 36,000
    steps, too slow for the live dashboard)."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.transforms import offset_copy

    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return
    rc = plt.rcParams
    # tick, its pad, the tick labels, the label pad and the x label: the legend starts below
    below = (rc["xtick.major.size"] + rc["xtick.major.pad"] + rc["axes.labelpad"] + 2
             + FontProperties(size=rc["xtick.labelsize"]).get_size_in_points()
             + FontProperties(size=rc["axes.labelsize"]).get_size_in_points())
    anchor = offset_copy(ax.transAxes, fig=ax.figure, y=-below, units="points")
    ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0),
              bbox_transform=anchor, ncol=len(handles), fontsize=8, frameon=False,
              borderaxespad=0.0)


def draw_losses(ax, history, smoothing: float = 0.9, loss: str = "nonsaturating") -> None:
    """loss_D and loss_G per step (faint: raw, solid: smoothed), with their values at the
    equilibrium D = 1/2: loss_D = -log(1/2) - log(1/2) = log 4, loss_G = -log(1/2) = log 2
    (the saturating loss_G = log(1/2) = -log 2), labelled in the right margin."""
    ref, _ = _reference_lines(loss)
    names = {LOG4: "log 4", LOG2: "log 2", -LOG2: "-log 2"}
    lines = []
    for name, label, color in (("loss_d", "loss$_D$", D_COLOR), ("loss_g", "loss$_G$", G_COLOR)):
        if _draw_series(ax, history, name, label, color, smoothing) and name in ref:
            lines.append((ref[name], f"{names[ref[name]]}\n(D = 1/2)", color))
    if lines:
        _label_reference_lines(ax, lines)
    ax.set_xlabel("generator step")
    ax.set_ylabel("loss")
    ax.set_title("losses")
    _legend_below(ax)


def draw_d_outputs(ax, history, smoothing: float = 0.9, loss: str = "nonsaturating") -> None:
    """Mean D(x) on real (blue) and D(G(z)) on fake (orange) batches; both tend to 1/2 at the
    equilibrium, the dashed line labelled in the right margin."""
    _, probabilities = _reference_lines(loss)
    for name, label, color in (("d_real", "D(x), real", REAL_COLOR),
                               ("d_fake", "D(G(z)), fake", FAKE_COLOR)):
        _draw_series(ax, history, name, label, color, smoothing)
    ax.set_xlabel("generator step")
    if probabilities:
        _label_reference_lines(ax, [(0.5, "1/2:\nD cannot\ntell", "k")])
        ax.set_ylim(-0.02, 1.02)
        ax.set_ylabel("mean D output (probability real)")
    else:
        ax.set_ylabel("mean critic score")
    ax.set_title("discriminator outputs")
    _legend_below(ax)


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

ARROW_LENGTH = 0.12  # the unit arrow (``arrow_unit``) is drawn this fraction of the view's width


def draw_gradient_field(ax, D, x_real, x_fake, arrows=None, *, loss: str = "nonsaturating",
                        n_arrows: int | None = None, limits=None, grid_size: int = 100,
                        arrow_unit: float | None = None, colorbar: bool = True,
                        legend: bool = True) -> dict:
    """What D tells G on 2-D data: D's surface, the real and the generated points, and G's
    gradient field at the generated points.

    - colour: ``D(x) = sigmoid(logit)`` over a ``grid_size`` x ``grid_size`` grid in
      :data:`D_CMAP` (orange: D says fake, white: D = 1/2, dashed, blue: D says real); for
      the other losses (WGAN, hinge, least squares) the raw score (blue: high, the real side);
    - dots: ``x_real`` (blue) and ``x_fake`` (orange), shape (B, 2);
    - arrows at the first ``n_arrows`` fakes (default: all): ``v_i = -d ell(x_i) / d x_i``
      from :func:`gan_course.losses.generator_field`, the direction in which G's update moves
      that point (for the non-saturating loss, towards higher D(x)); or ``arrows`` as given,
      e.g. ``-x_fake.grad`` of a mean loss (any positive multiple draws the same picture);
    - ``arrow_unit``: the arrow norm drawn :data:`ARROW_LENGTH` of the view's width (default:
      the 90th percentile of the norms, so a few steep points do not shrink every other
      arrow to a dot); pass one value to several panels to draw them on one scale;
    - ``limits``: the view ``(x0, x1, y0, y1)``; default: all points with a margin of 0.5.

    D is evaluated in eval mode (then put back) and its ``.grad`` is left alone. Returns
    what was drawn: ``grid`` (gx, gy, surface), ``real``, ``fake``, ``grad`` (the arrows)
    as arrays, the ``unit`` of the arrows and the surface's ``mesh`` (for ``fig.colorbar``).
    """
    from gan_course.losses import BCE_LOSSES, generator_field
    from gan_course.models import eval_mode

    param = next(D.parameters())
    fake = torch.as_tensor(x_fake).detach().to(param.device, param.dtype)
    real = _to_numpy(x_real)
    if fake.dim() != 2 or fake.shape[1] != 2 or real.ndim != 2 or real.shape[1] != 2:
        raise ValueError(f"draw_gradient_field draws 2-D points: x_real and x_fake of shape "
                         f"(B, 2), got {real.shape} and {tuple(fake.shape)}")
    n_arrows = len(fake) if n_arrows is None else min(int(n_arrows), len(fake))
    with eval_mode(D):
        if arrows is None:
            arrows = generator_field(D, fake[:n_arrows], loss)
        grad = _to_numpy(arrows)
        if grad.shape != (len(grad), 2) or len(grad) > len(fake):
            raise ValueError(f"arrows must be one 2-D vector for each of the first fakes, shape "
                             f"(n <= {len(fake)}, 2), got {grad.shape}")
        fake = fake.float().cpu().numpy()
        if limits is None:
            both = np.concatenate([real, fake])
            lo, hi = both.min(axis=0) - 0.5, both.max(axis=0) + 0.5
        else:
            x0, x1, y0, y1 = limits
            lo, hi = np.array([x0, y0]), np.array([x1, y1])
        gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], grid_size), np.linspace(lo[1], hi[1], grid_size))
        pts = torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], 1)).to(param.device, param.dtype)
        with torch.no_grad():
            scores = D(pts).float()
            surface = (torch.sigmoid(scores) if loss in BCE_LOSSES else scores).cpu().numpy()
    surface = surface.reshape(grid_size, grid_size)
    if loss not in BCE_LOSSES:  # a raw score, not a probability
        mesh = ax.pcolormesh(gx, gy, surface, cmap=D_CMAP, shading="auto")
        who = "critic score C(x)" if loss.startswith("wgan") else "D's score"
        label = f"{who} ({REAL_NAME}: high, real side)"
    else:
        mesh = ax.pcolormesh(gx, gy, surface, cmap=D_CMAP, vmin=0, vmax=1, shading="auto")
        if surface.min() < 0.5 < surface.max():  # D's boundary, where it is in view
            ax.contour(gx, gy, surface, levels=[0.5], colors="k", linewidths=0.8, linestyles="--")
        label = f"D(x) = P(real) ({REAL_NAME} 1, {FAKE_NAME} 0)"
    if colorbar:
        ax.figure.colorbar(mesh, ax=ax, label=label, fraction=0.046, pad=0.03)
    ax.scatter(real[:, 0], real[:, 1], s=6, color=REAL_COLOR, label="real", lw=0)
    ax.scatter(fake[:, 0], fake[:, 1], s=7, color=FAKE_COLOR, label="fake G(z)", lw=0)
    norms = np.linalg.norm(grad, axis=1) if len(grad) else np.zeros(1)
    unit = float(arrow_unit) if arrow_unit else float(np.quantile(norms, 0.9)) or 1.0
    ax.quiver(fake[:len(grad), 0], fake[:len(grad), 1], grad[:, 0], grad[:, 1], color=G_COLOR,
              angles="xy", scale_units="xy", scale=unit / (ARROW_LENGTH * (hi[0] - lo[0])),
              width=0.004, alpha=0.9)
    ax.set_xlim(lo[0], hi[0]), ax.set_ylim(lo[1], hi[1])
    ax.set_aspect("equal")
    if legend:
        ax.legend(loc="upper right", fontsize=8, markerscale=2, framealpha=0.8)
    return {"grid": (gx, gy, surface), "real": real, "fake": fake, "grad": grad, "unit": unit,
            "mesh": mesh}


def draw_toy_decision(ax, G, D, data, n: int = 1000, grid_size: int = 100, seed: int = 0,
                      loss: str = "nonsaturating", n_arrows: int = 150, colorbar: bool = True) -> dict:
    """:func:`draw_gradient_field` for a generator on a toy data set (:mod:`gan_course.toy`):
    ``n`` real samples of ``data`` and ``n`` fakes ``G(z)`` (both drawn from ``seed``), arrows
    at the first ``n_arrows`` fakes; the view is the data's modes with a margin of 1, widened
    to the bulk (2% to 98%) of the fakes. Returns :func:`draw_gradient_field`'s arrays."""
    from gan_course.models import eval_mode

    dev = next(D.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    real = data.sample(n, generator=gen)
    z = torch.randn(n, G.latent_dim, generator=gen).to(dev)
    with eval_mode(G), torch.no_grad():
        fake = G(z).float()
    if fake.dim() != 2 or fake.shape[1] != 2:
        raise ValueError(f"draw_toy_decision needs a 2-D generator (output (B, 2)), got "
                         f"{tuple(fake.shape)}")
    x0, x1, y0, y1 = data.limits(margin=1.0)
    f = fake.cpu().numpy()
    lo = np.minimum([x0, y0], np.quantile(f, 0.02, axis=0) - 0.5)
    hi = np.maximum([x1, y1], np.quantile(f, 0.98, axis=0) + 0.5)
    out = draw_gradient_field(ax, D, real, fake, loss=loss, n_arrows=n_arrows, grid_size=grid_size,
                              limits=(lo[0], hi[0], lo[1], hi[1]), colorbar=colorbar)
    ax.set_xlabel("$x_1$"), ax.set_ylabel("$x_2$")
    return out


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
    ax.bar(np.arange(10), counts, color="0.45")  # classes of any digits, real or generated
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


# ----------------------------------------------------------------------- failing runs (08)

def draw_grad_norm(ax, history, smoothing: float = 0.9, label: str | None = None,
                   color: str = G_COLOR) -> None:
    """|grad G| per step (the L2 norm of all of G's gradients, ``history.grad_norm_g``) on a
    log scale: a gradient that vanishes falls by decades, one that explodes rises. Exact
    zeros (G never reached) are drawn at the bottom of the axis, marked in the title."""
    v = series(history, "grad_norm_g")
    steps = _steps(history, len(v))
    zeros = int((v == 0).sum()) if len(v) else 0
    shown = np.where(v > 0, v, np.nan)
    ax.plot(steps, shown, color=color, alpha=0.25, lw=0.8)
    finite = np.nan_to_num(shown, nan=np.nanmin(shown) if np.isfinite(shown).any() else 1.0)
    ax.plot(steps, smooth(finite, smoothing), color=color, lw=1.6, label=label or "|grad G|")
    ax.set_yscale("log")
    if zeros == len(v) and len(v):
        ax.set_ylim(1e-9, 1)
        ax.text(0.5, 0.5, "|grad G| = 0 at every step", transform=ax.transAxes, ha="center",
                va="center", color=color)
    ax.set_xlabel("generator step")
    ax.set_ylabel("|grad G| (log)")
    ax.set_title("G's gradient norm" + (f" ({zeros:,} steps exactly 0)" if 0 < zeros < len(v) else ""))


def plot_run(history, title: str | None = None, loss: str = "nonsaturating", n_show: int = 16,
             smoothing: float = 0.9):
    """One run in four panels: losses (on a symlog scale when they run past 20), D's outputs,
    G's gradient norm, and the latest fixed-noise samples (the picture of every gallery run
    in notebook 08)."""
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.3), layout="constrained",
                             gridspec_kw={"width_ratios": (1.2, 1.2, 1.2, 0.8)})
    losses = np.concatenate([series(history, "loss_d"), series(history, "loss_g")])
    finite = np.abs(losses[np.isfinite(losses)])
    runaway = bool(finite.size and finite.max() > 20)
    if runaway:  # before drawing: the reference labels' axis takes the scale it is made with
        axes[0].set_yscale("symlog", linthresh=1.0)  # runaway losses: keep the start readable
    draw_losses(axes[0], history, smoothing, loss)
    if runaway:  # log 4 and log 2 sit too close on this scale to label them apart
        axes[0].set_ylabel("loss (symlog: linear within ±1)")
        for child in list(axes[0].child_axes):
            child.remove()
    draw_d_outputs(axes[1], history, smoothing, loss)
    draw_grad_norm(axes[2], history, smoothing)
    snaps = sample_grids(history)
    if snaps:
        step, x = snaps[-1]
        draw_grid(axes[3], x[:n_show].clamp(-1, 1), nrow=int(math.ceil(math.sqrt(n_show))),
                  title=f"samples, step {int(step):,}")
    else:
        axes[3].axis("off")
    if title:
        fig.suptitle(title)
    return fig


def draw_class_mix(ax, steps, counts, title: str | None = None) -> None:
    """The judge's class mix of G's samples over training as stacked shares (class 0 at the
    bottom), one colour per digit: a healthy G keeps ten bands of about a tenth each; mode
    collapse shows one band taking nearly all, and the chase as that band changing."""
    c = np.asarray(counts, dtype=float).reshape(-1, 10)
    shares = c / np.maximum(c.sum(axis=1, keepdims=True), 1)
    colors = plt.get_cmap("tab10").colors  # digits, neither real nor fake
    ax.stackplot(np.asarray(steps), shares.T, colors=colors, labels=[str(d) for d in range(10)],
                 linewidth=0)
    ax.set_xlim(min(steps), max(steps)) if len(steps) > 1 else None
    ax.set_ylim(0, 1)
    ax.set_xlabel("generator step")
    ax.set_ylabel("share of samples")
    ax.set_title(title or "the judge's classes of G's samples")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7, title="digit",
              title_fontsize=7, frameon=False)
