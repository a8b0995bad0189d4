"""The contract every exercise checker keeps, tested once for all of them.

For each notebook's solutions file, every function that has a checker of the same name in
``gan_course.check``: the solution passes (and the verdict is printed; ``quiet=True``
prints nothing), an untouched stub (``raise NotImplementedError``) and a body that returns
``None`` are "not attempted" and raise nothing, and checking leaves torch's global random
stream where it was. The notebooks agree with the checkers: every check cell calls an
existing checker on its stub and is compared by nbval, every checker is asked somewhere,
and every exercise without a checker has a model answer in the solutions file. Each topic's
own test file adds the typical wrong answers for its exercises.
"""

import inspect
import json
import re

import pytest

from gan_course import check
from gan_course.check.core import CheckResult
from exercise_helpers import SOLUTIONS_DIR, assert_leaves_global_rng_alone, load_solutions

# exercises that work in place and so legitimately return None
IN_PLACE = {"dcgan_init", "ema_update"}
CASES = []
for path in sorted(SOLUTIONS_DIR.glob("nb*.py")):
    module = load_solutions(path.stem)
    for name, fn in inspect.getmembers(module, inspect.isfunction):
        if fn.__module__ == module.__name__ and not name.startswith("_") and hasattr(check, name):
            CASES.append(pytest.param(getattr(check, name), fn, id=f"{path.stem}.{name}"))


def _stub(*args, **kwargs):
    raise NotImplementedError  # your code here


def test_every_checker_has_a_solution():
    checkers = {name for name, obj in vars(check).items()
                if inspect.isfunction(obj) and obj.__module__.startswith("gan_course.check.")}
    solved = {param.id.split(".", 1)[1] for param in CASES}
    assert checkers - solved == set(), "checkers without a reference solution"


@pytest.mark.parametrize("checker, solution", CASES)
def test_solution_passes(checker, solution, capsys):
    result = checker(solution)
    assert isinstance(result, CheckResult)
    assert result.status == "pass", result.message
    assert "[PASS]" in capsys.readouterr().out


@pytest.mark.parametrize("checker, solution", CASES)
def test_untouched_stub_is_not_attempted(checker, solution, capsys):
    result = checker(_stub)
    assert result.status == "not attempted", result.message
    assert "[TODO]" in capsys.readouterr().out


@pytest.mark.parametrize("checker, solution", CASES)
def test_returning_none_is_not_attempted(checker, solution, capsys):
    if checker.__name__ in IN_PLACE:
        pytest.skip("returns None by design: an empty body fails on what it left undone")
    assert checker(lambda *args, **kwargs: None).status == "not attempted"
    assert "[TODO]" in capsys.readouterr().out


@pytest.mark.parametrize("checker, solution", CASES)
def test_quiet_returns_the_verdict_without_printing(checker, solution, capsys):
    assert checker(solution, quiet=True).status == "pass"
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("checker, solution", CASES)
def test_checking_leaves_the_global_rng_alone(checker, solution):
    assert_leaves_global_rng_alone(lambda: checker(solution, quiet=True))


# --- the notebooks and the checkers agree ---------------------------------------------------

NOTEBOOKS = sorted((SOLUTIONS_DIR.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CHECK_CALL = re.compile(r"^check\.(\w+)\((\w+)\)\s*$", re.M)
NO_CHECKER = re.compile(r"\*\*Exercise (\d+)[^*]*?(?:\(|— )(thinking|think|explore|experiment|open)\b", re.I)


def _exercise_cells(path):
    """The cells from the "## Exercises" heading to "## References"."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    text = ["".join(c["source"]) for c in cells]
    start = next(i for i, s in enumerate(text) if cells[i]["cell_type"] == "markdown" and s.startswith("## Exercises"))
    end = next(i for i, s in enumerate(text) if i > start and s.startswith("## References"))
    return [(c, t) for c, t in zip(cells[start:end], text[start:end])]


def _solutions_of(path):
    """solutions/nbNN_*.py for notebooks/NN_*.ipynb."""
    return load_solutions(next(p.stem for p in SOLUTIONS_DIR.glob(f"nb{path.stem[:2]}_*.py")))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_check_cell_calls_a_checker_on_its_stub_and_is_compared(path):
    """Each `check.NAME(NAME)` cell calls a checker that exists on the stub of the same name
    defined just above it, and is tagged nbval-check-output (it prints TODO for the stub)."""
    cells = _exercise_cells(path)
    calls = [(c, m) for c, t in cells if c["cell_type"] == "code" for m in CHECK_CALL.finditer(t)]
    assert calls, f"{path.name} has no checked exercise"
    stubs = {name for c, t in cells if c["cell_type"] == "code" for name in re.findall(r"^def (\w+)\(", t, re.M)}
    for cell, m in calls:
        assert hasattr(check, m.group(1)), f"{path.name}: check.{m.group(1)} does not exist"
        assert m.group(1) == m.group(2) and m.group(2) in stubs, f"{path.name}: {m.group(0)} checks no stub"
        assert "nbval-check-output" in cell["metadata"].get("tags", []), f"{path.name}: {m.group(0)} is not tagged"


def test_every_checker_is_asked_in_a_notebook():
    asked = {m.group(1) for path in NOTEBOOKS for c, t in _exercise_cells(path) for m in CHECK_CALL.finditer(t)}
    checkers = {name for name, obj in vars(check).items()
                if inspect.isfunction(obj) and obj.__module__.startswith("gan_course.check.")}
    assert checkers - asked == set(), "checkers that no notebook asks for"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_thinking_exercise_has_a_model_answer(path):
    """Exercises without a checker (thinking, explore, experiment, open) have a model answer
    in their notebook's solutions file, under MODEL_ANSWERS[number]."""
    numbers = {int(m.group(1)) for c, t in _exercise_cells(path) if c["cell_type"] == "markdown"
               for m in NO_CHECKER.finditer(t)}
    answers = getattr(_solutions_of(path), "MODEL_ANSWERS", {})
    assert numbers, f"{path.name}: no thinking exercise found (the pattern is out of date?)"
    assert set(answers) == numbers, f"{path.name}: model answers for {sorted(answers)}, exercises {sorted(numbers)}"
    assert all(len(a.split()) >= 40 for a in answers.values()), f"{path.name}: a model answer is a stub"
