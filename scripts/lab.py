"""`make lab` and `make restore NB=05`: the student's own copies of the notebooks, and
JupyterLab serving the repository.

The tracked notebooks in notebooks/ stay as the course ships them: running them in JupyterLab
would write your outputs and edits over the stored ones, and `git pull` would then conflict
with your work. So `make lab` works on copies:

- the first time, every notebooks/NN_*.ipynb is copied to my_notebooks/ (ignored by git); a
  copy that exists is never overwritten, a notebook new to the course is copied when it
  appears. my_notebooks/ sits next to notebooks/, so the relative paths the notebooks use
  (../solutions/, ../gan_course/assets/, runs/) work the same from the copies;
- JupyterLab serves the repository's root folder (solutions/ and gan_course/assets/ open,
  and lab/tree/... URLs work) and opens my_notebooks/00_welcome.ipynb;
- `make restore NB=05` gives you a fresh copy of notebook 05 from notebooks/ (after a
  `git pull`, say); your old copy moves to my_notebooks/replaced/ with the time in its name.

    python scripts/lab.py [JUPYTER LAB OPTIONS...]   # copies, then exec jupyter lab
    python scripts/lab.py --restore 05
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

from gan_course.files import atomic_write  # a crash never leaves half a notebook

REPO = Path(__file__).resolve().parent.parent
WORK = "my_notebooks"
WELCOME = "00_welcome.ipynb"


def course_notebooks(repo: Path) -> list[Path]:
    return sorted((repo / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _copy(src: Path, dest: Path) -> None:
    with atomic_write(dest) as f:
        f.write(src.read_bytes())


def make_copies(repo: Path = REPO) -> list[Path]:
    """Copy each course notebook into my_notebooks/ unless a copy is there; return the new."""
    made = []
    for src in course_notebooks(repo):
        dest = repo / WORK / src.name
        if not dest.exists():
            _copy(src, dest)
            made.append(dest)
    return made


def restore(number: str, repo: Path = REPO) -> tuple[Path, Path | None]:
    """A fresh copy of notebook ``number`` ("05" or "5"); returns (copy, where the old went)."""
    matches = [p for p in course_notebooks(repo) if p.name[:2] == f"{int(number):02d}"] \
        if number.isdigit() else []
    if len(matches) != 1:
        names = ", ".join(p.name[:2] for p in course_notebooks(repo))
        raise SystemExit(f"error: no course notebook numbered {number!r} (there are {names}); "
                         "use e.g. make restore NB=05")
    src = matches[0]
    dest = repo / WORK / src.name
    old = None
    if dest.exists():
        old = repo / WORK / "replaced" / f"{src.stem}.{time.strftime('%Y-%m-%d_%H%M%S')}.ipynb"
        old.parent.mkdir(parents=True, exist_ok=True)
        os.replace(dest, old)
    _copy(src, dest)
    return dest, old


def lab_argv(repo: Path, extra: list[str]) -> list[str]:
    """The jupyter lab command: the repository as the server's root, the welcome copy open
    (also in the URLs it prints, for a browser on another machine)."""
    jupyter = str(Path(sys.executable).with_name("jupyter"))
    return [jupyter, "lab", f"--ServerApp.root_dir={repo}",
            f"--LabApp.default_url=/lab/tree/{WORK}/{WELCOME}", *extra]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--restore", metavar="NN", help="a fresh copy of notebook NN")
    args, extra = parser.parse_known_args(argv)
    if args.restore is not None:
        dest, old = restore(args.restore)
        print(f"fresh copy: {dest.relative_to(REPO)}"
              + (f" (your previous copy is in {old.relative_to(REPO)})" if old else ""))
        return 0
    made = make_copies()
    if made:
        print(f"copied {len(made)} notebook(s) into {WORK}/ to work in (yours to change; "
              "notebooks/ stays as the course ships it)")
    print(f"your notebooks: {WORK}/ (make restore NB=05 for a fresh copy of one)", flush=True)
    argv = lab_argv(REPO, extra)
    os.execv(argv[0], argv)


if __name__ == "__main__":
    sys.exit(main())
