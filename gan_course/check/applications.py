"""Checkers for notebook 10 (applications): three pieces of its measurements, by hand.

- :func:`psnr`: ``10 log10(4 / MSE)`` per image, the MSE over the pixels where the mask is
  1, pixels in [-1, 1] (range 2). Typical mistakes: range 1 or 255, the natural log,
  ``20 log10`` of the MSE, the mask ignored or the MSE divided by all pixels, one number for
  the whole batch, the MSE returned, a Python number.
- :func:`shift_image`: move each image ``dy`` rows down and ``dx`` columns right, the
  uncovered pixels background (-1). Typical mistakes: ``torch.roll`` (ink wraps around),
  0 as the fill (a grey border), the direction flipped, ``dy`` and ``dx`` swapped, the
  caller's tensor changed in place.
- :func:`inpainting_loss`: per digit the MSE on the visible pixels plus ``w * mean(z^2)``,
  then the batch mean, differentiable in ``z``. Typical mistakes: the mask ignored or
  inverted, the MSE divided by all 784 pixels, the prior's sign flipped or the prior left
  out, a sum over the batch, ``z^2`` summed over the dimensions, a number without a graph.
"""

from __future__ import annotations

import torch

from gan_course.check.core import (Mismatch, attempted, call, close, expect, expect_unchanged, fmt,
                                   hint_for, run_exercise, scalar_loss, snapshot)


def _images(seed: int, n: int) -> torch.Tensor:
    """Digit-like images: background -1 with a random block of ink touching the borders."""
    g = torch.Generator().manual_seed(seed)
    x = -torch.ones(n, 1, 28, 28, dtype=torch.float64)
    x += 0.3 * torch.rand(x.shape, generator=g, dtype=torch.float64)
    x[:, :, 0:6, 20:28] = 1.0    # ink at the top-right corner: wrap-around shows at once
    x[:, :, 22:28, 0:5] = 0.5
    return x


# ---------------------------------------------------------------------------------------
# 1. PSNR on a mask
# ---------------------------------------------------------------------------------------

def _mse(r, t, m):
    return ((r - t) ** 2 * m).flatten(1).sum(1) / m.flatten(1).sum(1)


def _psnr(r, t, m):
    return 10 * torch.log10(4.0 / _mse(r, t, m))


PSNR_MISTAKES = [
    (lambda r, t, m: 10 * torch.log10(1.0 / _mse(r, t, m)),
     "6.02 dB too low: that is range 1; pixels in [-1, 1] span 2, so the peak squared is 4"),
    (lambda r, t, m: 10 * torch.log10(255.0 ** 2 / _mse(r, t, m)),
     "range 255 is for 8-bit images; these pixels lie in [-1, 1], range 2"),
    (lambda r, t, m: 10 * torch.log(4.0 / _mse(r, t, m)),
     "the natural log: decibels use log10"),
    (lambda r, t, m: 20 * torch.log10(4.0 / _mse(r, t, m)),
     "20 log10 goes with the root of the MSE (20 log10(2 / RMSE)); with the MSE it is 10 log10(4 / MSE)"),
    (lambda r, t, m: 10 * torch.log10(4.0 / ((r - t) ** 2).flatten(1).mean(1)),
     "the mask is ignored: average the squared error over the masked pixels only "
     "(sum(mask * err^2) / sum(mask))"),
    (lambda r, t, m: 10 * torch.log10(4.0 / (((r - t) ** 2 * m).flatten(1).mean(1))),
     "the masked error is divided by all 784 pixels: divide by the number of masked pixels, mask.sum()"),
    (lambda r, t, m: _mse(r, t, m),
     "that is the MSE itself: PSNR = 10 log10(4 / MSE)"),
    (lambda r, t, m: _psnr(r, t, 1 - m),
     "the mask is inverted: the PSNR is measured where mask is 1 (the restored pixels), not where it is 0"),
    (lambda r, t, m: 20 * torch.log10(2.0 / _mse(r, t, m)),
     "20 log10(2 / x) needs the root of the MSE, x = sqrt(MSE); with the MSE itself it is 10 log10(4 / MSE)"),
]


def psnr(fn, quiet: bool = False):
    """Check ``fn(restored, truth, mask) -> (B,)``: the PSNR in dB of each image on the
    pixels where ``mask`` is 1. Cases: half masks, masks of different coverage per image,
    a full mask, a batch of one."""
    def case(label, seed, n, kind):
        g = torch.Generator().manual_seed(seed)
        truth = _images(seed, n)
        restored = (truth + 0.3 * torch.randn(truth.shape, generator=g, dtype=torch.float64)).clamp(-1, 1)
        if kind == "half":
            mask = torch.zeros_like(truth)
            mask[:, :, 14:] = 1
        elif kind == "random":
            mask = (torch.rand(truth.shape, generator=g, dtype=torch.float64)
                    < torch.linspace(0.2, 0.8, n, dtype=torch.float64)[:, None, None, None]).double()
        else:
            mask = torch.ones_like(truth)
        inputs = {"restored": restored, "truth": truth, "mask": mask}
        before = snapshot(**inputs)
        out = attempted(call(fn, restored, truth, mask,
                             shape_hint="the three tensors are (B, 1, 28, 28); compute the MSE of each "
                                        "image with .flatten(1).sum(1)"))
        expect_unchanged(label, inputs, before)
        expect(isinstance(out, torch.Tensor), f"{label}: expected a tensor of shape ({n},), got {type(out).__name__}",
               hint="return a tensor, one PSNR per image, not a Python number")
        want = _psnr(restored, truth, mask)
        got = out.detach().double()
        if tuple(got.shape) != (n,):
            one = got.numel() == 1
            raise Mismatch(f"{label}: expected shape ({n},), got {tuple(got.shape)}",
                           hint=("one number for the whole batch: compute the MSE and the PSNR of each "
                                 "image (sum over dims 1-3, not over the batch)") if one else
                                f"one PSNR per image: shape ({n},)")
        if not close(got, want, rtol=1e-5, atol=1e-6):
            hint = hint_for(got, PSNR_MISTAKES, (restored, truth, mask),
                                "PSNR = 10 log10(4 / MSE), the MSE of each image averaged over its masked pixels")
            raise Mismatch(f"{label}: expected {fmt(want)} dB, got {fmt(got)}", hint=hint)

    cases = [("bottom half masked, 3 images", 0, 3, "half"), ("a different share masked per image", 1, 4, "random"),
             ("every pixel, one image", 2, 1, "full")]
    return run_exercise("psnr", fn, [lambda c=c: case(*c) for c in cases], quiet)


# ---------------------------------------------------------------------------------------
# 2. a shift with background fill
# ---------------------------------------------------------------------------------------

def _shift(x, dy, dx):
    out = torch.full_like(x, -1.0)
    h, w = x.shape[-2:]
    out[..., max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        x[..., max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def _fill(x, dy, dx, value):
    out = _shift(x, dy, dx)
    out[_shift(torch.zeros_like(x), dy, dx) == -1] = value
    return out


SHIFT_MISTAKES = [
    (lambda x, dy, dx: torch.roll(x, (dy, dx), dims=(2, 3)),
     "torch.roll wraps the pixels that leave one side around to the other: ink appears at the "
     "far border. Pad with -1 and crop, or copy the overlapping part into a tensor of -1"),
    (lambda x, dy, dx: _fill(x, dy, dx, 0.0),
     "the uncovered pixels are 0, a grey border in [-1, 1]: fill them with the background, -1"),
    (lambda x, dy, dx: _shift(x, -dy, -dx),
     "the direction is flipped: a positive dy moves the digit down (towards larger row indices), "
     "a positive dx to the right"),
    (lambda x, dy, dx: _shift(x, dx, dy),
     "dy and dx are swapped: dy counts rows (dim 2), dx columns (dim 3)"),
    (lambda x, dy, dx: _shift(x, -dy, dx),
     "the rows go the wrong way: a positive dy moves the digit down, towards larger row indices"),
    (lambda x, dy, dx: _shift(x, dy, -dx),
     "the columns go the wrong way: a positive dx moves the digit right, towards larger column indices"),
]


def shift_image(fn, quiet: bool = False):
    """Check ``fn(x, dy, dx)``: every image of ``x`` (B, 1, 28, 28) moved ``dy`` rows down and
    ``dx`` columns right, uncovered pixels -1. Cases: (2, 3), (-3, 1), (0, -2), (3, -2), (0, 0)."""
    def case(seed, dy, dx):
        x = _images(seed, 3)
        label = f"dy = {dy}, dx = {dx}"
        before = snapshot(x=x)
        out = attempted(call(fn, x, dy, dx, shape_hint="return a tensor of x's shape (B, 1, 28, 28)"))
        expect_unchanged(label, {"x": x}, before)
        expect(isinstance(out, torch.Tensor) and tuple(out.shape) == tuple(x.shape),
               f"{label}: expected a tensor of shape {tuple(x.shape)}, got "
               f"{tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__}",
               hint="the shifted images have the same shape as x: crop what leaves, fill what is uncovered")
        want = _shift(x, dy, dx)
        if not torch.equal(out.detach().double(), want):
            hint = hint_for(out.detach().double(), SHIFT_MISTAKES, (x, dy, dx),
                                "out[r, c] = x[r - dy, c - dx] where that pixel exists, else -1")
            wrong = int((out.detach().double() != want).sum())
            raise Mismatch(f"{label}: {wrong} pixels differ from the reference", hint=hint)

    cases = [(0, 2, 3), (1, -3, 1), (2, 0, -2), (4, 3, -2), (3, 0, 0)]
    return run_exercise("shift_image", fn, [lambda c=c: case(*c) for c in cases], quiet)


# ---------------------------------------------------------------------------------------
# 3. the loss of the latent search
# ---------------------------------------------------------------------------------------

def _inpaint(xg, y, m, z, w):
    fit = ((xg - y) ** 2 * m).flatten(1).sum(1) / m.flatten(1).sum(1)
    return (fit + w * z.pow(2).mean(1)).mean()


INPAINT_MISTAKES = [
    (lambda xg, y, m, z, w: (((xg - y) ** 2).flatten(1).mean(1) + w * z.pow(2).mean(1)).mean(),
     "the mask is ignored: the hidden pixels of y are unknown (here: background), so fitting them "
     "pulls G(z) towards a blank; weight the squared error by the mask"),
    (lambda xg, y, m, z, w: _inpaint(xg, y, 1 - m, z, w),
     "the mask is inverted: mask is 1 where a pixel is seen, and only those pixels can be fitted"),
    (lambda xg, y, m, z, w: ((((xg - y) ** 2 * m).flatten(1).mean(1)) + w * z.pow(2).mean(1)).mean(),
     "the masked error is divided by all 784 pixels: divide by the number of visible pixels, mask.sum()"),
    (lambda xg, y, m, z, w: _inpaint(xg, y, m, z, -w),
     "the prior's sign is flipped: +w * mean(z^2) keeps z near the origin, where N(0, I) puts G's "
     "training codes; minus pushes z away from them"),
    (lambda xg, y, m, z, w: _inpaint(xg, y, m, z, 0.0),
     "the prior term is missing: add prior_weight * mean(z^2), -log p(z) up to constants, which keeps "
     "z where G was trained"),
    (lambda xg, y, m, z, w: len(z) * _inpaint(xg, y, m, z, w),
     "a sum over the batch: average the per-digit losses (.mean()), so the step size does not grow "
     "with the batch"),
    (lambda xg, y, m, z, w: (((xg - y) ** 2 * m).flatten(1).sum(1) / m.flatten(1).sum(1)
                             + w * z.pow(2).sum(1)).mean(),
     "z^2 is summed over the latent dimensions: the prior term is prior_weight * the *mean* of z^2"),
    (lambda xg, y, m, z, w: (w * ((xg - y) ** 2 * m).flatten(1).sum(1) / m.flatten(1).sum(1)
                             + z.pow(2).mean(1)).mean(),
     "prior_weight multiplies the misfit: it weights the prior term, mean(z^2), and the misfit keeps weight 1"),
]


def inpainting_loss(fn, quiet: bool = False):
    """Check ``fn(x_gen, y, mask, z, prior_weight) -> loss``: a 0-d tensor differentiable in
    ``z``. ``x_gen`` is made from ``z`` by a fixed smooth map here, so the gradient into ``z``
    can be compared with the reference's. Cases: half masks, random masks, weight 0."""
    def case(label, seed, n, w, kind):
        g = torch.Generator().manual_seed(seed)
        z = torch.randn(n, 8, generator=g, dtype=torch.float64).requires_grad_(True)
        proj = torch.randn(8, 784, generator=g, dtype=torch.float64) / 3
        x_gen = torch.tanh(z @ proj).view(n, 1, 28, 28)          # a stand-in for G(z)
        y = _images(seed, n)
        if kind == "half":
            mask = torch.ones_like(y)
            mask[:, :, 14:] = 0
        else:
            mask = (torch.rand(y.shape, generator=g, dtype=torch.float64) < 0.6).double()
        y_seen = y * mask - (1 - mask)
        inputs = {"y": y_seen, "mask": mask}
        before = snapshot(**inputs)
        out = scalar_loss(attempted(call(fn, x_gen, y_seen, mask, z, w,
                                         shape_hint="x_gen, y and mask are (B, 1, 28, 28), z (B, 8)")),
                          "the loss")
        expect_unchanged(label, inputs, before)
        want = _inpaint(x_gen.detach(), y_seen, mask, z.detach(), w)
        got = out.detach().double().reshape(())
        if not close(got, want, rtol=1e-6, atol=1e-9):
            hint = hint_for(got, INPAINT_MISTAKES, (x_gen.detach(), y_seen, mask, z.detach(), w),
                                "mean over the batch of [sum(mask * (x_gen - y)^2) / sum(mask) + "
                                "prior_weight * mean(z^2)]")
            raise Mismatch(f"{label}: expected {fmt(want)}, got {fmt(got)}", hint=hint)
        expect(out.requires_grad, f"{label}: the loss has no graph back to z",
               hint="compute it with torch operations on x_gen and z (no .item(), .detach() or "
                    "torch.no_grad()): Adam needs its gradient with respect to z")
        (grad,) = torch.autograd.grad(out.reshape(()), z, retain_graph=True)
        (want_grad,) = torch.autograd.grad(_inpaint(x_gen, y_seen, mask, z, w), z)
        expect(close(grad, want_grad, rtol=1e-5, atol=1e-9),
               f"{label}: the value is right but its gradient with respect to z is not",
               hint="some part of the loss was detached or computed outside the graph")

    cases = [("bottom half hidden, weight 0.1", 0, 3, 0.1, "half"), ("random visible pixels, weight 1", 1, 4, 1.0, "random"),
             ("weight 0 (no prior)", 2, 2, 0.0, "half")]
    return run_exercise("inpainting_loss", fn, [lambda c=c: case(*c) for c in cases], quiet)


__all__ = ["psnr", "shift_image", "inpainting_loss"]
