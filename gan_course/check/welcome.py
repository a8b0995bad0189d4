"""Checkers for notebook 00 (welcome): pixel scaling and the label convention in the losses.

The course's conventions, which these exercises pin down: images live in [-1, 1] (the
generator ends in tanh), real = 1 and fake = 0, and D returns one logit ``l`` per sample
with ``D(x) = sigmoid(l)``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from gan_course.check.core import attempted, expect, run_exercise


def _as_array(value):
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


# ---------------------------------------------------------------------------------------
# to_pixels: [-1, 1] -> 0..255 uint8
# ---------------------------------------------------------------------------------------

def _to_pixels(x):
    return np.clip(np.rint((np.asarray(x, dtype=np.float64) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def to_pixels(fn):
    """Check ``fn(x)`` maps images in [-1, 1] to uint8 pixel values 0..255 (-1 -> 0, 1 -> 255)."""

    def case(x, what):
        got = attempted(fn(x.clone()))
        arr = _as_array(got)
        want = _to_pixels(x.numpy())
        expect(arr.shape == want.shape,
               f"{what}: expected shape {want.shape}, got {arr.shape}",
               hint="keep the shape: map each value on its own.")
        as_float = arr.astype(np.float64)
        if not np.allclose(as_float, want, atol=1.0):
            zero = x.numpy() == 0  # x * 255 sends 0 to 0; the right answer is 128
            if np.allclose(as_float, np.clip(x.numpy().astype(np.float64) * 255, 0, 255), atol=1.0) \
                    or (zero.any() and np.all(as_float[zero] == 0)):
                hint = ("x * 255 assumes images in [0, 1]; the course's images are in [-1, 1] "
                        "(tanh), so -1 must become 0: (x + 1) * 127.5.")
            elif np.allclose(as_float, 255 - want, atol=1.0):
                hint = "the scale is upside down: -1 (background) is 0 and +1 (ink) is 255."
            else:
                hint = "shift then scale: (x + 1) * 127.5 maps -1 to 0 and +1 to 255."
            expect(False, f"{what}: expected {want.ravel()[:5].tolist()}..., got "
                          f"{as_float.ravel()[:5].round(1).tolist()}...", hint=hint)
        expect(arr.dtype == np.uint8,
               f"{what}: the values are right but the dtype is {arr.dtype}, not uint8",
               hint="pixels are bytes: finish with .round() then .to(torch.uint8) (or "
                    ".astype(np.uint8) for NumPy); round first, or 127.5 becomes 127.")
        expect(np.array_equal(arr, want),
               f"{what}: off by one somewhere (expected {want.ravel()[:5].tolist()}..., got "
               f"{arr.ravel()[:5].tolist()}...)",
               hint="round to the nearest integer before converting: converting truncates "
                    "(127.5 -> 127, 254.9 -> 254).")

    gen = torch.Generator().manual_seed(0)
    cases = [
        (torch.tensor([-1.0, 0.0, 1.0]), "x = [-1, 0, 1]"),
        (torch.tensor([-0.5, 0.25, 0.999]), "x = [-0.5, 0.25, 0.999]"),
        (torch.rand(2, 1, 28, 28, generator=gen) * 2 - 1, "a batch (2, 1, 28, 28)"),
    ]
    return run_exercise("to_pixels", fn, [lambda c=c: case(*c) for c in cases])


# ---------------------------------------------------------------------------------------
# the two losses, written with the label convention real = 1, fake = 0
# ---------------------------------------------------------------------------------------

_LOGITS = [
    (torch.tensor([2.0, 0.5]), torch.tensor([-1.0, 0.3]), "logits_real = [2, 0.5], logits_fake = [-1, 0.3]"),
    (torch.tensor([0.0, 1.0, -2.0]), torch.tensor([3.0, -0.5, 0.0]), "three samples each"),
    (torch.tensor([120.0]), torch.tensor([-150.0]), "a very confident D (logits 120 and -150)"),
    (torch.tensor([-90.0, 4.0]), torch.tensor([80.0, -4.0]), "a very wrong D (logits -90 and 80)"),
]


def _d_loss(lr, lf):
    return -(F.logsigmoid(lr).mean() + F.logsigmoid(-lf).mean())


def _scalar(got, what):
    expect(isinstance(got, torch.Tensor) and got.numel() == 1,
           f"{what}: expected a scalar tensor, got {type(got).__name__} "
           f"{tuple(got.shape) if isinstance(got, torch.Tensor) else ''}",
           hint="average over the batch with .mean(): the loss is one number.")
    return float(got)


def discriminator_loss(fn):
    """Check ``fn(logits_real, logits_fake)`` = -[mean log sigmoid(l_real) + mean log(1 - sigmoid(l_fake))]."""

    def hint_for(lr, lf, got):
        wrong = {
            "the labels are swapped: real images get target 1 and fakes target 0 (the source "
            "material had them the other way round).": _d_loss(lf, lr),
            "the sign is flipped: the loss is MINUS the log-probabilities, so it is >= 0.": -_d_loss(lr, lf),
            "a loss on raw logits is not the BCE loss: apply log sigmoid, "
            "-log sigmoid(l_real) - log(1 - sigmoid(l_fake)).": -(lr.mean() - lf.mean()),
        }
        for hint, value in wrong.items():
            if abs(got - float(value)) < 1e-4:
                return hint
        if not np.isfinite(got):
            return ("log(sigmoid(l)) overflows for large |l|: use F.logsigmoid(l), and "
                    "log(1 - sigmoid(l)) = F.logsigmoid(-l).")
        return ("loss_D = -[mean log D(x) + mean log(1 - D(G(z)))] with D = sigmoid(logit); "
                "F.binary_cross_entropy_with_logits(l_real, 1) + (l_fake, 0) is the same.")

    def case(lr, lf, what):
        got = _scalar(attempted(fn(lr.clone(), lf.clone())), what)
        want = float(_d_loss(lr, lf))
        expect(abs(got - want) < 1e-4 * max(1.0, abs(want)),
               f"{what}: expected {want:.4f}, got {got:.4f}", hint=hint_for(lr, lf, got))

    return run_exercise("discriminator_loss", fn, [lambda c=c: case(*c) for c in _LOGITS])


def generator_loss(fn):
    """Check ``fn(logits_fake)`` = the non-saturating generator loss -mean log sigmoid(l_fake)."""

    def hint_for(lf, got):
        wrong = {
            "this is the SATURATING loss log(1 - D(G(z))); the course uses the non-saturating "
            "-log D(G(z)), whose gradient is large when D rejects the fakes.":
                float(F.logsigmoid(-lf).mean()),
            "the sign is flipped: G minimises -log D(G(z)), which is >= 0.": float(F.logsigmoid(lf).mean()),
            "G wants D to call its fakes REAL: its target is 1, not 0.": float(-F.logsigmoid(-lf).mean()),
            "a loss on raw logits is not the BCE loss: -mean log sigmoid(l_fake).": float(-lf.mean()),
        }
        for hint, value in wrong.items():
            if abs(got - value) < 1e-4:
                return hint
        if not np.isfinite(got):
            return "log(sigmoid(l)) overflows for large |l|: use F.logsigmoid(l)."
        return "loss_G = -mean log sigmoid(l_fake) = F.binary_cross_entropy_with_logits(l_fake, 1)."

    def case(lf, what):
        got = _scalar(attempted(fn(lf.clone())), what)
        want = float(-F.logsigmoid(lf).mean())
        expect(abs(got - want) < 1e-4 * max(1.0, abs(want)),
               f"{what}: expected {want:.4f}, got {got:.4f}", hint=hint_for(lf, got))

    cases = [(torch.tensor([-1.0, 0.3]), "logits_fake = [-1, 0.3]"),
             (torch.tensor([3.0, -0.5, 0.0]), "logits_fake = [3, -0.5, 0]"),
             (torch.tensor([-150.0]), "D very sure the fake is fake (logit -150)"),
             (torch.tensor([80.0, -4.0]), "logits_fake = [80, -4]")]
    return run_exercise("generator_loss", fn, [lambda c=c: case(*c) for c in cases])
