"""Notebook 01's widget: a 3x3 kernel sliding over a digit, with the output size live.

Images follow the course's ink convention (:data:`gan_course.plotting.DIGIT_CMAP`, dark ink
on white). A convolution's output is signed; it is drawn on the same grey scale widened
symmetrically about 0 (:func:`gan_course.plotting.draw_digit` with ``signed=True``: 0 mid
grey, larger darker, so the identity kernel's output looks like its input). The kernel's
weights, not an image, use :data:`gan_course.plotting.SIGNED_CMAP` with their values
written in.
"""

from __future__ import annotations

from gan_course.widgets.core import SLIDER, Explorer, show

# 3x3 kernels for the convolution explorer. Each is applied as F.conv2d applies weights
# (cross-correlation, no flip), so "sobel x" responds to ink that gets brighter to the right.
CONV_KERNELS = {
    "identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
    "blur": [[1 / 16, 2 / 16, 1 / 16], [2 / 16, 4 / 16, 2 / 16], [1 / 16, 2 / 16, 1 / 16]],
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "edge": [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
    "sobel x": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
}

WINDOW_COLOR = "red"  # the output pixel and its receptive field (on grey images only)


def _as_digit(image):
    """A (28, 28)-like float tensor from an image of shape (H, W), (1, H, W) or (1, 1, H, W)."""
    import torch

    x = torch.as_tensor(image, dtype=torch.float32).detach().cpu()
    while x.dim() > 2 and x.shape[0] == 1:
        x = x[0]
    if x.dim() != 2:
        raise ValueError(f"expected one grayscale image, shape (H, W) or (1, H, W), got "
                         f"{tuple(torch.as_tensor(image).shape)}; pick one digit, e.g. "
                         f"mnist.x_train[0].")
    return x


def _kernel(name: str):
    import torch

    if name not in CONV_KERNELS:
        raise ValueError(f"unknown kernel {name!r}; choose one of {list(CONV_KERNELS)}")
    return torch.tensor(CONV_KERNELS[name], dtype=torch.float32)


def _draw_kernel(ax, w, name: str) -> None:
    """The kernel's weights in :data:`~gan_course.plotting.SIGNED_CMAP`, each value written in."""
    from gan_course.plotting import SIGNED_CMAP

    top = w.abs().max().item()
    ax.imshow(w.numpy(), cmap=SIGNED_CMAP, vmin=-top, vmax=top)
    k = w.shape[-1]
    for u in range(k):
        for v in range(k):
            value = w[u, v].item()
            dark = abs(value) > 0.6 * top  # white text on the darkest cells
            ax.text(v, u, f"{value:.3g}", ha="center", va="center", fontsize=8,
                    color="white" if dark else "black")
    ax.set_xticks([]), ax.set_yticks([])
    ax.set_title(f"kernel '{name}' ({k}x{k})\nweights: green +, pink -", fontsize=9)


def conv_explorer_figure(image, kernel: str = "edge", stride: int = 1, padding: int = 1,
                         dilation: int = 1, out_row: int = 0, out_col: int = 0):
    """One frame of the convolution explorer, as a matplotlib figure.

    Left: the zero-padded input with the taps of the window that produces output pixel
    ``(out_row, out_col)``: rows ``s*i + d*u`` and columns ``s*j + d*v`` of the padded
    input, ``u, v = 0..k-1``. Middle: the kernel. Right: the output of ``F.conv2d``, whose
    size is ``floor((n + 2p - d(k-1) - 1) / s) + 1`` per side (printed in the title), with
    its colour bar. Output positions outside the map are clamped to its last row/column.

    Returns ``(fig, (H_out, W_out), (row, col))``.
    """
    import matplotlib.pyplot as plt
    import torch
    import torch.nn.functional as F
    from matplotlib.patches import Rectangle

    from gan_course.plotting import draw_digit

    w = _kernel(kernel)
    x = _as_digit(image)
    k = w.shape[-1]
    n_h, n_w = x.shape
    h_out = (n_h + 2 * padding - dilation * (k - 1) - 1) // stride + 1
    w_out = (n_w + 2 * padding - dilation * (k - 1) - 1) // stride + 1
    fig, (ax_in, ax_k, ax_out) = plt.subplots(1, 3, figsize=(10.5, 3.7),
                                              gridspec_kw={"width_ratios": [1.15, 0.6, 1.2]})
    x_pad = F.pad(x, (padding,) * 4)  # zeros: mid grey in [-1, 1] units, not background
    draw_digit(ax_in, x_pad, f"input {n_h}x{n_w}, zero-padded by {padding}")
    ax_in.add_patch(Rectangle((padding - 0.5, padding - 0.5), n_w, n_h, fill=False,
                              ec="k", lw=1, ls=":"))
    _draw_kernel(ax_k, w, kernel)
    if h_out < 1 or w_out < 1:
        ax_out.text(0.5, 0.5, f"no output:\nthe dilated kernel spans {dilation * (k - 1) + 1}"
                    f" pixels,\nmore than the padded input ({n_h + 2 * padding})",
                    ha="center", va="center", transform=ax_out.transAxes, fontsize=9)
        ax_out.set_xticks([]), ax_out.set_yticks([])
        row = col = None
    else:
        y = F.conv2d(x[None, None], w[None, None], stride=stride, padding=padding,
                     dilation=dilation)[0, 0]
        row, col = min(out_row, h_out - 1), min(out_col, w_out - 1)
        draw_digit(ax_out, y, f"output {h_out}x{w_out} (signed: 0 mid grey)\n"
                   f"red: pixel ({row}, {col}) = {y[row, col].item():.2f}", signed=True,
                   colorbar=True)
        ax_out.add_patch(Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, ec=WINDOW_COLOR,
                                   lw=2))
        taps = (torch.arange(k) * dilation).tolist()
        for u in taps:
            for v in taps:
                ax_in.add_patch(Rectangle((stride * col + v - 0.5, stride * row + u - 0.5),
                                          1, 1, fill=False, ec=WINDOW_COLOR, lw=1.2))
        span = dilation * (k - 1) + 1
        ax_in.add_patch(Rectangle((stride * col - 0.5, stride * row - 0.5), span, span,
                                  fill=False, ec=WINDOW_COLOR, lw=0.8, ls="--"))
    fig.suptitle(f"H_out = floor(({n_h} + 2*{padding} - {dilation}*({k}-1) - 1) / {stride}) + 1"
                 f" = {h_out}", fontsize=10)
    fig.tight_layout()
    return fig, (h_out, w_out), (row, col)


def conv_explorer(image, kernel: str = "edge", stride: int = 1, padding: int = 1,
                  dilation: int = 1):
    """Slide a 3x3 kernel over one image: kernel dropdown, stride/padding/dilation sliders
    and the output pixel whose receptive field is drawn on the input.

    The figure is :func:`conv_explorer_figure`; its title states the output size by the
    formula ``floor((n + 2p - d(k-1) - 1) / s) + 1``, and the output map drawn is what
    ``F.conv2d`` returns, so the two can be compared live. The output-pixel sliders' range
    follows the output size. Returns an :class:`~gan_course.widgets.core.Explorer` whose
    ``.result`` is ``(H_out, W_out)`` of the last draw.
    """
    import ipywidgets

    digit = _as_digit(image)

    def draw(kernel=kernel, stride=stride, padding=padding, dilation=dilation,
             out_row=0, out_col=0):
        fig, shape, _ = conv_explorer_figure(digit, kernel, stride, padding, dilation,
                                             out_row, out_col)
        show(fig)
        return shape

    sliders = {
        "stride": ipywidgets.IntSlider(value=stride, min=1, max=3, description="stride s",
                                       **SLIDER),
        "padding": ipywidgets.IntSlider(value=padding, min=0, max=3, description="padding p",
                                        **SLIDER),
        "dilation": ipywidgets.IntSlider(value=dilation, min=1, max=3,
                                         description="dilation d", **SLIDER),
        "out_row": ipywidgets.IntSlider(value=0, min=0, max=27, description="output row",
                                        **SLIDER),
        "out_col": ipywidgets.IntSlider(value=0, min=0, max=27, description="output col",
                                        **SLIDER),
    }

    def follow_output_size(change=None):
        # keep the output-pixel sliders inside the current output map
        s, p, d = (sliders[key].value for key in ("stride", "padding", "dilation"))
        for key, n in (("out_row", digit.shape[0]), ("out_col", digit.shape[1])):
            sliders[key].max = max(0, (n + 2 * p - d * 2 - 1) // s)  # H_out - 1, k = 3

    follow_output_size()
    for key in ("stride", "padding", "dilation"):
        sliders[key].observe(follow_output_size, names="value")
    return Explorer(
        draw, "convolution explorer, a 3x3 kernel sliding over a digit with the output size",
        "pick a kernel and move the stride, padding, dilation and output-pixel sliders",
        kernel=ipywidgets.Dropdown(options=list(CONV_KERNELS), value=kernel,
                                   description="kernel"), **sliders)


def conv_kernels_figure(image, kernels=None, padding: int = 1):
    """The static companion of :func:`conv_explorer`: the image and its convolution with
    each 3x3 kernel (stride 1, the given zero padding), one panel each, via ``F.conv2d``.
    Outputs are drawn signed on the digits' grey scale (0 mid grey, larger darker), each on
    its own symmetric range."""
    import matplotlib.pyplot as plt
    import torch.nn.functional as F

    from gan_course.plotting import draw_digit

    x = _as_digit(image)
    names = list(kernels or CONV_KERNELS)
    fig, axes = plt.subplots(1, len(names) + 1, figsize=(1.9 * (len(names) + 1), 2.5))
    draw_digit(axes[0], x, f"input {tuple(x.shape)}")
    for ax, name in zip(axes[1:], names):
        y = F.conv2d(x[None, None], _kernel(name)[None, None], padding=padding)[0, 0]
        draw_digit(ax, y, f"{name} {tuple(y.shape)}", signed=True)
    fig.suptitle("outputs signed: 0 mid grey, larger darker", fontsize=9)
    fig.tight_layout()
    return fig
