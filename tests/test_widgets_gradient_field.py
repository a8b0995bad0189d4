"""The notebook-02 widget (the gradient D hands to G) builds, draws with its defaults,
redraws when a control changes, and shows what the theory says it should."""

import matplotlib

matplotlib.use("Agg")  # tests only: no display here (notebooks never set a backend)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from matplotlib.colors import to_rgba  # noqa: E402

from gan_course import plotting, widgets  # noqa: E402
from gan_course.widgets import gradient_field  # noqa: E402

NS, SAT = widgets.GRADIENT_FIELD_LOSSES
MAX_STEPS = 100  # a short D training keeps the test fast; the notebook uses 400


@pytest.fixture(scope="module")
def game():
    return gradient_field._gradient_field_game(MAX_STEPS)


def test_widget_renders_and_rerenders(game):
    w = widgets.generator_gradient_field(d_steps=0, max_steps=MAX_STEPS)
    first = w.result  # the default draw ran when the widget was built
    assert first > 0
    controls = {c.description: c for c in w.children[:-1]}
    assert set(controls) == {"D training steps", "G's loss"}
    controls["D training steps"].value = MAX_STEPS
    trained = w.result
    controls["G's loss"].value = SAT
    saturating = w.result
    assert trained > first            # a sharper D hands G larger non-saturating gradients
    assert saturating < 0.1 * trained  # ... and vanishing saturating ones
    plt.close("all")


def test_arrows_are_minus_the_per_sample_gradient(game):
    """field() returns -B * dL_G/dx_fake, with L_G the package's non-saturating loss."""
    from gan_course.losses import g_loss_nonsaturating

    x_fake, arrows, d_fake = game.field(50, NS)
    x = x_fake.clone().requires_grad_(True)
    logits = game.D(x)  # field() left D at its 50-step weights
    (grad,) = torch.autograd.grad(g_loss_nonsaturating(logits), x)
    torch.testing.assert_close(arrows, -grad * len(x))
    assert d_fake == pytest.approx(torch.sigmoid(logits).mean().item())


def test_saturating_over_nonsaturating_is_d_over_one_minus_d(game):
    """Per sample, d/dl of log(1 - sigmoid(l)) is -sigmoid(l) and of -log sigmoid(l) is
    -(1 - sigmoid(l)): the arrows are parallel with length ratio D / (1 - D)."""
    x_fake, ns, _ = game.field(MAX_STEPS, NS)
    _, sat, _ = game.field(MAX_STEPS, SAT)
    with torch.no_grad():
        d = torch.sigmoid(game.D(x_fake))
    torch.testing.assert_close(sat, ns * (d / (1 - d))[:, None], rtol=1e-4, atol=1e-7)


def test_d_is_trained_and_states_differ(game):
    x_real, x_fake = game.x_real, game.G(game.z).detach()  # G never moved
    losses = []
    for steps in (0, MAX_STEPS):
        game.field(steps, NS)  # loads D's weights after `steps` steps
        with torch.no_grad():
            losses.append((F.softplus(-game.D(x_real)).mean()
                           + F.softplus(game.D(x_fake)).mean()).item())
    assert losses[1] < 0.5 * losses[0]


def test_static_companion_and_errors(game):
    fig, norms = widgets.gradient_field_figure(steps=(0, MAX_STEPS), max_steps=MAX_STEPS)
    assert len(fig.axes) == 4 and set(norms) == {(loss, n) for loss in (NS, SAT)
                                                 for n in (0, MAX_STEPS)}
    plt.close(fig)
    with pytest.raises(ValueError, match="raise max_steps"):
        widgets.gradient_field_figure(steps=(0, MAX_STEPS + 1), max_steps=MAX_STEPS)
    with pytest.raises(ValueError, match="d_steps must be in"):
        game.field(MAX_STEPS + 1, NS)
    with pytest.raises(ValueError, match="unknown generator loss"):
        game.field(0, "wasserstein")


def test_widget_leaves_global_rng_alone():
    torch.manual_seed(5)
    expected = torch.rand(2)
    torch.manual_seed(5)
    gradient_field._GradientFieldGame(max_steps=2, every=1)
    torch.testing.assert_close(torch.rand(2), expected)


def test_d_is_trained_by_the_package_d_step(monkeypatch):
    """The widget has no training loop of its own: each of D's steps is training.d_step."""
    from gan_course import training

    calls = []
    real_step = training.d_step

    def counting(*args, **kwargs):
        calls.append(kwargs.get("x_fake"))
        return real_step(*args, **kwargs)

    monkeypatch.setattr(training, "d_step", counting)
    game = gradient_field._GradientFieldGame(max_steps=6, every=3)
    assert len(calls) == 6 and all(x is game.x_fake for x in calls)
    assert len(game.states) == 3  # steps 0, 3, 6


def test_panel_uses_the_course_colours(game):
    fig, ax = plt.subplots()
    gradient_field._draw_field(ax, game, MAX_STEPS, NS, legend=True)
    mesh, real, fake, arrows = (ax.collections[0], ax.collections[-3], ax.collections[-2],
                                ax.collections[-1])
    assert mesh.get_cmap() is plotting.D_CMAP and mesh.get_clim() == (0, 1)
    assert tuple(real.get_facecolor()[0]) == to_rgba(plotting.REAL_COLOR)
    assert tuple(fake.get_facecolor()[0]) == to_rgba(plotting.FAKE_COLOR)
    assert tuple(arrows.get_facecolor()[0][:3]) == to_rgba(plotting.G_COLOR)[:3]
    # the colour map puts the real colour's side at D = 1 and the fake colour's at D = 0
    blue, orange = np.array(to_rgba(plotting.REAL_COLOR)), np.array(to_rgba(plotting.FAKE_COLOR))
    top, bottom = np.array(plotting.D_CMAP(1.0)), np.array(plotting.D_CMAP(0.0))
    assert np.abs(top - blue).sum() < np.abs(top - orange).sum()
    assert np.abs(bottom - orange).sum() < np.abs(bottom - blue).sum()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["real", "fake G(z)"]
    plt.close(fig)

