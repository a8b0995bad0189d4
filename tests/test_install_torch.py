"""scripts/install_torch.py (what `make install` runs first): which torch build it installs
where, its fallback when PyTorch's CPU index cannot be reached, and what it reports."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("install_torch",
                                              REPO / "scripts" / "install_torch.py")
install_torch = importlib.util.module_from_spec(spec)
spec.loader.exec_module(install_torch)
CPU = install_torch.CPU_INDEX


def indexes(attempts):
    return [extra[extra.index("--index-url") + 1] if "--index-url" in extra else "pypi"
            for _, extra in attempts]


@pytest.mark.parametrize("system, gpu, index, expected", [
    ("Linux", False, None, [CPU, "pypi"]),     # CPU-only build, else the plain pin
    ("Linux", True, None, ["pypi"]),           # PyPI's Linux wheel is the CUDA build
    ("Darwin", False, None, ["pypi"]),
    ("Windows", True, None, ["pypi"]),
    ("Linux", False, "pypi", ["pypi"]),        # TORCH_INDEX overrides either way
    ("Linux", True, "cpu", [CPU]),
    ("Linux", True, "https://download.pytorch.org/whl/cu128",
     ["https://download.pytorch.org/whl/cu128"]),
])
def test_plan(system, gpu, index, expected):
    attempts = install_torch.plan(system, gpu, index)
    assert indexes(attempts) == expected
    for _, extra in attempts:  # an index of its own fails fast instead of retrying
        if "--index-url" in extra:
            assert extra[extra.index("--retries") + 1] == "0" and "--timeout" in extra


def test_pin_comes_from_requirements():
    assert install_torch.torch_pin() == "torch==2.13.0"


def fake_pip(results, calls):
    """A stand-in for subprocess.run: each call returns the next exit code; a successful one
    writes the install report pip would write."""
    def run(cmd):
        calls.append(cmd)
        code = results[len(calls) - 1]
        if code == 0:
            report = Path(cmd[cmd.index("--report") + 1])
            report.write_text(json.dumps({"install": [{
                "metadata": {"name": "torch", "version": "2.13.0"},
                "download_info": {"url": "https://example.org/torch-2.13.0.whl"}}]}))
        return SimpleNamespace(returncode=code)
    return run


def test_falls_back_to_the_plain_pin_when_the_cpu_index_fails():
    calls, log = [], []
    done = install_torch.install(install_torch.plan("Linux", False, None), "torch==2.13.0",
                                 run=fake_pip([1, 0], calls), log=lambda *a, **k: log.append(a[0]))
    assert done == ("the Python package index", "https://example.org/torch-2.13.0.whl")
    assert "--index-url" in calls[0] and "--index-url" not in calls[1]
    assert all(c[-1] == "torch==2.13.0" for c in calls)
    assert any("trying the next source" in line for line in log)


def test_no_fallback_when_an_index_was_asked_for():
    calls = []
    assert install_torch.install(install_torch.plan("Linux", False, "cpu"), "torch==2.13.0",
                                 run=fake_pip([1], calls), log=lambda *a, **k: None) is None
    assert len(calls) == 1


def test_an_installed_pin_is_kept_and_described():
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "install_torch.py")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    import torch

    assert f"torch already installed: {torch.__version__}, " in out.stdout
    assert "build" in out.stdout and "TORCH_INDEX" in out.stdout
