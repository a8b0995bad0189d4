"""A training run's state: checked, built, saved and restored. The pieces ``train_gan`` is made of.

:class:`Run` holds everything a run changes: both networks (and, under torchrun, the
wrappers that average their gradients), both optimisers, the moving average of G, the
random generator every batch and noise vector comes from, the position in the data, the
step counter and the history. A checkpoint is exactly that, so a resumed run continues bit
for bit on a CPU.

- :func:`validate` refuses, before any step, what would fail or mislead later: a bad
  config, data with NaN or in the wrong range, labels out of range, models that do not fit
  the data;
- :func:`prepare_run` builds the state of a new run on the device;
- :func:`save_run` / :func:`restore_run` write and read it (``checkpoints`` does the file
  work); restoring refuses a checkpoint made with other settings or data, listing what
  differs, unless told to accept it;
- :meth:`Run.mark` / :meth:`Run.rollback` undo the part of a step that an exception
  interrupted before any optimiser step (Ctrl-C itself never interrupts a step: see
  :mod:`gan_course.interrupts`).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from gan_course import checkpoints, distributed, runtime
from gan_course.config import TrainConfig, precision
from gan_course.models import eval_mode, refresh_batch_norm
from gan_course.recorder import History

# Settings that define the run: resuming with any of them changed is refused unless asked
# for (``allow_config_change``). The others (steps, time budget, how often to sample or save,
# precision, memory layout, Adam's kernel, the progress bar) may change freely between sessions.
RUN_DEFINING = ("batch_size", "lr_g", "lr_d", "betas", "n_critic", "loss", "real_label",
                "fake_label", "gp_weight", "weight_clip", "r1_weight", "augment", "ema", "seed")
# a setting a checkpoint does not name is one its code did not have yet: it ran as the default
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
CHECKPOINT_SAMPLES = 32  # sample grids kept in a checkpoint (uint8): the latest ones
EMA_BN_SAMPLES = 1024    # noise vectors that estimate the EMA generator's batch-norm statistics


# ------------------------------------------------------------------------------- the state

class Batches:
    """Batches from one tensor on the device: slices of a random permutation, epoch by epoch.

    The permutation is drawn on the CPU from the loop's generator (so every device, and every
    rank, draws the same one). The last incomplete slice of an epoch is dropped.
    """

    def __init__(self, n: int, batch_size: int, generator: torch.Generator, device: torch.device):
        self.n, self.batch_size, self.generator, self.device = n, batch_size, generator, device
        self.perm = self._new_perm()
        self.cursor = 0

    def _new_perm(self) -> torch.Tensor:
        return torch.randperm(self.n, generator=self.generator).to(self.device)

    def next_indices(self) -> torch.Tensor:
        if self.cursor + self.batch_size > self.n:
            self.perm, self.cursor = self._new_perm(), 0
        idx = self.perm[self.cursor:self.cursor + self.batch_size]
        self.cursor += self.batch_size
        return idx


@dataclass
class Run:
    """Everything a training run changes (see the module docstring)."""

    G: nn.Module
    D: nn.Module
    G_sync: nn.Module                   # G for its own update: DDP under torchrun, else G
    D_sync: nn.Module                   # D for its own update: DDP under torchrun, else D
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    G_ema: nn.Module | None             # the moving average of G's weights (cfg.ema)
    gen: torch.Generator                # on the CPU: every batch, noise vector, penalty weight
                                        # and augmentation
    batches: Batches
    fixed_z: torch.Tensor               # the noise of the sample grids, fixed for the whole run
    fixed_y: torch.Tensor | None
    device: torch.device
    dist: distributed.Dist
    scaler_g: torch.amp.GradScaler | None = None  # fp16 only: loss scaling against underflow
    scaler_d: torch.amp.GradScaler | None = None
    step: int = 0
    history: History | None = None

    def noise(self, batch_size: int) -> torch.Tensor:
        """z ~ N(0, I) for the whole batch, drawn on the CPU; this rank's rows, on the device."""
        z = torch.randn(batch_size, self.G.latent_dim, generator=self.gen)
        return self.dist.shard(_to_device(z, self.device))

    def real_batch(self, x: torch.Tensor, y: torch.Tensor | None):
        """The next batch of real data (and labels), this rank's rows."""
        idx = self.dist.shard(self.batches.next_indices())
        return x[idx], (None if y is None else y[idx])

    fingerprint: dict | None = None     # of the training data (see data_fingerprint)
    last_good: int | None = None        # step of the last checkpoint written (or resumed from)
    updates: int = 0                    # optimiser steps taken (counted by a post-step hook)
    _saved_buffers: list | None = None

    def count_update(self, *_) -> None:
        self.updates += 1

    def _buffers(self) -> list[torch.Tensor]:
        return [b for m in (self.G, self.D) for b in m.buffers()]

    def mark(self) -> dict:
        """What a step changes before its first optimiser step, to undo it: the generator's
        state, the position in the data and the batch-norm statistics (cheap copies)."""
        buffers = self._buffers()
        if self._saved_buffers is None:
            self._saved_buffers = [b.clone() for b in buffers]
        elif buffers:
            torch._foreach_copy_(self._saved_buffers, buffers)  # one call for all of them
        return {"gen": self.gen.get_state(), "perm": self.batches.perm,
                "cursor": self.batches.cursor, "updates": self.updates}

    def rollback(self, mark: dict) -> bool:
        """Undo a step interrupted by an exception; False if an optimiser step already ran."""
        if self.updates != mark["updates"]:
            return False
        self.gen.set_state(mark["gen"])
        self.batches.perm, self.batches.cursor = mark["perm"], mark["cursor"]
        buffers = self._buffers()
        if buffers:
            torch._foreach_copy_(buffers, self._saved_buffers)
        return True


def _to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A CPU tensor on ``device`` without making the host wait for the GPU (pinned copy)."""
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


# ----------------------------------------------------------------------------- checking

def validate(G: nn.Module, D: nn.Module, x: torch.Tensor, cfg: TrainConfig,
             y: torch.Tensor | None = None, hook_every: int | None = None,
             dist: distributed.Dist = distributed.Dist()) -> None:
    """Raise ``ValueError`` for arguments that would fail or mislead, before any training."""
    if not isinstance(cfg, TrainConfig):
        raise ValueError(f"cfg must be a TrainConfig, got {type(cfg).__name__}")
    cfg.validate()
    if hook_every is not None and (not isinstance(hook_every, int) or hook_every <= 0):
        raise ValueError(f"hook_every must be a positive integer (steps between hook calls), got {hook_every!r}")
    if cfg.batch_size % dist.world_size:
        raise ValueError(f"cfg.batch_size = {cfg.batch_size} does not split evenly over "
                         f"{dist.world_size} processes; pick a multiple of {dist.world_size}.")
    _validate_data(G, x, cfg)
    _validate_labels(G, x, y)
    _validate_fit(G, D, x, y)
    _validate_range(G, x, cfg)
    if cfg.loss == "wgan-gp" and any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in D.modules()):
        warnings.warn("WGAN-GP with batch norm in the critic: the gradient penalty is per sample, "
                      "batch norm mixes samples. Build D with batch_norm=False.", stacklevel=3)


def _validate_data(G: nn.Module, x, cfg: TrainConfig) -> None:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() < 2:
        raise ValueError("x must be a float tensor of training data, shape (N, ...) "
                         f"(got {type(x).__name__} {getattr(x, 'dtype', '')} {tuple(getattr(x, 'shape', ()))}); "
                         "MNIST bytes: load_mnist() returns them as floats in [-1, 1]")
    if cfg.augment and x.dim() != 4:
        raise ValueError(f"cfg.augment = {cfg.augment!r} transforms images (N, C, H, W), but the data "
                         f"has shape {tuple(x.shape)}: set augment=None for this data.")
    if cfg.batch_size > len(x):
        raise ValueError(f"cfg.batch_size = {cfg.batch_size} is larger than the data set ({len(x)} samples)")
    n_bad = int((~torch.isfinite(x)).sum())
    if n_bad:
        raise ValueError(f"the data holds {n_bad:,} NaN or infinite values; clean it first "
                         "(e.g. x = torch.nan_to_num(x), or drop those samples).")


def _validate_range(G: nn.Module, x: torch.Tensor, cfg: TrainConfig) -> None:
    """Images must lie where G's tanh can reach: [-1, 1], with the background at -1."""
    tanh = getattr(G, "arch", {}).get("kwargs", {}).get("out_activation", "tanh") == "tanh"
    if not (tanh and x.dim() == 4 and cfg.check_range):
        return
    lo, hi = float(x.min()), float(x.max())
    if lo >= 0 and hi > 1.5:
        raise ValueError(f"the images hold values in [{lo:g}, {hi:g}], bytes 0..255, but G ends in "
                         "tanh, whose outputs lie in [-1, 1]: scale them with x / 127.5 - 1.")
    if lo < -1.001 or hi > 1.001:
        raise ValueError(f"the images hold values in [{lo:.3g}, {hi:.3g}], outside G's tanh range "
                         "[-1, 1]: scale them into [-1, 1] (MNIST bytes: x / 127.5 - 1).")
    if lo >= 0:
        raise ValueError("the images lie in [0, 1] but G ends in tanh ([-1, 1]): D could tell real "
                         "from fake by the background alone. Scale them with x * 2 - 1 (to train "
                         "on [0, 1] data on purpose, set TrainConfig(check_range=False)).")


def _validate_labels(G: nn.Module, x: torch.Tensor, y) -> None:
    conditional = hasattr(G, "n_classes")
    if conditional and y is None:
        raise ValueError(f"{type(G).__name__} is class-conditional: pass the labels, train_gan(..., y=labels)")
    if y is None:
        return
    if not conditional:
        raise ValueError(f"labels y were given but {type(G).__name__} is not class-conditional")
    if not isinstance(y, torch.Tensor) or y.shape != (len(x),) or y.is_floating_point():
        raise ValueError(f"y must be integer labels, one per sample, shape ({len(x)},), got "
                         f"{getattr(y, 'dtype', type(y).__name__)} {tuple(getattr(y, 'shape', ()))}")
    lo, hi = int(y.min()), int(y.max())
    if lo < 0 or hi >= G.n_classes:
        raise ValueError(f"labels must lie in 0..{G.n_classes - 1} for this {G.n_classes}-class model, "
                         f"got {lo}..{hi}")


def _validate_fit(G: nn.Module, D: nn.Module, x: torch.Tensor, y) -> None:
    """One tiny forward pass in eval mode: do the data and the models fit together?"""
    device = next(G.parameters()).device
    with eval_mode(G, D), torch.no_grad():
        z = torch.zeros(2, G.latent_dim, device=device)
        y2 = None if y is None else y[:2].to(device)
        out = G(z) if y2 is None else G(z, y2)
        if tuple(out.shape[1:]) != tuple(x.shape[1:]):
            raise ValueError(f"the data has samples of shape {tuple(x.shape[1:])} but G makes "
                             f"{tuple(out.shape[1:])}; build G and D for this data "
                             "(e.g. MLPGenerator(out_shape=...)) or reshape the data.")
        d_device = next(D.parameters()).device
        x2 = x[:2].to(d_device)
        D(x2) if y2 is None else D(x2, y2.to(d_device))


# ----------------------------------------------------------------------------- building

def prepare_run(G: nn.Module, D: nn.Module, x: torch.Tensor, y: torch.Tensor | None,
                cfg: TrainConfig, device: torch.device, dist: distributed.Dist):
    """A new run's state on ``device``, and the data moved there once: ``(run, x, y)``.

    The draws from the loop's generator keep their order across versions of this code (the
    first data permutation, then the fixed noise), so the same seed trains the same run.
    """
    memory_format = torch.channels_last if cfg.channels_last else torch.preserve_format
    G.to(device, memory_format=memory_format).train()
    D.to(device, memory_format=memory_format).train()
    G_ema = copy.deepcopy(G).requires_grad_(False) if cfg.ema else None  # plain batch norm
    G_sync, D_sync = distributed.wrap(G, dist, device), distributed.wrap(D, dist, device)
    # fused: one kernel per update (and on a GPU no host sync under a GradScaler); on a CPU
    # only when asked, since it rounds differently from the per-tensor loop
    fused = device.type == "cuda" or (device.type == "cpu" and cfg.cpu_fused_adam)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=tuple(cfg.betas), fused=fused or None)
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=tuple(cfg.betas), fused=fused or None)
    gen = torch.Generator().manual_seed(cfg.seed)
    batches = Batches(len(x), cfg.batch_size, gen, device)
    fixed_z = torch.randn(64, G.latent_dim, generator=gen).to(device)
    fixed_y = torch.arange(64, device=device) % G.n_classes if hasattr(G, "n_classes") else None
    fp16 = precision(cfg.amp, device) == "fp16"
    scalers = [torch.amp.GradScaler(device.type) if fp16 else None for _ in range(2)]
    run = Run(G, D, G_sync, D_sync, opt_g, opt_d, G_ema, gen, batches, fixed_z, fixed_y,
              device, dist, *scalers, step=0, history=History())
    for opt in (opt_g, opt_d):
        opt.register_step_post_hook(run.count_update)
    x, y = x.to(device), (None if y is None else y.to(device))
    run.fingerprint = data_fingerprint(x, y)
    return run, x, y


# ---------------------------------------------------------------------- saving, restoring

def data_fingerprint(x: torch.Tensor, y: torch.Tensor | None = None) -> dict:
    """A few numbers that tell one data set from another (size, and sums in float64)."""
    flat = x.detach().flatten().double()
    sums = torch.stack([flat.sum(), (flat * flat).sum(), flat[::9973].sum()]).cpu().tolist()
    out = {"n": len(x), "shape": list(x.shape[1:]), "sums": [round(s, 6) for s in sums]}
    if y is not None:
        out["label_counts"] = torch.bincount(y.detach().flatten().cpu()).tolist()
    return out


def save_run(run: Run, path: Path, cfg: TrainConfig, x_fingerprint: dict) -> None:
    """Write the run's state to ``path`` (rank 0 only; atomic, see :mod:`checkpoints`)."""
    if not run.dist.is_main:
        return
    extra = {"perm": run.batches.perm, "cursor": run.batches.cursor, "fixed_z": run.fixed_z,
             "data": x_fingerprint, "quick": runtime.is_quick(), "device": run.device.type,
             "world_size": run.dist.world_size}
    if run.G_ema is not None:
        refresh_batch_norm(run.G_ema, run.fixed_z.shape[1], cfg.seed, run.fixed_y is not None)
        extra["G_ema"] = run.G_ema.state_dict()
    for name, scaler in (("scaler_g", run.scaler_g), ("scaler_d", run.scaler_d)):
        if scaler is not None:
            extra[name] = scaler.state_dict()
    checkpoints.save_checkpoint(path, G=run.G, D=run.D, opt_g=run.opt_g, opt_d=run.opt_d,
                                step=run.step, config=cfg.to_dict(), generator=run.gen, extra=extra,
                                history=run.history.to_dict(max_samples=CHECKPOINT_SAMPLES))


def config_differences(saved: dict, cfg: TrainConfig) -> list[str]:
    """``["lr_g: 0.001 in the checkpoint, 0.0002 now", ...]`` for the run-defining settings."""
    now = cfg.to_dict()
    out = []
    for name in RUN_DEFINING:
        a, b = saved.get(name, _DEFAULTS[name]), now.get(name)
        if isinstance(a, (list, tuple)):
            a, b = tuple(a), tuple(b)
        if a != b:
            out.append(f"{name}: {a!r} in the checkpoint, {b!r} now")
    return out


def resume_problems(blob: dict, cfg: TrainConfig, x_fingerprint: dict) -> list[str]:
    """What differs between a checkpoint's run and this one: settings and data."""
    problems = config_differences(blob.get("config", {}), cfg)
    saved = blob["extra"].get("data")
    if saved is not None and saved != x_fingerprint:
        problems.append(f"data: {saved['n']:,} samples {tuple(saved['shape'])} in the checkpoint, "
                        f"{x_fingerprint['n']:,} {tuple(x_fingerprint['shape'])} now"
                        + (" (same size, other values)" if saved["n"] == x_fingerprint["n"] else ""))
    return problems


def _load_optimizer(opt: torch.optim.Optimizer, saved: dict) -> None:
    """Adam's saved moments into ``opt``, which keeps its own kernel (fused or the
    per-tensor loop: this run's device and config chose it, and ``load_state_dict`` would
    bring back the saved run's); a fused kernel keeps its step counts on the parameters'
    device, the loop on the CPU."""
    fused = opt.param_groups[0]["fused"]
    opt.load_state_dict(saved)
    for group in opt.param_groups:
        group["fused"] = fused
        for p in group["params"]:
            state = opt.state.get(p, {})
            if "step" in state:  # (as load_state_dict places them for a fused kernel)
                step = state["step"]
                state["step"] = step.to(p.device, torch.float32) if fused else step.cpu()


def restore_run(run: Run, path: str | Path, cfg: TrainConfig, x_fingerprint: dict,
                allow_config_change: bool = False) -> None:
    """Load a checkpoint into ``run`` so that training continues exactly where it stopped.

    Refuses, in one sentence, a checkpoint of an older format, one without optimiser state
    (made for sampling only), one made for other models, and, unless
    ``allow_config_change``, one made with other run-defining settings or data (the
    message lists each difference). Resuming on another device (GPU to CPU, CPU to GPU)
    works; the random streams stay exact, the arithmetic does not (other kernels, and
    precision "auto" switches mixed precision on or off with the device).
    """
    blob = checkpoints.load_checkpoint(path)
    if blob["format"] != checkpoints.FORMAT:
        raise checkpoints.CheckpointError(
            f"{path} was written by an older version of the course (format {blob['format']!r}; this "
            f"one resumes {checkpoints.FORMAT!r}): train again (sampling from it still works).")
    if blob.get("opt_g") is None or blob.get("opt_d") is None:
        raise checkpoints.CheckpointError(f"{path} holds no optimiser state (it was saved for "
                                          "sampling only), so training cannot resume from it.")
    checkpoints.check_arch(blob, run.G, run.D, path)
    problems = resume_problems(blob, cfg, x_fingerprint)
    if problems and not allow_config_change:
        raise ValueError(f"{path} was made by a run with other settings: " + "; ".join(problems)
                         + ". Resume with the same settings, or accept the new ones with "
                         "allow_config_change=True (command line: --allow-config-change).")
    run.G.load_state_dict(blob["G"]), run.D.load_state_dict(blob["D"])
    for opt, name in ((run.opt_g, "opt_g"), (run.opt_d, "opt_d")):
        _load_optimizer(opt, blob[name])
    for opt, lr in ((run.opt_g, cfg.lr_g), (run.opt_d, cfg.lr_d)):
        for group in opt.param_groups:  # the settings asked for now (equal unless allowed)
            group["lr"], group["betas"] = lr, tuple(cfg.betas)
    checkpoints.restore_rng_state(blob["rng"], run.gen)
    extra = blob["extra"]
    if len(extra["perm"]) == run.batches.n:
        run.batches.perm, run.batches.cursor = extra["perm"].to(run.device), int(extra["cursor"])
    else:  # other data, accepted: start a fresh pass over it
        run.batches.perm, run.batches.cursor = run.batches._new_perm(), 0
    run.fixed_z = extra["fixed_z"].to(run.device)
    if run.G_ema is not None:
        run.G_ema.load_state_dict(extra.get("G_ema") or blob["G"])
    for name in ("scaler_g", "scaler_d"):
        scaler = getattr(run, name)
        if scaler is not None and extra.get(name) is not None:
            scaler.load_state_dict(extra[name])
    run.history, run.step = History.from_dict(blob["history"]), int(blob["step"])


def checkpoint_matches(path: str | Path, cfg: TrainConfig, x: torch.Tensor,
                       y: torch.Tensor | None = None) -> tuple[bool, str]:
    """Whether the checkpoint at ``path`` is a run of ``cfg`` on ``x`` in the current mode.

    For notebooks that load a cached run instead of training: a quick-mode checkpoint must
    not stand in for a full-mode run, nor a run of another recipe or data. Returns
    ``(ok, reason)``, the reason saying what differs.
    """
    try:
        blob = checkpoints.load_checkpoint(path)
    except (FileNotFoundError, checkpoints.CheckpointError) as err:
        return False, str(err)
    if blob["format"] != checkpoints.FORMAT:
        return False, f"{path} is of an older format ({blob['format']})"
    extra = blob["extra"]
    if bool(extra.get("quick")) != runtime.is_quick():
        made, now = ("quick", "full") if extra.get("quick") else ("full", "quick")
        return False, f"{path} was made in {made} mode, this is {now} mode"
    problems = resume_problems(blob, cfg, data_fingerprint(x, y))
    if problems:
        return False, f"{path} is another run: " + "; ".join(problems)
    return True, f"{path}: step {blob['step']:,} of this run ({blob['history'].get('stopped_reason') or 'saved'})"


def finite(*modules: nn.Module) -> bool:
    """Whether every parameter of ``modules`` is finite (one device sync for all)."""
    params = [p for m in modules for p in m.parameters()]
    return bool(torch.isfinite(torch.nn.utils.get_total_norm(params, norm_type=math.inf)))


__all__ = ["Run", "Batches", "validate", "prepare_run", "save_run", "restore_run", "data_fingerprint",
           "config_differences", "resume_problems", "checkpoint_matches", "finite", "RUN_DEFINING"]
