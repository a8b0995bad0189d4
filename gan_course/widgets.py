"""The notebooks' interactive widgets.

Each widget is built by a function here so that tests can call it directly. Every builder
renders once with its default values when the notebook cell runs (``interact`` with
defaults), so a headless run (nbval, ``make notebooks``) exercises it; prints go through an
``Output`` so JupyterLab shows them. Notebooks put a static figure beside each widget for
readers who cannot run it.
"""

from __future__ import annotations


# --- notebook 03: the minimax game on 1-D densities ------------------------------------

def minimax_explorer(g_mean: float = 2.0, g_std: float = 1.0, p_data: str = "gaussian"):
    """Sliders move ``p_g = N(mean, std²)`` against a fixed ``p_data``; the figure shows
    ``D*(x) = p_data / (p_data + p_g)`` and the title ``V(G, D*)``, ``2 JSD - log 4`` and
    ``JSD`` live (computed by :func:`gan_course.theory.plot_minimax` on a grid).

    Returns an ``ipywidgets.interactive``; its ``.result`` is ``(V, JSD)`` of the last draw.
    """
    import ipywidgets
    import matplotlib.pyplot as plt

    from gan_course import theory

    def draw(p_data=p_data, g_mean=g_mean, g_std=g_std):
        fig, ax = plt.subplots(figsize=(7.5, 3.2))
        v, jsd = theory.plot_minimax(ax, g_mean, g_std, data=p_data)
        fig.tight_layout()
        plt.show()
        plt.close(fig)  # the inline backend has shown it; do not keep it in memory
        return v, jsd

    slider = dict(continuous_update=False, style={"description_width": "initial"})
    return ipywidgets.interactive(
        draw,
        p_data=ipywidgets.Dropdown(options=["gaussian", "two modes"], value=p_data,
                                   description="p_data"),
        g_mean=ipywidgets.FloatSlider(value=g_mean, min=-4.0, max=4.0, step=0.1,
                                      description="p_g mean", **slider),
        g_std=ipywidgets.FloatSlider(value=g_std, min=0.2, max=3.0, step=0.05,
                                     description="p_g std", **slider),
    )


# --- notebook 01: a kernel sliding over a digit ----------------------------------------

# 3x3 kernels for the convolution explorer. Each is applied as F.conv2d applies weights
# (cross-correlation, no flip), so "sobel x" responds to ink that gets brighter to the right.
CONV_KERNELS = {
    "identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
    "blur": [[1 / 16, 2 / 16, 1 / 16], [2 / 16, 4 / 16, 2 / 16], [1 / 16, 2 / 16, 1 / 16]],
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "edge": [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
    "sobel x": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
}


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


def conv_explorer_figure(image, kernel: str = "edge", stride: int = 1, padding: int = 1,
                         dilation: int = 1, out_row: int = 0, out_col: int = 0):
    """One frame of the convolution explorer, as a matplotlib figure.

    Left: the zero-padded input with the taps of the window that produces output pixel
    ``(out_row, out_col)``: rows ``s*i + d*u`` and columns ``s*j + d*v`` of the padded
    input, ``u, v = 0..k-1``. Middle: the kernel. Right: the output of ``F.conv2d``, whose
    size is ``floor((n + 2p - d(k-1) - 1) / s) + 1`` per side (printed in the title).
    Output positions outside the map are clamped to its last row/column.

    Returns ``(fig, (H_out, W_out), (row, col))``.
    """
    import matplotlib.pyplot as plt
    import torch
    import torch.nn.functional as F
    from matplotlib.patches import Rectangle

    if kernel not in CONV_KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}; choose one of {list(CONV_KERNELS)}")
    x = _as_digit(image)
    w = torch.tensor(CONV_KERNELS[kernel], dtype=torch.float32)
    k = w.shape[-1]
    n_h, n_w = x.shape
    h_out = (n_h + 2 * padding - dilation * (k - 1) - 1) // stride + 1
    w_out = (n_w + 2 * padding - dilation * (k - 1) - 1) // stride + 1
    fig, (ax_in, ax_k, ax_out) = plt.subplots(1, 3, figsize=(10, 3.6),
                                              gridspec_kw={"width_ratios": [1.15, 0.6, 1]})
    x_pad = F.pad(x, (padding,) * 4)  # zeros: mid-gray in [-1, 1] units, not background
    ax_in.imshow(x_pad.numpy(), cmap="gray", vmin=-1, vmax=1)
    ax_in.add_patch(Rectangle((padding - 0.5, padding - 0.5), n_w, n_h, fill=False,
                              ec="tab:blue", lw=1, ls=":"))
    ax_in.set_title(f"input {n_h}x{n_w}, zero-padded by {padding}", fontsize=9)
    ax_k.imshow(w.numpy(), cmap="RdBu_r", vmin=-w.abs().max(), vmax=w.abs().max())
    for (u, v), value in zip(torch.cartesian_prod(torch.arange(k), torch.arange(k)).tolist(),
                             w.flatten().tolist()):
        dark = abs(value) > 0.6 * w.abs().max().item()  # white text on the darkest cells
        ax_k.text(v, u, f"{value:.3g}", ha="center", va="center", fontsize=8,
                  color="white" if dark else "black")
    ax_k.set_title(f"kernel '{kernel}' ({k}x{k})", fontsize=9)
    if h_out < 1 or w_out < 1:
        ax_out.text(0.5, 0.5, f"no output:\nthe dilated kernel spans {dilation * (k - 1) + 1}"
                    f" pixels,\nmore than the padded input ({n_h + 2 * padding})",
                    ha="center", va="center", transform=ax_out.transAxes, fontsize=9)
        row = col = None
    else:
        y = F.conv2d(x[None, None], w[None, None], stride=stride, padding=padding,
                     dilation=dilation)[0, 0]
        row, col = min(out_row, h_out - 1), min(out_col, w_out - 1)
        ax_out.imshow(y.numpy(), cmap="gray")
        ax_out.add_patch(Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, ec="red", lw=2))
        taps = torch.arange(k) * dilation
        for u in taps.tolist():
            for v in taps.tolist():
                ax_in.add_patch(Rectangle((stride * col + v - 0.5, stride * row + u - 0.5),
                                          1, 1, fill=False, ec="red", lw=1.2))
        span = dilation * (k - 1) + 1
        ax_in.add_patch(Rectangle((stride * col - 0.5, stride * row - 0.5), span, span,
                                  fill=False, ec="red", lw=0.8, ls="--"))
        ax_out.set_title(f"output {h_out}x{w_out}; red: pixel ({row}, {col}) = "
                         f"{y[row, col].item():.2f}", fontsize=9)
    for ax in (ax_in, ax_k, ax_out):
        ax.set_xticks([])
        ax.set_yticks([])
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
    follows the output size. Returns an ``ipywidgets.interactive`` whose ``.result`` is
    ``(H_out, W_out)`` of the last draw.
    """
    import ipywidgets
    import matplotlib.pyplot as plt

    digit = _as_digit(image)

    def draw(kernel=kernel, stride=stride, padding=padding, dilation=dilation,
             out_row=0, out_col=0):
        fig, shape, _ = conv_explorer_figure(digit, kernel, stride, padding, dilation,
                                             out_row, out_col)
        plt.show()
        plt.close(fig)  # the inline backend has shown it; do not keep it in memory
        return shape

    style = dict(continuous_update=False, style={"description_width": "initial"})
    sliders = {
        "stride": ipywidgets.IntSlider(value=stride, min=1, max=3, description="stride s",
                                       **style),
        "padding": ipywidgets.IntSlider(value=padding, min=0, max=3, description="padding p",
                                        **style),
        "dilation": ipywidgets.IntSlider(value=dilation, min=1, max=3,
                                         description="dilation d", **style),
        "out_row": ipywidgets.IntSlider(value=0, min=0, max=27, description="output row",
                                        **style),
        "out_col": ipywidgets.IntSlider(value=0, min=0, max=27, description="output col",
                                        **style),
    }

    def follow_output_size(change=None):
        # keep the output-pixel sliders inside the current output map
        s, p, d = (sliders[key].value for key in ("stride", "padding", "dilation"))
        for key, n in (("out_row", digit.shape[0]), ("out_col", digit.shape[1])):
            sliders[key].max = max(0, (n + 2 * p - d * 2 - 1) // s)  # H_out - 1, k = 3

    follow_output_size()
    for key in ("stride", "padding", "dilation"):
        sliders[key].observe(follow_output_size, names="value")
    return ipywidgets.interactive(
        draw, kernel=ipywidgets.Dropdown(options=list(CONV_KERNELS), value=kernel,
                                         description="kernel"), **sliders)


def conv_kernels_figure(image, kernels=None, padding: int = 1):
    """The static companion of :func:`conv_explorer`: the image and its convolution with
    each 3x3 kernel (stride 1, the given zero padding), one panel each, via ``F.conv2d``."""
    import matplotlib.pyplot as plt
    import torch
    import torch.nn.functional as F

    x = _as_digit(image)
    names = list(kernels or CONV_KERNELS)
    fig, axes = plt.subplots(1, len(names) + 1, figsize=(1.9 * (len(names) + 1), 2.3))
    axes[0].imshow(x.numpy(), cmap="gray", vmin=-1, vmax=1)
    axes[0].set_title(f"input {tuple(x.shape)}", fontsize=9)
    for ax, name in zip(axes[1:], names):
        w = torch.tensor(CONV_KERNELS[name], dtype=torch.float32)[None, None]
        y = F.conv2d(x[None, None], w, padding=padding)[0, 0]
        ax.imshow(y.numpy(), cmap="gray")
        ax.set_title(f"{name} {tuple(y.shape)}", fontsize=9)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig
