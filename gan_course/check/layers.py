"""Checkers for notebook 01 (CNN layer math): output sizes, convolution by hand, parameters.

Each checker runs the student's function on several cases against a PyTorch reference and,
when an answer is wrong, recognises the typical mistakes behind it (a missing ``+ 1``, ``p``
instead of ``2p``, a flipped kernel, a forgotten bias, ...) to give a hint aimed at that
mistake.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gan_course.check.core import (attempted, expect, expect_unchanged, is_int, name_the_mistake, refusing,
                                   run_exercise, snapshot)


# ---------------------------------------------------------------------------------------
# conv_output_size
# ---------------------------------------------------------------------------------------

def _conv_size(n, k, p, s, d):
    """floor((n + 2p - d(k-1) - 1) / s) + 1, the output size of ``nn.Conv2d``."""
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def _answers(fn, cases):
    """The student's integer answer on every case (None where it raised or is no integer)."""
    out = []
    for c in cases:
        try:
            got = fn(*c)
            out.append(int(got) if is_int(got) else None)
        except Exception:
            out.append(None)
    return out


def _diagnose(fn, cases, mistakes, failing, default):
    """The hint of the typical mistake that explains the student's answers on all cases
    (``core.name_the_mistake``), or ``default``."""
    return name_the_mistake(cases, _answers(fn, cases), mistakes, lambda a, b: a == b, failing) or default


def _size_checker(name, fn, cases, reference, mistakes, default_hint, int_hint, quiet):
    """A checker for a size formula: every case must give the reference integer."""

    def case(i):
        c = cases[i]
        got = attempted(fn(*c))
        want = reference(*c)
        where = ", ".join(f"{key}={value}" for key, value in
                          zip(("n", "k", "p", "s", "d", "output_padding"), c))
        expect(is_int(got),
               f"{where}: expected the integer {want}, got {got!r} ({type(got).__name__})",
               hint=int_hint)
        if int(got) != want:
            hint = _diagnose(fn, cases, mistakes, i, default_hint)
            expect(False, f"{where}: expected {want}, got {int(got)}", hint=hint)

    return run_exercise(name, fn, [lambda i=i: case(i) for i in range(len(cases))], quiet)


# (n, k, p, s, d): chosen so that each typical wrong formula gives a different answer on
# at least one case (odd remainders for floor vs ceil, dilation > 1, padding > 1).
_CONV_CASES = [(28, 3, 1, 1, 1), (28, 5, 0, 1, 1), (28, 4, 1, 2, 1), (7, 3, 0, 2, 1),
               (28, 3, 2, 1, 2), (14, 3, 1, 3, 1), (9, 2, 0, 2, 1), (28, 5, 2, 3, 3)]

# What each typical mistake computes, and the hint aimed at it.
_CONV_MISTAKES = [
    (lambda n, k, p, s, d: (n + 2 * p - d * (k - 1) - 1) // s,
     "you forgot the `+ 1`: with stride 1 and no padding, a k-wide window fits "
     "n - k + 1 times, not n - k."),
    (lambda n, k, p, s, d: (n + p - d * (k - 1) - 1) // s + 1,
     "padding adds p pixels on BOTH sides: the formula has 2p, not p."),
    (lambda n, k, p, s, d: (n - d * (k - 1) - 1) // s + 1,
     "you left out the padding term 2p."),
    (lambda n, k, p, s, d: -(-(n + 2 * p - d * (k - 1) - 1) // s) + 1,
     "use floor, not ceil: a window that would run past the (padded) border is dropped."),
    (lambda n, k, p, s, d: (n + 2 * p - k) // s + 1,
     "dilation d spreads the kernel over d(k-1) + 1 pixels: use d*(k-1) + 1 where the "
     "undilated formula has k."),
    (lambda n, k, p, s, d: (n + 2 * p - d * k) // s + 1,
     "a dilated kernel spans d(k-1) + 1 pixels, not d*k."),
    (lambda n, k, p, s, d: (n + 2 * p - d * (k - 1)) // s + 1,
     "you forgot the `- 1`: a dilated kernel spans d(k-1) + 1 pixels, so it fits at "
     "n + 2p - d(k-1) - 1 + 1 positions."),
    (lambda n, k, p, s, d: round((n + 2 * p - d * (k - 1) - 1) / s) + 1,
     "use floor division `//`, not round(): a window that would run past the border is "
     "dropped, so the fraction is always cut off."),
]


def conv_output_size(fn, quiet: bool = False):
    """Check ``fn(n, k, p, s, d)`` = output size of a convolution (as ``nn.Conv2d``)."""
    return _size_checker(
        "conv_output_size", fn, _CONV_CASES, _conv_size, _CONV_MISTAKES,
        "the formula is floor((n + 2p - d(k-1) - 1) / s) + 1; try the case above by hand.",
        "a size is a whole number (it becomes a tensor shape): use floor division `//`, "
        "not `/`.", quiet)


# ---------------------------------------------------------------------------------------
# conv_transpose_output_size
# ---------------------------------------------------------------------------------------

def _conv_transpose_size(n, k, p, s, d, op):
    """(n - 1)s - 2p + d(k-1) + output_padding + 1, the output size of ``nn.ConvTranspose2d``."""
    return (n - 1) * s - 2 * p + d * (k - 1) + op + 1


# (n, k, p, s, d, output_padding); output_padding < max(s, d) as PyTorch requires.
_CONVT_CASES = [(7, 4, 1, 2, 1, 0), (14, 4, 1, 2, 1, 0), (3, 3, 0, 1, 1, 0), (5, 3, 1, 2, 1, 1),
                (4, 5, 2, 3, 1, 2), (6, 3, 0, 1, 2, 1), (2, 1, 0, 1, 1, 0), (5, 2, 0, 2, 3, 2)]

_CONVT_MISTAKES = [
    (lambda n, k, p, s, d, op: _conv_size(n, k, p, s, d),
     "that is the convolution's formula. A transposed convolution goes the other way: "
     "solve the conv formula for n, giving (n - 1)s - 2p + d(k-1) + 1 (+ output_padding)."),
    (lambda n, k, p, s, d, op: (n - 1) * s - 2 * p + d * (k - 1) + 1,
     "add output_padding: it puts back the rows the convolution's floor dropped, on one "
     "side only."),
    (lambda n, k, p, s, d, op: (n - 1) * s - 2 * p + d * (k - 1) + op,
     "you forgot the `+ 1`."),
    (lambda n, k, p, s, d, op: (n - 1) * s + 2 * p + d * (k - 1) + op + 1,
     "padding is subtracted here: a transposed convolution's padding crops the output "
     "(-2p), the opposite of a convolution's padding."),
    (lambda n, k, p, s, d, op: (n - 1) * s - p + d * (k - 1) + op + 1,
     "padding crops both sides: -2p, not -p."),
    (lambda n, k, p, s, d, op: (n - 1) * s - 2 * p + k + op,
     "dilation: the kernel spans d(k-1) + 1 pixels."),
    (lambda n, k, p, s, d, op: n * s - 2 * p + d * (k - 1) + op + 1,
     "n inputs placed s apart span (n - 1)s + 1 positions, so the formula starts with "
     "(n - 1)s, not n*s."),
    (lambda n, k, p, s, d, op: (n - 1) * s - 2 * p + d * k + op + 1,
     "a dilated kernel spans d(k-1) + 1 pixels, not d*k + 1."),
    (lambda n, k, p, s, d, op: (n - 1) * s - 2 * p + d * (k - 1) - op + 1,
     "output_padding ADDS rows on one side: + output_padding."),
]


def conv_transpose_output_size(fn, quiet: bool = False):
    """Check ``fn(n, k, p, s, d, output_padding)`` = output size of ``nn.ConvTranspose2d``."""
    return _size_checker(
        "conv_transpose_output_size", fn, _CONVT_CASES, _conv_transpose_size,
        _CONVT_MISTAKES, "the formula is (n - 1)s - 2p + d(k-1) + output_padding + 1.",
        "a size is a whole number; this formula needs no division at all.", quiet)


# ---------------------------------------------------------------------------------------
# conv2d_by_hand
# ---------------------------------------------------------------------------------------

def _without_library_conv():
    """Make the library's convolutions raise while the student's function runs.

    The exercise is to write the convolution; calling the library would pass every case
    and teach nothing. ``F.unfold``, ``F.pad`` and plain tensor operations stay available.
    """
    return refusing([(F, "conv2d"), (torch, "conv2d"), (torch, "convolution"), (torch, "_convolution")],
                    "this exercise asks you to compute the convolution yourself (loops, slicing or "
                    "F.unfold), not with F.conv2d")


# (B, C_in, H, W, C_out, k, stride, padding). The second case has W_out == C_out, so a bias
# broadcast along the wrong axis runs without error and is caught by value.
_CONV2D_CASES = [(1, 1, 5, 5, 1, 3, 1, 0), (1, 2, 7, 7, 3, 3, 2, 0), (2, 3, 6, 7, 4, 3, 1, 1),
                 (2, 2, 8, 8, 3, 3, 2, 1), (1, 3, 9, 7, 2, 2, 3, 2), (1, 2, 7, 7, 2, 5, 2, 2)]


def conv2d_by_hand(fn, quiet: bool = False):
    """Check ``fn(x, w, b, stride, padding)`` against ``F.conv2d`` (cross-correlation)."""

    def case(i, B, C_in, H, W, C_out, k, stride, padding):
        g = torch.Generator().manual_seed(100 + i)
        x = torch.randn(B, C_in, H, W, generator=g)
        w = torch.randn(C_out, C_in, k, k, generator=g)
        b = torch.randn(C_out, generator=g) + 2.0  # offset so a missing bias shows clearly
        want = F.conv2d(x, w, b, stride=stride, padding=padding)
        where = (f"x {tuple(x.shape)}, w {tuple(w.shape)}, stride={stride}, "
                 f"padding={padding}")
        args = {"x": x.clone(), "w": w.clone(), "b": b.clone()}
        before = snapshot(**args)
        with _without_library_conv():
            got = attempted(fn(*args.values(), stride, padding))
        expect_unchanged(where, args, before)
        expect(torch.is_tensor(got), f"{where}: expected a tensor, got {type(got).__name__}")
        if got.shape != want.shape:
            hint = ("the output must be (B, C_out, H_out, W_out) with H_out = "
                    "floor((H + 2p - k) / s) + 1.")
            for dp in (-1, 1):
                if padding + dp >= 0 and F.conv2d(x, w, b, stride=stride,
                                                  padding=padding + dp).shape == got.shape:
                    hint = (f"your output has the size of padding={padding + dp}: pad "
                            f"exactly `padding` zeros on each side (e.g. F.pad(x, "
                            f"(p, p, p, p))).")
            if F.conv2d(x, w, b, padding=padding).shape == got.shape and stride > 1:
                hint = ("your output has the size of stride 1: step the window by "
                        "`stride` pixels (output pixel i reads input rows s*i ... s*i + k - 1).")
            if padding and got.dim() == 4 and got.shape[-1] == want.shape[-1] and \
                    got.shape[-2] == F.conv2d(x, w, b, stride=stride).shape[-2]:
                hint = ("only the width is padded: F.pad(x, (p, p)) pads the last dimension; pad "
                        "height and width with F.pad(x, (p, p, p, p)).")
            if got.dim() == 4 and tuple(got.shape[-2:]) == (want.shape[-2] - 1, want.shape[-1] - 1):
                hint = ("one output row and column short: there are (H + 2p - k) // s + 1 window "
                        "positions, the + 1 counts the first one.")
            expect(False, f"{where}: expected shape {tuple(want.shape)}, got "
                          f"{tuple(got.shape)}", hint=hint)
        got = got.detach().to(want.dtype)
        if torch.allclose(got, want, atol=1e-4, rtol=1e-4):
            return
        close = lambda ref: torch.allclose(got, ref, atol=1e-4, rtol=1e-4)  # noqa: E731
        if close(F.conv2d(x, w.flip(-1, -2), b, stride=stride, padding=padding)):
            hint = ("you flipped the kernel: that is the textbook convolution. Deep-learning "
                    "'convolution' (F.conv2d) is cross-correlation: w[o, c, u, v] multiplies "
                    "x[c, s*i + u, s*j + v] with no flip.")
        elif close(F.conv2d(x, w, None, stride=stride, padding=padding)):
            hint = "add the bias: y[:, o] += b[o] for every output channel o."
        elif close(F.conv2d(x, w, None, stride=stride, padding=padding) + b):
            hint = ("b has shape (C_out,), so `y + b` adds it along the LAST axis (width); "
                    "add b.view(1, -1, 1, 1) so b[o] goes to output channel o.")
        elif C_in > 1 and close(F.conv2d(x[:, :1], w[:, :1], b, stride=stride,
                                         padding=padding)):
            hint = "sum over ALL input channels c, not just the first one."
        else:
            hint = ("y[n, o, i, j] = b[o] + sum over c, u, v of "
                    "w[o, c, u, v] * x_padded[n, c, s*i + u, s*j + v].")
        err = (got - want).abs().max().item()
        expect(False, f"{where}: values differ from F.conv2d (max abs difference "
                      f"{err:.3g})", hint=hint)

    return run_exercise("conv2d_by_hand", fn,
                        [lambda i=i, c=c: case(i, *c) for i, c in enumerate(_CONV2D_CASES)], quiet)


# ---------------------------------------------------------------------------------------
# count_params
# ---------------------------------------------------------------------------------------

_LAYER_TYPES = {"Linear": nn.Linear, "Conv2d": nn.Conv2d,
                "ConvTranspose2d": nn.ConvTranspose2d, "BatchNorm2d": nn.BatchNorm2d}

_PARAM_CASES = [
    {"type": "Linear", "in_features": 100, "out_features": 3136, "bias": True},
    {"type": "Conv2d", "in_channels": 1, "out_channels": 32, "kernel_size": 4, "bias": True},
    {"type": "Conv2d", "in_channels": 32, "out_channels": 64, "kernel_size": 4, "bias": False},
    {"type": "ConvTranspose2d", "in_channels": 64, "out_channels": 32, "kernel_size": 4,
     "bias": False},
    {"type": "ConvTranspose2d", "in_channels": 32, "out_channels": 1, "kernel_size": 4,
     "bias": True},
    {"type": "Conv2d", "in_channels": 3, "out_channels": 8, "kernel_size": 3, "bias": True},
    {"type": "BatchNorm2d", "num_features": 64},
    {"type": "Linear", "in_features": 3136, "out_features": 1, "bias": True},
    {"type": "Conv2d", "in_channels": 16, "out_channels": 8, "kernel_size": 3},   # no "bias": True
    {"type": "Linear", "in_features": 10, "out_features": 4},
]


def reference_params(spec: dict) -> int:
    """Build the layer the spec describes and count ``sum(p.numel())`` over its parameters."""
    kwargs = {key: value for key, value in spec.items() if key != "type"}
    layer = _LAYER_TYPES[spec["type"]](**kwargs)
    return sum(p.numel() for p in layer.parameters())


def _counted(spec: dict, weights=None, bias_per=None, bn_vectors=2) -> int:
    """A parameter count with one piece miscounted, for recognising typical mistakes.

    ``weights(c_in, c_out, k)`` replaces the weight count, ``bias_per`` names what the bias
    is counted per ("out", "in", "none" = forgot it, "always" = even with bias=False), and
    ``bn_vectors`` is how many per-channel vectors a batch norm is said to have.
    """
    kind = spec["type"]
    if kind == "BatchNorm2d":
        return bn_vectors * spec["num_features"]
    if kind == "Linear":
        n_in, n_out, k = spec["in_features"], spec["out_features"], 1
    else:
        n_in, n_out, k = spec["in_channels"], spec["out_channels"], spec["kernel_size"]
    w = (weights or (lambda i, o, k: i * o * k * k))(n_in, n_out, k)
    has_bias = spec.get("bias", True)
    per = bias_per or "out"
    bias = {"out": n_out * has_bias, "in": n_in * has_bias, "none": 0, "always": n_out}[per]
    return w + bias


# Each mistake as a count of the spec, with its hint.
_PARAM_MISTAKES = [
    (lambda spec: _counted(spec, bias_per="none" if "bias" not in spec else "out"),
     "a spec without a \"bias\" key has a bias (torch.nn's default is bias=True): use "
     "spec.get(\"bias\", True)."),
    (lambda spec: _counted(spec, bias_per="none"),
     "you forgot the bias: with bias=True the layer also learns one number per output."),
    (lambda spec: _counted(spec, bias_per="always"),
     "a layer made with bias=False has no bias: count it only when spec['bias'] is true."),
    (lambda spec: _counted(spec, weights=lambda i, o, k: i * o * k),
     "the kernel is k x k: count k*k weights per (input, output) channel pair."),
    (lambda spec: _counted(spec, weights=lambda i, o, k: o * k * k),
     "each output channel has a k x k kernel for EVERY input channel: c_in * c_out * k * k "
     "weights."),
    (lambda spec: _counted(spec, weights=lambda i, o, k: i * k * k),
     "each output channel has its own kernel: multiply by c_out too."),
    (lambda spec: _counted(spec, bias_per="in"),
     "there is one bias per OUTPUT channel or feature (for ConvTranspose2d too), not per "
     "input."),
    (lambda spec: _counted(spec, bn_vectors=1),
     "batch norm has TWO learned vectors per channel: the scale gamma (weight) and the "
     "shift beta (bias)."),
    (lambda spec: _counted(spec, bn_vectors=4),
     "running_mean and running_var are buffers (statistics), not parameters: the optimiser "
     "never updates them. Count gamma and beta."),
    (lambda spec: _counted(spec, bn_vectors=4) + (spec["type"] == "BatchNorm2d"),
     "running_mean, running_var and num_batches_tracked are buffers (statistics), not "
     "parameters: count gamma and beta, as sum(p.numel() for p in layer.parameters()) does."),
]


def count_params(fn, quiet: bool = False):
    """Check ``fn(spec)`` = the number of learned parameters of the layer ``spec`` describes.

    ``spec`` is a dict: ``{"type": "Conv2d", "in_channels": 1, "out_channels": 32,
    "kernel_size": 4, "bias": True}`` (the keyword arguments of the ``torch.nn`` class of
    that name; also ``Linear``, ``ConvTranspose2d``, ``BatchNorm2d``).
    """
    cases = [(spec,) for spec in _PARAM_CASES]
    student = lambda spec: fn(dict(spec))  # noqa: E731  (a copy: the student may edit it)

    def case(i):
        spec = _PARAM_CASES[i]
        got = attempted(student(spec))
        want = reference_params(spec)
        expect(is_int(got), f"{spec}: expected an integer count, got {got!r}",
               hint="parameter counts are whole numbers; return an int.")
        if int(got) != want:
            hint = _diagnose(student, cases, _PARAM_MISTAKES, i,
                             "compare with sum(p.numel() for p in layer.parameters()) for "
                             "the layer built from this spec.")
            expect(False, f"{spec}: expected {want:,} parameters, got {int(got):,}", hint=hint)

    return run_exercise("count_params", fn, [lambda i=i: case(i) for i in range(len(cases))], quiet)


__all__ = ["conv_output_size", "conv_transpose_output_size", "conv2d_by_hand",
           "count_params", "reference_params"]
