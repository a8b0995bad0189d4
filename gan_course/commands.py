"""What ``python -m gan_course train`` and ``sample`` do (``cli.py`` only parses arguments).

``train`` builds the architecture's networks, starts from its recipe
(:mod:`gan_course.recipes`), applies every ``TrainConfig`` field given as a flag, and runs
:func:`gan_course.training.train_gan`; under ``torchrun`` it trains on every process with
DistributedDataParallel (:mod:`gan_course.distributed`). A user error (a bad flag value, a
missing file, ``--device cuda`` without a GPU, a checkpoint of another run) prints one
line and exits with 2; Ctrl-C finishes the current step, saves it and exits with 130.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
import torch

from gan_course import distributed, runtime
from gan_course.checkpoints import CheckpointError, generator_from_checkpoint, load_checkpoint
from gan_course.data import MNISTUnavailable
from gan_course.models import ARCHS, build_gan
from gan_course.recipes import RECIPES, WGAN, WGAN_GP, default_config
from gan_course.losses import LOSSES
from gan_course.config import AMP, TrainConfig
from gan_course.training import train_gan

# TrainConfig fields that the command sets itself, from --steps / --minutes
_NOT_FLAGS = ("steps", "max_seconds")
_CHOICES = {"loss": sorted(LOSSES), "amp": [a for a in AMP if a is not None] + [None]}
USER_ERRORS = (ValueError, OSError, CheckpointError, MNISTUnavailable)  # FileNotFoundError is an OSError


# ------------------------------------------------------------------------------ flags

def _parse_optional(kind):
    def parse(text: str):
        return None if text.lower() in ("none", "off") else kind(text)
    parse.__name__ = kind.__name__
    return parse


def _field_help(f: dataclasses.Field) -> str:
    """The field's reason, its default and what each recipe sets it to."""
    default = f.default
    recipes = [f"{arch} {RECIPES[arch][f.name]!r}" for arch in RECIPES if f.name in RECIPES[arch]]
    extra = f"; recipes: {', '.join(recipes)}" if recipes else ""
    return f"{f.metadata.get('why', '')} (default {default!r}{extra})"


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    """The ``train`` command's flags: one per TrainConfig field, plus the run's own."""
    p.add_argument("arch", choices=ARCHS, help="mlp, dcgan or cdcgan (class-conditional DCGAN)")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, help="generator steps to train (default: the recipe's)")
    length.add_argument("--minutes", type=float,
                        help="train for this many minutes of training time, however many steps that is")
    p.add_argument("--out", required=True, help="folder for checkpoint.pt and samples.png")
    p.add_argument("--resume", default=None,
                   help="checkpoint to continue from; its settings are kept unless flags change them")
    p.add_argument("--allow-config-change", action="store_true",
                   help="resume even though flags change run-defining settings (learning rates, "
                        "batch size, loss, ...) or the data")
    p.add_argument("--data", choices=["auto", "full", "subset"], default="auto",
                   help="MNIST source (auto: full if cached or downloadable, else the bundled subset)")
    p.add_argument("--device", default=None,
                   help="cuda, mps or cpu (default: the best available; under torchrun one GPU per process)")
    p.add_argument("--spectral-norm", action="store_true",
                   help="spectral normalisation in D (Miyato et al. 2018), instead of batch norm")
    for f in dataclasses.fields(TrainConfig):
        if f.name in _NOT_FLAGS:
            continue
        flag, kind = "--" + f.name.replace("_", "-"), str(f.type)
        help_text = _field_help(f)
        # SUPPRESS: a flag not given leaves no attribute, so "--ema none" can be told from nothing
        if kind == "bool":
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                           help=help_text)
        elif kind.startswith("tuple"):
            p.add_argument(flag, type=float, nargs=2, metavar=("B1", "B2"), default=argparse.SUPPRESS,
                           help=help_text)
        else:
            base = {"int": int, "float": float, "str": str}[kind.split(" |")[0]]
            parse = _parse_optional(base) if "None" in kind else base
            p.add_argument(flag, type=parse, default=argparse.SUPPRESS, choices=_CHOICES.get(f.name),
                           help=help_text + (" ('none' for None)" if "None" in kind else ""))


def _flags_given(args) -> dict:
    """The TrainConfig fields set on the command line."""
    out = {}
    for f in dataclasses.fields(TrainConfig):
        if f.name not in _NOT_FLAGS and hasattr(args, f.name):
            value = getattr(args, f.name)
            out[f.name] = tuple(value) if isinstance(value, list) else value
    return out


def _config(args) -> TrainConfig:
    """The run's config: the checkpoint's (when resuming) or the recipe's, then the flags."""
    given = _flags_given(args)
    if args.resume:
        saved = load_checkpoint(args.resume)["config"]
        fields = {f.name for f in dataclasses.fields(TrainConfig)}
        base = {k: v for k, v in saved.items() if k in fields}  # keep the run's settings
    else:
        base = dict(RECIPES[args.arch])
        base.update({"wgan-gp": WGAN_GP, "wgan": WGAN}.get(given.get("loss"), {}))
    base.update(given, progress=given.get("progress", True))  # a saved run may have had it off
    if args.steps is not None:
        base.update(steps=args.steps, max_seconds=None)
    elif args.minutes is not None:
        if not args.minutes > 0:
            raise ValueError(f"--minutes must be > 0, got {args.minutes}")
        base.update(steps=10**9, max_seconds=args.minutes * 60)  # the budget decides
    return TrainConfig(**base)


# ------------------------------------------------------------------------------ train

def _user_errors_in_one_line(command, args) -> int:
    """Run a command; a user error is one line on stderr and exit status 2, not a traceback."""
    try:
        return command(args)
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def train_command(args) -> int:
    """``python -m gan_course train ARCH --out DIR [--steps N | --minutes M] [flags]``."""
    try:
        return _user_errors_in_one_line(_train, args)
    finally:
        distributed.shutdown()


def _train(args) -> int:
    from gan_course.data import load_mnist

    runtime.apply_thread_setting()
    dist, device = distributed.init_from_torchrun(args.device)
    device = device or runtime.pick_device(args.device)
    say = print if dist.is_main else (lambda *a, **k: None)
    cfg = _config(args)
    data = load_mnist(args.data)
    say(data.describe())
    runtime.seed_everything(cfg.seed)
    d_kwargs = {}
    if args.spectral_norm:
        d_kwargs["spectral_norm"] = True
    if cfg.loss == "wgan-gp" and args.arch != "mlp":
        d_kwargs["batch_norm"] = False  # the penalty is per sample; batch norm mixes samples
    G, D = build_gan(args.arch, d_kwargs=d_kwargs)
    if dist.active:
        say(f"torchrun: {dist.world_size} processes on {device.type}, {cfg.batch_size // dist.world_size} "
            f"of each batch of {cfg.batch_size} per process")
    say(f"{args.arch}: " + ", ".join(f"{k}={v}" for k, v in cfg.to_dict().items()
                                    if k not in ("progress", "quick_steps")))
    out = Path(args.out)
    y = data.y_train if args.arch == "cdcgan" else None
    history = train_gan(G, D, data.x_train, cfg, device=device, out_dir=out, resume=args.resume,
                        y=y, allow_config_change=args.allow_config_change)
    step = history.step[-1] if history.step else 0
    say(f"{args.arch}: {step:,} steps, {history.images_seen:,} images in {history.seconds:.0f} s "
        f"of training ({history.stopped_reason})")
    if history.stopped_reason.startswith("non-finite") or history.stopped_reason == "interrupted mid-step":
        return 1
    if dist.is_main and history.samples:
        from gan_course import plotting  # here, not at the top: pyplot is slow to import

        grid = plotting.save_grid(history.samples[-1][1], out / "samples.png")
        say(f"checkpoint: {out / 'checkpoint.pt'}\nsamples:    {grid}")
    if history.stopped_reason == "interrupted":
        launcher = "torchrun <the same options>" if dist.active else "python"
        say(f"resume with: {launcher} -m gan_course train {args.arch} --out {out} "
            f"--resume {out / 'checkpoint.pt'}")
        return 130
    return 0


# ------------------------------------------------------------------------------ sample

def sample_command(args) -> int:
    """``python -m gan_course sample CKPT -n N -o out.npz [--digit D]``: key ``x`` uint8 (N, 28, 28)."""
    return _user_errors_in_one_line(_sample, args)


def _sample(args) -> int:
    from gan_course.data import to_uint8
    from gan_course.metrics import sample_generator

    G = generator_from_checkpoint(args.checkpoint, ema=not args.no_ema)
    conditional = hasattr(G, "n_classes")
    if args.digit is not None and not conditional:
        raise ValueError(f"{args.checkpoint} holds an unconditional generator "
                         f"({type(G).__name__}): --digit needs a cdcgan checkpoint.")
    x = sample_generator(G, args.n, seed=args.seed, digit=args.digit)
    arrays = {"x": to_uint8(x)}
    if conditional:
        y = torch.full((args.n,), args.digit) if args.digit is not None else torch.arange(args.n) % G.n_classes
        arrays["y"] = y.numpy()
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)
    what = f" of the digit {args.digit}" if args.digit is not None else ""
    print(f"wrote {args.n} samples{what} to {out} (x: uint8 {arrays['x'].shape}, 0 = background)")
    return 0
