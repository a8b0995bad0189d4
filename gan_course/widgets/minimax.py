"""Notebook 03's widget: move p_g against a fixed p_data and watch D*, V and the JSD.

The figure is :func:`gan_course.theory.plot_minimax` (exact values on a grid); the widget
only adds the controls.
"""

from __future__ import annotations

from gan_course.widgets.core import SLIDER, Explorer, show


def minimax_explorer(g_mean: float = 2.0, g_std: float = 1.0, p_data: str = "gaussian"):
    """Sliders move ``p_g = N(mean, std²)`` against a fixed ``p_data``; the figure shows
    ``D*(x) = p_data / (p_data + p_g)`` and the title ``V(G, D*)``, ``2 JSD - log 4`` and
    ``JSD`` live (computed by :func:`gan_course.theory.plot_minimax` on a grid).

    Returns an :class:`~gan_course.widgets.core.Explorer`; its ``.result`` is ``(V, JSD)``
    of the last draw.
    """
    import ipywidgets
    import matplotlib.pyplot as plt

    from gan_course import theory

    def draw(p_data=p_data, g_mean=g_mean, g_std=g_std):
        fig, ax = plt.subplots(figsize=(7.5, 3.2))
        v, jsd = theory.plot_minimax(ax, g_mean, g_std, data=p_data)
        fig.tight_layout()
        show(fig)
        return v, jsd

    return Explorer(
        draw, "the minimax game on 1-D densities, D*, V(G, D*) and the JSD as p_g moves",
        "pick p_data and move p_g's mean and std",
        p_data=ipywidgets.Dropdown(options=["gaussian", "two modes"], value=p_data,
                                   description="p_data"),
        g_mean=ipywidgets.FloatSlider(value=g_mean, min=-4.0, max=4.0, step=0.1,
                                      description="p_g mean", **SLIDER),
        g_std=ipywidgets.FloatSlider(value=g_std, min=0.2, max=3.0, step=0.05,
                                     description="p_g std", **SLIDER),
    )
