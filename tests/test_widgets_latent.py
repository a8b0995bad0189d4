"""The generator widgets of notebooks 00 and 06 build, draw with their defaults, redraw when
a slider moves, and show what they say they show."""

import matplotlib

matplotlib.use("Agg")  # tests only: no display here (notebooks never set a backend)

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from gan_course import plotting, widgets  # noqa: E402
from gan_course.judge import Judge  # noqa: E402
from gan_course.models import DCGANGenerator, dcgan_init_  # noqa: E402


@pytest.fixture(scope="module")
def G():
    torch.manual_seed(0)
    return dcgan_init_(DCGANGenerator()).eval()


def _controls(w):
    return {c.description: c for c in w.children if hasattr(c, "description")}


def test_pretrained_digits_renders_and_follows_the_seed(G):
    w = widgets.pretrained_digits(G, n=16)
    first = w.result
    assert first.shape == (16, 1, 28, 28) and float(first.abs().max()) <= 1
    c = _controls(w)
    assert set(c) == {"noise seed"}
    c["noise seed"].value = 5
    second = w.result
    assert not torch.equal(first, second)
    z = torch.randn(16, 100, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        torch.testing.assert_close(second, G(z))  # the grid is G(z) for that seed, G in eval mode
    c["noise seed"].value = 0
    torch.testing.assert_close(w.result, first)  # same seed, same digits
    assert plt.get_fignums() == []  # every drawn figure was closed


def test_pretrained_digits_keeps_g_mode(G):
    G.train()
    widgets.pretrained_digits(G, n=8)
    assert G.training  # drawn in eval mode, then put back
    G.eval()


def test_latent_directions_are_orthonormal_and_fixed():
    u = widgets.latent_directions(100, 3)
    torch.testing.assert_close(u @ u.T, torch.eye(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(u, widgets.latent_directions(100, 3))


def test_latent_explorer_moves_z_along_the_directions(G):
    w = widgets.latent_explorer(G)
    z0 = w.result
    torch.testing.assert_close(z0, torch.randn(1, 100, generator=torch.Generator().manual_seed(0)))
    c = _controls(w)
    assert set(c) == {"noise seed", "along u1", "along u2", "along u3"}
    c["along u2"].value = 2.5
    u = widgets.latent_directions(100, 3)
    torch.testing.assert_close(w.result, z0 + 2.5 * u[1:2])
    c["noise seed"].value = 7
    torch.testing.assert_close(w.result, torch.randn(1, 100, generator=torch.Generator().manual_seed(7))
                               + 2.5 * u[1:2])
    assert plt.get_fignums() == []


def test_latent_explorer_with_a_judge_renders(G):
    torch.manual_seed(0)
    w = widgets.latent_explorer(G, judge=Judge().eval())
    _controls(w)["along u1"].value = -1.0
    assert w.result.shape == (1, 100)


def test_latent_walk_figure_middle_column_is_the_seed(G):
    fig = widgets.latent_walk_figure(G, seed=3, values=(-2, 0, 2))
    axes = fig.axes
    assert len(axes) == 9
    with torch.no_grad():
        x = G(torch.randn(1, 100, generator=torch.Generator().manual_seed(3)))[0, 0].numpy()
    for row in range(3):  # a = 0: every row's middle digit is the seed's own digit
        shown = axes[row * 3 + 1].images[0].get_array()
        assert abs(shown - x).max() < 1e-5
    plt.close(fig)


def test_digits_are_dark_ink_on_white(G, monkeypatch):
    from gan_course.widgets import latent

    shown = []
    monkeypatch.setattr(latent, "show", lambda fig: (shown.append(fig), plt.close(fig)))
    widgets.pretrained_digits(G, n=4)
    widgets.latent_explorer(G)
    fig = widgets.latent_walk_figure(G, values=(0,), n_directions=1)
    for f in shown + [fig]:
        for ax in f.axes:
            image = ax.images[0]
            assert image.get_cmap().name == plotting.DIGIT_CMAP and image.get_clim() == (-1, 1)
    plt.close(fig)
