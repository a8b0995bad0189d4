"""torchrun with two CPU processes (gloo): training finishes, both ranks hold identical
weights, rank 0 alone writes one checkpoint, which loads in a single process, and an
interrupted torchrun run resumes to the weights of an uninterrupted one."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gan_course.checkpoints import generator_from_checkpoint, load_checkpoint

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
WORKER = str(Path(__file__).parent / "scripts" / "ddp_train.py")


def env():
    e = {**os.environ, "GAN_COURSE_THREADS": "1", "OMP_NUM_THREADS": "1"}
    e.pop("GAN_COURSE_QUICK", None)
    return e


def _default_sigint():
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_two_processes_train_identical_weights_and_write_one_checkpoint(tmp_path):
    proc = subprocess.run(TORCHRUN + [WORKER, str(tmp_path), "12"], capture_output=True, text=True,
                          env=env(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    for name in ("G", "D"):
        for k in r0[name]:
            assert torch.equal(r0[name][k], r1[name][k]), (name, k)
    assert r0["steps"] == list(range(1, 13)) and r0["loss_d"] == r1["loss_d"]  # averaged over ranks
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt", "rank0.pt", "rank1.pt"]
    blob = load_checkpoint(tmp_path / "checkpoint.pt")
    assert blob["step"] == 12 and blob["extra"]["world_size"] == 2
    assert all(torch.equal(blob["G"][k], r0["G"][k]) for k in blob["G"])
    G = generator_from_checkpoint(tmp_path / "checkpoint.pt")  # in this single process
    assert G(torch.zeros(3, 8)).shape == (3, 1, 28, 28)
    assert type(G.body[0]).__name__ == "BatchNorm2d"


def test_an_interrupted_torchrun_run_resumes(tmp_path):
    out, ref = tmp_path / "run", tmp_path / "ref"
    cmd = TORCHRUN + ["-m", "gan_course", "train", "mlp", "--data", "subset", "--device", "cpu",
                      "--batch-size", "32", "--checkpoint-every", "40", "--sample-every", "40",
                      "--no-progress"]
    proc = subprocess.Popen(cmd + ["--steps", "100000", "--out", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env(), preexec_fn=_default_sigint)
    deadline = time.time() + 240
    while not (out / "checkpoint.pt").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)  # torchrun forwards it to both workers
    stdout, stderr = proc.communicate(timeout=120)
    assert "resume with" in stdout, stderr[-3000:]
    stopped = load_checkpoint(out / "checkpoint.pt")["step"]
    assert stopped >= 40 and stopped % 20 == 0  # both ranks stopped at the same bookkeeping step
    final = stopped + 20
    done = subprocess.run(cmd + ["--steps", str(final), "--out", str(out), "--resume",
                                 str(out / "checkpoint.pt")], capture_output=True, text=True,
                          env=env(), timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    subprocess.run(cmd + ["--steps", str(final), "--out", str(ref)], capture_output=True, text=True,
                   env=env(), timeout=300, check=True)
    a, b = load_checkpoint(out / "checkpoint.pt"), load_checkpoint(ref / "checkpoint.pt")
    assert a["step"] == b["step"] == final
    for name in ("G", "D"):
        assert all(torch.equal(a[name][k], b[name][k]) for k in a[name])
