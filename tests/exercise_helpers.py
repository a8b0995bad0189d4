"""Helpers for the exercise tests: load a notebook's reference solutions, and assert that a
checker fails a wrong answer with the hint aimed at it.

The solutions are plain files outside the package (``solutions/nbNN_*.py``: students should
not find them imported by the course), so tests load them by path.
"""

import importlib.util
from pathlib import Path

import torch

SOLUTIONS_DIR = Path(__file__).resolve().parents[1] / "solutions"


def load_solutions(stem: str):
    """The module ``solutions/<stem>.py``, e.g. ``load_solutions("nb01_cnn_layer_math")``."""
    path = SOLUTIONS_DIR / f"{stem}.py"
    spec = importlib.util.spec_from_file_location(f"solutions_{stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fails_with(checker, fn, *hint_words):
    """Run ``checker`` on the wrong answer ``fn``: it must fail, naming each of ``hint_words``."""
    result = checker(fn, quiet=True)
    assert result.status == "fail", f"{fn.__name__} should fail but got {result.status}"
    for word in hint_words:
        assert word in result.message, f"{fn.__name__}: {word!r} not in {result.message!r}"
    return result


def assert_leaves_global_rng_alone(*calls):
    """Each of ``calls`` (no arguments) must leave torch's global random stream where it was:
    a checker that draws from it would change what a student's next cell computes."""
    torch.manual_seed(123)
    want = torch.rand(3)
    torch.manual_seed(123)
    for call in calls:
        call()
    torch.testing.assert_close(torch.rand(3), want, rtol=0, atol=0)
