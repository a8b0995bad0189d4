"""Saving and loading training state: atomic writes, safe reads, every random state.

A checkpoint is one ``torch.save`` file holding only tensors and plain Python values (dicts,
lists, tuples, numbers, strings), so it is read back with ``torch.load(weights_only=True)``:
loading a checkpoint never runs code from the file.

What it holds, so that a resumed run continues *exactly* as if it had never stopped:

- ``G``, ``D``: the models' state dicts; ``arch``: each model's class and constructor
  arguments (a checkpoint of another architecture gives a clear error, not a shape dump);
- ``opt_g``, ``opt_d``: the optimisers' state (Adam's moment estimates and step counts);
- ``rng``: every random number generator: torch's CPU (and CUDA) state, NumPy's, Python's,
  and the dedicated ``torch.Generator`` the training loop draws batches and noise from;
- ``step``, ``history``, ``config`` (the :class:`~gan_course.training.TrainConfig` as a dict)
  and ``extra`` (what the loop needs besides: the current data permutation, the fixed noise).

Writes go through :func:`gan_course.files.atomic_write` (a temporary file in the same folder,
then one rename): a crash or Ctrl-C mid-write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gan_course.files import atomic_torch_save
from gan_course.models import arch_of

FORMAT = "gan_course.checkpoint/2"  # what this version writes and resumes
READABLE = ("gan_course.checkpoint/1", FORMAT)  # what it can still sample from
REQUIRED = ("format", "G", "D", "arch", "step")


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be used: unreadable, truncated, or for other models."""


# ----------------------------------------------------------------------------- RNG state

def capture_rng_state(generator: torch.Generator | None = None) -> dict:
    """Every RNG's state as tensors and plain lists (loadable with ``weights_only=True``)."""
    np_state = np.random.get_state()  # ('MT19937', uint32[624], pos, has_gauss, cached_gaussian)
    py_version, py_internal, py_gauss = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"kind": np_state[0], "keys": torch.from_numpy(np_state[1].astype(np.int64)),
                  "pos": int(np_state[2]), "has_gauss": int(np_state[3]),
                  "cached_gaussian": float(np_state[4])},
        "python": {"version": py_version, "internal": list(py_internal), "gauss_next": py_gauss},
    }
    if generator is not None:
        state["generator"] = generator.get_state()
    return state


def restore_rng_state(state: dict, generator: torch.Generator | None = None) -> None:
    """Put back what :func:`capture_rng_state` took (CUDA only if this machine has it)."""
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"],
                         n["has_gauss"], n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss_next"]))
    if generator is not None:
        if "generator" not in state:
            raise CheckpointError("the checkpoint has no state for the training generator.")
        generator.set_state(state["generator"])


# ----------------------------------------------------------------------------- save / load

def save_checkpoint(path: str | Path, *, G: nn.Module, D: nn.Module,
                    opt_g: torch.optim.Optimizer | None = None,
                    opt_d: torch.optim.Optimizer | None = None, step: int = 0,
                    history: dict | None = None, config: dict | None = None,
                    generator: torch.Generator | None = None, extra: dict | None = None) -> Path:
    """Write a checkpoint atomically (:func:`gan_course.files.atomic_write`); return its path."""
    path = Path(path)
    blob = {
        "format": FORMAT,
        "G": _cpu(G.state_dict()),
        "D": _cpu(D.state_dict()),
        "arch": {"G": arch_of(G), "D": arch_of(D)},
        "opt_g": _cpu(opt_g.state_dict()) if opt_g is not None else None,
        "opt_d": _cpu(opt_d.state_dict()) if opt_d is not None else None,
        "step": int(step),
        "history": history or {},
        "config": config or {},
        "rng": capture_rng_state(generator),
        "extra": _cpu(extra or {}),
    }
    return atomic_torch_save(blob, path)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint with ``torch.load(weights_only=True)`` and check its keys.

    Raises ``FileNotFoundError`` if there is no file, :class:`CheckpointError` (naming the
    file) if it is truncated, corrupt or not a course checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; train first (python -m gan_course "
                                "train ...) or check the path.")
    try:
        blob = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise CheckpointError(
            f"{path} is not a readable checkpoint (truncated or corrupt?): {type(err).__name__}: "
            f"{err}. Delete it and train again, or resume from an older copy.") from err
    missing = [k for k in REQUIRED if not (isinstance(blob, dict) and k in blob)]
    if missing:
        raise CheckpointError(f"{path} is not a gan_course training checkpoint "
                              f"(missing {', '.join(missing)}).")
    if blob["format"] not in READABLE:
        raise CheckpointError(f"{path} has format {blob['format']!r}, which this version of the "
                              f"course cannot read (it reads {', '.join(map(repr, READABLE))}).")
    return blob


def check_arch(blob: dict, G: nn.Module, D: nn.Module, path: str | Path = "the checkpoint") -> None:
    """Raise ``ValueError`` if the checkpoint was made for other models than ``G`` and ``D``."""
    for name, model in (("G", G), ("D", D)):
        saved, ours = blob["arch"][name], arch_of(model)
        if _normalise(saved) != _normalise(ours):
            raise ValueError(f"{path} was made for {name} = {_describe(saved)}, but the {name} "
                             f"given is {_describe(ours)}; build the same architecture "
                             "(models.model_from_arch(ckpt['arch']['" + name + "'])) or start a new run.")


def _normalise(arch: dict) -> dict:
    kw = {k: list(v) if isinstance(v, tuple) else v for k, v in arch["kwargs"].items()}
    return {"class": arch["class"], "kwargs": kw}


def _describe(arch: dict) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in arch["kwargs"].items())
    return f"{arch['class']}({args})"


def _cpu(obj):
    """A copy of nested dicts/lists with every tensor moved to the CPU (device-independent file)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_cpu(v) for v in obj)
    return obj


def generator_state(blob: dict, ema: bool = True) -> dict:
    """G's weights in a checkpoint: its moving average when the run kept one and ``ema``,
    else G's own. The one place that decides "EMA if present"."""
    state = blob["extra"].get("G_ema") if ema else None
    return state if state is not None else blob["G"]


def generator_from_checkpoint(path: str | Path, ema: bool = True) -> nn.Module:
    """The generator of a training checkpoint (see :func:`generator_state`), in eval mode."""
    from gan_course.models import model_from_arch

    blob = load_checkpoint(path)
    G = model_from_arch(blob["arch"]["G"])
    G.load_state_dict(generator_state(blob, ema))
    return G.eval()


def export_generator(checkpoint: str | Path, out: str | Path, ema: bool = True) -> Path:
    """Write a training checkpoint's generator as ``{"arch": ..., "state_dict": ...}``.

    This small file (no D, no optimiser, no history) is what ``models.load_pretrained``
    reads. With ``ema`` the moving-average weights are used when the run kept them.
    """
    blob = load_checkpoint(checkpoint)
    state = {k: v.clone() for k, v in generator_state(blob, ema).items()}
    return atomic_torch_save({"arch": blob["arch"]["G"], "state_dict": state}, Path(out))
