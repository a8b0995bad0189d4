"""The notebook-03 widget builds, draws with its defaults, and redraws when a slider moves."""

import math

import matplotlib

matplotlib.use("Agg")  # tests only: no display here (notebooks never set a backend)

import pytest  # noqa: E402

from gan_course import theory, widgets  # noqa: E402


def test_minimax_explorer_renders_and_rerenders():
    w = widgets.minimax_explorer()
    v, jsd = w.result  # the default draw ran when the widget was built
    assert 0.0 < jsd < math.log(2)
    assert v == pytest.approx(2 * jsd - math.log(4), abs=1e-9)
    controls = {c.description: c for c in w.children[:-1]}
    assert set(controls) == {"p_data", "p_g mean", "p_g std"}

    controls["p_g mean"].value = 0.0  # p_g = p_data = N(0, 1): the minimum of V
    v, jsd = w.result
    assert jsd == pytest.approx(0.0, abs=1e-9)
    assert v == pytest.approx(-math.log(4), abs=1e-9)

    controls["p_data"].value = "two modes"
    controls["p_g std"].value = 2.0
    v2, jsd2 = w.result
    assert jsd2 > 0.01 and v2 == pytest.approx(2 * jsd2 - math.log(4), abs=1e-9)


def test_plot_minimax_rejects_unknown_data():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="choose 'gaussian' or 'two modes'"):
        theory.plot_minimax(ax, 0.0, 1.0, data="three modes")
    plt.close(fig)
