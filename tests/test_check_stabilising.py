"""Notebook 09's checkers (stabilising GANs): each typical wrong answer fails with the hint
aimed at it, and correct alternatives pass. (That every solution passes and every stub is
"not attempted" is tested once for all checkers in test_exercises.py.)
"""

import pytest
import torch
from torch.nn import functional as F

from exercise_helpers import assert_leaves_global_rng_alone, fails_with, load_solutions, passes
from gan_course.check import stabilising as chk
from gan_course.losses import d_loss_hinge, r1_penalty

sol = load_solutions("nb09_stabilising_gans")
NAMES = ["hinge_d_loss", "r1_penalty", "ema_update"]


def test_registered_in_check_namespace():
    from gan_course import check

    for name in NAMES:
        assert getattr(check, name) is getattr(chk, name)


def test_checking_leaves_the_global_rng_alone():
    assert_leaves_global_rng_alone(*[lambda n=n: getattr(chk, n)(getattr(sol, n), quiet=True) for n in NAMES])


# --- hinge_d_loss ------------------------------------------------------------------------

def test_the_package_hinge_and_a_clamp_version_pass():
    passes(chk.hinge_d_loss, d_loss_hinge)
    passes(chk.hinge_d_loss, lambda r, f: (1 - r).clamp(min=0).mean() + (1 + f).clamp(min=0).mean())


def test_hinge_mistakes_fail_with_their_hint():
    fails_with(chk.hinge_d_loss, lambda r, f: f.mean() - r.mean(), "WGAN")
    fails_with(chk.hinge_d_loss, lambda r, f: F.relu(1 + r).mean() + F.relu(1 - f).mean(), "swapped")
    fails_with(chk.hinge_d_loss, lambda r, f: F.relu(-r).mean() + F.relu(f).mean(), "margin")
    fails_with(chk.hinge_d_loss, lambda r, f: torch.cat([F.relu(1 - r), F.relu(1 + f)]).mean(), "own batch")
    fails_with(chk.hinge_d_loss, lambda r, f: F.relu(1 - r).sum() + F.relu(1 + f).sum(), "sums")
    fails_with(chk.hinge_d_loss, lambda r, f: F.relu(1 - r.sigmoid()).mean() + F.relu(1 + f.sigmoid()).mean(),
               "raw scores")
    fails_with(chk.hinge_d_loss, lambda r, f: F.relu(1 - r).mean() - F.relu(1 + f).mean(), "add them")


def test_hinge_as_a_number_or_without_a_graph_fails():
    fails_with(chk.hinge_d_loss, lambda r, f: d_loss_hinge(r, f).item(), "tensor")
    fails_with(chk.hinge_d_loss, lambda r, f: d_loss_hinge(r.detach(), f.detach()), "graph")
    fails_with(chk.hinge_d_loss, lambda r, f: F.relu(1 - r) + F.relu(1 + f).mean(), "one number")


def test_hinge_that_changes_its_input_in_place_fails():
    def in_place(r, f):
        with torch.no_grad():
            r.clamp_(max=1)
        return d_loss_hinge(r, f)

    fails_with(chk.hinge_d_loss, in_place, "in place")


# --- r1_penalty ----------------------------------------------------------------------------

def test_the_package_penalty_passes_through_a_wrapper():
    def via_package(D, x_real, gamma):
        x = x_real.detach().clone().requires_grad_(True)
        return r1_penalty(D(x), x, gamma)

    passes(chk.r1_penalty, via_package)


def _grad(D, x, create_graph=True, of_mean=False, sigmoid=False):
    x = x.detach().requires_grad_(True)
    out = D(x).sigmoid() if sigmoid else D(x)
    (g,) = torch.autograd.grad(out.mean() if of_mean else out.sum(), x, create_graph=create_graph)
    return g.flatten(1)


def test_r1_mistakes_fail_with_their_hint():
    fails_with(chk.r1_penalty, lambda D, x, gm: gm / 2 * _grad(D, x, create_graph=False).pow(2).sum(1).mean(),
               "create_graph")
    fails_with(chk.r1_penalty, lambda D, x, gm: gm * _grad(D, x).pow(2).sum(1).mean(), "gamma / 2")
    fails_with(chk.r1_penalty, lambda D, x, gm: gm / 2 * _grad(D, x).norm(dim=1).mean(), "squared")
    fails_with(chk.r1_penalty, lambda D, x, gm: gm / 2 * _grad(D, x).pow(2).sum(1).sum(), "sum over the batch")
    fails_with(chk.r1_penalty, lambda D, x, gm: gm / 2 * _grad(D, x).pow(2).mean(), "pixels")
    fails_with(chk.r1_penalty, lambda D, x, gm: gm / 2 * _grad(D, x, of_mean=True).pow(2).sum(1).mean(),
               "D(x).sum()")
    fails_with(chk.r1_penalty, lambda D, x, gm: gm / 2 * _grad(D, x, sigmoid=True).pow(2).sum(1).mean(),
               "logit")


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True")  # the mistake itself
def test_r1_that_flags_the_callers_images_or_fills_grad_fails():
    def flags_input(D, x, gm):
        x.requires_grad_(True)
        (g,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)
        return gm / 2 * g.flatten(1).pow(2).sum(1).mean()

    def by_backward(D, x, gm):
        x = x.detach().requires_grad_(True)
        D(x).sum().backward(create_graph=True)
        return gm / 2 * x.grad.flatten(1).pow(2).sum(1).mean()

    fails_with(chk.r1_penalty, flags_input, "requires_grad")
    fails_with(chk.r1_penalty, by_backward, ".grad")


# --- ema_update ----------------------------------------------------------------------------

def test_lerp_and_the_engine_pass():
    from gan_course.training import ema_update as engine

    @torch.no_grad()
    def lerp(G_ema, G, decay):
        for e, p in zip(G_ema.parameters(), G.parameters()):
            e.lerp_(p, 1 - decay)

    @torch.no_grad()
    def with_buffers(G_ema, G, decay):
        lerp(G_ema, G, decay)
        for e, b in zip(G_ema.buffers(), G.buffers()):
            e.copy_(b)

    passes(chk.ema_update, lerp)
    passes(chk.ema_update, engine)
    passes(chk.ema_update, with_buffers)


def test_ema_mistakes_fail_with_their_hint():
    @torch.no_grad()
    def swapped(G_ema, G, decay):
        for e, p in zip(G_ema.parameters(), G.parameters()):
            e.mul_(1 - decay).add_(p, alpha=decay)

    @torch.no_grad()
    def copies(G_ema, G, decay):
        G_ema.load_state_dict(G.state_dict())

    def rebinds(G_ema, G, decay):
        for e, p in zip(G_ema.parameters(), G.parameters()):
            e = decay * e + (1 - decay) * p  # noqa: F841 (the mistake)

    @torch.no_grad()
    def moves_G(G_ema, G, decay):
        for e, p in zip(G_ema.parameters(), G.parameters()):
            p.lerp_(e, decay)

    @torch.no_grad()
    def weights_only(G_ema, G, decay):
        for (name, e), p in zip(G_ema.named_parameters(), G.parameters()):
            if name.endswith("weight"):
                e.lerp_(p, 1 - decay)

    fails_with(chk.ema_update, swapped, "swapped")
    fails_with(chk.ema_update, copies, "copy of G")
    fails_with(chk.ema_update, rebinds, "loop variable")
    fails_with(chk.ema_update, moves_G, "G's parameter")
    fails_with(chk.ema_update, weights_only, "bias", "did not change")


def test_an_empty_body_fails_rather_than_passing():
    fails_with(chk.ema_update, lambda G_ema, G, decay: None, "did not change")
