"""Reference solutions to the exercises of notebooks/01_cnn_layer_math.ipynb.

Each function has the name and signature of the notebook's stub; check one with
``from gan_course import check; check.conv_output_size(conv_output_size)``.
"""

import torch
import torch.nn.functional as F


def conv_output_size(n, k, p=0, s=1, d=1):
    """Output size of a convolution: floor((n + 2p - d(k-1) - 1) / s) + 1.

    The dilated kernel spans d(k-1) + 1 pixels; it fits at n + 2p - d(k-1) positions of
    the padded input, and stepping s at a time keeps every s-th of them, the first included.
    """
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def conv_transpose_output_size(n, k, p=0, s=1, d=1, output_padding=0):
    """Output size of a transposed convolution: (n - 1)s - 2p + d(k-1) + output_padding + 1.

    The n inputs land s pixels apart ((n - 1)s + 1 positions), each spreads a kernel of span
    d(k-1) + 1, padding crops p on each side, and output_padding adds rows on one side.
    """
    return (n - 1) * s - 2 * p + d * (k - 1) + output_padding + 1


def conv2d_by_hand(x, w, b, stride=1, padding=0):
    """Cross-correlation as F.conv2d computes it, one kernel offset (u, v) at a time.

    y[n, o, i, j] = b[o] + sum_{c, u, v} w[o, c, u, v] * x_pad[n, c, s*i + u, s*j + v]
    """
    B, C_in, H, W = x.shape
    C_out, _, k, _ = w.shape
    x = F.pad(x, (padding, padding, padding, padding))
    H_out = (H + 2 * padding - k) // stride + 1
    W_out = (W + 2 * padding - k) // stride + 1
    y = x.new_zeros(B, C_out, H_out, W_out)  # on the device and dtype of the input
    for u in range(k):
        for v in range(k):
            # the input pixels that kernel tap (u, v) meets, one per output position
            patch = x[:, :, u:u + stride * (H_out - 1) + 1:stride,
                      v:v + stride * (W_out - 1) + 1:stride]      # (B, C_in, H_out, W_out)
            y += torch.einsum("oc,bchw->bohw", w[:, :, u, v], patch)
    return y + b.view(1, -1, 1, 1)


def count_params(spec):
    """Learned parameters of the layer described by ``spec`` (a dict, see the notebook).

    Linear: n_in*n_out + n_out; Conv2d and ConvTranspose2d: c_in*c_out*k*k + c_out;
    BatchNorm2d: 2C (gamma and beta; running statistics are buffers). Bias terms only if
    ``bias`` is true (the default, as in torch.nn).
    """
    kind = spec["type"]
    if kind == "BatchNorm2d":
        return 2 * spec["num_features"]
    bias = spec.get("bias", True)
    if kind == "Linear":
        n_in, n_out = spec["in_features"], spec["out_features"]
        return n_in * n_out + (n_out if bias else 0)
    if kind in ("Conv2d", "ConvTranspose2d"):
        c_in, c_out, k = spec["in_channels"], spec["out_channels"], spec["kernel_size"]
        return c_in * c_out * k * k + (c_out if bias else 0)
    raise ValueError(f"unknown layer type {kind!r}")


# Model answers to the exercises without a checker, keyed by exercise number. The numbers
# come from running the checks each answer names (nn.ConvTranspose2d, F.conv_transpose2d).
MODEL_ANSWERS = {
    5: """\
(a) PyTorch gives floor((n + 2p - 4) / 2) + 1 = n/2 + p - 1 for even n, so padding=1 gives
n/2 = ceil(n/2). For odd n, padding=1 gives (n - 1)/2, one short, and padding=2 is needed
(checked for n = 4 ... 11: p = 1 for every even n, p = 2 for every odd n). Keras' 'same'
pads a total of (ceil(n/s) - 1)s + k - n pixels: 2 for even n (one per side), 3 for odd n
(one before, two after). An odd total cannot be split evenly, so no symmetric padding
matches it for every n; in PyTorch that takes F.pad with (1, 2, 1, 2) first.

(b) With stride 3 the overlap is even when k is a multiple of 3. Transposed-convolving a
constant input with an all-ones kernel, stride 3, the interior counts are: k = 3 -> {1},
k = 6 -> {4}, k = 9 -> {9}, k = 12 -> {16} (one value: even), but k = 4 or 5 -> {1, 2, 4}
and k = 7 or 8 -> {4, 6, 9} (uneven: a checkerboard). (k = 1 and 2 leave gaps, count 0.)

(c) (4 - 1) * 2 - 2 * 1 + k + output_padding = 7 needs k + output_padding = 3, with
output_padding < stride = 2: k = 3 with output_padding = 0, or k = 2 with
output_padding = 1. nn.ConvTranspose2d(c, c, 3, stride=2, padding=1) and
nn.ConvTranspose2d(c, c, 2, stride=2, padding=1, output_padding=1) both map 4x4 to 7x7;
the next layers then use k = 4 (7 -> 14 -> 28). With k = 3 the first layer has the uneven
overlap of section 11; k = 2 with stride 2 covers every output pixel once.
""",
}
