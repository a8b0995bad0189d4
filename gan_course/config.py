"""The config of a training run: :class:`TrainConfig`, one dataclass of typed fields, each
with the reason for its default (nanoGPT's ``GPTConfig`` is the model), and what its mixed
precision setting means on a device.

A notebook sets one ``TrainConfig`` in its hyperparameter cell; ``python -m gan_course train``
turns every field into a flag whose help is the field's reason; :mod:`gan_course.recipes`
holds the course's defaults per architecture.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass, field

import torch

from gan_course.augment import parse_policy
from gan_course.losses import BCE_LOSSES, LOSSES

AMP = ("auto", "bf16", "fp16", None)
WEIGHT_CLIP = 0.01  # WGAN's c (Arjovsky et al. 2017), the default of cfg.weight_clip


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
    loss: str = knob("nonsaturating", "nonsaturating | saturating | wgan-gp | wgan (weight "
                     "clipping) | hinge | least-squares")
    real_label: float = knob(1.0, "target for real images in D's loss; 0.9 = one-sided label "
                             "smoothing (fakes stay 0); BCE losses only")
    fake_label: float = knob(0.0, "target for fakes in D's loss; 0.1 (with real_label 0.9) = "
                             "two-sided smoothing, which Salimans et al. 2016 advise against; "
                             "BCE losses only")
    gp_weight: float = knob(10.0, "WGAN-GP's lambda (Gulrajani et al. 2017)")
    weight_clip: float = knob(WEIGHT_CLIP, "loss wgan only: every D weight clamped to [-c, c] after "
                              "each D step, c = 0.01 as in Arjovsky et al. 2017, who train with "
                              "RMSprop at lr 5e-5; the course keeps Adam, with beta1 = 0 and 5 "
                              "D steps in recipes.WGAN (what --loss wgan starts from)")
    r1_weight: float = knob(0.0, "R1's gamma (Mescheder et al. 2018): gamma/2 * E||grad_x "
                            "D(x_real)||^2 added to D's loss; 0 = off (their code's default, "
                            "10 * E||.||^2 without the 1/2, is gamma = 20 here)")
    augment: str | None = knob(None, "DiffAugment policy (Zhao et al. 2020): random "
                               "differentiable transforms of every image D sees, real and fake, "
                               "such as 'translation,cutout' (see gan_course.augment); None: none")
    max_seconds: float | None = knob(None, "stop after this much training time, bookkeeping "
                                     "excluded (None: no budget)")
    sample_every: int = knob(250, "keep a 64-sample grid of the fixed noise this often")
    checkpoint_every: int = knob(1000, "write out_dir/checkpoint.pt this often (and at the end)")
    seed: int = knob(0, "seeds the loop's own generator (batches, noise)")
    amp: str | None = knob("auto", "mixed precision: auto = bf16 on GPUs that have it natively, "
                           "fp16 with loss scaling on older GPUs, none on CPUs (no gain "
                           "measured there); or bf16 | fp16 | None")
    channels_last: bool = knob(False, "NHWC layout for convolutions: no gain measured on this CPU")
    cpu_fused_adam: bool = knob(False, "Adam's fused kernel on a CPU too (a GPU always uses it): "
                                "in 5 runs of bench on 2 threads, a median 1.09x img/s for the "
                                "DCGAN (0.97-1.12x) and 1.15x for the MLP (1.10-1.27x); but it "
                                "rounds differently from PyTorch's per-tensor loop, so a CPU "
                                "run no longer repeats the notebooks' stored outputs bit for bit")
    ema: float | None = knob(None, "decay of an exponential moving average of G for sampling "
                             "(0.999: smoother digits); None: no average")
    quick_steps: int = knob(30, "what steps shrinks to under GAN_COURSE_QUICK=1")
    progress: bool = knob(True, "show a progress line with live numbers")
    check_range: bool = knob(True, "refuse images outside [-1, 1] or in [0, 1] for a tanh G "
                             "(False: train on them anyway, to show the mistake)")

    def __post_init__(self):
        if isinstance(self.betas, list):  # from a checkpoint or JSON
            self.betas = tuple(self.betas)
        if self.augment == "":  # "no transforms", spelled one way (it is run-defining)
            self.augment = None
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
        if not _real(self.fake_label) or not 0 <= self.fake_label < self.real_label:
            bad(f"cfg.fake_label must be in [0, real_label) (0.1 = two-sided smoothing), got {self.fake_label!r}")
        if self.loss not in BCE_LOSSES and (self.real_label != 1 or self.fake_label != 0):
            bad(f"cfg.real_label and cfg.fake_label (label smoothing) are targets of the BCE losses "
                f"{BCE_LOSSES}, and loss {self.loss!r} has none: set them to 1.0 and 0.0, or use a BCE loss.")
        if not _real(self.gp_weight) or not 0 <= self.gp_weight < math.inf:
            bad(f"cfg.gp_weight must be a finite number >= 0 (10 in WGAN-GP), got {self.gp_weight!r}")
        if not _real(self.weight_clip) or not 0 < self.weight_clip < math.inf:
            bad(f"cfg.weight_clip must be a finite number > 0 (0.01 in WGAN), got {self.weight_clip!r}")
        if self.loss != "wgan" and self.weight_clip != WEIGHT_CLIP:
            bad(f"cfg.weight_clip clips D's weights only with loss 'wgan', not {self.loss!r}: set "
                f"loss='wgan', or leave weight_clip at its default {WEIGHT_CLIP}.")
        if not _real(self.r1_weight) or not 0 <= self.r1_weight < math.inf:
            bad(f"cfg.r1_weight must be a finite number >= 0 (0 = off, such as 10), got {self.r1_weight!r}")
        if self.r1_weight and self.loss in ("wgan", "wgan-gp"):
            bad(f"cfg.r1_weight (R1) is for the BCE, hinge and least-squares losses; a {self.loss} "
                "critic keeps its own Lipschitz constraint: set r1_weight=0, or use another loss.")
        try:
            parse_policy(self.augment)
        except ValueError as err:
            bad(f"cfg.augment: {err}")
        if self.amp not in AMP:
            bad(f"cfg.amp must be one of {AMP}, got {self.amp!r}")
        if self.ema is not None and (not _real(self.ema) or not 0 < self.ema < 1):
            bad(f"cfg.ema must be None or a decay in (0, 1) such as 0.999, got {self.ema!r}")
        if self.max_seconds is not None and (not _real(self.max_seconds)
                                             or not 0 < self.max_seconds < math.inf):
            bad(f"cfg.max_seconds must be None or a finite number of seconds > 0, got {self.max_seconds!r}")
        for name in ("channels_last", "cpu_fused_adam", "progress", "check_range"):
            if not isinstance(getattr(self, name), bool):
                bad(f"cfg.{name} must be True or False, got {getattr(self, name)!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _real(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)


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
