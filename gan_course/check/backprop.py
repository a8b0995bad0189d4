"""Checkers for notebook 02 (backpropagation).

Each checker runs the student's function on several cases against a PyTorch reference
(autograd, or the package's losses) and, when the answer is wrong, recognises the typical
mistake that produced it:

- :func:`sigmoid_bce_grad`: dL/dl of the mean BCE on logits is ``(sigmoid(l) - y) / N``;
  typical mistakes flip the sign, forget the 1/N of the mean, or multiply by sigmoid' again.
- :func:`linear_backward`: for ``out = x @ W.T + b`` the gradients are ``grad_out @ W``,
  ``grad_out.T @ x`` and ``grad_out.sum(0)``; typical mistakes transpose grad_W or forget to
  sum the bias gradient over the batch.
- :func:`numerical_gradient`: central differences ``(f(x + eps e_i) - f(x - eps e_i)) / (2 eps)``;
  typical mistakes are the forward difference, dividing by eps instead of 2 eps, nudging
  every entry at once, and not putting ``x`` back (up to rounding: restoring by arithmetic
  passes).
- :func:`generator_step_loss`: the non-saturating ``-mean log D(G(z))``, with the gradient
  reaching G; typical mistakes are the saturating form, the fake label 0, raw logits,
  ``log(sigmoid(l))`` that overflows, and a ``detach()`` that cuts G off.
- :func:`discriminator_step_loss`: ``BCE(D(x_real), 1) + BCE(D(x_fake.detach()), 0)``;
  typical mistakes are swapped labels, a missing ``detach()``, a ``detach_()`` that cuts the
  caller's ``x_fake``, and losses that are right only when both batches have the same size.

The two loss checkers name wrong values from the lists shared by every loss checker
(``core.D_LOSS_MISTAKES``, ``core.G_LOSS_MISTAKES``); ``sigmoid_bce_grad`` and
``linear_backward`` switch autograd off while the student's function runs.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from gan_course.check.core import (GlobalRNGWatch, Mismatch, as_tensor, attempted, call, close, d_loss_reference,
                                   diagnose_loss, expect, expect_restored, expect_unchanged, fmt, g_loss_reference,
                                   loss_shape_hint, module_state, refusing, run_exercise, scalar_loss, snapshot)


def _no_autograd():
    """Switch autograd's entry points off while the student's hand-written gradient runs:
    these exercises ask for the formula, and autograd would pass every case."""
    return refusing([(torch.autograd, "grad"), (torch.autograd, "backward"), (torch.Tensor, "backward")],
                    "this exercise asks for the gradient by hand (the formula), not by autograd: "
                    "remove .backward() / torch.autograd.grad")


# ---------------------------------------------------------------------------------------
# 1. gradient of the mean binary cross-entropy with respect to the logits
# ---------------------------------------------------------------------------------------

def _bce_grad_reference(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    l = logits.detach().clone().requires_grad_(True)
    F.binary_cross_entropy_with_logits(l, y).backward()
    return l.grad


def sigmoid_bce_grad(fn, quiet: bool = False):
    """Check ``fn(logits, y) -> dL/dlogits`` for ``L = mean_i BCE(sigmoid(l_i), y_i)``.

    The reference is autograd through ``F.binary_cross_entropy_with_logits`` (reduction
    mean), whose gradient is ``(sigmoid(l) - y) / N`` with N the number of logits. Autograd
    is switched off while the student's function runs (the exercise asks for the formula).
    """
    g = torch.Generator().manual_seed(2)

    def case(logits: torch.Tensor, y: torch.Tensor, label: str):
        want = _bce_grad_reference(logits, y)
        args = {"logits": logits.clone(), "y": y.clone()}
        before = snapshot(**args)
        with _no_autograd():
            got = as_tensor(fn(*args.values()), "the gradient")
        where = f"{label}: logits {fmt(logits)}, y {fmt(y)}"
        expect(got.shape == want.shape,
               f"{where}: expected shape {tuple(want.shape)}, got {tuple(got.shape)}",
               hint="there is one gradient per logit: same shape as `logits` (y.view(-1, 1) or a "
                    "(B, 1) target broadcasts against (B,) logits into a (B, B) matrix)")
        if close(got, want, rtol=1e-5, atol=1e-8):  # float32 arithmetic passes
            expect_unchanged(where, args, before)
            return
        n, s = logits.numel(), torch.sigmoid(logits)
        if not bool(torch.isfinite(got).all()):
            expect(False, f"{where}: the gradient has nan or inf",
                   hint="for confident logits sigmoid(l) rounds to exactly 0 or 1: the unsimplified "
                        "-(y/s - (1-y)/(1-s)) * s(1-s) then computes 0 * inf, and exp(l) / (1 + exp(l)) "
                        "overflows for large l. Simplify first: (torch.sigmoid(l) - y) / N")
        wrong = [
            (-want, "the sign is flipped: dL/dl = sigmoid(l) - y (the loss falls when the "
                    "logit moves toward the label), not y - sigmoid(l)"),
            (want * n, "you forgot the mean: L averages over the N logits, so every "
                       "gradient carries a factor 1/N (divide by logits.numel())"),
            (want * s * (1 - s), "you multiplied by sigmoid'(l) = s(1 - s) a second time: "
                                 "the 1/(s(1 - s)) of the BCE derivative cancels it, "
                                 "leaving sigmoid(l) - y"),
            (want * n * s * (1 - s), "you multiplied by sigmoid'(l) again and forgot the 1/N "
                                     "of the mean: the answer is (sigmoid(l) - y) / N"),
            (-want * n, "the sign is flipped and the 1/N of the mean is missing"),
            ((s - y.round()) / n, "the labels were rounded: soft labels such as 0.9 enter the "
                                  "formula as they are, (sigmoid(l) - y) / N"),
        ]
        if logits.dim() > 1:
            wrong.append((want * n / logits.shape[0],
                          "you divided by the number of rows only: the mean runs over all "
                          "N = logits.numel() logits"))
        for value, hint in wrong:
            expect(not close(got, value, rtol=1e-5, atol=1e-8),
                   f"{where}: expected {fmt(want)}, got {fmt(got)}", hint=hint)
        expect(False, f"{where}: expected {fmt(want)}, got {fmt(got)}",
               hint="derive dL/dl for one sample first: -(y/s - (1-y)/(1-s)) * s(1-s), "
                    "then divide by the number of logits")

    t = lambda *v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    return run_exercise("sigmoid_bce_grad", fn, [
        lambda: case(t(-2.0, 0.5, 3.0), t(0.0, 1.0, 1.0), "three logits"),
        lambda: case(torch.randn(16, generator=g, dtype=torch.float64) * 2,
                     torch.randint(0, 2, (16,), generator=g).double(), "a batch of 16"),
        lambda: case(torch.randn(8, generator=g, dtype=torch.float64),
                     torch.full((8,), 0.9, dtype=torch.float64), "soft labels 0.9"),
        lambda: case(torch.randn(4, 3, generator=g, dtype=torch.float64),
                     torch.randint(0, 2, (4, 3), generator=g).double(), "a (4, 3) batch"),
        lambda: case(t(-40.0, 40.0, 0.0, 1.0, 800.0, -800.0), t(1.0, 0.0, 1.0, 0.0, 1.0, 0.0),
                     "confident logits up to |l| = 800"),
    ], quiet=quiet)


# ---------------------------------------------------------------------------------------
# 2. backward of a fully connected layer
# ---------------------------------------------------------------------------------------

def _linear_reference(x, W, b, grad_out):
    x, W, b = (t.detach().clone().requires_grad_(True) for t in (x, W, b))
    F.linear(x, W, b).backward(grad_out)
    return x.grad, W.grad, b.grad


def linear_backward(fn, quiet: bool = False):
    """Check ``fn(x, W, grad_out) -> (grad_x, grad_W, grad_b)`` for ``out = x @ W.T + b``.

    Shapes: x (B, n_in), W (n_out, n_in), grad_out = dL/dout (B, n_out). The reference is
    autograd through ``F.linear``: ``grad_x = grad_out @ W``, ``grad_W = grad_out.T @ x``,
    ``grad_b = grad_out.sum(0)``. Autograd is off while the student's function runs.
    """
    g = torch.Generator().manual_seed(3)
    shape_hint = ("out = x @ W.T + b with x (B, n_in) and W (n_out, n_in): grad_x (B, n_in) "
                  "= grad_out (B, n_out) @ W (n_out, n_in)")

    def case(batch: int, n_in: int, n_out: int):
        x = torch.randn(batch, n_in, generator=g, dtype=torch.float64)
        W = torch.randn(n_out, n_in, generator=g, dtype=torch.float64)
        b = torch.randn(n_out, generator=g, dtype=torch.float64)
        grad_out = torch.randn(batch, n_out, generator=g, dtype=torch.float64)
        want_x, want_W, want_b = _linear_reference(x, W, b, grad_out)
        args = {"x": x.clone(), "W": W.clone(), "grad_out": grad_out.clone()}
        before = snapshot(**args)
        with _no_autograd():
            out = attempted(call(fn, *args.values(), shape_hint=shape_hint))
        where = f"x {tuple(x.shape)}, W {tuple(W.shape)}, grad_out {tuple(grad_out.shape)}"
        expect(isinstance(out, (tuple, list)) and len(out) == 3,
               f"{where}: expected a tuple (grad_x, grad_W, grad_b), got {type(out).__name__}"
               + (f" of length {len(out)}" if isinstance(out, (tuple, list)) else ""),
               hint="return grad_x, grad_W, grad_b")
        got_x, got_W, got_b = (as_tensor(v, name) for v, name in
                               zip(out, ("grad_x", "grad_W", "grad_b")))
        # grad_W
        if not close(got_W, want_W):
            expect(not close(got_W, want_W.T),
                   f"{where}: grad_W has the values of W's gradient transposed "
                   f"(shape {tuple(got_W.shape)}, expected {tuple(want_W.shape)})",
                   hint="grad_W must have W's shape (n_out, n_in): grad_W = grad_out.T @ x, "
                        "not x.T @ grad_out")
            expect(not close(got_W * batch, want_W),
                   f"{where}: grad_W is the batch mean of the per-sample gradients",
                   hint="sum over the batch: any 1/B of a mean loss is already inside grad_out")
            expect(False, f"{where}: grad_W expected {fmt(want_W)}, got {fmt(got_W)} "
                          f"(shape {tuple(got_W.shape)})",
                   hint="dL/dW[j, k] = sum_i grad_out[i, j] * x[i, k], i.e. grad_out.T @ x")
        # grad_b
        if not close(got_b, want_b):
            expect(not (got_b.numel() == want_b.numel() and close(got_b.reshape(-1), want_b)),
                   f"{where}: grad_b has shape {tuple(got_b.shape)}, expected {tuple(want_b.shape)}",
                   hint="grad_b has b's shape (n_out,): grad_out.sum(0), without keepdim=True")
            expect(got_b.shape != grad_out.shape,
                   f"{where}: grad_b has shape {tuple(got_b.shape)}, expected {tuple(want_b.shape)}",
                   hint="b is shared by every sample, so its gradient sums over the batch: "
                        "grad_out.sum(0)")
            expect(not close(got_b * batch, want_b),
                   f"{where}: grad_b is the batch mean of grad_out",
                   hint="b is used by every sample: add their gradients, grad_out.sum(0), "
                        "do not average them")
            expect(False, f"{where}: grad_b expected {fmt(want_b)}, got {fmt(got_b)}",
                   hint="dL/db[j] = sum_i grad_out[i, j]")
        # grad_x
        if not close(got_x, want_x):
            expect(got_x.shape == want_x.shape,
                   f"{where}: grad_x has shape {tuple(got_x.shape)}, expected {tuple(want_x.shape)}",
                   hint=shape_hint)
            expect(False, f"{where}: grad_x expected {fmt(want_x)}, got {fmt(got_x)}",
                   hint="dL/dx[i, k] = sum_j grad_out[i, j] * W[j, k], i.e. grad_out @ W "
                        "(for a square W, grad_out @ W.T has the right shape but is wrong)")
        expect_unchanged(where, args, before)

    return run_exercise("linear_backward", fn, [
        lambda: case(5, 3, 4), lambda: case(1, 6, 2), lambda: case(7, 4, 4),
        lambda: case(3, 2, 9),
    ], quiet=quiet)


# ---------------------------------------------------------------------------------------
# 3. finite-difference gradient
# ---------------------------------------------------------------------------------------

def numerical_gradient(fn, quiet: bool = False):
    """Check ``fn(f, x, eps) -> grad`` (central differences, same shape as ``x``).

    ``f`` maps a float64 tensor to a scalar. The reference is autograd; central differences
    have error O(eps^2), so at eps = 1e-4 they agree to about 1e-8, while the forward
    difference ``(f(x + eps) - f(x)) / eps`` is off by O(eps), about 1e-4. ``x`` must come
    back as it went in, up to rounding (1e-9): putting ``x[i]`` back by arithmetic
    (``x[i] += eps; ...; x[i] -= 2 * eps; ...; x[i] += eps``) is as good as saving it.
    """
    g = torch.Generator().manual_seed(4)
    A = torch.randn(4, 3, generator=g, dtype=torch.float64)
    funcs = {
        "f(x) = sum(x**3)": lambda x: (x ** 3).sum(),
        "f(x) = sum(sin(x) * exp(x))": lambda x: (torch.sin(x) * torch.exp(x)).sum(),
        "f(x) = sum(tanh(x @ A)**2)": lambda x: (torch.tanh(x @ A) ** 2).sum(),
    }

    def case(name: str, x: torch.Tensor, eps: float):
        f = funcs[name]
        xr = x.clone().requires_grad_(True)
        f(xr).backward()
        want = xr.grad
        x_in = x.clone()
        before = snapshot(x=x_in)
        got = as_tensor(fn(f, x_in, eps), "the numerical gradient")
        where = f"{name} at x of shape {tuple(x.shape)}, eps={eps:g}"
        change = float((x_in.detach() - x).abs().max()) if x_in.shape == x.shape else float("inf")
        expect(change <= 1e-9,
               f"{where}: your function changed x (largest change {change:.2g}, more than rounding)",
               hint="after nudging x[i] up and down, put it back (x[i] = old, or undo the nudges) "
                    "before the next i")
        expect_unchanged(where, {"x": x_in}, before, atol=1e-9)
        expect(got.shape == want.shape,
               f"{where}: expected shape {tuple(want.shape)}, got {tuple(got.shape)}",
               hint="one partial derivative per entry of x: return a tensor shaped like x")
        if close(got, want, rtol=1e-6, atol=1e-7):
            return
        forward = torch.zeros_like(x).flatten()
        flat = x.flatten()
        for i in range(flat.numel()):
            up = flat.clone()
            up[i] += eps
            forward[i] = (f(up.view_as(x)) - f(x)) / eps
        err = (got - want).abs().max().item()
        expect(not close(got, forward.view_as(x), rtol=1e-7, atol=1e-9),
               f"{where}: max error {err:.1e} against the exact gradient, about what the "
               f"forward difference gives",
               hint="use the central difference (f(x + eps) - f(x - eps)) / (2 eps): its "
                    "error is O(eps^2) instead of O(eps)")
        expect(not close(got, 2 * want, rtol=1e-5, atol=1e-6),
               f"{where}: your gradient is twice the exact one",
               hint="the two points x + eps and x - eps are 2 eps apart: divide by 2 * eps")
        expect(not close(got, 0.5 * want, rtol=1e-5, atol=1e-6),
               f"{where}: your gradient is half the exact one",
               hint="the central difference divides by 2 * eps, not 4 * eps (or nudge by eps, "
                    "not eps / 2)")
        expect(not close(got, torch.full_like(want, want.sum().item()), rtol=1e-5, atol=1e-6),
               f"{where}: every entry equals the sum of all partial derivatives",
               hint="nudge one entry at a time (x[i] += eps), not the whole tensor (x + eps)")
        expect(not close(got, torch.zeros_like(want), atol=1e-12),
               f"{where}: every entry is 0: f never saw the nudged x",
               hint="nudge x itself (through a view, x.view(-1)[i]), or evaluate f on the nudged "
                    "copy: x.flatten() of a non-contiguous x, or x.numpy() arithmetic, works on a copy")
        expect(False, f"{where}: expected {fmt(want)}, got {fmt(got)} (max error {err:.1e})",
               hint="for each i: (f(x with x[i]+eps) - f(x with x[i]-eps)) / (2 eps); in float64 "
                    "(float32 rounding, about 1e-7 of f, divided by 2 eps, swamps the result)")

    return run_exercise("numerical_gradient", fn, [
        lambda: case("f(x) = sum(x**3)", torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64), 1e-4),
        lambda: case("f(x) = sum(sin(x) * exp(x))",
                     torch.randn(3, 4, generator=g, dtype=torch.float64), 1e-4),
        lambda: case("f(x) = sum(tanh(x @ A)**2)",
                     torch.randn(2, 4, generator=g, dtype=torch.float64), 1e-5),
    ], quiet=quiet)


# ---------------------------------------------------------------------------------------
# 4 and 5. the generator's and the discriminator's losses, with the gradient in the right place
# ---------------------------------------------------------------------------------------

class _TinyD(nn.Module):
    """A 3 -> 5 -> 1 discriminator returning one logit per sample, shape (B,)."""

    def __init__(self, seed: int, bias: float = 0.0):
        super().__init__()
        torch.manual_seed(seed)
        self.net = nn.Sequential(nn.Linear(3, 5), nn.LeakyReLU(0.2), nn.Linear(5, 1))
        with torch.no_grad():
            self.net[2].bias.fill_(bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(-1)  # (B, 1) -> (B,)


def _tiny_setup(seed: int, bias: float = 0.0, n_real: int = 7, n_fake: int = 4):
    """A D, and x_fake = z @ W_G built from a leaf W_G that stands in for G's weights. The
    real and the fake batch differ in size, as they may in a training loop."""
    D = _TinyD(seed, bias)  # seeds the global stream: called inside run_exercise's cases, which fork it
    g = torch.Generator().manual_seed(seed + 100)
    W_G = torch.randn(2, 3, generator=g).requires_grad_(True)
    z = torch.randn(n_fake, 2, generator=g)
    x_real = torch.randn(n_real, 3, generator=g)
    return D, W_G, z, x_real


_RNG_HINT = ("your function drew from torch's global random stream (torch.randn, torch.rand, ...): "
             "use the batch you are given, not new samples")


def generator_step_loss(fn, quiet: bool = False):
    """Check ``fn(D, x_fake) -> loss_g``, the non-saturating generator loss.

        loss_g = -mean_j log D(G(z_j)) = mean_j softplus(-l_j),   l = D(x_fake) (logits)

    and that its gradient reaches G (here a leaf ``W_G`` with ``x_fake = z @ W_G``), with D
    left as it was: same mode, not frozen (freezing D during the step and unfreezing it
    before returning is fine), no ``.grad`` written (no backward here), and ``x_fake`` still
    attached to G's graph. The wrong values are named from ``core.G_LOSS_MISTAKES``.
    """

    def case(seed: int, bias: float, label: str):
        D, W_G, z, _ = _tiny_setup(seed, bias)
        x_fake = z @ W_G                          # (B, 3), depends on "G's weights" W_G
        with torch.no_grad():
            logits = D(x_fake)
        where = f"{label} (logits {fmt(logits)})"
        d_before, x_before = module_state(D), snapshot(x_fake=x_fake)
        with GlobalRNGWatch() as rng:
            out = call(fn, D, x_fake, shape_hint=loss_shape_hint(None, len(x_fake)))
        loss = scalar_loss(out, "loss_g")
        expect(W_G.grad is None, f"{where}: G's weights already had a gradient when your "
                                 "function returned",
               hint="only compute and return the loss; the training step calls backward()")
        expect_restored(where, "D", D, d_before, grads=True,
                        grad_hint="only compute and return the loss: backward() here fills D's "
                                  ".grad (and G's); the training step calls it")
        expect_unchanged(where, {"x_fake": x_fake}, x_before)
        got = float(loss.detach().reshape(()))
        want = float(g_loss_reference(logits))
        if not abs(got - want) <= 1e-5 * (1 + abs(want)):
            hint = diagnose_loss("g", got, None, logits,
                                 "loss_g = F.binary_cross_entropy_with_logits(D(x_fake), ones)")
            raise Mismatch(f"{where}: expected {want:.5f}, got {got:.5f}",
                           _RNG_HINT if rng.used else hint)
        expect(loss.requires_grad,
               f"{where}: the value is right but no gradient can flow back from the loss",
               hint="do not compute the loss under torch.no_grad() or from .item()/.detach()")
        loss.backward()
        expect(W_G.grad is not None and bool(W_G.grad.abs().sum() > 0),
               f"{where}: the value is right but no gradient reached G",
               hint="do not detach x_fake in the G step: G learns only through D's gradient "
                    "with respect to x_fake")
        W_ref = W_G.detach().clone().requires_grad_(True)
        F.softplus(-D(z @ W_ref)).mean().backward()
        expect(torch.allclose(W_G.grad, W_ref.grad, rtol=1e-4, atol=1e-6),
               f"{where}: the gradient reaching G differs from the reference "
               f"({fmt(W_G.grad)} vs {fmt(W_ref.grad)})",
               hint="compute the loss from D(x_fake) itself, with no detach, clamp or rescaling")

    return run_exercise("generator_step_loss", fn, [
        lambda: case(0, 0.0, "a fresh D"),
        lambda: case(1, -4.0, "a D that rejects the fakes"),
        lambda: case(2, 3.0, "a D that is fooled"),
        lambda: case(3, -120.0, "a D with logits near -120"),
        lambda: case(4, -300.0, "a D with logits near -300"),
    ], quiet=quiet)


def discriminator_step_loss(fn, quiet: bool = False):
    """Check ``fn(D, x_real, x_fake) -> loss_d`` with real = 1, fake = 0 and a detached x_fake.

        loss_d = BCE(D(x_real), 1) + BCE(D(x_fake.detach()), 0)
               = mean_i softplus(-l_real_i) + mean_j softplus(l_fake_j)

    (the package's ``losses.d_loss_bce``), on a real batch of 7 and a fake batch of 4. D's
    parameters must get the reference gradient; G's none; the caller's ``x_fake`` keeps its
    graph (``detach()``, not ``detach_()``), for the G step that follows. The wrong values are
    named from ``core.D_LOSS_MISTAKES``.
    """

    def case(seed: int, bias: float, label: str):
        D, W_G, z, x_real = _tiny_setup(seed, bias)
        x_fake = z @ W_G
        with torch.no_grad():
            lr_, lf = D(x_real), D(x_fake)
        where = f"{label} ({len(x_real)} real, {len(x_fake)} fake)"
        d_before, inputs = module_state(D), {"x_real": x_real, "x_fake": x_fake}
        before = snapshot(**inputs)
        with GlobalRNGWatch() as rng:
            out = call(fn, D, x_real, x_fake, shape_hint=loss_shape_hint(len(x_real), len(x_fake)))
        loss = scalar_loss(out, "loss_d")
        expect_restored(where, "D", D, d_before)
        expect_unchanged(where, inputs, before)
        got = float(loss.detach().reshape(()))
        want = float(d_loss_reference(lr_, lf))
        if not abs(got - want) <= 1e-5 * (1 + abs(want)):
            hint = diagnose_loss("d", got, lr_, lf, "BCE_with_logits(D(x_real), ones) + "
                                 "BCE_with_logits(D(x_fake.detach()), zeros)")
            raise Mismatch(f"{where}: expected {want:.5f}, got {got:.5f}", _RNG_HINT if rng.used else hint)
        expect(loss.requires_grad, f"{where}: the value is right but no gradient can reach D",
               hint="do not compute the loss under torch.no_grad() or from .item()")
        for p in D.parameters():
            p.grad = None
        loss.backward()
        expect(W_G.grad is None or bool(W_G.grad.abs().sum() == 0),
               f"{where}: the value is right but the D loss sent a gradient into G "
               f"(|grad| = {W_G.grad.abs().sum().item() if W_G.grad is not None else 0:.3g})",
               hint="use D(x_fake.detach()): the D step must not train G, and without the "
                    "detach G's gradients fill with D's objective")
        D_ref = _tiny_setup(seed, bias)[0]
        (F.softplus(-D_ref(x_real)).mean() + F.softplus(D_ref(x_fake.detach())).mean()).backward()
        for (name, p), p_ref in zip(D.named_parameters(), D_ref.parameters()):
            expect(p.grad is not None and torch.allclose(p.grad, p_ref.grad, rtol=1e-4, atol=1e-6),
                   f"{where}: D's gradient for {name} differs from the reference",
                   hint="both terms must give D a gradient: detach x_fake (the input), not D's "
                        "logits, and keep torch.no_grad() away from D's forward pass")

    return run_exercise("discriminator_step_loss", fn, [
        lambda: case(0, 0.0, "a fresh D"),
        lambda: case(1, 2.0, "a D that calls everything real"),
        lambda: case(2, -2.0, "a D that calls everything fake"),
        lambda: case(3, 150.0, "a D with logits near +150"),
        lambda: case(4, -300.0, "a D with logits near -300"),
    ], quiet=quiet)


__all__ = ["sigmoid_bce_grad", "linear_backward", "numerical_gradient",
           "generator_step_loss", "discriminator_step_loss"]
