"""gan_course.theory against references: torch.distributions for densities and KL, closed
forms for the JSD of boxes and W1 of shifts, and the exact rates of the bilinear game."""

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from gan_course import theory

X, DX = theory.grid(-15.0, 15.0, 6001)


def test_grid_and_errors():
    x, dx = theory.grid(-1.0, 1.0, 5)
    torch.testing.assert_close(x, torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0], dtype=torch.float64))
    assert dx == 0.5
    with pytest.raises(ValueError, match="hi > lo"):
        theory.grid(1.0, 0.0)
    with pytest.raises(ValueError, match="sum to 1"):
        theory.mixture_pdf(X, [0.5, 0.6], [0.0, 1.0], [1.0, 1.0])


def test_normal_pdf_matches_torch_distributions():
    want = Normal(torch.tensor(0.7, dtype=torch.float64), 1.3).log_prob(X).exp()
    torch.testing.assert_close(theory.normal_pdf(X, 0.7, 1.3), want)
    assert float(theory.data_density(X, "two modes").sum() * DX) == pytest.approx(1.0, abs=1e-12)


def test_kl_matches_the_gaussian_closed_form():
    p, q = Normal(torch.tensor(0.0, dtype=torch.float64), 1.0), Normal(torch.tensor(1.5, dtype=torch.float64), 2.0)
    got = theory.kl_divergence(p.log_prob(X).exp(), q.log_prob(X).exp(), DX)
    assert float(got) == pytest.approx(float(kl_divergence(p, q)), abs=1e-9)


@pytest.mark.parametrize("d", [0.0, 0.25, 0.5, 1.0, 2.5])
def test_jsd_and_w1_of_shifted_boxes(d):
    x, dx = theory.grid(-2.0, 6.0, 8001)
    p, q = theory.uniform_pdf(x, 0.0, 1.0), theory.uniform_pdf(x, d, d + 1.0)
    assert float(theory.js_divergence(p, q, dx)) == pytest.approx(min(d, 1.0) * math.log(2), abs=5e-3)
    assert float(theory.wasserstein1(p, q, dx)) == pytest.approx(d, abs=5e-3)


def test_value_at_optimum_is_two_jsd_minus_log4_and_is_the_maximum():
    p_data = theory.data_density(X, "two modes")
    for p_g in [theory.normal_pdf(X, 0.0, 1.5), theory.normal_pdf(X, 2.0, 0.5), p_data]:
        v_star = theory.value_at_optimum(p_data, p_g, DX)
        assert float(v_star) == pytest.approx(float(2 * theory.js_divergence(p_data, p_g, DX) - theory.LOG4), abs=1e-9)
        d_star = theory.optimal_discriminator(p_data, p_g)
        for shift in (-0.05, 0.05):  # any other D does worse
            assert theory.value_function(p_data, p_g, (d_star + shift).clamp(1e-9, 1 - 1e-9), DX) < v_star
    assert float(theory.value_at_optimum(p_data, p_data, DX)) == pytest.approx(-math.log(4), abs=1e-12)


def test_value_from_logits_equals_value_function_and_stays_finite():
    p_data, p_g = theory.data_density(X, "two modes"), theory.normal_pdf(X, 0.0, 1.5)
    logits = 0.5 * X
    torch.testing.assert_close(theory.value_from_logits(p_data, p_g, logits, DX),
                               theory.value_function(p_data, p_g, torch.sigmoid(logits), DX))
    assert torch.isfinite(theory.value_from_logits(p_data, p_g, X ** 2, DX))  # sigmoid rounds to 1


def test_optimal_discriminator_is_half_where_both_densities_vanish():
    d = theory.optimal_discriminator(torch.tensor([0.0, 1.0, 0.0]), torch.tensor([0.0, 1.0, 2.0]))
    torch.testing.assert_close(d, torch.tensor([0.5, 0.5, 0.0]))


def test_gradients_wrt_the_shift_are_finite_and_w1_gradient_is_one():
    for d in (0.1, 1.0, 3.0):
        shift = torch.tensor(d, dtype=torch.float64, requires_grad=True)
        p, q = theory.normal_pdf(X, 0.0, 0.1), theory.normal_pdf(X, shift, 0.1)  # tails underflow to 0
        g_jsd, = torch.autograd.grad(theory.js_divergence(p, q, DX), shift, retain_graph=True)
        g_w1, = torch.autograd.grad(theory.wasserstein1(p, q, DX), shift)
        assert torch.isfinite(g_jsd) and float(g_w1) == pytest.approx(1.0, abs=1e-6)
        # the JSD gradient against a finite difference
        h = 1e-5
        fd = (theory.js_divergence(p.detach(), theory.normal_pdf(X, d + h, 0.1), DX)
              - theory.js_divergence(p.detach(), theory.normal_pdf(X, d - h, 0.1), DX)) / (2 * h)
        assert float(g_jsd) == pytest.approx(float(fd), abs=1e-6)


def test_bilinear_game_rates():
    lr = 0.3
    sim = theory.trajectory(theory.simultaneous_step, 1.0, -0.5, lr, 50).norm(dim=1)
    torch.testing.assert_close(sim[1:] / sim[:-1], torch.full((50,), math.sqrt(1 + lr**2), dtype=torch.float64))
    eg = theory.trajectory(theory.extragradient_step, 1.0, -0.5, lr, 50).norm(dim=1)
    torch.testing.assert_close(eg[1:] / eg[:-1], torch.full((50,), math.sqrt(1 - lr**2 + lr**4), dtype=torch.float64))
    xa, ya = theory.trajectory(theory.alternating_step, 1.0, -0.5, lr, 500).T
    invariant = xa**2 + ya**2 - lr * xa * ya
    torch.testing.assert_close(invariant, torch.full_like(invariant, float(invariant[0])))
    # own learning rates: the simultaneous determinant is 1 + lr_x * lr_y
    x1, y1 = theory.simultaneous_step(1.0, 0.0, 0.1, 0.4)
    x2, y2 = theory.simultaneous_step(0.0, 1.0, 0.1, 0.4)
    assert x1 * y2 - x2 * y1 == pytest.approx(1 + 0.1 * 0.4)
