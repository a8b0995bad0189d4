"""The notebook-04 widget (a short GAN run on 2-D data) builds, draws with its defaults,
retrains when a control changes, and trains what its controls say."""

import matplotlib

matplotlib.use("Agg")  # tests only: no display here (notebooks never set a backend)

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from gan_course import widgets  # noqa: E402

STEPS = 15  # a handful of steps keeps the tests fast; the notebook uses 500


def test_widget_renders_and_rerenders():
    w = widgets.toy_gan_trainer(steps=STEPS)
    first = w.result  # the default draw ran when the widget was built
    assert first["n_modes"] == 8 and 0 <= first["modes_covered"] <= 8
    controls = {c.description: c for c in w.children[:-1]}
    assert set(controls) == {"data", "G's loss", "lr_g", "lr_d", "k (D steps per G step)",
                             "latent size"}
    controls["data"].value = "grid"
    assert w.result["n_modes"] == 25
    controls["data"].value = "moons"
    assert w.result["n_modes"] == 16
    for name, value in [("G's loss", "wgan-gp"), ("lr_g", 1e-2), ("k (D steps per G step)", 2),
                        ("latent size", 5), ("G's loss", "saturating")]:
        controls[name].value = value
        assert 0 <= w.result["high_quality"] <= 1
    plt.close("all")


def test_train_toy_gan_uses_the_settings():
    G, D, history, data = widgets.train_toy_gan("grid", "saturating", lr_g=2e-3, lr_d=5e-4,
                                                n_critic=2, latent_dim=3, steps=STEPS, seed=1)
    assert G.latent_dim == 3 and G(torch.randn(4, 3)).shape == (4, 2)
    assert D(torch.randn(4, 2)).shape == (4,)
    assert len(history) == STEPS and data.name == "grid"
    assert history.images_seen == STEPS * 2 * 256  # n_critic real batches per G step
    # same seed, same run: the widget retrains reproducibly
    G2, _, history2, _ = widgets.train_toy_gan("grid", "saturating", lr_g=2e-3, lr_d=5e-4,
                                               n_critic=2, latent_dim=3, steps=STEPS, seed=1)
    assert history2.loss_g == history.loss_g
    z = torch.randn(5, 3)
    torch.testing.assert_close(G(z), G2(z))


def test_training_actually_moves_g_towards_the_data():
    """D's loss falls below log 4 (D learns) and G's samples move out to the ring."""
    G0, _, _, data = widgets.train_toy_gan(steps=1)
    G, D, history, _ = widgets.train_toy_gan(steps=150, lr_g=2e-3, lr_d=2e-3)
    z = torch.randn(1000, 2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        r0, r = G0(z).norm(dim=1).mean(), G(z).norm(dim=1).mean()
    assert r0 < 1.0 and abs(r - 2.0) < abs(r0 - 2.0)  # the ring has radius 2


def test_static_companion_and_errors():
    fig, covs = widgets.toy_gan_settings_figure([{}, {"lr_g": 5e-3}], steps=STEPS)
    assert len(fig.axes) == 4 and len(covs) == 2
    plt.close(fig)
    with pytest.raises(ValueError, match="unknown loss"):
        widgets.train_toy_gan(loss="hinge", steps=1)
    with pytest.raises(ValueError, match="unknown toy dataset"):
        widgets.train_toy_gan(dataset="spiral", steps=1)


def test_widget_leaves_global_rng_alone():
    torch.manual_seed(5)
    expected = torch.rand(2)
    torch.manual_seed(5)
    widgets.train_toy_gan(steps=2)
    torch.testing.assert_close(torch.rand(2), expected)


def test_trains_with_train_gan_and_draws_with_plotting(monkeypatch):
    """No loop of its own: one train_gan call per redraw; the figure is plotting's surface
    (D_CMAP, real blue, fake orange, G's arrows) beside plotting's D-output curves."""
    import numpy as np
    from matplotlib.colors import to_rgba

    from gan_course import plotting, training
    from gan_course.widgets import toy_gan

    runs, shown = [], []
    real_train = training.train_gan
    monkeypatch.setattr(training, "train_gan", lambda *a, **k: runs.append(a[3]) or real_train(*a, **k))
    monkeypatch.setattr(toy_gan, "show", lambda fig: (shown.append(fig), plt.close(fig)))
    w = widgets.toy_gan_trainer(steps=STEPS)
    {c.description: c for c in w.children[:-1]}["lr_d"].value = 1e-2
    assert [cfg.lr_d for cfg in runs] == [1e-3, 1e-2] and all(cfg.steps == STEPS for cfg in runs)
    assert len(shown) == 2
    ax_s, ax_c = shown[1].axes[:2]
    assert ax_s.collections[0].get_cmap() is plotting.D_CMAP
    scatter_colours = [tuple(c.get_facecolor()[0]) for c in ax_s.collections
                       if type(c).__name__ == "PathCollection"]
    assert scatter_colours == [to_rgba(plotting.REAL_COLOR), to_rgba(plotting.FAKE_COLOR)]
    curves = {line.get_label(): line.get_color() for line in ax_c.lines}
    assert curves["D(x), real"] == plotting.REAL_COLOR
    assert curves["D(G(z)), fake"] == plotting.FAKE_COLOR
    assert ax_c.get_title().startswith(f"{STEPS} steps in ") and ax_c.get_title().endswith(" s")
    # the two runs differ: the redraw shows the new run's curves
    assert not np.allclose(shown[0].axes[1].lines[1].get_ydata(), ax_c.lines[1].get_ydata())
