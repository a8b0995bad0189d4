"""Recording a run: the :class:`History` a run returns, per-step statistics into it, NaN checks, the clock of training
time, and the progress display. One of the pieces ``train_gan`` is made of.

The steps return their statistics as 0-d tensors on the device. Reading one on the host
would make the CPU wait for the GPU at every step, so :class:`Recorder` keeps them on the
device (one small stacked tensor per step) and copies them to the History in one transfer
every ``log_every`` steps (:meth:`Recorder.flush`), where it also checks the losses for NaN
or infinity. Under torchrun the flush averages them over the ranks first, so the History
holds the statistics of the whole batch.

Training time (what ``cfg.max_seconds`` bounds and ``History.seconds`` reports) is wall
time minus bookkeeping: sampling the grids, writing checkpoints and running hooks are off
the clock (:meth:`Recorder.off_the_clock`).
"""

from __future__ import annotations

import contextlib
import html
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from gan_course.runtime import in_notebook_kernel

METRICS = ("loss_d", "loss_g", "d_real", "d_fake", "d_fake_after", "grad_norm_d", "grad_norm_g")


@dataclass
class History:
    """What a run recorded: one value per generator step for each name in ``METRICS``.

    - ``loss_d``, ``loss_g``: the two losses;
    - ``d_real``, ``d_fake``: mean D(x) and D(G(z)) (sigmoid of the logits) *before* D's
      update; ``d_fake_after``: mean D(G(z)) on the same fakes *after* D's update (in G's
      step). For the losses other than BCE (WGAN, WGAN-GP, hinge, least squares) they are
      D's mean raw scores instead of probabilities (``losses.d_output``);
    - ``grad_norm_d``, ``grad_norm_g``: the L2 norm of all of D's / G's gradients;
    - ``samples``: ``(step, images)`` of the fixed noise batch, images on the CPU;
    - ``seconds``: training time (sampling, checkpoints and hooks excluded),
      ``images_seen``: real images D has seen;
    - ``stopped_reason``: "finished", "time budget", "interrupted", "stopped by a hook" or
      "non-finite ... at step k";
    - ``G_ema``: with ``cfg.ema``, the exponential moving average of G's weights (what the
      sample grids show; often smoother digits than G itself), else None.
    """

    step: list[int] = field(default_factory=list)
    loss_d: list[float] = field(default_factory=list)
    loss_g: list[float] = field(default_factory=list)
    d_real: list[float] = field(default_factory=list)
    d_fake: list[float] = field(default_factory=list)
    d_fake_after: list[float] = field(default_factory=list)
    grad_norm_d: list[float] = field(default_factory=list)
    grad_norm_g: list[float] = field(default_factory=list)
    samples: list[tuple[int, torch.Tensor]] = field(default_factory=list)
    seconds: float = 0.0
    images_seen: int = 0
    stopped_reason: str = ""
    G_ema: nn.Module | None = None

    def __getitem__(self, name: str) -> list:
        return getattr(self, name)

    def __len__(self) -> int:
        return len(self.step)

    def as_arrays(self) -> dict[str, np.ndarray]:
        """``{"step": ..., "loss_d": ..., ...}`` as NumPy arrays, ready to plot."""
        return {k: np.asarray(getattr(self, k)) for k in ("step",) + METRICS}

    def last(self, name: str, n: int = 50) -> float:
        """Mean of the last ``n`` values of a metric (a steadier number than the last one)."""
        values = getattr(self, name)[-n:]
        return float(np.mean(values)) if values else float("nan")

    def to_dict(self, max_samples: int | None = None) -> dict:
        """Tensors and plain types, for checkpoints: the series as float32 tensors (the values
        are float32 already), the latest ``max_samples`` grids as uint8 (4x smaller)."""
        d = {"step": torch.tensor(self.step, dtype=torch.int64)}
        d.update({k: torch.tensor(getattr(self, k), dtype=torch.float32) for k in METRICS})
        kept = self.samples if max_samples is None else self.samples[-max_samples:]
        d.update(samples=[(int(s), _to_bytes(x)) for s, x in kept], seconds=self.seconds,
                 images_seen=self.images_seen, stopped_reason=self.stopped_reason)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> History:
        h = cls(**{k: _as_list(d.get(k, [])) for k in ("step",) + METRICS})
        h.samples = [(int(s), _from_bytes(x)) for s, x in d.get("samples", [])]
        h.seconds, h.images_seen = float(d.get("seconds", 0.0)), int(d.get("images_seen", 0))
        h.stopped_reason = d.get("stopped_reason", "")
        return h


def series(history, name: str) -> np.ndarray:
    """``history.name`` or ``history[name]`` (a :class:`History` or a plain dict of lists) as
    floats; empty where the run recorded none."""
    values = history.get(name, []) if isinstance(history, Mapping) else getattr(history, name, [])
    return np.asarray(values, dtype=float)


def sample_grids(history_or_samples) -> list:
    """The ``(step, images)`` grids of a :class:`History`, of a dict with ``"samples"``, or of
    such a list itself."""
    if isinstance(history_or_samples, Mapping):
        return list(history_or_samples.get("samples") or [])
    if hasattr(history_or_samples, "samples"):
        return list(history_or_samples.samples or [])
    return list(history_or_samples)


def _as_list(v) -> list:
    return v.tolist() if isinstance(v, torch.Tensor) else list(v)


def _to_bytes(x: torch.Tensor) -> torch.Tensor:
    return ((x.float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)


def _from_bytes(x: torch.Tensor) -> torch.Tensor:
    return x.float() / 127.5 - 1 if x.dtype == torch.uint8 else x


class Recorder:
    """Statistics, clock and progress of one call of ``train_gan``."""

    def __init__(self, run, cfg, total_steps: int, log_every: int = 20):
        self.run, self.cfg, self.total, self.log_every = run, cfg, total_steps, log_every
        self.pending: list[torch.Tensor] = []   # (len(METRICS),) per step, on the device
        self.pending_steps: list[int] = []
        self.base_seconds = run.history.seconds  # training time of earlier sessions (resume)
        self.start_step = run.step
        self.t0, self.off_clock = time.perf_counter(), 0.0
        show = cfg.progress and run.dist.is_main
        self.progress = Progress(total_steps, run.step, cfg.max_seconds) if show else None

    # ------------------------------------------------------------------------- the clock
    def seconds(self) -> float:
        """Training time of this call, bookkeeping excluded."""
        return time.perf_counter() - self.t0 - self.off_clock

    def out_of_time(self) -> bool:
        return self.cfg.max_seconds is not None and self.seconds() >= self.cfg.max_seconds

    @contextlib.contextmanager
    def off_the_clock(self):
        """Time spent in the block does not count as training time."""
        t = time.perf_counter()
        try:
            yield
        finally:
            self.off_clock += time.perf_counter() - t
            self.run.history.seconds = self.base_seconds + self.seconds()

    # ------------------------------------------------------------------------ statistics
    def add(self, stats: dict) -> None:
        self.pending.append(torch.stack([stats[k].float() for k in METRICS]))
        self.pending_steps.append(self.run.step)
        if self.progress is not None:
            self.progress.show(self.run.step, self.seconds(), self.run.history)

    def due(self, every: int) -> bool:
        return self.run.step % every == 0

    def at_boundary(self, *due: bool) -> bool:
        """A bookkeeping step: flush every ``log_every`` steps, and whenever something is due."""
        return any(due) or self.due(self.log_every) or self.run.step == self.total

    def flush(self) -> str | None:
        """Move the pending statistics into the History (one transfer); return a message if a
        loss is not finite, else None."""
        if not self.pending:
            return None
        rows = self.run.dist.mean(torch.stack(self.pending)).cpu().tolist()
        history, problem = self.run.history, None
        for step, row in zip(self.pending_steps, rows):
            history.step.append(step)
            for name, value in zip(METRICS, row):
                getattr(history, name).append(value)
            bad = [(k, v) for k, v in zip(METRICS, row) if k.startswith("loss") and not _finite(v)]
            if bad:
                problem = f"non-finite {bad[0][0]} ({bad[0][1]}) at step {step}"
                break
        self.pending.clear(), self.pending_steps.clear()
        history.seconds = self.base_seconds + self.seconds()
        return problem

    def close(self, stopped: str, saved: bool) -> None:
        self.run.history.seconds = self.base_seconds + self.seconds()
        if self.progress is not None:
            self.progress.close(self.run.step, self.seconds(), self.run.history, stopped, saved)


def _secs(seconds: float) -> str:
    return f"{seconds:.1f}" if seconds < 10 else f"{seconds:,.0f}"


def _finite(v: float) -> bool:
    return v == v and v not in (float("inf"), float("-inf"))


class Progress:
    """One line of progress: steps against ``cfg.steps`` or, with a time budget and no
    reachable step limit, seconds against the budget; the latest losses and D's outputs.

    In a notebook it is one output updated in place (an HTML bar and a text line), so the
    stored notebook shows the final state, not a bar frozen at 0%; in a terminal a line on
    stderr rewritten in place. It never goes red: a run stopped by its time budget has
    finished what it was asked to do, and the last line says why it stopped.
    """

    def __init__(self, total_steps: int, start_step: int, max_seconds: float | None,
                 every_s: float = 0.5):
        self.total, self.start_step, self.budget = total_steps, start_step, max_seconds
        # a budget with a step limit that is out of reach (the command line's --minutes)
        self.by_time = max_seconds is not None and total_steps >= 10**8
        self.every_s, self.last = every_s, -float("inf")
        self.kernel = in_notebook_kernel()
        self.handle = None

    def _numbers(self, history) -> str:
        if not history.step:
            return ""
        return (f"loss_D {history.loss_d[-1]:.3f} · loss_G {history.loss_g[-1]:.3f} · "
                f"D(x) {history.d_real[-1]:.2f} · D(G(z)) {history.d_fake[-1]:.2f}")

    def _line(self, step: int, seconds: float, history, final: str | None = None):
        if self.by_time:
            fraction = min(1.0, seconds / self.budget)
            head = f"training: {seconds:,.0f} / {self.budget:,.0f} s · step {step:,}"
        else:
            fraction = min(1.0, step / self.total) if self.total else 1.0
            head = f"training: step {step:,} / {self.total:,}"
            if self.budget is not None:
                head += f" · {seconds:,.0f} s of at most {self.budget:,.0f} s"
        if final is not None:
            done = step - self.start_step
            rate = f" ({done / seconds:,.0f} steps/s)" if seconds > 0 and done else ""
            head = f"training: {done:,} steps in {_secs(seconds)} s{rate}, now at step {step:,}; {final}"
            if final.startswith("stopped by the time budget"):
                fraction = 1.0  # the run did what it was asked: train for that long
        numbers = self._numbers(history)
        return (head + (" · " + numbers if numbers else "")), fraction

    def show(self, step: int, seconds: float, history, final: str | None = None) -> None:
        now = time.monotonic()
        if final is None and now - self.last < self.every_s:
            return
        self.last = now
        text, fraction = self._line(step, seconds, history, final)
        if self.kernel:
            from IPython.display import display

            bar = (f'<progress value="{fraction:.4f}" max="1" style="width: 16em; vertical-align: '
                   f'middle"></progress> <code>{html.escape(text)}</code>')
            data = {"text/plain": text, "text/html": bar}
            if self.handle is None:
                self.handle = display(data, raw=True, display_id=True)
            else:
                self.handle.update(data, raw=True)
        else:
            width = 24
            filled = int(round(fraction * width))
            end = "\n" if final is not None else ""
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {text}\033[K{end}")
            sys.stderr.flush()

    def close(self, step: int, seconds: float, history, stopped: str, saved: bool) -> None:
        reason = {"finished": "finished", "time budget": "stopped by the time budget",
                  "interrupted": "interrupted" + ("; this step is saved" if saved else "")}.get(stopped, stopped)
        self.show(step, seconds, history, final=reason)
