"""Ctrl-C at any moment: inside D's forward pass, inside G's step, in the bookkeeping, while
a checkpoint is written, from the command line. Each leaves a checkpoint of the last
completed step, and resuming it ends bitwise equal to a run that was never interrupted."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from gan_course import interrupts
from gan_course.checkpoints import load_checkpoint
from gan_course.models import MLPDiscriminator, MLPGenerator
from gan_course.training import TrainConfig, train_gan

STEPS = 12


def tiny_pair():
    torch.manual_seed(0)
    return (MLPGenerator(latent_dim=4, hidden=(8,), out_shape=(1, 4, 4)),
            MLPDiscriminator(in_shape=(1, 4, 4), hidden=(8,)))


def data():
    return torch.rand(40, 1, 4, 4, generator=torch.Generator().manual_seed(1)) * 2 - 1


def cfg(**kw):
    base = dict(steps=STEPS, batch_size=8, sample_every=5, checkpoint_every=5, progress=False,
                quick_steps=STEPS)
    return TrainConfig(**{**base, **kw})


def finish_and_compare(ckpt, expected_step):
    """Resume the checkpoint to STEPS and compare everything with an uninterrupted run."""
    blob = load_checkpoint(ckpt)
    assert blob["step"] == expected_step
    G, D = tiny_pair()
    resumed = train_gan(G, D, data(), cfg(), device="cpu", resume=ckpt)
    G0, D0 = tiny_pair()
    full = train_gan(G0, D0, data(), cfg(), device="cpu")
    for a, b in zip(list(G.state_dict().values()) + list(D.state_dict().values()),
                    list(G0.state_dict().values()) + list(D0.state_dict().values())):
        assert torch.equal(a, b)
    assert resumed.step == full.step and resumed.loss_d == full.loss_d and resumed.loss_g == full.loss_g


def sigint_now():
    os.kill(os.getpid(), signal.SIGINT)  # a real signal, delivered to this (main) thread


class CallCounter:
    def __init__(self, at):
        self.at, self.n = at, 0

    def hit(self):
        self.n += 1
        return self.n == self.at


def test_sigint_inside_D_forward_finishes_the_step_and_saves_it(tmp_path, capsys):
    G, D = tiny_pair()
    # D runs once to check the inputs, then three times a step (real and fake in D's step,
    # fake in G's): call 3k - 1 is the first one of step k
    calls = CallCounter(at=3 * 7 - 1)
    D.register_forward_pre_hook(lambda m, a: sigint_now() if calls.hit() else None)
    h = train_gan(G, D, data(), cfg(), device="cpu", out_dir=tmp_path)
    assert h.stopped_reason == "interrupted" and h.step[-1] == 7
    assert "interrupted after step 7" in capsys.readouterr().out
    finish_and_compare(tmp_path / "checkpoint.pt", 7)


def test_sigint_inside_G_step_finishes_the_step_and_saves_it(tmp_path):
    G, D = tiny_pair()
    calls = CallCounter(at=3)

    def inside_g_step(module, args):  # D is frozen only during G's step
        if not next(module.parameters()).requires_grad and calls.hit():
            sigint_now()

    D.register_forward_pre_hook(inside_g_step)
    h = train_gan(G, D, data(), cfg(), device="cpu", out_dir=tmp_path)
    assert h.stopped_reason == "interrupted" and h.step[-1] == 3
    finish_and_compare(tmp_path / "checkpoint.pt", 3)


def test_sigint_in_a_hook_and_while_a_checkpoint_is_written(tmp_path, monkeypatch):
    G, D = tiny_pair()
    h = train_gan(G, D, data(), cfg(), device="cpu", out_dir=tmp_path,
                  hooks=[lambda step, *a: sigint_now() if step == 4 else None], hook_every=2)
    assert h.stopped_reason == "interrupted" and h.step[-1] == 4
    finish_and_compare(tmp_path / "checkpoint.pt", 4)

    real_save = torch.save
    writes = []

    def save_with_a_signal(obj, f, *a, **k):  # Ctrl-C while the file is being written
        writes.append(1)
        if len(writes) == 1:
            sigint_now()
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(torch, "save", save_with_a_signal)
    out = tmp_path / "second"
    G, D = tiny_pair()
    h = train_gan(G, D, data(), cfg(), device="cpu", out_dir=out)
    monkeypatch.setattr(torch, "save", real_save)
    assert h.stopped_reason == "interrupted" and h.step[-1] == 5  # the write of step 5 completed
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt"]  # no temporary file left
    finish_and_compare(out / "checkpoint.pt", 5)


def test_a_keyboardinterrupt_raised_before_any_update_is_undone(tmp_path):
    """Not a signal: code inside D's forward raises. Nothing was updated yet in that step, so
    the step is undone (random stream, data position, batch-norm statistics) and saved."""
    G, D = tiny_pair()
    calls = CallCounter(at=3 * 8 - 1)  # step 8's first D call (see the first test)

    def raise_once(module, args):
        if calls.hit():
            raise KeyboardInterrupt

    D.register_forward_pre_hook(raise_once)
    h = train_gan(G, D, data(), cfg(), device="cpu", out_dir=tmp_path)
    assert h.stopped_reason == "interrupted" and h.step[-1] == 7
    finish_and_compare(tmp_path / "checkpoint.pt", 7)


def test_a_keyboardinterrupt_raised_after_D_update_keeps_the_last_checkpoint(tmp_path, capsys):
    """Raised (not signalled) inside G's step, after D's update: that state is half a step
    and is not saved; the last periodic checkpoint stays as it was, and says so."""
    G, D = tiny_pair()
    calls = CallCounter(at=7)

    def raise_in_g_step(module, args):
        if not next(module.parameters()).requires_grad and calls.hit():
            raise KeyboardInterrupt

    D.register_forward_pre_hook(raise_in_g_step)
    h = train_gan(G, D, data(), cfg(), device="cpu", out_dir=tmp_path)
    assert h.stopped_reason == "interrupted mid-step"
    out = capsys.readouterr().out
    assert "the last good checkpoint" in out and "step 5" in out and "not saved" in out
    finish_and_compare(tmp_path / "checkpoint.pt", 5)


def test_a_second_ctrl_c_stops_at_once_but_a_double_press_counts_once(monkeypatch):
    before = signal.getsignal(signal.SIGINT)  # (SIG_IGN when the tests run as a background job)
    with interrupts.StopRequest() as stop:
        sigint_now()
        sigint_now()  # within a second: the same request (torchrun forwards the terminal's)
        assert stop.requested and stop.signal_name == "SIGINT"
        monkeypatch.setattr(interrupts, "ESCAPE_AFTER_S", 0.0)
        time.sleep(0.01)
        with pytest.raises(KeyboardInterrupt):
            sigint_now()
    assert signal.getsignal(signal.SIGINT) is before  # put back


def test_sigterm_is_a_stop_request_too(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    G, D = tiny_pair()
    h = train_gan(G, D, data(), cfg(), device="cpu", out_dir=tmp_path,
                  hooks=[lambda step, *a: os.kill(os.getpid(), signal.SIGTERM) if step == 2 else None],
                  hook_every=2)
    assert h.stopped_reason == "interrupted" and h.step[-1] == 2
    assert signal.getsignal(signal.SIGTERM) == before


def _default_sigint():
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # a background job's child would ignore it


def test_the_command_line_with_a_real_sigint(tmp_path):
    out = tmp_path / "run"
    common = [sys.executable, "-m", "gan_course", "train", "mlp", "--data", "subset",
              "--device", "cpu", "--batch-size", "32", "--checkpoint-every", "50",
              "--sample-every", "50", "--no-progress", "--out", str(out)]  # (progress: stderr)
    env = {**os.environ, "GAN_COURSE_THREADS": "1"}
    env.pop("GAN_COURSE_QUICK", None)
    proc = subprocess.Popen(common + ["--steps", "100000"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, preexec_fn=_default_sigint)
    deadline = time.time() + 120
    while not (out / "checkpoint.pt").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "resume with: python -m gan_course train mlp" in stdout
    stopped_at = load_checkpoint(out / "checkpoint.pt")["step"]
    assert stopped_at >= 50
    final = stopped_at + 30
    done = subprocess.run(common + ["--steps", str(final), "--resume", str(out / "checkpoint.pt")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    ref = tmp_path / "ref"
    subprocess.run([a if a != str(out) else str(ref) for a in common] + ["--steps", str(final)],
                   capture_output=True, text=True, env=env, timeout=120, check=True)
    a, b = load_checkpoint(out / "checkpoint.pt"), load_checkpoint(ref / "checkpoint.pt")
    assert a["step"] == b["step"] == final
    assert all(torch.equal(a["G"][k], b["G"][k]) for k in a["G"])
    assert all(torch.equal(a["D"][k], b["D"][k]) for k in a["D"])
