"""Notebook 00's checkers (welcome): each typical wrong answer fails with the hint aimed
at it, correct alternatives pass, and the reference solutions agree with PyTorch and the
package. (That every solution passes and every stub is "not attempted" is tested once for
all checkers in test_exercises.py; the wrong D losses are the list every loss checker's
tests share, exercise_helpers.WRONG_D_LOSSES.)
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from exercise_helpers import RIGHT_D_LOSSES, WRONG_D_LOSSES, fails_with, load_solutions, passes
from gan_course import check, losses
from gan_course.data import load_mnist, to_uint8


sol = load_solutions("nb00_welcome")


# ---- the solutions agree with the package --------------------------------------------

def test_to_pixels_inverts_the_loader():
    x = load_mnist("subset").x_test[:50]
    np.testing.assert_array_equal(sol.to_pixels(x).numpy()[:, 0], to_uint8(x))


def test_loss_matches_the_package():
    torch.manual_seed(0)
    lr, lf = torch.randn(16) * 3, torch.randn(9) * 3
    torch.testing.assert_close(sol.discriminator_loss(lr, lf), losses.d_loss_bce(lr, lf))
    bce = F.binary_cross_entropy_with_logits
    torch.testing.assert_close(sol.discriminator_loss(lr, lf),
                               bce(lr, torch.ones(16)) + bce(lf, torch.zeros(9)))


# ---- to_pixels ---------------------------------------------------------------------------

def pixels_in_place(x):  # right values, but the caller's images are overwritten
    return x.add_(1).mul_(127.5).round_().to(torch.uint8)


@pytest.mark.parametrize("fn, words", [
    (lambda x: (x * 255).clamp(0, 255).to(torch.uint8), ["[0, 1]"]),
    (lambda x: (x * 255).to(torch.uint8), ["[0, 1]"]),
    (lambda x: (255 - (x + 1) * 127.5).round().to(torch.uint8), ["upside down"]),
    (lambda x: ((x + 1) * 127.5).round(), ["uint8"]),
    (lambda x: ((x + 1) * 127.5).round().long(), ["uint8"]),
    (lambda x: ((x + 1) * 127.5).to(torch.uint8), ["round"]),
    (lambda x: ((x + 1) * 128).round().to(torch.uint8), ["127.5"]),               # 256 wraps to 0
    (lambda x: ((x + 1) * 128).clamp(0, 255).round().to(torch.uint8), ["127.5"]),
    (lambda x: ((x + 1) * 127.5).round().to(torch.uint8).flatten(), ["shape"]),
    (pixels_in_place, ["in place"]),
], ids=["times_255_clamped", "times_255", "upside_down", "float", "int64", "truncates",
        "times_128_wraps", "times_128_clamped", "flattened", "in_place"])
def test_to_pixels_wrong_answers(fn, words):
    fails_with(check.to_pixels, fn, *words)


@pytest.mark.parametrize("fn", [
    lambda x: np.rint((x.numpy() + 1) * 127.5).astype(np.uint8),
    lambda x: ((x + 1) / 2 * 255).round().to(torch.uint8),
    lambda x: (x * 127.5 + 127.5).round().clamp(0, 255).byte(),
    lambda x: torch.floor((x + 1) * 127.5 + 0.5).to(torch.uint8),               # round half up
], ids=["numpy", "halve_then_255", "byte", "floor_plus_half"])
def test_to_pixels_correct_alternatives_pass(fn):
    passes(check.to_pixels, fn)


# ---- discriminator_loss --------------------------------------------------------------------

@pytest.mark.parametrize("fn, words", [(w[1], w[2]) for w in WRONG_D_LOSSES] + [
    (lambda r, f: sol.discriminator_loss(r, f).item(), ["should be a tensor"]),
    (lambda r, f: sol.discriminator_loss(r.detach(), f.detach()), ["not connected"]),
    (lambda r, f: -(F.logsigmoid(r) + F.logsigmoid(-f).mean()), ["one number"]),
    (lambda r, f: bce(r, 1.0, column=True) + bce(f, 0.0, column=True), ["ones_like"]),
    (lambda r, f: torch.tensor(float(np.mean(np.logaddexp(0, -r.detach().numpy()))
                                     + np.mean(np.logaddexp(0, f.detach().numpy())))), ["not connected"]),
], ids=[w[0] for w in WRONG_D_LOSSES] + ["item", "detached", "per_sample", "column_targets", "numpy"])
def test_discriminator_loss_wrong_answers(fn, words):
    fails_with(check.discriminator_loss, fn, *words)


def bce(logits, target, column=False):
    if column:  # targets of shape (B, 1) against logits (B,): BCE refuses the mismatch
        return F.binary_cross_entropy_with_logits(logits, torch.full((len(logits), 1), target))
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


@pytest.mark.parametrize("fn", [r[1] for r in RIGHT_D_LOSSES], ids=[r[0] for r in RIGHT_D_LOSSES])
def test_discriminator_loss_correct_alternatives_pass(fn):
    passes(check.discriminator_loss, fn)


def test_the_package_loss_passes():
    passes(check.discriminator_loss, losses.d_loss_bce)
