"""`python -m gan_course train` / `sample` on the bundled subset, a few steps, in temp folders."""

import subprocess
import sys

import matplotlib.image
import numpy as np
import pytest
import torch

from gan_course import cli
from gan_course.checkpoints import load_checkpoint


@pytest.mark.parametrize("arch", ["mlp", "dcgan"])
def test_train_then_sample(arch, tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", arch, "--steps", "3", "--seed", "1", "--out", str(out),
                     "--data", "subset", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "checkpoint.pt" in printed and "samples.png" in printed
    blob = load_checkpoint(out / "checkpoint.pt")
    assert {"G", "D", "opt_g", "opt_d", "rng", "step", "config", "arch"} <= set(blob)
    assert blob["step"] == 3 and blob["config"]["seed"] == 1
    img = matplotlib.image.imread(out / "samples.png")
    assert img.shape[:2] == (8 * 30 + 2, 8 * 30 + 2)

    npz = tmp_path / "digits.npz"
    assert cli.main(["sample", str(out / "checkpoint.pt"), "-n", "10", "-o", str(npz)]) == 0
    with np.load(npz) as f:
        x = f["x"]
    assert x.dtype == np.uint8 and x.shape == (10, 28, 28)
    assert x.min() >= 0 and x.max() <= 255 and x.std() > 0
    # the same seed gives the same digits
    npz2 = tmp_path / "again.npz"
    cli.main(["sample", str(out / "checkpoint.pt"), "-n", "10", "-o", str(npz2)])
    assert np.array_equal(np.load(npz2)["x"], x)


def test_resume_from_the_command_line(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    common = ["--data", "subset", "--device", "cpu", "--seed", "0"]
    cli.main(["train", "mlp", "--steps", "4", "--out", str(a), *common])
    cli.main(["train", "mlp", "--steps", "2", "--out", str(b), *common])
    cli.main(["train", "mlp", "--steps", "4", "--out", str(b), "--resume", str(b / "checkpoint.pt"), *common])
    ga, gb = load_checkpoint(a / "checkpoint.pt")["G"], load_checkpoint(b / "checkpoint.pt")["G"]
    assert all(torch.equal(ga[k], gb[k]) for k in ga)


@pytest.mark.parametrize("argv, message", [
    (["train", "mlp", "--steps", "0"], "cfg.steps must be a positive integer, got 0"),
    (["train", "mlp", "--lr-g", "-1"], "lr_g must be a finite number > 0"),
    (["train", "mlp", "--device", "cuda"], "torch sees no CUDA GPU"),
    (["train", "mlp", "--device", "tpu9"], "is not a device name"),
    (["train", "mlp", "--batch-size", "100000", "--data", "subset"], "larger than the data set"),
    (["train", "mlp", "--resume", "MISSING"], "no checkpoint at"),
    (["sample", "MISSING", "-o", "x.npz"], "no checkpoint at"),
])
def test_user_errors_print_one_line_not_a_traceback(argv, message, tmp_path, capsys):
    argv = [a.replace("MISSING", str(tmp_path / "missing.pt")) for a in argv]
    if argv[0] == "train":
        argv += ["--out", str(tmp_path / "run")]
    else:
        argv[argv.index("x.npz")] = str(tmp_path / "x.npz")
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err and "Traceback" not in err


def test_module_entry_point(tmp_path):
    """The real command in a subprocess (what the README tells students to type)."""
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "gan_course", "train", "mlp", "--steps", "2",
                           "--out", str(out), "--data", "subset", "--device", "cpu"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (out / "checkpoint.pt").exists() and (out / "samples.png").exists()


def test_bench_quick(monkeypatch, capsys):
    """The bench in quick mode: both speed lines, memory, and a 1-second time-to-quality run."""
    monkeypatch.setenv("GAN_COURSE_QUICK", "1")
    assert cli.main(["bench", "--device", "cpu", "--seconds", "1"]) == 0
    out = capsys.readouterr().out
    for arch in ("mlp", "dcgan"):
        line = next(l for l in out.splitlines() if l.strip().startswith(arch))
        assert "package" in line and "tutorial-style" in line and "ratio" in line and "epoch" in line
    assert "peak memory" in out and "load average" in out
    assert "confident" in out and ("reached" in out or "not reached within 1 s" in out)
