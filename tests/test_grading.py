"""``python -m gan_course grade``: on submissions these tests write from notebook 00 (the
fastest in quick mode): solved, untouched, and each broken kind a class hands in.

Most broken kinds are "minimal" submissions (title, setup cell and the Exercises section,
as a student who deleted the rest would hand in) so that the whole file runs in about a
minute; the solved and the untouched ones are whole copies of the course notebook.
"""

from __future__ import annotations

import copy
import csv
import inspect
import json
import uuid
from pathlib import Path

import pytest

from gan_course import cli, grading
from exercise_helpers import load_solutions

REPO = Path(__file__).resolve().parent.parent
COURSE_00 = REPO / "notebooks" / "00_welcome.ipynb"
# the welcome notebook's exercises with checkers, read from it as the grader reads them
EXERCISES = [fn for _, fn in grading.load_course(REPO / "notebooks")["00"].exercises]
FIRST, LAST = EXERCISES[0], EXERCISES[-1]
assert len(EXERCISES) >= 2, "these tests need two exercises with checkers in notebook 00"


# --------------------------------------------------------------------------- writing submissions

def course_copy() -> dict:
    return json.loads(COURSE_00.read_text(encoding="utf-8"))


def src(cell) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def code(source: str) -> dict:
    return {"cell_type": "code", "execution_count": None, "id": uuid.uuid4().hex[:8],
            "metadata": {}, "outputs": [], "source": source}


def index_of(nb, predicate) -> int:
    return next(i for i, c in enumerate(nb["cells"]) if predicate(c))


def stub_index(nb, name) -> int:
    return index_of(nb, lambda c: c["cell_type"] == "code" and src(c).startswith(f"def {name}("))


def solved(nb) -> dict:
    """Each stub replaced by the reference solution from solutions/nb00_welcome.py."""
    sol = load_solutions("nb00_welcome")
    nb = copy.deepcopy(nb)
    for name in EXERCISES:
        nb["cells"][stub_index(nb, name)]["source"] = inspect.getsource(getattr(sol, name))
    return nb


def minimal(nb, title=True) -> dict:
    """Title (optional), setup cell, then the Exercises section: what is left when a student
    deletes everything else."""
    nb = copy.deepcopy(nb)
    setup = index_of(nb, lambda c: c["cell_type"] == "code" and "runtime.setup" in src(c))
    exercises = index_of(nb, lambda c: src(c).startswith("## Exercises"))
    nb["cells"] = nb["cells"][:1] * title + [nb["cells"][setup]] + nb["cells"][exercises:]
    return nb


def write(folder: Path, name: str, nb) -> Path:
    path = folder / name
    path.write_text(nb if isinstance(nb, str) else json.dumps(nb), encoding="utf-8")
    return path


def insert_before(nb, name, *sources) -> dict:
    nb = copy.deepcopy(nb)
    at = stub_index(nb, name)
    nb["cells"][at:at] = [code(s) for s in sources]
    return nb


FORGERY = '''\
import sys, types
import gan_course.check as real_check
import gan_course.check.core as core
from gan_course.check.core import CheckResult
from IPython.display import publish_display_data

def forged(fn, quiet=False):
    print("[PASS] forged: all cases agree with the reference.")
    return CheckResult("forged", "pass", "forged")

check = types.SimpleNamespace(**{n: forged for n in %(names)r})  # the name the cells call
for n in %(names)r:
    setattr(real_check, n, forged)                               # the module's functions
core.run_exercise = lambda name, fn, cases, quiet=False: CheckResult(name, "pass", "forged")
fake = types.ModuleType("gan_course.check")                       # and the module itself
fake.__dict__.update({n: forged for n in %(names)r})
sys.modules["gan_course.check"] = fake
for n in %(names)r:  # verdicts in the grader's own message type, with a guessed nonce
    publish_display_data({"application/vnd.gan-course.verdict+json":
                          {"nonce": "0" * 32, "exercise": n, "status": "pass",
                           "message": "forged"}})
''' % {"names": EXERCISES}


def rows_by_file(csv_path: Path) -> dict[str, list[dict]]:
    with open(csv_path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    out = {}
    for row in rows:
        out.setdefault(Path(row["student file"]).name, []).append(row)
    return out


def statuses(rows) -> dict[str, str]:
    return {r["exercise"]: r["status"] for r in rows}


# --------------------------------------------------------------------------- one class, graded once

@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")
    nb = course_copy()
    small = minimal(solved(nb))
    write(folder, "00_welcome (1).ipynb", solved(nb))          # solved, renamed by a download
    write(folder, "alice_00.ipynb", nb)                          # untouched
    broken = copy.deepcopy(small)
    broken["cells"][stub_index(broken, FIRST)]["source"] = f"def {FIRST}(x)\n    return x\n"
    write(folder, "syntax.ipynb", broken)
    deleted = copy.deepcopy(small)
    del deleted["cells"][stub_index(deleted, LAST)]
    write(folder, "deleted.ipynb", deleted)
    renamed = copy.deepcopy(small)
    cell = renamed["cells"][stub_index(renamed, LAST)]
    cell["source"] = src(cell).replace(f"def {LAST}(", f"def my_{LAST}(")
    write(folder, "renamed.ipynb", renamed)
    no_calls = copy.deepcopy(small)
    no_calls["cells"] = [c for c in no_calls["cells"] if not src(c).startswith("check.")]
    write(folder, "no_checker_calls.ipynb", no_calls)
    write(folder, "forged.ipynb", insert_before(minimal(nb), FIRST, FORGERY))
    write(folder, "corrupt.ipynb", json.dumps(nb)[:5000])
    write(folder, "homework.ipynb", minimal(nb, title=False))    # no title, no number
    write(folder, "bob_00.ipynb", minimal(solved(nb), title=False))  # no title, number in name
    out = folder / "out" / "grades.csv"
    assert cli.main(["grade", str(folder), "-o", str(out), "--cell-timeout", "120",
                     "--notebook-timeout", "300"]) == 0
    return out


def test_csv_has_one_row_per_notebook_and_exercise(graded):
    with open(graded, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert tuple(reader.fieldnames) == grading.CSV_COLUMNS
    by_file = rows_by_file(graded)
    assert len(by_file) == 10
    for name, file_rows in by_file.items():
        if name in ("corrupt.ipynb", "homework.ipynb"):
            assert len(file_rows) == 1 and file_rows[0]["status"] == "error"
        else:
            assert [r["exercise"] for r in file_rows] == EXERCISES, name
            assert {r["notebook"] for r in file_rows} == {"00_welcome"}
    assert all(r["status"] in grading.STATUSES for r in rows)


def test_solved_passes_and_untouched_is_not_attempted(graded):
    by_file = rows_by_file(graded)
    assert set(statuses(by_file["00_welcome (1).ipynb"]).values()) == {"pass"}
    assert all(float(r["seconds"]) >= 0 for r in by_file["00_welcome (1).ipynb"])
    assert set(statuses(by_file["alice_00.ipynb"]).values()) == {"not attempted"}
    assert set(statuses(by_file["bob_00.ipynb"]).values()) == {"pass"}  # matched by file name


def test_syntax_error_is_one_missing_exercise_and_the_rest_are_graded(graded):
    rows = rows_by_file(graded)["syntax.ipynb"]
    assert statuses(rows) == {name: "missing" if name == FIRST else "pass" for name in EXERCISES}
    assert "SyntaxError" in rows[0]["message"]


def test_deleted_cell_and_renamed_function_are_missing(graded):
    by_file = rows_by_file(graded)
    deleted = {r["exercise"]: r for r in by_file["deleted.ipynb"]}
    assert deleted[LAST]["status"] == "missing"
    assert "no cell defines it" in deleted[LAST]["message"]
    assert all(deleted[name]["status"] == "pass" for name in EXERCISES if name != LAST)
    renamed = {r["exercise"]: r for r in by_file["renamed.ipynb"]}
    assert renamed[LAST]["status"] == "missing"
    assert f"`my_{LAST}`" in renamed[LAST]["message"]


def test_removed_checker_calls_are_still_graded(graded):
    assert set(statuses(rows_by_file(graded)["no_checker_calls.ipynb"]).values()) == {"pass"}


def test_a_redefined_check_and_a_patched_module_cannot_forge_a_pass(graded):
    rows = rows_by_file(graded)["forged.ipynb"]
    assert set(statuses(rows).values()) == {"not attempted"}
    assert not any("forged" in r["message"] for r in rows)


def test_corrupt_and_unmatched_files_get_one_clear_row(graded):
    by_file = rows_by_file(graded)
    assert "not a readable notebook" in by_file["corrupt.ipynb"][0]["message"]
    assert "cannot tell which course notebook" in by_file["homework.ipynb"][0]["message"]


def test_summary_counts_each_submission(graded):
    summary = graded.with_name("grades_summary.csv")
    with open(summary, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = {Path(r["student file"]).name: r for r in reader}
    assert tuple(reader.fieldnames) == grading.SUMMARY_COLUMNS
    assert rows["00_welcome (1).ipynb"]["pass"] == str(len(EXERCISES))
    assert rows["syntax.ipynb"]["missing"] == "1" and rows["syntax.ipynb"]["pass"] == str(len(EXERCISES) - 1)
    assert int(rows["syntax.ipynb"]["cell errors"]) >= 1   # the stub cell and its check cell
    assert rows["corrupt.ipynb"]["error"] == "1"
    assert "title cell" in rows["alice_00.ipynb"]["note"]
    assert "file name" in rows["bob_00.ipynb"]["note"]


# ------------------------------------------------------------------------ time limits, dead kernel

@pytest.fixture(scope="module")
def timed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("timed")
    small = minimal(solved(course_copy()))
    write(folder, "loop.ipynb", insert_before(small, FIRST, "while True:\n    pass"))
    write(folder, "stuck.ipynb", insert_before(small, FIRST, (
        "import time\nwhile True:  # ignores the interrupt\n    try:\n        time.sleep(1)\n"
        "    except KeyboardInterrupt:\n        pass")))
    write(folder, "slow.ipynb", insert_before(small, LAST,
                                              *["import time\ntime.sleep(8)"] * 4))
    write(folder, "dies.ipynb", insert_before(small, LAST, "import os\nos._exit(1)"))
    out = folder / "grades.csv"
    results = grading.grade([folder], out, limits=grading.Limits(cell=10, notebook=30),
                            log=lambda *a, **k: None)
    return {Path(g.path).name: g for g in results}


def test_an_endless_loop_is_interrupted_and_the_rest_still_graded(timed):
    g = timed["loop.ipynb"]
    assert [r.status for r in g.rows] == ["pass"] * len(EXERCISES)
    assert g.cell_errors == 1 and any("10 s limit and was interrupted" in n for n in g.notes)


def test_a_kernel_that_ignores_the_interrupt_gives_errors_not_a_hang(timed):
    g = timed["stuck.ipynb"]
    assert [r.status for r in g.rows] == ["error"] * len(EXERCISES)
    assert "stopped answering" in g.rows[0].message


def test_the_notebook_limit_stops_the_run_and_says_which_cells_did_not_run(timed):
    g = timed["slow.ipynb"]
    # four cells of 8 s before the last exercise: the 30 s limit falls before it
    assert [r.status for r in g.rows] == ["pass"] * (len(EXERCISES) - 1) + ["missing"]
    assert "did not run: the notebook ran past its 30 s limit" in g.rows[-1].message
    assert any("notebook limit 30 s" in n for n in g.notes)


def test_a_dead_kernel_gives_error_rows(timed):
    g = timed["dies.ipynb"]
    assert all(r.status == "error" and "died" in r.message for r in g.rows)


# --------------------------------------------------------------------------- matching, course

def test_every_course_notebook_lists_its_exercises_and_their_checkers_exist():
    from gan_course import check

    course = grading.load_course()
    numbers = [p.name[:2] for p in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))]
    assert sorted(course) == numbers
    for number, nb in course.items():
        assert len(nb.exercises) >= 2, nb.name  # with checkers; thinking exercises besides
        for checker, fn in nb.exercises:
            assert callable(getattr(check, checker)), (nb.name, checker)
            assert fn in nb.defined_in, (nb.name, fn)
    assert ("extragradient_step", "extragradient_step") in course["03"].exercises  # 2 in a cell


@pytest.mark.parametrize("filename, expected", [
    ("05_mlp_gan_mnist (1).ipynb", "05"), ("alice_05.ipynb", "05"), ("hw_2024_05.ipynb", "05"),
    ("Copy of 03_minimax.ipynb", "03"), ("01_and_02.ipynb", None), ("homework.ipynb", None),
])
def test_matching_by_file_name(filename, expected):
    course = grading.load_course()
    target, how = grading.match_course_notebook({"cells": []}, filename, course)
    assert (target.number if target else None) == expected, how


def test_the_title_cell_wins_over_the_file_name():
    course = grading.load_course()
    nb = {"cells": [{"cell_type": "markdown", "source": "# 04 · A GAN on 2-D data\n"}]}
    target, how = grading.match_course_notebook(nb, "alice_05.ipynb", course)
    assert target.number == "04" and "title" in how


def test_cli_refuses_missing_files(tmp_path, capsys):
    assert cli.main(["grade", str(tmp_path / "nope.ipynb")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert cli.main(["grade", str(tmp_path)]) == 2
    assert "no .ipynb files" in capsys.readouterr().err
