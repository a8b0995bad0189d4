"""Notebooks 00 and 06: digits from a trained generator, picked by a noise seed and moved
through latent space.

Samples come from :func:`gan_course.metrics.sample_generator` and
:func:`gan_course.training.sample_images` (G in eval mode, restored after); digits are drawn
by :mod:`gan_course.plotting` (dark ink on white).
"""

from __future__ import annotations

from gan_course.widgets.core import SLIDER, Explorer, show


def _seeded_z(latent_dim: int, seed: int, n: int = 1):
    """``n`` latent codes from N(0, I), the same for a seed on every machine (CPU generator)."""
    import torch

    return torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(int(seed)))


def pretrained_digits(G, seed: int = 0, n: int = 32, nrow: int = 8, max_seed: int = 99):
    """A grid of ``n`` digits ``G(z)`` with ``z ~ N(0, I)`` drawn from a seed slider.

    Returns an :class:`~gan_course.widgets.core.Explorer`; its ``.result`` is the images
    (n, 1, 28, 28) of the last draw, so tests (and readers) can check what was shown.
    """
    import ipywidgets
    import matplotlib.pyplot as plt

    from gan_course.metrics import sample_generator
    from gan_course.plotting import draw_grid

    def draw(seed=seed):
        x = sample_generator(G, n, seed)
        rows = -(-n // nrow)
        fig, ax = plt.subplots(figsize=(0.6 * nrow + 0.4, 0.6 * rows + 0.45))
        draw_grid(ax, x, nrow, title=f"{n} digits from G, noise seed {seed}")
        fig.tight_layout(pad=0.3)
        show(fig)
        return x

    return Explorer(
        draw, f"{n} digits drawn by the generator from a noise seed",
        "move the seed slider and draw other digits",
        seed=ipywidgets.IntSlider(value=seed, min=0, max=max_seed, description="noise seed",
                                  **SLIDER))


def latent_directions(latent_dim: int, n_directions: int = 3, seed: int = 0):
    """``n_directions`` orthonormal directions (rows, shape (n, latent_dim)) in latent space,
    fixed by ``seed``: the Q factor of a Gaussian matrix, so each is a uniformly random unit
    vector and the directions are perpendicular to each other."""
    import torch

    gen = torch.Generator().manual_seed(int(seed) + 10_000)  # not the sample seeds' stream
    q, _ = torch.linalg.qr(torch.randn(latent_dim, n_directions, generator=gen))
    return q.T.contiguous()


def latent_point(latent_dim: int, seed: int, amounts, directions):
    """``z = z_seed + sum_i a_i u_i``: the seed's code moved ``a_i`` along direction ``u_i``."""
    import torch

    a = torch.as_tensor([float(v) for v in amounts], dtype=torch.float32)
    if len(a) != len(directions):
        raise ValueError(f"got {len(a)} amounts for {len(directions)} directions")
    return _seeded_z(latent_dim, seed) + (a[:, None] * directions).sum(dim=0, keepdim=True)


def _title_of(x, z, judge):
    title = f"|z| = {z.norm():.1f}"
    if judge is not None:
        from gan_course.metrics import judge_outputs

        log_probs, _ = judge_outputs(x, judge)
        p, label = log_probs[0].exp().max(dim=0)
        title += f"\njudge: {int(label)} ({float(p):.0%})"
    return title


def latent_explorer(G, seed: int = 0, judge=None, span: float = 6.0, max_seed: int = 99):
    """One digit ``G(z)`` with ``z = z_seed + a_1 u_1 + a_2 u_2 + a_3 u_3``: a slider picks the
    seed of ``z_seed ~ N(0, I)``, three sliders move it along three fixed orthonormal latent
    directions ``u_i`` (:func:`latent_directions`) by ``a_i`` in ``[-span, span]``. With a
    ``judge``, the title says which digit the judge sees and how sure it is.

    Returns an :class:`~gan_course.widgets.core.Explorer`; ``.result`` is the ``z``
    (1, latent_dim) drawn last.
    """
    import ipywidgets
    import matplotlib.pyplot as plt

    from gan_course.plotting import draw_digit
    from gan_course.training import sample_images

    directions = latent_directions(G.latent_dim, 3)

    def draw(seed=seed, a1=0.0, a2=0.0, a3=0.0):
        z = latent_point(G.latent_dim, seed, (a1, a2, a3), directions)
        x = sample_images(G, z)
        fig, ax = plt.subplots(figsize=(2.4, 2.7))
        draw_digit(ax, x[0], _title_of(x, z, judge))
        fig.tight_layout(pad=0.3)
        show(fig)
        return z

    def amount(name):
        return ipywidgets.FloatSlider(value=0.0, min=-span, max=span, step=0.25, description=name,
                                      **SLIDER)

    return Explorer(
        draw, "latent explorer, one digit G(z) with z moved along three latent directions",
        "pick a noise seed and move z along u1, u2 and u3",
        seed=ipywidgets.IntSlider(value=seed, min=0, max=max_seed, description="noise seed",
                                  **SLIDER),
        a1=amount("along u1"), a2=amount("along u2"), a3=amount("along u3"))


def latent_walk_figure(G, seed: int = 0, values=(-6, -3, 0, 3, 6), n_directions: int = 3):
    """The static companion of :func:`latent_explorer`: row i shows ``G(z_seed + a u_i)`` for
    each ``a`` in ``values`` (the middle column, ``a = 0``, is the seed's own digit)."""
    import matplotlib.pyplot as plt
    import torch

    from gan_course.plotting import draw_digit
    from gan_course.training import sample_images

    directions = latent_directions(G.latent_dim, n_directions)
    z = torch.cat([latent_point(G.latent_dim, seed, [a if j == i else 0.0 for j in range(n_directions)],
                                directions)
                   for i in range(n_directions) for a in values])
    x = sample_images(G, z)
    fig, axes = plt.subplots(n_directions, len(values), figsize=(0.95 * len(values) + 0.6,
                                                                  0.95 * n_directions + 0.5),
                             squeeze=False)
    for k, ax in enumerate(axes.flat):
        draw_digit(ax, x[k])
    for i in range(n_directions):
        axes[i, 0].set_ylabel(f"u{i + 1}")
    for j, a in enumerate(values):
        axes[-1, j].set_xlabel(f"a = {a:g}")
    fig.suptitle(f"noise seed {seed} moved along 3 latent directions", fontsize=10)
    fig.tight_layout(pad=0.3)
    return fig
