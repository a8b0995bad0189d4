"""Notebook 05's checkers (training_loop): each typical wrong answer fails with the hint aimed
at it, and the reference solutions agree with PyTorch and the package. (That every solution
passes and every stub is "not attempted" is tested once for all checkers in test_exercises.py.)
"""

import pytest
import torch
import torch.nn.functional as F

from exercise_helpers import assert_leaves_global_rng_alone, fails_with, load_solutions
from gan_course.check import training_loop as chk


sol = load_solutions("nb05_mlp_gan_mnist")
NAMES = ["scale_images", "d_loss_from_logits", "d_step_by_hand", "g_step_by_hand"]


def test_registered_in_check_namespace():
    from gan_course import check

    for name in NAMES:
        assert getattr(check, name) is getattr(chk, name)


def test_checking_leaves_the_global_rng_alone():
    assert_leaves_global_rng_alone(lambda: chk.d_step_by_hand(sol.d_step_by_hand, quiet=True),
                                   lambda: chk.g_step_by_hand(sol.g_step_by_hand, quiet=True))


# --- scale_images -----------------------------------------------------------------------

def scale_zero_one(x):  # the source material's mistake
    return x.float() / 255


def scale_zero_two(x):
    return x.float() / 127.5


def scale_inverted(x):
    return 1 - x.float() / 127.5


def scale_integer_division(x):
    return torch.div(x.long(), 127.5, rounding_mode="floor") - 1


def scale_stays_uint8(x):
    return x // 128


def scale_numpy(x):
    return x.numpy() / 127.5 - 1


@pytest.mark.parametrize("fn, words", [
    (scale_zero_one, ["[0, 1]", "tanh"]),
    (scale_zero_two, ["[0, 2]"]),
    (scale_inverted, ["swapped"]),
    (scale_integer_division, ["integer division"]),
    (scale_stays_uint8, ["float dtype"]),
    (scale_numpy, ["torch.Tensor"]),
])
def test_scale_images_typical_mistakes(fn, words):
    fails_with(chk.scale_images, fn, *words)


def test_scale_images_accepts_equivalent_forms():
    assert chk.scale_images(lambda x: (x.float() - 127.5) / 127.5, quiet=True).passed
    assert chk.scale_images(lambda x: x.double() / 255 * 2 - 1, quiet=True).passed


# --- d_loss_from_logits -------------------------------------------------------------------

def d_loss_labels_swapped(lr_, lf):
    return F.softplus(lr_).mean() + F.softplus(-lf).mean()


def d_loss_no_real_term(lr_, lf):
    return F.binary_cross_entropy_with_logits(lf, torch.zeros_like(lf))


def d_loss_raw_logits(lr_, lf):  # the source material's "-mean(logits)"
    return -lr_.mean() + lf.mean()


def d_loss_sign_flipped(lr_, lf):
    return -(F.softplus(-lr_).mean() + F.softplus(lf).mean())


def d_loss_one_mean(lr_, lf):
    return torch.cat([F.softplus(-lr_), F.softplus(lf)]).mean()


def d_loss_log_sigmoid_overflows(lr_, lf):
    return -(torch.log(torch.sigmoid(lr_)).mean() + torch.log(1 - torch.sigmoid(lf)).mean())


def d_loss_sum_not_mean(lr_, lf):
    return F.softplus(-lr_).sum() + F.softplus(lf).sum()


def d_loss_item(lr_, lf):  # right number, but cut off from the graph
    return (F.softplus(-lr_).mean() + F.softplus(lf).mean()).item()


@pytest.mark.parametrize("fn, words", [
    (d_loss_labels_swapped, ["labels swapped"]),
    (d_loss_no_real_term, ["real-data term"]),
    (d_loss_raw_logits, ["raw logits"]),
    (d_loss_sign_flipped, ["sign flipped"]),
    (d_loss_one_mean, ["*sum* of the two batch means"]),
    (d_loss_log_sigmoid_overflows, ["not finite"]),
    (d_loss_sum_not_mean, ["sum over samples"]),
    (d_loss_item, ["not connected"]),
])
def test_d_loss_typical_mistakes(fn, words):
    fails_with(chk.d_loss_from_logits, fn, *words)


# --- d_step_by_hand -----------------------------------------------------------------------

def d_step_no_detach(G, D, opt_d, x_real, z):
    loss_d = sol.d_loss_from_logits(D(x_real), D(G(z)))
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    return loss_d


def d_step_no_zero_grad(G, D, opt_d, x_real, z):
    loss_d = sol.d_loss_from_logits(D(x_real), D(G(z).detach()))
    loss_d.backward()
    opt_d.step()
    return loss_d


def d_step_no_step(G, D, opt_d, x_real, z):
    loss_d = sol.d_loss_from_logits(D(x_real), D(G(z).detach()))
    opt_d.zero_grad()
    loss_d.backward()
    return loss_d


def d_step_labels_swapped(G, D, opt_d, x_real, z):
    loss_d = d_loss_labels_swapped(D(x_real), D(G(z).detach()))
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    return loss_d


def d_step_no_grad_fakes(G, D, opt_d, x_real, z):  # a correct variant: no_grad instead of detach
    with torch.no_grad():
        x_fake = G(z)
    loss_d = sol.d_loss_from_logits(D(x_real), D(x_fake))
    opt_d.zero_grad(set_to_none=False)
    loss_d.backward()
    opt_d.step()
    return loss_d.item()


@pytest.mark.parametrize("fn, words", [
    (d_step_no_detach, ["G's parameters received gradients", "detach"]),
    (d_step_no_zero_grad, ["zero_grad"]),
    (d_step_no_step, ["opt_d.step()"]),
    (d_step_labels_swapped, ["labels swapped"]),
])
def test_d_step_typical_mistakes(fn, words):
    fails_with(chk.d_step_by_hand, fn, *words)


def test_d_step_accepts_no_grad_variant():
    assert chk.d_step_by_hand(d_step_no_grad_fakes, quiet=True).passed


# --- g_step_by_hand -----------------------------------------------------------------------

def _g_step_with(loss_fn, detach=False, zero_grad=True):
    def step(G, D, opt_g, z):
        x_fake = G(z).detach() if detach else G(z)
        loss_g = loss_fn(D(x_fake))
        if zero_grad:
            opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        return loss_g
    return step


def g_step_saturating(G, D, opt_g, z):
    return _g_step_with(lambda l: torch.log(1 - torch.sigmoid(l)).mean())(G, D, opt_g, z)


def g_step_fake_label(G, D, opt_g, z):
    return _g_step_with(lambda l: F.binary_cross_entropy_with_logits(l, torch.zeros_like(l)))(G, D, opt_g, z)


def g_step_sign_flipped(G, D, opt_g, z):
    return _g_step_with(lambda l: F.logsigmoid(l).mean())(G, D, opt_g, z)


def g_step_detached(G, D, opt_g, z):
    return _g_step_with(lambda l: F.softplus(-l).mean(), detach=True)(G, D, opt_g, z)


def g_step_detached_no_zero_grad(G, D, opt_g, z):
    return _g_step_with(lambda l: F.softplus(-l).mean(), detach=True, zero_grad=False)(G, D, opt_g, z)


def g_step_no_zero_grad(G, D, opt_g, z):
    return _g_step_with(lambda l: F.softplus(-l).mean(), zero_grad=False)(G, D, opt_g, z)


def g_step_also_steps_d(G, D, opt_g, z):
    loss = sol.g_step_by_hand(G, D, opt_g, z)
    torch.optim.SGD(D.parameters(), lr=0.1).step()  # D got gradients in G's backward
    return loss


@pytest.mark.parametrize("fn, words", [
    (g_step_saturating, ["saturating form"]),
    (g_step_fake_label, ["target 1"]),
    (g_step_sign_flipped, ["sign flipped"]),
    (g_step_detached, ["no gradient reached G"]),
    (g_step_detached_no_zero_grad, ["stale gradients only", "x_fake = G(z)"]),
    (g_step_no_zero_grad, ["zero_grad"]),
    (g_step_also_steps_d, ["D's weights changed"]),
])
def test_g_step_typical_mistakes(fn, words):
    fails_with(chk.g_step_by_hand, fn, *words)
