"""gan_course.doctor: exits 0 on this (complete) environment, 1 with a helpful line when
something needed is missing, and only warns on version drift or missing extras."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gan_course import data, doctor

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def own_cache(monkeypatch, tmp_path):
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path / "cache"))


def test_cli_doctor_passes_here(tmp_path):
    env = {**os.environ, data.DATA_ENV: str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-m", "gan_course", "doctor"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for item in ("Python", "torch", "nbval", "torch build", "device", "torch threads", "mode",
                 "data folder",
                 "full MNIST", "bundled subset", "widgets"):
        assert f"] {item}:" in proc.stdout, item
    assert "Ready" in proc.stdout and "FAIL" not in proc.stdout


def test_missing_required_package_fails_with_what_to_install(monkeypatch, capsys):
    real = doctor.installed_version
    monkeypatch.setattr(doctor, "installed_version",
                        lambda d: None if d == "torch" else real(d))
    assert doctor.run_doctor() == 1
    out = capsys.readouterr().out
    assert "[ FAIL ] torch: not installed" in out
    assert "Missing: torch==2.13.0" in out and "pip install -r requirements.txt" in out


def test_missing_optional_package_only_warns(monkeypatch, capsys):
    real = doctor.installed_version
    monkeypatch.setattr(doctor, "installed_version",
                        lambda d: None if d == "nbval" else real(d))
    assert doctor.run_doctor() == 0
    assert "[ warn ] nbval: not installed" in capsys.readouterr().out


def test_version_drift_warns_but_passes(monkeypatch, capsys):
    real = doctor.installed_version
    monkeypatch.setattr(doctor, "installed_version",
                        lambda d: "1.0.0" if d == "numpy" else real(d))
    assert doctor.run_doctor() == 0
    out = capsys.readouterr().out
    assert "[ warn ] numpy: 1.0.0, but requirements.txt pins 2.4.6" in out
    assert "1 warning above" in out


def test_old_python_fails(monkeypatch, capsys):
    monkeypatch.setattr(doctor, "MIN_PYTHON", (99, 0))
    assert doctor.run_doctor() == 1
    assert "the course needs 99.0 or newer" in capsys.readouterr().out


def test_missing_subset_fails(monkeypatch, capsys):
    monkeypatch.setattr(data, "SUBSET_PATH", Path("/nonexistent/mnist10k.npz"))
    assert doctor.run_doctor() == 1
    assert "[ FAIL ] bundled subset: /nonexistent/mnist10k.npz is missing" in capsys.readouterr().out


def test_widgets_missing_warns(monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "jupyterlab_widgets" else real(name, *a))
    assert doctor.run_doctor() == 0
    assert "[ warn ] widgets: jupyterlab_widgets is not importable" in capsys.readouterr().out


def test_cached_full_mnist_is_reported(monkeypatch, capsys):
    table = {}
    data.mnist_dir().mkdir(parents=True)
    for name in data.MNIST_FILES:
        blob = name.encode()  # stand-in files; only their MD5 matters to the doctor
        (data.mnist_dir() / name).write_bytes(blob)
        table[name] = hashlib.md5(blob).hexdigest()
    monkeypatch.setattr(data, "MNIST_FILES", table)
    assert doctor.run_doctor() == 0
    assert "full MNIST: cached and MD5-verified" in capsys.readouterr().out


def test_unwritable_data_folder_warns(monkeypatch, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv(data.DATA_ENV, str(blocker / "sub"))
    assert doctor.run_doctor() == 0
    assert f"[ warn ] data folder: {blocker / 'sub'} ($GAN_COURSE_DATA) is not writable" in \
        capsys.readouterr().out


def test_read_pins(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("# comment\ntorch==2.13.0  # exact\nNumPy == 2.4.6\nrich>=1\n\n")
    assert doctor.read_pins(req) == {"torch": "2.13.0", "numpy": "2.4.6"}


def test_torch_build_says_which_build_this_is(capsys):
    import torch

    assert doctor.run_doctor() == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if "] torch build:" in l)
    assert torch.__version__ in line
    cpu_only = torch.version.cuda is None and not torch.backends.mps.is_built()
    assert ("CPU-only" in line) == cpu_only


def test_cuda_build_without_a_gpu_warns(monkeypatch, capsys):
    monkeypatch.setattr(doctor, "torch_build", lambda: "CUDA 12.8")
    doctor.check_torch_build(doctor.Report(), "cpu")
    out = capsys.readouterr().out
    assert "[ warn ] torch build: CUDA 12.8" in out and "make install" in out


def test_cpu_build_on_a_machine_with_an_nvidia_gpu_warns(monkeypatch, capsys):
    monkeypatch.setattr(doctor, "torch_build", lambda: "CPU-only")
    monkeypatch.setattr(doctor, "nvidia_gpu_present", lambda: True)
    doctor.check_torch_build(doctor.Report(), "cpu")
    assert "TORCH_INDEX=pypi" in capsys.readouterr().out
    monkeypatch.setattr(doctor, "nvidia_gpu_present", lambda: False)
    doctor.check_torch_build(doctor.Report(), "cpu")
    assert "[  ok  ] torch build: CPU-only" in capsys.readouterr().out


def test_nvidia_gpu_present_reads_nvidia_smi(monkeypatch, tmp_path):
    fake = tmp_path / "nvidia-smi"
    monkeypatch.setenv("PATH", str(tmp_path))
    assert doctor.nvidia_gpu_present() is False            # not installed
    fake.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA H100 (UUID: GPU-1234)'\n")
    fake.chmod(0o755)
    assert doctor.nvidia_gpu_present() is True
    fake.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed: no driver' >&2\nexit 9\n")
    assert doctor.nvidia_gpu_present() is False            # installed, but no driver


def test_readable_path_is_relative_to_the_course_or_home(tmp_path):
    course, home = tmp_path / "home" / "me" / "gan-course", tmp_path / "home" / "me"
    course.mkdir(parents=True)
    show = lambda p: doctor.readable_path(p, course_dir=course, home=home)
    assert show(course / ".venv" / "bin" / "python") == ".venv/bin/python"   # inside the course
    assert show(home / ".cache" / "gan_course") == "~/.cache/gan_course"     # under home
    assert show("/opt/data/mnist") == "/opt/data/mnist"                      # elsewhere: as given
    link = tmp_path / "link-to-course"
    link.symlink_to(course)
    assert show(link / "notebooks") == "notebooks"                           # through a link too


def test_stored_output_names_no_machine_paths(tmp_path):
    """Notebook 00 stores the doctor's output: no path of this checkout or home folder in it."""
    home = tmp_path / "home"
    env = {**os.environ, "HOME": str(home), data.DATA_ENV: str(home / ".cache" / "gan_course")}
    proc = subprocess.run([sys.executable, "-m", "gan_course", "doctor"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert str(REPO) not in proc.stdout and str(home) not in proc.stdout
    assert "data folder: ~/.cache/gan_course ($GAN_COURSE_DATA, writable)" in proc.stdout
    if Path(sys.executable).is_relative_to(REPO):  # make's .venv
        python = Path(os.path.abspath(sys.executable)).relative_to(REPO).as_posix()
        assert f"({python})" in proc.stdout
