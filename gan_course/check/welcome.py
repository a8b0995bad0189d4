"""Checkers for notebook 00 (welcome): pixel scaling and the label convention in D's loss.

The course's conventions, which these exercises pin down: images live in [-1, 1] (the
generator ends in tanh), real = 1 and fake = 0, and D returns one logit ``l`` per sample
with ``D(x) = sigmoid(l)``. (The generator's loss is asked once, with its gradient, in
notebook 02.)
"""

from __future__ import annotations

import numpy as np
import torch

from gan_course.check.core import attempted, d_loss_cases, expect, expect_unchanged, run_exercise, snapshot


def _as_array(value):
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


# ---------------------------------------------------------------------------------------
# to_pixels: [-1, 1] -> 0..255 uint8
# ---------------------------------------------------------------------------------------

def _to_pixels(x):
    return np.clip(np.rint((np.asarray(x, dtype=np.float64) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def to_pixels(fn, quiet: bool = False):
    """Check ``fn(x)`` maps images in [-1, 1] to uint8 pixel values 0..255 (-1 -> 0, 1 -> 255)."""

    def case(x, what):
        x_in = x.clone()
        before = snapshot(x=x_in)
        got = attempted(fn(x_in))
        arr = _as_array(got)
        want = _to_pixels(x.numpy())
        expect(arr.shape == want.shape,
               f"{what}: expected shape {want.shape}, got {arr.shape}",
               hint="keep the shape: map each value on its own.")
        as_float = arr.astype(np.float64)
        xs = x.numpy().astype(np.float64)
        if not np.allclose(as_float, want, atol=1.0):
            zero = xs == 0  # x * 255 sends 0 to 0; the right answer is 128
            if np.allclose(as_float, np.clip(xs * 255, 0, 255), atol=1.0) \
                    or (zero.any() and np.all(as_float[zero] == 0)):
                hint = ("x * 255 assumes images in [0, 1]; the course's images are in [-1, 1] "
                        "(tanh), so -1 must become 0: (x + 1) * 127.5.")
            elif np.allclose(as_float, 255 - want, atol=1.0):
                hint = "the scale is upside down: -1 (background) is 0 and +1 (ink) is 255."
            elif np.allclose(as_float, np.rint((xs + 1) * 128) % 256, atol=1.0):
                hint = ("the factor is 127.5 = 255 / 2, not 128: (x + 1) * 128 sends +1 to 256, "
                        "which wraps around to 0 in uint8.")
            else:
                hint = "shift then scale: (x + 1) * 127.5 maps -1 to 0 and +1 to 255."
            expect(False, f"{what}: expected {want.ravel()[:5].tolist()}..., got "
                          f"{as_float.ravel()[:5].round(1).tolist()}...", hint=hint)
        expect(arr.dtype == np.uint8,
               f"{what}: the values are right but the dtype is {arr.dtype}, not uint8",
               hint="pixels are bytes: finish with .round() then .to(torch.uint8) (or "
                    ".astype(np.uint8) for NumPy); round first, or 127.5 becomes 127.")
        if not np.array_equal(arr, want):
            hint = ("round to the nearest integer before converting: converting truncates "
                    "(127.5 -> 127, 254.9 -> 254).")
            if np.array_equal(arr, np.clip(np.rint((xs + 1) * 128), 0, 255).astype(np.uint8)):
                hint = "the factor is 127.5 = 255 / 2, not 128: (x + 1) * 127.5."
            expect(False, f"{what}: off by one somewhere (expected {want.ravel()[:5].tolist()}..., "
                          f"got {arr.ravel()[:5].tolist()}...)", hint=hint)
        expect_unchanged(what, {"x": x_in}, before)

    gen = torch.Generator().manual_seed(0)
    cases = [
        (torch.tensor([-1.0, 0.0, 1.0]), "x = [-1, 0, 1]"),
        (torch.tensor([-0.5, 0.25, 0.999]), "x = [-0.5, 0.25, 0.999]"),
        (torch.rand(2, 1, 28, 28, generator=gen) * 2 - 1, "a batch (2, 1, 28, 28)"),
    ]
    return run_exercise("to_pixels", fn, [lambda c=c: case(*c) for c in cases], quiet)


# ---------------------------------------------------------------------------------------
# D's loss, written with the label convention real = 1, fake = 0
# ---------------------------------------------------------------------------------------

def discriminator_loss(fn, quiet: bool = False):
    """Check ``fn(logits_real, logits_fake)`` = -[mean log sigmoid(l_real) + mean log(1 - sigmoid(l_fake))].

    The cases (``core.D_LOSS_CASES``) are float32 batches of different sizes, up to
    |l| = 300; the loss must be a tensor with the reference's gradient.
    """
    return run_exercise("discriminator_loss", fn, d_loss_cases(fn), quiet)
