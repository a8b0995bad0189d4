"""Notebook 09's fixes in the engine: each knob reaches the steps as its formula says, the
defaults train bit for bit as before, bad combinations are refused, the flags exist."""

import copy

import pytest
import torch
from torch.nn import functional as F

from gan_course import cli, commands, losses, run_state, training
from gan_course.augment import diff_augment
from gan_course.data import load_mnist
from gan_course.models import MLPDiscriminator, MLPGenerator
from gan_course.training import TrainConfig, d_step, g_step, train_gan

SHAPE = (1, 8, 8)  # big enough for every transform: shifts of 1 pixel, a 4 x 4 cut-out


def tiny_pair(seed=0, shape=SHAPE):
    torch.manual_seed(seed)
    return (MLPGenerator(latent_dim=4, hidden=(8,), out_shape=shape),
            MLPDiscriminator(in_shape=shape, hidden=(8,)))


def tiny_data(n=40, seed=1, shape=SHAPE):
    return torch.rand(n, *shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def cfg(**kw):
    base = dict(steps=8, batch_size=8, sample_every=4, checkpoint_every=4, progress=False,
                quick_steps=10**6)
    return TrainConfig(**{**base, **kw})


def params(m):
    return [p.detach().clone() for p in m.parameters()]


def assert_same(a, b):
    assert all(torch.equal(p, q) for p, q in zip(a, b, strict=True))


def frozen(module):
    """An optimiser that steps nothing, to read a step's loss against a hand formula."""
    return torch.optim.SGD(module.parameters(), lr=0.0)


# ------------------------------------------------------- the defaults change nothing

def pre_fix_d_step(G, D, opt_d, x_real, z, cfg, *, x_fake=None, y=None, generator=None, scaler=None):
    """``training.d_step`` as it was before these fixes, for the BCE losses in float32."""
    if x_fake is None:
        with torch.no_grad():
            x_fake = G(z)
    x_fake = x_fake.detach()
    logits_real, logits_fake = D(x_real).float(), D(x_fake).float()
    loss_d = (F.binary_cross_entropy_with_logits(logits_real, torch.full_like(logits_real, cfg.real_label))
              + F.binary_cross_entropy_with_logits(logits_fake, torch.zeros_like(logits_fake)))
    norm = training._update(loss_d, D, opt_d, scaler)
    return {"loss_d": loss_d.detach(), "d_real": torch.sigmoid(logits_real).mean().detach(),
            "d_fake": torch.sigmoid(logits_fake).mean().detach(), "grad_norm_d": norm}


def pre_fix_g_step(G, D, opt_g, z, cfg, *, x_fake=None, y=None, generator=None, scaler=None):
    """``training.g_step`` as it was before these fixes (it took no generator)."""
    _, g_loss_fn = losses.get_losses(cfg.loss)
    D.requires_grad_(False)
    x_fake = G(z) if x_fake is None else x_fake
    logits_fake = D(x_fake).float()
    loss_g = g_loss_fn(logits_fake)
    norm = training._update(loss_g, G, opt_g, scaler)
    D.requires_grad_(True)
    return {"loss_g": loss_g.detach(), "d_fake_after": torch.sigmoid(logits_fake).mean().detach(),
            "grad_norm_g": norm}


@pytest.mark.parametrize("settings", [
    {},                                                       # the defaults
    dict(fake_label=0.0, weight_clip=0.01, r1_weight=0.0, augment=""),  # the new knobs, spelled out
    dict(loss="saturating", real_label=0.9, ema=0.9, n_critic=2),
])
def test_the_defaults_train_bit_for_bit_as_before_the_fixes(monkeypatch, settings):
    """20 steps on real digits, with the steps of today and with those before the fixes."""
    x = load_mnist("subset").x_train[:64]
    c = cfg(steps=20, batch_size=16, sample_every=10, checkpoint_every=10**6, **settings)
    runs = []
    for patch in (False, True):
        if patch:
            monkeypatch.setattr(training, "d_step", pre_fix_d_step)
            monkeypatch.setattr(training, "g_step", pre_fix_g_step)
        G, D = tiny_pair(shape=(1, 28, 28))
        h = train_gan(G, D, x, c, device="cpu")
        runs.append((params(G), params(D), h))
    (g_now, d_now, h_now), (g_before, d_before, h_before) = runs
    assert_same(g_now, g_before)
    assert_same(d_now, d_before)
    assert h_now.loss_d == h_before.loss_d and h_now.d_fake_after == h_before.d_fake_after
    if c.ema:
        assert_same(params(h_now.G_ema), params(h_before.G_ema))


# ------------------------------------------------------------------- each knob, by hand

def test_augmentation_reaches_every_d_forward_in_both_steps():
    G, D = tiny_pair()
    x_real, z = tiny_data(8), torch.randn(8, 4)
    policy = "color,translation,cutout"
    c = cfg(augment=policy)
    gen, replay = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    stats = d_step(G, D, frozen(D), x_real, z, c, generator=gen)
    with torch.no_grad():  # by hand, the same draws: the real batch's transforms, then the fakes'
        lr_, lf = D(diff_augment(x_real, policy, replay)), D(diff_augment(G(z), policy, replay))
        plain = losses.d_loss_bce(D(x_real), D(G(z)))
    torch.testing.assert_close(stats["loss_d"], losses.d_loss_bce(lr_, lf))
    assert not torch.allclose(stats["loss_d"], plain)  # D did see other images
    stats = g_step(G, D, frozen(G), z, c, generator=gen)  # a fresh transform for G's step
    with torch.no_grad():
        lf = D(diff_augment(G(z), policy, replay))
    torch.testing.assert_close(stats["loss_g"], losses.g_loss_nonsaturating(lf))
    assert torch.equal(gen.get_state(), replay.get_state())


def test_g_learns_through_the_augmentation():
    G, D = tiny_pair()
    z = torch.randn(8, 4)
    g_step(G, D, torch.optim.SGD(G.parameters(), lr=0.1), z, cfg(augment="translation,cutout"),
           generator=torch.Generator().manual_seed(0))
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in G.parameters())


def test_the_loop_draws_augmentations_from_its_own_generator():
    """train_gan's first iteration equals d_step + g_step fed the loop's generator."""
    G, D = tiny_pair()
    G2, D2 = copy.deepcopy(G), copy.deepcopy(D)
    x, c = tiny_data(), cfg(steps=1, seed=3, augment="translation,cutout", r1_weight=1.0)
    train_gan(G, D, x, c, device="cpu")
    gen = torch.Generator().manual_seed(3)  # the loop's draws, in its order:
    perm = torch.randperm(len(x), generator=gen)
    torch.randn(64, 4, generator=gen)
    z = torch.randn(8, 4, generator=gen)
    opt_d = torch.optim.Adam(D2.parameters(), lr=c.lr_d, betas=c.betas)
    opt_g = torch.optim.Adam(G2.parameters(), lr=c.lr_g, betas=c.betas)
    x_fake = G2(z)
    d_step(G2, D2, opt_d, x[perm[:8]], z, c, x_fake=x_fake, generator=gen)
    g_step(G2, D2, opt_g, z, c, x_fake=x_fake, generator=gen)
    assert_same(params(G), params(G2))
    assert_same(params(D), params(D2))


def test_r1_is_added_to_d_loss_on_the_real_images():
    G, D = tiny_pair()
    x_real, z = tiny_data(8), torch.randn(8, 4)
    stats = d_step(G, D, frozen(D), x_real, z, cfg(r1_weight=10.0, loss="hinge"))
    x = x_real.clone().requires_grad_(True)  # by hand: gamma/2 * mean_i ||grad_x D(x_i)||^2
    (grad,) = torch.autograd.grad(D(x).sum(), x)
    with torch.no_grad():
        want = losses.d_loss_hinge(D(x_real), D(G(z))) + 5.0 * (grad ** 2).sum(dim=(1, 2, 3)).mean()
    torch.testing.assert_close(stats["loss_d"], want)
    assert x_real.grad is None and not x_real.requires_grad  # the caller's batch untouched


def test_weight_clipping_keeps_every_d_weight_in_its_box():
    for loss, inside in (("wgan", True), ("wgan-gp", False)):
        G, D = tiny_pair()
        extra = dict(weight_clip=0.01) if loss == "wgan" else {}
        d_step(G, D, torch.optim.SGD(D.parameters(), lr=1.0), tiny_data(8), torch.randn(8, 4),
               cfg(loss=loss, **extra))
        biggest = max(p.abs().max().item() for p in D.parameters())
        assert (biggest <= 0.01) is inside
    assert biggest > 0.01  # (without clipping, this step moves weights beyond it)
    G, D = tiny_pair()
    for _ in range(3):
        d_step(G, D, torch.optim.Adam(D.parameters(), lr=0.1), tiny_data(8), torch.randn(8, 4),
               cfg(loss="wgan", weight_clip=0.05))
    assert all(p.abs().max() <= 0.05 for p in D.parameters())
    assert max(p.abs().max().item() for p in D.parameters()) == pytest.approx(0.05)  # at the wall


def test_two_sided_smoothing_reaches_the_step():
    G, D = tiny_pair()
    x_real, z = tiny_data(8), torch.randn(8, 4)
    stats = d_step(G, D, frozen(D), x_real, z, cfg(real_label=0.9, fake_label=0.1))
    with torch.no_grad():
        want = losses.d_loss_bce(D(x_real), D(G(z)), real_target=0.9, fake_target=0.1)
    torch.testing.assert_close(stats["loss_d"], want)


@pytest.mark.parametrize("settings", [
    dict(loss="hinge"), dict(loss="least-squares"), dict(loss="wgan", n_critic=2),
    dict(loss="hinge", r1_weight=1.0, augment="cutout"),
    dict(real_label=0.9, fake_label=0.1, r1_weight=0.5, augment="color,translation"),
])
def test_each_fix_trains(settings):
    G, D = tiny_pair()
    h = train_gan(G, D, tiny_data(), cfg(steps=4, **settings), device="cpu")
    assert h.stopped_reason == "finished" and len(h) == 4
    if settings.get("loss") in ("hinge", "least-squares", "wgan"):  # raw scores, as recorded
        with torch.no_grad():
            assert h.d_fake_after[-1] == pytest.approx(D(G(torch.randn(2000, 4))).mean().item(), abs=0.5)


def test_ttur_and_ema_reach_their_optimisers_and_average():
    c = cfg(lr_g=1e-3, lr_d=4e-4, ema=0.9, augment="translation")
    run, _, _ = run_state.prepare_run(*tiny_pair(), tiny_data(), None, c, torch.device("cpu"),
                                      run_state.distributed.Dist())
    assert run.opt_g.param_groups[0]["lr"] == 1e-3 and run.opt_d.param_groups[0]["lr"] == 4e-4
    G, D = tiny_pair()
    h = train_gan(G, D, tiny_data(), c, device="cpu")
    assert h.G_ema is not None and not all(torch.equal(a, b) for a, b in zip(params(h.G_ema), params(G)))


# ------------------------------------------------------------------- refused combinations

@pytest.mark.parametrize("settings, match", [
    (dict(loss="hinge", fake_label=0.1), r"label smoothing\) are targets of the BCE losses"),
    (dict(loss="least-squares", real_label=0.9), r"loss 'least-squares' has none: set them to 1.0 and 0.0"),
    (dict(real_label=0.9, fake_label=0.9), r"fake_label must be in \[0, real_label\)"),
    (dict(weight_clip=0.05), r"weight_clip clips D's weights only with loss 'wgan', not 'nonsaturating'"),
    (dict(loss="wgan", weight_clip=0.0), "weight_clip must be a finite number > 0"),
    (dict(r1_weight=-1.0), "r1_weight must be a finite number >= 0"),
    (dict(r1_weight=10.0, loss="wgan-gp"), r"R1\) is for the BCE, hinge and least-squares losses"),
    (dict(augment="translation,flip"), r"cfg.augment: unknown augmentation 'flip' .*color, cutout, translation"),
    (dict(augment=3), "cfg.augment: an augmentation policy is a string"),
])
def test_bad_combinations_are_refused_with_the_fix(settings, match):
    with pytest.raises(ValueError, match=match) as err:
        cfg(**settings)
    assert "\n" not in str(err.value)  # one line


def test_good_combinations_are_accepted():
    assert cfg(loss="wgan", weight_clip=0.05).weight_clip == 0.05
    assert cfg(loss="least-squares", r1_weight=10.0).r1_weight == 10.0
    assert cfg(augment="").augment is None  # one spelling of "no augmentation"


def test_augmentation_of_data_that_are_not_images_is_refused():
    G = MLPGenerator(latent_dim=4, hidden=(8,), out_shape=(2,), out_activation=None)
    D = MLPDiscriminator(in_shape=(2,), hidden=(8,))
    with pytest.raises(ValueError, match=r"transforms images \(N, C, H, W\).*set augment=None"):
        train_gan(G, D, torch.randn(40, 2), cfg(augment="translation"), device="cpu")


# ------------------------------------------------------------------- the command line

def config_of(*flags):
    return commands._config(cli.build_parser().parse_args(["train", "mlp", "--out", "x", *flags]))


def test_each_fix_is_a_flag():
    c = config_of("--loss", "hinge", "--r1-weight", "10", "--augment", "translation,cutout")
    assert (c.loss, c.r1_weight, c.augment) == ("hinge", 10.0, "translation,cutout")
    c = config_of("--real-label", "0.9", "--fake-label", "0.1", "--augment", "none")
    assert (c.real_label, c.fake_label, c.augment) == (0.9, 0.1, None)
    assert config_of("--loss", "least-squares").loss == "least-squares"
    c = config_of("--loss", "wgan", "--weight-clip", "0.02")  # WGAN's recipe, then the flags
    assert (c.n_critic, c.lr_d, c.betas, c.weight_clip) == (5, 5e-5, (0.0, 0.99), 0.02)
    with pytest.raises(SystemExit):
        config_of("--loss", "lsgan")


def test_the_help_names_the_new_flags(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for flag in ("--fake-label", "--weight-clip", "--r1-weight", "--augment"):
        assert flag in text
    for loss in ("hinge", "least-squares", "wgan", "wgan-gp"):
        assert loss in text
