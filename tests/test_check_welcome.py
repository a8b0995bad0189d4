"""Notebook 00's checkers (welcome): each typical wrong answer fails with the hint aimed
at it, and the reference solutions agree with PyTorch and the package. (That every solution
passes and every stub is "not attempted" is tested once for all checkers in test_exercises.py.)
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from exercise_helpers import load_solutions
from gan_course import check, losses
from gan_course.data import load_mnist, to_uint8


sol = load_solutions("nb00_welcome")


def _fails(result, hint_words):
    assert result.status == "fail", result.message
    assert hint_words.lower() in result.message.lower(), result.message


# ---- the solutions agree with the package --------------------------------------------

def test_to_pixels_inverts_the_loader():
    x = load_mnist("subset").x_test[:50]
    np.testing.assert_array_equal(sol.to_pixels(x).numpy()[:, 0], to_uint8(x))


def test_losses_match_the_package():
    torch.manual_seed(0)
    lr, lf = torch.randn(16) * 3, torch.randn(16) * 3
    torch.testing.assert_close(sol.discriminator_loss(lr, lf), losses.d_loss_bce(lr, lf))
    torch.testing.assert_close(sol.generator_loss(lf), losses.g_loss_nonsaturating(lf))
    # and the explicit BCE with logits, targets real = 1, fake = 0
    bce = F.binary_cross_entropy_with_logits
    torch.testing.assert_close(sol.discriminator_loss(lr, lf),
                               bce(lr, torch.ones(16)) + bce(lf, torch.zeros(16)))


# ---- to_pixels ---------------------------------------------------------------------------

def test_to_pixels_wrong_answers():
    _fails(check.to_pixels(lambda x: (x * 255).clamp(0, 255).to(torch.uint8)), "[0, 1]")
    _fails(check.to_pixels(lambda x: (x * 255).to(torch.uint8)), "[0, 1]")
    _fails(check.to_pixels(lambda x: (255 - (x + 1) * 127.5).round().to(torch.uint8)), "upside down")
    _fails(check.to_pixels(lambda x: ((x + 1) * 127.5).round()), "uint8")
    _fails(check.to_pixels(lambda x: ((x + 1) * 127.5).to(torch.uint8)), "round")


def test_to_pixels_numpy_answer_passes():
    def numpy_version(x):
        return np.rint((x.numpy() + 1) * 127.5).astype(np.uint8)
    assert check.to_pixels(numpy_version).status == "pass"


# ---- the losses ----------------------------------------------------------------------------

def test_discriminator_loss_wrong_answers():
    def swapped(lr, lf):
        return -(F.logsigmoid(lf).mean() + F.logsigmoid(-lr).mean())

    def sign(lr, lf):
        return F.logsigmoid(lr).mean() + F.logsigmoid(-lf).mean()

    def raw(lr, lf):
        return -(lr.mean() - lf.mean())

    def unstable(lr, lf):
        return -(torch.log(torch.sigmoid(lr)).mean() + torch.log(1 - torch.sigmoid(lf)).mean())

    def no_mean(lr, lf):
        return -(F.logsigmoid(lr) + F.logsigmoid(-lf))

    _fails(check.discriminator_loss(swapped), "swapped")
    _fails(check.discriminator_loss(sign), "sign")
    _fails(check.discriminator_loss(raw), "raw logits")
    _fails(check.discriminator_loss(unstable), "logsigmoid")
    _fails(check.discriminator_loss(no_mean), "mean")


def test_generator_loss_wrong_answers():
    _fails(check.generator_loss(lambda lf: F.logsigmoid(-lf).mean()), "saturating")
    _fails(check.generator_loss(lambda lf: F.logsigmoid(lf).mean()), "sign")
    _fails(check.generator_loss(lambda lf: -F.logsigmoid(-lf).mean()), "target is 1")
    _fails(check.generator_loss(lambda lf: -lf.mean()), "raw logits")
    _fails(check.generator_loss(lambda lf: -torch.log(torch.sigmoid(lf)).mean()), "logsigmoid")
