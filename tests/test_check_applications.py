"""Notebook 10's checkers: each typical wrong answer fails with the hint aimed at it, and
correct alternatives pass. (That every solution passes and every stub is "not attempted"
is tested once for all checkers in test_exercises.py.)"""

import math

import torch
from torch.nn import functional as F

from exercise_helpers import assert_leaves_global_rng_alone, fails_with, load_solutions, passes
from gan_course.check import applications as chk

sol = load_solutions("nb10_applications")
NAMES = ["psnr", "shift_image", "inpainting_loss"]


def test_registered_in_check_namespace():
    from gan_course import check

    for name in NAMES:
        assert getattr(check, name) is getattr(chk, name)


def test_checking_leaves_the_global_rng_alone():
    assert_leaves_global_rng_alone(*[lambda n=n: getattr(chk, n)(getattr(sol, n), quiet=True) for n in NAMES])


def _mse(r, t, m):
    return ((r - t) ** 2 * m).flatten(1).sum(1) / m.flatten(1).sum(1)


# --- psnr --------------------------------------------------------------------------------

def test_psnr_alternatives_pass():
    passes(chk.psnr, lambda r, t, m: 10 * torch.log(4 / _mse(r, t, m)) / math.log(10))
    passes(chk.psnr, lambda r, t, m: 20 * torch.log10(2 / _mse(r, t, m).sqrt()))


def test_psnr_mistakes_fail_with_their_hint():
    fails_with(chk.psnr, lambda r, t, m: 10 * torch.log10(1 / _mse(r, t, m)), "range 1")
    fails_with(chk.psnr, lambda r, t, m: 10 * torch.log10(255.0 ** 2 / _mse(r, t, m)), "8-bit")
    fails_with(chk.psnr, lambda r, t, m: 10 * torch.log(4 / _mse(r, t, m)), "log10")
    fails_with(chk.psnr, lambda r, t, m: 20 * torch.log10(4 / _mse(r, t, m)), "root")
    fails_with(chk.psnr, lambda r, t, m: 10 * torch.log10(4 / ((r - t) ** 2).flatten(1).mean(1)), "ignored")
    fails_with(chk.psnr, lambda r, t, m: 10 * torch.log10(4 / ((r - t) ** 2 * m).flatten(1).mean(1)), "784")
    fails_with(chk.psnr, _mse, "MSE itself")
    fails_with(chk.psnr, lambda r, t, m: sol.psnr(r, t, 1 - m), "inverted")
    fails_with(chk.psnr, lambda r, t, m: 20 * torch.log10(2 / _mse(r, t, m)), "root of the MSE")
    fails_with(chk.psnr, lambda r, t, m: 10 * torch.log10(4 / _mse(r, t, m).mean()), "whole batch")
    fails_with(chk.psnr, lambda r, t, m: float(10 * torch.log10(4 / _mse(r, t, m)).mean()), "tensor")


# --- shift_image -------------------------------------------------------------------------

def test_shift_alternatives_pass():
    def by_index(x, dy, dx):
        out = torch.full_like(x, -1.0)
        for r in range(28):
            for c in range(28):
                if 0 <= r - dy < 28 and 0 <= c - dx < 28:
                    out[..., r, c] = x[..., r - dy, c - dx]
        return out
    passes(chk.shift_image, by_index)


def test_shift_mistakes_fail_with_their_hint():
    fails_with(chk.shift_image, lambda x, dy, dx: torch.roll(x, (dy, dx), dims=(2, 3)), "wraps")
    def zero_fill(x, dy, dx):
        p = max(abs(dy), abs(dx))
        return F.pad(x, (p, p, p, p), value=0.0)[..., p - dy:p - dy + 28, p - dx:p - dx + 28]
    fails_with(chk.shift_image, zero_fill, "grey")
    fails_with(chk.shift_image, lambda x, dy, dx: sol.shift_image(x, -dy, -dx), "flipped")
    fails_with(chk.shift_image, lambda x, dy, dx: sol.shift_image(x, dx, dy), "swapped")
    fails_with(chk.shift_image, lambda x, dy, dx: sol.shift_image(x, -dy, dx), "rows go the wrong way")
    fails_with(chk.shift_image, lambda x, dy, dx: sol.shift_image(x, dy, -dx), "columns go the wrong way")


def test_shift_in_place_fails():
    def in_place(x, dy, dx):
        out = sol.shift_image(x, dy, dx)
        x.copy_(out)
        return out
    fails_with(chk.shift_image, in_place, "in place")


# --- inpainting_loss ---------------------------------------------------------------------

def _fit(xg, y, m):
    return ((xg - y) ** 2 * m).flatten(1).sum(1) / m.flatten(1).sum(1)


def test_inpainting_alternatives_pass():
    passes(chk.inpainting_loss, lambda xg, y, m, z, w: _fit(xg, y, m).mean() + w * (z ** 2).mean())


def test_inpainting_mistakes_fail_with_their_hint():
    fails_with(chk.inpainting_loss, lambda xg, y, m, z, w: ((xg - y) ** 2).flatten(1).mean(1).mean() + w * z.pow(2).mean(), "ignored")
    fails_with(chk.inpainting_loss, lambda xg, y, m, z, w: sol.inpainting_loss(xg, y, 1 - m, z, w), "inverted")
    fails_with(chk.inpainting_loss, lambda xg, y, m, z, w: ((xg - y) ** 2 * m).flatten(1).mean(1).mean() + w * z.pow(2).mean(), "784")
    fails_with(chk.inpainting_loss, lambda xg, y, m, z, w: sol.inpainting_loss(xg, y, m, z, -w), "sign")
    fails_with(chk.inpainting_loss, lambda xg, y, m, z, w: _fit(xg, y, m).mean(), "missing")
    fails_with(chk.inpainting_loss, lambda xg, y, m, z, w: len(z) * sol.inpainting_loss(xg, y, m, z, w), "sum over the batch")
    fails_with(chk.inpainting_loss, lambda xg, y, m, z, w: (_fit(xg, y, m) + w * z.pow(2).sum(1)).mean(), "summed")
    fails_with(chk.inpainting_loss, lambda xg, y, m, z, w: (w * _fit(xg, y, m) + z.pow(2).mean(1)).mean(), "multiplies the misfit")


def test_inpainting_without_a_graph_fails():
    fails_with(chk.inpainting_loss, lambda xg, y, m, z, w: sol.inpainting_loss(xg, y, m, z, w).item(), "tensor")
    fails_with(chk.inpainting_loss, lambda xg, y, m, z, w: sol.inpainting_loss(xg.detach(), y, m, z.detach(), w), "graph")
    fails_with(chk.inpainting_loss, lambda xg, y, m, z, w: sol.inpainting_loss(xg.detach(), y, m, z, w), "gradient")
