"""Notebook 03's checkers (minimax): each typical wrong answer fails with the hint aimed
at it, and the reference solutions agree with PyTorch and the package. (That every solution
passes and every stub is "not attempted" is tested once for all checkers in test_exercises.py.)
"""

import math

import pytest
import torch
from torch.nn import functional as F

from exercise_helpers import load_solutions
from gan_course import check


SOL = load_solutions("nb03_minimax")


def _kl(p, q, dx):
    return (torch.xlogy(p, p) - torch.xlogy(p, q)).sum() * dx


WRONG = {
    "optimal_discriminator": [
        (lambda pd, pg: pg / (pd + pg), "probability of *fake*"),
        (lambda pd, pg: pd / pg, "density ratio"),
        (lambda pd, pg: pd / (pd + pg).sum(), "maximise"),
    ],
    "jsd": [
        (lambda p, q, dx: 2 * SOL.jsd(p, q, dx), "missing the ½"),
        (lambda p, q, dx: SOL.jsd(p, q, dx) / math.log(2), "bits"),
        (lambda p, q, dx: _kl(p, q, dx), "KL(p || q)"),
        (lambda p, q, dx: _kl(p, 0.5 * (p + q), dx), "only the KL(p || m)"),
        (lambda p, q, dx: 0.5 * ((p * torch.log(p / (0.5 * (p + q)))).sum() * dx
                                 + (q * torch.log(q / (0.5 * (p + q)))).sum() * dx), "nan"),
        (lambda p, q, dx: SOL.jsd(p, q, dx) / dx, "dx"),
    ],
    "value_function": [
        (lambda r, f: -(torch.log(r).mean() + torch.log(1 - f).mean()), "sign flipped"),
        (lambda r, f: torch.log(r).mean() + torch.log(f).mean(), "not log D(G(z))"),
        (lambda r, f: torch.log(r).sum() + torch.log(1 - f).sum(), "means, not sums"),
        (lambda r, f: torch.log(torch.cat([r, 1 - f])).mean(), "its own batch"),
    ],
    "g_loss_nonsaturating": [
        (lambda l: F.logsigmoid(l).mean(), "sign flipped"),
        (lambda l: -l.mean(), "raw logits"),
        (lambda l: -F.softplus(l).mean(), "saturating"),
        (lambda l: -torch.log(torch.sigmoid(l)).mean(), "overflows"),
        (lambda l: -F.logsigmoid(l.detach()).mean(), "not connected"),
        (lambda l: -torch.log(torch.sigmoid(l) + 1e-12).mean(), "caps it"),
    ],
    "simultaneous_step": [
        (lambda x, y, lr: (x - lr * y, y - lr * x), "y descends"),
        (lambda x, y, lr: (x + lr * y, y + lr * x), "x ascends"),
        (lambda x, y, lr: (x - lr * y, y + lr * (x - lr * y)), "alternating"),
        (lambda x, y, lr: (x - lr * x, y + lr * y), "with respect to x is y"),
        (lambda x, y, lr: x - lr * y, "pair"),
    ],
    "extragradient_step": [
        (lambda x, y, lr: SOL.simultaneous_step(*SOL.simultaneous_step(x, y, lr), lr), "look-ahead point"),
        (lambda x, y, lr: (x - lr * (y - lr * x), y - lr * (x - lr * y)), "y descends"),
        (lambda x, y, lr: SOL.simultaneous_step(x, y, lr), "only the look-ahead"),
    ],
}


@pytest.mark.parametrize("name,wrong,hint",
                         [(n, w, h) for n, ws in WRONG.items() for w, h in ws],
                         ids=[f"{n}-{h}" for n, ws in WRONG.items() for _, h in ws])
def test_typical_wrong_answer_fails_with_its_hint(name, wrong, hint, capsys):
    result = getattr(check, name)(wrong)
    assert result.status == "fail"
    assert hint in result.message, result.message
    assert "[FAIL]" in capsys.readouterr().out


def test_a_crashing_answer_fails_without_raising():
    assert check.optimal_discriminator(lambda pd, pg: pd.nonexistent).status == "fail"
