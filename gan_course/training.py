"""Training a GAN: one config dataclass, two small step functions, the GAN step, one plain loop.

The split follows d2l's GAN chapter: :func:`d_step` updates the discriminator once,
:func:`g_step` updates the generator once, :func:`gan_step` is one iteration of the game
(``n_critic`` D updates, one G update, the moving average of G), and :func:`train_gan`
repeats it, keeping a :class:`History` and never plotting (plots and live dashboards are
*hooks*). One iteration, with real = 1 and fake = 0 and D returning logits::

    x_fake = G(z)
    loss_D = BCE(D(x_real), 1) + BCE(D(x_fake.detach()), 0)    # detach: D's step leaves G alone
    D <- D - lr_d * Adam(grad_D loss_D)
    loss_G = BCE(D(x_fake), 1) = -mean log D(G(z))              # non-saturating
    G <- G - lr_g * Adam(grad_G loss_G)                         # through D, whose weights stay put

The loop keeps the whole data set as *one* tensor on the device and draws each batch by
indexing it with a slice of a random permutation (no DataLoader, no worker processes: on a
2-core CPU they only cost time). All randomness of the loop (permutations, noise, the
gradient penalty's interpolation) comes from one CPU ``torch.Generator`` seeded by
``cfg.seed`` and saved in checkpoints, so a resumed run continues bit for bit, and the same
seed draws the same numbers on any device.

The pieces around the algorithm live in their own modules: :mod:`gan_course.run_state`
(checking the inputs, building, saving and restoring the run), :mod:`gan_course.recorder`
(statistics, NaN checks, the clock, the progress line), :mod:`gan_course.interrupts`
(Ctrl-C that waits for the step to finish), :mod:`gan_course.distributed` (torchrun).
The recipes (default configs per architecture) are in :mod:`gan_course.recipes`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from gan_course import distributed, runtime
from gan_course.interrupts import StopRequest
from gan_course.losses import LOSSES, get_losses, gradient_penalty
from gan_course.models import eval_mode
from gan_course.recorder import METRICS, Recorder
from gan_course.run_state import Run, finite, prepare_run, restore_run, save_run, validate

AMP = ("auto", "bf16", "fp16", None)


def knob(default, why: str):
    """A :class:`TrainConfig` field with the reason for its default (shown by ``--help``)."""
    return field(default=default, metadata={"why": why})


@dataclass
class TrainConfig:
    """Every knob of a training run, each with the reason for its default."""

    steps: int = knob(3000, "generator updates (each also makes n_critic D updates)")
    batch_size: int = knob(64, "small batches: more updates per second on a CPU")
    lr_g: float = knob(2e-4, "Adam's learning rate for G; 2e-4 is the DCGAN paper's value")
    lr_d: float = knob(2e-4, "D's, set apart from lr_g for two time-scale updates (TTUR)")
    betas: tuple[float, float] = knob((0.5, 0.999), "Adam's (beta1, beta2); beta1 = 0.5 "
                                      "(DCGAN): less momentum, a steadier game")
    n_critic: int = knob(1, "D updates per G update (5 for WGAN-GP)")
    loss: str = knob("nonsaturating", "nonsaturating | saturating | wgan-gp")
    real_label: float = knob(1.0, "target for real images in D's loss; 0.9 = one-sided label "
                             "smoothing (fakes stay 0)")
    gp_weight: float = knob(10.0, "WGAN-GP's lambda (Gulrajani et al. 2017)")
    max_seconds: float | None = knob(None, "stop after this much training time, bookkeeping "
                                     "excluded (None: no budget)")
    sample_every: int = knob(250, "keep a 64-sample grid of the fixed noise this often")
    checkpoint_every: int = knob(1000, "write out_dir/checkpoint.pt this often (and at the end)")
    seed: int = knob(0, "seeds the loop's own generator (batches, noise)")
    amp: str | None = knob("auto", "mixed precision: auto = bf16 on GPUs that have it natively, "
                           "fp16 with loss scaling on older GPUs, none on CPUs (no gain "
                           "measured there); or bf16 | fp16 | None")
    channels_last: bool = knob(False, "NHWC layout for convolutions: no gain measured on this CPU")
    ema: float | None = knob(None, "decay of an exponential moving average of G for sampling "
                             "(0.999: smoother digits); None: no average")
    quick_steps: int = knob(30, "what steps shrinks to under GAN_COURSE_QUICK=1")
    progress: bool = knob(True, "show a progress line with live numbers")
    check_range: bool = knob(True, "refuse images outside [-1, 1] or in [0, 1] for a tanh G "
                             "(False: train on them anyway, to show the mistake)")

    def __post_init__(self):
        if isinstance(self.betas, list):  # from a checkpoint or JSON
            self.betas = tuple(self.betas)
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the field and a valid value, for any bad setting."""
        def bad(msg: str):
            raise ValueError(msg)

        for name in ("steps", "quick_steps", "batch_size", "sample_every", "checkpoint_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                bad(f"cfg.{name} must be a positive integer, got {value!r}")
        if isinstance(self.n_critic, bool) or not isinstance(self.n_critic, int) or self.n_critic < 1:
            bad(f"cfg.n_critic (D steps per G step) must be an integer >= 1, got {self.n_critic!r}")
        for name in ("lr_g", "lr_d"):
            value = getattr(self, name)
            if not _real(value) or not 0 < value < math.inf:
                bad(f"cfg.{name} must be a finite number > 0, got {value!r} (try 2e-4)")
        if (not isinstance(self.betas, tuple) or len(self.betas) != 2
                or not all(_real(b) and 0 <= b < 1 for b in self.betas)):
            bad(f"cfg.betas must be two numbers in [0, 1), such as (0.5, 0.999), got {self.betas!r}")
        if self.loss not in LOSSES:
            bad(f"cfg.loss must be one of {sorted(LOSSES)}, got {self.loss!r}")
        if not _real(self.real_label) or not 0 < self.real_label <= 1:
            bad(f"cfg.real_label must be in (0, 1] (0.9 = one-sided smoothing), got {self.real_label!r}")
        if not _real(self.gp_weight) or not 0 <= self.gp_weight < math.inf:
            bad(f"cfg.gp_weight must be a finite number >= 0 (10 in WGAN-GP), got {self.gp_weight!r}")
        if self.amp not in AMP:
            bad(f"cfg.amp must be one of {AMP}, got {self.amp!r}")
        if self.ema is not None and (not _real(self.ema) or not 0 < self.ema < 1):
            bad(f"cfg.ema must be None or a decay in (0, 1) such as 0.999, got {self.ema!r}")
        if self.max_seconds is not None and (not _real(self.max_seconds)
                                             or not 0 < self.max_seconds < math.inf):
            bad(f"cfg.max_seconds must be None or a finite number of seconds > 0, got {self.max_seconds!r}")
        for name in ("channels_last", "progress", "check_range"):
            if not isinstance(getattr(self, name), bool):
                bad(f"cfg.{name} must be True or False, got {getattr(self, name)!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _real(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)


@dataclass
class History:
    """What a run recorded: one value per generator step for each name in ``METRICS``.

    - ``loss_d``, ``loss_g``: the two losses;
    - ``d_real``, ``d_fake``: mean D(x) and D(G(z)) (sigmoid of the logits) *before* D's
      update; ``d_fake_after``: mean D(G(z)) on the same fakes *after* D's update (in G's
      step). For WGAN-GP they are the critic's mean raw scores instead of probabilities;
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


def _as_list(v) -> list:
    return v.tolist() if isinstance(v, torch.Tensor) else list(v)


def _to_bytes(x: torch.Tensor) -> torch.Tensor:
    return ((x.float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)


def _from_bytes(x: torch.Tensor) -> torch.Tensor:
    return x.float() / 127.5 - 1 if x.dtype == torch.uint8 else x


# --------------------------------------------------------------------------- the two steps

@functools.lru_cache(maxsize=None)
def _native_bf16(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    return False


def precision(amp: str | None, device: torch.device) -> str | None:
    """What ``cfg.amp`` means on ``device``: "bf16", "fp16" or None (float32).

    "auto": bf16 where the GPU computes it natively, else fp16 with a GradScaler on a CUDA
    GPU, else float32 (CPUs: measured slower here, and it would change the CPU results).
    """
    if amp != "auto":
        return amp
    if device.type != "cuda":
        return None
    return "bf16" if _native_bf16(device) else "fp16"


def autocast(cfg: TrainConfig, device: torch.device):
    """Autocast for ``cfg.amp`` on ``device``, or a no-op context for float32."""
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision(cfg.amp, device))
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_norm(module: nn.Module) -> torch.Tensor:
    """L2 norm of all gradients of ``module`` (0 if none), as a 0-d tensor on its device."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.nn.utils.get_total_norm(grads)


def _call(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    return model(x) if y is None else model(x, y)


def _update(loss: torch.Tensor, model: nn.Module, opt: torch.optim.Optimizer, scaler) -> torch.Tensor:
    """``zero_grad``, ``backward``, ``step`` (with fp16 loss scaling if a GradScaler is given);
    returns the norm of the (unscaled) gradients."""
    opt.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        norm = grad_norm(model)
        opt.step()
        return norm
    scaler.scale(loss).backward()
    scaler.unscale_(opt)
    norm = grad_norm(model)
    scaler.step(opt)  # skipped if the scaled gradients overflowed
    scaler.update()
    return norm


def d_step(G: nn.Module, D: nn.Module, opt_d: torch.optim.Optimizer, x_real: torch.Tensor,
           z: torch.Tensor, cfg: TrainConfig, *, x_fake: torch.Tensor | None = None,
           y: torch.Tensor | None = None, generator: torch.Generator | None = None,
           scaler: torch.amp.GradScaler | None = None) -> dict:
    """One update of D. Returns detached 0-d tensors: loss_d, d_real, d_fake, grad_norm_d.

    ``x_fake = G(z).detach()``: D's loss must not send gradients into G. Pass ``x_fake`` to
    reuse a generator pass that :func:`g_step` will use too (it is detached here). ``y``:
    class labels for conditional models (used for the real and the fake batch).
    """
    d_loss_fn, _ = get_losses(cfg.loss)
    with autocast(cfg, x_real.device):
        if x_fake is None:
            with torch.no_grad():  # no graph to build: D's step never back-propagates into G
                x_fake = _call(G, z, y)
        x_fake = x_fake.detach()
        logits_real = _call(D, x_real, y).float()
        logits_fake = _call(D, x_fake, y).float()
    if cfg.loss == "wgan-gp":
        # the penalty in float32: it differentiates a gradient, where bf16 rounding adds up
        loss_d = d_loss_fn(logits_real, logits_fake) + gradient_penalty(
            lambda x: _call(D, x, y).float(), x_real, x_fake.float(), cfg.gp_weight, generator)
        p_real, p_fake = logits_real.mean(), logits_fake.mean()  # critic scores, not probabilities
    else:
        loss_d = d_loss_fn(logits_real, logits_fake, cfg.real_label)
        p_real, p_fake = torch.sigmoid(logits_real).mean(), torch.sigmoid(logits_fake).mean()
    norm = _update(loss_d, D, opt_d, scaler)
    return {"loss_d": loss_d.detach(), "d_real": p_real.detach(), "d_fake": p_fake.detach(),
            "grad_norm_d": norm}


def g_step(G: nn.Module, D: nn.Module, opt_g: torch.optim.Optimizer, z: torch.Tensor,
           cfg: TrainConfig, *, x_fake: torch.Tensor | None = None,
           y: torch.Tensor | None = None, scaler: torch.amp.GradScaler | None = None) -> dict:
    """One update of G. Returns detached 0-d tensors: loss_g, d_fake_after, grad_norm_g.

    The gradient of ``loss_g`` flows *through* D into G. D's weights are frozen meanwhile
    (``requires_grad_(False)``): they would get gradients too, which only cost time, and
    only ``opt_g`` steps. ``x_fake``: a generator pass ``G(z)`` (with its graph) to reuse.
    """
    _, g_loss_fn = get_losses(cfg.loss)
    D.requires_grad_(False)
    try:
        with autocast(cfg, z.device):
            if x_fake is None:
                x_fake = _call(G, z, y)
            logits_fake = _call(D, x_fake, y).float()
        loss_g = g_loss_fn(logits_fake)
        norm = _update(loss_g, G, opt_g, scaler)
    finally:
        D.requires_grad_(True)
    p_fake = logits_fake.mean() if cfg.loss == "wgan-gp" else torch.sigmoid(logits_fake).mean()
    return {"loss_g": loss_g.detach(), "d_fake_after": p_fake.detach(), "grad_norm_g": norm}


# --------------------------------------------------------------------------- the GAN step

def gan_step(run: Run, x: torch.Tensor, y: torch.Tensor | None, cfg: TrainConfig) -> dict:
    """One iteration of the game: ``cfg.n_critic`` updates of D, one of G, then G's EMA.

    ``run.G_sync`` and ``run.D_sync`` are the networks for their own updates: under
    torchrun the wrappers that average gradients over the processes, else G and D. A pass
    whose gradients that network does not use (G inside D's step, D inside G's step) goes
    to the plain ``run.G`` / ``run.D``.
    """
    for _ in range(cfg.n_critic):
        x_real, y_real = run.real_batch(x, y)
        z = run.noise(cfg.batch_size)
        x_fake = None
        if cfg.n_critic == 1:  # one generator pass serves both updates (pytorch/examples' DCGAN)
            with autocast(cfg, run.device):
                x_fake = _call(run.G_sync, z, y_real)
        stats = d_step(run.G, run.D_sync, run.opt_d, x_real, z, cfg, x_fake=x_fake, y=y_real,
                       generator=run.gen, scaler=run.scaler_d)
    if cfg.n_critic > 1:  # a fresh noise batch for G, as in WGAN-GP's algorithm
        z = run.noise(cfg.batch_size)
    stats.update(g_step(run.G_sync, run.D, run.opt_g, z, cfg, x_fake=x_fake, y=y_real,
                        scaler=run.scaler_g))
    if run.G_ema is not None:
        ema_update(run.G_ema, run.G, cfg.ema)
    return stats


@torch.no_grad()
def ema_update(G_ema: nn.Module, G: nn.Module, decay: float) -> None:
    """``theta_ema <- decay * theta_ema + (1 - decay) * theta`` for every weight of G.

    Batch-norm statistics are *not* copied from G: they describe G's activations, not the
    average network's. :func:`refresh_batch_norm` measures the EMA's own before it samples.
    """
    torch._foreach_lerp_(list(G_ema.parameters()), list(G.parameters()), 1 - decay)


@torch.no_grad()
def refresh_batch_norm(G: nn.Module, latent_dim: int, seed: int, conditional: bool = False,
                       n: int = 1024, batch_size: int = 64) -> None:
    """Set G's batch-norm running statistics to those of G's own activations on ``n`` noise
    vectors (a cumulative average over batches of ``batch_size``, as SWA's ``update_bn``).

    For the moving average of G, whose weights no batch ever went through. The noise comes
    from its own generator seeded with ``seed``, so the training run's random stream is
    untouched and the result is the same at every call with the same weights.
    """
    bns = [m for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    device = next(G.parameters()).device
    z = torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(seed + 7919)).to(device)
    y = torch.arange(n, device=device) % G.n_classes if conditional else None
    momenta = [m.momentum for m in bns]
    was_training = G.training
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over all batches
    G.train()
    for i in range(0, n, batch_size):
        _call(G, z[i:i + batch_size], None if y is None else y[i:i + batch_size])
    for m, momentum in zip(bns, momenta):
        m.momentum = momentum
    G.train(was_training)


@torch.no_grad()  # samples are for looking and scoring: no graph, whatever the caller's mode
def sample_images(G: nn.Module, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """``G(z)`` in eval mode (batch norm uses its running statistics), as float32 on the CPU.

    ``z`` (and ``y``) are moved to G's device, and G's train/eval mode is restored after.
    """
    device = next(G.parameters()).device
    z = z.to(device)
    y = None if y is None else y.to(device)
    with eval_mode(G):
        x = G(z) if y is None else G(z, y)
    return x.float().cpu()


def effective_steps(cfg: TrainConfig) -> int:
    """``cfg.steps``, or ``min(steps, quick_steps)`` under ``GAN_COURSE_QUICK=1``."""
    return min(cfg.steps, cfg.quick_steps) if runtime.is_quick() else cfg.steps


# --------------------------------------------------------------------------- the loop

def train_gan(G: nn.Module, D: nn.Module, x: torch.Tensor, cfg: TrainConfig | None = None, *,
              device: str | torch.device | None = None, out_dir: str | Path | None = None,
              resume: str | Path | None = None, hooks: Sequence[Callable] = (),
              hook_every: int | None = None, y: torch.Tensor | None = None,
              allow_config_change: bool = False) -> History:
    """Train ``G`` against ``D`` on the data ``x`` (N, ...) and return the :class:`History`.

    Each of ``cfg.steps`` iterations is one :func:`gan_step`. Training stops early after
    ``cfg.max_seconds`` of training (per call; sampling, checkpoints and hooks excluded), on
    a NaN/Inf loss or weight (the last good checkpoint is kept, not overwritten), or on
    Ctrl-C / SIGTERM, which let the current step finish and then save it.

    - ``device``: where to train (default: cuda, then mps, then cpu); G, D and the data move
      there. Under torchrun the process group decides (see :mod:`gan_course.distributed`).
    - ``out_dir``: ``out_dir/checkpoint.pt`` is written every ``cfg.checkpoint_every`` steps
      and at the end; ``resume``: a checkpoint to continue from, exactly. It must come from
      a run with the same settings and data, unless ``allow_config_change``.
    - ``hooks``: callables ``hook(step, history, G, D)`` run every ``hook_every`` steps
      (default ``cfg.sample_every``) and at the end; use them to plot or log. A hook that
      returns ``True`` stops training ("stopped by a hook").
    - ``y``: labels (N,) for class-conditional models.
    """
    cfg = TrainConfig() if cfg is None else cfg
    dist = distributed.current()
    validate(G, D, x, cfg, y, hook_every, dist)
    device = _training_device(device, dist)
    cfg = _supported_precision(cfg, device)
    run, x, y = prepare_run(G, D, x, y, cfg, device, dist)
    ckpt = Path(out_dir) / "checkpoint.pt" if out_dir is not None else None
    if resume is not None:
        restore_run(run, resume, cfg, run.fingerprint, allow_config_change)
        run.last_good = run.step if ckpt is not None and ckpt.exists() else None
    run.history.G_ema = run.G_ema
    total, hook_every = effective_steps(cfg), hook_every or cfg.sample_every
    rec = Recorder(run, cfg, total)
    stopped, mark = "finished", None
    with StopRequest() as stop:
        try:
            while run.step < total:
                if not dist.active and (stop.requested or rec.out_of_time()):
                    stopped = "interrupted" if stop.requested else "time budget"
                    break
                mark = run.mark()
                stats = gan_step(run, x, y, cfg)  # the GAN algorithm; the rest is bookkeeping
                run.step, mark = run.step + 1, None  # a complete step: nothing to undo
                run.history.images_seen += cfg.batch_size * cfg.n_critic
                rec.add(stats)
                due = rec.due(cfg.sample_every), rec.due(cfg.checkpoint_every), bool(hooks) and rec.due(hook_every)
                if not rec.at_boundary(*due):
                    continue
                reason = _bookkeeping(run, rec, cfg, ckpt, hooks, *due)
                if dist.active and dist.any(reason is not None or stop.requested or rec.out_of_time(), device):
                    reason = reason or ("interrupted" if stop.requested else "time budget")
                if reason is not None:
                    stopped = reason
                    break
        except KeyboardInterrupt:  # raised by other code, or Ctrl-C pressed twice
            stopped = "interrupted" if mark is None or run.rollback(mark) else "interrupted mid-step"
        return _finish(run, rec, cfg, ckpt, hooks, hook_every, stopped)


def _training_device(device, dist: distributed.Dist) -> torch.device:
    if dist.active:
        if torch.cuda.is_available() and device != "cpu":
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")
    return runtime.pick_device(device)


def _supported_precision(cfg: TrainConfig, device: torch.device) -> TrainConfig:
    """bf16 asked for where it is not native: say so and train in float32."""
    if cfg.amp == "bf16" and not (_native_bf16(device) or _cpu_bf16(device)):
        warnings.warn(f"bf16 autocast is not fast on this {device.type} device; training in "
                      "float32 instead (set cfg.amp=None to silence this).", stacklevel=3)
        return dataclasses.replace(cfg, amp=None)
    if cfg.amp == "fp16" and device.type != "cuda":
        warnings.warn("fp16 with loss scaling is for CUDA GPUs; training in float32 instead.",
                      stacklevel=3)
        return dataclasses.replace(cfg, amp=None)
    return cfg


def _cpu_bf16(device: torch.device) -> bool:
    """A CPU with native bf16 (AVX512-BF16 or AMX), where oneDNN computes it fast."""
    if device.type != "cpu":
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _bookkeeping(run: Run, rec: Recorder, cfg: TrainConfig, ckpt: Path | None, hooks,
                 due_sample: bool, due_ckpt: bool, due_hook: bool) -> str | None:
    """Flush the statistics, then sample, save and call hooks when due; a reason to stop or None."""
    problem = rec.flush()
    if problem is None and (due_sample or due_ckpt) and not finite(run.G, run.D):
        problem = f"non-finite weights after step {run.step}"
    if problem is not None:
        return problem
    with rec.off_the_clock():
        if due_sample:
            run.history.samples.append((run.step, _sample_grid(run, cfg)))
        if due_ckpt and run.step < rec.total and ckpt is not None:
            save_run(run, ckpt, cfg, run.fingerprint)
            run.last_good = run.step
        if due_hook and run.dist.is_main:
            if any([hook(run.step, run.history, run.G, run.D) is True for hook in hooks]):
                return "stopped by a hook"
    return None


def _sample_grid(run: Run, cfg: TrainConfig) -> torch.Tensor:
    """The fixed noise through G, or through its moving average with its own batch statistics."""
    G = run.G
    if run.G_ema is not None:
        refresh_batch_norm(run.G_ema, run.G.latent_dim, cfg.seed, run.fixed_y is not None)
        G = run.G_ema
    return sample_images(G, run.fixed_z, run.fixed_y)


def _finish(run: Run, rec: Recorder, cfg: TrainConfig, ckpt: Path | None, hooks,
            hook_every: int, stopped: str) -> History:
    """The end of a call: last statistics and checks, last samples, last checkpoint, hooks."""
    history = run.history
    problem = rec.flush()
    failed = stopped.startswith("non-finite") or stopped == "interrupted mid-step"
    if problem is None and not failed and not finite(run.G, run.D):
        problem = f"non-finite weights after step {run.step}"  # the last update can break them
    history.stopped_reason = stopped = problem or stopped
    say = print if run.dist.is_main else (lambda *a: None)
    if problem is not None or failed:
        rec.close(stopped, saved=False)
        kept = (f"the last good checkpoint ({ckpt}, step {run.last_good}) is kept"
                if run.last_good is not None else "no checkpoint was written")
        cause = ("Lower the learning rates, or check the data and the loss."
                 if stopped.startswith("non-finite") else
                 "The interrupt came from inside a step after an optimiser update (not from "
                 "Ctrl-C, which waits for the step), so this state was not saved.")
        say(f"training stopped: {stopped}; {kept}. {cause}")
        return history
    with rec.off_the_clock():
        if run.step > 0 and (not history.samples or history.samples[-1][0] != run.step):
            history.samples.append((run.step, _sample_grid(run, cfg)))
        if ckpt is not None:
            save_run(run, ckpt, cfg, run.fingerprint)
    rec.close(stopped, saved=ckpt is not None)
    run.dist.broadcast_buffers(run.G), run.dist.broadcast_buffers(run.D)  # identical ranks
    run.dist.barrier()
    if stopped == "interrupted":
        where = f"; checkpoint of this step saved to {ckpt}" if ckpt is not None else ""
        say(f"training interrupted after step {run.step}{where}; returning the history so far.")
    elif hooks and run.step % hook_every != 0 and run.dist.is_main:  # (a hook's stop is on a hook step)
        for hook in hooks:
            hook(run.step, history, run.G, run.D)
    return history
