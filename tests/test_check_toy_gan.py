"""Notebook 04's checkers (toy_gan): each typical wrong answer fails with the hint aimed
at it, and the reference solutions agree with PyTorch and the package. (That every solution
passes and every stub is "not attempted" is tested once for all checkers in test_exercises.py.)
"""

import math

import pytest
import torch
import torch.nn.functional as F

import numpy as np

from exercise_helpers import assert_leaves_global_rng_alone, load_solutions, passes
from gan_course import check
from gan_course.check import toy_gan


SOL = load_solutions("nb04_toy_gan_2d")


def test_sample_ring_matches_the_package_ring():
    """The reference solution draws what gan_course.toy.ring() draws: same centers and std."""
    from gan_course import toy

    torch.manual_seed(0)
    x = SOL.sample_ring(20000, 8, 2.0, 0.05)
    data = toy.ring()
    hits = data.mode_hits(x)
    assert hits.sum() / len(x) > 0.98  # a real sample misses with probability exp(-4.5) ~ 1.1%
    assert (hits - len(x) / 8).abs().max() < 6 * math.sqrt(len(x) / 8)


# --- typical wrong answers -----------------------------------------------------------------

def _ring(n, k, radius, std, angles=None, scale=1.0, noise=None):
    j = torch.randint(k, (n,))
    a = angles(j, k) if angles else 2 * math.pi * j / k
    c = scale * radius * torch.stack([torch.cos(a), torch.sin(a)], dim=1)
    return c + (std if noise is None else noise(std)) * torch.randn(n, 2)


def _linspace_angles(j, k):
    return torch.linspace(0, 2 * math.pi, k)[j]


def _no_noise(n, k, radius, std):
    return _ring(n, k, radius, 0.0)


def _unequal_weights(n, k, radius, std):
    j = torch.multinomial(torch.arange(1.0, k + 1), n, replacement=True)
    a = 2 * math.pi * j / k
    return radius * torch.stack([a.cos(), a.sin()], 1) + std * torch.randn(n, 2)


def _counts_samples(s, c, r, m=1):
    dist, idx = torch.cdist(s, c).min(dim=1)
    return int((dist <= r).sum())


def _squared_threshold(s, c, r, m=1):
    dist, idx = torch.cdist(s, c).min(dim=1)
    return int((torch.bincount(idx[dist ** 2 <= r], minlength=len(c)) >= m).sum())


def _no_radius(s, c, r, m=1):
    _, idx = torch.cdist(s, c).min(dim=1)
    return int((torch.bincount(idx, minlength=len(c)) >= m).sum())


def _strict(s, c, r, m=1):
    dist, idx = torch.cdist(s, c).min(dim=1)
    return int((torch.bincount(idx[dist <= r], minlength=len(c)) > m).sum())


def _field_mean(D, x):
    x = x.clone().requires_grad_(True)
    return -torch.autograd.grad(F.softplus(-D(x)).mean(), x)[0]


def _field_sign(D, x):
    return -SOL.generator_field(D, x)


def _field_logit(D, x):
    x = x.clone().requires_grad_(True)
    return torch.autograd.grad(D(x).sum(), x)[0]


def _field_saturating(D, x):
    x = x.clone().requires_grad_(True)
    return -torch.autograd.grad(torch.log1p(-torch.sigmoid(D(x))).sum(), x)[0]


def _dealt_in_turn(n, k, radius, std):  # every mode gets exactly n/k samples, in order
    a = 2 * math.pi * (torch.arange(n) % k) / k
    return radius * torch.stack([a.cos(), a.sin()], 1) + std * torch.randn(n, 2)


def _numpy_rng(n, k, radius, std):  # ignores torch.manual_seed
    j = np.random.randint(k, size=n)
    a = 2 * np.pi * j / k
    c = radius * np.stack([np.cos(a), np.sin(a)], 1)
    return torch.from_numpy(c + std * np.random.randn(n, 2))


def _private_generator(n, k, radius, std):  # a fresh torch.Generator: the same points whatever the seed
    g = torch.Generator().manual_seed(0)
    j = torch.randint(k, (n,), generator=g)
    a = 2 * math.pi * j / k
    return radius * torch.stack([a.cos(), a.sin()], 1) + std * torch.randn(n, 2, generator=g)


def _one_offset(n, k, radius, std):  # torch.randn(2): every sample gets the same noise
    return _ring(n, k, radius, 0.0) + std * torch.randn(2)


def _shared_noise(n, k, radius, std):  # torch.randn(n, 1): both coordinates get the same noise
    return _ring(n, k, radius, 0.0) + std * torch.randn(n, 1)


def _any_center_in_reach(s, c, r, m=1):
    return int(((torch.cdist(s, c) <= r).sum(0) >= m).sum())


def _ignores_min_hits(s, c, r, m=1):
    return SOL.count_modes(s, c, r, 1)


def _sorts_in_place(s, c, r, m=1):
    s.copy_(s[s[:, 0].argsort()])  # sorts the caller's samples
    return SOL.count_modes(s, c, r, m)


def _field_backward(D, x):  # loss.backward() fills D's .grad
    x = x.clone().requires_grad_(True)
    F.softplus(-D(x)).sum().backward()
    return -x.grad


def _field_freezes_d(D, x):
    D.requires_grad_(False)
    return SOL.generator_field(D, x)


def _field_d_in_eval(D, x):
    D.eval()
    return SOL.generator_field(D, x)


def _field_flags_x(D, x):  # differentiates the caller's x itself
    x.requires_grad_(True)
    return -torch.autograd.grad(F.softplus(-D(x)).sum(), x)[0]


def _field_normalised(D, x):
    v = SOL.generator_field(D, x)
    return v / v.norm(dim=1, keepdim=True)


def _field_in_place(D, x):
    x.requires_grad_(True)
    v = -torch.autograd.grad(F.softplus(-D(x)).sum(), x)[0]
    x.requires_grad_(False)
    x.add_(1.0)  # "moves the points": changes the caller's tensor
    return v


WRONG = {
    "sample_ring": [
        (lambda n, k, r, s: _ring(n, k, r, s, scale=2.0), "diameter"),
        (lambda n, k, r, s: _ring(n, k, r, s, scale=0.5), "already the distance"),
        (lambda n, k, r, s: _ring(n, k, r, s, angles=_linspace_angles), "linspace"),
        (lambda n, k, r, s: _ring(n, k, r, s, angles=lambda j, k: 360.0 * j / k), "radians"),
        (lambda n, k, r, s: _ring(n, k, r, s, noise=lambda s: s ** 2), "std**2"),
        (lambda n, k, r, s: _ring(n, k, r, s, noise=math.sqrt), "sqrt(std)"),
        (_no_noise, "no noise"),
        (_unequal_weights, "uniformly"),
        (lambda n, k, r, s: _ring(n, k, r, s).T, "shape"),
        (_dealt_in_turn, "exactly n/k"),
        (_numpy_rng, "did not reproduce"),
        (_private_generator, "gave the same samples"),
        (_one_offset, "same offset"),
        (_shared_noise, "correlated"),
    ],
    "count_modes": [
        (_counts_samples, "count the *modes*"),
        (_squared_threshold, "squared"),
        (_no_radius, "however far away"),
        (_strict, ">="),
        (lambda s, c, r, m=1: torch.tensor([1.0, 2.0]), "one integer"),
        (_any_center_in_reach, "NEAREST center"),
        (_ignores_min_hits, "min_hits is ignored"),
        (_sorts_in_place, "in place"),
    ],
    "generator_field": [
        (_field_mean, "batch size"),
        (_field_sign, "sign flipped"),
        (_field_logit, "gradient of D's logit"),
        (_field_saturating, "saturating"),
        (_field_in_place, "in place"),
        (lambda D, x: SOL.generator_field(D, x)[:, :1], "shape"),
        (_field_backward, "autograd.grad"),
        (_field_freezes_d, "frozen"),
        (_field_d_in_eval, "eval mode"),
        (_field_flags_x, "requires_grad"),
        (_field_normalised, "normalised"),
    ],
    "diagnose_runs": [
        (lambda: {"A": "saturating stall", "B": "mode collapse", "C": "healthy"}, "saturating stall starts"),
        (lambda: {"A": "healthy", "B": "saturating stall", "C": "mode collapse"}, "healthy run covers"),
        (lambda: {"A": "mode collapse", "B": "healthy", "C": "mode collapse"}, "healthy run"),
        (lambda: {"A": "mode collapse", "B": "vanishing gradient", "C": "healthy"}, "choose from"),
        (lambda: {"A": "mode collapse", "C": "healthy"}, "each of A, B and C"),
        (lambda: ["mode collapse", "saturating stall", "healthy"], "dict"),
    ],
}


@pytest.mark.parametrize("name,wrong,hint", [(n, w, h) for n, cases in WRONG.items() for w, h in cases],
                         ids=[f"{n}-{h}" for n, cases in WRONG.items() for _, h in cases])
def test_typical_wrong_answer_fails_with_its_hint(name, wrong, hint, capsys):
    result = getattr(check, name)(wrong)
    assert result.status == "fail", f"{name} accepted a wrong answer ({hint})"
    assert hint in result.message, result.message
    assert "[FAIL]" in capsys.readouterr().out


def _ring_via_rand(n, k, radius, std):  # modes from torch.rand, noise from torch.normal: also right
    a = 2 * math.pi * (torch.rand(n) * k).floor() / k
    return radius * torch.stack([a.cos(), a.sin()], 1) + torch.normal(0.0, std, (n, 2))


def _field_freeze_and_restore(D, x):
    D.requires_grad_(False)
    try:
        x = x.detach().clone().requires_grad_(True)
        return -torch.autograd.grad(F.softplus(-D(x)).sum(), x)[0]
    finally:
        D.requires_grad_(True)


@pytest.mark.parametrize("name,right", [
    ("sample_ring", lambda n, k, r, s: SOL.sample_ring(n, k, r, s).double()),
    ("sample_ring", _ring_via_rand),
    ("count_modes", lambda s, c, r, m=1: float(SOL.count_modes(s, c, r, m))),
    ("count_modes", lambda s, c, r, m=1: int((torch.bincount(torch.cdist(s, c).argmin(1)[
        torch.cdist(s, c).min(1).values ** 2 <= r ** 2], minlength=len(c)) >= m).sum())),   # squared both sides
    ("generator_field", _field_freeze_and_restore),
    ("generator_field", lambda D, x: (lambda xr: -torch.autograd.grad(-F.logsigmoid(D(xr)).sum(), xr)[0])(
        x.detach().clone().requires_grad_(True))),
], ids=["ring_float64", "ring_via_rand", "modes_float", "modes_squared_both", "field_freeze_restore",
        "field_logsigmoid"])
def test_correct_alternatives_pass(name, right):
    passes(getattr(check, name), right)


def test_mystery_runs_hide_the_answer_behind_letters():
    runs = {d: f"run of {d}" for d in toy_gan.DIAGNOSES}
    letters = toy_gan.mystery_runs(runs)
    assert sorted(letters) == ["A", "B", "C"]
    assert {letter: f"run of {d}" for letter, d in toy_gan._RUN_ANSWERS.items()} == letters
    # the letters are not the order the runs are handed in (the notebook's cell lists them alphabetically)
    assert list(letters.values()) != [runs[d] for d in sorted(runs)]
    with pytest.raises(ValueError, match="exactly one run"):
        toy_gan.mystery_runs({"healthy": 1})


def test_diagnosis_accepts_case_and_spaces():
    answers = {k: f"  {v.upper()} " for k, v in SOL.diagnose_runs().items()}
    assert check.diagnose_runs(lambda: answers).passed


def test_count_modes_accepts_tensor_counts():
    assert check.count_modes(lambda s, c, r, m=1: torch.tensor(SOL.count_modes(s, c, r, m))).passed


def test_checkers_leave_global_rng_alone():
    # sample_ring seeds the global generator for the student's function; generator_field builds its Ds from seeds
    assert_leaves_global_rng_alone(lambda: check.sample_ring(SOL.sample_ring),
                                   lambda: check.generator_field(SOL.generator_field))


def test_diagnoses_are_the_documented_choices():
    assert set(toy_gan._RUN_ANSWERS.values()) == set(toy_gan.DIAGNOSES)
