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


def test_bench_quick(monkeypatch, capfd):
    """The bench in quick mode: both speed lines, memory, and a 1-second time-to-quality run."""
    monkeypatch.setenv("GAN_COURSE_QUICK", "1")
    assert cli.main(["bench", "--device", "cpu", "--seconds", "1"]) == 0
    out, err = capfd.readouterr()
    for arch in ("mlp", "dcgan"):
        line = next(l for l in out.splitlines() if l.strip().startswith(arch))
        assert "package" in line and "tutorial-style" in line and "ratio" in line and "epoch" in line
    assert "peak memory" in out and "load average" in out
    assert out.count("with cfg.cpu_fused_adam") == 2 and out.count("a step, profiled") == 2
    assert "profiler_start" not in err  # the profiler's own line, on file descriptor 2
    assert "confident" in out and "FD" in out and "DCGAN recipe:" in out
    assert "reached" in out.splitlines()[-2]  # "reached ... first after" or "not reached within 1 s"


def test_bench_times_the_loops_in_turn_and_compares_them_round_by_round():
    from gan_course import bench

    calls = []
    runners = {name: (lambda steps, name=name, rate=rate: calls.append((name, steps)) or rate)
               for name, rate in (("a", 2.0), ("b", 4.0))}
    rates = bench.interleaved_rates(runners, steps=30, rounds=3)
    assert calls == [("a", 10), ("b", 10)] * 3 and rates == {"a": [2.0] * 3, "b": [4.0] * 3}
    assert bench.median_ratio([1.0, 9.0, 2.0], [1.0, 3.0, 4.0]) == 1.0  # ratios 1, 3, 0.5


def test_bench_curves_of_fixes_only(monkeypatch, capsys):
    monkeypatch.setenv("GAN_COURSE_QUICK", "1")
    assert cli.main(["bench", "--device", "cpu", "--seconds", "0.5", "--skip-speed",
                     "--fix", "hinge loss", "EMA of G (0.999)"]) == 0
    out = capsys.readouterr().out
    assert "package" not in out and "time to quality: hinge loss" in out
    assert "time to quality: EMA of G (0.999)" in out and "EMA of G (0.999): " in out


def test_bench_refuses_an_unknown_fix_before_measuring(capsys):
    assert cli.main(["bench", "--fix", "dropout"]) == 2
    err = capsys.readouterr().err
    assert "unknown fix 'dropout'" in err and "R1 (gamma 10)" in err


def test_every_architecture_loss_and_regulariser_from_the_command_line(tmp_path, capsys):
    common = ["--steps", "2", "--data", "subset", "--device", "cpu", "--batch-size", "16"]
    runs = {
        "cdcgan": ["train", "cdcgan"],
        "wgan": ["train", "dcgan", "--loss", "wgan-gp"],
        "sn": ["train", "mlp", "--spectral-norm", "--real-label", "0.9", "--ema", "0.99"],
        "flags": ["train", "dcgan", "--lr-g", "3e-4", "--lr-d", "1e-4", "--betas", "0.0", "0.9",
                  "--n-critic", "2", "--loss", "saturating", "--seed", "3", "--amp", "none"],
    }
    for name, argv in runs.items():
        assert cli.main(argv + common + ["--out", str(tmp_path / name)]) == 0, name
    blob = load_checkpoint(tmp_path / "wgan" / "checkpoint.pt")
    assert blob["config"]["n_critic"] == 5 and blob["config"]["betas"] == (0.0, 0.9)  # WGAN-GP's recipe
    assert blob["arch"]["D"]["kwargs"]["batch_norm"] is False  # a critic without batch norm
    blob = load_checkpoint(tmp_path / "sn" / "checkpoint.pt")
    assert blob["arch"]["D"]["kwargs"]["spectral_norm"] is True and blob["config"]["real_label"] == 0.9
    assert "G_ema" in blob["extra"]
    c = load_checkpoint(tmp_path / "flags" / "checkpoint.pt")["config"]
    assert (c["lr_g"], c["lr_d"], c["betas"], c["n_critic"], c["loss"], c["seed"], c["amp"]) == \
        (3e-4, 1e-4, (0.0, 0.9), 2, "saturating", 3, None)
    # a chosen digit from the conditional checkpoint
    npz = tmp_path / "sevens.npz"
    assert cli.main(["sample", str(tmp_path / "cdcgan" / "checkpoint.pt"), "-n", "6", "--digit", "7",
                     "-o", str(npz)]) == 0
    with np.load(npz) as f:
        assert f["x"].shape == (6, 28, 28) and f["y"].tolist() == [7] * 6
    assert cli.main(["sample", str(tmp_path / "sn" / "checkpoint.pt"), "--digit", "7",
                     "-o", str(npz)]) == 2
    assert "--digit needs a cdcgan checkpoint" in capsys.readouterr().err


def test_help_says_each_default_and_why(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for flag in ("--lr-g", "--lr-d", "--batch-size", "--n-critic", "--ema", "--loss", "--real-label",
                 "--gp-weight", "--betas", "--amp", "--spectral-norm", "--minutes", "--allow-config-change"):
        assert flag in text
    assert "Adam's learning rate for G; 2e-4 is the DCGAN paper's value (default 0.0002; recipes: mlp 0.001" in text
    assert "D updates per G update (5 for WGAN-GP) (default 1)" in text


def test_minutes_show_time_against_the_budget(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GAN_COURSE_QUICK", raising=False)  # quick mode would cap the steps at 30
    assert cli.main(["train", "mlp", "--minutes", "0.02", "--data", "subset", "--device", "cpu",
                     "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "/ 1 s · step" in err and "1,000,000,000" not in err and "stopped by the time budget" in err
