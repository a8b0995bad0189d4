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
gradient penalty's interpolation, the augmentation) comes from one CPU ``torch.Generator`` seeded by
``cfg.seed`` and saved in checkpoints, so a resumed run continues bit for bit, and the same
seed draws the same numbers on any device.

:class:`TrainConfig` lives in :mod:`gan_course.config` and :class:`History` in
:mod:`gan_course.recorder` (both importable from here). The pieces around the algorithm live
in their own modules: :mod:`gan_course.run_state`
(checking the inputs, building, saving and restoring the run), :mod:`gan_course.recorder`
(statistics, NaN checks, the clock, the progress line), :mod:`gan_course.interrupts`
(Ctrl-C that waits for the step to finish), :mod:`gan_course.distributed` (torchrun).
The recipes (default configs per architecture) are in :mod:`gan_course.recipes`.
"""

from __future__ import annotations

import itertools

import contextlib
import copy
import dataclasses
import warnings
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import nn

from gan_course import distributed, runtime
from gan_course.config import TrainConfig, _native_bf16, precision  # noqa: F401 (TrainConfig: the API)
from gan_course.interrupts import StopRequest
from gan_course.augment import diff_augment
from gan_course.losses import BCE_LOSSES, d_output, get_losses, gradient_penalty, r1_penalty
from gan_course.models import eval_mode, refresh_batch_norm  # noqa: F401 (the API)
from gan_course.recorder import METRICS, History, Recorder  # noqa: F401 (the API)
from gan_course.run_state import Run, finite, prepare_run, restore_run, save_run, validate

# --------------------------------------------------------------------------- the two steps

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
    ``generator``: the random numbers of the augmentation and of WGAN-GP's penalty.

    The fixes of notebook 09, each off by default: ``cfg.augment`` (D sees both batches
    through :func:`~gan_course.augment.diff_augment`), label smoothing (the BCE targets),
    ``cfg.r1_weight`` (:func:`~gan_course.losses.r1_penalty`), WGAN-GP's
    :func:`~gan_course.losses.gradient_penalty`, WGAN's :func:`clip_weights_`.
    """
    d_loss_fn, _ = get_losses(cfg.loss)
    if cfg.r1_weight:  # R1 differentiates D's output with respect to the real images
        x_real = x_real.detach().requires_grad_(True)
    with autocast(cfg, x_real.device):
        if x_fake is None:
            with torch.no_grad():  # no graph to build: D's step never back-propagates into G
                x_fake = _call(G, z, y)
        x_fake = x_fake.detach()
        logits_real = _call(D, diff_augment(x_real, cfg.augment, generator), y).float()
        logits_fake = _call(D, diff_augment(x_fake, cfg.augment, generator), y).float()
    loss_d = d_loss_fn(logits_real, logits_fake, *label_targets(cfg))
    if cfg.loss == "wgan-gp":
        # the penalty in float32: it differentiates a gradient, where bf16 rounding adds up
        loss_d = loss_d + gradient_penalty(lambda x: _call(D, x, y).float(), x_real, x_fake.float(),
                                           cfg.gp_weight, generator)
    if cfg.r1_weight:
        loss_d = loss_d + r1_penalty(logits_real, x_real, cfg.r1_weight)
    norm = _update(loss_d, D, opt_d, scaler)
    if cfg.loss == "wgan":
        clip_weights_(D, cfg.weight_clip)
    return {"loss_d": loss_d.detach(), "d_real": d_output(logits_real, cfg.loss).detach(),
            "d_fake": d_output(logits_fake, cfg.loss).detach(), "grad_norm_d": norm}


def label_targets(cfg: TrainConfig) -> tuple[float, ...]:
    """D's targets for real and fake images, ``(cfg.real_label, cfg.fake_label)``, for the BCE
    losses (label smoothing); the other losses take none."""
    return (cfg.real_label, cfg.fake_label) if cfg.loss in BCE_LOSSES else ()


@torch.no_grad()
def clip_weights_(D: nn.Module, clip: float) -> None:
    """WGAN's constraint (Arjovsky et al. 2017, Algorithm 1): every weight of the critic
    clamped to ``[-clip, clip]`` after each of its updates.

    A box around the weights bounds the critic's Lipschitz constant (by some K that depends
    on the architecture), which its Wasserstein estimate needs; the paper calls it "a clearly
    terrible way" to do so, and WGAN-GP's penalty replaced it.
    """
    for p in D.parameters():
        p.clamp_(-clip, clip)


def g_step(G: nn.Module, D: nn.Module, opt_g: torch.optim.Optimizer, z: torch.Tensor,
           cfg: TrainConfig, *, x_fake: torch.Tensor | None = None,
           y: torch.Tensor | None = None, generator: torch.Generator | None = None,
           scaler: torch.amp.GradScaler | None = None) -> dict:
    """One update of G. Returns detached 0-d tensors: loss_g, d_fake_after, grad_norm_g.

    The gradient of ``loss_g`` flows *through* D into G. D's weights are frozen meanwhile
    (``requires_grad_(False)``): they would get gradients too, which only cost time, and
    only ``opt_g`` steps. ``x_fake``: a generator pass ``G(z)`` (with its graph) to reuse.
    With ``cfg.augment``, D sees the fakes through a fresh random transform, drawn from
    ``generator``, and G learns through it.
    """
    _, g_loss_fn = get_losses(cfg.loss)
    D.requires_grad_(False)
    try:
        with autocast(cfg, z.device):
            if x_fake is None:
                x_fake = _call(G, z, y)
            logits_fake = _call(D, diff_augment(x_fake, cfg.augment, generator), y).float()
        loss_g = g_loss_fn(logits_fake)
        norm = _update(loss_g, G, opt_g, scaler)
    finally:
        D.requires_grad_(True)
    return {"loss_g": loss_g.detach(), "d_fake_after": d_output(logits_fake, cfg.loss).detach(),
            "grad_norm_g": norm}


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
                        generator=run.gen, scaler=run.scaler_g))
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


def sampling_copy(G: nn.Module, history: History, seed: int = 0) -> nn.Module:
    """An eval-mode copy of what a run samples from at this moment, for a hook to keep or
    measure while G trains on: its moving average of G with batch-norm statistics measured on
    its own activations (noise ``seed``), or G itself when the run keeps no average."""
    if history.G_ema is None:
        return copy.deepcopy(G).eval()
    G_ema = copy.deepcopy(history.G_ema)
    refresh_batch_norm(G_ema, G_ema.latent_dim, seed)
    return G_ema.eval()


@torch.no_grad()  # samples are for looking and scoring: no graph, whatever the caller's mode
def sample_images(G: nn.Module, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """``G(z)`` in eval mode (batch norm uses its running statistics), as float32 on the CPU.

    ``z`` (and ``y``) are moved to G's device (that of its first parameter or buffer: a
    fitted mixture has only buffers), and G's train/eval mode is restored after.
    """
    device = next(itertools.chain(G.parameters(), G.buffers())).device
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
