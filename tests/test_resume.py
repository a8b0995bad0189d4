"""Resuming: refused with a clear sentence when the checkpoint is of another run, format or
kind; small checkpoints; bookkeeping off the clock; a cached run that matches its mode."""

import time

import pytest
import torch

from gan_course import checkpoints, run_state, training
from gan_course.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from gan_course.models import MLPDiscriminator, MLPGenerator
from gan_course.training import TrainConfig, train_gan


def tiny_pair():
    torch.manual_seed(0)
    return (MLPGenerator(latent_dim=4, hidden=(8,), out_shape=(1, 4, 4)),
            MLPDiscriminator(in_shape=(1, 4, 4), hidden=(8,)))


def data(seed=1, n=40):
    return torch.rand(n, 1, 4, 4, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def cfg(**kw):
    base = dict(steps=6, batch_size=8, sample_every=3, checkpoint_every=3, progress=False, quick_steps=10**6)
    return TrainConfig(**{**base, **kw})


@pytest.fixture
def ckpt(tmp_path):
    G, D = tiny_pair()
    train_gan(G, D, data(), cfg(), device="cpu", out_dir=tmp_path)
    return tmp_path / "checkpoint.pt"


@pytest.mark.parametrize("change, named", [
    (dict(batch_size=4), "batch_size: 8 in the checkpoint, 4 now"),
    (dict(n_critic=2), "n_critic: 1 in the checkpoint, 2 now"),
    (dict(loss="saturating"), "loss: 'nonsaturating' in the checkpoint, 'saturating' now"),
    (dict(lr_g=1e-3, lr_d=1e-3), "lr_g: 0.0002 in the checkpoint, 0.001 now; lr_d"),
    (dict(real_label=0.9), "real_label"),
    (dict(ema=0.99), "ema: None in the checkpoint, 0.99 now"),
    (dict(real_label=0.9, fake_label=0.1), "fake_label: 0.0 in the checkpoint, 0.1 now"),
    (dict(loss="wgan", weight_clip=0.02), "weight_clip: 0.01 in the checkpoint, 0.02 now"),
    (dict(r1_weight=10.0), "r1_weight: 0.0 in the checkpoint, 10.0 now"),
    (dict(augment="translation"), "augment: None in the checkpoint, 'translation' now"),
])
def test_resume_with_other_settings_is_refused_before_any_step(ckpt, change, named):
    G, D = tiny_pair()
    before = [p.clone() for p in G.parameters()]
    with pytest.raises(ValueError, match="other settings") as err:
        train_gan(G, D, data(), cfg(steps=9, **change), device="cpu", resume=ckpt)
    assert named in str(err.value) and "allow_config_change=True" in str(err.value)
    assert "--allow-config-change" in str(err.value)
    assert all(torch.equal(a, b) for a, b in zip(before, G.parameters()))  # nothing trained


def test_a_checkpoint_from_before_a_setting_existed_resumes_as_its_default(ckpt, tmp_path):
    blob = load_checkpoint(ckpt)
    for name in ("fake_label", "weight_clip", "r1_weight", "augment"):  # added for notebook 09
        del blob["config"][name]
    torch.save(blob, tmp_path / "older.pt")
    G, D = tiny_pair()
    assert train_gan(G, D, data(), cfg(steps=9), device="cpu", resume=tmp_path / "older.pt").step[-1] == 9
    assert run_state.checkpoint_matches(tmp_path / "older.pt", cfg(), data())[0]  # a cached run still counts
    with pytest.raises(ValueError, match="augment: None in the checkpoint, 'cutout' now"):
        train_gan(*tiny_pair(), data(), cfg(steps=9, augment="cutout"), device="cpu",
                  resume=tmp_path / "older.pt")


@pytest.mark.parametrize("fixes", [
    dict(augment="color,translation,cutout", r1_weight=1.0, real_label=0.9, fake_label=0.1, ema=0.9),
    dict(loss="wgan", n_critic=2, augment="translation", lr_d=1e-3),
])
def test_a_run_with_notebook_09s_fixes_resumes_bit_for_bit(tmp_path, fixes):
    """The augmentation draws from the loop's generator, which the checkpoint carries."""
    from gan_course.data import load_mnist

    x = load_mnist("subset").x_train[:256]

    def pair(seed=0):
        torch.manual_seed(seed)
        return MLPGenerator(latent_dim=8, hidden=(32,)), MLPDiscriminator(hidden=(32,))

    c = dict(batch_size=16, sample_every=6, checkpoint_every=6, **fixes)
    G, D = pair()
    full = train_gan(G, D, x, cfg(steps=12, **c), device="cpu")
    train_gan(*pair(), x, cfg(steps=6, **c), device="cpu", out_dir=tmp_path)
    G2, D2 = pair(seed=5)  # other initial weights: all of them come from the file
    resumed = train_gan(G2, D2, x, cfg(steps=12, **c), device="cpu", resume=tmp_path / "checkpoint.pt")
    assert all(torch.equal(a, b) for a, b in zip(G2.parameters(), G.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(D2.parameters(), D.parameters()))
    assert resumed.loss_d == full.loss_d and resumed.loss_g == full.loss_g
    if full.G_ema is not None:
        assert all(torch.equal(a, b) for a, b in zip(resumed.G_ema.parameters(), full.G_ema.parameters()))


def test_other_data_is_refused_and_can_be_accepted(ckpt):
    G, D = tiny_pair()
    with pytest.raises(ValueError, match=r"data: 40 samples \(1, 4, 4\) in the checkpoint, 40 .*other values"):
        train_gan(G, D, data(seed=2), cfg(steps=9), device="cpu", resume=ckpt)
    with pytest.raises(ValueError, match=r"data: 40 samples .* 32 \(1, 4, 4\) now"):
        train_gan(G, D, data(n=32), cfg(steps=9), device="cpu", resume=ckpt)
    h = train_gan(G, D, data(n=32), cfg(steps=9), device="cpu", resume=ckpt, allow_config_change=True)
    assert h.step[-1] == 9


def test_accepted_changes_take_effect(ckpt):
    G, D = tiny_pair()
    h = train_gan(G, D, data(), cfg(steps=8, batch_size=4), device="cpu", resume=ckpt,
                  allow_config_change=True)
    assert h.step[-1] == 8 and h.images_seen == 6 * 8 + 2 * 4  # the new batch size counted
    new = cfg(steps=8, lr_g=1e-3, betas=(0.0, 0.9))
    run, _, _ = run_state.prepare_run(*tiny_pair(), data(), None, new, torch.device("cpu"),
                                      run_state.distributed.Dist())
    run_state.restore_run(run, ckpt, new, run.fingerprint, allow_config_change=True)
    assert run.opt_g.param_groups[0]["lr"] == 1e-3 and run.opt_d.param_groups[0]["lr"] == 2e-4
    assert run.opt_g.param_groups[0]["betas"] == (0.0, 0.9) and run.step == 6


def test_free_settings_may_change(ckpt):
    G, D = tiny_pair()
    h = train_gan(G, D, data(), cfg(steps=9, sample_every=2, checkpoint_every=7, max_seconds=60.0,
                                    amp=None, progress=False), device="cpu", resume=ckpt)
    assert h.step[-1] == 9


def test_old_format_and_sampling_only_checkpoints_say_so_in_one_sentence(ckpt, tmp_path):
    blob = load_checkpoint(ckpt)
    blob["format"] = "gan_course.checkpoint/1"
    torch.save(blob, tmp_path / "old.pt")
    G, D = tiny_pair()
    with pytest.raises(CheckpointError, match=r"older version of the course \(format 'gan_course.checkpoint/1'"):
        train_gan(G, D, data(), cfg(steps=9), device="cpu", resume=tmp_path / "old.pt")
    # an old checkpoint still gives its generator for sampling
    assert checkpoints.generator_from_checkpoint(tmp_path / "old.pt")(torch.zeros(2, 4)).shape == (2, 1, 4, 4)
    blob["format"] = "gan_course.checkpoint/9"
    torch.save(blob, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_checkpoint(tmp_path / "future.pt")
    save_checkpoint(tmp_path / "weights_only.pt", G=G, D=D, step=3)
    with pytest.raises(CheckpointError, match="holds no optimiser state .* cannot resume from it") as err:
        train_gan(G, D, data(), cfg(steps=9), device="cpu", resume=tmp_path / "weights_only.pt")
    assert str(err.value).count(". ") == 0  # one sentence


def test_checkpoints_keep_few_samples_as_bytes(tmp_path):
    G, D = tiny_pair()
    x = torch.rand(64, 1, 28, 28) * 2 - 1
    G = MLPGenerator(latent_dim=4, hidden=(8,))
    D = MLPDiscriminator(hidden=(8,))
    h = train_gan(G, D, x, cfg(steps=80, sample_every=1, checkpoint_every=1000), device="cpu",
                  out_dir=tmp_path)
    assert len(h.samples) == 80  # the history in memory keeps every grid
    blob = load_checkpoint(tmp_path / "checkpoint.pt")
    kept = blob["history"]["samples"]
    assert len(kept) == run_state.CHECKPOINT_SAMPLES and kept[-1][0] == 80
    assert kept[0][1].dtype == torch.uint8
    restored = training.History.from_dict(blob["history"])
    assert restored.step == h.step and restored.loss_d == h.loss_d  # series exact (float32)
    assert (restored.samples[-1][1] - h.samples[-1][1]).abs().max() <= 1 / 127.5  # grids to a byte
    # 32 grids of 64 digits as bytes are 1.6 MB; as float32 all 80 would be 16 MB
    assert (tmp_path / "checkpoint.pt").stat().st_size < 3 * 2**20


def test_sampling_and_checkpoints_are_off_the_clock(tmp_path, monkeypatch):
    real = run_state.save_run

    def slow_save(*args, **kw):
        time.sleep(0.3)
        return real(*args, **kw)

    monkeypatch.setattr(training, "save_run", slow_save)
    G, D = tiny_pair()
    t = time.perf_counter()
    h = train_gan(G, D, data(), cfg(steps=6, checkpoint_every=1), device="cpu", out_dir=tmp_path)
    wall = time.perf_counter() - t
    assert wall > 1.8  # six slow saves happened ...
    assert h.seconds < 0.5 * wall  # ... and are not training time
    G, D = tiny_pair()
    h = train_gan(G, D, data(), cfg(steps=10**5, checkpoint_every=1, max_seconds=0.5), device="cpu",
                  out_dir=tmp_path / "b")
    assert h.stopped_reason == "time budget" and len(h) >= 2  # the budget is training time


def test_a_cached_run_must_match_mode_recipe_and_data(ckpt, monkeypatch):
    monkeypatch.delenv("GAN_COURSE_QUICK", raising=False)
    ok, why = run_state.checkpoint_matches(ckpt, cfg(), data())
    quick_made = load_checkpoint(ckpt)["extra"]["quick"]
    if quick_made:  # `make test` runs in quick mode
        assert not ok and "quick mode" in why
        monkeypatch.setenv("GAN_COURSE_QUICK", "1")
    assert run_state.checkpoint_matches(ckpt, cfg(), data())[0]
    ok, why = run_state.checkpoint_matches(ckpt, cfg(lr_g=1e-3), data())
    assert not ok and "lr_g" in why
    ok, why = run_state.checkpoint_matches(ckpt, cfg(), data(seed=5))
    assert not ok and "data" in why
    ok, why = run_state.checkpoint_matches(ckpt.parent / "nothing.pt", cfg(), data())
    assert not ok and "no checkpoint" in why
