"""Notebook 05's checkers (training_loop): each typical wrong answer fails with the hint aimed
at it, and the reference solutions agree with PyTorch and the package. (That every solution
passes and every stub is "not attempted" is tested once for all checkers in test_exercises.py.)
"""

import pytest
import torch
import torch.nn.functional as F

from exercise_helpers import (RIGHT_D_LOSSES, WRONG_D_LOSSES, WRONG_G_LOSSES, assert_leaves_global_rng_alone,
                              fails_with, load_solutions, passes)
from gan_course.check import training_loop as chk
from gan_course.models import eval_mode


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


def scale_uint8_overflow(x):  # 2 * x wraps around in uint8 before the division
    return (2 * x) / 255 - 1


def scale_by_128(x):
    return x.float() / 128 - 1


def scale_standardised(x):  # torchvision's MNIST Normalize((0.1307,), (0.3081,))
    return (x.float() / 255 - 0.1307) / 0.3081


def scale_in_place(x):  # right values, but the caller's bytes are overwritten first
    out = x.float() / 127.5 - 1
    x.zero_()
    return out


@pytest.mark.parametrize("fn, words", [
    (scale_zero_one, ["[0, 1]", "tanh"]),
    (scale_zero_two, ["[0, 2]"]),
    (scale_inverted, ["swapped"]),
    (scale_integer_division, ["integer division"]),
    (scale_stays_uint8, ["float dtype"]),
    (scale_numpy, ["torch.Tensor"]),
    (scale_uint8_overflow, ["wraps around"]),
    (scale_by_128, ["127.5"]),
    (scale_standardised, ["standardises"]),
    (scale_in_place, ["in place"]),
])
def test_scale_images_typical_mistakes(fn, words):
    fails_with(chk.scale_images, fn, *words)


@pytest.mark.parametrize("fn", [
    lambda x: (x.float() - 127.5) / 127.5,
    lambda x: x.double() / 255 * 2 - 1,
    lambda x: x / 127.5 - 1,                      # true division of a uint8 tensor gives floats
    lambda x: (x / 255 - 0.5) / 0.5,
], ids=["centre_then_scale", "float64", "uint8_true_division", "normalize_half"])
def test_scale_images_accepts_equivalent_forms(fn):
    passes(chk.scale_images, fn)


# --- d_loss_from_logits -------------------------------------------------------------------

def d_loss_item(lr_, lf):  # right number, but cut off from the graph
    return (F.softplus(-lr_).mean() + F.softplus(lf).mean()).item()


def d_loss_labels_swapped(lr_, lf):
    return F.softplus(lr_).mean() + F.softplus(-lf).mean()


@pytest.mark.parametrize("fn, words", [(w[1], w[2]) for w in WRONG_D_LOSSES] + [(d_loss_item, ["tensor"])],
                         ids=[w[0] for w in WRONG_D_LOSSES] + ["item"])
def test_d_loss_typical_mistakes(fn, words):
    fails_with(chk.d_loss_from_logits, fn, *words)


@pytest.mark.parametrize("fn", [r[1] for r in RIGHT_D_LOSSES], ids=[r[0] for r in RIGHT_D_LOSSES])
def test_d_loss_correct_alternatives_pass(fn):
    passes(chk.d_loss_from_logits, fn)


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


def _d_step_with(loss_of_logits):
    def step(G, D, opt_d, x_real, z):
        loss_d = loss_of_logits(D(x_real), D(G(z).detach()))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        return loss_d
    return step


def d_step_fakes_in_eval_mode(G, D, opt_d, x_real, z):  # G.eval() for the fakes, never put back
    G.eval()
    return sol.d_step_by_hand(G, D, opt_d, x_real, z)


def d_step_freezes_g(G, D, opt_d, x_real, z):  # "keep G out of it", and G stays frozen
    G.requires_grad_(False)
    return sol.d_step_by_hand(G, D, opt_d, x_real, z)


def d_step_fresh_noise(G, D, opt_d, x_real, z):
    return sol.d_step_by_hand(G, D, opt_d, x_real, torch.randn_like(z))


def d_step_loss_after_the_step(G, D, opt_d, x_real, z):
    sol.d_step_by_hand(G, D, opt_d, x_real, z)
    with torch.no_grad():
        return sol.d_loss_from_logits(D(x_real), D(G(z)))


def d_step_zero_grad_after_backward(G, D, opt_d, x_real, z):
    loss_d = sol.d_loss_from_logits(D(x_real), D(G(z).detach()))
    loss_d.backward()
    opt_d.zero_grad()
    opt_d.step()
    return loss_d


@pytest.mark.parametrize("fn, words", [
    (d_step_no_detach, ["G's parameters received gradients", "detach"]),
    (d_step_no_zero_grad, ["zero_grad"]),
    (d_step_no_step, ["opt_d.step()"]),
    (d_step_labels_swapped, ["swapped"]),
    (d_step_fakes_in_eval_mode, ["eval mode"]),
    (d_step_freezes_g, ["frozen"]),
    (d_step_fresh_noise, ["z you are given"]),
    (d_step_loss_after_the_step, ["UPDATED D"]),
    (d_step_zero_grad_after_backward, ["zero_grad() after"]),
] + [(_d_step_with(w[1]), w[2]) for w in WRONG_D_LOSSES if not w[3] and w[0] != "elementwise_sum_of_batches"],
    ids=["no_detach", "no_zero_grad", "no_step", "labels_swapped", "g_in_eval", "freezes_g", "fresh_noise",
         "loss_after_step", "zero_grad_after_backward"]
    + [w[0] for w in WRONG_D_LOSSES if not w[3] and w[0] != "elementwise_sum_of_batches"])
def test_d_step_typical_mistakes(fn, words):
    fails_with(chk.d_step_by_hand, fn, *words)


def d_step_eval_mode_context(G, D, opt_d, x_real, z):  # fakes in eval mode, mode put back
    with eval_mode(G), torch.no_grad():
        x_fake = G(z)
    return _d_step_on(D, opt_d, x_real, x_fake)


def _d_step_on(D, opt_d, x_real, x_fake):
    loss_d = sol.d_loss_from_logits(D(x_real), D(x_fake))
    D.zero_grad()
    loss_d.backward()
    opt_d.step()
    return loss_d


def d_step_two_backwards(G, D, opt_d, x_real, z):  # the two terms back-propagated one by one
    x_fake = G(z).detach()
    opt_d.zero_grad()
    loss_real = F.binary_cross_entropy_with_logits(D(x_real), torch.ones(len(x_real)))
    loss_fake = F.binary_cross_entropy_with_logits(D(x_fake), torch.zeros(len(x_fake)))
    loss_real.backward()
    loss_fake.backward()
    opt_d.step()
    return (loss_real + loss_fake).item()


@pytest.mark.parametrize("fn", [d_step_no_grad_fakes, d_step_eval_mode_context, d_step_two_backwards])
def test_d_step_correct_alternatives_pass(fn):
    passes(chk.d_step_by_hand, fn)


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


def g_step_freezes_d(G, D, opt_g, z):  # as training.g_step does, but D is never unfrozen
    D.requires_grad_(False)
    return sol.g_step_by_hand(G, D, opt_g, z)


def g_step_d_in_eval(G, D, opt_g, z):
    D.eval()
    return sol.g_step_by_hand(G, D, opt_g, z)


def g_step_fresh_noise(G, D, opt_g, z):
    return sol.g_step_by_hand(G, D, opt_g, torch.randn_like(z))


def g_step_loss_after_the_step(G, D, opt_g, z):
    sol.g_step_by_hand(G, D, opt_g, z)
    with torch.no_grad():
        return F.softplus(-D(G(z))).mean()


@pytest.mark.parametrize("fn, words", [
    (g_step_saturating, ["saturating"]),
    (g_step_fake_label, ["target 1"]),
    (g_step_sign_flipped, ["sign is flipped"]),
    (g_step_detached, ["no gradient reached G"]),
    (g_step_detached_no_zero_grad, ["stale gradients only", "x_fake = G(z)"]),
    (g_step_no_zero_grad, ["zero_grad"]),
    (g_step_also_steps_d, ["D's weights changed"]),
    (g_step_freezes_d, ["frozen"]),
    (g_step_d_in_eval, ["eval mode"]),
    (g_step_fresh_noise, ["z you are given"]),
    (g_step_loss_after_the_step, ["after G's update"]),
] + [(_g_step_with(w[1]), w[2]) for w in WRONG_G_LOSSES if not w[3]],
    ids=["saturating", "fake_label", "sign_flipped", "detached", "detached_no_zero_grad", "no_zero_grad",
         "also_steps_d", "freezes_d", "d_in_eval", "fresh_noise", "loss_after_step"]
    + [f"loss_{w[0]}" for w in WRONG_G_LOSSES if not w[3]])
def test_g_step_typical_mistakes(fn, words):
    fails_with(chk.g_step_by_hand, fn, *words)


def g_step_freeze_and_restore(G, D, opt_g, z):  # what training.g_step does
    D.requires_grad_(False)
    try:
        return sol.g_step_by_hand(G, D, opt_g, z)
    finally:
        D.requires_grad_(True)


def g_step_zero_grad_none(G, D, opt_g, z):
    G.zero_grad(set_to_none=True)
    loss_g = -F.logsigmoid(D(G(z))).mean()
    loss_g.backward()
    opt_g.step()
    return loss_g.item()


@pytest.mark.parametrize("fn", [g_step_freeze_and_restore, g_step_zero_grad_none])
def test_g_step_correct_alternatives_pass(fn):
    passes(chk.g_step_by_hand, fn)
