"""Load the reference solutions of a notebook's exercises (``solutions/nbNN_*.py``).

The solutions are plain files outside the package (students should not find them imported
by the course), so tests load them by path.
"""

import importlib.util
from pathlib import Path

SOLUTIONS_DIR = Path(__file__).resolve().parents[1] / "solutions"


def load_solutions(stem: str):
    """The module ``solutions/<stem>.py``, e.g. ``load_solutions("nb01_cnn_layer_math")``."""
    path = SOLUTIONS_DIR / f"{stem}.py"
    spec = importlib.util.spec_from_file_location(f"solutions_{stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
