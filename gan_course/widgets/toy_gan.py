"""Notebook 04's widget: a short GAN run on 2-D data with the settings of the controls.

Training is :func:`gan_course.training.train_gan` with a :class:`~gan_course.training.TrainConfig`;
the figure is :func:`gan_course.plotting.draw_toy_decision` (D's surface, samples, G's
gradient field) beside :func:`gan_course.plotting.draw_d_outputs`.
"""

from __future__ import annotations

from gan_course.widgets.core import SLIDER, Explorer, show

TOY_LOSSES = ("nonsaturating", "saturating", "wgan-gp")


def train_toy_gan(dataset: str = "ring", loss: str = "nonsaturating", lr_g: float = 1e-3,
                  lr_d: float = 1e-3, n_critic: int = 1, latent_dim: int = 2,
                  steps: int = 500, hidden: tuple[int, ...] = (128, 128), batch_size: int = 256,
                  seed: int = 0):
    """One short GAN run on a 2-D toy mixture with the package's models and ``train_gan``.

    G is ``MLPGenerator(latent_dim, hidden, out_shape=(2,), out_activation=None)`` (toy
    points are not bounded to [-1, 1], so no tanh) and D ``MLPDiscriminator((2,), hidden)``;
    both are initialised under ``seed`` (the caller's random stream is restored afterwards)
    and trained on 20,000 fixed samples of ``toy.get_toy(dataset)`` on the CPU, in one
    thread. ``steps`` is taken as given, also in quick mode (callers pick it with
    ``runtime.by_mode``).

    Returns ``(G, D, history, data)``.
    """
    import torch

    from gan_course import toy
    from gan_course.models import MLPDiscriminator, MLPGenerator
    from gan_course.training import TrainConfig, train_gan

    if loss not in TOY_LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose one of {TOY_LOSSES}")
    data = toy.get_toy(dataset)
    x = data.sample(20000, torch.Generator().manual_seed(seed))
    with torch.random.fork_rng(devices=[]):  # leave the notebook's random stream alone
        torch.manual_seed(seed)
        G = MLPGenerator(latent_dim=latent_dim, hidden=hidden, out_shape=(2,), out_activation=None)
        D = MLPDiscriminator(in_shape=(2,), hidden=hidden)
    cfg = TrainConfig(steps=steps, quick_steps=steps, batch_size=batch_size, lr_g=lr_g,
                      lr_d=lr_d, n_critic=n_critic, loss=loss, seed=seed, progress=False,
                      sample_every=max(steps, 1), checkpoint_every=max(steps, 1))
    # One thread: layers 128 wide are too small to share among threads, and on a busy
    # 2-core machine the threads' waiting for each other made steps up to 20x slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        history = train_gan(G, D, x, cfg, device="cpu")
    finally:
        torch.set_num_threads(threads)
    return G.eval(), D.eval(), history, data


def _draw_toy_run(ax_surface, ax_curves, G, D, history, data, loss: str, title: str,
                  colorbar: bool = False):
    """D's surface with samples and G's gradient field (top or left), D's outputs per step.
    Returns the :func:`gan_course.metrics.mode_coverage` numbers of 2,000 samples."""
    from gan_course import metrics, plotting

    plotting.draw_toy_decision(ax_surface, G, D, data, n=1000, grid_size=80, loss=loss,
                               n_arrows=120, colorbar=colorbar)
    cov = metrics.mode_coverage(metrics.sample_generator(G, 2000, seed=123, batch_size=2000), data)
    ax_surface.set_title(f"{title}\nmodes covered {cov['modes_covered']}/{cov['n_modes']}, "
                         f"high quality {cov['high_quality']:.0%}", fontsize=9)
    ax_surface.legend().remove()
    plotting.draw_d_outputs(ax_curves, history, loss=loss)
    ax_curves.set_title(f"{len(history)} steps in {history.seconds:.1f} s", fontsize=9)
    return cov


def _colour_key(loss: str) -> str:
    from gan_course.plotting import FAKE_NAME, REAL_NAME

    if loss == "wgan-gp":
        return f"colour: critic score ({REAL_NAME} high, {FAKE_NAME} low)"
    return f"colour: D(x) = P(real) ({REAL_NAME} 1, {FAKE_NAME} 0; dashed D = 1/2)"


def toy_gan_trainer(dataset: str = "ring", loss: str = "nonsaturating", lr_g: float = 1e-3,
                    lr_d: float = 1e-3, n_critic: int = 1, latent_dim: int = 2,
                    steps: int | None = None, seed: int = 0):
    """Train a short GAN on 2-D data with the settings of the controls, then draw D's
    decision surface, real and generated samples, G's gradient field and D's outputs.

    Controls: dataset, G's loss, the two learning rates (log sliders), ``n_critic`` (D steps
    per G step) and the latent size. Each change retrains from the same seed (a few
    seconds on a CPU for the default ``steps = runtime.by_mode(full=500, quick=20)``), so
    two settings differ only by what was changed. Returns an
    :class:`~gan_course.widgets.core.Explorer` whose ``.result`` is the last run's
    :func:`gan_course.metrics.mode_coverage` dict.
    """
    import ipywidgets
    import matplotlib.pyplot as plt

    from gan_course import runtime

    steps = steps if steps is not None else runtime.by_mode(full=500, quick=20)

    def draw(dataset=dataset, loss=loss, lr_g=lr_g, lr_d=lr_d, n_critic=n_critic,
             latent_dim=latent_dim):
        G, D, history, data = train_toy_gan(dataset, loss, lr_g, lr_d, n_critic, latent_dim,
                                            steps=steps, seed=seed)
        fig, (ax_s, ax_c) = plt.subplots(1, 2, figsize=(9.5, 4.2),
                                         gridspec_kw={"width_ratios": [1.1, 1]})
        cov = _draw_toy_run(ax_s, ax_c, G, D, history, data, loss,
                            f"{dataset}, {loss}, lr_g {lr_g:.1e}, lr_d {lr_d:.1e}, "
                            f"k = {n_critic}, latent {latent_dim}", colorbar=True)
        fig.tight_layout()
        show(fig)
        return cov

    lr = dict(base=10, min=-4.5, max=-1.5, step=0.25, readout_format=".1e", **SLIDER)
    return Explorer(
        draw, f"a {steps}-step GAN on 2-D data, retrained with the settings of the controls",
        "pick the data, G's loss, the learning rates, k and the latent size",
        dataset=ipywidgets.Dropdown(options=["ring", "grid", "moons"], value=dataset,
                                    description="data"),
        loss=ipywidgets.Dropdown(options=list(TOY_LOSSES), value=loss, description="G's loss"),
        lr_g=ipywidgets.FloatLogSlider(value=lr_g, description="lr_g", **lr),
        lr_d=ipywidgets.FloatLogSlider(value=lr_d, description="lr_d", **lr),
        n_critic=ipywidgets.IntSlider(value=n_critic, min=1, max=5,
                                      description="k (D steps per G step)", **SLIDER),
        latent_dim=ipywidgets.IntSlider(value=latent_dim, min=1, max=16,
                                        description="latent size", **SLIDER),
    )


def toy_gan_settings_figure(settings, steps: int | None = None, seed: int = 0):
    """The static companion of :func:`toy_gan_trainer`: one column per setting (a dict of
    its keyword arguments, e.g. ``{"lr_d": 1e-4}``), D's surface with samples and G's
    gradient field on top, D's outputs below. Returns ``(fig, [coverage dicts])``."""
    import matplotlib.pyplot as plt

    from gan_course import runtime

    steps = steps if steps is not None else runtime.by_mode(full=500, quick=20)
    fig, axes = plt.subplots(2, len(settings), figsize=(3.8 * len(settings), 7.0),
                             gridspec_kw={"height_ratios": [1.3, 1]}, squeeze=False)
    covs, losses = [], set()
    for col, setting in enumerate(settings):
        kw = {"dataset": "ring", "loss": "nonsaturating", "lr_g": 1e-3, "lr_d": 1e-3,
              "n_critic": 1, "latent_dim": 2, **setting}
        G, D, history, data = train_toy_gan(**kw, steps=steps, seed=seed)
        label = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}"
                          for k, v in setting.items()) or "defaults"
        covs.append(_draw_toy_run(axes[0, col], axes[1, col], G, D, history, data,
                                  kw["loss"], label))
        losses.add(kw["loss"])
    key = "; ".join(_colour_key(loss) for loss in sorted(losses, key=TOY_LOSSES.index))
    fig.suptitle(f"{steps} steps each, same seed. {key}; arrows: -d loss_G / d x at G's points",
                 fontsize=9)
    fig.tight_layout()
    return fig, covs
