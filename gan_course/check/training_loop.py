"""Checkers for notebook 05 (an MLP GAN on MNIST: the training loop by hand).

Each checker runs the student's function on several cases against the package's own code
(``losses.d_loss_bce``, ``training.d_step``, ``training.g_step``) and, when the answer is
wrong, recognises the typical mistake that produced it:

- :func:`scale_images`: uint8 pixels 0..255 to float ``x / 127.5 - 1`` in [-1, 1], because G
  ends in tanh. Typical mistakes: ``x / 255`` ([0, 1], the source material's mistake),
  ``x / 127.5`` ([0, 2]), ink and background swapped, integer division, uint8 arithmetic
  that wraps around, standardising with a mean and std.
- :func:`d_loss_from_logits`: ``BCE(l_real, 1) + BCE(l_fake, 0)``
  ``= mean softplus(-l_real) + mean softplus(l_fake)``, checked by ``core.d_loss_cases``
  (float32 batches of different sizes, logits up to ±300) and named by
  ``core.D_LOSS_MISTAKES``, the list every D-loss checker shares.
- :func:`d_step_by_hand`: one update of D with ``G(z).detach()``. Typical mistakes: no
  ``detach()`` (G receives gradients), no ``zero_grad()`` (stale gradients are added) or a
  ``zero_grad()`` after ``backward()``, no ``opt_d.step()``, swapped labels, G left in eval
  mode or frozen, fresh noise instead of the given ``z``, the loss of the updated D.
- :func:`g_step_by_hand`: one update of G with the non-saturating ``-mean log D(G(z))``.
  Typical mistakes: the saturating form, the fake label 0, a detached ``x_fake`` (G gets no
  gradient), no ``zero_grad()``, D left frozen or in eval mode (``core.G_LOSS_MISTAKES``
  names the wrong losses).

The step checkers use tiny course models (``MLPGenerator``/``MLPDiscriminator`` on 4-pixel
"images") built from a seed; ``run_exercise`` runs every case inside ``torch.random.fork_rng``,
so checking never changes the notebook's random stream.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from gan_course.check.core import (GlobalRNGWatch, Mismatch, as_number, attempted, d_loss_cases, diagnose_loss,
                                   expect, expect_restored, expect_unchanged, fmt, module_state, run_exercise,
                                   snapshot)
from gan_course.losses import d_loss_bce, g_loss_nonsaturating
from gan_course.models import MLPDiscriminator, MLPGenerator
from gan_course.training import TrainConfig, d_step, g_step


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------

def _near(a: float, b: float, tol: float = 1e-5) -> bool:
    return abs(a - b) <= tol * (1 + abs(b))  # False for nan and inf


def _params(model) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def _same(a: list[torch.Tensor], b: list[torch.Tensor], atol: float = 1e-6) -> bool:
    return all(torch.allclose(x, y, rtol=1e-5, atol=atol) for x, y in zip(a, b))


def _tiny_gan(seed: int, n_real: int = 9, n_fake: int = 6):
    """A 3 -> 5 -> 4 tanh generator and a 4 -> 6 -> 1 discriminator, a real batch and noise
    (the two batches differ in size, as they may at the end of an epoch)."""
    torch.manual_seed(seed)  # called inside run_exercise's cases, which fork the global stream
    G = MLPGenerator(latent_dim=3, hidden=(5,), out_shape=(4,), out_activation="tanh")
    D = MLPDiscriminator(in_shape=(4,), hidden=(6,))
    g = torch.Generator().manual_seed(seed + 1000)
    x_real = torch.rand(n_real, 4, generator=g) * 2 - 1
    z = torch.randn(n_fake, 3, generator=g)
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


_RNG_HINT = ("your function drew new random numbers (torch.randn, torch.rand, ...): make the fakes "
             "from the z you are given, so that D and G see the same batch the loop chose")


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
        x_in = x.clone()
        before = snapshot(x_uint8=x_in)
        out = attempted(fn(x_in))
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
            expect_unchanged(label, {"x_uint8": x_in}, before)
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
        elif torch.allclose(got, (2 * o) % 256 / 255 - 1, atol=1e-5):
            hint = ("2 * x overflowed: uint8 arithmetic wraps around above 255 (2 * 200 = 144). "
                    "Convert to float first: x.float() / 127.5 - 1")
        elif torch.allclose(got, o / 128 - 1, atol=1e-5) or torch.allclose(got, (o - 128) / 128, atol=1e-5):
            hint = "divide by 127.5 = 255 / 2, not 128: 255 must land exactly on +1"
        elif abs(float(got.mean())) < 1e-3 and abs(float(got.std()) - 1) < 1e-2 or \
                torch.allclose(got, (o / 255 - 0.1307) / 0.3081, atol=1e-4):
            hint = ("that standardises the pixels (mean 0, std 1, as torchvision's Normalize does "
                    "for classifiers): the values leave [-1, 1], while G's tanh output fills "
                    "exactly [-1, 1]. Use x / 127.5 - 1")
        raise Mismatch(f"{label}: expected {fmt(want.flatten()[[0, -1]])} at the first and last "
                       f"pixel, got {fmt(got.flatten()[[0, -1]])}", hint)

    return run_exercise("scale_images", fn, [lambda c=c: case(*c) for c in cases], quiet)


# ---------------------------------------------------------------------------------------
# 2. D's loss from its logits
# ---------------------------------------------------------------------------------------

def d_loss_from_logits(fn, quiet: bool = False):
    """Check ``fn(logits_real, logits_fake) -> loss_d`` with real = 1 and fake = 0:

        loss_d = BCE(l_real, 1) + BCE(l_fake, 0)
               = mean_i softplus(-l_real_i) + mean_j softplus(l_fake_j)

    (``losses.d_loss_bce``), finite for logits of ±300 in float32, with gradients to both
    batches, on batches of different sizes (``core.d_loss_cases``).
    """
    return run_exercise("d_loss_from_logits", fn, d_loss_cases(fn), quiet)


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

    Checked: the returned loss (of D before the step), D's weights after the step (against
    ``d_step`` on copies), G's weights unchanged, G's ``.grad`` still ``None``, G in the mode
    and with the ``requires_grad`` flags it had. D starts each case with stale gradients left
    on it, as after an earlier step; the real batch (9) and the fakes (6) differ in size.
    """
    cases = [("SGD, seed 0", 0, "sgd"), ("SGD, seed 1", 1, "sgd"), ("Adam(2e-4, betas=(0.5, 0.999)), seed 2", 2, "adam")]

    def case(label, seed, opt_kind):
        G, D, x_real, z = _tiny_gan(seed)
        G_ref, D_ref = copy.deepcopy(G), copy.deepcopy(D)
        opt_ref = _make_opt(opt_kind, D_ref.parameters())
        ref = d_step(G_ref, D_ref, opt_ref, x_real, z, TrainConfig())
        want_loss, want_D = float(ref["loss_d"]), _params(D_ref)
        g_before, g_state = _params(G), module_state(G)
        _fill_stale(D)
        D_start = copy.deepcopy(D)
        opt_d = _make_opt(opt_kind, D.parameters())
        args = {"x_real": x_real.clone(), "z": z.clone()}
        before = snapshot(**args)
        with GlobalRNGWatch() as rng:
            got = as_number(fn(G, D, opt_d, *args.values()), "loss_d")
        g_grads = [p.grad for p in G.parameters() if p.grad is not None and bool(p.grad.abs().sum() > 0)]
        expect(not g_grads, f"{label}: G's parameters received gradients in D's step",
               hint="detach the fakes: x_fake = G(z).detach() (or make them under torch.no_grad()). "
                    "Without it loss_d.backward() also computes gradients for G, which point the way "
                    "that helps D: wasted work, and a bug as soon as anything steps G with them")
        expect(_same(_params(G), g_before), f"{label}: G's weights changed in D's step",
               hint="D's step updates D only; do not step G's optimiser here")
        expect_restored(label, "G", G, g_state)
        expect_unchanged(label, args, before)
        if not _near(got, want_loss):
            with torch.no_grad():
                x_fake = G(z)
                start_r, start_f = D_start(x_real), D_start(x_fake)
                after = float(d_loss_bce(D(x_real), D(x_fake)))
            hint = diagnose_loss("d", got, start_r, start_f, "loss_d = BCE(D(x_real), 1) + "
                                 "BCE(D(G(z).detach()), 0), computed before the step")
            if rng.used:
                hint = _RNG_HINT
            elif _near(got, after):
                hint = ("that is the loss of the UPDATED D: return the loss_d you computed and "
                        "stepped on (the one before opt_d.step()), as training.d_step does")
            raise Mismatch(f"{label}: loss_d = {got:.6f}, expected {want_loss:.6f}", hint)
        now = _params(D)
        if _same(now, want_D):
            return
        hint = "after loss_d.backward(), call opt_d.step() once"
        if _same(now, _params(D_start)):
            hint = "D's weights did not change: call opt_d.step() after loss_d.backward()"
            if all(p.grad is None or not bool(p.grad.abs().sum()) for p in D.parameters()):
                hint = ("D's weights did not change and its gradients are empty: zero_grad() after "
                        "backward() wipes them before step() can use them. Order: "
                        "opt_d.zero_grad(); loss_d.backward(); opt_d.step()")
        elif _same(now, _step_with(D_start, opt_kind, _d_loss_on(G, z, x_real), stale=True)):
            hint = ("the gradients of an earlier step were added to this one: call opt_d.zero_grad() "
                    "before loss_d.backward() (PyTorch accumulates .grad)")
        elif _same(now, _step_with(D_start, opt_kind, _d_loss_on(G, z, x_real, swap=True), stale=False)):
            hint = "D stepped on the loss with swapped labels: real = 1, fake = 0"
        raise Mismatch(f"{label}: D's weights after the step differ from training.d_step's "
                       f"(first weights {fmt(now[0])}, expected {fmt(want_D[0])})", hint)

    return run_exercise("d_step_by_hand", fn, [lambda c=c: case(*c) for c in cases], quiet)


# ---------------------------------------------------------------------------------------
# 4. one generator step by hand
# ---------------------------------------------------------------------------------------

def g_step_by_hand(fn, quiet: bool = False):
    """Check ``fn(G, D, opt_g, z) -> loss_g``: one update of G, as ``training.g_step``.

        x_fake = G(z)                                 # no detach: the gradient must reach G
        loss_g = BCE(D(x_fake), 1) = -mean log D(G(z))   # non-saturating
        opt_g.zero_grad(); loss_g.backward(); opt_g.step()

    Checked: the returned loss, G's weights after the step (against ``g_step`` on copies),
    D's weights unchanged and D left in its mode with its ``requires_grad`` flags (freezing
    D for the step, as ``g_step`` does, is fine if it is unfrozen again). G starts each case
    with stale gradients left on it.
    """
    cases = [("SGD, seed 0", 0, "sgd"), ("SGD, seed 1", 1, "sgd"), ("Adam(2e-4, betas=(0.5, 0.999)), seed 2", 2, "adam")]

    def case(label, seed, opt_kind):
        G, D, _, z = _tiny_gan(seed)
        G_ref, D_ref = copy.deepcopy(G), copy.deepcopy(D)
        ref = g_step(G_ref, D_ref, _make_opt(opt_kind, G_ref.parameters()), z, TrainConfig())
        want_loss, want_G = float(ref["loss_g"]), _params(G_ref)
        d_before, d_state = _params(D), module_state(D)
        _fill_stale(G)
        G_start = copy.deepcopy(G)
        opt_g = _make_opt(opt_kind, G.parameters())
        args = {"z": z.clone()}
        before = snapshot(**args)
        with GlobalRNGWatch() as rng:
            got = as_number(fn(G, D, opt_g, *args.values()), "loss_g")
        expect(_same(_params(D), d_before), f"{label}: D's weights changed in G's step",
               hint="G's step updates G only: step opt_g, never D's optimiser, here")
        expect_restored(label, "D", D, d_state)
        expect_unchanged(label, args, before)
        if not _near(got, want_loss):
            with torch.no_grad():
                l = D(G_start(z))
                after = float(g_loss_nonsaturating(D(G(z))))
            hint = diagnose_loss("g", got, None, l, "loss_g = BCE(D(G(z)), 1) = -mean log D(G(z)) "
                                 "(the non-saturating loss)")
            if rng.used:
                hint = _RNG_HINT
            elif _near(got, after):
                hint = ("that is the loss after G's update: return the loss_g you computed and "
                        "stepped on, as training.g_step does")
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
            hint = ("G's weights did not change: no gradient reached G (x_fake detached?), "
                    "opt_g.step() is missing, or zero_grad() runs after backward()")
        elif _same(now, _step_with(G_start, opt_kind, lambda G_: g_loss_nonsaturating(D(G_(z))),
                                   stale=True)):
            hint = ("the gradients of an earlier step were added to this one: call opt_g.zero_grad() "
                    "before loss_g.backward()")
        raise Mismatch(f"{label}: G's weights after the step differ from training.g_step's "
                       f"(first weights {fmt(now[0])}, expected {fmt(want_G[0])})", hint)

    return run_exercise("g_step_by_hand", fn, [lambda c=c: case(*c) for c in cases], quiet)


__all__ = ["scale_images", "d_loss_from_logits", "d_step_by_hand", "g_step_by_hand"]
