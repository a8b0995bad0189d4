"""``python -m gan_course grade SUBMISSION.ipynb ...``: grade students' notebooks.

For each submitted notebook the grader

1. reads it (a corrupt file gets one row saying so) and finds which course notebook it is:
   by its title cell (``# 05 · ...``), else by a notebook number in its file name
   (``05_mlp_gan_mnist (1).ipynb``, ``alice_05.ipynb``);
2. takes the list of exercises from the *course's own* copy of that notebook (the cells that
   call ``check.NAME(fn_name)``), so that an exercise whose cell was deleted, whose function
   was renamed or whose checker call was removed is still graded;
3. runs the submission top to bottom in a fresh kernel in quick mode (``GAN_COURSE_QUICK=1``),
   in an empty temporary folder, with a time limit per cell and per notebook, going on past
   cells that fail (a cell that runs past its limit is interrupted);
4. then, in the same kernel, for each exercise, imports the course's checkers afresh from
   the package's own files (not the ``check`` name the notebook may have redefined, nor a
   ``gan_course.check`` it may have replaced or patched in ``sys.modules``), calls the checker
   on the student's function found by name, and sends the verdict back in a display message
   of its own type carrying a random nonce that the grader picks only then. Printed text
   (``[PASS] ...``) is never read.

It writes a CSV with one row per submission and exercise (student file, notebook, exercise,
status, message, seconds) and a summary, one row per submission, printed and written next to
the CSV. Statuses: ``pass``, ``fail``, ``not attempted`` (the checkers' own verdicts),
``missing`` (no function of that name after the notebook ran), ``error`` (the grader could not
get a verdict: a corrupt or unmatched file, a dead or stuck kernel, a checker that ran past
the time limit). Cells are counted from 1, markdown cells included, as they appear in the file.

This is not a sandbox: the submission's code runs with your permissions. The README's
"Grading" section says what the grader protects against and what it does not.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from gan_course.files import atomic_write

# the display message type the grader's own code answers with (never printed text)
VERDICT_MIME = "application/vnd.gan-course.verdict+json"
STATUSES = ("pass", "fail", "not attempted", "missing", "error")
CSV_COLUMNS = ("student file", "notebook", "exercise", "status", "message", "seconds")
SUMMARY_COLUMNS = ("student file", "notebook", "pass", "fail", "not attempted", "missing",
                   "error", "cell errors", "seconds", "note")
PACKAGE_DIR = Path(__file__).resolve().parent

_CHECK_CALL = re.compile(r"\bcheck\.([A-Za-z_]\w*)\(\s*([A-Za-z_]\w*)\s*\)")
_TITLE = re.compile(r"^#\s+(\d{2})\b", re.M)   # "# 05 · An MLP GAN on MNIST"


# ------------------------------------------------------------------------ the course's side

@dataclass
class CourseNotebook:
    number: str                   # "05"
    name: str                     # "05_mlp_gan_mnist"
    exercises: list[tuple[str, str]]   # (checker name, student function name), in order
    defined_in: dict[str, str]    # function name -> id of the course cell that defines it


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _defines(source: str, name: str) -> bool:
    return re.search(rf"^\s*(?:async\s+)?def\s+{re.escape(name)}\s*\(|^{re.escape(name)}\s*=",
                     source, re.M) is not None


def read_course_notebook(path: Path) -> CourseNotebook:
    """The exercises of one course notebook: every ``check.NAME(fn)`` call in its code cells."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    exercises, defined_in = [], {}
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        for checker, fn in _CHECK_CALL.findall(_source(cell)):
            if (checker, fn) not in exercises:
                exercises.append((checker, fn))
    for cell in nb["cells"]:
        for _, fn in exercises:
            if cell["cell_type"] == "code" and _defines(_source(cell), fn) and fn not in defined_in:
                defined_in[fn] = cell.get("id", "")
    path = Path(path)
    return CourseNotebook(path.name[:2], path.stem, exercises, defined_in)


def default_course_dir() -> Path:
    return PACKAGE_DIR.parent / "notebooks"


def load_course(folder: Path | None = None) -> dict[str, CourseNotebook]:
    """The course notebooks by number ("00" ... ), read from ``folder`` (default: the
    ``notebooks/`` folder of the repository this package sits in)."""
    folder = Path(folder) if folder else default_course_dir()
    paths = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise FileNotFoundError(
            f"no course notebooks (NN_name.ipynb) in {folder}: grading needs the course's own "
            "notebooks to know each one's exercises. Run it from a clone of the course "
            "repository (pip install -e .), or pass --course PATH/TO/notebooks.")
    return {p.name[:2]: read_course_notebook(p) for p in paths}


def match_course_notebook(nb: dict, filename: str, course: dict[str, CourseNotebook]):
    """``(course notebook, how)`` for a submission, or ``(None, why not)``.

    The title cell comes first: it is what the student worked in, and students rename files
    ("05_mlp_gan_mnist (1).ipynb", "alice_05.ipynb"). Then the file name: a course notebook's
    name inside it, else exactly one two-digit notebook number.
    """
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            m = _TITLE.search(_source(cell))
            if m and m[1] in course:
                return course[m[1]], f"title cell '# {m[1]} ...'"
    stem = Path(filename).stem
    for number, c in course.items():
        if c.name in stem:
            return c, "file name"
    numbers = {n for n in re.findall(r"(?<![0-9])([0-9]{2})(?![0-9])", stem) if n in course}
    if len(numbers) == 1:
        number = numbers.pop()
        return course[number], f"notebook number {number} in the file name"
    why = "several notebook numbers in the file name" if numbers else \
        "no notebook number in the file name"
    return None, (f"cannot tell which course notebook this is: no title cell '# NN · ...' and "
                  f"{why}. Keep the title cell, or name the file like 05_mlp_gan_mnist.ipynb.")


# ------------------------------------------------------------------------ the kernel's side

# Runs inside the student's kernel, after the student's cells, once per exercise, in a
# namespace of its own (so a name the notebook shadowed, e.g. `print` or `check`, is not
# used). ARGS and USER_NS are given by the grader.
_KERNEL_CODE = r'''
def _grade(args, user_ns):
    import contextlib, importlib, importlib.machinery, importlib.util, inspect, io, sys, time
    from IPython.display import publish_display_data

    verdict = {"nonce": args["nonce"], "exercise": args["checker"]}

    def send(status, message, seconds=None):
        verdict.update(status=status, message=message, seconds=seconds)
        publish_display_data({args["mime"]: verdict})

    # The course's checkers, imported afresh from the package's files: drop whatever the
    # notebook imported, replaced or patched under the gan_course name, and import through
    # the standard finders only (not a finder the notebook may have added).
    pkg_dir = args["package"]
    for name in [m for m in sys.modules if m == "gan_course" or m.startswith("gan_course.")]:
        del sys.modules[name]
    for key in [k for k in sys.path_importer_cache if str(k).startswith(pkg_dir)]:
        del sys.path_importer_cache[key]
    saved_meta_path = list(sys.meta_path)
    sys.meta_path[:] = [importlib.machinery.BuiltinImporter, importlib.machinery.FrozenImporter,
                        importlib.machinery.PathFinder]
    try:
        spec = importlib.util.spec_from_file_location(
            "gan_course", pkg_dir + "/__init__.py", submodule_search_locations=[pkg_dir])
        package = importlib.util.module_from_spec(spec)
        sys.modules["gan_course"] = package
        spec.loader.exec_module(package)
        check = importlib.import_module("gan_course.check")
        core = importlib.import_module("gan_course.check.core")
    finally:
        sys.meta_path[:] = saved_meta_path
    if not check.__file__.startswith(pkg_dir):
        return send("error", f"the checkers were loaded from {check.__file__}, not from {pkg_dir}")
    checker = getattr(check, args["checker"], None)
    if checker is None:
        return send("error", f"gan_course.check has no checker {args['checker']!r} "
                             "(the course notebook calls it): is the package up to date?")

    fn = user_ns.get(args["function"])
    if fn is None or not callable(fn):
        what = "not defined" if fn is None else f"a {type(fn).__name__}, not a function"
        return send("missing", f"`{args['function']}` is {what} after the notebook ran")

    # quiet=True where the checker takes it; stdout redirected for those that do not yet
    # (and for whatever the student's function prints)
    kwargs = {"quiet": True} if "quiet" in inspect.signature(checker).parameters else {}
    start = time.perf_counter()
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            result = checker(fn, **kwargs)
    except BaseException as e:  # the checker catches Exception; this is SystemExit and the like
        return send("error", f"checking `{args['function']}` stopped with {type(e).__name__}: {e}",
                    time.perf_counter() - start)
    seconds = time.perf_counter() - start
    if type(result) is not core.CheckResult or result.status not in args["statuses"]:
        return send("error", f"the checker returned {result!r}, not a CheckResult", seconds)
    send(result.status, result.message, seconds)


_grade(ARGS, USER_NS)
'''


def _grading_cell_source(args: dict) -> str:
    return (f"exec(compile({_KERNEL_CODE!r}, '<gan_course grader>', 'exec'), "
            f"{{'__builtins__': __import__('builtins'), 'ARGS': {args!r}, 'USER_NS': globals()}})")


# ------------------------------------------------------------------------ running one notebook

@dataclass
class Limits:
    cell: int = 300        # seconds a cell (or a checker) may run before it is interrupted
    notebook: int = 900    # seconds for all of the student's cells together


@dataclass
class Row:
    exercise: str
    status: str
    message: str
    seconds: float | None = None


@dataclass
class Graded:
    path: str
    notebook: str = ""
    rows: list[Row] = field(default_factory=list)
    cell_errors: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def _kernel_env() -> dict[str, str]:
    env = dict(os.environ)
    env["GAN_COURSE_QUICK"] = "1"
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"  # no debugger warning on stderr
    return env


class _Run:
    """One submission executed in one kernel; what happened to each cell."""

    def __init__(self, nb, limits: Limits, sockets: str):
        from nbclient import NotebookClient

        self.nb = nb
        self.limits = limits
        self.errors: dict[int, str] = {}     # cell index -> "raised SyntaxError: ..."
        self.timed_out: set[int] = set()     # cells interrupted at their time limit
        self.not_run_from: int | None = None  # index of the first cell the time limit skipped
        self.died: str | None = None          # why the kernel stopped answering
        self.client = NotebookClient(
            nb, timeout=limits.cell, allow_errors=True, interrupt_on_timeout=True,
            # after interrupting a cell that ran too long, go on at once (not wait again)
            error_on_timeout={"ename": "TimeLimit", "evalue": "", "traceback": []},
            kernel_name="python3", record_timing=False, shutdown_kernel="immediate",
            on_cell_error=self._on_error)
        # local sockets in a private folder, not TCP ports: no one else can talk to the kernel
        self.client.km = self.client.create_kernel_manager()
        self.client.km.transport = "ipc"
        self.client.km.ip = os.path.join(sockets, "kernel")

    def _on_error(self, cell, cell_index, execute_reply):
        content = execute_reply["content"]
        if content.get("ename") == "TimeLimit":
            self.timed_out.add(cell_index)
            text = (f"was interrupted at the notebook's {self.limits.notebook} s limit"
                    if self.client.timeout < self.limits.cell else
                    f"ran past its {self.limits.cell} s limit and was interrupted")
        else:
            text = f"raised {content.get('ename')}: {content.get('evalue')}"
        self.errors[cell_index] = text

    def _execute(self, cell, index: int, timeout: float, store_history: bool = True):
        self.client.timeout = max(1, math.ceil(timeout))
        self.client.execute_cell(cell, index, store_history=store_history)

    def _responsive(self) -> bool:
        """After an interrupt: does the kernel still answer? (Code that catches
        KeyboardInterrupt in a loop never lets it.)"""
        import nbformat

        probe = nbformat.v4.new_code_cell("pass")
        self.nb.cells.append(probe)
        index = len(self.nb.cells) - 1
        try:
            self._execute(probe, index, min(15, self.limits.cell), store_history=False)
            return index not in self.timed_out
        finally:
            self.errors.pop(index, None)
            self.timed_out.discard(index)
            self.nb.cells.pop()

    def run_student_cells(self) -> None:
        from nbclient.exceptions import DeadKernelError

        deadline = time.monotonic() + self.limits.notebook
        for index, cell in enumerate(list(self.nb.cells)):
            if cell.get("cell_type") != "code" or not _source(cell).strip():
                continue
            left = deadline - time.monotonic()
            if left < 1:
                self.not_run_from = index
                return
            try:
                self._execute(cell, index, min(self.limits.cell, left))
            except DeadKernelError:
                self.died = f"the kernel died while running cell {index + 1}"
                return
            if index in self.timed_out and not self._responsive():
                self.died = (f"the kernel stopped answering after cell {index + 1} was interrupted "
                             "(code that catches KeyboardInterrupt?)")
                return

    def grade(self, checker: str, function: str) -> Row:
        """Run the grader's own code for one exercise; the verdict from its display message."""
        import nbformat
        from nbclient.exceptions import DeadKernelError

        if self.died:
            return Row(checker, "error", f"not checked: {self.died}")
        nonce = secrets.token_hex(16)  # picked now, after every student cell has run
        cell = nbformat.v4.new_code_cell(_grading_cell_source({
            "nonce": nonce, "checker": checker, "function": function, "mime": VERDICT_MIME,
            "package": str(PACKAGE_DIR), "statuses": list(STATUSES[:3])}))
        self.nb.cells.append(cell)
        index = len(self.nb.cells) - 1
        start = time.monotonic()
        try:
            self._execute(cell, index, self.limits.cell, store_history=False)
        except DeadKernelError:
            self.died = f"the kernel died while checking {checker}"
            return Row(checker, "error", f"{self.died} (does `{function}` end the process?)",
                       time.monotonic() - start)
        finally:
            self.nb.cells.pop()  # the grader's cell is not one of the student's
        seconds = time.monotonic() - start
        error, timed_out = self.errors.pop(index, None), index in self.timed_out
        self.timed_out.discard(index)
        if error:
            if timed_out:
                if not self._responsive():
                    self.died = "the kernel stopped answering"
                return Row(checker, "error", f"checking `{function}` ran past the "
                           f"{self.limits.cell} s limit (an endless loop?)", seconds)
            return Row(checker, "error", f"the grader's check {error}", seconds)
        verdicts = [o["data"][VERDICT_MIME] for o in cell.get("outputs", [])
                    if o.get("output_type") == "display_data" and VERDICT_MIME in o.get("data", {})]
        mine = [v for v in verdicts if isinstance(v, dict) and v.get("nonce") == nonce
                and v.get("exercise") == checker]
        if len(mine) != 1 or len(verdicts) != 1 or mine[0].get("status") not in STATUSES:
            return Row(checker, "error", f"expected one verdict from the grader's own code, got "
                       f"{len(verdicts)} ({len(mine)} genuine): has the notebook changed how "
                       "the kernel displays output?", seconds)
        return Row(checker, mine[0]["status"], str(mine[0].get("message", "")), seconds)


def _why_missing(run: _Run, nb, function: str, course_cell_id: str) -> str:
    """Say which cell should have defined ``function`` and what happened to it."""
    for index, cell in enumerate(nb.cells):
        if cell.get("cell_type") == "code" and _defines(_source(cell), function):
            if index in run.errors:
                return f"its cell (cell {index + 1}) {run.errors[index]}"
            if run.not_run_from is not None and index >= run.not_run_from:
                return (f"its cell (cell {index + 1}) did not run: the notebook ran past its "
                        f"{run.limits.notebook} s limit before it")
            return f"cell {index + 1} defines it, but it was gone when the notebook ended"
    for index, cell in enumerate(nb.cells):
        if course_cell_id and cell.get("id") == course_cell_id:
            names = re.findall(r"^\s*def\s+(\w+)\s*\(", _source(cell), re.M)
            if names:
                defined = ", ".join(f"`{n}`" for n in names)
                return (f"its cell (cell {index + 1}) now defines {defined} instead: keep the "
                        f"name `{function}`")
    return "no cell defines it (was its cell deleted, or the function renamed?)"


def read_submission(path: Path):
    """The notebook at ``path`` (nbformat 4), or raise ValueError saying why it is unreadable."""
    import nbformat

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"cannot read the file: {e}") from None
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as e:  # NotJSONError, a schema ValidationError, ...
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"not a readable notebook ({type(e).__name__}: {first[:200]})") from None
    if not isinstance(nb.get("cells"), list):
        raise ValueError("not a readable notebook (no list of cells)")
    return nb


def grade_notebook(path: Path, course: dict[str, CourseNotebook], limits: Limits) -> Graded:
    """Grade one submission: a row per exercise of its course notebook (or one error row)."""
    start = time.monotonic()
    graded = Graded(str(path))
    try:
        nb = read_submission(path)
    except ValueError as e:
        graded.rows.append(Row("", "error", str(e)))
        return graded
    target, how = match_course_notebook(nb, Path(path).name, course)
    if target is None:
        graded.rows.append(Row("", "error", how))
        return graded
    graded.notebook = target.name
    graded.notes.append(f"matched by {how}")
    with tempfile.TemporaryDirectory(prefix="gan-course-grade-") as tmp:
        workdir, sockets = Path(tmp, "work"), Path(tmp, "sockets")
        workdir.mkdir()
        sockets.mkdir(mode=0o700)
        run = _Run(nb, limits, str(sockets))
        _run_and_grade(run, nb, target, graded, workdir)
    graded.cell_errors = len(run.errors)
    if run.not_run_from is not None:
        graded.notes.append(f"stopped before cell {run.not_run_from + 1}: notebook limit "
                            f"{limits.notebook} s")
    if run.died:
        graded.notes.append(run.died)
    for index in sorted(run.errors):
        graded.notes.append(f"cell {index + 1} {run.errors[index]}")
    graded.seconds = time.monotonic() - start
    return graded


def _run_and_grade(run: _Run, nb, target: CourseNotebook, graded: Graded, workdir: Path) -> None:
    try:
        with run.client.setup_kernel(env=_kernel_env(), cwd=str(workdir)):
            run.run_student_cells()
            for checker, function in target.exercises:
                row = run.grade(checker, function)
                if row.status == "missing":
                    row.message += ": " + _why_missing(run, nb, function,
                                                       target.defined_in.get(function, ""))
                graded.rows.append(row)
    except Exception as e:  # the kernel would not start, or nbclient failed: say so, go on
        done = {r.exercise for r in graded.rows}
        graded.rows += [Row(c, "error", f"not checked: {type(e).__name__}: {e}")
                        for c, _ in target.exercises if c not in done]


# ------------------------------------------------------------------------ many notebooks

def find_submissions(paths) -> list[Path]:
    """The notebooks named, with folders searched (checkpoint folders skipped)."""
    found = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(q for q in p.rglob("*.ipynb") if ".ipynb_checkpoints" not in q.parts)
        else:
            found.append(p)
    return found


def _rows(graded: Graded):
    for r in graded.rows:
        yield {"student file": graded.path, "notebook": graded.notebook, "exercise": r.exercise,
               "status": r.status, "message": r.message,
               "seconds": "" if r.seconds is None else f"{r.seconds:.2f}"}


def summary_row(graded: Graded) -> dict:
    counts = {s: sum(r.status == s for r in graded.rows) for s in STATUSES}
    note = "; ".join(graded.notes)
    if not graded.notebook and graded.rows:
        note = graded.rows[0].message
    return {"student file": graded.path, "notebook": graded.notebook, **counts,
            "cell errors": graded.cell_errors, "seconds": f"{graded.seconds:.1f}", "note": note}


def write_csv(path: Path, columns, rows) -> None:
    with atomic_write(path, "w") as f:
        writer = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def format_table(rows: list[dict], columns, width: int = 60) -> str:
    """A plain-text table, long cells cut to ``width`` characters."""
    cells = [[str(r[c]) if len(str(r[c])) <= width else str(r[c])[:width - 3] + "..."
              for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


def grade(paths, out: Path, course_dir: Path | None = None, limits: Limits = Limits(),
          log=print) -> list[Graded]:
    """Grade every submission in ``paths``; write ``out`` (CSV) and ``<out>_summary.csv``."""
    course = load_course(course_dir)
    results = []
    for path in find_submissions(paths):
        log(f"grading {path} ...", flush=True)
        try:
            graded = grade_notebook(path, course, limits)
        except Exception as e:  # never let one submission stop the others
            graded = Graded(str(path), rows=[Row("", "error", f"grader failed: "
                                                 f"{type(e).__name__}: {e}")])
        results.append(graded)
        counts = summary_row(graded)
        log(f"  {graded.notebook or '?'}: " + ", ".join(
            f"{counts[s]} {s}" for s in STATUSES if counts[s]) + f" ({graded.seconds:.0f} s)",
            flush=True)
    out = Path(out)
    write_csv(out, CSV_COLUMNS, [row for g in results for row in _rows(g)])
    summary = [summary_row(g) for g in results]
    summary_path = out.with_name(out.stem + "_summary.csv")
    write_csv(summary_path, SUMMARY_COLUMNS, summary)
    log("\n" + format_table(summary, SUMMARY_COLUMNS))
    log(f"\nper exercise: {out}\nsummary:      {summary_path}")
    return results


def grade_command(args) -> int:
    """``python -m gan_course grade SUBMISSION... [-o grades.csv] [...]``."""
    paths = find_submissions(args.submissions)
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        print("error: no such file: " + ", ".join(missing), file=sys.stderr)
        return 2
    if not paths:
        print("error: no .ipynb files found in " + ", ".join(args.submissions), file=sys.stderr)
        return 2
    try:
        grade(paths, Path(args.output), args.course,
              Limits(cell=args.cell_timeout, notebook=args.notebook_timeout))
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
