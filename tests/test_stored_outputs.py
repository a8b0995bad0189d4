"""The notebooks are stored as one clean top-to-bottom run (what `make notebooks` writes):

- code cells numbered 1, 2, ..., N in order (empty cells ignored): a cell stored with
  outputs but no count breaks nbval ("Unrun reference cell has outputs"), and gaps or
  reordering mean the outputs came from a session run out of order;
- no error outputs (nor a traceback printed to stderr, e.g. from a widget callback);
- ``metadata.widgets``, if present, in the shape GitHub renders (a ``"state"`` key under
  ``application/vnd.jupyter.widget-state+json``); GitHub refuses the whole notebook
  otherwise.

The checker is tested on synthetic notebooks too, so it cannot silently pass.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
WIDGET_MIME = "application/vnd.jupyter.widget-state+json"


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else (value or "")


def stored_output_problems(nb: dict) -> list[str]:
    """Everything wrong with a notebook's stored outputs, one readable line each."""
    problems = []
    unrun = []  # cells with no count: a run that stopped, or cells never executed
    expected = 1
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        if not _text(cell.get("source")).strip():
            continue  # nbclient does not execute empty cells
        count = cell.get("execution_count")
        if count is None:
            unrun.append(i)
        elif count != expected:
            problems.append(f"cell {i}: execution_count {count}, expected {expected} "
                            "(re-run the notebook top to bottom with `make notebooks`)")
        expected += 1  # the k-th non-empty code cell must carry count k
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                problems.append(f"cell {i}: stored error output "
                                f"{out.get('ename')}: {out.get('evalue')}")
            elif out.get("output_type") == "stream" and out.get("name") == "stderr" and \
                    "Traceback (most recent call last)" in _text(out.get("text")):
                problems.append(f"cell {i}: a traceback was printed to stderr")
    if unrun:
        problems.append(f"{len(unrun)} code cell(s) not executed (execution_count None), "
                        f"first cell {unrun[0]}: re-run the notebook top to bottom with "
                        "`make notebooks`")
    widgets = nb.get("metadata", {}).get("widgets")
    if widgets is not None:
        state = widgets.get(WIDGET_MIME) if isinstance(widgets, dict) else None
        if not isinstance(state, dict) or "state" not in state:
            problems.append(f"metadata.widgets lacks {WIDGET_MIME} with a 'state' key "
                            "(GitHub will not render the notebook); store widget state with "
                            "`make notebooks`")
    return problems


@pytest.mark.parametrize(
    "path",
    NOTEBOOKS or [pytest.param(None, marks=pytest.mark.skip(reason="no notebooks/*.ipynb yet"))],
    ids=[p.name for p in NOTEBOOKS] or ["no-notebooks"])
def test_notebook_outputs_come_from_one_clean_run(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    problems = stored_output_problems(nb)
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


# --------------------------------------------------------------------------- the checker itself

def _code(source, count, outputs=()):
    return {"cell_type": "code", "source": source, "execution_count": count,
            "metadata": {}, "outputs": list(outputs)}


GOOD = {
    "nbformat": 4, "nbformat_minor": 5,
    "metadata": {"widgets": {WIDGET_MIME: {"version_major": 2, "version_minor": 0, "state": {}}}},
    "cells": [
        {"cell_type": "markdown", "source": "# Title", "metadata": {}},
        _code(["import torch\n", "print(1)"], 1,
              [{"output_type": "stream", "name": "stdout", "text": ["1\n"]}]),
        _code("", None),  # an empty cell is never executed
        _code("x = 2", 2),
        _code("import warnings; warnings.warn('careful')", 3,
              [{"output_type": "stream", "name": "stderr", "text": "UserWarning: careful\n"}]),
    ],
}


def test_checker_accepts_a_clean_notebook():
    assert stored_output_problems(GOOD) == []
    no_widgets = copy.deepcopy(GOOD)
    del no_widgets["metadata"]["widgets"]
    assert stored_output_problems(no_widgets) == []


def _bad(change):
    nb = copy.deepcopy(GOOD)
    change(nb)
    return stored_output_problems(nb)


@pytest.mark.parametrize("change, fragment", [
    (lambda nb: nb["cells"][3].update(execution_count=5), "execution_count 5, expected 2"),
    (lambda nb: nb["cells"][1].update(execution_count=2), "execution_count 2, expected 1"),
    (lambda nb: nb["cells"][3].update(execution_count=1), "execution_count 1, expected 2"),
    (lambda nb: nb["cells"][3].update(execution_count=None),
     "1 code cell(s) not executed (execution_count None), first cell 3"),
    (lambda nb: nb["cells"][3]["outputs"].append(
        {"output_type": "error", "ename": "ValueError", "evalue": "boom", "traceback": []}),
     "stored error output ValueError: boom"),
    (lambda nb: nb["cells"][4]["outputs"].append(
        {"output_type": "stream", "name": "stderr",
         "text": ["Traceback (most recent call last):\n", "  ...\n"]}),
     "traceback was printed"),
    (lambda nb: nb["metadata"]["widgets"][WIDGET_MIME].pop("state"), "'state' key"),
    (lambda nb: nb["metadata"].update(widgets={"state": {}}), "'state' key"),
])
def test_checker_rejects_a_bad_notebook(change, fragment):
    problems = _bad(change)
    assert problems and any(fragment in p for p in problems), problems


def test_one_misnumbered_cell_is_reported_once():
    problems = _bad(lambda nb: nb["cells"][3].update(execution_count=7))
    assert problems == ["cell 3: execution_count 7, expected 2 (re-run the notebook top to "
                        "bottom with `make notebooks`)"]
