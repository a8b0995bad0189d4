"""gan_course.failures, the gallery's machinery: every failure is a function of the same
shape that notebook 09 can call with a fix; the hand-written loop records what the engine
records and stops on NaN like it; the tutorial models make the shapes the notebook shows;
the batch orders, the class tracker and the batch-norm helpers do what they say.
(That each failure gets its diagnosis is tested in test_diagnose.py.)"""

import inspect

import pytest
import torch
from torch import nn

from gan_course import failures
from gan_course.data import load_mnist
from gan_course.models import DCGANGenerator, MLPDiscriminator, build_gan
from gan_course.recorder import METRICS
from gan_course.training import TrainConfig, refresh_batch_norm


@pytest.fixture(scope="module")
def x():
    return load_mnist().x_train[:512]


def test_every_gallery_entry_takes_the_same_arguments():
    for name, (fn, section, what) in failures.GALLERY.items():
        params = inspect.signature(fn).parameters
        assert list(params)[0] == "seed" and params["seed"].default == 0, name
        for arg in ("steps", "x", "device", "g_kwargs", "d_kwargs"):
            assert arg in params and params[arg].kind is inspect.Parameter.KEYWORD_ONLY, (name, arg)
        assert any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()), name
        assert section in ("baseline", "tutorials", "classic") and what, name
        assert fn.__doc__, name


def test_a_fix_reaches_the_config_and_a_seed_reproduces_the_run(x):
    a = failures.d_overpowers_g(3, steps=12, x=x, device="cpu", quick_steps=12, real_label=0.9)
    assert a.cfg.real_label == 0.9 and a.cfg.n_critic == 5 and a.cfg.seed == 3
    assert a.expected == "D winning" and a.name == "D overpowers G" and len(a.history) == 12
    b = failures.d_overpowers_g(3, steps=12, x=x, device="cpu", quick_steps=12, real_label=0.9)
    assert a.history.loss_d == b.history.loss_d  # the same seed trains the same run
    c = failures.d_overpowers_g(4, steps=12, x=x, device="cpu", quick_steps=12, real_label=0.9)
    assert a.history.loss_d != c.history.loss_d
    with pytest.raises(ValueError, match="real_label"):
        failures.d_overpowers_g(0, steps=2, x=x, device="cpu", real_label=2.0)


def test_hooks_and_model_arguments_pass_through(x):
    calls = []
    run = failures.saturating_stall(0, steps=20, x=x, device="cpu", quick_steps=20, n_critic=1,
                                    d_kwargs={"hidden": (32,)}, hooks=[lambda *a: calls.append(a[0])])
    assert calls == [20] and run.D.arch["kwargs"]["hidden"] == (32,) and run.cfg.loss == "saturating"
    loop_calls = []
    failures.missing_detach(0, steps=20, x=x, device="cpu", quick_steps=20,
                            hooks=[lambda *a: loop_calls.append(a[0])])
    assert loop_calls == [20]


def test_quick_mode_shrinks_every_run(x, monkeypatch):
    monkeypatch.setenv("GAN_COURSE_QUICK", "1")
    assert len(failures.labels_swapped(0, x=x, device="cpu").history) == 30
    assert len(failures.softmax_discriminator(0, x=x, device="cpu").history) == 30


def test_the_hand_written_loop_records_what_the_engine_records(x):
    G, D = build_gan("mlp")
    cfg = TrainConfig(steps=25, sample_every=10, progress=False, **failures.MLP_RATES)
    h = failures.train_loop(G, D, failures.shuffled_batches(x, 64, torch.Generator().manual_seed(0)),
                            failures.course_step, cfg, device="cpu")
    assert h.step == list(range(1, 26)) and h.stopped_reason == "finished"
    assert all(len(getattr(h, k)) == 25 for k in METRICS)
    assert [s for s, _ in h.samples] == [10, 20, 25] and h.samples[0][1].shape == (64, 1, 28, 28)
    assert h.images_seen == 25 * 64 and h.seconds > 0


def test_the_loop_stops_on_a_non_finite_loss(x):
    def breaking(G, D, opt_g, opt_d, x_real, z, cfg):
        stats = failures.course_step(G, D, opt_g, opt_d, x_real, z, cfg)
        if breaking.calls == 4:
            stats["loss_g"] = torch.tensor(float("inf"))
        breaking.calls += 1
        return stats
    breaking.calls = 0
    G, D = build_gan("mlp")
    h = failures.train_loop(G, D, failures.shuffled_batches(x, 64, torch.Generator()), breaking,
                            TrainConfig(steps=20, progress=False), device="cpu")
    assert h.stopped_reason == "non-finite loss_g (inf) at step 5" and len(h) == 5


def test_class_sorted_batches_read_one_class_after_another():
    y = torch.tensor([3, 1, 1, 0, 3, 0, 1, 3])
    x = torch.arange(8, dtype=torch.float32).view(8, 1) * 1.0
    next_batch = failures.class_sorted_batches(x, y, 3)
    first, second, wrapped = next_batch(), next_batch(), next_batch()
    assert y[first.long().view(-1)].tolist() == [0, 0, 1] and y[second.long().view(-1)].tolist() == [1, 1, 3]
    assert torch.equal(wrapped, first)  # 2 left over: start again, like a loader that drops the last batch
    assert next_batch.labels.tolist() == [0, 0, 1, 1, 1, 3, 3, 3]


def test_class_mix_records_the_judges_classes():
    mix = failures.ClassMix(n=32)
    G = build_gan("mlp")[0]
    mix(10, None, G, None)
    mix(10, None, G, None)  # train_gan's final call on a hook step is not counted twice
    mix(20, None, G, None)
    assert mix.steps == [10, 20] and all(sum(c) == 32 for c in mix.counts)
    assert mix.shares().shape == (2, 10) and len(mix.favourites()) == 2 and mix.hops() in (0, 1)
    assert mix.counts[0] == mix.counts[1]  # the same G and noise: the same verdict


def test_the_tutorial_models_make_the_shapes_the_notebook_shows():
    z = torch.zeros(2, 100)
    assert failures.tutorial_generator()(z).shape == (2, 1, 2, 2)
    assert failures.three_channel_generator()(z).shape == (2, 3, 28, 28)
    D = failures.SoftmaxD(MLPDiscriminator())
    x = torch.randn(5, 1, 28, 28, requires_grad=True)
    out = D(x)
    assert torch.equal(out, torch.ones(5))
    out.sum().backward()
    assert x.grad.abs().max() == 0


def test_the_tutorial_step_never_updates_g(x):
    run = failures.tutorial_keras(0, steps=5, x=x, device="cpu", quick_steps=5)
    G0, _ = failures.build("mlp", 0)
    assert all(torch.equal(a, b) for a, b in zip(run.G.parameters(), G0.parameters()))
    assert set(run.history.grad_norm_g) == {0.0}


def test_stale_batch_norm_copy_and_its_refresh():
    torch.manual_seed(0)
    G = DCGANGenerator(latent_dim=8, channels=(8, 4), hidden=16).train()
    with torch.no_grad():
        for _ in range(3):
            G(torch.randn(32, 8))  # running statistics of G's own activations
    stale = failures.stale_batch_norm_copy(G)
    bns = [m for m in stale.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert not stale.training and all(torch.equal(m.running_var, torch.ones_like(m.running_var)) for m in bns)
    assert any(not torch.equal(a, b) for a, b in zip(G.buffers(), stale.buffers()))  # G itself untouched
    refresh_batch_norm(stale, latent_dim=8, seed=0)
    assert all(not torch.equal(m.running_var, torch.ones_like(m.running_var)) for m in bns)


def test_break_d_writes_one_nan_at_its_step():
    D = MLPDiscriminator()
    hook = failures.BreakD(at_step=30)
    hook(20, None, None, D)
    assert torch.isfinite(next(D.parameters())).all()
    hook(30, None, None, D)
    assert torch.isnan(next(D.parameters())).sum() == 1


def test_mode_collapse_starts_from_the_shipped_generator(x):
    run = failures.mode_collapse(0, steps=2, x=x, device="cpu", quick_steps=2)
    assert run.class_mix is not None and run.class_mix.steps == [2]
    with pytest.raises(ValueError, match="shipped MLP generator"):
        failures.mode_collapse(0, steps=2, x=x, g_kwargs={"hidden": (8,)})


def test_score_is_the_evaluation_of_the_metrics_module():
    from gan_course.models import load_pretrained

    s = failures.score(load_pretrained("mlp"), n=200, seed=0)
    assert {"confident_fraction", "class_entropy", "fd", "fd_floor", "precision", "recall"} <= set(s)
