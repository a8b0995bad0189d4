"""The notebooks' interactive widgets.

Each widget is built by a function here so that tests can call it directly. Every builder
renders once with its default values when the notebook cell runs (``interact`` with
defaults), so a headless run (nbval, ``make notebooks``) exercises it; prints go through an
``Output`` so JupyterLab shows them. Notebooks put a static figure beside each widget for
readers who cannot run it.
"""

from __future__ import annotations


# --- notebook 03: the minimax game on 1-D densities ------------------------------------

def minimax_explorer(g_mean: float = 2.0, g_std: float = 1.0, p_data: str = "gaussian"):
    """Sliders move ``p_g = N(mean, std²)`` against a fixed ``p_data``; the figure shows
    ``D*(x) = p_data / (p_data + p_g)`` and the title ``V(G, D*)``, ``2 JSD - log 4`` and
    ``JSD`` live (computed by :func:`gan_course.theory.plot_minimax` on a grid).

    Returns an ``ipywidgets.interactive``; its ``.result`` is ``(V, JSD)`` of the last draw.
    """
    import ipywidgets
    import matplotlib.pyplot as plt

    from gan_course import theory

    def draw(p_data=p_data, g_mean=g_mean, g_std=g_std):
        fig, ax = plt.subplots(figsize=(7.5, 3.2))
        v, jsd = theory.plot_minimax(ax, g_mean, g_std, data=p_data)
        fig.tight_layout()
        plt.show()
        plt.close(fig)  # the inline backend has shown it; do not keep it in memory
        return v, jsd

    slider = dict(continuous_update=False, style={"description_width": "initial"})
    return ipywidgets.interactive(
        draw,
        p_data=ipywidgets.Dropdown(options=["gaussian", "two modes"], value=p_data,
                                   description="p_data"),
        g_mean=ipywidgets.FloatSlider(value=g_mean, min=-4.0, max=4.0, step=0.1,
                                      description="p_g mean", **slider),
        g_std=ipywidgets.FloatSlider(value=g_std, min=0.2, max=3.0, step=0.05,
                                     description="p_g std", **slider),
    )


# --- notebook 01: a kernel sliding over a digit ----------------------------------------

# 3x3 kernels for the convolution explorer. Each is applied as F.conv2d applies weights
# (cross-correlation, no flip), so "sobel x" responds to ink that gets brighter to the right.
CONV_KERNELS = {
    "identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
    "blur": [[1 / 16, 2 / 16, 1 / 16], [2 / 16, 4 / 16, 2 / 16], [1 / 16, 2 / 16, 1 / 16]],
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "edge": [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
    "sobel x": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
}


def _as_digit(image):
    """A (28, 28)-like float tensor from an image of shape (H, W), (1, H, W) or (1, 1, H, W)."""
    import torch

    x = torch.as_tensor(image, dtype=torch.float32).detach().cpu()
    while x.dim() > 2 and x.shape[0] == 1:
        x = x[0]
    if x.dim() != 2:
        raise ValueError(f"expected one grayscale image, shape (H, W) or (1, H, W), got "
                         f"{tuple(torch.as_tensor(image).shape)}; pick one digit, e.g. "
                         f"mnist.x_train[0].")
    return x


def conv_explorer_figure(image, kernel: str = "edge", stride: int = 1, padding: int = 1,
                         dilation: int = 1, out_row: int = 0, out_col: int = 0):
    """One frame of the convolution explorer, as a matplotlib figure.

    Left: the zero-padded input with the taps of the window that produces output pixel
    ``(out_row, out_col)``: rows ``s*i + d*u`` and columns ``s*j + d*v`` of the padded
    input, ``u, v = 0..k-1``. Middle: the kernel. Right: the output of ``F.conv2d``, whose
    size is ``floor((n + 2p - d(k-1) - 1) / s) + 1`` per side (printed in the title).
    Output positions outside the map are clamped to its last row/column.

    Returns ``(fig, (H_out, W_out), (row, col))``.
    """
    import matplotlib.pyplot as plt
    import torch
    import torch.nn.functional as F
    from matplotlib.patches import Rectangle

    if kernel not in CONV_KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}; choose one of {list(CONV_KERNELS)}")
    x = _as_digit(image)
    w = torch.tensor(CONV_KERNELS[kernel], dtype=torch.float32)
    k = w.shape[-1]
    n_h, n_w = x.shape
    h_out = (n_h + 2 * padding - dilation * (k - 1) - 1) // stride + 1
    w_out = (n_w + 2 * padding - dilation * (k - 1) - 1) // stride + 1
    fig, (ax_in, ax_k, ax_out) = plt.subplots(1, 3, figsize=(10, 3.6),
                                              gridspec_kw={"width_ratios": [1.15, 0.6, 1]})
    x_pad = F.pad(x, (padding,) * 4)  # zeros: mid-gray in [-1, 1] units, not background
    ax_in.imshow(x_pad.numpy(), cmap="gray", vmin=-1, vmax=1)
    ax_in.add_patch(Rectangle((padding - 0.5, padding - 0.5), n_w, n_h, fill=False,
                              ec="tab:blue", lw=1, ls=":"))
    ax_in.set_title(f"input {n_h}x{n_w}, zero-padded by {padding}", fontsize=9)
    ax_k.imshow(w.numpy(), cmap="RdBu_r", vmin=-w.abs().max(), vmax=w.abs().max())
    for (u, v), value in zip(torch.cartesian_prod(torch.arange(k), torch.arange(k)).tolist(),
                             w.flatten().tolist()):
        dark = abs(value) > 0.6 * w.abs().max().item()  # white text on the darkest cells
        ax_k.text(v, u, f"{value:.3g}", ha="center", va="center", fontsize=8,
                  color="white" if dark else "black")
    ax_k.set_title(f"kernel '{kernel}' ({k}x{k})", fontsize=9)
    if h_out < 1 or w_out < 1:
        ax_out.text(0.5, 0.5, f"no output:\nthe dilated kernel spans {dilation * (k - 1) + 1}"
                    f" pixels,\nmore than the padded input ({n_h + 2 * padding})",
                    ha="center", va="center", transform=ax_out.transAxes, fontsize=9)
        row = col = None
    else:
        y = F.conv2d(x[None, None], w[None, None], stride=stride, padding=padding,
                     dilation=dilation)[0, 0]
        row, col = min(out_row, h_out - 1), min(out_col, w_out - 1)
        ax_out.imshow(y.numpy(), cmap="gray")
        ax_out.add_patch(Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, ec="red", lw=2))
        taps = torch.arange(k) * dilation
        for u in taps.tolist():
            for v in taps.tolist():
                ax_in.add_patch(Rectangle((stride * col + v - 0.5, stride * row + u - 0.5),
                                          1, 1, fill=False, ec="red", lw=1.2))
        span = dilation * (k - 1) + 1
        ax_in.add_patch(Rectangle((stride * col - 0.5, stride * row - 0.5), span, span,
                                  fill=False, ec="red", lw=0.8, ls="--"))
        ax_out.set_title(f"output {h_out}x{w_out}; red: pixel ({row}, {col}) = "
                         f"{y[row, col].item():.2f}", fontsize=9)
    for ax in (ax_in, ax_k, ax_out):
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"H_out = floor(({n_h} + 2*{padding} - {dilation}*({k}-1) - 1) / {stride}) + 1"
                 f" = {h_out}", fontsize=10)
    fig.tight_layout()
    return fig, (h_out, w_out), (row, col)


def conv_explorer(image, kernel: str = "edge", stride: int = 1, padding: int = 1,
                  dilation: int = 1):
    """Slide a 3x3 kernel over one image: kernel dropdown, stride/padding/dilation sliders
    and the output pixel whose receptive field is drawn on the input.

    The figure is :func:`conv_explorer_figure`; its title states the output size by the
    formula ``floor((n + 2p - d(k-1) - 1) / s) + 1``, and the output map drawn is what
    ``F.conv2d`` returns, so the two can be compared live. The output-pixel sliders' range
    follows the output size. Returns an ``ipywidgets.interactive`` whose ``.result`` is
    ``(H_out, W_out)`` of the last draw.
    """
    import ipywidgets
    import matplotlib.pyplot as plt

    digit = _as_digit(image)

    def draw(kernel=kernel, stride=stride, padding=padding, dilation=dilation,
             out_row=0, out_col=0):
        fig, shape, _ = conv_explorer_figure(digit, kernel, stride, padding, dilation,
                                             out_row, out_col)
        plt.show()
        plt.close(fig)  # the inline backend has shown it; do not keep it in memory
        return shape

    style = dict(continuous_update=False, style={"description_width": "initial"})
    sliders = {
        "stride": ipywidgets.IntSlider(value=stride, min=1, max=3, description="stride s",
                                       **style),
        "padding": ipywidgets.IntSlider(value=padding, min=0, max=3, description="padding p",
                                        **style),
        "dilation": ipywidgets.IntSlider(value=dilation, min=1, max=3,
                                         description="dilation d", **style),
        "out_row": ipywidgets.IntSlider(value=0, min=0, max=27, description="output row",
                                        **style),
        "out_col": ipywidgets.IntSlider(value=0, min=0, max=27, description="output col",
                                        **style),
    }

    def follow_output_size(change=None):
        # keep the output-pixel sliders inside the current output map
        s, p, d = (sliders[key].value for key in ("stride", "padding", "dilation"))
        for key, n in (("out_row", digit.shape[0]), ("out_col", digit.shape[1])):
            sliders[key].max = max(0, (n + 2 * p - d * 2 - 1) // s)  # H_out - 1, k = 3

    follow_output_size()
    for key in ("stride", "padding", "dilation"):
        sliders[key].observe(follow_output_size, names="value")
    return ipywidgets.interactive(
        draw, kernel=ipywidgets.Dropdown(options=list(CONV_KERNELS), value=kernel,
                                         description="kernel"), **sliders)


def conv_kernels_figure(image, kernels=None, padding: int = 1):
    """The static companion of :func:`conv_explorer`: the image and its convolution with
    each 3x3 kernel (stride 1, the given zero padding), one panel each, via ``F.conv2d``."""
    import matplotlib.pyplot as plt
    import torch
    import torch.nn.functional as F

    x = _as_digit(image)
    names = list(kernels or CONV_KERNELS)
    fig, axes = plt.subplots(1, len(names) + 1, figsize=(1.9 * (len(names) + 1), 2.3))
    axes[0].imshow(x.numpy(), cmap="gray", vmin=-1, vmax=1)
    axes[0].set_title(f"input {tuple(x.shape)}", fontsize=9)
    for ax, name in zip(axes[1:], names):
        w = torch.tensor(CONV_KERNELS[name], dtype=torch.float32)[None, None]
        y = F.conv2d(x[None, None], w, padding=padding)[0, 0]
        ax.imshow(y.numpy(), cmap="gray")
        ax.set_title(f"{name} {tuple(y.shape)}", fontsize=9)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


# --- notebook 02: the generator's gradient, handed over by D ---------------------------

GRADIENT_FIELD_LOSSES = ("non-saturating -log D(G(z))", "saturating log(1 - D(G(z)))")


def plot_gradient_field(ax, D, x_real, x_fake, arrows, arrow_unit=None, lim: float = 3.5):
    """Draw what D tells G on 2-D data: ``D(x) = sigmoid(logit)`` as a filled contour, the
    real points (black), the generated points (orange) and one arrow per generated point.

    ``arrows`` are the directions G's step moves its points, ``-dL_G/dx_fake`` (times any
    positive constant). ``arrow_unit`` is the arrow norm drawn 0.8 data units long (default:
    the longest arrow), so that two panels can share one scale. Returns the contour set.
    """
    import torch

    xs = torch.linspace(-lim, lim, 121)
    grid = torch.stack(torch.meshgrid(xs, xs, indexing="xy"), -1).reshape(-1, 2)
    with torch.no_grad():
        p_real = torch.sigmoid(D(grid)).reshape(len(xs), len(xs))
    arrows = torch.as_tensor(arrows).detach()
    unit = float(arrow_unit) if arrow_unit else float(arrows.norm(dim=1).max()) or 1.0
    cs = ax.contourf(xs, xs, p_real, levels=torch.linspace(0, 1, 21).tolist(), cmap="RdBu_r")
    ax.scatter(*x_real.detach().T, s=6, c="k", label="real")
    ax.scatter(*x_fake.detach().T, s=9, c="orange", edgecolors="k", linewidths=0.3, label="G(z)")
    ax.quiver(*x_fake.detach().T, *arrows.T, color="orange", angles="xy", scale_units="xy",
              scale=unit / 0.8, width=0.005)
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal")
    return cs


def _generator_loss(loss: str):
    """The package's generator loss for a widget label (mean over the batch, on logits)."""
    from gan_course import losses

    if loss not in GRADIENT_FIELD_LOSSES:
        raise ValueError(f"unknown generator loss {loss!r}; choose one of {GRADIENT_FIELD_LOSSES}")
    return losses.g_loss_nonsaturating if loss == GRADIENT_FIELD_LOSSES[0] else losses.g_loss_saturating


class _GradientFieldGame:
    """A tiny 2-D G and D (the package's MLP models) and a ring of 8 Gaussians. G stays at
    its initial weights; D is trained against G's fixed points with ``d_loss_bce`` and Adam,
    and a copy of D's weights is kept every ``every`` steps, so any step count redraws
    without retraining."""

    def __init__(self, max_steps: int = 400, every: int = 25, batch: int = 64, seed: int = 0):
        import copy

        import torch

        from gan_course import toy
        from gan_course.losses import d_loss_bce
        from gan_course.models import MLPDiscriminator, MLPGenerator

        with torch.random.fork_rng(devices=[]):  # leave the notebook's random stream alone
            torch.manual_seed(seed)
            self.G = MLPGenerator(latent_dim=2, hidden=(32,), out_shape=(2,), out_activation=None)
            self.D = MLPDiscriminator(in_shape=(2,), hidden=(32,))
        self.x_real = toy.ring().sample(batch, torch.Generator().manual_seed(seed))
        self.z = torch.randn(batch, 2, generator=torch.Generator().manual_seed(seed + 1))
        with torch.no_grad():
            x_fake = self.G(self.z)
        opt_d = torch.optim.Adam(self.D.parameters(), lr=1e-2)
        self.every, self.max_steps = every, max_steps
        self.states = [copy.deepcopy(self.D.state_dict())]
        for step in range(1, max_steps + 1):
            loss_d = d_loss_bce(self.D(self.x_real), self.D(x_fake))  # x_fake has no graph
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
            if step % every == 0:
                self.states.append(copy.deepcopy(self.D.state_dict()))

    def field(self, d_steps: int, loss: str):
        """``(x_fake, arrows, mean D(G(z)))`` with D after ``d_steps`` steps (rounded down to
        a kept copy); ``arrows = -B * dL_G/dx_fake``, the per-sample gradients."""
        import torch

        if not 0 <= d_steps <= self.max_steps:
            raise ValueError(f"d_steps must be in [0, {self.max_steps}], got {d_steps}")
        self.D.load_state_dict(self.states[d_steps // self.every])
        x_fake = self.G(self.z).detach().requires_grad_(True)
        logits = self.D(x_fake)
        (grad,) = torch.autograd.grad(_generator_loss(loss)(logits), x_fake)
        return x_fake.detach(), -grad * len(x_fake), logits.sigmoid().mean().item()


_GAMES: dict[int, _GradientFieldGame] = {}


def _gradient_field_game(max_steps: int = 400) -> _GradientFieldGame:
    """One trained game per ``max_steps``, shared by the widget and its static companion
    (training is deterministic, and ``field`` reloads D's weights on every call)."""
    if max_steps not in _GAMES:
        _GAMES[max_steps] = _GradientFieldGame(max_steps=max_steps)
    return _GAMES[max_steps]


def _draw_field(ax, game: _GradientFieldGame, d_steps: int, loss: str):
    """One panel; arrows share the scale of the non-saturating field at the same D."""
    x_fake, arrows, d_fake = game.field(d_steps, loss)
    _, reference, _ = game.field(d_steps, GRADIENT_FIELD_LOSSES[0])
    plot_gradient_field(ax, game.D, game.x_real, x_fake, arrows,
                        arrow_unit=reference.norm(dim=1).max().item())
    mean_norm = arrows.norm(dim=1).mean().item()
    ax.set_title(f"{loss.split(' ')[0]}, D after {d_steps} steps\nD(G(z)) = {d_fake:.3f}, "
                 f"mean |arrow| = {mean_norm:.3g}", fontsize=9)
    return mean_norm


def gradient_field_figure(steps=(0, 50, 400), max_steps: int = 400):
    """The static companion of :func:`generator_gradient_field`: both generator losses (rows)
    for D trained ``steps`` steps (columns). Returns ``(fig, {(loss, steps): mean |arrow|})``."""
    import matplotlib.pyplot as plt

    if max(steps) > max_steps:
        raise ValueError(f"steps {steps} go beyond max_steps={max_steps}; raise max_steps")
    game = _gradient_field_game(max_steps)
    fig, axes = plt.subplots(2, len(steps), figsize=(3.3 * len(steps), 6.6), squeeze=False)
    norms = {}
    for row, loss in enumerate(GRADIENT_FIELD_LOSSES):
        for col, n in enumerate(steps):
            norms[(loss, n)] = _draw_field(axes[row, col], game, n, loss)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("-dL_G/dx_fake on G's points (arrows, one scale per column) over D(x) = P(real) "
                 "(red: real, blue: fake)", fontsize=10)
    fig.tight_layout()
    return fig, norms


def generator_gradient_field(d_steps: int = 50, loss: str = GRADIENT_FIELD_LOSSES[0],
                             max_steps: int = 400):
    """Train a tiny 2-D D against a fixed G's points and watch the gradient D hands to G:
    a slider for D's training steps, a dropdown for the generator loss. Arrows are
    ``-dL_G/dx_fake`` per sample, drawn on the scale of the non-saturating loss for the same
    D, so the saturating loss's vanishing gradient shows as vanishing arrows.

    Returns an ``ipywidgets.interactive`` whose ``.result`` is the mean arrow norm drawn.
    """
    import ipywidgets
    import matplotlib.pyplot as plt

    game = _gradient_field_game(max_steps)

    def draw(d_steps=d_steps, loss=loss):
        fig, ax = plt.subplots(figsize=(4.8, 4.6))
        mean_norm = _draw_field(ax, game, d_steps, loss)
        ax.legend(loc="lower left", fontsize=8)
        fig.tight_layout()
        plt.show()
        plt.close(fig)  # the inline backend has shown it; do not keep it in memory
        return mean_norm

    style = dict(continuous_update=False, style={"description_width": "initial"})
    return ipywidgets.interactive(
        draw,
        d_steps=ipywidgets.IntSlider(value=d_steps, min=0, max=max_steps, step=game.every,
                                     description="D training steps", **style),
        loss=ipywidgets.Dropdown(options=list(GRADIENT_FIELD_LOSSES), value=loss,
                                 description="G's loss", style=style["style"]),
    )


# --- notebooks 00 and 06: digits from a trained generator --------------------------------

def _seeded_z(latent_dim: int, seed: int, n: int = 1):
    """``n`` latent codes from N(0, I), the same for a seed on every machine (CPU generator)."""
    import torch

    return torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(int(seed)))


def pretrained_digits(G, seed: int = 0, n: int = 32, nrow: int = 8, max_seed: int = 99):
    """A grid of ``n`` digits ``G(z)`` with ``z ~ N(0, I)`` drawn from a seed slider.

    Returns an ``ipywidgets.interactive``; its ``.result`` is the images (n, 1, 28, 28) of
    the last draw, so tests (and readers) can check what was shown.
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
        plt.show()
        plt.close(fig)  # the inline backend has shown it; do not keep it in memory
        return x

    return ipywidgets.interactive(
        draw, seed=ipywidgets.IntSlider(value=seed, min=0, max=max_seed, description="noise seed",
                                        continuous_update=False))


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

    Returns an ``ipywidgets.interactive``; ``.result`` is the ``z`` (1, latent_dim) drawn last.
    """
    import ipywidgets
    import matplotlib.pyplot as plt

    from gan_course.plotting import DIGIT_CMAP
    from gan_course.training import sample_images

    directions = latent_directions(G.latent_dim, 3)

    def draw(seed=seed, a1=0.0, a2=0.0, a3=0.0):
        z = latent_point(G.latent_dim, seed, (a1, a2, a3), directions)
        x = sample_images(G, z)
        fig, ax = plt.subplots(figsize=(2.4, 2.7))
        ax.imshow(x[0, 0].numpy(), cmap=DIGIT_CMAP, vmin=-1, vmax=1)
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_title(_title_of(x, z, judge), fontsize=9)
        fig.tight_layout(pad=0.3)
        plt.show()
        plt.close(fig)
        return z

    def amount(name):
        return ipywidgets.FloatSlider(value=0.0, min=-span, max=span, step=0.25, description=name,
                                      continuous_update=False)

    return ipywidgets.interactive(
        draw,
        seed=ipywidgets.IntSlider(value=seed, min=0, max=max_seed, description="noise seed",
                                  continuous_update=False),
        a1=amount("along u1"), a2=amount("along u2"), a3=amount("along u3"))


def latent_walk_figure(G, seed: int = 0, values=(-6, -3, 0, 3, 6), n_directions: int = 3):
    """The static companion of :func:`latent_explorer`: row i shows ``G(z_seed + a u_i)`` for
    each ``a`` in ``values`` (the middle column, ``a = 0``, is the seed's own digit)."""
    import matplotlib.pyplot as plt
    import torch

    from gan_course.plotting import DIGIT_CMAP
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
        ax.imshow(x[k, 0].numpy(), cmap=DIGIT_CMAP, vmin=-1, vmax=1)
        ax.set_xticks([]), ax.set_yticks([])
    for i in range(n_directions):
        axes[i, 0].set_ylabel(f"u{i + 1}")
    for j, a in enumerate(values):
        axes[-1, j].set_xlabel(f"a = {a:g}")
    fig.suptitle(f"noise seed {seed} moved along 3 latent directions", fontsize=10)
    fig.tight_layout(pad=0.3)
    return fig


# --- notebook 04: a short GAN run on 2-D data -------------------------------------------

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
    thread. ``steps``
    is taken as given, also in quick mode (callers pick it with ``runtime.by_mode``).

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
    """D's surface with samples and G's gradient field (left), D's outputs per step (right).
    Returns the :func:`gan_course.metrics.mode_coverage` numbers of 2,000 samples."""
    import numpy as np
    import torch

    from gan_course import metrics, plotting

    plotting.draw_toy_decision(ax_surface, G, D, data, n=1000, grid_size=80, loss=loss,
                               n_arrows=120, colorbar=colorbar)
    cov = metrics.mode_coverage(metrics.sample_generator(G, 2000, seed=123, batch_size=2000), data)
    ax_surface.set_title(f"{title}\nmodes covered {cov['modes_covered']}/{cov['n_modes']}, "
                         f"high quality {cov['high_quality']:.0%}", fontsize=9)
    ax_surface.legend().remove()
    steps = np.asarray(history.step)
    real, fake = np.asarray(history.d_real), np.asarray(history.d_fake)
    if loss == "wgan-gp":
        ax_curves.plot(steps, real - fake, lw=1, label="mean C(x) - mean C(G(z))")
        ax_curves.set_ylabel("critic's estimate of W1")
    else:
        ax_curves.plot(steps, real, lw=1, label="D(x)")
        ax_curves.plot(steps, fake, lw=1, label="D(G(z))")
        ax_curves.axhline(0.5, color="0.6", lw=0.8, ls="--")
        ax_curves.set(ylim=(-0.02, 1.02), ylabel="mean of D's output")
    ax_curves.set_xlabel("generator step")
    ax_curves.legend(fontsize=8, loc="best")
    ax_curves.set_title(f"{len(steps)} steps in {history.seconds:.1f} s", fontsize=9)
    return cov


def toy_gan_trainer(dataset: str = "ring", loss: str = "nonsaturating", lr_g: float = 1e-3,
                    lr_d: float = 1e-3, n_critic: int = 1, latent_dim: int = 2,
                    steps: int | None = None, seed: int = 0):
    """Train a short GAN on 2-D data with the settings of the controls, then draw D's
    decision surface, real and generated samples, G's gradient field and D's outputs.

    Controls: dataset, G's loss, the two learning rates (log sliders), ``n_critic`` (D steps
    per G step) and the latent size. Each change retrains from the same seed (a few
    seconds on a CPU for the default ``steps = runtime.by_mode(full=500, quick=20)``), so
    two settings differ only by what was changed. Returns an ``ipywidgets.interactive``
    whose ``.result`` is the last run's :func:`gan_course.metrics.mode_coverage` dict.
    """
    import ipywidgets
    import matplotlib.pyplot as plt

    from gan_course import runtime

    steps = steps if steps is not None else runtime.by_mode(full=500, quick=20)

    def draw(dataset=dataset, loss=loss, lr_g=lr_g, lr_d=lr_d, n_critic=n_critic,
             latent_dim=latent_dim):
        G, D, history, data = train_toy_gan(dataset, loss, lr_g, lr_d, n_critic, latent_dim,
                                            steps=steps, seed=seed)
        fig, (ax_s, ax_c) = plt.subplots(1, 2, figsize=(9, 4),
                                         gridspec_kw={"width_ratios": [1.1, 1]})
        cov = _draw_toy_run(ax_s, ax_c, G, D, history, data, loss,
                            f"{dataset}, {loss}, lr_g {lr_g:.1e}, lr_d {lr_d:.1e}, "
                            f"k = {n_critic}, latent {latent_dim}", colorbar=True)
        fig.tight_layout()
        plt.show()
        plt.close(fig)  # the inline backend has shown it; do not keep it in memory
        return cov

    style = dict(continuous_update=False, style={"description_width": "initial"})
    lr = dict(base=10, min=-4.5, max=-1.5, step=0.25, readout_format=".1e", **style)
    return ipywidgets.interactive(
        draw,
        dataset=ipywidgets.Dropdown(options=["ring", "grid", "moons"], value=dataset,
                                    description="data"),
        loss=ipywidgets.Dropdown(options=list(TOY_LOSSES), value=loss, description="G's loss"),
        lr_g=ipywidgets.FloatLogSlider(value=lr_g, description="lr_g", **lr),
        lr_d=ipywidgets.FloatLogSlider(value=lr_d, description="lr_d", **lr),
        n_critic=ipywidgets.IntSlider(value=n_critic, min=1, max=5,
                                      description="k (D steps per G step)", **style),
        latent_dim=ipywidgets.IntSlider(value=latent_dim, min=1, max=16,
                                        description="latent size", **style),
    )


def toy_gan_settings_figure(settings, steps: int | None = None, seed: int = 0):
    """The static companion of :func:`toy_gan_trainer`: one column per setting (a dict of
    its keyword arguments, e.g. ``{"lr_d": 1e-4}``), D's surface with samples and G's
    gradient field on top, D's outputs below. Returns ``(fig, [coverage dicts])``."""
    import matplotlib.pyplot as plt

    from gan_course import runtime

    steps = steps if steps is not None else runtime.by_mode(full=500, quick=20)
    fig, axes = plt.subplots(2, len(settings), figsize=(3.6 * len(settings), 6.4),
                             gridspec_kw={"height_ratios": [1.3, 1]}, squeeze=False)
    covs = []
    for col, setting in enumerate(settings):
        kw = {"dataset": "ring", "loss": "nonsaturating", "lr_g": 1e-3, "lr_d": 1e-3,
              "n_critic": 1, "latent_dim": 2, **setting}
        G, D, history, data = train_toy_gan(**kw, steps=steps, seed=seed)
        label = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}"
                          for k, v in setting.items()) or "defaults"
        covs.append(_draw_toy_run(axes[0, col], axes[1, col], G, D, history, data,
                                  kw["loss"], label))
    fig.suptitle(f"{steps} steps each, same seed. Colour: D(x) = P(real) (blue 1, red 0; dashed "
                 "D = 1/2); arrows: -d loss_G / d x at G's points", fontsize=9)
    fig.tight_layout()
    return fig, covs
