"""Atomic save, safe load (weights_only), every RNG state, clear errors for bad files."""

import random

import numpy as np
import pytest
import torch

from gan_course import checkpoints
from gan_course.checkpoints import (CheckpointError, capture_rng_state, check_arch, load_checkpoint,
                                    restore_rng_state, save_checkpoint)
from gan_course.models import DCGANGenerator, MLPDiscriminator, MLPGenerator
from gan_course.training import TrainConfig, train_gan


def pair():
    torch.manual_seed(0)
    return (MLPGenerator(latent_dim=4, hidden=(8,), out_shape=(1, 4, 4)),
            MLPDiscriminator(in_shape=(1, 4, 4), hidden=(8,)))


def test_round_trip_with_weights_only(tmp_path):
    G, D = pair()
    opt = torch.optim.Adam(G.parameters())
    G(torch.randn(2, 4)).sum().backward()
    opt.step()
    gen = torch.Generator().manual_seed(7)
    path = save_checkpoint(tmp_path / "sub" / "ck.pt", G=G, D=D, opt_g=opt, step=12,
                           history={"loss_d": [0.5, 0.25]}, config=TrainConfig().to_dict(),
                           generator=gen, extra={"perm": torch.arange(5), "cursor": 3})
    raw = torch.load(path, weights_only=True)  # plain data only: no code runs on load
    assert raw["step"] == 12 and raw["format"] == checkpoints.FORMAT
    blob = load_checkpoint(path)
    G2, D2 = MLPGenerator(latent_dim=4, hidden=(8,), out_shape=(1, 4, 4)), MLPDiscriminator(in_shape=(1, 4, 4), hidden=(8,))
    check_arch(blob, G2, D2)
    G2.load_state_dict(blob["G"])
    for p, q in zip(G.parameters(), G2.parameters()):
        assert torch.equal(p, q)
    opt2 = torch.optim.Adam(G2.parameters())
    opt2.load_state_dict(blob["opt_g"])
    assert torch.equal(opt2.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])
    assert blob["history"]["loss_d"] == [0.5, 0.25] and blob["config"]["betas"] == (0.5, 0.999)
    assert blob["arch"]["G"]["class"] == "MLPGenerator"
    assert [p.name for p in path.parent.iterdir()] == ["ck.pt"]  # no temp file left behind


def test_every_rng_is_restored():
    gen = torch.Generator().manual_seed(3)
    state = capture_rng_state(gen)
    first = (torch.rand(3), np.random.rand(3), random.random(), np.random.randn(), torch.rand(2, generator=gen))
    restore_rng_state(state, gen)
    second = (torch.rand(3), np.random.rand(3), random.random(), np.random.randn(), torch.rand(2, generator=gen))
    assert torch.equal(first[0], second[0]) and np.array_equal(first[1], second[1])
    assert first[2] == second[2] and first[3] == second[3] and torch.equal(first[4], second[4])


def test_rng_state_survives_the_file(tmp_path):
    G, D = pair()
    np.random.randn()  # leave a cached Gaussian in NumPy's state
    gen = torch.Generator().manual_seed(1)
    save_checkpoint(tmp_path / "c.pt", G=G, D=D, generator=gen)
    expect = (np.random.randn(2), random.random(), torch.rand(2, generator=gen))
    restore_rng_state(load_checkpoint(tmp_path / "c.pt")["rng"], gen)
    assert np.array_equal(expect[0], np.random.randn(2)) and expect[1] == random.random()
    assert torch.equal(expect[2], torch.rand(2, generator=gen))


def test_missing_truncated_and_foreign_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "nope.pt")
    G, D = pair()
    good = save_checkpoint(tmp_path / "good.pt", G=G, D=D)
    data = good.read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cut.pt is not a readable checkpoint"):
        load_checkpoint(cut)
    junk = tmp_path / "junk.pt"
    junk.write_text("hello")
    with pytest.raises(CheckpointError, match="junk.pt"):
        load_checkpoint(junk)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.ones(2)}, other)
    with pytest.raises(CheckpointError, match="not a gan_course training checkpoint"):
        load_checkpoint(other)


def test_a_failed_save_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    G, D = pair()
    path = save_checkpoint(tmp_path / "ck.pt", G=G, D=D, step=1)
    before = path.read_bytes()

    def broken_save(obj, f):
        f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoints.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, G=G, D=D, step=2)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]


def test_other_architecture_is_refused(tmp_path):
    x = torch.rand(16, 1, 4, 4) * 2 - 1
    G, D = pair()
    cfg = TrainConfig(steps=2, batch_size=4, progress=False)
    train_gan(G, D, x, cfg, device="cpu", out_dir=tmp_path)
    G_wide = MLPGenerator(latent_dim=4, hidden=(16,), out_shape=(1, 4, 4))
    with pytest.raises(ValueError, match=r"made for G = MLPGenerator\(latent_dim=4, hidden=\(8,\)"):
        train_gan(G_wide, D, x, TrainConfig(steps=4, batch_size=4, progress=False), device="cpu",
                  resume=tmp_path / "checkpoint.pt")
    blob = load_checkpoint(tmp_path / "checkpoint.pt")
    with pytest.raises(ValueError, match="DCGANGenerator"):
        check_arch(blob, DCGANGenerator(), D)
