"""Quick/full mode, device choice and seeding: the pieces every notebook's setup cell uses.

The course has one switch, the environment variable ``GAN_COURSE_QUICK=1``, which shrinks
every training run so CI can execute all notebooks in minutes. Full mode (the default) is
what students get and what the stored notebook outputs show.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

QUICK_ENV = "GAN_COURSE_QUICK"
THREADS_ENV = "GAN_COURSE_THREADS"


def is_quick() -> bool:
    """True when ``GAN_COURSE_QUICK`` is set to a true value (1, true, yes, on)."""
    return os.environ.get(QUICK_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def mode_name() -> str:
    return "quick" if is_quick() else "full"


def by_mode(full, quick):
    """Return ``full`` normally and ``quick`` under ``GAN_COURSE_QUICK=1``.

    Used for sizes of training runs: ``steps = by_mode(full=3000, quick=30)``.
    """
    return quick if is_quick() else full


class DeviceUnavailable(ValueError, RuntimeError):
    """The device asked for is not on this machine (a user error, not a bug)."""


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """The device to train on: the one asked for, else cuda, then mps, then cpu."""
    if device is not None:
        try:
            device = torch.device(device)
        except RuntimeError as err:  # "Expected one of cpu, cuda, ... device type"
            raise DeviceUnavailable(f"{device!r} is not a device name; use cuda, mps or cpu.") from err
        if device.type == "cuda" and not torch.cuda.is_available():
            raise DeviceUnavailable("device 'cuda' was asked for but torch sees no CUDA GPU; "
                                    "pass device=None (command line: leave --device out) to "
                                    "use the best available device.")
        mps = getattr(torch.backends, "mps", None)
        if device.type == "mps" and not (mps is not None and mps.is_available()):
            raise DeviceUnavailable("device 'mps' was asked for but this machine has no Apple GPU "
                                    "that torch can use; leave the device out to use the CPU.")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def in_notebook_kernel() -> bool:
    """True inside a Jupyter kernel (JupyterLab, nbclient, nbval), False in a script or a
    terminal IPython, where there is no front end to show rich output."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) so a run can be repeated."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def apply_thread_setting() -> int:
    """Honour ``GAN_COURSE_THREADS`` (Binder sets 1); return torch's thread count."""
    threads = os.environ.get(THREADS_ENV)
    if threads:
        torch.set_num_threads(int(threads))
    return torch.get_num_threads()


def setup(seed: int = 0, device: str | None = None) -> torch.device:
    """The notebooks' setup cell: seed, choose the device, print mode and device once."""
    seed_everything(seed)
    threads = apply_thread_setting()
    dev = pick_device(device)
    where = f"{dev.type} ({threads} CPU threads)" if dev.type == "cpu" else dev.type
    if dev.type == "cuda":
        where += f" ({torch.cuda.get_device_name(dev)})"
    hint = "set GAN_COURSE_QUICK=1 for a fast smoke run" if not is_quick() else \
        "training runs are shrunk; unset GAN_COURSE_QUICK for the real course"
    print(f"mode: {mode_name()} ({hint})\ndevice: {where} | torch {torch.__version__} | seed {seed}")
    return dev
