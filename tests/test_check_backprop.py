"""Notebook 02's checkers (backprop): each typical wrong answer fails with the hint aimed
at it, and the reference solutions agree with PyTorch and the package. (That every solution
passes and every stub is "not attempted" is tested once for all checkers in test_exercises.py.)
"""

import pytest
import torch
import torch.nn.functional as F

from exercise_helpers import assert_leaves_global_rng_alone, fails_with, load_solutions
from gan_course.check import backprop as chk


sol = load_solutions("nb02_backpropagation")


# --- sigmoid_bce_grad -------------------------------------------------------------------

def bce_sign_flipped(l, y):
    return (y - torch.sigmoid(l)) / l.numel()


def bce_no_mean(l, y):
    return torch.sigmoid(l) - y


def bce_sigmoid_prime_twice(l, y):
    s = torch.sigmoid(l)
    return (s - y) * s * (1 - s) / l.numel()


def bce_divides_by_rows(l, y):  # mean over the first axis only: wrong for a (4, 3) batch
    return (torch.sigmoid(l) - y) / l.shape[0]


def bce_wrong_shape(l, y):
    return ((torch.sigmoid(l) - y) / l.numel()).sum()


@pytest.mark.parametrize("fn, words", [
    (bce_sign_flipped, ["sign"]), (bce_no_mean, ["mean"]),
    (bce_sigmoid_prime_twice, ["sigmoid'"]), (bce_divides_by_rows, ["(4, 3)", "rows only"]),
    (bce_wrong_shape, ["shape"]),
])
def test_sigmoid_bce_grad_wrong(fn, words):
    fails_with(chk.sigmoid_bce_grad, fn, *words)


# --- linear_backward --------------------------------------------------------------------

def lin_grad_W_transposed(x, W, g):
    return g @ W, x.T @ g, g.sum(0)


def lin_bias_not_summed(x, W, g):
    return g @ W, g.T @ x, g


def lin_bias_mean(x, W, g):
    return g @ W, g.T @ x, g.mean(0)


def lin_grad_x_wrong_transpose(x, W, g):
    return g @ W.T, g.T @ x, g.sum(0)


def lin_grad_W_averaged(x, W, g):
    return g @ W, g.T @ x / x.shape[0], g.sum(0)


def lin_two_values(x, W, g):
    return g @ W, g.T @ x


@pytest.mark.parametrize("fn, words", [
    (lin_grad_W_transposed, ["transposed", "grad_out.T @ x"]),
    (lin_bias_not_summed, ["grad_b", "sum"]),
    (lin_bias_mean, ["grad_b", "mean"]),
    (lin_grad_x_wrong_transpose, ["grad_x"]),
    (lin_grad_W_averaged, ["grad_W", "mean"]),
    (lin_two_values, ["tuple"]),
])
def test_linear_backward_wrong(fn, words):
    fails_with(chk.linear_backward, fn, *words)


# --- numerical_gradient -----------------------------------------------------------------

def fd_forward(f, x, eps):
    grad, flat = torch.zeros_like(x).view(-1), x.view(-1)
    for i in range(flat.numel()):
        old = flat[i].item()
        f0 = float(f(x))
        flat[i] = old + eps
        grad[i] = (float(f(x)) - f0) / eps
        flat[i] = old
    return grad.view_as(x)


def fd_not_halved(f, x, eps):
    return 2 * sol.numerical_gradient(f, x, eps)


def fd_not_restored(f, x, eps):
    grad, flat = torch.zeros_like(x).view(-1), x.view(-1)
    for i in range(flat.numel()):
        flat[i] += eps
        fp = float(f(x))
        flat[i] -= 2 * eps
        fm = float(f(x))  # forgot to add eps back
        grad[i] = (fp - fm) / (2 * eps)
    return grad.view_as(x)


def fd_all_at_once(f, x, eps):
    d = (float(f(x + eps)) - float(f(x - eps))) / (2 * eps)
    return torch.full_like(x, d)


def fd_float32(f, x, eps):  # central differences in float32: rounding error dominates
    x32 = x.float()
    f32 = lambda v: f(v.double()).float()  # noqa: E731
    grad = torch.zeros_like(x32).view(-1)
    flat = x32.view(-1)
    for i in range(flat.numel()):
        old = flat[i].item()
        flat[i] = old + eps
        fp = f32(x32)
        flat[i] = old - eps
        fm = f32(x32)
        flat[i] = old
        grad[i] = (fp - fm) / (2 * eps)
    return grad.view_as(x)


@pytest.mark.parametrize("fn, words", [
    (fd_forward, ["forward difference", "O(eps^2)"]),
    (fd_not_halved, ["twice", "2 * eps"]),
    (fd_not_restored, ["changed x", "put it back"]),
    (fd_all_at_once, ["one entry at a time"]),
    (fd_float32, ["expected"]),
])
def test_numerical_gradient_wrong(fn, words):
    fails_with(chk.numerical_gradient, fn, *words)


def test_numerical_gradient_central_difference_is_accurate():
    """The claim the checker relies on: central error ~eps^2, forward error ~eps."""
    x = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    exact = 3 * x ** 2
    f = lambda v: (v ** 3).sum()  # noqa: E731
    central = sol.numerical_gradient(f, x.clone(), 1e-4)
    forward = fd_forward(f, x.clone(), 1e-4)
    assert (central - exact).abs().max() < 1e-7
    assert (forward - exact).abs().max() > 1e-5


# --- generator_step_loss ----------------------------------------------------------------

def g_saturating(D, x_fake):
    return -F.binary_cross_entropy_with_logits(D(x_fake), torch.zeros_like(D(x_fake)))


def g_fake_label_zero(D, x_fake):
    l = D(x_fake)
    return F.binary_cross_entropy_with_logits(l, torch.zeros_like(l))


def g_raw_logits(D, x_fake):
    return -D(x_fake).mean()


def g_sign_flipped(D, x_fake):
    return F.logsigmoid(D(x_fake)).mean()


def g_detached(D, x_fake):
    l = D(x_fake.detach())
    return F.binary_cross_entropy_with_logits(l, torch.ones_like(l))


def g_unstable_log(D, x_fake):
    return -torch.log(torch.sigmoid(D(x_fake))).mean()


def g_no_mean(D, x_fake):
    return F.softplus(-D(x_fake))


def g_item(D, x_fake):
    return sol.generator_step_loss(D, x_fake).item()


def g_calls_backward(D, x_fake):
    loss = sol.generator_step_loss(D, x_fake)
    loss.backward(retain_graph=True)
    return loss


@pytest.mark.parametrize("fn, words", [
    (g_saturating, ["saturating"]), (g_fake_label_zero, ["fake label 0"]),
    (g_raw_logits, ["raw logit"]), (g_sign_flipped, ["sign"]),
    (g_detached, ["detach"]), (g_unstable_log, ["inf", "softplus"]),
    (g_no_mean, ["scalar"]), (g_item, ["tensor"]), (g_calls_backward, ["backward()"]),
])
def test_generator_step_loss_wrong(fn, words):
    fails_with(chk.generator_step_loss, fn, *words)


# --- discriminator_step_loss ------------------------------------------------------------

def _bce(l, target):
    return F.binary_cross_entropy_with_logits(l, torch.full_like(l, target))


def d_no_detach(D, x_real, x_fake):
    return _bce(D(x_real), 1.0) + _bce(D(x_fake), 0.0)


def d_swapped_labels(D, x_real, x_fake):
    return _bce(D(x_real), 0.0) + _bce(D(x_fake.detach()), 1.0)


def d_averaged(D, x_real, x_fake):
    return 0.5 * sol.discriminator_step_loss(D, x_real, x_fake)


def d_fake_label_one(D, x_real, x_fake):
    return _bce(D(x_real), 1.0) + _bce(D(x_fake.detach()), 1.0)


def d_real_only(D, x_real, x_fake):
    return _bce(D(x_real), 1.0)


def d_unstable(D, x_real, x_fake):
    s_real, s_fake = torch.sigmoid(D(x_real)), torch.sigmoid(D(x_fake.detach()))
    return -torch.log(s_real).mean() - torch.log(1 - s_fake).mean()


def d_no_grad(D, x_real, x_fake):
    with torch.no_grad():
        return sol.discriminator_step_loss(D, x_real, x_fake)


@pytest.mark.parametrize("fn, words", [
    (d_no_detach, ["detach", "into G"]), (d_swapped_labels, ["swapped"]),
    (d_averaged, ["sum"]), (d_fake_label_one, ["label 1"]), (d_real_only, ["fake term"]),
    (d_unstable, ["inf"]), (d_no_grad, ["no gradient"]),
])
def test_discriminator_step_loss_wrong(fn, words):
    fails_with(chk.discriminator_step_loss, fn, *words)


def test_discriminator_reference_matches_package_loss():
    """The checker's formula is the package's d_loss_bce (one convention in the course)."""
    from gan_course.losses import d_loss_bce

    lr_, lf = torch.randn(7), torch.randn(7)
    ours = F.softplus(-lr_).mean() + F.softplus(lf).mean()
    torch.testing.assert_close(ours, d_loss_bce(lr_, lf))


def test_checkers_do_not_disturb_global_rng():
    assert_leaves_global_rng_alone(lambda: chk.generator_step_loss(sol.generator_step_loss, quiet=True),
                                   lambda: chk.discriminator_step_loss(sol.discriminator_step_loss, quiet=True))
