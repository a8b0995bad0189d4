"""Plotting: every function returns a Figure whose contents match the data (grid tiles,
curves and reference lines, D's surface and the generator's gradient field checked against
autograd on a linear D), and no function leaves figures open beyond the one it returns."""

import math

import matplotlib

matplotlib.use("Agg")  # tests only; never set for notebook kernels

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from gan_course import plotting as P  # noqa: E402
from gan_course.toy import get_toy  # noqa: E402
from gan_course.training import History  # noqa: E402


@pytest.fixture(autouse=True)
def close_all():
    yield
    plt.close("all")


def _history(n=120, seed=0):
    rng = np.random.default_rng(seed)
    return {"step": list(range(1, n + 1)), "loss_d": list(1.3 + 0.1 * rng.standard_normal(n)),
            "loss_g": list(0.8 + 0.1 * rng.standard_normal(n)),
            "d_real": list(0.6 + 0.05 * rng.standard_normal(n)),
            "d_fake": list(0.4 + 0.05 * rng.standard_normal(n))}


def test_make_grid_places_each_image_like_a_loop():
    x = torch.arange(5 * 4 * 3, dtype=torch.float32).view(5, 1, 4, 3) / 60 * 2 - 1
    g = P.make_grid(x, nrow=2, pad=1, pad_value=-0.5)
    assert g.shape == (3 * 5 + 1, 2 * 4 + 1)
    for i in range(5):
        r, c = divmod(i, 2)
        np.testing.assert_array_equal(g[1 + r * 5: 1 + r * 5 + 4, 1 + c * 4: 1 + c * 4 + 3], x[i, 0].numpy())
    assert g[0, 0] == -0.5 and (g[11:15, 5:8] == -0.5).all()  # the 6th slot is empty


def test_sample_grid_draws_dark_ink_on_white(tmp_path):
    x = -torch.ones(10, 1, 28, 28)
    x[:, :, 10:18, 10:18] = 1.0
    fig = P.sample_grid(x, nrow=5, title="ten squares")
    assert isinstance(fig, Figure) and plt.get_fignums() == [fig.number]
    (ax,) = fig.axes
    im = ax.get_images()[0]
    np.testing.assert_array_equal(im.get_array(), P.make_grid(x, 5))
    assert im.get_cmap().name == "gray_r" and im.get_clim() == (-1, 1)
    assert ax.get_title() == "ten squares"
    # background pixel -1 renders white, ink +1 black
    rgba = im.to_rgba(np.array([[-1.0, 1.0]]))
    assert rgba[0, 0, :3].min() > 0.99 and rgba[0, 1, :3].max() < 0.01
    fig.savefig(tmp_path / "grid.png")
    with pytest.raises(ValueError, match="127.5"):
        P.sample_grid(x * 127.5 + 127.5)


def test_smooth_is_a_debiased_ema():
    v = np.array([1.0, 3.0, 2.0, 5.0])
    w = 0.8
    want = [sum(w ** (t - i) * (1 - w) * v[i] for i in range(t + 1)) / (1 - w ** (t + 1))
            for t in range(4)]
    np.testing.assert_allclose(P.smooth(v, w), want)
    np.testing.assert_allclose(P.smooth(np.full(7, 2.5), 0.9), 2.5)


@pytest.mark.parametrize("as_history", [False, True])
def test_plot_history_curves_and_equilibrium_lines(as_history):
    h = _history()
    if as_history:
        h = History(**h)
    fig = P.plot_history(h)
    ax_loss, ax_d = fig.axes
    ys = [tuple(line.get_ydata()) for line in ax_loss.lines]
    assert (math.log(4), math.log(4)) in ys and (math.log(2), math.log(2)) in ys
    assert any(np.allclose(y, P.smooth(_history()["loss_d"])) for y in ys if len(y) == 120)
    assert (0.5, 0.5) in [tuple(line.get_ydata()) for line in ax_d.lines]
    assert ax_d.get_ylim() == (-0.02, 1.02)
    assert ax_loss.get_xlabel() == "generator step" and ax_d.get_title() == "discriminator outputs"
    assert P.plot_losses(h).axes[0].get_ylabel() == "loss"
    assert P.plot_d_outputs(h).axes[0].get_title() == "discriminator outputs"
    # WGAN critic scores: no probability line
    wfig = P.plot_d_outputs(h, loss="wgan-gp")
    assert (0.5, 0.5) not in [tuple(line.get_ydata()) for line in wfig.axes[0].lines]


def test_samples_over_time_keeps_first_and_last():
    snaps = [(s * 100, torch.rand(16, 1, 28, 28) * 2 - 1) for s in range(11)]
    fig = P.samples_over_time(snaps, max_panels=4)
    titles = [ax.get_title() for ax in fig.axes]
    assert len(titles) == 4 and titles[0] == "step 0" and titles[-1] == "step 1,000"
    assert len(P.samples_over_time({"samples": snaps[:2]}).axes) == 2
    with pytest.raises(ValueError, match="no samples"):
        P.samples_over_time([])


class _LinearD(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 1)
        with torch.no_grad():
            self.lin.weight.copy_(torch.tensor([[1.5, -0.5]]))
            self.lin.bias.fill_(0.2)

    def forward(self, x):
        return self.lin(x).view(-1)


class _ShiftG(nn.Module):
    latent_dim = 2

    def __init__(self):
        super().__init__()
        self.b = nn.Parameter(torch.tensor([0.5, -0.3]))

    def forward(self, z):
        return 0.3 * z + self.b


@pytest.mark.parametrize("loss", ["nonsaturating", "saturating"])
def test_toy_decision_surface_and_gradient_field_match_autograd(loss, tmp_path):
    G, D, ring = _ShiftG().train(), _LinearD().train(), get_toy("ring")
    fig, ax = plt.subplots()
    out = P.draw_toy_decision(ax, G, D, ring, n=200, grid_size=30, loss=loss, n_arrows=50)
    assert G.training and D.training  # modes restored
    assert all(p.grad is None for p in D.parameters())  # D's gradients left alone
    gx, gy, surface = out["grid"]
    pts = torch.tensor(np.stack([gx.ravel(), gy.ravel()], 1), dtype=torch.float32)
    np.testing.assert_allclose(surface.ravel(), torch.sigmoid(D(pts)).detach().numpy(), rtol=1e-6)
    # -d loss_G / dx for a linear D(x) = w.x + b, per sample:
    #   non-saturating -log s(D): (1 - s(D)) w ;  saturating log(1 - s(D)): s(D) w
    x = torch.tensor(out["fake"][:50])
    s = torch.sigmoid(D(x)).detach()[:, None]
    w = D.lin.weight.detach()
    want = (1 - s) * w if loss == "nonsaturating" else s * w
    np.testing.assert_allclose(out["grad"], want.numpy(), rtol=1e-5, atol=1e-7)
    assert len(ax.collections) >= 4  # surface, two scatters, quiver (+ the 1/2 contour)
    fig.savefig(tmp_path / "toy.png")
    fig2 = P.plot_toy_decision(G, D, ring, n=100, grid_size=20)
    assert "ring" in fig2.axes[0].get_title() and len(fig2.axes) == 2  # plot + colorbar


@pytest.mark.parametrize("loss", ["hinge", "least-squares", "wgan"])
def test_raw_score_losses_draw_the_score_not_a_probability(loss):
    G, D, ring = _ShiftG().train(), _LinearD().train(), get_toy("ring")
    fig, ax = plt.subplots()
    out = P.draw_toy_decision(ax, G, D, ring, n=100, grid_size=10, loss=loss, n_arrows=20)
    gx, gy, surface = out["grid"]
    pts = torch.tensor(np.stack([gx.ravel(), gy.ravel()], 1), dtype=torch.float32)
    np.testing.assert_allclose(surface.ravel(), D(pts).detach().numpy(), rtol=1e-6)
    plt.close(fig)


def test_toy_decision_rejects_an_image_generator():
    class ImgG(nn.Module):
        latent_dim = 2

        def forward(self, z):
            return torch.zeros(len(z), 1, 28, 28)
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match=r"\(B, 2\)"):
        P.draw_toy_decision(ax, ImgG(), _LinearD(), get_toy("ring"), n=10)


def test_class_histogram_bars_and_uniform_line():
    counts = [5, 0, 10, 5, 5, 5, 5, 5, 5, 5]
    fig = P.class_histogram(counts)
    ax = fig.axes[0]
    assert [p.get_height() for p in ax.patches] == counts
    assert (5.0, 5.0) in [tuple(line.get_ydata()) for line in ax.lines]
    q = np.array([c for c in counts if c]) / 50
    assert f"{-(q * np.log(q)).sum():.2f}" in ax.get_title()
    with pytest.raises(ValueError, match="10 class counts"):
        P.class_histogram([1, 2, 3])


def test_grid_png(tmp_path):
    path = P.save_grid(torch.rand(10, 1, 28, 28) * 2 - 1, tmp_path / "g.png")
    import matplotlib.image
    img = matplotlib.image.imread(path)
    assert img.shape[:2] == (2 * 30 + 2, 8 * 30 + 2)
    assert not plt.get_fignums()  # written without a figure


def _outside(inner, outer, side):
    """Whether the display-space box ``inner`` lies wholly beyond ``outer``'s ``side``."""
    return {"right": inner.x0 >= outer.x1, "below": inner.y1 <= outer.y0}[side]


@pytest.mark.parametrize("loss, labels", [("nonsaturating", ["log 4\n(D = 1/2)", "log 2\n(D = 1/2)"]),
                                          ("saturating", ["log 4\n(D = 1/2)", "-log 2\n(D = 1/2)"])])
def test_reference_labels_and_legends_lie_outside_the_curves(loss, labels):
    """Curves sitting on their equilibrium lines (as a GAN at balance does) cannot cover
    the lines' labels: those are tick labels right of the axes, the legends under them."""
    n = 200
    ref_g = math.log(2) if loss == "nonsaturating" else -math.log(2)
    h = {"step": list(range(1, n + 1)), "loss_d": [math.log(4)] * n, "loss_g": [ref_g] * n,
         "d_real": [0.5] * n, "d_fake": [0.5] * n}
    fig = P.plot_history(h, loss=loss)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax_loss, ax_d = fig.axes
    for ax, want, colors in ((ax_loss, labels, [P.D_COLOR, P.G_COLOR]),
                             (ax_d, ["1/2:\nD cannot\ntell"], ["k"])):
        (right,) = ax.child_axes  # the secondary axis that carries the labels
        ticks = [t for t in right.get_yticklabels() if t.get_text()]
        assert [t.get_text() for t in ticks] == want
        assert [t.get_color() for t in ticks] == colors
        box = ax.get_window_extent(renderer)
        assert all(_outside(t.get_window_extent(renderer), box, "right") for t in ticks)
        assert _outside(ax.get_legend().get_window_extent(renderer), box, "below")
    np.testing.assert_allclose(right.get_yticks(), [0.5])
    # the curves carry the course's colours: real blue, fake orange, the players' own
    colors = {line.get_label(): line.get_color() for ax in fig.axes for line in ax.lines}
    assert colors["D(x), real"] == P.REAL_COLOR and colors["D(G(z)), fake"] == P.FAKE_COLOR
    assert colors["loss$_D$"] == P.D_COLOR and colors["loss$_G$"] == P.G_COLOR


def test_zooming_past_a_reference_line_hides_its_label():
    """Notebook 05 zooms the loss axes after drawing: a label whose line left the view
    must not float above the axes."""
    fig, ax = plt.subplots(layout="constrained")
    P.draw_losses(ax, _history())
    (right,) = ax.child_axes
    ax.set_ylim(0.5, 1.0)  # log 2 = 0.69 stays in view, log 4 = 1.39 leaves it
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box = ax.get_window_extent(renderer)
    drawn = right.yaxis.get_tightbbox(renderer)  # the tick labels matplotlib draws
    y_log2 = ax.transData.transform((0, math.log(2)))[1]
    assert box.y0 < drawn.y0 < y_log2 < drawn.y1 < box.y1  # log 2's label, by its line ...
    assert drawn.height < 3 * 8 * fig.dpi / 72  # ... alone: two lines of 8 pt, not two labels


def test_wgan_curves_have_no_reference_labels():
    fig = P.plot_history(_history(), loss="wgan-gp")
    assert all(not ax.child_axes for ax in fig.axes)


def test_gradient_field_drawer_given_arrows_limits_and_scale():
    D = _LinearD()
    x_real = torch.tensor([[1.0, 1.0], [2.0, 0.0]])
    x_fake = torch.tensor([[-1.0, 0.0], [0.0, -1.0], [0.5, 0.5]], requires_grad=True)
    arrows = torch.tensor([[1.0, 0.0], [0.0, 2.0]])  # for the first two fakes only
    fig, ax = plt.subplots()
    out = P.draw_gradient_field(ax, D, x_real, x_fake, arrows, limits=(-2, 3, -2, 2),
                                arrow_unit=2.0, colorbar=False, legend=False)
    quiver = ax.collections[-1]
    np.testing.assert_array_equal(quiver.U, [1.0, 0.0])
    np.testing.assert_array_equal(quiver.V, [0.0, 2.0])
    # norm 2 (the unit) is drawn ARROW_LENGTH of the 5-unit-wide view
    assert quiver.scale == pytest.approx(2.0 / (P.ARROW_LENGTH * 5))
    assert ax.get_xlim() == (-2, 3) and ax.get_ylim() == (-2, 2) and ax.get_legend() is None
    assert out["unit"] == 2.0 and out["mesh"] is ax.collections[0]
    # without arrows: G's field from losses.generator_field at the first n_arrows fakes
    fig, ax = plt.subplots()
    out = P.draw_gradient_field(ax, D, x_real, x_fake, loss="saturating", n_arrows=2)
    from gan_course.losses import generator_field
    np.testing.assert_allclose(out["grad"], generator_field(D, x_fake[:2], "saturating").numpy())
    assert out["unit"] == pytest.approx(np.quantile(np.linalg.norm(out["grad"], axis=1), 0.9))
    with pytest.raises(ValueError, match=r"shape \(B, 2\)"):
        P.draw_gradient_field(ax, D, x_real, torch.zeros(3, 1, 28, 28))
    with pytest.raises(ValueError, match="one 2-D vector for each"):
        P.draw_gradient_field(ax, D, x_real, x_fake, torch.zeros(4, 2))


def test_toy_decision_colours():
    from matplotlib.colors import to_rgba

    fig, ax = plt.subplots()
    P.draw_toy_decision(ax, _ShiftG(), _LinearD(), get_toy("ring"), n=50, grid_size=10, n_arrows=5)
    dots = [c for c in ax.collections if type(c).__name__ == "PathCollection"]
    assert [tuple(c.get_facecolor()[0]) for c in dots] == [to_rgba(P.REAL_COLOR),
                                                           to_rgba(P.FAKE_COLOR)]
    assert ax.collections[0].get_cmap() is P.D_CMAP
    assert "blue 1, orange 0" in fig.axes[1].get_ylabel()  # the colour bar names the sides


def test_draw_digit_ink_and_signed_range():
    fig, ax = plt.subplots()
    im = P.draw_digit(ax, -torch.ones(1, 1, 5, 5))
    assert im.get_cmap().name == "gray_r" and im.get_clim() == (-1, 1)
    assert im.get_array().shape == (5, 5)
    y = torch.linspace(-3, 2, 25).view(5, 5)
    im = P.draw_digit(ax, y, signed=True)
    assert im.get_clim() == (-3, 3)  # symmetric: 0 is mid grey
    assert P.draw_digit(ax, y / 10, signed=True).get_clim() == (-1, 1)  # never narrower
    with pytest.raises(ValueError, match="one image"):
        P.draw_digit(ax, torch.zeros(2, 5, 5))


def test_plot_run_panels_and_a_runaway_loss_on_symlog():
    h = History(**{k: v for k, v in _history().items()})
    h.grad_norm_g = list(np.geomspace(1.0, 1e-3, len(h.step)))
    h.samples = [(120, torch.rand(16, 1, 28, 28) * 2 - 1)]
    fig = P.plot_run(h, title="a run")
    losses, d_out, grads, samples = fig.axes[:4]
    assert [a.get_title() for a in (losses, d_out)] == ["losses", "discriminator outputs"]
    assert grads.get_yscale() == "log" and losses.get_yscale() == "linear"
    assert samples.get_title() == "samples, step 120" and fig._suptitle.get_text() == "a run"
    h.loss_g = list(np.linspace(1, 3000, len(h.step)))
    runaway = P.plot_run(h).axes[0]
    assert runaway.get_yscale() == "symlog" and runaway.child_axes == []


def test_grad_norm_marks_exact_zeros():
    fig, ax = plt.subplots()
    P.draw_grad_norm(ax, {"step": [1, 2, 3, 4], "grad_norm_g": [1.0, 0.0, 0.5, 0.0]})
    assert "2 steps exactly 0" in ax.get_title()
    fig, ax = plt.subplots()
    P.draw_grad_norm(ax, {"step": [1, 2], "grad_norm_g": [0.0, 0.0]})
    assert ax.texts[0].get_text() == "|grad G| = 0 at every step"


def test_class_mix_stacks_the_shares():
    fig, ax = plt.subplots()
    counts = [[10] * 10, [100] + [0] * 9]
    P.draw_class_mix(ax, [100, 200], counts)
    polys = ax.collections
    assert len(polys) == 10 and ax.get_ylim() == (0, 1)
    top = polys[0].get_paths()[0].vertices[:, 1].max()  # class 0's band reaches 1 at step 200
    assert math.isclose(top, 1.0)
