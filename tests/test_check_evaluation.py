"""Notebook 07's checkers (evaluation): each typical wrong answer fails with the hint aimed at
it, correct alternatives pass, and the reference solutions agree with the package's metrics.
(That every solution passes and every stub is "not attempted" is tested once for all
checkers in test_exercises.py.)
"""

import math

import numpy as np
import pytest
import torch

from exercise_helpers import fails_with, load_solutions, passes
from gan_course import check, metrics

sol = load_solutions("nb07_evaluating_gans")


def _stats(a, b, ddof=1):
    a, b = a.double(), b.double()
    ca, cb = a - a.mean(0), b - b.mean(0)
    return a.mean(0), b.mean(0), ca.T @ ca / (len(a) - ddof), cb.T @ cb / (len(b) - ddof)


def _sqrtm(s):
    w, v = torch.linalg.eigh((s + s.T) / 2)
    return (v * w.clamp(min=0).sqrt()) @ v.T


# ---- the solutions agree with the package ------------------------------------------------

def test_solutions_agree_with_the_package():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(300, 8, generator=g), torch.randn(200, 8, generator=g) * 1.5 + 0.3
    assert sol.frechet_distance(a, b) == pytest.approx(metrics.frechet_distance(a, b), rel=1e-9)
    logits = 3 * torch.randn(100, 10, generator=g, dtype=torch.float64)
    assert sol.inception_score(logits.softmax(1)) == pytest.approx(
        metrics.scores_from_log_probs(logits.log_softmax(1))["inception_score"], rel=1e-9)
    pr = metrics.precision_recall(a, b, k=3)
    assert sol.knn_precision_recall(a, b, 3) == pytest.approx((pr["precision"], pr["recall"]))


# ---- frechet_distance ----------------------------------------------------------------

def fd_no_factor_2(a, b):
    mu_a, mu_b, sa, sb = _stats(a, b)
    return float(((mu_a - mu_b) ** 2).sum() + sa.trace() + sb.trace()
                 - torch.linalg.eigvals(sa @ sb).real.clamp(min=0).sqrt().sum())


def fd_commuting_roots(a, b):
    mu_a, mu_b, sa, sb = _stats(a, b)
    return float(((mu_a - mu_b) ** 2).sum() + sa.trace() + sb.trace() - 2 * (_sqrtm(sa) @ _sqrtm(sb)).trace())


def fd_elementwise_sqrt(a, b):
    mu_a, mu_b, sa, sb = _stats(a, b)
    return float(((mu_a - mu_b) ** 2).sum() + sa.trace() + sb.trace() - 2 * (sa @ sb).clamp(min=0).sqrt().trace())


def fd_biased_cov(a, b):
    mu_a, mu_b, sa, sb = _stats(a, b, ddof=0)
    return float(((mu_a - mu_b) ** 2).sum() + sa.trace() + sb.trace()
                 - 2 * torch.linalg.eigvals(sa @ sb).real.clamp(min=0).sqrt().sum())


def fd_norm_not_squared(a, b):
    mu_a, mu_b, sa, sb = _stats(a, b)
    return float((mu_a - mu_b).norm() + sa.trace() + sb.trace()
                 - 2 * torch.linalg.eigvals(sa @ sb).real.clamp(min=0).sqrt().sum())


def fd_means_only(a, b):
    return float(((a.mean(0) - b.mean(0)) ** 2).sum())


def fd_square_root(a, b):
    return math.sqrt(max(0.0, sol.frechet_distance(a, b)))


@pytest.mark.parametrize("fn, words", [
    (fd_no_factor_2, ["factor 2"]), (fd_commuting_roots, ["commute"]),
    (fd_elementwise_sqrt, ["entry by entry"]), (fd_biased_cov, ["N - 1"]),
    (fd_norm_not_squared, ["squared"]), (fd_means_only, ["only the means"]),
    (fd_square_root, ["square root of FD"]),
])
def test_frechet_distance_wrong_answers(fn, words):
    fails_with(check.frechet_distance, fn, *words)


def fd_symmetric_route(a, b):
    mu_a, mu_b, sa, sb = _stats(a, b)
    root = _sqrtm(sa)
    m = root @ sb @ root
    return ((mu_a - mu_b) ** 2).sum() + sa.trace() + sb.trace() - 2 * torch.linalg.eigvalsh((m + m.T) / 2).clamp(min=0).sqrt().sum()


def fd_torch_cov(a, b):
    sa, sb = torch.cov(a.T), torch.cov(b.T)
    return float(((a.mean(0) - b.mean(0)) ** 2).sum() + sa.trace() + sb.trace()
                 - 2 * torch.linalg.eigvals(sa @ sb).real.clamp(min=0).sqrt().sum())


def fd_numpy(a, b):
    a, b = a.numpy(), b.numpy()
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    tr = np.sqrt(np.linalg.eigvals(sa @ sb).real.clip(min=0)).sum()
    return ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(sa) + np.trace(sb) - 2 * tr


@pytest.mark.parametrize("fn", [fd_symmetric_route, fd_torch_cov, fd_numpy])
def test_frechet_distance_right_alternatives(fn):
    passes(check.frechet_distance, fn)


# ---- inception_score -------------------------------------------------------------------

def _kl(p, py):
    return (torch.xlogy(p, p) - torch.xlogy(p, py.expand_as(p))).sum(1)


def is_no_exp(p):
    return float(_kl(p, p.mean(0)).mean())


def is_exp_inside(p):
    return float(_kl(p, p.mean(0)).exp().mean())


def is_reversed_kl(p):
    py = p.mean(0, keepdim=True)
    return float((py * (py.log() - p.clamp(min=1e-300).log())).sum(1).mean().exp())


def is_argmax_marginal(p):
    py = torch.bincount(p.argmax(1), minlength=p.shape[1]).double() / len(p)
    return float(_kl(p, py).mean().exp())


def is_entropy_only(p):
    py = p.mean(0)
    return float((-torch.xlogy(py, py).sum()).exp())


def is_wrong_axis(p):
    return float(_kl(p, p.mean(1, keepdim=True)).mean().exp())


def is_sum_not_mean(p):
    return float(_kl(p, p.mean(0)).sum().exp())


def is_naive_log(p):
    py = p.mean(0)
    return float((p * (p.log() - py.log())).sum(1).mean().exp())


@pytest.mark.parametrize("fn, words", [
    (is_no_exp, ["exp is missing"]), (is_exp_inside, ["inside the mean"]),
    (is_reversed_kl, ["reversed"]), (is_argmax_marginal, ["arg-max"]),
    (is_entropy_only, ["entropy of p(y) alone"]), (is_wrong_axis, ["wrong axis"]),
    (is_sum_not_mean, ["summed over the samples"]), (is_naive_log, ["0 * log 0"]),
])
def test_inception_score_wrong_answers(fn, words):
    fails_with(check.inception_score, fn, *words)


def is_entropy_form(p):
    # IS = exp(H(p(y)) - mean_x H(p(y|x)))
    py = p.mean(0)
    return math.exp(float(-torch.xlogy(py, py).sum() + torch.xlogy(p, p).sum(1).mean()))


def is_clamped_logs(p):
    py = p.mean(0, keepdim=True)
    return (p * (p.clamp(min=1e-12).log() - py.log())).sum(1).mean().exp()


def is_numpy_loop(p):
    p = p.numpy()
    py = p.mean(0)
    kls = [sum(q * math.log(q / m) for q, m in zip(row, py) if q > 0) for row in p]
    return math.exp(np.mean(kls))


@pytest.mark.parametrize("fn", [is_entropy_form, is_clamped_logs, is_numpy_loop])
def test_inception_score_right_alternatives(fn):
    passes(check.inception_score, fn)


# ---- knn_precision_recall --------------------------------------------------------------

def _radii(x, k, offset=0, diagonal=True):
    d = torch.cdist(x, x)
    if diagonal:
        d.fill_diagonal_(math.inf)
    return d.sort(1).values[:, k - 1 + offset]


def _pr_with(real, fake, r_real, r_fake):
    return (float((torch.cdist(fake, real) <= r_real[None]).any(1).double().mean()),
            float((torch.cdist(real, fake) <= r_fake[None]).any(1).double().mean()))


def pr_self_included(real, fake, k):
    return _pr_with(real, fake, _radii(real, k, diagonal=False), _radii(fake, k, diagonal=False))


def pr_swapped(real, fake, k):
    p, r = sol.knn_precision_recall(real, fake, k)
    return r, p


def pr_k_plus_one(real, fake, k):
    return _pr_with(real, fake, _radii(real, k, offset=1), _radii(fake, k, offset=1))


def pr_radii_to_the_other_set(real, fake, k):
    return _pr_with(real, fake, torch.cdist(real, fake).sort(1).values[:, k - 1],
                    torch.cdist(fake, real).sort(1).values[:, k - 1])


def pr_balls_on_the_wrong_points(real, fake, k):
    return (float((torch.cdist(fake, real) <= _radii(fake, k)[:, None]).any(1).double().mean()),
            float((torch.cdist(real, fake) <= _radii(real, k)[:, None]).any(1).double().mean()))


@pytest.mark.parametrize("fn, words", [
    (pr_self_included, ["own nearest neighbour"]), (pr_swapped, ["swapped"]),
    (pr_k_plus_one, ["(k+1)-th"]), (pr_radii_to_the_other_set, ["*other* set"]),
    (pr_balls_on_the_wrong_points, ["wrong points"]),
])
def test_knn_precision_recall_wrong_answers(fn, words):
    fails_with(check.knn_precision_recall, fn, *words)


def pr_topk_with_self(real, fake, k):
    # the package's route: the (k+1)-th smallest distance of a row counts the point itself first
    r_real = torch.cdist(real, real).topk(k + 1, largest=False).values[:, -1]
    r_fake = torch.cdist(fake, fake).topk(k + 1, largest=False).values[:, -1]
    return _pr_with(real, fake, r_real, r_fake)


def pr_loops(real, fake, k):
    def radius(s, i):
        return sorted(float(torch.dist(s[i], s[j])) for j in range(len(s)) if j != i)[k - 1]
    rr = [radius(real, i) for i in range(len(real))]
    rf = [radius(fake, j) for j in range(len(fake))]
    prec = np.mean([any(float(torch.dist(f, real[i])) <= rr[i] for i in range(len(real))) for f in fake])
    rec = np.mean([any(float(torch.dist(r, fake[j])) <= rf[j] for j in range(len(fake))) for r in real])
    return prec, rec


@pytest.mark.parametrize("fn", [pr_topk_with_self, pr_loops])
def test_knn_precision_recall_right_alternatives(fn):
    passes(check.knn_precision_recall, fn)


# ---- which_metric ----------------------------------------------------------------------

def answers(**changes):
    base = {"copier": "nn_distance", "one_per_class": "recall", "only_ones": "entropy",
            "some_blots": "precision", "half_the_styles": "coverage", **changes}
    return lambda case: base[case]


@pytest.mark.parametrize("changes, words", [
    ({"copier": "fd"}, ["floor"]),
    ({"copier": "precision"}, ["distance to the training digits"]),
    ({"one_per_class": "entropy"}, ["maximum"]),
    ({"one_per_class": "inception_score"}, ["near 10"]),
    ({"one_per_class": "nn_distance"}, ["new"]),
    ({"only_ones": "precision"}, ["realistic"]),
    ({"some_blots": "recall"}, ["hardly moves"]),
    ({"half_the_styles": "precision"}, ["realistic"]),
    ({"half_the_styles": "FID score"}, ["not a scoreboard column"]),
])
def test_which_metric_wrong_answers(changes, words):
    fails_with(check.which_metric, answers(**changes), *words)


def test_which_metric_the_same_column_for_everything_fails():
    fails_with(check.which_metric, lambda case: "fd", "floor")


@pytest.mark.parametrize("changes", [
    {"copier": "NN distance", "only_ones": "IS", "some_blots": "density"},
    {"one_per_class": "coverage", "only_ones": "FID", "half_the_styles": "recall"},
    {"one_per_class": "Fréchet", "some_blots": "confident fraction", "half_the_styles": "fd"},
])
def test_which_metric_other_right_columns_and_spellings_pass(changes):
    passes(check.which_metric, answers(**changes))
