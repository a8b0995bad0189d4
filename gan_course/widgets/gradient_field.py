"""Notebook 02's widget: the gradient D hands to G, as D learns.

A tiny 2-D G stays at its initial weights while D trains against G's fixed points with the
package's :func:`gan_course.training.d_step`; the arrows are G's gradient field
(:func:`gan_course.losses.generator_field`) drawn by
:func:`gan_course.plotting.draw_gradient_field`.
"""

from __future__ import annotations

from gan_course.widgets.core import SLIDER, Explorer, show

# the widget's names for the two generator losses -> the package's loss names
GRADIENT_FIELD_LOSSES = ("non-saturating -log D(G(z))", "saturating log(1 - D(G(z)))")
_LOSS_NAMES = dict(zip(GRADIENT_FIELD_LOSSES, ("nonsaturating", "saturating")))
LIMITS = (-3.5, 3.5, -3.5, 3.5)  # one view for every panel, so they compare


def _loss_name(loss: str) -> str:
    if loss not in _LOSS_NAMES:
        raise ValueError(f"unknown generator loss {loss!r}; choose one of {GRADIENT_FIELD_LOSSES}")
    return _LOSS_NAMES[loss]


class _GradientFieldGame:
    """A tiny 2-D G and D (the package's MLP models) and a ring of 8 Gaussians. G stays at
    its initial weights; D takes ``max_steps`` steps of :func:`gan_course.training.d_step`
    (``d_loss_bce``, Adam with ``lr_d`` and Adam's default betas) against G's
    fixed points, and a copy of D's weights is kept every ``every`` steps, so any step
    count redraws without retraining."""

    def __init__(self, max_steps: int = 400, every: int = 25, batch: int = 64, seed: int = 0,
                 lr_d: float = 1e-2):
        import copy

        import torch

        from gan_course import toy
        from gan_course.models import MLPDiscriminator, MLPGenerator
        from gan_course.training import TrainConfig, d_step

        with torch.random.fork_rng(devices=[]):  # leave the notebook's random stream alone
            torch.manual_seed(seed)
            self.G = MLPGenerator(latent_dim=2, hidden=(32,), out_shape=(2,), out_activation=None)
            self.D = MLPDiscriminator(in_shape=(2,), hidden=(32,))
        self.x_real = toy.ring().sample(batch, torch.Generator().manual_seed(seed))
        self.z = torch.randn(batch, 2, generator=torch.Generator().manual_seed(seed + 1))
        with torch.no_grad():
            self.x_fake = self.G(self.z)  # G never moves: one batch of fakes for every step
        # Adam's own betas: D alone against fixed points is plain classification; the
        # course's beta1 = 0.5 calms the two-player game, which is not played here
        cfg = TrainConfig(lr_d=lr_d, betas=(0.9, 0.999), batch_size=batch, seed=seed)
        opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.lr_d, betas=cfg.betas)
        self.every, self.max_steps = every, max_steps
        self.states = [copy.deepcopy(self.D.state_dict())]
        for step in range(1, max_steps + 1):
            d_step(self.G, self.D, opt_d, self.x_real, self.z, cfg, x_fake=self.x_fake)
            if step % every == 0:
                self.states.append(copy.deepcopy(self.D.state_dict()))

    def field(self, d_steps: int, loss: str):
        """``(x_fake, arrows, mean D(G(z)))`` with D after ``d_steps`` steps (rounded down to
        a kept copy); ``arrows`` are G's gradient field at its points, each point's own
        ``-d ell / d x`` (:func:`gan_course.losses.generator_field`)."""
        import torch

        from gan_course.losses import generator_field

        name = _loss_name(loss)
        if not 0 <= d_steps <= self.max_steps:
            raise ValueError(f"d_steps must be in [0, {self.max_steps}], got {d_steps}")
        self.D.load_state_dict(self.states[d_steps // self.every])
        with torch.no_grad():
            d_fake = torch.sigmoid(self.D(self.x_fake)).mean().item()
        return self.x_fake, generator_field(self.D, self.x_fake, name), d_fake


_GAMES: dict[int, _GradientFieldGame] = {}


def _gradient_field_game(max_steps: int = 400) -> _GradientFieldGame:
    """One trained game per ``max_steps``, shared by the widget and its static companion
    (training is deterministic, and ``field`` reloads D's weights on every call)."""
    if max_steps not in _GAMES:
        _GAMES[max_steps] = _GradientFieldGame(max_steps=max_steps)
    return _GAMES[max_steps]


def _draw_field(ax, game: _GradientFieldGame, d_steps: int, loss: str, legend: bool = False):
    """One panel; arrows share the scale of the non-saturating field at the same D.
    Returns the mean arrow norm."""
    from gan_course.plotting import draw_gradient_field

    x_fake, arrows, d_fake = game.field(d_steps, loss)
    _, reference, _ = game.field(d_steps, GRADIENT_FIELD_LOSSES[0])
    draw_gradient_field(ax, game.D, game.x_real, x_fake, arrows, limits=LIMITS,
                        arrow_unit=reference.norm(dim=1).max().item(), colorbar=False,
                        legend=legend)
    mean_norm = arrows.norm(dim=1).mean().item()
    ax.set_title(f"{loss.split(' ')[0]}, D after {d_steps} steps\nD(G(z)) = {d_fake:.3f}, "
                 f"mean |arrow| = {mean_norm:.3g}", fontsize=9)
    return mean_norm


def gradient_field_figure(steps=(0, 50, 400), max_steps: int = 400):
    """The static companion of :func:`generator_gradient_field`: both generator losses (rows)
    for D trained ``steps`` steps (columns). Returns ``(fig, {(loss, steps): mean |arrow|})``."""
    import matplotlib.pyplot as plt

    from gan_course.plotting import FAKE_NAME, REAL_NAME

    if max(steps) > max_steps:
        raise ValueError(f"steps {steps} go beyond max_steps={max_steps}; raise max_steps")
    game = _gradient_field_game(max_steps)
    fig, axes = plt.subplots(2, len(steps), figsize=(3.3 * len(steps), 6.6), squeeze=False)
    norms = {}
    for row, loss in enumerate(GRADIENT_FIELD_LOSSES):
        for col, n in enumerate(steps):
            norms[(loss, n)] = _draw_field(axes[row, col], game, n, loss,
                                           legend=(row, col) == (0, 0))
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"-dL_G/dx_fake on G's points (arrows, one scale per column) over D(x) = P(real) "
                 f"({REAL_NAME}: real, {FAKE_NAME}: fake)", fontsize=10)
    fig.tight_layout()
    return fig, norms


def generator_gradient_field(d_steps: int = 50, loss: str = GRADIENT_FIELD_LOSSES[0],
                             max_steps: int = 400):
    """Train a tiny 2-D D against a fixed G's points and watch the gradient D hands to G:
    a slider for D's training steps, a dropdown for the generator loss. Arrows are
    ``-dL_G/dx_fake`` per sample, drawn on the scale of the non-saturating loss for the same
    D, so the saturating loss's vanishing gradient shows as vanishing arrows.

    Returns an :class:`~gan_course.widgets.core.Explorer` whose ``.result`` is the mean
    arrow norm drawn.
    """
    import ipywidgets
    import matplotlib.pyplot as plt

    game = _gradient_field_game(max_steps)

    def draw(d_steps=d_steps, loss=loss):
        fig, ax = plt.subplots(figsize=(4.8, 4.6))
        mean_norm = _draw_field(ax, game, d_steps, loss, legend=True)
        fig.tight_layout()
        show(fig)
        return mean_norm

    return Explorer(
        draw, "the gradient D hands to G on 2-D points, as D trains against a fixed G",
        "move D's training steps and switch G's loss",
        d_steps=ipywidgets.IntSlider(value=d_steps, min=0, max=max_steps, step=game.every,
                                     description="D training steps", **SLIDER),
        loss=ipywidgets.Dropdown(options=list(GRADIENT_FIELD_LOSSES), value=loss,
                                 description="G's loss", style=SLIDER["style"]),
    )

