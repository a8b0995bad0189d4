"""The notebooks' interactive widgets.

Each widget is built by a function here so that tests can call it directly. Every builder
renders once with its default values when the notebook cell runs (``interact`` with
defaults), so a headless run (nbval, ``make notebooks``) exercises it; prints go through an
``Output`` so JupyterLab shows them. Notebooks put a static figure beside each widget for
readers who cannot run it.
"""

from __future__ import annotations
