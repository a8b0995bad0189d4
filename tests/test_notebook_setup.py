"""What every notebook needs to open anywhere: Binder and Colab badges in its title cell, the
same install-if-missing snippet at the top of its setup cell (tried here on a fresh virtual
environment that has torch but not the course), and the kernelspec ipykernel writes (so that
opening a notebook does not mark it changed)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
GITHUB = "https://github.com/gan-course/gan-course"


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def src(cell) -> str:
    return "".join(cell["source"])


def setup_cell(nb) -> dict:
    return next(c for c in nb["cells"] if c["cell_type"] == "code" and "runtime.setup(" in src(c))


def install_snippet(nb) -> str:
    """The setup cell's lines up to and including its `%pip install`."""
    lines = src(setup_cell(nb)).splitlines(keepends=True)
    end = next(i for i, line in enumerate(lines) if line.lstrip().startswith("%pip install"))
    return "".join(lines[:end + 1])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_title_cell_has_binder_and_colab_badges(path):
    title = src(load(path)["cells"][0])
    binder = (f"(https://mybinder.org/v2/gh/gan-course/gan-course/main?urlpath=lab/tree/"
              f"notebooks/{path.name})")
    colab = ("[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
             f"(https://colab.research.google.com/github/gan-course/gan-course/blob/main/"
             f"notebooks/{path.name})")
    badges = next(line for line in title.splitlines() if line.startswith("[![Binder]"))
    assert binder in badges and colab in badges, badges


def test_install_snippet_is_the_same_in_every_notebook():
    snippets = {path.name: install_snippet(load(path)) for path in NOTEBOOKS}
    assert len(set(snippets.values())) == 1, snippets
    snippet = next(iter(snippets.values()))
    for path in NOTEBOOKS:  # the first lines of the setup cell: before anything imports it
        assert src(setup_cell(load(path))).startswith(snippet), path.name
    assert re.search(r"^try:.*\n    import gan_course\nexcept ImportError:\n", snippet)
    assert f'%pip install --quiet "gan_course @ git+{GITHUB}@main"' in snippet


def test_package_dependencies_are_floors_so_pip_keeps_what_colab_has():
    # An exact pin or a cap would make pip replace Colab's own torch (a CUDA build) or numpy.
    text = (REPO / "pyproject.toml").read_text()
    deps = re.search(r"^dependencies\s*=\s*\[(.*?)\]", text, re.M | re.S)[1]
    for dep in re.findall(r'"([^"]+)"', deps):
        assert re.fullmatch(r"[A-Za-z0-9_.\-]+>=[0-9.]+", dep), f"{dep!r} is not a plain floor"


KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def test_stored_kernelspec_is_what_ipykernel_writes():
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec("python3")  # ipykernel's own python3 spec
    assert {"display_name": spec.display_name, "language": spec.language,
            "name": "python3"} == KERNELSPEC
    for path in NOTEBOOKS:
        assert load(path)["metadata"]["kernelspec"] == KERNELSPEC, path.name


def test_run_notebooks_stores_that_kernelspec(tmp_path):
    nb = {"nbformat": 4, "nbformat_minor": 5, "cells": [
        {"cell_type": "code", "id": "a1", "metadata": {}, "execution_count": None,
         "outputs": [], "source": "print(6 * 7)"}],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                    "name": "python3"}}}
    path = tmp_path / "tiny.ipynb"
    path.write_text(json.dumps(nb))
    subprocess.run([sys.executable, str(REPO / "scripts" / "run_notebooks.py"), str(path),
                    "--quick"], check=True, capture_output=True, timeout=120)
    done = load(path)
    assert done["metadata"]["kernelspec"] == KERNELSPEC
    assert src({"source": done["cells"][0]["outputs"][0]["text"]}) == "42\n"


# ------------------------------------------------------------------- the missing-package path

def _snapshot_of_the_package(dest: Path) -> None:
    """A git repository holding what GitHub's main branch holds for pip: the package."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, dest / name)
    shutil.copytree(REPO / "gan_course", dest / "gan_course",
                    ignore=shutil.ignore_patterns("__pycache__"))
    git = ["git", "-C", str(dest), "-c", "user.name=test", "-c", "user.email=test@example.org"]
    subprocess.run(git[:3] + ["init", "-q", "-b", "main"], check=True)
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-qm", "snapshot"], check=True)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git (pip installs from a git URL)")
def test_setup_cell_installs_the_package_when_it_is_missing(tmp_path, monkeypatch):
    """Colab has torch, numpy, matplotlib, tqdm and ipywidgets but not gan_course. Here: a
    fresh venv that sees this environment's packages (through a .pth file) but not the
    course, whose kernel runs notebook 00's setup cell as it is stored. The cell's GitHub
    URL is pointed at a local snapshot by git's own `url.<base>.insteadOf` setting (through
    environment variables), so the snippet the students get is tried unchanged, offline."""
    from nbclient import NotebookClient
    import nbformat

    source = tmp_path / "github-snapshot"
    _snapshot_of_the_package(source)
    venv = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig."
                                "get_paths()['purelib'])"], capture_output=True, text=True,
                               check=True).stdout.strip())
    ours = sysconfig.get_paths()["purelib"]
    (site / "this_envs_packages.pth").write_text(ours + "\n")  # torch & co, and pip itself
    before = set(os.listdir(site))
    probe = subprocess.run([str(python), "-c", "import torch, gan_course"], cwd=tmp_path,
                           capture_output=True, text=True)
    assert "No module named 'gan_course'" in probe.stderr  # the editable install is not seen

    kernels = tmp_path / "jupyter" / "kernels" / "fresh"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "fresh venv", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    env = {**os.environ, "GAN_COURSE_QUICK": "1",
           "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": f"url.file://{source}.insteadOf",
           "GIT_CONFIG_VALUE_0": GITHUB,
           # nothing may be downloaded: the pinned packages must be kept, not fetched again
           "PIP_NO_INDEX": "1", "PIP_CONFIG_FILE": os.devnull,
           "PIP_NO_BUILD_ISOLATION": "0"}  # (sic: pip reads this "0" as --no-build-isolation)
    env.pop("PIP_FIND_LINKS", None)

    course = nbformat.read(REPO / "notebooks" / "00_welcome.ipynb", as_version=4)
    cells = [nbformat.v4.new_code_cell(setup_cell(course)["source"]),
             nbformat.v4.new_code_cell("import gan_course, torch\n"
                                       "print(gan_course.__file__)\nprint(torch.__file__)")]
    nb = nbformat.v4.new_notebook(cells=cells)
    client = NotebookClient(nb, kernel_name="fresh", timeout=300, startup_timeout=120)
    client.execute(env=env, cwd=str(tmp_path))
    printed = "".join(o.get("text", "") for o in cells[0].outputs)
    assert "gan_course is not installed here: installing it from GitHub" in printed
    assert "mode: quick" in printed and "device: cpu" in printed
    package_file, torch_file = cells[1].outputs[0]["text"].split()
    assert Path(package_file).is_relative_to(site)  # installed into the fresh venv ...
    assert Path(torch_file).is_relative_to(ours)    # ... which kept the torch it had
    added = set(os.listdir(site)) - before
    assert {a.split("-")[0] for a in added} == {"gan_course"}, added
    assert any(a.startswith("gan_course-") and a.endswith(".dist-info") for a in added)
    assert importlib.util.find_spec("gan_course").origin != package_file
