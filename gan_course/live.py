"""The live training dashboard: a hook for :func:`gan_course.training.train_gan`.

::

    dash = LiveDashboard(every_s=5)
    history = train_gan(G, D, x, cfg, hooks=[dash])
    dash.finish()          # draw the final state if the last call was skipped

In a Jupyter kernel the dashboard shows ONE image (losses, D outputs, latest samples, and
under them what :func:`gan_course.diagnose.diagnose` says of the run so far) and replaces
it in place as training goes, through an IPython display handle, at most once every
``every_s`` seconds so that drawing stays a small share of training time. Run by
nbclient (``make notebooks``) or nbval, the same in-place updates leave exactly one image
in the stored notebook: the last one. Outside IPython (a script, pytest) it draws nothing
unless given a ``path``, where it then saves the PNG.

The figure is a bare ``matplotlib.figure.Figure``, not one of pyplot's, rendered to PNG
bytes: pyplot never sees it, so none are left open, and the inline backend does not show it
a second time at the end of the cell.
"""

from __future__ import annotations

import io
import textwrap
import time
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from gan_course import plotting
from gan_course.diagnose import diagnose
from gan_course.recorder import sample_grids, series
from gan_course.runtime import in_notebook_kernel


class LiveDashboard:
    """A hook ``dash(step, history, G, D)`` that redraws one figure at most every ``every_s`` s.

    - ``n_samples``: how many of the latest fixed-noise samples to show (digits);
    - ``data``: a :class:`gan_course.toy.ToyData` for 2-D runs: the samples panel then shows
      D's decision surface and G's gradient field (:func:`plotting.draw_toy_decision`);
    - ``loss``: the run's loss name, for the equilibrium lines of the curves and for
      ``diagnose`` (which reads D's outputs as probabilities only for the BCE losses);
    - ``path``: also save each drawing there as a PNG (works outside notebooks too);
    - ``dpi``: resolution of the image (lower is cheaper to draw and to send).

    ``draw_seconds`` and ``draws`` record what the dashboard cost; ``last_diagnosis`` is the
    :class:`~gan_course.diagnose.Diagnosis` shown at the latest drawing (healthy runs in dark
    grey, anything else in red).
    """

    def __init__(self, every_s: float = 5.0, n_samples: int = 36, data=None,
                 loss: str = "nonsaturating", path: str | Path | None = None, dpi: int = 72,
                 figsize: tuple[float, float] = (12.0, 5.6)):
        self.every_s = float(every_s)
        self.n_samples = n_samples
        self.data = data
        self.loss = loss
        self.path = Path(path) if path is not None else None
        self.dpi = dpi
        self.figsize = figsize
        self.in_kernel = in_notebook_kernel()
        self.draws, self.calls, self.draw_seconds = 0, 0, 0.0
        self._handle = None
        self._last_draw = -float("inf")
        self._pending = None  # the arguments of a call that was skipped by the rate limit
        self.last_diagnosis = None  # what diagnose() said at the latest drawing

    # ---------------------------------------------------------------------------- the hook
    def __call__(self, step: int, history, G, D) -> None:
        self.calls += 1
        if not self.in_kernel and self.path is None:
            return None  # nowhere to show it: cost nothing
        final = bool(getattr(history, "stopped_reason", ""))  # train_gan's call at the end
        if not final and time.monotonic() - self._last_draw < self.every_s:
            self._pending = (step, history, G, D)
            return None
        self._draw(step, history, G, D)
        return None  # never ask train_gan to stop

    def finish(self) -> None:
        """Draw the last state if the rate limit skipped the latest call."""
        if self._pending is not None:
            self._draw(*self._pending)

    # ----------------------------------------------------------------------------- drawing
    def render(self, step: int, history, G, D) -> Figure:
        """The dashboard figure for this moment (a bare Figure, unknown to pyplot)."""
        fig = Figure(figsize=self.figsize, layout="constrained")
        grid = fig.add_gridspec(2, 3, width_ratios=(1.25, 1.25, 1.0))
        ax_loss = fig.add_subplot(grid[0, :2])
        ax_d = fig.add_subplot(grid[1, :2], sharex=ax_loss)
        ax_s = fig.add_subplot(grid[:, 2])
        plotting.draw_losses(ax_loss, history, loss=self.loss)
        plotting.draw_d_outputs(ax_d, history, loss=self.loss)
        ax_loss.set_xlabel("")
        samples = sample_grids(history)
        if self.data is not None:
            plotting.draw_toy_decision(ax_s, G, D, self.data, n=500, grid_size=60, loss=self.loss,
                                       n_arrows=80, colorbar=False)
            ax_s.set_title(f"D(x) ({plotting.REAL_NAME}: real), fakes and G's gradient",
                           fontsize=10)
        elif samples:
            s_step, x = samples[-1]
            x = x[: self.n_samples]
            if x.dim() == 2:  # 2-D points without toy data to draw D over
                pts = x.detach().cpu().numpy()
                ax_s.scatter(pts[:, 0], pts[:, 1], s=6, color=plotting.FAKE_COLOR)
                ax_s.set_title(f"samples at step {s_step:,}")
            else:
                plotting.draw_grid(ax_s, x, nrow=int(np.ceil(np.sqrt(len(x)))),
                                   title=f"fixed-noise samples, step {s_step:,}")
        else:
            ax_s.axis("off")
            ax_s.text(0.5, 0.5, "no samples yet", ha="center", va="center")
        parts = [f"step {step:,}"]
        seconds = getattr(history, "seconds", None)
        if seconds:
            parts.append(f"{seconds:.0f} s of training")
        for name, label in (("loss_d", "loss_D"), ("loss_g", "loss_G"), ("d_real", "D(x)"),
                            ("d_fake", "D(G(z))")):
            v = series(history, name)
            if len(v):
                parts.append(f"{label} {np.mean(v[-50:]):.3f}")
        fig.suptitle("   ".join(parts), fontsize=11)
        # what the run is doing, in words; 2-D points are not digits: curves only for them
        digits = bool(samples) and samples[-1][1].dim() == 4 and self.data is None
        verdict = diagnose(history, curves_only=not digits, loss=self.loss)
        self.last_diagnosis = verdict
        fig.supxlabel(textwrap.fill(verdict.sentence, 150), fontsize=9,
                      color="0.15" if verdict.label in ("healthy", "too early") else "#b2182b")
        return fig

    def _draw(self, step, history, G, D) -> None:
        start = time.perf_counter()
        fig = self.render(step, history, G, D)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=self.dpi)
        png = buf.getvalue()
        fig.clear()  # drop the artists now rather than at garbage collection
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_bytes(png)
        if self.in_kernel:
            from IPython.display import Image, display

            image = Image(data=png, format="png")
            if self._handle is None:
                self._handle = display(image, display_id=True)
            else:
                self._handle.update(image)
        self._pending = None
        self._last_draw = time.monotonic()
        self.draws += 1
        self.draw_seconds += time.perf_counter() - start
