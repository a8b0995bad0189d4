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


def test_plot_minimax_draws_real_and_fake_in_the_course_colours():
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_rgb

    from gan_course import plotting

    fig, ax = plt.subplots()
    theory.plot_minimax(ax, 1.0, 1.0)
    (p_data,) = ax.collections  # the filled density
    (p_g,) = ax.lines
    assert tuple(p_data.get_facecolor()[0][:3]) == to_rgb(plotting.REAL_COLOR)
    assert to_rgb(p_g.get_color()) == to_rgb(plotting.FAKE_COLOR)
    plt.close(fig)


def test_the_widget_redraws_with_the_slider(monkeypatch):
    import matplotlib.pyplot as plt

    from gan_course.widgets import minimax

    shown = []
    monkeypatch.setattr(minimax, "show", lambda fig: (shown.append(fig), plt.close(fig)))
    w = widgets.minimax_explorer()
    {c.description: c for c in w.children[:-1]}["p_g mean"].value = -1.5
    assert len(shown) == 2
    means = [fig.axes[0].lines[0].get_xydata() for fig in shown]
    peaks = [float(xy[xy[:, 1].argmax(), 0]) for xy in means]  # where p_g peaks
    assert peaks == [pytest.approx(2.0, abs=0.01), pytest.approx(-1.5, abs=0.01)]
