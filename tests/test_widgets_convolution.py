"""The convolution explorer of notebook 01 builds, renders, and follows its controls."""

import matplotlib

matplotlib.use("Agg")  # tests only; notebooks keep the inline backend

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from gan_course import plotting, widgets  # noqa: E402
from gan_course.data import load_mnist  # noqa: E402


@pytest.fixture(scope="module")
def digit():
    return load_mnist("subset").x_train[0]  # the bundled digits: never touches the network


def _controls(w):
    return {c.description: c for c in w.children if hasattr(c, "description")}


def test_conv_explorer_renders_defaults_and_follows_sliders(digit):
    w = widgets.conv_explorer(digit)
    assert w.result == (28, 28)  # rendered once with defaults: k=3, s=1, p=1, d=1
    c = _controls(w)
    c["stride s"].value = 2
    assert w.result == (14, 14)  # floor((28 + 2 - 2 - 1) / 2) + 1
    assert c["output row"].max == 13 and c["output col"].max == 13
    c["dilation d"].value = 3
    assert w.result == (12, 12)  # floor((28 + 2 - 6 - 1) / 2) + 1
    c["padding p"].value = 0
    assert w.result == (11, 11)
    c["output row"].value = 10
    c["kernel"].value = "sobel x"
    assert w.result == (11, 11)
    assert plt.get_fignums() == []  # every drawn figure was closed


@pytest.mark.parametrize("kernel", list(widgets.CONV_KERNELS))
@pytest.mark.parametrize("s, p, d", [(1, 0, 1), (2, 1, 1), (3, 3, 2), (1, 2, 3)])
def test_explorer_figure_shape_is_the_formula_and_f_conv2d(digit, kernel, s, p, d):
    fig, shape, (row, col) = widgets.conv_explorer_figure(digit, kernel, s, p, d, 99, 99)
    w = torch.tensor(widgets.CONV_KERNELS[kernel], dtype=torch.float32)[None, None]
    y = F.conv2d(digit[None], w, stride=s, padding=p, dilation=d)
    assert shape == tuple(y.shape[-2:])
    assert (row, col) == (shape[0] - 1, shape[1] - 1)  # clamped into the output map
    plt.close(fig)


def test_explorer_figure_with_no_output_says_so():
    fig, shape, pos = widgets.conv_explorer_figure(torch.zeros(4, 4), "blur", 1, 0, 3)
    assert shape == (-2, -2) and pos == (None, None)  # span 7 > 4: the formula goes below 1
    plt.close(fig)


def test_kernels_are_cross_correlation_as_named():
    w = torch.tensor(widgets.CONV_KERNELS["sobel x"], dtype=torch.float32)[None, None]
    ramp = torch.arange(5.0).repeat(5, 1)[None, None]  # brighter to the right
    assert (F.conv2d(ramp, w) > 0).all()
    blur = torch.tensor(widgets.CONV_KERNELS["blur"])
    assert torch.isclose(blur.sum(), torch.tensor(1.0))  # keeps flat regions unchanged
    assert torch.tensor(widgets.CONV_KERNELS["edge"]).sum() == 0  # flat regions -> 0


def test_kernels_figure_and_bad_image(digit):
    fig = widgets.conv_kernels_figure(digit)
    assert len(fig.axes) == len(widgets.CONV_KERNELS) + 1
    plt.close(fig)
    with pytest.raises(ValueError, match="one grayscale image"):
        widgets.conv_explorer(torch.zeros(2, 28, 28))
    with pytest.raises(ValueError, match="unknown kernel"):
        widgets.conv_explorer_figure(digit, "emboss")


def test_one_ink_convention_and_a_signed_output(digit):
    """Digits dark ink on white (DIGIT_CMAP, -1 white); the signed output on the same grey
    scale, symmetric about 0 with its colour bar; the kernel's weights in SIGNED_CMAP."""
    fig, _, (row, col) = widgets.conv_explorer_figure(digit, "edge", 1, 1, 1, 3, 4)
    ax_in, ax_k, ax_out = fig.axes[:3]
    image_in, kernel, out = ax_in.images[0], ax_k.images[0], ax_out.images[0]
    assert image_in.get_cmap().name == plotting.DIGIT_CMAP and image_in.get_clim() == (-1, 1)
    assert out.get_cmap().name == plotting.DIGIT_CMAP
    y = F.conv2d(digit[None], torch.tensor(widgets.CONV_KERNELS["edge"],
                                           dtype=torch.float32)[None, None], padding=1)[0, 0]
    lo, hi = out.get_clim()
    assert lo == -hi and hi == pytest.approx(float(y.abs().max()))  # 0 in the middle: mid grey
    assert len(fig.axes) == 4 and "0 = mid grey" in fig.axes[3].get_ylabel()  # the colour bar
    assert "signed" in ax_out.get_title() and f"({row}, {col})" in ax_out.get_title()
    assert kernel.get_cmap().name == plotting.SIGNED_CMAP and kernel.get_clim() == (-8, 8)
    plt.close(fig)
    # the identity kernel's output is the digit itself, drawn exactly as the input
    fig, _, _ = widgets.conv_explorer_figure(digit, "identity", 1, 1, 1)
    out = fig.axes[2].images[0]
    assert out.get_clim() == (-1, 1)
    np.testing.assert_array_equal(out.get_array(), digit[0].numpy())
    plt.close(fig)
    fig = widgets.conv_kernels_figure(digit)
    assert all(ax.images[0].get_cmap().name == plotting.DIGIT_CMAP for ax in fig.axes)
    plt.close(fig)


def test_the_widget_redraws_what_its_controls_say(digit, monkeypatch):
    """Each redraw shows F.conv2d's output for the kernel now picked in the dropdown."""
    from gan_course.widgets import convolution

    shown = []
    monkeypatch.setattr(convolution, "show", lambda fig: (shown.append(fig), plt.close(fig)))
    w = widgets.conv_explorer(digit)
    _controls(w)["kernel"].value = "blur"
    assert len(shown) == 2  # the default draw, then the redraw
    for fig, name in zip(shown, ("edge", "blur")):
        kernel = torch.tensor(widgets.CONV_KERNELS[name], dtype=torch.float32)[None, None]
        np.testing.assert_allclose(fig.axes[2].images[0].get_array(),
                                   F.conv2d(digit[None], kernel, padding=1)[0, 0].numpy())
        assert f"kernel '{name}'" in fig.axes[1].get_title()
