"""Checkers for notebook 05 (an MLP GAN on MNIST: the training loop by hand).

Each checker runs the student's function on several cases against the package's own code
(``losses.d_loss_bce``, ``training.d_step``, ``training.g_step``) and, when the answer is
wrong, recognises the typical mistake that produced it:

- :func:`scale_images`: uint8 pixels 0..255 to float ``x / 127.5 - 1`` in [-1, 1], because G
  ends in tanh. Typical mistakes: ``x / 255`` ([0, 1], the source material's mistake),
  ``x / 127.5`` ([0, 2]), ink and background swapped, integer division.
- :func:`d_loss_from_logits`: ``BCE(l_real, 1) + BCE(l_fake, 0)``
  ``= mean softplus(-l_real) + mean softplus(l_fake)``. Typical mistakes: labels swapped,
  the real-data term missing, the mean of raw logits, the sign, one mean over both batches,
  ``log(sigmoid(l))`` that overflows.
- :func:`d_step_by_hand`: one update of D with ``G(z).detach()``. Typical mistakes: no
  ``detach()`` (G receives gradients), no ``zero_grad()`` (stale gradients are added), no
  ``opt_d.step()``, swapped labels.
- :func:`g_step_by_hand`: one update of G with the non-saturating ``-mean log D(G(z))``.
  Typical mistakes: the saturating form, the fake label 0, a detached ``x_fake`` (G gets no
  gradient), no ``zero_grad()``.

The step checkers use tiny course models (``MLPGenerator``/``MLPDiscriminator`` on 4-pixel
"images") built from a seed; ``run_exercise`` runs every case inside ``torch.random.fork_rng``,
so checking never changes the notebook's random stream.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F

from gan_course.check.core import Mismatch, attempted, expect, run_exercise
from gan_course.losses import d_loss_bce, g_loss_nonsaturating, g_loss_saturating
from gan_course.models import MLPDiscriminator, MLPGenerator
from gan_course.training import TrainConfig, d_step, g_step


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------

def _fmt(t: torch.Tensor, n: int = 4) -> str:
    flat = torch.as_tensor(t).detach().double().flatten()[:n].tolist()
    more = ", ..." if torch.as_tensor(t).numel() > n else ""
    return "[" + ", ".join(f"{v:.4g}" for v in flat) + more + "]"


def _scalar(value, name: str) -> float:
    """A loss the student returned (0-d tensor, 1-element tensor or number) as a float."""
    attempted(value)
    if isinstance(value, torch.Tensor):
        expect(value.numel() == 1, f"{name} has shape {tuple(value.shape)}, expected one number",
               hint="average over the batch (.mean()), so the loss is a scalar")
        return float(value.detach().reshape(()))
    try:
        return float(value)
    except (TypeError, ValueError):
        raise Mismatch(f"{name} should be a number or a 0-d tensor, got {type(value).__name__}",
                       hint="return the loss tensor") from None


def _near(a: float, b: float, tol: float = 1e-5) -> bool:
    return math.isfinite(a) and abs(a - b) <= tol * (1 + abs(b))


def _params(model) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def _same(a: list[torch.Tensor], b: list[torch.Tensor], atol: float = 1e-6) -> bool:
    return all(torch.allclose(x, y, rtol=1e-5, atol=atol) for x, y in zip(a, b))


def _tiny_gan(seed: int):
    """A 3 -> 5 -> 4 tanh generator and a 4 -> 6 -> 1 discriminator, a real batch and noise."""
    torch.manual_seed(seed)  # called inside run_exercise's cases, which fork the global stream
    G = MLPGenerator(latent_dim=3, hidden=(5,), out_shape=(4,), out_activation="tanh")
    D = MLPDiscriminator(in_shape=(4,), hidden=(6,))
    g = torch.Generator().manual_seed(seed + 1000)
    x_real = torch.rand(8, 4, generator=g) * 2 - 1
    z = torch.randn(8, 3, generator=g)
    return G, D, x_real, z


def _make_opt(kind: str, params):
    if kind == "sgd":  # plain SGD: a different gradient gives a visibly different update
        return torch.optim.SGD(params, lr=0.1)
    return torch.optim.Adam(params, lr=2e-4, betas=(0.5, 0.999))


def _fill_stale(model, value: float = 0.5) -> None:
    """Leave gradients from an 'earlier step' on every parameter, as a real loop would."""
    for p in model.parameters():
        p.grad = torch.full_like(p, value)


def _step_with(model, opt_kind: str, loss_fn, stale: bool) -> list[torch.Tensor]:
    """Parameters of a copy of ``model`` after one step on ``loss_fn(copy)``; ``stale``
    keeps the stale gradients (no zero_grad) to recognise that mistake."""
    m = copy.deepcopy(model)
    opt = _make_opt(opt_kind, m.parameters())
    if stale:
        _fill_stale(m)  # the same stale gradients the student's copy started with
    else:
        opt.zero_grad(set_to_none=True)
    loss_fn(m).backward()
    opt.step()
    return _params(m)


# ---------------------------------------------------------------------------------------
# 1. scaling MNIST pixels to [-1, 1]
# ---------------------------------------------------------------------------------------

def scale_images(fn, quiet: bool = False):
    """Check ``fn(x_uint8) -> x`` with ``x = x_uint8 / 127.5 - 1`` (float, same shape).

    0 (background) -> -1, 255 (ink) -> +1: the range of G's tanh output, so D cannot tell
    real from fake by the range of pixel values alone.
    """
    g = torch.Generator().manual_seed(5)
    cases = [
        ("a ramp 0, 1, ..., 255", torch.arange(256, dtype=torch.uint8).view(1, 16, 16)),
        ("a batch (5, 1, 28, 28) of random pixels",
         torch.randint(0, 256, (5, 1, 28, 28), generator=g, dtype=torch.uint8)),
        ("a blank image and a full one", torch.tensor([[0, 0], [255, 255]], dtype=torch.uint8)),
    ]

    def case(label, x):
        original = x.clone()
        out = attempted(fn(x.clone()))
        expect(isinstance(out, torch.Tensor),
               f"{label}: expected a torch.Tensor, got {type(out).__name__}",
               hint="work with torch operations on the tensor: x.float() / 127.5 - 1")
        expect(out.is_floating_point(),
               f"{label}: the result has dtype {out.dtype}, expected a float dtype",
               hint="convert first (x.float()): uint8 arithmetic cannot hold -1 or 0.5 and wraps around")
        expect(tuple(out.shape) == tuple(x.shape),
               f"{label}: shape {tuple(out.shape)}, expected {tuple(x.shape)}",
               hint="scale every pixel; keep the shape")
        want = original.double() / 127.5 - 1
        got = out.detach().double()
        if torch.allclose(got, want, atol=1e-5):
            return
        o = original.double()
        hint = "the map is x / 127.5 - 1: 0 (background) -> -1 and 255 (ink) -> +1"
        if torch.allclose(got, o / 255, atol=1e-5):
            hint = ("that is [0, 1] scaling (x / 255), the mistake of the source material: G ends "
                    "in tanh, whose outputs lie in [-1, 1], so D would tell real from fake by the "
                    "background alone (0 for real, -1 for fake). Use x / 127.5 - 1")
        elif torch.allclose(got, o / 127.5, atol=1e-5):
            hint = "that lies in [0, 2]: subtract 1 after dividing by 127.5"
        elif torch.allclose(got, -want, atol=1e-5):
            hint = ("ink and background are swapped: MNIST stores background as 0, which must "
                    "become -1 (like data.to_uint8's inverse)")
        elif torch.allclose(got, torch.div(o, 127.5, rounding_mode="floor") - 1, atol=1e-5):
            hint = "integer division drops the fractions: convert to float before dividing"
        raise Mismatch(f"{label}: expected {_fmt(want.flatten()[[0, -1]])} at the first and last "
                       f"pixel, got {_fmt(got.flatten()[[0, -1]])}", hint)

    return run_exercise("scale_images", fn, [lambda c=c: case(*c) for c in cases], quiet)


# ---------------------------------------------------------------------------------------
# 2. D's loss from its logits
# ---------------------------------------------------------------------------------------

def d_loss_from_logits(fn, quiet: bool = False):
    """Check ``fn(logits_real, logits_fake) -> loss_d`` with real = 1 and fake = 0:

        loss_d = BCE(l_real, 1) + BCE(l_fake, 0)
               = mean_i softplus(-l_real_i) + mean_j softplus(l_fake_j)

    (``losses.d_loss_bce``), finite for extreme logits, with gradients to both batches.
    """
    cases = [
        ("l_real = [2, 1], l_fake = [-1, 0.5]", [2.0, 1.0], [-1.0, 0.5]),
        ("5 real logits, 3 fake logits", [0.3, -0.2, 1.5, 2.5, -1.0], [-2.0, 0.1, 1.2]),
        ("a very confident D: l_real = [120, 40], l_fake = [-90, -300]", [120.0, 40.0], [-90.0, -300.0]),
        ("a D fooled badly: l_real = [-60, -3], l_fake = [80, 2]", [-60.0, -3.0], [80.0, 2.0]),
    ]

    def case(label, real, fake):
        lr_ = torch.tensor(real, dtype=torch.float64, requires_grad=True)
        lf = torch.tensor(fake, dtype=torch.float64, requires_grad=True)
        out = fn(lr_, lf)
        got = _scalar(out, "loss_d")
        r, f = lr_.detach(), lf.detach()
        want = float(d_loss_bce(r, f))
        if not _near(got, want):
            sp = F.softplus
            hint = ("loss_d = BCE(l_real, 1) + BCE(l_fake, 0) = mean softplus(-l_real) + "
                    "mean softplus(l_fake); F.binary_cross_entropy_with_logits does both")
            if not math.isfinite(got):
                hint = ("the loss is not finite: log(sigmoid(l)) overflows for extreme logits. Use "
                        "F.binary_cross_entropy_with_logits (or F.softplus / F.logsigmoid)")
            elif _near(got, float(sp(r).mean() + sp(-f).mean())):
                hint = ("labels swapped: real images get the target 1 and fakes 0 "
                        "(the source material labelled them the other way)")
            elif _near(got, float(sp(f).mean())):
                hint = "the real-data term BCE(l_real, 1) is missing: D must also learn to accept real images"
            elif _near(got, float(sp(-r).mean())):
                hint = "the fake-data term BCE(l_fake, 0) is missing: D must also learn to reject fakes"
            elif _near(got, float(-r.mean() + f.mean())) or _near(got, float(r.mean() - f.mean())):
                hint = ("that is a mean of raw logits (a WGAN critic's loss); a D with one logit "
                        "and real = 1, fake = 0 uses the binary cross-entropy of sigmoid(l)")
            elif _near(got, -want):
                hint = "sign flipped: D *minimises* the BCE, -mean log D(x) - mean log(1 - D(G(z)))"
            elif _near(got, float(torch.cat([sp(-r), sp(f)]).mean())) or _near(got, want / 2):
                hint = ("the course's loss_d is the *sum* of the two batch means (= -V(D, G) on the "
                        "batch), not one mean over both batches or their average")
            elif _near(got, float(sp(-r).sum() + sp(f).sum())):
                hint = "that is a sum over samples: take the mean of each batch"
            raise Mismatch(f"{label}: expected {want:.6f}, got {got:.6f}", hint)
        expect(isinstance(out, torch.Tensor) and out.requires_grad,
               f"{label}: the loss is not connected to the logits (no gradient)",
               hint="compute it with torch operations; no .item(), .detach() or NumPy")
        grad_r, grad_f = torch.autograd.grad(out.sum(), (lr_, lf), allow_unused=True)
        want_r = (torch.sigmoid(r) - 1) / len(r)  # d/dl softplus(-l) / N
        want_f = torch.sigmoid(f) / len(f)
        for name, g, w in (("real", grad_r, want_r), ("fake", grad_f, want_f)):
            expect(g is not None and torch.allclose(g, w, rtol=1e-5, atol=1e-9),
                   f"{label}: gradient with respect to the {name} logits "
                   f"{_fmt(g) if g is not None else 'None'}, expected {_fmt(w)}",
                   hint="build the loss from the logits with torch operations only")

    return run_exercise("d_loss_from_logits", fn, [lambda c=c: case(*c) for c in cases], quiet)


# ---------------------------------------------------------------------------------------
# 3. one discriminator step by hand
# ---------------------------------------------------------------------------------------

def _d_loss_on(G, z, x_real, swap: bool = False):
    def loss(D_):
        with torch.no_grad():
            x_fake = G(z)
        lr_, lf = D_(x_real), D_(x_fake)
        if swap:
            return F.softplus(lr_).mean() + F.softplus(-lf).mean()
        return d_loss_bce(lr_, lf)
    return loss


def d_step_by_hand(fn, quiet: bool = False):
    """Check ``fn(G, D, opt_d, x_real, z) -> loss_d``: one update of D, as ``training.d_step``.

        x_fake = G(z).detach()                        # D's step must leave G alone
        loss_d = BCE(D(x_real), 1) + BCE(D(x_fake), 0)
        opt_d.zero_grad(); loss_d.backward(); opt_d.step()

    Checked: the returned loss, D's weights after the step (against ``d_step`` on copies),
    G's weights unchanged and G's ``.grad`` still ``None``. D starts each case with stale
    gradients left on it, as after an earlier step.
    """
    cases = [("SGD, seed 0", 0, "sgd"), ("SGD, seed 1", 1, "sgd"), ("Adam(2e-4, betas=(0.5, 0.999)), seed 2", 2, "adam")]

    def case(label, seed, opt_kind):
        G, D, x_real, z = _tiny_gan(seed)
        G_ref, D_ref = copy.deepcopy(G), copy.deepcopy(D)
        opt_ref = _make_opt(opt_kind, D_ref.parameters())
        ref = d_step(G_ref, D_ref, opt_ref, x_real, z, TrainConfig())
        want_loss, want_D = float(ref["loss_d"]), _params(D_ref)
        g_before = _params(G)
        _fill_stale(D)
        D_start = copy.deepcopy(D)
        opt_d = _make_opt(opt_kind, D.parameters())
        got = _scalar(fn(G, D, opt_d, x_real.clone(), z.clone()), "loss_d")
        g_grads = [p.grad for p in G.parameters() if p.grad is not None and bool(p.grad.abs().sum() > 0)]
        expect(not g_grads, f"{label}: G's parameters received gradients in D's step",
               hint="detach the fakes: x_fake = G(z).detach() (or make them under torch.no_grad()). "
                    "Without it loss_d.backward() also computes gradients for G, which point the way "
                    "that helps D: wasted work, and a bug as soon as anything steps G with them")
        expect(_same(_params(G), g_before), f"{label}: G's weights changed in D's step",
               hint="D's step updates D only; do not step G's optimiser here")
        if not _near(got, want_loss):
            with torch.no_grad():
                swapped = float(_d_loss_on(G, z, x_real, swap=True)(D_start))
            hint = "loss_d = BCE(D(x_real), 1) + BCE(D(G(z).detach()), 0), computed before the step"
            if _near(got, swapped):
                hint = "labels swapped: real = 1, fake = 0"
            raise Mismatch(f"{label}: loss_d = {got:.6f}, expected {want_loss:.6f}", hint)
        now = _params(D)
        if _same(now, want_D):
            return
        hint = "after loss_d.backward(), call opt_d.step() once"
        if _same(now, _params(D_start)):
            hint = "D's weights did not change: call opt_d.step() after loss_d.backward()"
        elif _same(now, _step_with(D_start, opt_kind, _d_loss_on(G, z, x_real), stale=True)):
            hint = ("the gradients of an earlier step were added to this one: call opt_d.zero_grad() "
                    "before loss_d.backward() (PyTorch accumulates .grad)")
        elif _same(now, _step_with(D_start, opt_kind, _d_loss_on(G, z, x_real, swap=True), stale=False)):
            hint = "D stepped on the loss with swapped labels: real = 1, fake = 0"
        raise Mismatch(f"{label}: D's weights after the step differ from training.d_step's "
                       f"(first weights {_fmt(now[0])}, expected {_fmt(want_D[0])})", hint)

    return run_exercise("d_step_by_hand", fn, [lambda c=c: case(*c) for c in cases], quiet)


# ---------------------------------------------------------------------------------------
# 4. one generator step by hand
# ---------------------------------------------------------------------------------------

def g_step_by_hand(fn, quiet: bool = False):
    """Check ``fn(G, D, opt_g, z) -> loss_g``: one update of G, as ``training.g_step``.

        x_fake = G(z)                                 # no detach: the gradient must reach G
        loss_g = BCE(D(x_fake), 1) = -mean log D(G(z))   # non-saturating
        opt_g.zero_grad(); loss_g.backward(); opt_g.step()

    Checked: the returned loss, G's weights after the step (against ``g_step`` on copies)
    and D's weights unchanged. G starts each case with stale gradients left on it.
    """
    cases = [("SGD, seed 0", 0, "sgd"), ("SGD, seed 1", 1, "sgd"), ("Adam(2e-4, betas=(0.5, 0.999)), seed 2", 2, "adam")]

    def case(label, seed, opt_kind):
        G, D, _, z = _tiny_gan(seed)
        G_ref, D_ref = copy.deepcopy(G), copy.deepcopy(D)
        ref = g_step(G_ref, D_ref, _make_opt(opt_kind, G_ref.parameters()), z, TrainConfig())
        want_loss, want_G = float(ref["loss_g"]), _params(G_ref)
        d_before = _params(D)
        _fill_stale(G)
        G_start = copy.deepcopy(G)
        opt_g = _make_opt(opt_kind, G.parameters())
        got = _scalar(fn(G, D, opt_g, z.clone()), "loss_g")
        expect(_same(_params(D), d_before), f"{label}: D's weights changed in G's step",
               hint="G's step updates G only: step opt_g, never D's optimiser, here")
        if not _near(got, want_loss):
            with torch.no_grad():
                l = D(G_start(z))
            hint = "loss_g = BCE(D(G(z)), 1) = -mean log D(G(z)) (the non-saturating loss)"
            if _near(got, float(g_loss_saturating(l))):
                hint = ("that is the saturating form mean log(1 - D(G(z))); its gradient vanishes "
                        "when D rejects the fakes. Use -mean log D(G(z)) = BCE(D(G(z)), 1)")
            elif _near(got, float(-g_loss_saturating(l))):  # BCE(l, 0)
                hint = ("that is BCE(D(G(z)), 0), D's target for fakes: G wants D to call its "
                        "images real, target 1")
            elif _near(got, float(-g_loss_nonsaturating(l))):
                hint = "sign flipped: G *minimises* -mean log D(G(z))"
            raise Mismatch(f"{label}: loss_g = {got:.6f}, expected {want_loss:.6f}", hint)
        now = _params(G)
        if _same(now, want_G):
            return
        hint = "after loss_g.backward(), call opt_g.step() once"
        if _same(now, _step_with(G_start, opt_kind, lambda G_: 0 * sum(p.sum() for p in G_.parameters()),
                                 stale=True)):
            hint = ("G moved by its stale gradients only: x_fake was detached (or made under "
                    "torch.no_grad()), so no gradient reached G. In G's step keep the graph: "
                    "x_fake = G(z)")
        elif _same(now, _params(G_start)):
            hint = ("G's weights did not change: no gradient reached G (x_fake detached?) or "
                    "opt_g.step() is missing")
        elif _same(now, _step_with(G_start, opt_kind, lambda G_: g_loss_nonsaturating(D(G_(z))),
                                   stale=True)):
            hint = ("the gradients of an earlier step were added to this one: call opt_g.zero_grad() "
                    "before loss_g.backward()")
        raise Mismatch(f"{label}: G's weights after the step differ from training.g_step's "
                       f"(first weights {_fmt(now[0])}, expected {_fmt(want_G[0])})", hint)

    return run_exercise("g_step_by_hand", fn, [lambda c=c: case(*c) for c in cases], quiet)


__all__ = ["scale_images", "d_loss_from_logits", "d_step_by_hand", "g_step_by_hand"]
