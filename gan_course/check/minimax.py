"""Checkers for notebook 03 (generative models and the minimax game).

Each runs the student's function on several cases against the references in
:mod:`gan_course.theory` / :mod:`gan_course.losses` and recognises the typical wrong answer
(a flipped ratio, a missing ½, log base 2, a sign error, a player moving the wrong way) to
give a hint aimed at it. Logs are natural: divergences are in nats.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from gan_course import theory
from gan_course.check.core import Mismatch, attempted, expect, run_exercise


def _tensor(value, what: str) -> torch.Tensor:
    """The student's answer as a float64 tensor (accepts tensors, numpy arrays, floats)."""
    value = attempted(value)
    if isinstance(value, tuple) and len(value) == 1:
        value = value[0]
    try:
        return torch.as_tensor(value).detach().to(torch.float64)
    except Exception as e:
        raise Mismatch(f"{what}: expected numbers, got {type(value).__name__} ({e})",
                       hint="return a torch tensor or a Python float") from None


def _close(got: torch.Tensor, want: torch.Tensor, atol: float = 1e-7, rtol: float = 1e-6) -> bool:
    got, want = torch.as_tensor(got, dtype=torch.float64), torch.as_tensor(want, dtype=torch.float64)
    return got.shape == want.shape and bool(torch.allclose(got, want, atol=atol, rtol=rtol))


def _fmt(t: torch.Tensor) -> str:
    t = torch.as_tensor(t, dtype=torch.float64)
    if t.numel() == 1:
        return f"{float(t):.6g}"
    head = ", ".join(f"{v:.4g}" for v in t.flatten()[:4].tolist())
    return f"tensor of shape {tuple(t.shape)} starting [{head}, ...]"


# --- 1. the optimal discriminator ----------------------------------------------------------

def optimal_discriminator(fn):
    """``fn(p_data, p_g) -> D*(x) = p_data / (p_data + p_g)`` elementwise."""
    x, _ = theory.grid(-5.0, 5.0, 201)
    pairs = [
        ("p_data = N(0, 1), p_g = N(1, 1.5²)", theory.normal_pdf(x, 0.0, 1.0), theory.normal_pdf(x, 1.0, 1.5)),
        ("p_data = two modes, p_g = N(0, 2²)", theory.data_density(x, "two modes"), theory.normal_pdf(x, 0.0, 2.0)),
        ("three points", torch.tensor([0.1, 0.4, 0.3], dtype=torch.float64),
         torch.tensor([0.3, 0.1, 0.3], dtype=torch.float64)),
    ]

    def case(label, p_data, p_g):
        got = _tensor(fn(p_data.clone(), p_g.clone()), label)
        want = theory.optimal_discriminator(p_data, p_g)
        if _close(got, want):
            return
        hint = "D*(x) = p_data(x) / (p_data(x) + p_g(x)): maximise a·log y + b·log(1 − y) in y"
        if _close(got, 1.0 - want):
            hint = ("you returned p_g / (p_data + p_g), the probability of *fake*; D outputs the "
                    "probability of *real* (real = 1), so p_data goes on top")
        elif _close(got, p_data / p_g):
            hint = ("p_data / p_g is the density ratio, unbounded; D* is a probability: divide by "
                    "the sum p_data + p_g")
        elif got.shape != want.shape:
            hint = "D* is elementwise: the output has the shape of p_data"
        raise Mismatch(f"{label}: expected {_fmt(want)}, got {_fmt(got)}", hint)

    return run_exercise("optimal_discriminator", fn, [lambda c=c: case(*c) for c in pairs])


# --- 2. Jensen-Shannon divergence ----------------------------------------------------------

def jsd(fn):
    """``fn(p, q, dx) -> JSD(p || q)`` in nats on a grid, with ``0 · log 0 = 0``."""
    x, dx = theory.grid(-6.0, 8.0, 2801)
    cases = [
        ("N(0, 1) vs N(1, 1)", theory.normal_pdf(x, 0.0, 1.0), theory.normal_pdf(x, 1.0, 1.0)),
        ("two modes vs N(0, 1.5²)", theory.data_density(x, "two modes"), theory.normal_pdf(x, 0.0, 1.5)),
        ("identical densities", theory.normal_pdf(x, 0.5, 1.0), theory.normal_pdf(x, 0.5, 1.0)),
        ("boxes [0, 1) and [0.5, 1.5) (half overlap, zeros outside)",
         theory.uniform_pdf(x, 0.0, 1.0), theory.uniform_pdf(x, 0.5, 1.5)),
        ("disjoint boxes [0, 1) and [3, 4)", theory.uniform_pdf(x, 0.0, 1.0), theory.uniform_pdf(x, 3.0, 4.0)),
    ]

    def case(label, p, q):
        got = _tensor(fn(p.clone(), q.clone(), dx), label)
        want = theory.js_divergence(p, q, dx)
        expect(got.numel() == 1, f"{label}: expected one number, got {_fmt(got)}",
               hint="integrate: sum over the grid and multiply by dx")
        got = got.reshape(())
        if _close(got, want, atol=1e-6):
            return
        m = 0.5 * (p + q)
        hint = "JSD(p||q) = ½ KL(p||m) + ½ KL(q||m) with m = (p + q)/2, KL = Σ p log(p/m) dx"
        if torch.isnan(got):
            hint = ("you got nan: 0 · log 0 must count as 0 where p or q is zero; use "
                    "torch.xlogy(p, p / m) or mask the zeros")
        elif _close(got, 2 * want, atol=1e-6):
            hint = "missing the ½ factors: JSD averages the two KL terms"
        elif _close(got, want / math.log(2), atol=1e-6):
            hint = "that is the JSD in bits (log base 2); the course uses natural logs (nats)"
        elif _close(got, theory.kl_divergence(p, q, dx), atol=1e-6):
            hint = ("that is KL(p || q); the JSD compares each density with the mixture "
                    "m = (p + q)/2, which is why it stays finite where q = 0")
        elif _close(got, theory.kl_divergence(p, m, dx), atol=1e-6) or \
                _close(got, 0.5 * theory.kl_divergence(p, m, dx), atol=1e-6):
            hint = "only the KL(p || m) half is there: add ½ KL(q || m)"
        elif _close(got, want / dx, rtol=1e-5):
            hint = "multiply the sum by dx: it is an integral"
        raise Mismatch(f"{label}: expected {float(want):.6f} nats, got {_fmt(got)}", hint)

    return run_exercise("jsd", fn, [lambda c=c: case(*c) for c in cases])


# --- 3. the value function from a batch of D's outputs -------------------------------------

def value_function(fn):
    """``fn(d_real, d_fake) -> mean log d_real + mean log(1 - d_fake)`` (probabilities in)."""
    gen = torch.Generator().manual_seed(3)
    batches = [
        ("D half sure", torch.full((4,), 0.5, dtype=torch.float64), torch.full((4,), 0.5, dtype=torch.float64)),
        ("random batch of 8 and 6",
         torch.rand(8, generator=gen, dtype=torch.float64) * 0.9 + 0.05,
         torch.rand(6, generator=gen, dtype=torch.float64) * 0.9 + 0.05),
        ("a confident D", torch.tensor([0.99, 0.95, 0.9], dtype=torch.float64),
         torch.tensor([0.02, 0.1, 0.05], dtype=torch.float64)),
    ]

    def case(label, d_real, d_fake):
        got = _tensor(fn(d_real.clone(), d_fake.clone()), label).reshape(-1)
        want = torch.log(d_real).mean() + torch.log(1 - d_fake).mean()
        expect(got.numel() == 1, f"{label}: expected one number, got {_fmt(got)}",
               hint="average over each batch: V is an expectation")
        got = got[0]
        if _close(got, want):
            return
        hint = "V = mean log D(x_real) + mean log(1 − D(G(z)))"
        if _close(got, -want):
            hint = ("sign flipped: that is D's BCE loss, −V. V itself is what D maximises "
                    "(and G minimises)")
        elif _close(got, torch.log(d_real).mean() + torch.log(d_fake).mean()):
            hint = "the fake term is log(1 − D(G(z))), not log D(G(z)): D wants D(G(z)) → 0"
        elif _close(got, torch.log(d_real).sum() + torch.log(1 - d_fake).sum()):
            hint = "use means, not sums: the two batches can have different sizes"
        elif _close(got, torch.log(torch.cat([d_real, 1 - d_fake])).mean()):
            hint = "average each term over its own batch, then add the two means"
        raise Mismatch(f"{label}: expected {float(want):.6f}, got {_fmt(got)}", hint)

    return run_exercise("value_function", fn, [lambda c=c: case(*c) for c in batches])


# --- 4. the non-saturating generator loss from logits --------------------------------------

def g_loss_nonsaturating(fn):
    """``fn(logits_fake) -> -mean log sigmoid(l)``, finite for very negative logits, with
    gradient ``-(1 - sigmoid(l)) / B`` with respect to each logit."""
    cases = [
        ("logits [-1, 0.5]", torch.tensor([-1.0, 0.5], dtype=torch.float64)),
        ("logits [-3, -1, 0.5, 2]", torch.tensor([-3.0, -1.0, 0.5, 2.0], dtype=torch.float64)),
        ("D rejects the fakes confidently, logits [-800, -50, -20]",
         torch.tensor([-800.0, -50.0, -20.0], dtype=torch.float64)),
    ]

    def case(label, logits):
        leaf = logits.clone().requires_grad_(True)
        out = attempted(fn(leaf))
        got = _tensor(out, label).reshape(-1)
        want = F.softplus(-logits).mean()
        expect(got.numel() == 1, f"{label}: expected one number, got {_fmt(got)}",
               hint="average over the batch")
        got = got[0]
        if not _close(got, want):
            sat = -F.softplus(logits).mean()  # mean log(1 - sigmoid(l))
            hint = "loss_G = −mean log D(G(z)) = −mean log sigmoid(l) = mean softplus(−l)"
            if logits.min() < -100:  # right on moderate logits, wrong only on extreme ones
                hint = ("for very negative logits the loss must keep growing like −l; an eps or "
                        "clamp inside log(sigmoid(l)) caps it: use F.logsigmoid(l)")
            if not torch.isfinite(got):
                hint = ("log(sigmoid(l)) overflows for very negative logits: use "
                        "F.logsigmoid(l) (or F.softplus(-l)), which never takes log(0)")
            elif _close(got, -want):
                hint = "sign flipped: G *minimises* −log D(G(z)), i.e. maximises log D(G(z))"
            elif _close(got, -logits.mean()):
                hint = "that is −mean(raw logits); D(G(z)) = sigmoid(l), so use log sigmoid(l)"
            elif _close(got, sat) or _close(got, -sat):
                hint = ("that is the saturating form log(1 − D(G(z))); the non-saturating loss "
                        "is −log D(G(z))")
            raise Mismatch(f"{label}: expected {float(want):.6f}, got {_fmt(got)}", hint)
        expect(isinstance(out, torch.Tensor) and out.requires_grad,
               f"{label}: the loss is not connected to the logits (no gradient)",
               hint="compute it with torch operations on the logits; no .item(), .detach() or numpy")
        (grad,) = torch.autograd.grad(out.sum(), leaf)
        want_grad = -(1 - torch.sigmoid(logits)) / logits.numel()
        expect(_close(grad, want_grad), f"{label}: gradient {_fmt(grad)}, expected {_fmt(want_grad)}",
               hint="dloss/dl = −(1 − sigmoid(l)) / B; a clamp or a detach changes it")

    return run_exercise("g_loss_nonsaturating", fn, [lambda c=c: case(*c) for c in cases])


# --- 5 and 6. the bilinear game min_x max_y x*y ----------------------------------------

_POINTS = [(1.0, 1.0, 0.1), (0.5, -2.0, 0.3), (-1.5, 0.25, 0.05)]


def _pair(out, label):
    out = attempted(out)
    expect(isinstance(out, (tuple, list)) and len(out) == 2,
           f"{label}: expected a pair (x_new, y_new), got {type(out).__name__}",
           hint="return x_new, y_new")
    return float(out[0]), float(out[1])


def simultaneous_step(fn):
    """``fn(x, y, lr) -> (x - lr*y, y + lr*x)``: x descends x·y, y ascends it."""
    def case(x, y, lr):
        label = f"x={x}, y={y}, lr={lr}"
        got, want = _pair(fn(x, y, lr), label), theory.simultaneous_step(x, y, lr)
        if _close(torch.tensor(got), torch.tensor(want)):
            return
        hint = "dV/dx = y and dV/dy = x; x' = x − lr·y (descent), y' = y + lr·x (ascent)"
        if _close(torch.tensor(got), torch.tensor((x - lr * y, y - lr * x))):
            hint = "y descends instead of ascending: the max player moves *up* the gradient, y + lr·x"
        elif _close(torch.tensor(got), torch.tensor((x + lr * y, y + lr * x))):
            hint = "x ascends: the min player moves *down* the gradient, x − lr·y"
        elif _close(torch.tensor(got), torch.tensor(theory.alternating_step(x, y, lr))):
            hint = "that is the alternating step (y sees the new x); simultaneous uses the old x"
        elif _close(torch.tensor(got), torch.tensor((x - lr * x, y + lr * y))):
            hint = "the gradient of x·y with respect to x is y (not x), and with respect to y is x"
        raise Mismatch(f"{label}: expected ({want[0]:.6g}, {want[1]:.6g}), got ({got[0]:.6g}, {got[1]:.6g})",
                       hint)

    return run_exercise("simultaneous_step", fn, [lambda c=c: case(*c) for c in _POINTS])


def extragradient_step(fn):
    """``fn(x, y, lr)``: look-ahead step, then step from (x, y) with the look-ahead gradients."""
    def case(x, y, lr):
        label = f"x={x}, y={y}, lr={lr}"
        got, want = _pair(fn(x, y, lr), label), theory.extragradient_step(x, y, lr)
        if _close(torch.tensor(got), torch.tensor(want)):
            return
        xh, yh = x - lr * y, y + lr * x
        hint = ("x_half = x − lr·y, y_half = y + lr·x; then x' = x − lr·y_half, "
                "y' = y + lr·x_half")
        if _close(torch.tensor(got), torch.tensor((xh - lr * yh, yh + lr * xh))):
            hint = ("you stepped from the look-ahead point (two simultaneous steps); the second "
                    "step starts again from the original (x, y)")
        elif _close(torch.tensor(got), torch.tensor((x - lr * yh, y - lr * xh))) or \
                _close(torch.tensor(got), torch.tensor((x - lr * (y - lr * x), y - lr * xh))):
            hint = "y descends: the max player ascends, y + lr·(gradient at the look-ahead point)"
        elif _close(torch.tensor(got), torch.tensor((xh, yh))):
            hint = "that is only the look-ahead (a simultaneous step); take the second step too"
        raise Mismatch(f"{label}: expected ({want[0]:.6g}, {want[1]:.6g}), got ({got[0]:.6g}, {got[1]:.6g})",
                       hint)

    return run_exercise("extragradient_step", fn, [lambda c=c: case(*c) for c in _POINTS])
