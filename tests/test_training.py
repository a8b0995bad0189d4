"""The step functions against hand-written steps, and the loop: resume, NaN, Ctrl-C, checks."""

import copy

import pytest
import torch
from torch.nn import functional as F

from gan_course import losses, training
from gan_course.checkpoints import load_checkpoint
from gan_course.models import (ConditionalDCGANDiscriminator, ConditionalDCGANGenerator,
                               MLPDiscriminator, MLPGenerator, build_gan)
from gan_course.training import TrainConfig, d_step, g_step, train_gan


def tiny_pair(seed=0, latent_dim=4):
    torch.manual_seed(seed)
    G = MLPGenerator(latent_dim=latent_dim, hidden=(8,), out_shape=(1, 4, 4))
    D = MLPDiscriminator(in_shape=(1, 4, 4), hidden=(8,))
    return G, D


def tiny_data(n=40, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 4, 4, generator=g) * 2 - 1


def cfg(**kw):
    base = dict(steps=8, batch_size=8, sample_every=4, checkpoint_every=4, progress=False)
    base.update(kw)
    return TrainConfig(**base)


def params(m):
    return [p.detach().clone() for p in m.parameters()]


def assert_same(a, b):
    for p, q in zip(a, b):
        assert torch.equal(p, q)


# ----------------------------------------------------------------------------- steps

def test_d_step_matches_a_hand_written_step():
    G, D = tiny_pair()
    G2, D2 = copy.deepcopy(G), copy.deepcopy(D)
    x_real, z = tiny_data(8), torch.randn(8, 4)
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-2, betas=(0.5, 0.999))
    opt_d2 = torch.optim.Adam(D2.parameters(), lr=1e-2, betas=(0.5, 0.999))
    g_before = params(G)
    stats = d_step(G, D, opt_d, x_real, z, cfg())
    # by hand: -mean log D(x) - mean log(1 - D(G(z))), with D(.) = sigmoid(logit)
    x_fake = G2(z).detach()
    s_real, s_fake = torch.sigmoid(D2(x_real)), torch.sigmoid(D2(x_fake))
    loss = -torch.log(s_real).mean() - torch.log(1 - s_fake).mean()
    opt_d2.zero_grad()
    loss.backward()
    norm = torch.sqrt(sum((p.grad ** 2).sum() for p in D2.parameters()))
    opt_d2.step()
    torch.testing.assert_close(stats["loss_d"], loss.detach())
    torch.testing.assert_close(stats["d_real"], s_real.mean().detach())
    torch.testing.assert_close(stats["d_fake"], s_fake.mean().detach())
    torch.testing.assert_close(stats["grad_norm_d"], norm)
    for p, q in zip(D.parameters(), D2.parameters()):
        torch.testing.assert_close(p, q)
    assert_same(params(G), g_before)  # detach(): D's step never touches G
    assert all(p.grad is None for p in G.parameters())


def test_g_step_matches_a_hand_written_step_and_leaves_D_alone():
    G, D = tiny_pair()
    G2, D2 = copy.deepcopy(G), copy.deepcopy(D)
    z = torch.randn(8, 4)
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-2, betas=(0.5, 0.999))
    opt_g2 = torch.optim.Adam(G2.parameters(), lr=1e-2, betas=(0.5, 0.999))
    d_before = params(D)
    stats = g_step(G, D, opt_g, z, cfg())
    s_fake = torch.sigmoid(D2(G2(z)))
    loss = -torch.log(s_fake).mean()  # non-saturating: -mean log D(G(z))
    opt_g2.zero_grad()
    loss.backward()
    opt_g2.step()
    torch.testing.assert_close(stats["loss_g"], loss.detach())
    torch.testing.assert_close(stats["d_fake_after"], s_fake.mean().detach())
    for p, q in zip(G.parameters(), G2.parameters()):
        torch.testing.assert_close(p, q)
    assert_same(params(D), d_before)
    assert all(p.grad is None for p in D.parameters())  # D was frozen during G's backward
    assert all(p.requires_grad for p in D.parameters())  # ... and unfrozen afterwards


def test_saturating_and_smoothing_options_reach_the_steps():
    G, D = tiny_pair()
    z, x_real = torch.randn(8, 4), tiny_data(8)
    opt = torch.optim.SGD(D.parameters(), lr=0.0)
    with torch.no_grad():
        lr_, lf = D(x_real), D(G(z))
    s = d_step(G, D, opt, x_real, z, cfg(real_label=0.9))
    torch.testing.assert_close(s["loss_d"], losses.d_loss_bce(lr_, lf, real_target=0.9))
    s = g_step(G, D, torch.optim.SGD(G.parameters(), lr=0.0), z, cfg(loss="saturating"))
    torch.testing.assert_close(s["loss_g"], torch.log(1 - torch.sigmoid(lf)).mean())


def test_the_loop_is_the_two_steps():
    """train_gan's first iteration equals d_step + g_step on the same seeded batch and noise."""
    G, D = tiny_pair()
    G2, D2 = copy.deepcopy(G), copy.deepcopy(D)
    x = tiny_data()
    c = cfg(steps=1, seed=3)
    train_gan(G, D, x, c, device="cpu")
    gen = torch.Generator().manual_seed(3)  # the loop's draws, in its order:
    perm = torch.randperm(len(x), generator=gen)           # the epoch's permutation
    torch.randn(64, 4, generator=gen)                      # the fixed noise for sample grids
    z = torch.randn(8, 4, generator=gen)                   # the batch's noise
    opt_d = torch.optim.Adam(D2.parameters(), lr=c.lr_d, betas=c.betas)
    opt_g = torch.optim.Adam(G2.parameters(), lr=c.lr_g, betas=c.betas)
    d_step(G2, D2, opt_d, x[perm[:8]], z, c)
    g_step(G2, D2, opt_g, z, c)
    assert_same(params(G), params(G2))
    assert_same(params(D), params(D2))


# ----------------------------------------------------------------------------- the loop

def test_history_of_a_short_run():
    G, D = tiny_pair()
    h = train_gan(G, D, tiny_data(), cfg(steps=9), device="cpu")
    assert h.step == list(range(1, 10)) and len(h) == 9
    arrays = h.as_arrays()
    for name in training.METRICS:
        assert arrays[name].shape == (9,)
    assert all(0 <= v <= 1 for v in h.d_real + h.d_fake + h.d_fake_after)
    assert [s for s, _ in h.samples] == [4, 8, 9]  # every sample_every steps and at the end
    assert h.samples[0][1].shape == (64, 1, 4, 4) and h.samples[0][1].device.type == "cpu"
    assert h.images_seen == 9 * 8 and h.stopped_reason == "finished" and h.seconds > 0


def test_resume_continues_bit_for_bit(tmp_path):
    x = tiny_data()
    G, D = tiny_pair()
    full = train_gan(G, D, x, cfg(steps=8), device="cpu", out_dir=tmp_path / "full")
    G1, D1 = tiny_pair()
    train_gan(G1, D1, x, cfg(steps=4), device="cpu", out_dir=tmp_path / "half")
    torch.manual_seed(999)  # disturb the global RNG: the checkpoint must restore what matters
    G2, D2 = tiny_pair(seed=5)  # different initial weights: all of them come from the file
    resumed = train_gan(G2, D2, x, cfg(steps=8), device="cpu", out_dir=tmp_path / "half",
                        resume=tmp_path / "half" / "checkpoint.pt")
    assert_same(params(G2), params(G))
    assert_same(params(D2), params(D))
    assert resumed.loss_d == full.loss_d and resumed.step == full.step
    assert load_checkpoint(tmp_path / "half" / "checkpoint.pt")["step"] == 8


def test_cpu_fused_adam_is_asked_for_and_resumes_either_way(tmp_path):
    """The fused kernel only when asked on a CPU; it computes Adam (not bit for bit the same
    rounding), and a checkpoint of either kernel continues with the other."""
    x = tiny_data()
    G, D = tiny_pair()
    loop = train_gan(G, D, x, cfg(steps=8), device="cpu")
    G1, D1 = tiny_pair()
    fused = train_gan(G1, D1, x, cfg(steps=4, cpu_fused_adam=True), device="cpu", out_dir=tmp_path)
    opt = load_checkpoint(tmp_path / "checkpoint.pt")["opt_g"]
    assert opt["param_groups"][0]["fused"] is True
    for a, b in zip(loop.loss_d[:4], fused.loss_d):
        assert a == pytest.approx(b, rel=1e-3, abs=1e-5)
    G2, D2 = tiny_pair(seed=5)
    resumed = train_gan(G2, D2, x, cfg(steps=8), device="cpu", out_dir=tmp_path,
                        resume=tmp_path / "checkpoint.pt")
    assert resumed.stopped_reason == "finished" and resumed.step[-1] == 8
    assert load_checkpoint(tmp_path / "checkpoint.pt")["opt_g"]["param_groups"][0]["fused"] is None
    for p, q in zip(params(G2), params(G)):
        assert torch.allclose(p, q, rtol=1e-3, atol=1e-4)


def test_resume_with_wgan_gp_and_two_critic_steps(tmp_path):
    """Exactness also holds where the gradient penalty draws its own random numbers."""
    x = tiny_data()
    c = dict(loss="wgan-gp", n_critic=2)
    G, D = tiny_pair()
    full = train_gan(G, D, x, cfg(steps=6, **c), device="cpu")
    G1, D1 = tiny_pair()
    train_gan(G1, D1, x, cfg(steps=3, **c), device="cpu", out_dir=tmp_path)
    G2, D2 = tiny_pair()
    resumed = train_gan(G2, D2, x, cfg(steps=6, **c), device="cpu", resume=tmp_path / "checkpoint.pt")
    assert_same(params(G2), params(G))
    assert resumed.loss_d == full.loss_d
    assert full.images_seen == 6 * 8 * 2


def test_ctrl_c_saves_and_returns_the_history(tmp_path, capsys):
    x = tiny_data()
    G, D = tiny_pair()

    def interrupt(step, history, G, D):
        raise KeyboardInterrupt

    h = train_gan(G, D, x, cfg(steps=8), device="cpu", out_dir=tmp_path, hooks=[interrupt], hook_every=3)
    assert h.stopped_reason == "interrupted" and h.step == [1, 2, 3]
    assert "interrupted after step 3" in capsys.readouterr().out
    blob = load_checkpoint(tmp_path / "checkpoint.pt")
    assert blob["step"] == 3 and set(blob) >= {"G", "D", "opt_g", "opt_d", "rng"}
    # and the interrupted run resumes to the same weights as an uninterrupted one
    G2, D2 = tiny_pair()
    train_gan(G2, D2, x, cfg(steps=8), device="cpu", resume=tmp_path / "checkpoint.pt")
    G3, D3 = tiny_pair()
    train_gan(G3, D3, x, cfg(steps=8), device="cpu")
    assert_same(params(G2), params(G3))


def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, capsys):
    x = tiny_data()
    G, D = tiny_pair()

    def poison(step, history, G, D):
        if step == 4:
            with torch.no_grad():
                G.net[0].weight.fill_(float("nan"))

    h = train_gan(G, D, x, cfg(steps=12, checkpoint_every=2), device="cpu", out_dir=tmp_path,
                  hooks=[poison], hook_every=4)
    assert h.stopped_reason.startswith("non-finite loss_d") and "step 5" in h.stopped_reason
    out = capsys.readouterr().out
    assert "step 5" in out and "step 4" in out and "checkpoint" in out
    blob = load_checkpoint(tmp_path / "checkpoint.pt")
    assert blob["step"] == 4  # not overwritten with broken weights
    assert all(torch.isfinite(v).all() for v in blob["G"].values())


def test_nan_from_an_exploding_loss_without_out_dir(monkeypatch):
    calls = {"n": 0}

    def flaky_d_loss(lr, lf, *targets):  # d_step passes a BCE loss (real_label, fake_label)
        calls["n"] += 1
        loss = losses.d_loss_bce(lr, lf, *targets)
        return loss * float("inf") if calls["n"] == 3 else loss

    monkeypatch.setitem(losses.LOSSES, "nonsaturating", (flaky_d_loss, losses.g_loss_nonsaturating))
    G, D = tiny_pair()
    h = train_gan(G, D, tiny_data(), cfg(steps=30), device="cpu")
    assert "step 3" in h.stopped_reason and len(h) == 3


def test_time_budget_and_quick_mode(monkeypatch):
    monkeypatch.delenv("GAN_COURSE_QUICK", raising=False)  # `make test` runs in quick mode
    G, D = tiny_pair()
    h = train_gan(G, D, tiny_data(), cfg(steps=10**6, max_seconds=0.2), device="cpu")
    assert h.stopped_reason == "time budget" and 0 < len(h) < 10**6
    assert h.images_seen == len(h) * 8 and h.step[-1] == len(h)  # no step left unrecorded
    monkeypatch.setenv("GAN_COURSE_QUICK", "1")
    h = train_gan(G, D, tiny_data(), cfg(steps=500, quick_steps=3), device="cpu")
    assert len(h) == 3


@pytest.mark.parametrize("change, match", [
    (dict(steps=0), "steps must be a positive integer"),
    (dict(batch_size=41), "larger than the data set"),
    (dict(loss="lsgan"), "loss must be one of"),
    (dict(n_critic=0), "n_critic"),
    (dict(lr_d=0.0), "lr_d must be a finite number > 0"),
    (dict(lr_g=-1e-3), "lr_g must be a finite number > 0"),
    (dict(lr_g=float("inf")), "lr_g must be a finite number > 0"),
    (dict(lr_d=float("nan")), "lr_d must be a finite number > 0"),
    (dict(betas=0.5), "betas must be two numbers"),
    (dict(betas=(0.5, 1.0)), "betas must be two numbers"),
    (dict(betas=(0.5,)), "betas must be two numbers"),
    (dict(gp_weight=-1.0), "gp_weight must be a finite number >= 0"),
    (dict(real_label=0.0), "real_label"),
    (dict(amp="fp8"), "amp"),
    (dict(ema=1.0), "ema"),
    (dict(max_seconds=0), "max_seconds"),
    (dict(max_seconds=float("inf")), "max_seconds"),
    (dict(steps=2.5), "steps must be a positive integer"),
    (dict(sample_every=True), "sample_every must be a positive integer"),
    (dict(progress="yes"), "progress must be True or False"),
    (dict(cpu_fused_adam=1), "cpu_fused_adam must be True or False"),
])
def test_bad_config_raises_before_training(change, match):
    G, D = tiny_pair()
    before = params(G)
    with pytest.raises(ValueError, match=match):
        train_gan(G, D, tiny_data(), cfg(**change), device="cpu")
    assert_same(params(G), before)


def test_data_that_does_not_fit_the_models():
    G, D = tiny_pair()
    with pytest.raises(ValueError, match=r"shape \(1, 5, 5\) but G makes \(1, 4, 4\)"):
        train_gan(G, D, torch.zeros(20, 1, 5, 5), cfg(), device="cpu")
    with pytest.raises(ValueError, match="float tensor"):
        train_gan(G, D, torch.zeros(20, 1, 4, 4, dtype=torch.uint8), cfg(), device="cpu")


@pytest.mark.parametrize("make, match", [
    (lambda x: (x + 1) / 2, r"lie in \[0, 1\].*x \* 2 - 1"),
    (lambda x: ((x + 1) * 127.5).round(), r"bytes 0..255.*x / 127.5 - 1"),
    (lambda x: x * 3, r"outside G's tanh range"),
    (lambda x: torch.where(torch.arange(40)[:, None, None, None] == 7, float("nan"), x), "16 NaN or infinite"),
])
def test_data_in_the_wrong_range_is_refused_with_the_fix(make, match):
    G, D = tiny_pair()
    with pytest.raises(ValueError, match=match):
        train_gan(G, D, make(tiny_data()), cfg(steps=1), device="cpu")


def test_zero_one_data_trains_when_asked_to():
    G, D = tiny_pair()
    h = train_gan(G, D, (tiny_data() + 1) / 2, cfg(steps=1, check_range=False), device="cpu")
    assert len(h) == 1


def test_bad_hook_every_and_labels_raise_before_training():
    G, D = tiny_pair()
    with pytest.raises(ValueError, match="hook_every must be a positive integer"):
        train_gan(G, D, tiny_data(), cfg(), device="cpu", hooks=[print], hook_every=0)
    torch.manual_seed(0)
    Gc = ConditionalDCGANGenerator(latent_dim=8, channels=(8, 4))
    Dc = ConditionalDCGANDiscriminator(channels=(4, 8))
    x = torch.rand(24, 1, 28, 28) * 2 - 1
    for y, match in [(torch.arange(24) % 11, r"labels must lie in 0..9.*got 0..10"),
                     (torch.arange(24) - 1, r"got -1..22"),
                     (torch.arange(24).float(), "integer labels"),
                     (torch.arange(23), r"shape \(24,\)")]:
        with pytest.raises(ValueError, match=match):
            train_gan(Gc, Dc, x, cfg(steps=1), device="cpu", y=y)


def test_wgan_gp_with_batch_norm_in_the_critic_warns():
    G, D = build_gan("dcgan", latent_dim=8, g_kwargs={"channels": (8, 4)}, d_kwargs={"channels": (4, 8)})
    with pytest.warns(UserWarning, match="batch_norm=False"):
        train_gan(G, D, torch.rand(16, 1, 28, 28) * 2 - 1, cfg(steps=1, loss="wgan-gp"), device="cpu")


def test_toy_2d_training_runs():
    torch.manual_seed(0)
    G = MLPGenerator(latent_dim=2, hidden=(16,), out_shape=(2,), out_activation=None)
    D = MLPDiscriminator(in_shape=(2,), hidden=(16,))
    h = train_gan(G, D, torch.randn(64, 2), cfg(steps=5), device="cpu")
    assert h.samples[-1][1].shape == (64, 2)


def test_conditional_dcgan_trains_with_labels():
    torch.manual_seed(0)
    G = ConditionalDCGANGenerator(latent_dim=8, channels=(8, 4))
    D = ConditionalDCGANDiscriminator(channels=(4, 8))
    x, y = torch.rand(24, 1, 28, 28) * 2 - 1, torch.arange(24) % 10
    h = train_gan(G, D, x, cfg(steps=2), device="cpu", y=y)
    assert len(h) == 2
    with pytest.raises(ValueError, match="pass the labels"):
        train_gan(G, D, x, cfg(steps=2), device="cpu")


def test_dcgan_bf16_ema_and_channels_last_run():
    torch.manual_seed(0)
    G, D = build_gan("dcgan", latent_dim=8, g_kwargs={"channels": (8, 4)}, d_kwargs={"channels": (4, 8)})
    x = torch.rand(24, 1, 28, 28) * 2 - 1
    # (on a CPU without bf16 this warns and trains in float32; either way it must run)
    h = train_gan(G, D, x, cfg(steps=2, amp="bf16", ema=0.9, channels_last=True), device="cpu")
    assert all(torch.isfinite(torch.tensor(h.loss_d + h.loss_g)))
    assert hasattr(h, "G_ema")
    # EMA: theta_ema after 2 steps = 0.9^2 theta_0 + 0.1*0.9 theta_1 + 0.1 theta_2, so it differs from G
    assert not torch.equal(h.G_ema.project[0].weight, G.project[0].weight)


def test_ema_update_formula():
    G, _ = tiny_pair()
    E = copy.deepcopy(G)
    before = params(E)
    with torch.no_grad():
        for p in G.parameters():
            p.add_(1.0)
    training.ema_update(E, G, 0.75)
    for e, b, g in zip(E.parameters(), before, G.parameters()):
        torch.testing.assert_close(e, 0.75 * b + 0.25 * g)


def test_the_ema_samples_with_its_own_batch_norm_statistics():
    """The average network's batch-norm statistics are measured on its own activations,
    not copied from G (whose weights differ)."""
    torch.manual_seed(0)
    G, D = build_gan("dcgan", latent_dim=8, g_kwargs={"channels": (8, 4), "hidden": 16},
                     d_kwargs={"channels": (4, 8), "hidden": 16})
    x = torch.rand(32, 1, 28, 28) * 2 - 1
    h = train_gan(G, D, x, cfg(steps=6, ema=0.5, sample_every=3), device="cpu")
    E = h.G_ema
    bn_g, bn_e = G.body[0], E.body[0]
    assert not torch.equal(bn_g.running_mean, bn_e.running_mean)  # not a copy of G's
    # they are the statistics of E's own pre-batch-norm activations on noise, batch by batch
    # of 64 as in training (E's dense layer has batch norm too, with batch statistics)
    z = torch.randn(1024, 8, generator=torch.Generator().manual_seed(0 + 7919))
    probe = copy.deepcopy(E).train()
    with torch.no_grad():
        means = [probe.project(zb).view(-1, 8, 7, 7).mean(dim=(0, 2, 3)) for zb in z.split(64)]
    torch.testing.assert_close(bn_e.running_mean, torch.stack(means).mean(0), atol=1e-6, rtol=1e-5)
    # and the grid of the last step is E's output in eval mode on the fixed noise
    step, grid = h.samples[-1]
    assert step == 6 and grid.shape == (64, 1, 28, 28)


def test_bce_reference_matches_functional():  # sanity of the hand-written reference above
    t = torch.randn(5)
    torch.testing.assert_close(-torch.log(torch.sigmoid(t)).mean(),
                               F.binary_cross_entropy_with_logits(t, torch.ones(5)))


def test_a_hook_can_stop_training():
    G, D = tiny_pair()
    seen = []

    def enough(step, history, G, D):
        seen.append(step)
        return step >= 4

    h = train_gan(G, D, tiny_data(), cfg(steps=50), device="cpu", hooks=[enough], hook_every=2)
    assert h.stopped_reason == "stopped by a hook" and len(h) == 4 and seen == [2, 4]


def test_export_generator_for_load_pretrained(tmp_path, monkeypatch):
    from gan_course import models
    from gan_course.checkpoints import export_generator

    G, D = tiny_pair()
    h = train_gan(G, D, tiny_data(), cfg(steps=3, ema=0.5), device="cpu", out_dir=tmp_path)
    export_generator(tmp_path / "checkpoint.pt", tmp_path / "assets" / "mlp_generator.pt")
    monkeypatch.setattr(models, "ASSETS", tmp_path / "assets")
    P = models.load_pretrained("mlp")
    z = torch.randn(5, 4)
    h.G_ema.eval()
    torch.testing.assert_close(P(z), h.G_ema(z))  # the EMA weights are the exported ones


def test_the_progress_line_ends_in_its_final_state_in_a_notebook(monkeypatch):
    """In a kernel the progress is one output updated in place: the stored notebook shows the
    final line (never a bar frozen at 0%, never a red one), in text and in HTML."""
    from IPython import display as ipy

    from gan_course import recorder

    shown = []

    class Handle:
        def update(self, data, raw=False):
            shown.append(data)

    monkeypatch.setattr(recorder, "in_notebook_kernel", lambda: True)
    monkeypatch.setattr(ipy, "display", lambda data, raw=False, display_id=False: shown.append(data) or Handle())
    G, D = tiny_pair()
    h = train_gan(G, D, tiny_data(), cfg(steps=10**6, quick_steps=10**6, max_seconds=0.3, progress=True),
                  device="cpu")
    final = shown[-1]
    assert h.stopped_reason == "time budget"
    assert final["text/plain"].startswith(f"training: {len(h):,} steps in 0.")
    assert "stopped by the time budget" in final["text/plain"]
    assert 'value="1.0000"' in final["text/html"] and "0%" not in final["text/plain"]
