"""What every widget of the course shares: the widget class and two small helpers.

A notebook stored with a widget keeps the widget's ``text/plain`` in its cell output, and
that text is all a reader sees where no widget renders (GitHub, nbviewer, an HTML export).
ipywidgets' own text is the widget's repr, ``interactive(children=(IntSlider(...``; an
:class:`Explorer` says instead what the widget is and what to do with it. JupyterLab (and
a headless run, which stores the widget's state) still gets the live widget: its view is
the ``application/vnd.jupyter.widget-view+json`` entry of the same bundle, unchanged.
"""

from __future__ import annotations

import ipywidgets

# the sliders' look: redraw on release (each redraw costs a figure), full-width labels
SLIDER = dict(continuous_update=False, style={"description_width": "initial"})


class Explorer(ipywidgets.interactive):
    """``ipywidgets.interactive(draw, **controls)`` whose plain text reads

        interactive widget: <what> (run the notebook to <action>; a static figure next to
        this cell shows what it draws)

    As ``interactive``, it calls ``draw`` once with the controls' values when it is built
    (so a headless run exercises it) and again on every change, and keeps the last return
    value in ``.result``.
    """

    def __init__(self, draw, what: str, action: str, **controls):
        super().__init__(draw, **controls)
        self.static_text = (f"interactive widget: {what} (run the notebook to {action}; a static "
                            "figure next to this cell shows what it draws)")

    def __repr__(self) -> str:
        return self.static_text

    def _repr_mimebundle_(self, **kwargs):
        # ipywidgets cuts its text/plain at 110 characters: replace it whole
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is not None:
            bundle["text/plain"] = self.static_text
        return bundle


def show(fig) -> None:
    """Show ``fig`` in the widget's output, then close it: the inline backend has drawn it,
    and an open figure per redraw would pile up in memory."""
    import matplotlib.pyplot as plt

    plt.show()
    plt.close(fig)
