"""Notebook 03's checkers (minimax): each typical wrong answer fails with the hint aimed
at it, correct alternatives pass, the references agree with the notebook's text and with
the package, and the alternating step's invariant is checked numerically. (That every
solution passes and every stub is "not attempted" is tested once for all checkers in
test_exercises.py.)
"""

import math

import pytest
import torch

from exercise_helpers import load_solutions, passes
from gan_course import check, theory
from gan_course.check import minimax


SOL = load_solutions("nb03_minimax")


def _kl(p, q, dx):
    return (torch.xlogy(p, p) - torch.xlogy(p, q)).sum() * dx


# --- wrong EM steps: each computed by the reference with one mistake switched on ------------

def _em_with(**flags):
    def fn(x, counts, w, mu, sd):
        return minimax._em_step(x, counts, w, mu, sd, **flags)
    return fn


def em_naive_densities(x, counts, w, mu, sd):  # densities, not logs: a far bin gives 0/0 = nan
    x, c = x[:, None], counts.double()[:, None]
    p = w * torch.exp(-0.5 * ((x - mu) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))
    r = p / p.sum(1, keepdim=True)
    n_k = (r * c).sum(0)
    mu_new = (r * c * x).sum(0) / n_k
    return n_k / c.sum(), mu_new, ((r * c * (x - mu_new) ** 2).sum(0) / n_k).sqrt()


def em_in_place(x, counts, w, mu, sd):  # right values written into the caller's tensors
    w_new, mu_new, sd_new = SOL.em_step(x, counts, w, mu, sd)
    w.copy_(w_new), mu.copy_(mu_new), sd.copy_(sd_new)
    return w, mu, sd


def em_one_iteration_of_two(x, counts, w, mu, sd):
    return SOL.em_step(x, counts, *SOL.em_step(x, counts, w, mu, sd))


WRONG = {
    "em_step": [
        (_em_with(no_pi=True), "leaves out the weights"),
        (_em_with(wrong_axis=True), "over the K components"),
        (_em_with(pi_over_bins=True), "not by the number of bins"),
        (_em_with(no_counts=True), "the counts are missing"),
        (_em_with(counts_only_in_pi=True), "need the counts too"),
        (_em_with(old_mu=True), "NEW mean"),
        (_em_with(return_var=True), "variances"),
        (_em_with(sd_as_var=True), "standard deviations"),
        (em_naive_densities, "logsumexp"),
        (em_in_place, "in place"),
        (lambda x, c, w, mu, sd: SOL.em_step(x, c, w, mu, sd)[:2], "tuple (w, mu, sd)"),
        (lambda x, c, w, mu, sd: tuple(v[None] for v in SOL.em_step(x, c, w, mu, sd)), "shape"),
        (em_one_iteration_of_two, "expected"),
    ],
    "optimal_discriminator": [
        (lambda pd, pg: pg / (pd + pg), "probability of *fake*"),
        (lambda pd, pg: pd / pg, "density ratio"),
        (lambda pd, pg: pd / (pd + pg).sum(), "maximise"),
        (lambda pd, pg: pd / (pd + pg), "0 / 0 is nan"),                       # nan where both vanish
        (lambda pd, pg: pd / (pd + pg + 1e-12), "eps in the"),
        (lambda pd, pg: (pd / (pd + pg)).view(-1, 1), "elementwise"),
        (lambda pd, pg: pd.div_(pd + pg).nan_to_num_(0.5), "in place"),
    ],
    "jsd": [
        (lambda p, q, dx: 2 * SOL.jsd(p, q, dx), "missing the ½"),
        (lambda p, q, dx: SOL.jsd(p, q, dx) / math.log(2), "bits"),
        (lambda p, q, dx: SOL.jsd(p, q, dx) / math.log(10), "base 10"),
        (lambda p, q, dx: _kl(p, q, dx), "KL(p || q)"),
        (lambda p, q, dx: _kl(p, 0.5 * (p + q), dx), "only the KL(p || m)"),
        (lambda p, q, dx: 0.5 * ((p * torch.log(p / (0.5 * (p + q)))).sum() * dx
                                 + (q * torch.log(q / (0.5 * (p + q)))).sum() * dx), "nan"),
        (lambda p, q, dx: SOL.jsd(p, q, dx) / dx, "dx"),
        (lambda p, q, dx: SOL.jsd(p, q, dx) * dx, "dx is in twice"),
        (lambda p, q, dx: 0.5 * _kl(p, p + q, dx) + 0.5 * _kl(q, p + q, dx), "not the sum"),
        (lambda p, q, dx: 0.5 * _kl(0.5 * (p + q), p, dx) + 0.5 * _kl(0.5 * (p + q), q, dx), "not KL(m || p)"),
        (lambda p, q, dx: 0.5 * (_kl(p, q, dx) + _kl(q, p, dx)), "KL(p || q)"),   # symmetrised KL
        (lambda p, q, dx: SOL.jsd(p, q, dx).sqrt(), "distance"),
        (lambda p, q, dx: 0.5 * (torch.xlogy(p, p) - torch.xlogy(p, 0.5 * (p + q)))
         + 0.5 * (torch.xlogy(q, q) - torch.xlogy(q, 0.5 * (p + q))), "one number"),
    ],
    "value_function": [
        (lambda r, f: -(torch.log(r).mean() + torch.log(1 - f).mean()), "sign flipped"),
        (lambda r, f: torch.log(r).mean() + torch.log(f).mean(), "not log D(G(z))"),
        (lambda r, f: torch.log(1 - r).mean() + torch.log(f).mean(), "swapped"),
        (lambda r, f: torch.log(r).sum() + torch.log(1 - f).sum(), "means, not sums"),
        (lambda r, f: torch.log(torch.cat([r, 1 - f])).mean(), "its own batch"),
        (lambda r, f: (torch.log(r) + torch.log(1 - f)).mean(), "different sizes"),
        (lambda r, f: torch.log2(r).mean() + torch.log2(1 - f).mean(), "base 2"),
        (lambda r, f: torch.log(r).mean() + torch.log(f.neg_().add_(1)).mean(), "in place"),
    ],
    "wasserstein1_histograms": [
        (lambda p, q, dx: (p.cumsum(0) - q.cumsum(0)).abs().sum() * dx, "not normalised"),
        (lambda p, q, dx: theory.wasserstein1(p, q, dx), "takes densities"),
        (lambda p, q, dx: (p.cumsum(0) - q.cumsum(0)).abs().sum() * dx / (p.sum() + q.sum()), "OWN total"),
        (lambda p, q, dx: (p / p.sum() - q / q.sum()).abs().sum() * dx, "cumsum first"),
        (lambda p, q, dx: SOL.wasserstein1_histograms(p, q, dx) / dx, "multiply by dx"),
        (lambda p, q, dx: SOL.wasserstein1_histograms(p, q, dx) * dx, "dx is in twice"),
        (lambda p, q, dx: (p.cumsum(0) / p.sum() - q.cumsum(0) / q.sum()).sum().abs() * dx, "signed sum"),
        (lambda p, q, dx: ((p.cumsum(0) / p.sum() - q.cumsum(0) / q.sum()) ** 2).sum() * dx, "Cramér"),
        (lambda p, q, dx: (p.cumsum(0) // p.sum() - q.cumsum(0) // q.sum()).abs().sum() * dx, "//"),
        (lambda p, q, dx: SOL.wasserstein1_histograms(p, q, dx).item(), "not connected"),
        (lambda p, q, dx: SOL.wasserstein1_histograms(p.div_(p.sum()), q, dx), "in place"),
    ],
    "simultaneous_step": [
        (lambda x, y, lr: (x - lr * y, y - lr * x), "y descends"),
        (lambda x, y, lr: (x + lr * y, y + lr * x), "x ascends"),
        (lambda x, y, lr: (x - lr * y, y + lr * (x - lr * y)), "alternating"),
        (lambda x, y, lr: (x - lr * x, y + lr * y), "with respect to x is y"),
        (lambda x, y, lr: (y + lr * x, x - lr * y), "wrong order"),
        (lambda x, y, lr: x - lr * y, "pair"),
    ],
    "extragradient_step": [
        (lambda x, y, lr: SOL.simultaneous_step(*SOL.simultaneous_step(x, y, lr), lr), "look-ahead point"),
        (lambda x, y, lr: (x - lr * (y - lr * x), y - lr * (x - lr * y)), "y descends"),
        (lambda x, y, lr: SOL.simultaneous_step(x, y, lr), "only the look-ahead"),
        (lambda x, y, lr: (x - lr * (y + lr * (x - lr * y)), y + lr * (x - lr * y)), "uses the old x"),
        (lambda x, y, lr: SOL.extragradient_step(x, y, lr)[::-1], "wrong order"),
    ],
    "alternating_invariant": [
        (lambda x, y, a, b: x * x + y * y - a * x * y, "ONE rate"),
        (lambda x, y, a, b: 3 * (x * x + y * y - b * x * y), "ONE rate"),      # any multiple is recognised
        (lambda x, y, a, b: x * x + y * y - a * b * x * y, "weights too"),
        (lambda x, y, a, b: a * x * x + b * y * y - a * b * x * y, "swapped"),
        (lambda x, y, a, b: b * x * x + a * y * y + a * b * x * y, "sign of the cross term"),
        (lambda x, y, a, b: x * x + y * y, "not conserved"),
        (lambda x, y, a, b: x * y, "V = x·y"),
        (lambda x, y, a, b: 1.0, "a constant"),
        (lambda x, y, a, b: a * b, "a constant"),
        (lambda x, y, a, b: torch.tensor([x, y]), "one number"),
    ],
}


@pytest.mark.parametrize("name,wrong,hint",
                         [(n, w, h) for n, ws in WRONG.items() for w, h in ws],
                         ids=[f"{n}-{h}" for n, ws in WRONG.items() for _, h in ws])
def test_typical_wrong_answer_fails_with_its_hint(name, wrong, hint, capsys):
    result = getattr(check, name)(wrong)
    assert result.status == "fail", result.message
    assert hint in result.message, result.message
    assert "[FAIL]" in capsys.readouterr().out


# --- correct alternatives -------------------------------------------------------------------

RIGHT = {
    "em_step": [
        lambda x, c, w, mu, sd: tuple(v.float() for v in SOL.em_step(x, c, w, mu, sd)),   # float32 result
        lambda x, c, w, mu, sd: [v.numpy() for v in SOL.em_step(x, c, w, mu, sd)],         # NumPy arrays
    ],
    "optimal_discriminator": [
        lambda pd, pg: torch.nan_to_num(pd / (pd + pg), nan=0.0),   # any value is optimal where both are 0
        lambda pd, pg: torch.nan_to_num(pd / (pd + pg), nan=1.0),
        lambda pd, pg: (pd.float() / (pd + pg).float()).nan_to_num(0.5),  # float32
        lambda pd, pg: (pd / (pd + pg)).clamp(1e-7, 1 - 1e-7).nan_to_num(0.5),  # clamped for a later log
    ],
    "jsd": [
        lambda p, q, dx: SOL.jsd(p.float(), q.float(), dx),                 # float32 sums
        lambda p, q, dx: 0.5 * ((p * torch.log(p / (0.5 * (p + q)))).nansum()
                                + (q * torch.log(q / (0.5 * (p + q)))).nansum()) * dx,
        lambda p, q, dx: theory.js_divergence(p, q, dx).item(),             # a Python float is one number
    ],
    "value_function": [
        lambda r, f: torch.log(r.float()).mean() + torch.log(1 - f.float()).mean(),
        lambda r, f: float(torch.log(r).mean() + torch.log1p(-f).mean()),
    ],
    "wasserstein1_histograms": [
        lambda p, q, dx: (torch.cumsum(p / p.sum() - q / q.sum(), 0)).abs().sum() * dx,
        lambda p, q, dx: theory.wasserstein1(p / (p.sum() * dx), q / (q.sum() * dx), dx),
        lambda p, q, dx: (torch.cat([torch.zeros(1), (p.cumsum(0) / p.sum() - q.cumsum(0) / q.sum())[:-1]])
                          .abs().sum() * dx),                              # exclusive CDFs
        lambda p, q, dx: SOL.wasserstein1_histograms(p.float(), q.float(), dx),
    ],
    "alternating_invariant": [
        lambda x, y, a, b: (b * x * x + a * y * y - a * b * x * y) / (a * b),   # any multiple ...
        lambda x, y, a, b: math.sqrt(b * x * x + a * y * y - a * b * x * y),    # ... or function of Q
        lambda x, y, a, b: torch.tensor(b * x * x + a * y * y - a * b * x * y),
    ],
}


@pytest.mark.parametrize("name,right", [(n, r) for n, rs in RIGHT.items() for r in rs],
                         ids=[f"{n}-{i}" for n, rs in RIGHT.items() for i, _ in enumerate(rs)])
def test_correct_alternative_passes(name, right):
    passes(getattr(check, name), right)


def test_a_crashing_answer_fails_without_raising():
    assert check.optimal_discriminator(lambda pd, pg: pd.nonexistent, quiet=True).status == "fail"


# --- the references agree with the notebook's text and with the package --------------------

def test_optimal_discriminator_is_one_half_where_both_densities_vanish():
    """Section 3: "where both are 0 any value is optimal; we use ½"."""
    x, _ = theory.grid(-1.0, 3.0, 401)
    p, q = theory.uniform_pdf(x, 0.0, 1.0), theory.uniform_pdf(x, 0.5, 2.0)
    d = SOL.optimal_discriminator(p, q)
    torch.testing.assert_close(d, theory.optimal_discriminator(p, q))
    assert bool((d[(p + q) == 0] == 0.5).all()) and bool((d[(p > 0) & (q == 0)] == 1).all())


def test_em_on_counts_is_em_on_the_repeated_samples():
    """A bin of c samples at x counts as c samples: EM on the histogram equals EM on the
    data with every bin centre repeated by its count."""
    x = torch.tensor([-2.0, -1.5, 0.0, 0.5, 2.0, 2.5], dtype=torch.float64)
    counts = torch.tensor([3, 1, 4, 2, 5, 1])
    start = (torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64), torch.tensor([-1.0, 0.2, 1.5], dtype=torch.float64),
             torch.tensor([1.0, 0.7, 0.9], dtype=torch.float64))
    repeated = x.repeat_interleave(counts)
    for a, b in zip(SOL.em_step(x, counts, *start), SOL.em_step(repeated, torch.ones(len(repeated)), *start)):
        torch.testing.assert_close(a, b)


def test_em_never_lowers_the_log_likelihood():
    """Section 1: "each iteration can only raise (or keep) the training log-likelihood"."""
    gen = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(200, generator=gen) - 2, 0.5 * torch.randn(100, generator=gen) + 2]).double()
    params = (torch.full((3,), 1 / 3, dtype=torch.float64), torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64),
              torch.full((3,), float(x.std()), dtype=torch.float64))
    ones = torch.ones(len(x), dtype=torch.float64)
    lls = []
    for _ in range(50):
        lls.append(minimax._mixture_loglik(x, ones, *params))
        params = SOL.em_step(x, ones, *params)
    assert all(b >= a - 1e-12 for a, b in zip(lls, lls[1:]))


def test_w1_of_a_shifted_copy_is_the_shift():
    """Section 5: "for a density and its copy shifted by d it is exactly d"."""
    bump = torch.zeros(100, dtype=torch.float64)
    bump[10:20] = torch.arange(1.0, 11.0)
    for m in (1, 5, 30):
        assert abs(float(SOL.wasserstein1_histograms(bump, torch.roll(bump, m), 0.05)) - m * 0.05) < 1e-12


def test_w1_of_histograms_is_theory_w1_of_their_densities():
    gen = torch.Generator().manual_seed(1)
    p, q = torch.rand(60, generator=gen, dtype=torch.float64), 3 * torch.rand(60, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(SOL.wasserstein1_histograms(p, q, 0.2),
                               theory.wasserstein1(p / (p.sum() * 0.2), q / (q.sum() * 0.2), 0.2))


@pytest.mark.parametrize("lr_x, lr_y", [(0.2, 0.2), (0.1, 0.4), (0.5, 1.5), (1.0, 3.0), (1.9, 2.0)])
def test_alternating_steps_conserve_the_invariant(lr_x, lr_y):
    """The conserved quantity of alternating gradient descent/ascent on x*y, numerically:
    Q = η_y x² + η_x y² − η_x η_y x y stays constant along 1,000 steps of
    theory.alternating_step, and for η_x = η_y = η it is η times section 8's
    x² + y² − η x y."""
    path = theory.trajectory(theory.alternating_step, 0.7, -1.3, lr_x, 1000, lr_y=lr_y)
    q = torch.tensor([SOL.alternating_invariant(x, y, lr_x, lr_y) for x, y in path.tolist()], dtype=torch.float64)
    assert float((q - q[0]).abs().max()) < 1e-10 * max(1.0, abs(float(q[0])))
    if lr_x == lr_y:
        xs, ys = path.T
        torch.testing.assert_close(q, lr_x * (xs ** 2 + ys ** 2 - lr_x * xs * ys), rtol=1e-12, atol=1e-12)


def test_the_invariant_is_an_ellipse_exactly_below_product_four():
    """Q's level sets are ellipses (bounded orbits) iff η_x η_y < 4, the threshold of the
    spectral radius table in section 8; above it the orbit grows."""
    for lr_x, lr_y, bounded in [(1.0, 3.9, True), (1.0, 4.1, False)]:
        disc = (lr_x * lr_y) ** 2 - 4 * lr_x * lr_y   # cross term² - 4 · (x² coef) · (y² coef)
        assert (disc < 0) == bounded
        path = theory.trajectory(theory.alternating_step, 1.0, 1.0, lr_x, 200, lr_y=lr_y)
        assert (float(path.norm(dim=1).max()) < 100) == bounded
