"""The judge: a small CNN digit classifier that the course uses to score generated digits.

A GAN's losses do not say whether its digits are any good. The judge does: it is a
classifier trained on real MNIST, and the metrics in :mod:`gan_course.metrics` read its
outputs (how confident it is, which classes it sees) and its penultimate features (the
Fréchet distance compares their statistics for generated and real digits, as FID does
with Inception features).

Architecture (input: images in [-1, 1], shape (B, 1, 28, 28))::

    conv 3x3, 1 -> 16, ReLU, max-pool 2      # (B, 1, 28, 28) -> (B, 16, 14, 14)
    conv 3x3, 16 -> 32, ReLU, max-pool 2     # (B, 16, 14, 14) -> (B, 32, 7, 7)
    flatten, linear 1568 -> 64, ReLU         # (B, 32, 7, 7) -> (B, 64)   <- features(x)
    linear 64 -> 10                          # (B, 64) -> (B, 10)          <- forward(x), logits

The shipped weights (``assets/judge.pt``) are always trained on the bundled 10,000-digit
subset's 8,000 training digits, with :data:`JUDGE_RECIPE`, so every machine has the same
judge and metric values compare across machines: 98.1% correct on the 2,000 held-out
digits. A classifier trained on digits alone calls pure noise a digit with 99.9%
confidence, which would make "the judge is confident" meaningless for a GAN's early
samples; so the recipe also shows it non-digits (noise, blobs, flat grey, pixel-shuffled
digits) with a uniform target, and the shipped judge's mean confidence on noise is 0.10. Retrain them with
``python -m gan_course train-judge``.

It can still be fooled by non-digits unlike those: the speckled blots of collapsed MLP runs
with equal learning rates (notebook 06, section 3; assets/PRETRAINED.md) were called 8s, or one
other digit, with more than 90% confidence. Read the confident
fraction together with the class histogram, the Fréchet distance and precision/recall.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from gan_course.files import atomic_torch_save

ASSET_PATH = Path(__file__).resolve().parent / "assets" / "judge.pt"
FEATURE_DIM = 64


class Judge(nn.Module):
    """Small CNN digit classifier; ``forward`` gives logits (B, 10), ``features`` (B, 64)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, kernel_size=3, padding=1)   # (B, 1, 28, 28) -> (B, 16, 28, 28)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=3, padding=1)  # (B, 16, 14, 14) -> (B, 32, 14, 14)
        self.fc = nn.Linear(32 * 7 * 7, FEATURE_DIM)               # (B, 1568) -> (B, 64)
        self.head = nn.Linear(FEATURE_DIM, 10)                     # (B, 64) -> (B, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features (B, 64), after the ReLU: what the Fréchet distance compares."""
        if x.dim() != 4 or x.shape[1:] != (1, 28, 28):
            raise ValueError(f"the judge expects images of shape (B, 1, 28, 28) in [-1, 1], "
                             f"got {tuple(x.shape)}; reshape with x.view(-1, 1, 28, 28)")
        h = F.max_pool2d(F.relu(self.conv1(x)), 2)   # (B, 16, 14, 14)
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)   # (B, 32, 7, 7)
        return F.relu(self.fc(h.flatten(1)))         # (B, 64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (B, 10); ``softmax`` of them is p(y | x)."""
        return self.head(self.features(x))


@dataclass(frozen=True)
class JudgeRecipe:
    """How the shipped judge is trained (notebook 02 retrains it with these same values)."""

    epochs: int = 12          # 12 passes over 8,000 digits; the shipped judge: 98.1% held out
    batch_size: int = 64      # small batches: more updates per epoch on a small data set
    lr: float = 2e-3          # Adam; halved every 3 epochs (StepLR) to settle at the end
    seed: int = 0             # fixes initialisation, shuffling order and shifts
    max_shift: int = 2        # random translations of up to 2 px: generated digits are
                              # rarely centred exactly as MNIST's are, so the judge must not care
    outlier_weight: float = 0.5  # weight of the "not a digit -> uniform prediction" loss: without
                                 # it the judge calls pure noise a digit with 99.9% confidence
    outlier_fraction: float = 0.25  # non-digit images added per batch, as a share of the batch


JUDGE_RECIPE = JudgeRecipe()


def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Translate each image by its own random (dy, dx) in [-max_shift, max_shift], filling with
    background (-1). Implemented as pad-then-crop with gathered indices (no interpolation)."""
    if max_shift <= 0:
        return x
    b, c, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4, value=-1.0)                          # (B, C, H+2s, W+2s)
    offsets = torch.randint(0, 2 * max_shift + 1, (2, b), generator=generator).to(x.device)
    rows = offsets[0][:, None] + torch.arange(h, device=x.device)             # (B, H)
    cols = offsets[1][:, None] + torch.arange(w, device=x.device)             # (B, W)
    batch = torch.arange(b, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()


def make_non_digits(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Images that are certainly not digits, one per image of ``x`` (B, 1, 28, 28), in [-1, 1].

    A quarter each of: uniform pixel noise; smooth random blobs (noise averaged over 5x5
    and sharpened); flat grey images; and the images of ``x`` with their pixels shuffled
    (the same amount of ink as a digit, no strokes). These are what early or broken
    generators draw, and the judge should not be sure what digit they are.
    """
    b = len(x)
    noise = torch.rand(b, 1, 28, 28, generator=generator) * 2 - 1
    blobs = F.avg_pool2d(torch.rand(b, 1, 28, 28, generator=generator) * 2 - 1, 5, 1, 2,
                         count_include_pad=False)
    blobs = torch.tanh(blobs / blobs.flatten(1).std(dim=1).clamp(min=1e-6)[:, None, None, None])
    flat = (torch.rand(b, 1, 1, 1, generator=generator) * 2 - 1).expand(b, 1, 28, 28)
    perm = torch.argsort(torch.rand(b, 28 * 28, generator=generator), dim=1)
    shuffled = x.detach().cpu().flatten(1).gather(1, perm).view(b, 1, 28, 28)
    kind = torch.randint(0, 4, (b, 1, 1, 1), generator=generator)
    out = torch.where(kind == 0, noise, torch.where(kind == 1, blobs,
                      torch.where(kind == 2, flat, shuffled)))
    return out.to(x.device)


@contextlib.contextmanager
def _deterministic():
    """Turn on torch's deterministic algorithms for the block, then restore the old setting."""
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


@torch.no_grad()
def accuracy(judge: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    """Fraction of ``x`` whose arg-max class equals ``y`` (judge in eval mode, restored after)."""
    from gan_course.models import eval_mode

    device = next(judge.parameters()).device
    correct = 0
    with eval_mode(judge):
        for i in range(0, len(x), batch_size):
            pred = judge(x[i:i + batch_size].to(device)).argmax(1).cpu()
            correct += (pred == y[i:i + batch_size].cpu()).sum().item()
    return correct / len(x)


def train_judge(x: torch.Tensor, y: torch.Tensor, *, epochs: int = JUDGE_RECIPE.epochs,
                seed: int = JUDGE_RECIPE.seed, batch_size: int = JUDGE_RECIPE.batch_size,
                lr: float = JUDGE_RECIPE.lr, max_shift: int = JUDGE_RECIPE.max_shift,
                outlier_weight: float = JUDGE_RECIPE.outlier_weight,
                outlier_fraction: float = JUDGE_RECIPE.outlier_fraction,
                device: str | torch.device | None = None, verbose: bool = False) -> Judge:
    """Train a :class:`Judge` on images ``x`` (N, 1, 28, 28) in [-1, 1] and labels ``y`` (N,).

    Minimises, with Adam, the cross-entropy on randomly shifted copies of the images plus
    an "outlier exposure" term (Hendrycks et al. 2019) on non-digits u_j
    (:func:`make_non_digits`) that pulls their prediction towards uniform:

        L = -(1/B) sum_i log p(y_i | x_i)  +  w * (1/M) sum_j (1/10) sum_c -log p(c | u_j)

    so the judge's confidence means something on generated images. Deterministic on CPU: the seed fixes the
    initial weights, the order of the batches and the shifts, and torch's deterministic
    algorithms are on. Returns the judge in eval mode.
    """
    from gan_course.runtime import pick_device

    if x.dim() != 4 or x.shape[1:] != (1, 28, 28) or len(x) != len(y):
        raise ValueError(f"expected x of shape (N, 1, 28, 28) and y of shape (N,), got "
                         f"{tuple(x.shape)} and {tuple(y.shape)}")
    if x.min() < -1.001 or x.max() > 1.001:
        raise ValueError(f"images must be scaled to [-1, 1] (got [{x.min():.2f}, {x.max():.2f}]); "
                         "use gan_course.data.load_mnist(), which scales them for you")
    dev = pick_device(device)
    gen = torch.Generator().manual_seed(seed)  # one CPU generator for order and shifts
    with _deterministic():
        torch.manual_seed(seed)
        judge = Judge().to(dev)
        opt = torch.optim.Adam(judge.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
        x, y = x.float(), y.long()
        for epoch in range(epochs):
            judge.train()
            order = torch.randperm(len(x), generator=gen)
            total = 0.0
            for i in range(0, len(x), batch_size):
                idx = order[i:i + batch_size]
                xb = random_shift(x[idx], max_shift, gen).to(dev)
                n_out = int(round(outlier_fraction * len(idx))) if outlier_weight > 0 else 0
                if n_out:
                    xb = torch.cat([xb, make_non_digits(xb[:n_out], gen)])
                logits = judge(xb)
                loss = F.cross_entropy(logits[:len(idx)], y[idx].to(dev))
                if n_out:  # cross-entropy against the uniform distribution over 10 classes
                    loss = loss - outlier_weight * F.log_softmax(logits[len(idx):], 1).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
            sched.step()
            if verbose:
                print(f"epoch {epoch + 1}/{epochs}: train loss {total / len(x):.4f}")
    return judge.eval()


def bundled_subset_split():
    """The bundled subset's (x_train, y_train, x_heldout, y_heldout) as tensors.

    Always the bundled 10,000 digits (never full MNIST), split by
    ``np.random.default_rng(0).permutation(10000)``: first 8,000 train, last 2,000 held out,
    so the judge and every metric that uses held-out digits are identical on every machine.
    """
    from gan_course.data import load_mnist

    mnist = load_mnist(source="subset")
    return mnist.x_train, mnist.y_train, mnist.x_test, mnist.y_test


def train_judge_command(args) -> int:
    """``python -m gan_course train-judge [--out PATH]``: retrain and write the judge's weights."""
    out = Path(args.out) if getattr(args, "out", None) else ASSET_PATH
    x_train, y_train, x_held, y_held = bundled_subset_split()
    print(f"training the judge on the bundled subset: {len(x_train)} digits, "
          f"{len(x_held)} held out; recipe {asdict(JUDGE_RECIPE)}")
    start = time.perf_counter()
    judge = train_judge(x_train, y_train, device="cpu", verbose=True)
    seconds = time.perf_counter() - start
    acc = accuracy(judge, x_held, y_held)
    print(f"held-out accuracy: {acc:.2%} ({len(x_held)} digits), trained in {seconds:.0f} s")
    meta = {
        "accuracy_heldout": acc,
        "n_train": len(x_train),
        "n_heldout": len(x_held),
        "torch_version": str(torch.__version__),  # a plain str: weights_only loads refuse TorchVersion
        "command": "python -m gan_course train-judge",
        **{f"recipe_{k}": v for k, v in asdict(JUDGE_RECIPE).items()},
    }
    save_judge(judge, out, meta)
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB)")
    return 0


def save_judge(judge: Judge, path: str | Path, meta: dict) -> None:
    """Write ``{"state_dict": ..., "meta": ...}`` atomically (:func:`gan_course.files.atomic_write`)."""
    state = {k: v.detach().cpu().clone() for k, v in judge.state_dict().items()}
    atomic_torch_save({"state_dict": state, "meta": dict(meta)}, path)


def load_judge(device: str | torch.device | None = None, path: str | Path | None = None) -> Judge:
    """The shipped judge (or the one at ``path``), in eval mode, on ``device`` (default: best).

    Its metadata (held-out accuracy, recipe, torch version) is in ``judge.meta``.
    """
    from gan_course.runtime import pick_device

    path = Path(path) if path is not None else ASSET_PATH
    fix = "retrain it with `python -m gan_course train-judge`"
    if not path.exists():
        raise FileNotFoundError(f"judge weights not found at {path}; {fix} "
                                "(or reinstall the package, which ships them)")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        judge = Judge()
        judge.load_state_dict(blob["state_dict"])
    except Exception as exc:  # a truncated file, another format, other layer shapes
        raise RuntimeError(f"could not read the judge weights at {path} ({type(exc).__name__}: "
                           f"{exc}); the file is damaged or from another version; {fix}") from exc
    judge.meta = dict(blob.get("meta", {}))
    return judge.to(pick_device(device)).eval()
