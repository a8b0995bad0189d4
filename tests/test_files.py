"""gan_course.files.atomic_write and models.eval_mode: the one writer and the one mode switch."""

import os
import stat

import pytest
import torch
from torch import nn

from gan_course.files import atomic_torch_save, atomic_write
from gan_course.models import eval_mode


def test_atomic_write_replaces_the_file_only_when_the_block_finishes(tmp_path):
    target = tmp_path / "sub" / "file.bin"
    with atomic_write(target) as f:
        f.write(b"first")
    assert target.read_bytes() == b"first"
    with pytest.raises(RuntimeError):
        with atomic_write(target) as f:
            f.write(b"half of the secon")
            raise RuntimeError("disk full")
    assert target.read_bytes() == b"first"          # the old file is untouched
    assert sorted(os.listdir(target.parent)) == ["file.bin"]  # no temporary file left


def test_atomic_write_uses_the_umask_not_a_private_mode(tmp_path):
    old = os.umask(0o022)
    try:
        path = atomic_torch_save({"x": torch.ones(2)}, tmp_path / "w.pt")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert torch.equal(torch.load(path, weights_only=True)["x"], torch.ones(2))


def test_atomic_write_survives_keyboard_interrupt(tmp_path):
    target = tmp_path / "ckpt.pt"
    atomic_torch_save({"step": 1}, target)
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(target) as f:
            f.write(b"junk")
            raise KeyboardInterrupt
    assert torch.load(target, weights_only=True) == {"step": 1}
    assert os.listdir(tmp_path) == ["ckpt.pt"]


def test_eval_mode_restores_each_module_s_own_mode_even_after_an_error():
    a, b = nn.BatchNorm1d(3).train(), nn.BatchNorm1d(3).eval()
    with eval_mode(a, b):
        assert not a.training and not b.training
    assert a.training and not b.training
    with pytest.raises(ValueError):
        with eval_mode(a):
            raise ValueError
    assert a.training
