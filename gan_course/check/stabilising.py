"""Checkers for notebook 09 (stabilising GANs): three pieces of the fixes, written by hand.

- :func:`hinge_d_loss`: ``mean relu(1 - D(x)) + mean relu(1 + D(G(z)))`` on raw scores.
  Typical mistakes: no relu (that is the WGAN critic's loss), the signs swapped, the margin
  left out, one mean over both batches together, sums instead of means, the hinge applied to
  sigmoid(D), a number (``.item()``) instead of a tensor.
- :func:`r1_penalty`: ``gamma / 2 * mean_i ||grad_x D(x_i)||^2`` at the real images, as a
  tensor D can be trained through. Typical mistakes: no ``create_graph=True`` (D then cannot
  learn from the penalty), the 1/2 left out, the norm not squared, a sum over the batch,
  a mean over the pixels, the gradient of ``D(x).mean()`` (1/B too small), the gradient of
  sigmoid(D), the caller's ``x_real`` switched to ``requires_grad`` in place.
- :func:`ema_update`: ``theta_ema <- decay * theta_ema + (1 - decay) * theta`` in place, for
  every parameter. Typical mistakes: ``decay`` and ``1 - decay`` swapped, G copied outright,
  assignment to the loop variable (which changes nothing), G updated instead of the average.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn import functional as F

from gan_course.check.core import (Mismatch, attempted, expect, expect_unchanged, fmt, hint_for,
                                   run_exercise, scalar_loss, snapshot)


def _scores(seed: int, n: int, shift: float) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (1.5 * torch.randn(n, generator=g, dtype=torch.float64) + shift).requires_grad_(True)


# ---------------------------------------------------------------------------------------
# 1. the hinge loss of D
# ---------------------------------------------------------------------------------------

def _hinge(r, f):
    return F.relu(1 - r).mean() + F.relu(1 + f).mean()


HINGE_MISTAKES = [
    (lambda r, f: f.mean() - r.mean(),
     "no hinge: mean(D(G(z))) - mean(D(x)) is the WGAN critic's loss; clip each term at its "
     "margin, relu(1 - D(x)) and relu(1 + D(G(z)))"),
    (lambda r, f: F.relu(1 + r).mean() + F.relu(1 - f).mean(),
     "the signs are swapped: real scores are pushed above +1 (relu(1 - D(x))) and fake ones "
     "below -1 (relu(1 + D(G(z))))"),
    (lambda r, f: F.relu(-r).mean() + F.relu(f).mean(),
     "the margin of 1 is missing: relu(1 - D(x)), not relu(-D(x)); without it D stops at 0"),
    (lambda r, f: torch.cat([F.relu(1 - r), F.relu(1 + f)]).mean(),
     "one mean over both batches together: average each term over its own batch, then add "
     "the two means"),
    (lambda r, f: F.relu(1 - r).sum() + F.relu(1 + f).sum(),
     "sums instead of means: the loss would grow with the batch size"),
    (lambda r, f: F.relu(1 - torch.sigmoid(r)).mean() + F.relu(1 + torch.sigmoid(f)).mean(),
     "the hinge works on D's raw scores; a sigmoid squeezes them into (0, 1), inside the margins"),
    (lambda r, f: F.relu(1 - r).mean() - F.relu(1 + f).mean(),
     "the fake term is subtracted: both terms are penalties, add them"),
]


def hinge_d_loss(fn, quiet: bool = False):
    """Check ``fn(scores_real, scores_fake) -> loss``: D's hinge loss on raw scores, a 0-d
    tensor D's optimiser can back-propagate. Cases: scores on both sides of the margins,
    batches of different sizes, every score beyond its margin (loss 0)."""
    cases = [("scores around 0", 0, 8, 8, 0.0, 0.0), ("real high, fake low, batches 12 and 5", 1, 12, 5, 1.0, -1.0),
             ("every score beyond its margin", 2, 6, 9, None, None)]

    def case(label, seed, n_real, n_fake, shift_r, shift_f):
        if shift_r is None:  # all real scores above 1, all fake below -1: no loss, no gradient
            r = (2 + torch.rand(n_real, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)).requires_grad_(True)
            f = (-2 - torch.rand(n_fake, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)).requires_grad_(True)
        else:
            r, f = _scores(seed, n_real, shift_r), _scores(seed + 50, n_fake, shift_f)
        before = snapshot(scores_real=r, scores_fake=f)
        out = attempted(fn(r, f))
        expect_unchanged(label, {"scores_real": r, "scores_fake": f}, before)
        loss = scalar_loss(out, "the loss")
        want = float(_hinge(r, f).detach())
        got = float(loss.detach())
        if abs(got - want) > 1e-6 * max(1.0, abs(want)):
            raise Mismatch(f"{label}: expected {want:.6g}, got {got:.6g}",
                           hint=hint_for(got, HINGE_MISTAKES, (r.detach(), f.detach()),
                                          f"expected {want:.6g}: the hinge is mean(relu(1 - D(x))) "
                                          "+ mean(relu(1 + D(G(z))))", rtol=1e-6, atol=1e-6))
        expect(loss.requires_grad, f"{label}: the loss carries no graph back to the scores",
               hint="compute it from the scores with torch operations (no .item(), .detach() or "
                    "NumPy), so that backward() reaches D")
        g_r, g_f = torch.autograd.grad(loss, (r, f), allow_unused=True)
        w_r, w_f = torch.autograd.grad(_hinge(r, f), (r, f), allow_unused=True)
        for g, w, name in ((g_r, w_r, "real"), (g_f, w_f, "fake")):
            g = torch.zeros_like(w) if g is None else g
            expect(torch.allclose(g.double(), w, atol=1e-9),
                   f"{label}: the gradient with respect to the {name} scores is {fmt(g)}, expected {fmt(w)}",
                   hint="a score beyond its margin adds no gradient; use F.relu (or clamp(min=0))")

    return run_exercise("hinge_d_loss", fn, [lambda c=c: case(*c) for c in cases], quiet)


# ---------------------------------------------------------------------------------------
# 2. R1
# ---------------------------------------------------------------------------------------

def _tiny_d(seed: int) -> nn.Module:
    """A small nonlinear D on 1 x 4 x 4 images (its gradient depends on the image)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        D = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 1), nn.Flatten(0))
    return D.double()


def _r1(D, x, gamma):
    x = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)
    return gamma / 2 * g.flatten(1).pow(2).sum(1).mean()


def _grad_of(D, x, gamma, reduce, square=True, sigmoid=False):
    x = x.detach().requires_grad_(True)
    out = D(x)
    out = torch.sigmoid(out) if sigmoid else out
    (g,) = torch.autograd.grad(out.mean() if reduce == "mean-of-D" else out.sum(), x)
    per = g.flatten(1).pow(2).sum(1)
    per = per if square else per.sqrt()
    if reduce == "sum":
        return gamma / 2 * per.sum()
    if reduce == "pixels":
        return gamma / 2 * g.flatten(1).pow(2).mean(1).mean()
    return gamma / 2 * per.mean()


R1_MISTAKES = [
    (lambda D, x, gm: 2 * _r1(D, x, gm), "twice the reference: the penalty is gamma / 2 times the "
     "mean squared gradient norm (Mescheder et al. 2018, eq. 9)"),
    (lambda D, x, gm: _grad_of(D, x, gm, "mean", square=False), "the norm is not squared: R1 is "
     "gamma / 2 * mean_i ||grad||^2, the squared L2 norm of each image's gradient"),
    (lambda D, x, gm: _grad_of(D, x, gm, "sum"), "a sum over the batch: average the per-image "
     "squared norms (.mean() over images), so gamma does not depend on the batch size"),
    (lambda D, x, gm: _grad_of(D, x, gm, "pixels"), "a mean over the pixels: the squared norm of one "
     "image's gradient sums over all its pixels (.flatten(1).pow(2).sum(1)), then average over images"),
    (lambda D, x, gm: _grad_of(D, x, gm, "mean-of-D"), "you differentiated D(x).mean(): each image's "
     "gradient is then 1/B of its own; differentiate D(x).sum() (images do not interact)"),
    (lambda D, x, gm: _grad_of(D, x, gm, "mean", sigmoid=True), "R1 penalises the gradient of D's "
     "logit, not of sigmoid(D(x))"),
]


def r1_penalty(fn, quiet: bool = False):
    """Check ``fn(D, x_real, gamma) -> penalty``: R1 = gamma / 2 * mean_i ||grad_x D(x_i)||^2,
    a 0-d tensor whose gradient reaches D's weights (``create_graph=True``), with the caller's
    ``x_real`` and D's ``.grad`` left alone. Cases: two small D's, gamma 10 and 1, batches of
    6 and 3."""
    cases = [("gamma 10, a batch of 6", 0, 6, 10.0), ("gamma 1, a batch of 3", 1, 3, 1.0)]

    def case(label, seed, batch, gamma):
        D = _tiny_d(seed)
        x = torch.randn(batch, 1, 4, 4, generator=torch.Generator().manual_seed(seed + 7), dtype=torch.float64)
        before = snapshot(x_real=x)
        out = attempted(fn(D, x, gamma))
        expect_unchanged(label, {"x_real": x}, before)
        expect(all(p.grad is None for p in D.parameters()), f"{label}: your function filled D's .grad",
               hint="torch.autograd.grad(D(x).sum(), x, create_graph=True) returns the gradient "
                    "without touching D's .grad; backward() accumulates into it")
        penalty = scalar_loss(out, "the penalty")
        want = _r1(D, x, gamma)
        got, want_v = float(penalty.detach()), float(want.detach())
        if abs(got - want_v) > 1e-6 * max(1.0, abs(want_v)):
            hint = hint_for(got, R1_MISTAKES, (D, x, gamma), "R1 = gamma / 2 * mean over images "
                             "of the squared L2 norm of grad_x D(x), at the real images",
                             rtol=1e-6, atol=1e-6)
            raise Mismatch(f"{label}: expected {want_v:.6g}, got {got:.6g}", hint=hint)
        no_graph = "D must be able to learn from the penalty: take the gradient with " \
                   "torch.autograd.grad(..., create_graph=True), so that the penalty itself " \
                   "can be differentiated with respect to D's weights"
        expect(penalty.requires_grad, f"{label}: the penalty has no gradient with respect to D's weights",
               hint=no_graph)
        params = list(D.parameters())
        got_g = torch.autograd.grad(penalty, params, allow_unused=True)
        want_g = torch.autograd.grad(want, params, allow_unused=True)
        for g, w, p in zip(got_g, want_g, params):
            g, w = (torch.zeros_like(p) if t is None else t for t in (g, w))  # None: no influence
            expect(torch.allclose(g.double(), w, atol=1e-9, rtol=1e-6),
                   f"{label}: the penalty's gradient with respect to D's weights is wrong "
                   f"({fmt(g)} against {fmt(w)})", hint=no_graph)

    return run_exercise("r1_penalty", fn, [lambda c=c: case(*c) for c in cases], quiet)


# ---------------------------------------------------------------------------------------
# 3. the exponential moving average of G
# ---------------------------------------------------------------------------------------

def _pair(seed: int) -> tuple[nn.Module, nn.Module]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        G = nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Linear(5, 2))
        G_ema = copy.deepcopy(G).requires_grad_(False)
        for p in G.parameters():  # G has moved on since the copy
            p.data.add_(torch.randn_like(p))
    return G, G_ema


def ema_update(fn, quiet: bool = False):
    """Check ``fn(G_ema, G, decay)``: every parameter of ``G_ema`` becomes ``decay * ema +
    (1 - decay) * theta`` in place, and ``G`` is left alone (batch-norm buffers may be
    copied or not: the course re-measures the average's own statistics before sampling).
    Cases: decay 0.999, 0.9 and 0.5 (where the swap of decay and 1 - decay coincides), then
    two updates in a row."""
    cases = [("decay 0.999", 0, 0.999, 1), ("decay 0.9", 1, 0.9, 1), ("decay 0.5, two updates", 2, 0.5, 2)]

    def case(label, seed, decay, times):
        G, G_ema = _pair(seed)
        ema0 = [p.detach().clone() for p in G_ema.parameters()]
        theta = [p.detach().clone() for p in G.parameters()]
        for _ in range(times):
            fn(G_ema, G, decay)
        for name, p, t in zip((n for n, _ in G.named_parameters()), G.parameters(), theta):
            expect(torch.equal(p.detach(), t), f"{label}: G's parameter {name} changed",
                   hint="update the average, G_ema, towards G; G itself must stay as it is")
        want = []
        for e, t in zip(ema0, theta):
            w = e
            for _ in range(times):
                w = decay * w + (1 - decay) * t
            want.append(w)
        names = [n for n, _ in G_ema.named_parameters()]
        for name, p, w, e, t in zip(names, G_ema.parameters(), want, ema0, theta):
            got = p.detach()
            if torch.allclose(got, w, atol=1e-6):
                continue
            if torch.equal(got, e):
                hint = ("G_ema did not change. Assigning to the loop variable (p_ema = ...) only "
                        "rebinds a name; update the tensor in place under torch.no_grad(): "
                        "p_ema.mul_(decay).add_(p, alpha=1 - decay), or p_ema.lerp_(p, 1 - decay)")
            elif torch.allclose(got, t, atol=1e-6):
                hint = "G_ema became a copy of G: the average keeps decay of its old value"
            else:
                swapped = e
                for _ in range(times):
                    swapped = (1 - decay) * swapped + decay * t
                hint = ("decay and 1 - decay are swapped: the average keeps `decay` of itself and "
                        "takes 1 - decay of G" if torch.allclose(got, swapped, atol=1e-6) else
                        "theta_ema <- decay * theta_ema + (1 - decay) * theta, for every parameter")
            raise Mismatch(f"{label}: G_ema's {name} is {fmt(got)}, expected {fmt(w)}", hint=hint)

    return run_exercise("ema_update", fn, [lambda c=c: case(*c) for c in cases], quiet)
