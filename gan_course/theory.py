"""The GAN theory of notebook 03, computed exactly on a 1-D grid.

Densities are tensors of their values on an evenly spaced grid ``x`` with spacing ``dx``
(from :func:`grid`); an integral is the Riemann sum ``∫ f(x) dx ≈ Σ_i f(x_i) dx``, accurate
when the grid is fine and wide enough that the densities vanish at its ends. Everything is
written in torch (float64 by default), so autograd can differentiate a divergence with
respect to a parameter of ``p_g`` (the flat-gradient argument for WGAN).

Logarithms are natural: divergences are in **nats** (``JSD <= log 2 ≈ 0.693``).

The pieces, with their formulas:

- :func:`optimal_discriminator`  ``D*(x) = p_data(x) / (p_data(x) + p_g(x))``
- :func:`value_function`         ``V(D, G) = ∫ p_data log D + p_g log(1 - D) dx``
  (and :func:`value_from_logits` for a D given by logits)
- :func:`kl_divergence`          ``KL(p || q) = ∫ p log(p / q) dx``
- :func:`js_divergence`          ``JSD(p || q) = ½ KL(p || m) + ½ KL(q || m)``, ``m = (p + q) / 2``
- :func:`wasserstein1`           ``W1(p, q) = ∫ |F_p(x) - F_q(x)| dx`` (1-D: CDFs)
- the bilinear game ``min_x max_y x·y``: :func:`simultaneous_step`, :func:`alternating_step`,
  :func:`extragradient_step`, :func:`trajectory`
- :func:`data_density` (the two ``p_data`` of the widget) and :func:`plot_minimax` (the figure
  that the widget redraws and the notebook's static figure shows).
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch.nn import functional as F

LOG4 = math.log(4.0)
LOG2 = math.log(2.0)


def grid(lo: float = -6.0, hi: float = 6.0, n: int = 2401,
         dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, float]:
    """An evenly spaced grid ``x`` of ``n`` points on ``[lo, hi]`` and its spacing ``dx``."""
    if not hi > lo or n < 2:
        raise ValueError(f"need hi > lo and n >= 2, got lo={lo}, hi={hi}, n={n}")
    x = torch.linspace(lo, hi, n, dtype=dtype)
    return x, (hi - lo) / (n - 1)


def normal_pdf(x: torch.Tensor, mean, std) -> torch.Tensor:
    """``N(x; μ, σ²) = exp(-(x - μ)² / 2σ²) / (σ √(2π))``; ``mean``/``std`` may be tensors
    (with ``requires_grad``) so that autograd can differentiate through the density."""
    z = (x - mean) / std
    return torch.exp(-0.5 * z * z) / (std * math.sqrt(2.0 * math.pi))


def mixture_pdf(x: torch.Tensor, weights, means, stds) -> torch.Tensor:
    """``Σ_k π_k N(x; μ_k, σ_k²)`` with weights ``π_k`` that sum to 1."""
    if abs(sum(float(w) for w in weights) - 1.0) > 1e-9:
        raise ValueError(f"mixture weights must sum to 1, got {list(weights)}")
    return sum(w * normal_pdf(x, m, s) for w, m, s in zip(weights, means, stds))


def uniform_pdf(x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """The box density ``1 / (hi - lo)`` on ``[lo, hi)`` and 0 elsewhere."""
    return ((x >= lo) & (x < hi)).to(x.dtype) / (hi - lo)


def optimal_discriminator(p_data: torch.Tensor, p_g: torch.Tensor) -> torch.Tensor:
    """The discriminator that maximises V(D, G) for a fixed G (Goodfellow et al. 2014, Prop. 1):

        D*(x) = p_data(x) / (p_data(x) + p_g(x))

    Pointwise, ``a log y + b log(1 - y)`` with ``a = p_data(x)``, ``b = p_g(x)`` has its
    maximum at ``y = a / (a + b)``. Where both densities are 0, any value is optimal (it is
    weighted by 0); we return ½ there.
    """
    total = p_data + p_g
    return torch.where(total > 0, p_data / torch.where(total > 0, total, 1.0), 0.5)


def value_function(p_data: torch.Tensor, p_g: torch.Tensor, d: torch.Tensor, dx: float) -> torch.Tensor:
    """``V(D, G) = E_{x~p_data}[log D(x)] + E_{x~p_g}[log(1 - D(x))]`` on the grid:

        V = Σ_i [p_data(x_i) log D(x_i) + p_g(x_i) log(1 - D(x_i))] dx

    ``d`` holds D's probabilities ``D(x_i)`` in [0, 1] (not logits). ``0 · log 0 = 0``.
    """
    return (torch.xlogy(p_data, d) + torch.xlogy(p_g, 1.0 - d)).sum() * dx


def value_from_logits(p_data: torch.Tensor, p_g: torch.Tensor, logits: torch.Tensor, dx: float) -> torch.Tensor:
    """``V(D, G)`` for a D given by its logits ``l`` on the grid, ``D = sigmoid(l)``:

        V = Σ_i [p_data(x_i) log σ(l_i) + p_g(x_i) log σ(-l_i)] dx

    using ``log(1 - σ(l)) = log σ(-l)``, which stays finite where ``σ(l)`` rounds to 1.
    """
    return (p_data * F.logsigmoid(logits) + p_g * F.logsigmoid(-logits)).sum() * dx


def value_at_optimum(p_data: torch.Tensor, p_g: torch.Tensor, dx: float) -> torch.Tensor:
    """``C(G) = V(G, D*) = max_D V(D, G)``; equals ``2 JSD(p_data || p_g) - log 4``.

    Written with ``1 - D* = p_g / (p_data + p_g)`` rather than ``1 - D*``: in floating point
    ``1 - D*`` rounds to 0 where ``p_g`` is a tiny fraction of ``p_data``, and ``log 0``
    would turn a negligible term into ``-inf``.
    """
    total = p_data + p_g
    safe = torch.where(total > 0, total, 1.0)
    return (torch.xlogy(p_data, p_data / safe) + torch.xlogy(p_g, p_g / safe)).sum() * dx


def kl_divergence(p: torch.Tensor, q: torch.Tensor, dx: float) -> torch.Tensor:
    """``KL(p || q) = ∫ p log(p / q) dx`` in nats; ``+inf`` where ``p > 0`` but ``q = 0``.

    Points with ``p = 0`` add exactly 0 (``0 · log 0 = 0``) and are masked out before the
    log, so autograd gives finite gradients there too (``torch.xlogy`` would give nan).
    """
    pos = p > 0
    log_ratio = torch.log(torch.where(pos, p, 1.0)) - torch.log(torch.where(pos, q, 1.0))
    return torch.where(pos, p * log_ratio, 0.0).sum() * dx


def js_divergence(p: torch.Tensor, q: torch.Tensor, dx: float) -> torch.Tensor:
    """Jensen-Shannon divergence in nats, between 0 (``p = q``) and ``log 2`` (disjoint):

        JSD(p || q) = ½ KL(p || m) + ½ KL(q || m),   m = (p + q) / 2

    Unlike KL it is symmetric and finite even where one density is 0 (``m >= p/2``).
    """
    m = 0.5 * (p + q)
    return 0.5 * kl_divergence(p, m, dx) + 0.5 * kl_divergence(q, m, dx)


def wasserstein1(p: torch.Tensor, q: torch.Tensor, dx: float) -> torch.Tensor:
    """Earth mover's distance in 1-D: ``W1(p, q) = ∫ |F_p(x) - F_q(x)| dx`` with CDFs ``F``.

    For two copies of one density shifted by ``d`` it is exactly ``|d|``: it keeps growing
    (and keeps a gradient) however far apart the supports are, unlike the JSD.
    """
    cdf_p, cdf_q = torch.cumsum(p, 0) * dx, torch.cumsum(q, 0) * dx
    return (cdf_p - cdf_q).abs().sum() * dx


def data_density(x: torch.Tensor, name: str = "gaussian") -> torch.Tensor:
    """The fixed ``p_data`` of the widget: ``"gaussian"`` N(0, 1) or ``"two modes"``
    ½ N(-2, 0.5²) + ½ N(2, 0.5²)."""
    if name == "gaussian":
        return normal_pdf(x, 0.0, 1.0)
    if name == "two modes":
        return mixture_pdf(x, [0.5, 0.5], [-2.0, 2.0], [0.5, 0.5])
    raise ValueError(f"unknown p_data {name!r}; choose 'gaussian' or 'two modes'")


# --- the bilinear game min_x max_y V(x, y) = x*y: dV/dx = y, dV/dy = x ----------------------

def simultaneous_step(x: float, y: float, lr: float, lr_y: float | None = None) -> tuple[float, float]:
    """Both players step from the same point: x descends V, y ascends V.

        x' = x - η_x y,   y' = y + η_y x

    With ``η_x = η_y = η`` the radius grows by exactly ``sqrt(1 + η²)`` per step.
    """
    lr_y = lr if lr_y is None else lr_y
    return x - lr * y, y + lr_y * x


def alternating_step(x: float, y: float, lr: float, lr_y: float | None = None) -> tuple[float, float]:
    """x moves first, then y answers the *new* x: ``x' = x - η_x y``, ``y' = y + η_y x'``.

    The update matrix has determinant 1 (it preserves area): for ``η_x η_y < 4`` the iterates
    stay on a closed ellipse around (0, 0) and neither converge nor diverge.
    """
    lr_y = lr if lr_y is None else lr_y
    x_new = x - lr * y
    return x_new, y + lr_y * x_new


def extragradient_step(x: float, y: float, lr: float, lr_y: float | None = None) -> tuple[float, float]:
    """Look ahead with a simultaneous step, then step from the *original* point using the
    gradients at the look-ahead point (Korpelevich 1976):

        x_½ = x - η y,   y_½ = y + η x
        x'  = x - η y_½, y'  = y + η x_½

    For ``η_x = η_y = η`` the radius shrinks by ``sqrt(1 - η² + η⁴) < 1`` per step when η < 1.
    """
    lr_y = lr if lr_y is None else lr_y
    x_half, y_half = x - lr * y, y + lr_y * x
    return x - lr * y_half, y + lr_y * x_half


def trajectory(step: Callable, x0: float, y0: float, lr: float, n_steps: int,
               lr_y: float | None = None) -> torch.Tensor:
    """The ``(n_steps + 1, 2)`` points visited by ``step`` from ``(x0, y0)`` (float64)."""
    points = [(float(x0), float(y0))]
    x, y = x0, y0
    for _ in range(n_steps):
        x, y = step(x, y, lr, lr_y)
        points.append((float(x), float(y)))
    return torch.tensor(points, dtype=torch.float64)


# --- the figure the widget redraws -----------------------------------------------------

def plot_minimax(ax, g_mean: float, g_std: float, data: str = "gaussian"):
    """Draw ``p_data`` (fixed, in the real colour), ``p_g = N(g_mean, g_std²)`` (in the fake
    colour) and ``D*(x)`` on ``ax`` (and a twin axis for D*), with ``V(G, D*)``, ``2 JSD - log 4`` and ``JSD`` in the title.
    Returns ``(V, JSD)`` as floats.

    Both densities are renormalised to integrate to 1 on the grid: a wide ``p_g`` loses a
    little mass past the grid's ends, and ``V(G, D*) = 2 JSD - log 4`` holds only for
    densities of total mass 1 (the difference is ``log 2 · (mass_data + mass_g - 2)``).
    """
    from gan_course.plotting import FAKE_COLOR, REAL_COLOR  # here: pyplot is slow to import

    x, dx = grid(-12.0, 12.0, 4801)
    p_data, p_g = data_density(x, data), normal_pdf(x, g_mean, g_std)
    p_data, p_g = p_data / (p_data.sum() * dx), p_g / (p_g.sum() * dx)
    d_star = optimal_discriminator(p_data, p_g)
    v, jsd = float(value_at_optimum(p_data, p_g, dx)), float(js_divergence(p_data, p_g, dx))
    ax.fill_between(x, p_data, alpha=0.3, color=REAL_COLOR, label="$p_{data}$")
    ax.plot(x, p_g, color=FAKE_COLOR, label=f"$p_g$ = N({g_mean:.1f}, {g_std:.1f}²)")
    ax.set(xlabel="x", ylabel="density", xlim=(-7, 7))
    twin = ax.twinx()
    twin.plot(x, d_star, color="k", lw=1.2, ls="--", label="$D^*(x)$")
    twin.axhline(0.5, color="0.6", lw=0.8, ls=":")
    twin.set(ylim=(-0.02, 1.02), ylabel="$D^*(x)$")
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="upper left", fontsize=8)
    ax.set_title(f"V(G,D*) = {v:.3f}   2·JSD − log 4 = {2 * jsd - LOG4:.3f}\n"
                 f"JSD = {jsd:.3f} nats (max log 2 = {LOG2:.3f})", fontsize=9)
    return v, jsd
