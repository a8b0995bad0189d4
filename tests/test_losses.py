"""Each loss against a hand-written reference (log and sigmoid written out, as on paper)."""

import math

import pytest
import torch
from torch import nn

from gan_course import losses
from gan_course.losses import (d_loss_bce, d_loss_hinge, d_loss_least_squares, d_output,
                               g_loss_hinge, g_loss_least_squares, g_loss_nonsaturating,
                               g_loss_saturating, get_losses, gradient_penalty, r1_penalty,
                               wgan_critic_loss, wgan_g_loss)


def sig(t):
    return 1 / (1 + torch.exp(-t))


@pytest.fixture
def logits():
    g = torch.Generator().manual_seed(0)
    return (torch.randn(16, generator=g, dtype=torch.float64) * 2,
            torch.randn(16, generator=g, dtype=torch.float64) * 2)


def test_d_loss_matches_hand_written_bce(logits):
    lr, lf = logits
    expected = -torch.log(sig(lr)).mean() - torch.log(1 - sig(lf)).mean()
    torch.testing.assert_close(d_loss_bce(lr, lf), expected)
    # and PyTorch's BCE on probabilities (the Sigmoid + BCELoss form of tutorials)
    bce = nn.BCELoss()
    torch.testing.assert_close(d_loss_bce(lr, lf), bce(sig(lr), torch.ones(16, dtype=torch.float64))
                               + bce(sig(lf), torch.zeros(16, dtype=torch.float64)))


def test_one_sided_label_smoothing_smooths_real_only(logits):
    lr, lf = logits
    expected = (-(0.9 * torch.log(sig(lr)) + 0.1 * torch.log(1 - sig(lr))).mean()
                - torch.log(1 - sig(lf)).mean())  # fakes keep target 0
    torch.testing.assert_close(d_loss_bce(lr, lf, real_target=0.9), expected)
    for bad in (0.0, 1.1, -0.5):
        with pytest.raises(ValueError, match="real_target"):
            d_loss_bce(lr, lf, real_target=bad)


def test_generator_losses(logits):
    _, lf = logits
    torch.testing.assert_close(g_loss_nonsaturating(lf), -torch.log(sig(lf)).mean())
    torch.testing.assert_close(g_loss_saturating(lf), torch.log(1 - sig(lf)).mean())


def test_generator_loss_gradients_saturate_as_the_theory_says():
    lf = torch.tensor([-8.0, 0.0, 3.0], requires_grad=True)
    g_loss_saturating(lf).backward()
    torch.testing.assert_close(lf.grad, -sig(lf.detach()) / 3)  # d/dl log(1 - s(l)) = -s(l)
    assert abs(lf.grad[0]) < 1e-3  # vanishes where D rejects the fake
    lf.grad = None
    g_loss_nonsaturating(lf).backward()
    torch.testing.assert_close(lf.grad, -(1 - sig(lf.detach())) / 3)
    assert abs(lf.grad[0]) > 0.3  # strong where D rejects the fake


def test_losses_are_finite_for_extreme_logits():
    big = torch.tensor([100.0, -100.0, 1e4, -1e4], requires_grad=True)
    for value in (d_loss_bce(big, big), g_loss_nonsaturating(big), g_loss_saturating(big)):
        assert torch.isfinite(value)
        (grad,) = torch.autograd.grad(value, big)
        assert torch.isfinite(grad).all()


def test_wgan_losses(logits):
    sr, sf = logits
    torch.testing.assert_close(wgan_critic_loss(sr, sf), sf.mean() - sr.mean())
    torch.testing.assert_close(wgan_g_loss(sf), -sf.mean())


def test_gradient_penalty_of_a_linear_critic_is_exact():
    # C(x) = w . x has gradient w everywhere: GP = weight * (||w|| - 1)^2
    w = torch.tensor([3.0, 4.0])
    critic = lambda x: x @ w  # noqa: E731
    xr, xf = torch.randn(8, 2), torch.randn(8, 2)
    torch.testing.assert_close(gradient_penalty(critic, xr, xf, weight=10.0), torch.tensor(10 * 16.0))


def test_gradient_penalty_matches_hand_written_reference():
    torch.manual_seed(0)
    D = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.Tanh(), nn.Linear(8, 1))
    xr, xf = torch.randn(5, 3, 2, 2), torch.randn(5, 3, 2, 2)
    gen = torch.Generator().manual_seed(1)
    gp = gradient_penalty(lambda x: D(x).view(-1), xr, xf, weight=10.0, generator=gen)
    # reference: the same eps, per-sample gradient one sample at a time
    eps = torch.rand(5, 1, 1, 1, generator=torch.Generator().manual_seed(1))
    total = 0.0
    for i in range(5):
        xi = (eps[i] * xr[i] + (1 - eps[i]) * xf[i]).unsqueeze(0).requires_grad_(True)
        (g,) = torch.autograd.grad(D(xi).sum(), xi)
        total += (g.norm() - 1) ** 2
    torch.testing.assert_close(gp, 10 * total / 5)
    # create_graph=True: the penalty back-propagates into the critic's weights
    gp.backward()
    assert D[1].weight.grad is not None and D[1].weight.grad.abs().sum() > 0


def test_gradient_penalty_shape_mismatch():
    with pytest.raises(ValueError, match="same shape"):
        gradient_penalty(lambda x: x.sum(1), torch.randn(4, 2), torch.randn(3, 2))


def test_loss_table():
    assert get_losses("nonsaturating") == (d_loss_bce, g_loss_nonsaturating)
    assert get_losses("saturating") == (d_loss_bce, g_loss_saturating)
    assert get_losses("wgan-gp") == (wgan_critic_loss, wgan_g_loss)
    assert get_losses("wgan") == (wgan_critic_loss, wgan_g_loss)  # the clipping is in d_step
    assert get_losses("hinge") == (d_loss_hinge, g_loss_hinge)
    assert get_losses("least-squares") == (d_loss_least_squares, g_loss_least_squares)
    with pytest.raises(ValueError, match="unknown loss 'lsgan'; choose one of"):
        get_losses("lsgan")
    assert set(losses.LOSSES) == {"nonsaturating", "saturating", "wgan-gp", "wgan", "hinge",
                                  "least-squares"}
    assert losses.BCE_LOSSES == ("nonsaturating", "saturating")


def test_bce_value_at_even_odds():
    zero = torch.zeros(4)
    assert d_loss_bce(zero, zero).item() == pytest.approx(2 * math.log(2))


@pytest.mark.parametrize("loss", ["nonsaturating", "saturating", "wgan-gp", "wgan", "hinge",
                                  "least-squares"])
def test_generator_field_is_each_points_own_gradient(loss):
    """-d ell(x_i)/dx_i for a linear D(x) = w.x + b: (1 - s) w, s w, w and (1 - l) w."""
    from gan_course.losses import generator_field

    D = torch.nn.Linear(2, 1)
    D_fn = lambda x: D(x).view(-1)  # noqa: E731
    x = torch.randn(7, 2)
    got = generator_field(D_fn, x, loss)
    s = torch.sigmoid(D_fn(x)).detach()[:, None]
    w = D.weight.detach()
    score = D_fn(x).detach()[:, None]
    want = {"nonsaturating": (1 - s) * w, "saturating": s * w, "wgan-gp": w.expand(7, 2),
            "wgan": w.expand(7, 2), "hinge": w.expand(7, 2), "least-squares": (1 - score) * w}[loss]
    torch.testing.assert_close(got, want)
    assert D.weight.grad is None and not got.requires_grad
    torch.testing.assert_close(generator_field(D_fn, x[:3], loss), got[:3])  # not per batch


def test_generator_field_is_the_toy_checkers_reference():
    """check.toy_gan's generator_field exercise grades against the same computation."""
    from gan_course.check.toy_gan import _field_D, _field_reference
    from gan_course.losses import generator_field

    D = _field_D(0)
    x = torch.randn(9, 2, dtype=torch.float64)
    torch.testing.assert_close(generator_field(D, x), _field_reference(D, x))


# ------------------------------------------------------------- notebook 09's losses, by hand

FIXED_REAL = torch.tensor([2.0, 0.5, -1.0, 1.0])   # D's raw outputs on four real images
FIXED_FAKE = torch.tensor([-2.0, 0.0, 1.5, -0.5])  # ... and on four fakes


def test_hinge_loss_on_fixed_scores():
    # D: mean relu(1 - l_real) + mean relu(1 + l_fake) = (0 + .5 + 2 + 0)/4 + (0 + 1 + 2.5 + .5)/4
    assert d_loss_hinge(FIXED_REAL, FIXED_FAKE).item() == pytest.approx(2.5 / 4 + 4.0 / 4)
    assert g_loss_hinge(FIXED_FAKE).item() == pytest.approx(-(-2.0 + 0.0 + 1.5 - 0.5) / 4)
    # beyond the margin: neither loss nor gradient
    far = torch.tensor([3.0, 5.0], requires_grad=True)
    loss = d_loss_hinge(far, -far)
    loss.backward()
    assert loss.item() == 0 and far.grad.abs().sum() == 0


def test_least_squares_loss_on_fixed_scores():
    # D: 1/2 mean (l_real - 1)^2 + 1/2 mean l_fake^2;  G: 1/2 mean (l_fake - 1)^2
    d = 0.5 * (1.0 + 0.25 + 4.0 + 0.0) / 4 + 0.5 * (4.0 + 0.0 + 2.25 + 0.25) / 4
    g = 0.5 * (9.0 + 1.0 + 0.25 + 2.25) / 4
    assert d_loss_least_squares(FIXED_REAL, FIXED_FAKE).item() == pytest.approx(d)
    assert g_loss_least_squares(FIXED_FAKE).item() == pytest.approx(g)
    assert d_loss_least_squares(torch.ones(3), torch.zeros(3)).item() == 0  # on its targets


def test_wgan_critic_loss_on_fixed_scores():
    # WGAN and WGAN-GP share it: mean C(G(z)) - mean C(x)
    assert wgan_critic_loss(FIXED_REAL, FIXED_FAKE).item() == pytest.approx(-1.0 / 4 - 2.5 / 4)
    assert wgan_g_loss(FIXED_FAKE).item() == pytest.approx(1.0 / 4)


def test_two_sided_label_smoothing(logits):
    lr, lf = logits
    expected = (-(0.9 * torch.log(sig(lr)) + 0.1 * torch.log(1 - sig(lr))).mean()
                - (0.1 * torch.log(sig(lf)) + 0.9 * torch.log(1 - sig(lf))).mean())
    torch.testing.assert_close(d_loss_bce(lr, lf, real_target=0.9, fake_target=0.1), expected)
    for bad in (-0.1, 0.9, 1.0):
        with pytest.raises(ValueError, match=r"fake_target must be in \[0, real_target\)"):
            d_loss_bce(lr, lf, real_target=0.9, fake_target=bad)


def test_d_output_is_a_probability_only_for_bce_losses():
    l = torch.tensor([0.0, 2.0])
    for loss in losses.BCE_LOSSES:
        torch.testing.assert_close(d_output(l, loss), torch.sigmoid(l).mean())
    for loss in ("wgan-gp", "wgan", "hinge", "least-squares"):
        assert d_output(l, loss).item() == 1.0


def test_r1_penalty_of_a_linear_d_is_gamma_half_the_squared_weight_norm():
    """D(x) = w.x + b: grad_x D = w for every sample, so R1 = gamma / 2 * ||w||^2."""
    D = nn.Linear(5, 1)
    x = torch.randn(8, 5).requires_grad_(True)
    penalty = r1_penalty(D(x).view(-1), x, weight=10.0)
    w = D.weight.detach().flatten()
    torch.testing.assert_close(penalty, 10.0 / 2 * (w ** 2).sum())
    penalty.backward()  # create_graph: the penalty trains D, d/dw (gamma/2 ||w||^2) = gamma w
    torch.testing.assert_close(D.weight.grad.flatten(), 10.0 * w)
    assert D.bias.grad is None or D.bias.grad.abs().sum() == 0


def test_r1_penalty_of_a_quadratic_d_matches_the_hand_gradient():
    """D(x) = (w.x)^2 on images (B, 1, 2, 2): grad_x D = 2 (w.x) w, per sample."""
    w = torch.tensor([1.0, -2.0, 0.5, 3.0])
    x = torch.randn(6, 1, 2, 2, dtype=torch.float64).requires_grad_(True)
    scores = (x.flatten(1) @ w.double()) ** 2
    hand = (2 * (x.detach().flatten(1) @ w.double()))[:, None] * w.double()  # (B, 4)
    torch.testing.assert_close(r1_penalty(scores, x, 1.0), 0.5 * (hand ** 2).sum(1).mean())
