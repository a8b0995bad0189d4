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
