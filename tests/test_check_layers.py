"""Notebook 01's checkers (layers): each typical wrong answer fails with the hint aimed
at it, and the reference solutions agree with PyTorch and the package. (That every solution
passes and every stub is "not attempted" is tested once for all checkers in test_exercises.py.)
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import numpy as np

from exercise_helpers import fails_with, load_solutions, passes
from gan_course import check
from gan_course.check import layers


sol = load_solutions("nb01_cnn_layer_math")


# ---- the references themselves agree with PyTorch -------------------------------------

def test_solution_sizes_match_pytorch_modules():
    for n in (5, 8, 28):
        for k in (1, 2, 3, 5):
            for p in (0, 1, 2):
                for s in (1, 2, 3):
                    for d in (1, 2):
                        want = sol.conv_output_size(n, k, p, s, d)
                        if want < 1:
                            continue
                        y = nn.Conv2d(1, 1, k, s, p, d)(torch.zeros(1, 1, n, n))
                        assert y.shape[-1] == want, (n, k, p, s, d)
                        for op in range(max(s, d)):
                            t = nn.ConvTranspose2d(1, 1, k, s, p, op, dilation=d)
                            size = sol.conv_transpose_output_size(n, k, p, s, d, op)
                            if size >= 1:
                                assert t(torch.zeros(1, 1, n, n)).shape[-1] == size


def test_solution_conv2d_by_hand_matches_f_conv2d():
    torch.manual_seed(0)
    x, w, b = torch.randn(2, 3, 9, 8), torch.randn(5, 3, 3, 3), torch.randn(5)
    for stride in (1, 2, 3):
        for padding in (0, 1, 2):
            torch.testing.assert_close(sol.conv2d_by_hand(x, w, b, stride, padding),
                                       F.conv2d(x, w, b, stride=stride, padding=padding))


# ---- typical wrong answers -------------------------------------------------------------

@pytest.mark.parametrize("wrong, words", [
    (lambda n, k, p, s, d: (n + 2 * p - d * (k - 1) - 1) // s, "+ 1"),
    (lambda n, k, p, s, d: (n + p - d * (k - 1) - 1) // s + 1, "2p, not p"),
    (lambda n, k, p, s, d: (n - d * (k - 1) - 1) // s + 1, "padding term"),
    (lambda n, k, p, s, d: -(-(n + 2 * p - d * (k - 1) - 1) // s) + 1, "ceil"),
    (lambda n, k, p, s, d: (n + 2 * p - k) // s + 1, "dilation"),
    (lambda n, k, p, s, d: (n + 2 * p - d * (k - 1) - 1) / s + 1, "floor division"),
    (lambda n, k, p, s, d: 28, "formula is"),
    (lambda n, k, p, s, d: (n + 2 * p - d * (k - 1)) // s + 1, "- 1"),
    (lambda n, k, p, s, d: round((n + 2 * p - d * (k - 1) - 1) / s) + 1, "round"),
])
def test_conv_output_size_catches(wrong, words):
    fails_with(check.conv_output_size, wrong, words)


@pytest.mark.parametrize("right", [
    lambda n, k, p, s, d: int((n + 2 * p - d * (k - 1) - 1) / s) + 1,           # int() of a positive float
    lambda n, k, p, s, d: np.floor_divide(n + 2 * p - d * (k - 1) - 1, s) + 1,   # a NumPy integer
    lambda n, k, p, s, d: torch.tensor((n + 2 * p - d * (k - 1) - 1) // s + 1),
])
def test_conv_output_size_alternatives_pass(right):
    passes(check.conv_output_size, right)


@pytest.mark.parametrize("wrong, words", [
    (lambda n, k, p, s, d, op: (n + 2 * p - d * (k - 1) - 1) // s + 1, "convolution's formula"),
    (lambda n, k, p, s, d, op: (n - 1) * s - 2 * p + d * (k - 1) + 1, "output_padding"),
    (lambda n, k, p, s, d, op: (n - 1) * s - 2 * p + d * (k - 1) + op, "+ 1"),
    (lambda n, k, p, s, d, op: (n - 1) * s + 2 * p + d * (k - 1) + op + 1, "subtracted"),
    (lambda n, k, p, s, d, op: (n - 1) * s - 2 * p + k + op, "dilation"),
    (lambda n, k, p, s, d, op: n * s - 2 * p + d * (k - 1) + op + 1, "(n - 1)s"),
    (lambda n, k, p, s, d, op: (n - 1) * s - 2 * p + d * k + op + 1, "d*k + 1"),
    (lambda n, k, p, s, d, op: (n - 1) * s - 2 * p + d * (k - 1) - op + 1, "ADDS"),
])
def test_conv_transpose_output_size_catches(wrong, words):
    fails_with(check.conv_transpose_output_size, wrong, words)


def conv_flipped(x, w, b, stride, padding):
    """True convolution: the kernel flipped (what the textbook calls convolution)."""
    return sol.conv2d_by_hand(x, w.flip(-1, -2), b, stride, padding)


def conv_no_bias(x, w, b, stride, padding):
    return sol.conv2d_by_hand(x, w, torch.zeros_like(b), stride, padding)


def conv_bias_last_axis(x, w, b, stride, padding):
    return sol.conv2d_by_hand(x, w, torch.zeros_like(b), stride, padding) + b


def conv_padding_off_by_one(x, w, b, stride, padding):
    return sol.conv2d_by_hand(x, w, b, stride, padding + 1)


def conv_ignores_stride(x, w, b, stride, padding):
    return sol.conv2d_by_hand(x, w, b, 1, padding)


def conv_first_channel_only(x, w, b, stride, padding):
    return sol.conv2d_by_hand(x[:, :1], w[:, :1], b, stride, padding)


def conv_calls_library(x, w, b, stride, padding):
    return F.conv2d(x, w, b, stride=stride, padding=padding)


def conv_calls_convolution(x, w, b, stride, padding):  # the op under F.conv2d
    return torch.convolution(x, w, b, (stride, stride), (padding, padding), (1, 1), False, (0, 0), 1)


def conv_pads_width_only(x, w, b, stride, padding):
    return sol.conv2d_by_hand(F.pad(x, (padding, padding)), w, b, stride, 0)


def conv_one_short(x, w, b, stride, padding):
    return sol.conv2d_by_hand(x, w, b, stride, padding)[..., :-1, :-1]


def conv_pads_in_place(x, w, b, stride, padding):  # right values, caller's x overwritten
    out = sol.conv2d_by_hand(x, w, b, stride, padding)
    x.zero_()
    return out


@pytest.mark.parametrize("wrong, words", [
    (conv_flipped, "flipped the kernel"),
    (conv_no_bias, "add the bias"),
    (conv_bias_last_axis, "last axis"),
    (conv_padding_off_by_one, "padding="),
    (conv_ignores_stride, "stride"),
    (conv_first_channel_only, "all input channels"),
    (conv_calls_library, "compute the convolution yourself"),
    (conv_calls_convolution, "compute the convolution yourself"),
    (conv_pads_width_only, "only the width"),
    (conv_one_short, "short"),
    (conv_pads_in_place, "in place"),
])
def test_conv2d_by_hand_catches(wrong, words):
    fails_with(check.conv2d_by_hand, wrong, words)


def conv_unfold(x, w, b, stride, padding):  # im2col: F.unfold then one matrix product
    B, _, H, W = x.shape
    C_out, _, k, _ = w.shape
    cols = F.unfold(x, k, padding=padding, stride=stride)                 # (B, C_in*k*k, L)
    H_out, W_out = (H + 2 * padding - k) // stride + 1, (W + 2 * padding - k) // stride + 1
    return (w.view(C_out, -1) @ cols + b.view(1, -1, 1)).view(B, C_out, H_out, W_out)


def test_conv2d_by_hand_alternatives_pass():
    passes(check.conv2d_by_hand, conv_unfold)
    passes(check.conv2d_by_hand, lambda x, w, b, s, p: sol.conv2d_by_hand(x.double(), w.double(), b.double(), s, p))


def test_conv2d_by_hand_restores_library_conv():
    before, conv = F.conv2d, torch.convolution
    check.conv2d_by_hand(conv_calls_library)
    assert F.conv2d is before and torch.conv2d is before and torch.convolution is conv
    F.conv2d(torch.zeros(1, 1, 3, 3), torch.zeros(1, 1, 3, 3))  # still works


def _weights(spec):
    if spec["type"] == "Linear":
        return spec["in_features"] * spec["out_features"], spec["out_features"]
    if spec["type"] == "BatchNorm2d":
        return spec["num_features"], spec["num_features"]
    return (spec["in_channels"] * spec["out_channels"] * spec["kernel_size"] ** 2,
            spec["out_channels"])


def params_forgot_bias(spec):
    return _weights(spec)[0] if spec["type"] != "BatchNorm2d" else spec["num_features"]


def params_always_bias(spec):
    return sum(_weights(spec))


def params_kernel_not_squared(spec):
    if spec["type"] in ("Conv2d", "ConvTranspose2d"):
        weights = spec["in_channels"] * spec["out_channels"] * spec["kernel_size"]
        return weights + spec["out_channels"] * spec.get("bias", True)
    return sol.count_params(spec)


def params_forgot_in_channels(spec):
    if spec["type"] in ("Conv2d", "ConvTranspose2d"):
        weights = spec["out_channels"] * spec["kernel_size"] ** 2
        return weights + spec["out_channels"] * spec.get("bias", True)
    return sol.count_params(spec)


def params_bias_per_input(spec):
    if spec["type"] == "ConvTranspose2d" and spec.get("bias", True):
        return _weights(spec)[0] + spec["in_channels"]
    return sol.count_params(spec)


def params_bn_with_buffers(spec):
    if spec["type"] == "BatchNorm2d":
        return 4 * spec["num_features"]
    return sol.count_params(spec)


def params_bn_with_all_buffers(spec):  # running mean, running var and num_batches_tracked
    if spec["type"] == "BatchNorm2d":
        return 4 * spec["num_features"] + 1
    return sol.count_params(spec)


def params_missing_bias_is_false(spec):
    return sol.count_params({**spec, "bias": spec.get("bias", False)}) if spec["type"] != "BatchNorm2d" \
        else sol.count_params(spec)


@pytest.mark.parametrize("wrong, words", [
    (params_forgot_bias, "forgot the bias"),
    (params_always_bias, "bias=False has no bias"),
    (params_kernel_not_squared, "k*k"),
    (params_forgot_in_channels, "every input channel"),
    (params_bias_per_input, "per OUTPUT channel"),
    (params_bn_with_buffers, "buffers"),
    (lambda spec: float(sol.count_params(spec)), "int"),
    (params_bn_with_all_buffers, "num_batches_tracked"),
    (params_missing_bias_is_false, "spec.get"),
])
def test_count_params_catches(wrong, words):
    fails_with(check.count_params, wrong, words)


def test_count_params_alternatives_pass():
    passes(check.count_params, lambda spec: np.int64(sol.count_params(spec)))
    passes(check.count_params, lambda spec: torch.tensor(sol.count_params(spec)))


def test_reference_params_counts_layers():
    assert layers.reference_params({"type": "Conv2d", "in_channels": 1, "out_channels": 32,
                                    "kernel_size": 4}) == 32 * 16 + 32
    assert layers.reference_params({"type": "BatchNorm2d", "num_features": 64}) == 128
