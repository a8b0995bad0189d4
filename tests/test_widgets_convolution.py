"""The convolution explorer of notebook 01 builds, renders, and follows its controls."""

import matplotlib

matplotlib.use("Agg")  # tests only; notebooks keep the inline backend

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from gan_course import widgets  # noqa: E402
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
