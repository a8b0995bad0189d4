"""Notebook 02's checkers (backprop): each typical wrong answer fails with the hint aimed
at it, correct alternatives pass, and the reference solutions agree with PyTorch and the
package. (That every solution passes and every stub is "not attempted" is tested once for
all checkers in test_exercises.py; the wrong losses are the lists every loss checker's tests
share, exercise_helpers.WRONG_D_LOSSES / WRONG_G_LOSSES.)
"""

import pytest
import torch
import torch.nn.functional as F

from exercise_helpers import (RIGHT_D_LOSSES, WRONG_D_LOSSES, WRONG_G_LOSSES, assert_leaves_global_rng_alone,
                              fails_with, load_solutions, passes)
from gan_course.check import backprop as chk
from gan_course.models import eval_mode


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


def bce_column_labels(l, y):  # (B,) - (B, 1) broadcasts to (B, B)
    return (torch.sigmoid(l) - y.view(-1, 1)) / l.numel()


def bce_unsimplified(l, y):  # -(y/s - (1-y)/(1-s)) * s(1-s): 0 * inf where s rounds to 0 or 1
    s = torch.sigmoid(l)
    return -(y / s - (1 - y) / (1 - s)) * s * (1 - s) / l.numel()


def bce_exp_overflows(l, y):  # exp(l) / (1 + exp(l)) is inf / inf for large l
    return (torch.exp(l) / (1 + torch.exp(l)) - y) / l.numel()


def bce_rounds_labels(l, y):
    return (torch.sigmoid(l) - y.round()) / l.numel()


def bce_by_autograd(l, y):  # the exercise asks for the formula
    l = l.clone().requires_grad_(True)
    F.binary_cross_entropy_with_logits(l, y).backward()
    return l.grad


def bce_in_place(l, y):  # right values, but the caller's logits are overwritten
    return l.sigmoid_().sub_(y).div_(l.numel())


@pytest.mark.parametrize("fn, words", [
    (bce_sign_flipped, ["sign"]), (bce_no_mean, ["mean"]),
    (bce_sigmoid_prime_twice, ["sigmoid'"]), (bce_divides_by_rows, ["(4, 3)", "rows only"]),
    (bce_wrong_shape, ["shape"]), (bce_column_labels, ["shape", "(B, 1)"]),
    (bce_unsimplified, ["nan or inf", "simplify"]), (bce_exp_overflows, ["overflows"]),
    (bce_rounds_labels, ["soft labels"]), (bce_by_autograd, ["by hand"]),
    (bce_in_place, ["in place"]),
])
def test_sigmoid_bce_grad_wrong(fn, words):
    fails_with(chk.sigmoid_bce_grad, fn, *words)


@pytest.mark.parametrize("fn", [
    lambda l, y: (1 / (1 + torch.exp(-l)) - y) / l.numel(),       # exp(-l) -> inf gives 1/inf = 0: fine
    lambda l, y: (torch.sigmoid(l.float()) - y.float()) / l.numel(),  # float32 arithmetic
    lambda l, y: (torch.sigmoid(l) - y) / y.numel(),
], ids=["manual_sigmoid", "float32", "divide_by_y_numel"])
def test_sigmoid_bce_grad_alternatives_pass(fn):
    passes(chk.sigmoid_bce_grad, fn)


def test_autograd_is_back_after_the_check():
    chk.sigmoid_bce_grad(bce_by_autograd, quiet=True)
    x = torch.ones(2, requires_grad=True)
    (x * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]
    assert torch.autograd.grad((x * 2).sum(), x)[0].tolist() == [2.0, 2.0]


# --- linear_backward --------------------------------------------------------------------

def lin_grad_W_transposed(x, W, g):
    return g @ W, x.T @ g, g.sum(0)


def lin_bias_not_summed(x, W, g):
    return g @ W, g.T @ x, g


def lin_bias_mean(x, W, g):
    return g @ W, g.T @ x, g.mean(0)


def lin_bias_keepdim(x, W, g):
    return g @ W, g.T @ x, g.sum(0, keepdim=True)


def lin_grad_x_wrong_transpose(x, W, g):
    return g @ W.T, g.T @ x, g.sum(0)


def lin_grad_W_averaged(x, W, g):
    return g @ W, g.T @ x / x.shape[0], g.sum(0)


def lin_two_values(x, W, g):
    return g @ W, g.T @ x


def lin_autograd(x, W, g):
    x, W = x.clone().requires_grad_(True), W.clone().requires_grad_(True)
    b = torch.zeros(W.shape[0], dtype=x.dtype, requires_grad=True)
    F.linear(x, W, b).backward(g)
    return x.grad, W.grad, b.grad


def lin_in_place(x, W, g):  # transposes the caller's grad_out in place
    grad_x, grad_b = g @ W, g.sum(0)
    return grad_x, g.t_() @ x, grad_b


@pytest.mark.parametrize("fn, words", [
    (lin_grad_W_transposed, ["transposed", "grad_out.T @ x"]),
    (lin_bias_not_summed, ["grad_b", "sum"]),
    (lin_bias_mean, ["grad_b", "mean"]),
    (lin_bias_keepdim, ["grad_b", "keepdim"]),
    (lin_grad_x_wrong_transpose, ["grad_x"]),
    (lin_grad_W_averaged, ["grad_W", "mean"]),
    (lin_two_values, ["tuple"]),
    (lin_autograd, ["by hand"]),
    (lin_in_place, ["in place"]),
])
def test_linear_backward_wrong(fn, words):
    fails_with(chk.linear_backward, fn, *words)


def test_linear_backward_alternatives_pass():
    passes(chk.linear_backward, lambda x, W, g: [torch.einsum("bo,oi->bi", g, W),
                                                torch.einsum("bo,bi->oi", g, x), g.sum(dim=0)])
    passes(chk.linear_backward, lambda x, W, g: (g @ W, (x.T @ g).T, g.sum(0).numpy()))


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


def fd_restored_by_arithmetic(f, x, eps):  # correct: x comes back up to rounding
    grad, flat = torch.zeros_like(x).view(-1), x.view(-1)
    for i in range(flat.numel()):
        flat[i] += eps
        fp = float(f(x))
        flat[i] -= 2 * eps
        fm = float(f(x))
        flat[i] += eps
        grad[i] = (fp - fm) / (2 * eps)
    return grad.view_as(x)


def fd_on_copies(f, x, eps):  # correct: never touches x
    grad = torch.zeros_like(x)
    for i in range(x.numel()):
        e = torch.zeros_like(x).view(-1)
        e[i] = eps
        e = e.view_as(x)
        grad.view(-1)[i] = (f(x + e) - f(x - e)) / (2 * eps)
    return grad


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


def fd_nudges_a_copy(f, x, eps):  # x.flatten().clone(): the nudges never reach f
    flat = x.flatten().clone()
    grad = torch.zeros_like(flat)
    for i in range(flat.numel()):
        old = flat[i].item()
        flat[i] = old + eps
        fp = float(f(x))
        flat[i] = old - eps
        fm = float(f(x))
        flat[i] = old
        grad[i] = (fp - fm) / (2 * eps)
    return grad.view_as(x)


def fd_flattened_result(f, x, eps):
    return sol.numerical_gradient(f, x, eps).flatten()


@pytest.mark.parametrize("fn, words", [
    (fd_forward, ["forward difference", "O(eps^2)"]),
    (fd_not_halved, ["twice", "2 * eps"]),
    (fd_not_restored, ["changed x", "put it back"]),
    (fd_all_at_once, ["one entry at a time"]),
    (fd_float32, ["float32"]),
    (fd_nudges_a_copy, ["never saw the nudged x"]),
    (fd_flattened_result, ["shape"]),
])
def test_numerical_gradient_wrong(fn, words):
    fails_with(chk.numerical_gradient, fn, *words)


@pytest.mark.parametrize("fn", [fd_restored_by_arithmetic, fd_on_copies])
def test_numerical_gradient_alternatives_pass(fn):
    passes(chk.numerical_gradient, fn)


def test_restoring_by_arithmetic_is_not_bitwise():
    """The case the tolerance exists for: arithmetic puts x back only up to rounding (the
    checker's second case, drawn as the checker draws it)."""
    g = torch.Generator().manual_seed(4)
    torch.randn(4, 3, generator=g, dtype=torch.float64)
    x = torch.randn(3, 4, generator=g, dtype=torch.float64)
    x_in = x.clone()
    fd_restored_by_arithmetic(lambda v: (v ** 3).sum(), x_in, 1e-4)
    assert not torch.equal(x_in, x) and (x_in - x).abs().max() < 1e-15


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

def _g_from_logits(loss_of_logits):
    def fn(D, x_fake):
        return loss_of_logits(D(x_fake))
    return fn


def g_detached(D, x_fake):
    l = D(x_fake.detach())
    return F.binary_cross_entropy_with_logits(l, torch.ones_like(l))


def g_detached_in_place(D, x_fake):  # cuts the caller's x_fake off G's graph
    return sol.generator_step_loss(D, x_fake.detach_())


def g_no_grad(D, x_fake):
    with torch.no_grad():
        return sol.generator_step_loss(D, x_fake)


def g_no_mean(D, x_fake):
    return F.softplus(-D(x_fake))


def g_item(D, x_fake):
    return sol.generator_step_loss(D, x_fake).item()


def g_calls_backward(D, x_fake):
    loss = sol.generator_step_loss(D, x_fake)
    loss.backward(retain_graph=True)
    return loss


def g_freezes_d(D, x_fake):  # keeps D fixed, as notebook 02 section 5 shows, but never unfreezes
    D.requires_grad_(False)
    return sol.generator_step_loss(D, x_fake)


def g_leaves_d_in_eval(D, x_fake):
    D.eval()
    return sol.generator_step_loss(D, x_fake)


def g_noisy_fakes(D, x_fake):  # instance noise drawn from the global stream
    return sol.generator_step_loss(D, x_fake + 0.05 * torch.randn_like(x_fake))


def g_column_targets(D, x_fake):
    l = D(x_fake)
    return F.binary_cross_entropy_with_logits(l, torch.ones(len(l), 1))


@pytest.mark.parametrize("fn, words", [(_g_from_logits(w[1]), w[2]) for w in WRONG_G_LOSSES] + [
    (g_detached, ["detach"]), (g_detached_in_place, ["detach_()"]), (g_no_grad, ["no gradient"]),
    (g_no_mean, ["one number"]), (g_item, ["tensor"]), (g_calls_backward, ["backward()"]),
    (g_freezes_d, ["frozen", "requires_grad_(True)"]), (g_leaves_d_in_eval, ["eval mode"]),
    (g_noisy_fakes, ["random"]), (g_column_targets, ["ones_like"]),
], ids=[w[0] for w in WRONG_G_LOSSES] + ["detached", "detach_in_place", "no_grad", "no_mean", "item",
                                         "calls_backward", "freezes_d", "d_in_eval", "noise", "column_targets"])
def test_generator_step_loss_wrong(fn, words):
    fails_with(chk.generator_step_loss, fn, *words)


def g_freeze_and_restore(D, x_fake):  # notebook 02 section 5's alternative, done right
    D.requires_grad_(False)
    try:
        return -F.logsigmoid(D(x_fake)).mean()
    finally:
        D.requires_grad_(True)


def g_in_eval_mode(D, x_fake):
    with eval_mode(D):
        return sol.generator_step_loss(D, x_fake)


@pytest.mark.parametrize("fn", [
    g_freeze_and_restore, g_in_eval_mode,
    lambda D, x: F.softplus(-D(x)).mean(),
    lambda D, x: torch.nn.BCEWithLogitsLoss()(D(x), torch.ones(len(x))),
    lambda D, x: -F.logsigmoid(D(x).double()).sum() / len(x),
], ids=["freeze_and_restore", "eval_mode_context", "softplus", "module_loss", "float64_sum_over_b"])
def test_generator_step_loss_alternatives_pass(fn):
    passes(chk.generator_step_loss, fn)


# --- discriminator_step_loss ------------------------------------------------------------

def _d_from_logits(loss_of_logits):
    def fn(D, x_real, x_fake):
        return loss_of_logits(D(x_real), D(x_fake.detach()))
    return fn


def _bce(l, target):
    return F.binary_cross_entropy_with_logits(l, torch.full_like(l, target))


def d_no_detach(D, x_real, x_fake):
    return _bce(D(x_real), 1.0) + _bce(D(x_fake), 0.0)


def d_detach_in_place(D, x_real, x_fake):  # cuts the caller's x_fake: the G step after gets nothing
    return _bce(D(x_real), 1.0) + _bce(D(x_fake.detach_()), 0.0)


def d_no_grad(D, x_real, x_fake):
    with torch.no_grad():
        return sol.discriminator_step_loss(D, x_real, x_fake)


def d_fake_term_no_grad(D, x_real, x_fake):
    with torch.no_grad():
        lf = D(x_fake)
    return _bce(D(x_real), 1.0) + _bce(lf, 0.0)


def d_one_batch(D, x_real, x_fake):  # D on the concatenated batch: one mean over both
    logits = D(torch.cat([x_real, x_fake.detach()]))
    target = torch.cat([torch.ones(len(x_real)), torch.zeros(len(x_fake))])
    return F.binary_cross_entropy_with_logits(logits, target)


def d_leaves_eval(D, x_real, x_fake):
    D.eval()
    return sol.discriminator_step_loss(D, x_real, x_fake)


@pytest.mark.parametrize("fn, words", [(_d_from_logits(w[1]), w[2]) for w in WRONG_D_LOSSES] + [
    (d_no_detach, ["detach", "into G"]), (d_detach_in_place, ["detach_()"]),
    (d_no_grad, ["no gradient"]), (d_fake_term_no_grad, ["no_grad"]),
    (d_one_batch, ["one mean over both"]), (d_leaves_eval, ["eval mode"]),
], ids=[w[0] for w in WRONG_D_LOSSES] + ["no_detach", "detach_in_place", "no_grad", "fake_term_no_grad",
                                         "one_batch", "d_in_eval"])
def test_discriminator_step_loss_wrong(fn, words):
    fails_with(chk.discriminator_step_loss, fn, *words)


@pytest.mark.parametrize("fn", [_d_from_logits(r[1]) for r in RIGHT_D_LOSSES] + [
    lambda D, xr, xf: sol.discriminator_step_loss(D, xr, xf.detach().clone()),
], ids=[r[0] for r in RIGHT_D_LOSSES] + ["detached_copy"])
def test_discriminator_step_loss_alternatives_pass(fn):
    passes(chk.discriminator_step_loss, fn)


def test_discriminator_reference_matches_package_loss():
    """The checker's formula is the package's d_loss_bce (one convention in the course)."""
    from gan_course.check.core import d_loss_reference
    from gan_course.losses import d_loss_bce

    lr_, lf = torch.randn(7), torch.randn(4)
    torch.testing.assert_close(d_loss_reference(lr_, lf).float(), d_loss_bce(lr_, lf))


def test_checkers_do_not_disturb_global_rng():
    assert_leaves_global_rng_alone(lambda: chk.generator_step_loss(sol.generator_step_loss, quiet=True),
                                   lambda: chk.discriminator_step_loss(sol.discriminator_step_loss, quiet=True))
