"""The repository's environment files agree with each other, and the Binder, CI and README
entry points say what they must. Plain line parsing (no pyyaml needed).

requirements.txt (the course) must match environment.yml (conda, Binder) pin for pin;
requirements-dev.txt (test and site tools, pip only) must be exact pins that add to
requirements.txt without re-pinning any of it, and be what is installed."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# conda-forge package name -> the pip distribution it provides
CONDA_TO_PIP = {"pytorch-cpu": "torch", "pytorch": "torch", "matplotlib-base": "matplotlib"}


def pip_pins(text: str) -> dict[str, str]:
    """``name==version`` lines of requirements.txt; any other requirement is an error."""
    pins = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([0-9][A-Za-z0-9_.+\-]*)", line)
        if not m:
            raise ValueError(f"requirements.txt: {raw!r} is not an exact `name==version` pin")
        pins[m[1].lower()] = m[2]
    return pins


def conda_pins(text: str) -> dict[str, str]:
    """``- name=version`` entries under ``dependencies:``, renamed to pip names."""
    pins, inside = {}, False
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        if not raw.startswith((" ", "-")):
            inside = line.startswith("dependencies:")
            continue
        if not inside:
            continue
        m = re.fullmatch(r"\s*-\s*([A-Za-z0-9_.\-]+)(?:\s*=\s*([0-9][A-Za-z0-9_.*+\-]*))?", line)
        if not m:
            raise ValueError(f"environment.yml: cannot read dependency line {raw!r}")
        name = m[1].lower()
        if name == "pip":
            continue
        if m[2] is None:
            raise ValueError(f"environment.yml: {name} is not pinned (write {name}=VERSION)")
        pins[CONDA_TO_PIP.get(name, name)] = m[2]
    return pins


def drift(pip: dict[str, str], conda: dict[str, str]) -> list[str]:
    """Every difference between the two pin sets (python is conda-only), as readable lines."""
    problems = []
    conda = {k: v for k, v in conda.items() if k != "python"}
    for name in sorted(set(pip) | set(conda)):
        if name not in conda:
            problems.append(f"{name}=={pip[name]} is in requirements.txt but not environment.yml")
        elif name not in pip:
            problems.append(f"{name}={conda[name]} is in environment.yml but not requirements.txt")
        elif pip[name] != conda[name]:
            problems.append(f"{name}: requirements.txt pins {pip[name]}, "
                            f"environment.yml pins {conda[name]}")
    return problems


REQ = pip_pins((REPO / "requirements.txt").read_text())
# Tools for the tests and the site only (playwright, nbconvert, MathJax): pip-only, since
# students on conda or Binder never run them; they add to requirements.txt, never re-pin it.
DEV = pip_pins((REPO / "requirements-dev.txt").read_text())
ENV_TEXT = (REPO / "environment.yml").read_text()
ENV = conda_pins(ENV_TEXT)


def test_pip_and_conda_pins_agree():
    problems = drift(REQ, ENV)
    assert not problems, "environment files drifted apart:\n" + "\n".join(problems)


def test_drift_check_catches_differences():
    # the checker itself must be able to fail
    assert drift({"torch": "2.13.0"}, {"torch": "2.13.0", "python": "3.11"}) == []
    assert drift({"torch": "2.13.0"}, {"torch": "2.12.0"})
    assert drift({"torch": "2.13.0", "numpy": "2.4.6"}, {"torch": "2.13.0"})
    assert drift({}, {"tqdm": "4.70.1"})
    assert conda_pins("dependencies:\n  - pytorch-cpu=2.13.0\n  - matplotlib-base=3.11.2\n"
                      "  - pip\n") == {"torch": "2.13.0", "matplotlib": "3.11.2"}
    with pytest.raises(ValueError, match="not pinned"):
        conda_pins("dependencies:\n  - numpy\n")
    with pytest.raises(ValueError, match="exact"):
        pip_pins("torch>=2.13\n")


def test_dev_requirements_only_add_tools():
    repinned = sorted(set(DEV) & set(REQ))
    assert not repinned, (f"requirements-dev.txt pins {repinned} again; they belong in "
                          "requirements.txt (and environment.yml) only")
    assert "torch" not in DEV
    assert "playwright" in DEV, "the browser tests need a pinned playwright"


def test_dev_pins_are_what_is_installed():
    # `make` installs requirements-dev.txt; a stale .venv would test other versions
    from importlib.metadata import PackageNotFoundError, version

    stale = []
    for name, pin in DEV.items():
        try:
            have = version(name)
        except PackageNotFoundError:
            pytest.skip(f"{name} is not installed: `.venv/bin/pip install -r requirements-dev.txt "
                        "-c requirements.txt` (`make test` does that)")
        if have != pin:
            stale.append(f"{name} {have} installed, requirements-dev.txt pins {pin}")
    assert not stale, "\n".join(stale) + "\nrun `make install-dev`"


def test_torch_is_pinned_exactly():
    # a range would let pip pull a CUDA build of several GB
    assert REQ["torch"] == "2.13.0"
    assert ENV["torch"] == "2.13.0"
    assert re.search(r"^\s*-\s*pytorch-cpu=2\.13\.0\s*$", ENV_TEXT, re.M), \
        "environment.yml must use conda-forge's CPU build, pytorch-cpu=2.13.0"


def test_python_pin_meets_pyproject():
    floor = re.search(r'requires-python\s*=\s*">=\s*(\d+)\.(\d+)', (REPO / "pyproject.toml").read_text())
    assert floor, "pyproject.toml must state requires-python"
    major, minor = map(int, ENV["python"].split(".")[:2])
    assert (major, minor) >= (int(floor[1]), int(floor[2]))


def test_conda_uses_conda_forge_only():
    channels = re.search(r"^channels:\n((?:\s+-.*\n)+)", ENV_TEXT, re.M)
    assert channels and [c.strip("- ").strip() for c in channels[1].splitlines()] == ["conda-forge"]


def test_binder_environment_is_identical():
    assert (REPO / "binder" / "environment.yml").read_bytes() == (REPO / "environment.yml").read_bytes()


def _code_lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_binder_post_build():
    path = REPO / "binder" / "postBuild"
    lines = _code_lines(path)
    assert re.match(r"set -e\w*\b", lines[0]), \
        f"postBuild must start with `set -e` so a failed step fails the build, got {lines[0]!r}"
    installs = [line for line in lines if "pip install" in line]
    assert installs and all("--no-deps" in line for line in installs), \
        "postBuild must install with --no-deps (the conda env already has every dependency)"
    assert os.access(path, os.X_OK), "postBuild must be executable"


def test_binder_start():
    path = REPO / "binder" / "start"
    lines = _code_lines(path)
    assert lines[-1] == 'exec "$@"', "binder/start must end with exec \"$@\""
    assert any(re.fullmatch(r"export (OMP_NUM_THREADS|GAN_COURSE_THREADS)=1", line)
               for line in lines), "binder/start must set one thread"
    assert os.access(path, os.X_OK), "binder/start must be executable"


def test_ci_runs_make_test():
    path = REPO / ".ci" / "run"
    assert "make test" in _code_lines(path)
    assert os.access(path, os.X_OK)


def test_ci_installs_chromium_and_requires_the_browser_tests():
    lines = _code_lines(REPO / ".ci" / "run")
    text = "\n".join(lines)
    assert re.search(r"apt-get install -y\b.*\bchromium\b", text), \
        "CI must install Debian's chromium for the browser tests"
    assert "playwright install" not in text, "use Debian's chromium, not playwright's download"
    assert "export GAN_COURSE_BROWSER_REQUIRED=1" in lines, \
        "CI must fail, not skip, when the browser tests cannot run"
    assert lines.index("export GAN_COURSE_BROWSER_REQUIRED=1") < lines.index("make test")


def test_readme_starts_with_the_two_commands():
    text = (REPO / "README.md").read_text()
    head = "\n".join(text.splitlines()[:8])
    assert "make lab" in head and "make test" in head
    badge = re.search(r"\(https://mybinder\.org/v2/gh/[^)\s]+\)", text)
    assert badge and "urlpath=lab/tree/notebooks/00_welcome.ipynb" in badge[0]


def test_makefile_targets_exist():
    text = (REPO / "Makefile").read_text()
    for target in ("lab", "test", "test-browser", "html", "notebooks", "doctor", "bench"):
        assert re.search(rf"^{target}:", text, re.M), f"Makefile lacks `{target}`"
