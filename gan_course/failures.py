"""The gallery of notebook 08: GAN failures, each one built and trained from a seed.

Every public function here reproduces one failure and returns a :class:`GalleryRun`: the
trained ``G`` and ``D``, the :class:`~gan_course.training.History`, the config, the label
:func:`gan_course.diagnose.diagnose` should give it (``expected``) and, where the symptom is
about *which* digits G draws, the judge's class mix over training (:class:`ClassMix`).
Notebook 09 imports them to test each fix on the failure it claims to address::

    from gan_course import failures
    from gan_course.diagnose import diagnose

    run = failures.d_overpowers_g(seed=0)                   # the failure
    fixed = failures.d_overpowers_g(seed=0, real_label=0.9)  # the same run with a fix
    print(diagnose(run.history), diagnose(fixed.history), sep="\\n")

Keyword arguments beyond the named ones are :class:`~gan_course.training.TrainConfig`
fields (the fix) or ``hooks`` (e.g. a :class:`~gan_course.live.LiveDashboard`, called every
100 steps); ``g_kwargs`` / ``d_kwargs`` go to the model constructors (e.g.
``d_kwargs={"spectral_norm": True}``), ``x`` replaces the training digits (tests pass a
small subset) and ``steps`` the length. Under ``GAN_COURSE_QUICK=1`` every run shrinks to
``quick_steps`` like any other. :data:`GALLERY` lists them all with what each shows.

Most failures are settings of the course's own engine (:func:`~gan_course.training.train_gan`).
The mistakes that the engine refuses to make (a loss on raw logits, labels swapped inside
D's step, a missing ``detach()``, data read in class order) run in :func:`train_loop`, a
plain loop that takes the step as a function: the tutorial's step, translated to PyTorch.
The recipes below were chosen from the curves measured for notebook 08 (course MLP GAN and
DCGAN, bundled 8,000-digit training split, one CPU thread); the notebook shows each run.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from gan_course import runtime
from gan_course.losses import d_loss_bce, g_loss_nonsaturating
from gan_course.models import build_gan
from gan_course.recorder import METRICS
from gan_course.run_state import Batches
from gan_course.training import (History, TrainConfig, d_step, effective_steps, g_step, grad_norm,
                                 sample_images, train_gan)

# What every gallery run shares unless it says otherwise: the engine's defaults with the
# sample grids every 100 steps, no checkpoints (a run that needs one says so) and no
# progress line (the notebook prints one line per run instead).
BASE = dict(sample_every=100, checkpoint_every=10**9, progress=False, quick_steps=30)


@dataclass
class GalleryRun:
    """One reproduced failure (or healthy baseline): what trained, what it recorded, and the
    diagnosis it should get."""

    name: str
    history: History
    G: nn.Module
    D: nn.Module
    expected: str                       # the label diagnose() should give (diagnose.LABELS)
    cfg: TrainConfig
    class_mix: "ClassMix | None" = None  # the judge's classes of G's samples over training
    notes: dict = field(default_factory=dict)

    def samples(self, n: int = 64, seed: int = 0) -> torch.Tensor:
        """``n`` samples of G in eval mode (CPU), from a fixed seed."""
        from gan_course.metrics import sample_generator

        return sample_generator(self.G, n, seed)


# ----------------------------------------------------------------------------- measuring

def score(G: nn.Module, n: int = 2000, seed: int = 0) -> dict:
    """The scores of a generator: :func:`gan_course.metrics.evaluate_generator` (the judge's
    confident fraction and class mix, Fréchet distance and its floor, precision/recall).
    The gallery scores through this one function, so it can switch to notebook 07's
    scoreboard in one place."""
    from gan_course.metrics import evaluate_generator

    return evaluate_generator(G, n=n, seed=seed)


class ClassMix:
    """A :func:`~gan_course.training.train_gan` hook: at each call, the judge's classes of
    ``n`` samples of G drawn from the same fixed noise (eval mode, ``seed``).

    ``steps[i]``, ``counts[i]`` (10 counts), ``confident[i]`` (the judge's confident fraction)
    record call ``i``. :meth:`shares` is the class mix over time, :meth:`favourites` the most
    drawn class at each call. Mode collapse shows as one class taking most of the samples;
    D "chasing" G shows as that favourite changing from call to call.
    """

    def __init__(self, n: int = 256, seed: int = 1234):
        self.n, self.seed = n, seed
        self.steps: list[int] = []
        self.counts: list[list[int]] = []
        self.confident: list[float] = []
        self._z: torch.Tensor | None = None

    def __call__(self, step: int, history, G: nn.Module, D: nn.Module) -> None:
        from gan_course.metrics import judge_scores

        if self.steps and self.steps[-1] == step:  # train_gan's final call on a hook step
            return None
        if self._z is None:
            self._z = torch.randn(self.n, G.latent_dim, generator=torch.Generator().manual_seed(self.seed))
        s = judge_scores(sample_images(G, self._z).clamp(-1, 1))
        self.steps.append(int(step))
        self.counts.append(s["class_counts"])
        self.confident.append(s["confident_fraction"])
        return None

    def shares(self) -> np.ndarray:
        """(T, 10): the share of each class at each call."""
        c = np.asarray(self.counts, dtype=float).reshape(-1, 10)
        return c / np.maximum(c.sum(axis=1, keepdims=True), 1)

    def favourites(self) -> list[int]:
        return [int(np.argmax(c)) for c in self.counts]

    def top_share(self) -> np.ndarray:
        return self.shares().max(axis=1) if self.counts else np.zeros(0)

    def hops(self) -> int:
        """How often the favourite class changed between consecutive calls."""
        fav = self.favourites()
        return sum(a != b for a, b in zip(fav, fav[1:]))


# ------------------------------------------------------------------------------ building

def _data(x: torch.Tensor | None) -> torch.Tensor:
    if x is not None:
        return x
    from gan_course.data import load_mnist

    return load_mnist().x_train


def _labels(x: torch.Tensor | None, y: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    if x is not None:
        if y is None:
            raise ValueError("this failure needs the labels of x too: pass y= (one int per image)")
        return x, y
    from gan_course.data import load_mnist

    m = load_mnist()
    return m.x_train, m.y_train


def build(arch: str, seed: int, g_kwargs: dict | None = None, d_kwargs: dict | None = None):
    """``build_gan(arch)`` with weights drawn from ``seed`` (the caller's random stream is
    left where it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_gan(arch, g_kwargs=g_kwargs, d_kwargs=d_kwargs)


def config(recipe: dict, seed: int, steps: int | None, overrides: dict) -> TrainConfig:
    """``TrainConfig`` of the gallery's base, a failure's recipe, the seed, then the caller's
    overrides (a fix from notebook 09, or a shorter run)."""
    fields = {**BASE, **recipe, "seed": seed, **overrides}
    if steps is not None:
        fields["steps"] = steps
    return TrainConfig(**fields)


def _engine_run(name: str, expected: str, arch: str, recipe: dict, *, seed: int, steps, x, device,
                g_kwargs, d_kwargs, overrides, track_classes: bool = False, hook_every: int | None = None,
                models=None, out_dir=None, notes=None) -> GalleryRun:
    """Build the pair (or take ``models``), train it with the engine, return the run.
    ``overrides`` may hold ``hooks`` (e.g. a live dashboard), called with the class tracker."""
    hooks = list(overrides.pop("hooks", ()))
    G, D = models if models is not None else build(arch, seed, g_kwargs, d_kwargs)
    cfg = config(recipe, seed, steps, overrides)
    mix = ClassMix() if track_classes else None
    history = train_gan(G, D, _data(x), cfg, device=device, out_dir=out_dir,
                        hooks=([mix] if mix is not None else []) + hooks, hook_every=hook_every or 100)
    return GalleryRun(name, history, G.eval(), D.eval(), expected, cfg, mix, dict(notes or {}))


# -------------------------------------------------------------------- the plain loop

Step = Callable[..., dict]


def shuffled_batches(x: torch.Tensor, batch_size: int, generator: torch.Generator) -> Callable[[], torch.Tensor]:
    """Real batches as the engine draws them: slices of a fresh random permutation each epoch."""
    batches = Batches(len(x), batch_size, generator, x.device)
    return lambda: x[batches.next_indices()]


def class_sorted_batches(x: torch.Tensor, y: torch.Tensor, batch_size: int) -> Callable[[], torch.Tensor]:
    """Real batches read in order from data sorted by class (all 0s, then all 1s, ...),
    epoch after epoch: a loader without ``shuffle=True`` over a class-sorted file."""
    order = torch.argsort(y.cpu(), stable=True).to(x.device)
    xs = x[order]
    state = {"i": 0}

    def next_batch() -> torch.Tensor:
        i = state["i"]
        if i + batch_size > len(xs):
            i = 0
        state["i"] = i + batch_size
        return xs[i:i + batch_size]

    next_batch.labels = y.cpu()[order.cpu()]  # what each position holds, for plots
    next_batch.state = state
    return next_batch


def train_loop(G: nn.Module, D: nn.Module, next_batch: Callable[[], torch.Tensor], step: Step,
               cfg: TrainConfig, *, device=None, hooks=(), hook_every: int | None = None) -> History:
    """A plain training loop around a hand-written ``step``, for the mistakes the engine
    refuses to make::

        for t in 1..steps:
            x_real = next_batch();  z ~ N(0, I)
            stats = step(G, D, opt_g, opt_d, x_real, z, cfg)     # the step under test

    ``step`` returns a dict with the engine's statistics (``loss_d``, ``loss_g``, ``d_real``,
    ``d_fake``, ... as numbers or 0-d tensors; missing ones are recorded as NaN). Adam with
    ``cfg``'s rates and betas; noise and the fixed sample noise from ``cfg.seed``; a sample
    grid every ``cfg.sample_every`` steps; hooks ``hook(step, history, G, D)`` every
    ``hook_every``. Like the engine it stops on a NaN or infinite loss
    (``stopped_reason = "non-finite loss_d (...) at step k"``) and counts training time
    without the sampling and the hooks. Quick mode shortens it to ``cfg.quick_steps``.
    """
    device = runtime.pick_device(device)
    G.to(device).train()
    D.to(device).train()
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=tuple(cfg.betas))
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=tuple(cfg.betas))
    gen = torch.Generator().manual_seed(cfg.seed)
    fixed_z = torch.randn(64, G.latent_dim, generator=gen).to(device)
    history, total = History(), effective_steps(cfg)
    hook_every = hook_every or cfg.sample_every
    start, off_clock = time.perf_counter(), 0.0
    for t in range(1, total + 1):
        x_real = next_batch().to(device)
        z = torch.randn(len(x_real), G.latent_dim, generator=gen).to(device)
        stats = step(G, D, opt_g, opt_d, x_real, z, cfg)
        history.step.append(t)
        for name in METRICS:
            value = stats.get(name, float("nan"))
            getattr(history, name).append(float(value))
        history.images_seen += len(x_real)
        bad = next(((k, stats[k]) for k in ("loss_d", "loss_g") if not math.isfinite(float(stats[k]))), None)
        if bad is not None:
            history.stopped_reason = f"non-finite {bad[0]} ({float(bad[1])}) at step {t}"
            break
        if t % cfg.sample_every == 0 or t == total or (hooks and t % hook_every == 0):
            t_off = time.perf_counter()
            if t % cfg.sample_every == 0 or t == total:
                history.samples.append((t, sample_images(G, fixed_z)))
            stop = hooks and (t % hook_every == 0 or t == total) and any(
                [hook(t, history, G, D) is True for hook in hooks])
            off_clock += time.perf_counter() - t_off
            if stop:
                history.stopped_reason = "stopped by a hook"
                break
    history.seconds = time.perf_counter() - start - off_clock
    history.stopped_reason = history.stopped_reason or "finished"
    return history


def _p(logits: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(logits.detach()).mean()


def course_step(G, D, opt_g, opt_d, x_real, z, cfg) -> dict:
    """The package's own step (:func:`~gan_course.training.d_step`, then
    :func:`~gan_course.training.g_step`, on one generator pass): for loops that change
    something else than the step (the order of the data)."""
    x_fake = G(z)
    stats = d_step(G, D, opt_d, x_real, z, cfg, x_fake=x_fake)
    stats.update(g_step(G, D, opt_g, z, cfg, x_fake=x_fake))
    return stats


def tutorial_keras_step(G, D, opt_g, opt_d, x_real, z, cfg) -> dict:
    """The first source article's step, translated to PyTorch (its Keras code is in
    ``shared/seeds``)::

        x = concatenate([generated_images, real_images])
        y = zeros(2B); y[:B] = 0.9                  # fakes labelled 0.9, real images 0
        discriminator.train_on_batch(x, y)           # D's step, labels swapped
        discriminator.train_on_batch(noise, ones)    # "train the generator": D's step again

    ``train_on_batch`` steps the model it is called on, so the "generator step" steps D
    (towards calling the fakes real) and G is never updated. (On the noise itself it would
    not even run: D expects images; here D's step gets G's images.)
    """
    B = len(x_real)
    with torch.no_grad():
        x_fake = G(z)
    logits = D(torch.cat([x_fake, x_real]))
    targets = torch.cat([torch.full((B,), 0.9), torch.zeros(B)]).to(logits)
    loss_d = F.binary_cross_entropy_with_logits(logits, targets)
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    norm_d = grad_norm(D)
    opt_d.step()
    logits_g = D(x_fake)                     # the "generator's" step: D's optimiser again
    loss_g = F.binary_cross_entropy_with_logits(logits_g, torch.ones_like(logits_g))
    opt_d.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_d.step()
    return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(), "d_real": _p(logits[B:]),
            "d_fake": _p(logits[:B]), "d_fake_after": _p(logits_g), "grad_norm_d": norm_d,
            "grad_norm_g": grad_norm(G)}  # 0: no gradient ever reaches G


def labels_swapped_step(G, D, opt_g, opt_d, x_real, z, cfg) -> dict:
    """The source's labels (real 0, fakes 0.9) in D's loss, with a correct generator step
    (the course's :func:`~gan_course.training.g_step`): D learns the game backwards."""
    x_fake = G(z)
    logits_real, logits_fake = D(x_real), D(x_fake.detach())
    loss_d = (F.binary_cross_entropy_with_logits(logits_real, torch.zeros_like(logits_real))
              + F.binary_cross_entropy_with_logits(logits_fake, torch.full_like(logits_fake, 0.9)))
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    norm_d = grad_norm(D)
    opt_d.step()
    stats = {"loss_d": loss_d.detach(), "d_real": _p(logits_real), "d_fake": _p(logits_fake),
             "grad_norm_d": norm_d}
    stats.update(g_step(G, D, opt_g, z, cfg, x_fake=x_fake))
    return stats


def raw_logit_step(G, D, opt_g, opt_d, x_real, z, cfg) -> dict:
    """The second source article's losses, written on raw logits (its TensorFlow code)::

        gen_loss  = -reduce_mean(D(G(z)))                 # G raises the fakes' logits
        disc_loss = reduce_mean(D(x) + D(G(z)))           # D lowers BOTH logits

    D pushes the real images' logit *down* (the wrong sign) as well as the fakes'; and no
    sigmoid bounds either loss, so nothing stops the logits from running off.
    """
    x_fake = G(z)
    logits_real, logits_fake = D(x_real), D(x_fake.detach())
    loss_d = (logits_real + logits_fake).mean()
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    norm_d = grad_norm(D)
    opt_d.step()
    D.requires_grad_(False)
    logits_after = D(x_fake)
    loss_g = -logits_after.mean()
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    D.requires_grad_(True)
    norm_g = grad_norm(G)
    opt_g.step()
    return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(), "d_real": _p(logits_real),
            "d_fake": _p(logits_fake), "d_fake_after": _p(logits_after), "grad_norm_d": norm_d,
            "grad_norm_g": norm_g}


def no_detach_step(G, D, opt_g, opt_d, x_real, z, cfg) -> dict:
    """A loop that forgot ``detach()`` in D's step and zeroes both gradients once, at the top::

        opt_d.zero_grad(); opt_g.zero_grad()
        x_fake = G(z)
        loss_d = BCE(D(x_real), 1) + BCE(D(x_fake), 0)   # no detach: G gets gradients too
        loss_d.backward(retain_graph=True)               # the usual "fix" for the crash
        opt_d.step()
        loss_g = BCE(D(x_fake), 1); loss_g.backward(); opt_g.step()

    Without ``retain_graph`` the second ``backward`` fails ("Trying to backward through the
    graph a second time"). With it, G's ``.grad`` holds its own gradient *plus* D's: the fake
    term of loss_D is minus G's saturating loss, so G is also pushed to make its fakes easier
    to reject. Per fake logit l: d/dl [-log s(l)] + d/dl [-log(1 - s(l))] = 2 s(l) - 1.
    """
    opt_d.zero_grad(set_to_none=True)
    opt_g.zero_grad(set_to_none=True)
    x_fake = G(z)
    logits_real, logits_fake = D(x_real), D(x_fake)
    loss_d = d_loss_bce(logits_real, logits_fake)
    loss_d.backward(retain_graph=True)
    norm_d = grad_norm(D)
    opt_d.step()
    logits_after = D(x_fake)
    loss_g = g_loss_nonsaturating(logits_after)
    loss_g.backward()
    norm_g = grad_norm(G)
    opt_g.step()
    return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(), "d_real": _p(logits_real),
            "d_fake": _p(logits_fake), "d_fake_after": _p(logits_after), "grad_norm_d": norm_d,
            "grad_norm_g": norm_g}


def _loop_run(name: str, expected: str, arch: str, recipe: dict, step: Step, *, seed, steps, x, device,
              g_kwargs, d_kwargs, overrides, batches=None, track_classes=False, hook_every=None,
              notes=None) -> GalleryRun:
    hooks = list(overrides.pop("hooks", ()))
    G, D = build(arch, seed, g_kwargs, d_kwargs)
    cfg = config(recipe, seed, steps, overrides)
    x = _data(x)
    if batches is None:
        batches = shuffled_batches(x, cfg.batch_size, torch.Generator().manual_seed(cfg.seed + 1))
    mix = ClassMix() if track_classes else None
    history = train_loop(G, D, batches, step, cfg, device=device,
                         hooks=([mix] if mix is not None else []) + hooks, hook_every=hook_every or 100)
    return GalleryRun(name, history, G.eval(), D.eval(), expected, cfg, mix, dict(notes or {}))


# ============================================================================== the gallery
# Each function: seed, steps (None: the recipe's), x (training images; default the bundled
# training digits), device, g_kwargs / d_kwargs (model constructor arguments), and any
# TrainConfig field as a keyword (a fix to try). The recipe's comment says what was measured.

# The course's two healthy baselines: the package recipes (gan_course.recipes), shortened.
def healthy_mlp(seed: int = 0, *, steps: int | None = 1200, x=None, device=None, g_kwargs=None,
                d_kwargs=None, **overrides) -> GalleryRun:
    """The MLP recipe (G learns 5x faster than D, EMA of G) for ``steps`` steps."""
    from gan_course.recipes import RECIPES

    return _engine_run("healthy MLP", "healthy", "mlp", RECIPES["mlp"], seed=seed, steps=steps, x=x,
                       device=device, g_kwargs=g_kwargs, d_kwargs=d_kwargs, overrides=overrides)


def healthy_dcgan(seed: int = 0, *, steps: int | None = 400, x=None, device=None, g_kwargs=None,
                  d_kwargs=None, **overrides) -> GalleryRun:
    """The DCGAN recipe (dense hidden layers, lr_g 1e-3, lr_d 2e-4; no EMA) for ``steps`` steps."""
    from gan_course.recipes import RECIPES

    return _engine_run("healthy DCGAN", "healthy", "dcgan", _no_ema(RECIPES["dcgan"]), seed=seed,
                       steps=steps, x=x, device=device, g_kwargs=g_kwargs, d_kwargs=d_kwargs,
                       overrides=overrides)


def _no_ema(recipe: dict) -> dict:
    """A recipe without its EMA of G: the gallery's DCGAN runs last a few hundred steps, where
    an average over the last ~1,000 steps still holds the initial weights (notebook 09,
    section 4), so their samples come from G itself. Training is the same either way."""
    return {**recipe, "ema": None}


MLP_RATES = dict(lr_g=1e-3, lr_d=2e-4)  # the MLP recipe's rates, without its EMA


# ---------------------------------------------------------------- the tutorials' mistakes

def tutorial_generator(latent_dim: int = 100) -> nn.Module:
    """The first source article's "generator" (Keras), in PyTorch: a dense layer to an 8x8
    map, then stride-2 convolutions, which *halve* the map: 8 -> 4 -> 2. It cannot make a
    28x28 image; a generator upsamples (transposed convolutions, as the course's DCGAN)."""
    G = nn.Sequential(
        nn.Linear(latent_dim, 128 * 8 * 8),                                  # (B, 100) -> (B, 8192)
        nn.Unflatten(1, (128, 8, 8)),                                        # -> (B, 128, 8, 8)
        nn.Conv2d(128, 128, 4, stride=2, padding=1), nn.LeakyReLU(0.2),      # -> (B, 128, 4, 4)
        nn.Conv2d(128, 64, 4, stride=2, padding=1), nn.LeakyReLU(0.2),       # -> (B, 64, 2, 2)
        nn.Conv2d(64, 1, 7, padding=3), nn.Tanh(),                           # -> (B, 1, 2, 2)
    )
    G.latent_dim = latent_dim
    return G


def three_channel_generator(latent_dim: int = 100) -> nn.Module:
    """The third source article's generator (Keras ``Conv2DTranspose``, ``padding='same'``),
    in PyTorch: it ends with 3 channels (an RGB image) while its discriminator, and MNIST,
    have 1."""
    same2 = dict(stride=2, padding=2, output_padding=1)  # 'same' padding, stride 2: H -> 2H
    G = nn.Sequential(
        nn.Linear(latent_dim, 7 * 7 * 256, bias=False), nn.LeakyReLU(0.2),    # (B, 100) -> (B, 12544)
        nn.BatchNorm1d(7 * 7 * 256), nn.Unflatten(1, (256, 7, 7)),          # -> (B, 256, 7, 7)
        nn.ConvTranspose2d(256, 128, 5, padding=2, bias=False),              # -> (B, 128, 7, 7)
        nn.BatchNorm2d(128),
        nn.ConvTranspose2d(128, 128, 5, bias=False, **same2),                # -> (B, 128, 14, 14)
        nn.BatchNorm2d(128),
        nn.ConvTranspose2d(128, 3, 5, bias=False, **same2), nn.Tanh(),       # -> (B, 3, 28, 28)
    )
    G.latent_dim = latent_dim
    return G


class SoftmaxD(nn.Module):
    """A discriminator that ends in a softmax, as the second source article describes: over
    its ONE output the softmax is ``exp(l) / exp(l) = 1`` for every input, and its
    derivative ``s (1 - s)`` is exactly 0, so neither D nor G ever gets a gradient."""

    def __init__(self, D: nn.Module):
        super().__init__()
        self.D = D

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.D(x).unsqueeze(1)              # (B,) -> (B, 1)
        return torch.softmax(logits, dim=1).view(-1)  # (B, 1) -> (B,): all exactly 1.0


def tutorial_keras(seed: int = 0, *, steps: int | None = 400, x=None, device=None, g_kwargs=None,
                   d_kwargs=None, **overrides) -> GalleryRun:
    """The first source article's loop (:func:`tutorial_keras_step`): labels swapped, and
    "G's step" is D's step, so G is never trained. Measured: |grad G| exactly 0 throughout,
    G's samples never change."""
    return _loop_run("tutorial: G trained through D's step", "labels swapped", "mlp", MLP_RATES,
                     tutorial_keras_step, seed=seed, steps=steps, x=x, device=device,
                     g_kwargs=g_kwargs, d_kwargs=d_kwargs, overrides=overrides)


def labels_swapped(seed: int = 0, *, steps: int | None = 400, x=None, device=None, g_kwargs=None,
                   d_kwargs=None, **overrides) -> GalleryRun:
    """The source's labels alone (real 0, fakes 0.9, :func:`labels_swapped_step`) with a
    correct G step: D learns to call real images fake. Measured: D(x) 0.00 and D(G(z)) 0.90
    within 100 steps, and G settled on one pattern of saturated pixels."""
    return _loop_run("tutorial: labels swapped", "labels swapped", "mlp", MLP_RATES, labels_swapped_step,
                     seed=seed, steps=steps, x=x, device=device, g_kwargs=g_kwargs,
                     d_kwargs=d_kwargs, overrides=overrides)


def raw_logit_losses(seed: int = 0, *, steps: int | None = 300, x=None, device=None, g_kwargs=None,
                     d_kwargs=None, **overrides) -> GalleryRun:
    """The second source article's losses on raw logits (:func:`raw_logit_step`): the logits
    run off without bound. Measured: loss_D at -3e4 after 300 steps, D(x) 0.00."""
    return _loop_run("tutorial: losses on raw logits", "diverged", "mlp", MLP_RATES, raw_logit_step,
                     seed=seed, steps=steps, x=x, device=device, g_kwargs=g_kwargs,
                     d_kwargs=d_kwargs, overrides=overrides)


def zero_one_data(seed: int = 0, *, steps: int | None = 1000, x=None, device=None, g_kwargs=None,
                  d_kwargs=None, **overrides) -> GalleryRun:
    """Real digits scaled to [0, 1] (``x / 255``) against G's tanh, on the MLP recipe's rates
    (the engine refuses this unless ``check_range=False``). Measured: D(x) and D(G(z)) at
    1/2 for all 1,000 steps, and samples of grey fog, no pixel at the -1 background."""
    x01 = (_data(x) + 1) / 2
    return _engine_run("tutorial: real data in [0, 1]", "not digits", "mlp",
                       {**MLP_RATES, "check_range": False}, seed=seed, steps=steps, x=x01,
                       device=device, g_kwargs=g_kwargs, d_kwargs=d_kwargs, overrides=overrides)


def softmax_discriminator(seed: int = 0, *, steps: int | None = 100, x=None, device=None,
                          g_kwargs=None, d_kwargs=None, **overrides) -> GalleryRun:
    """The course's MLP D with a softmax over its one output (:class:`SoftmaxD`)."""
    G, D = build("mlp", seed, g_kwargs, d_kwargs)
    return _engine_run("tutorial: a softmax D", "not learning", "mlp", MLP_RATES, seed=seed, steps=steps,
                       x=x, device=device, g_kwargs=None, d_kwargs=None, overrides=overrides,
                       models=(G, SoftmaxD(D)))


def uniform_noise_data(seed: int = 0, *, steps: int | None = 1000, x=None, device=None, g_kwargs=None,
                       d_kwargs=None, **overrides) -> GalleryRun:
    """"Real data" drawn from uniform noise (the fourth source article's ``np.random.rand``),
    as many images as the training digits, on the MLP recipe's rates. Measured: curves as
    balanced as a healthy run's (D(x) 0.52, D(G(z)) 0.50), samples of noise."""
    n = len(_data(x))
    noise = torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    return _engine_run("tutorial: uniform noise as real data", "not digits", "mlp", MLP_RATES,
                       seed=seed, steps=steps, x=noise, device=device, g_kwargs=g_kwargs,
                       d_kwargs=d_kwargs, overrides=overrides)


# --------------------------------------------------------------------- the classic failures

MODE_COLLAPSE = dict(lr_g=3e-3, lr_d=2e-4)
COLLAPSE_FROM_SCRATCH = dict(lr_g=5e-3, lr_d=2e-4)


def mode_collapse(seed: int = 0, *, steps: int | None = 500, x=None, device=None, g_kwargs=None,
                  d_kwargs=None, track_every: int = 25, **overrides) -> GalleryRun:
    """The course's shipped MLP generator, which draws all ten digits, trained on against a
    fresh D (its weights from ``seed``) with G's learning rate 15 times D's (3e-3 against
    2e-4; the MLP recipe has 5 times). G moves its mass onto the digits D accepts at the
    moment, one class after another: measured with seeds 0 and 1, the judge's favourite class
    of 256 fixed-noise samples went from shares of 14% (all ten digits) to 100% of one class
    within 300 to 350 steps, then changed class (seed 0: 8, 5, 3; seed 1: 8, 3, 5, 3, 8, 3).
    The class mix is recorded every ``track_every`` steps (:class:`ClassMix`). G's
    architecture is the shipped one's, so ``g_kwargs`` must stay None."""
    from gan_course.models import load_pretrained

    if g_kwargs:
        raise ValueError("mode_collapse starts from the shipped MLP generator, whose architecture is "
                         "fixed: leave g_kwargs out (d_kwargs changes D).")
    G = load_pretrained("mlp").train()
    _, D = build("mlp", seed, None, d_kwargs)
    return _engine_run("mode collapse", "mode collapse", "mlp", MODE_COLLAPSE, seed=seed, steps=steps,
                       x=x, device=device, g_kwargs=None, d_kwargs=None, overrides=overrides,
                       track_classes=True, hook_every=track_every, models=(G, D))


def mode_collapse_from_scratch(seed: int = 0, *, steps: int | None = 800, x=None, device=None,
                               g_kwargs=None, d_kwargs=None, track_every: int = 25,
                               **overrides) -> GalleryRun:
    """A fresh MLP pair with G's learning rate 25 times D's (5e-3 against 2e-4): G collapses
    before it ever draws a digit. Measured with seeds 0 and 1: every z gave the same image
    (pixel spread below 0.01) within 200 to 400 steps (the step depends on the CPU's
    arithmetic: seed 0 on 2,048 digits took 400 on one machine, 300 on another), D rejected
    it (D(G(z)) 0.00) and G moved it, until G's tanh saturated and its gradient reached 0."""
    return _engine_run("mode collapse from scratch", "mode collapse", "mlp", COLLAPSE_FROM_SCRATCH,
                       seed=seed, steps=steps, x=x, device=device, g_kwargs=g_kwargs,
                       d_kwargs=d_kwargs, overrides=overrides, track_classes=True,
                       hook_every=track_every)


D_OVERPOWERS = dict(lr_g=2e-4, lr_d=2e-4, n_critic=5)


def d_overpowers_g(seed: int = 0, *, steps: int | None = 300, x=None, device=None, g_kwargs=None,
                   d_kwargs=None, **overrides) -> GalleryRun:
    """The MLP GAN with five D steps per G step (``n_critic=5``, WGAN's ratio, with the BCE
    loss) and equal learning rates: D(x) -> 1 and D(G(z)) -> 0 within 100 steps."""
    return _engine_run("D overpowers G", "D winning", "mlp", D_OVERPOWERS, seed=seed, steps=steps, x=x,
                       device=device, g_kwargs=g_kwargs, d_kwargs=d_kwargs, overrides=overrides)


def saturating_stall(seed: int = 0, *, steps: int | None = 300, x=None, device=None, g_kwargs=None,
                     d_kwargs=None, **overrides) -> GalleryRun:
    """:func:`d_overpowers_g` with the saturating loss ``log(1 - D(G(z)))``: once D rejects
    the fakes, G's gradient vanishes and G stops moving (measured: |grad G| 66 times below
    its peak after 300 steps, where the non-saturating run's grew)."""
    return _engine_run("saturating stall", "saturating stall", "mlp",
                       {**D_OVERPOWERS, "loss": "saturating"}, seed=seed, steps=steps, x=x,
                       device=device, g_kwargs=g_kwargs, d_kwargs=d_kwargs, overrides=overrides)


def missing_detach(seed: int = 0, *, steps: int | None = 600, x=None, device=None, g_kwargs=None,
                   d_kwargs=None, **overrides) -> GalleryRun:
    """The MLP GAN (recipe rates) trained with :func:`no_detach_step`: D's loss reaches G.
    Measured: its curves and samples look healthy (diagnose says so); the mistake shows only
    in G's gradient, per fake logit 2 D(G(z)) - 1 instead of D(G(z)) - 1."""
    return _loop_run("missing detach()", "healthy", "mlp", MLP_RATES, no_detach_step, seed=seed,
                     steps=steps, x=x, device=device, g_kwargs=g_kwargs, d_kwargs=d_kwargs,
                     overrides=overrides)


def class_sorted_data(seed: int = 0, *, steps: int | None = 600, x=None, y=None, device=None,
                      g_kwargs=None, d_kwargs=None, track_every: int = 10, **overrides) -> GalleryRun:
    """The MLP GAN (recipe rates) fed batches in class order (:func:`class_sorted_batches`):
    D only ever sees one digit at a time, and G follows it. ``y``: the labels of ``x``.
    Measured: G drew nearly one image at a time (pixel spread 0.06, real digits 0.37) that
    changed wholesale every few batches."""
    x, y = _labels(x, y)
    cfg = config(MLP_RATES, seed, steps, {k: v for k, v in overrides.items() if k != "hooks"})
    batches = class_sorted_batches(x, y, cfg.batch_size)
    run = _loop_run("class-sorted data", "mode collapse", "mlp", MLP_RATES, course_step, seed=seed,
                    steps=steps, x=x, device=device, g_kwargs=g_kwargs, d_kwargs=d_kwargs,
                    overrides=overrides, batches=batches, track_classes=True, hook_every=track_every)
    per_batch = batches.labels[: (len(batches.labels) // cfg.batch_size) * cfg.batch_size]
    run.notes["batch_class"] = per_batch.view(-1, cfg.batch_size).mode(dim=1).values  # class of batch k
    return run


def small_batch_norm(seed: int = 0, *, steps: int | None = 1000, x=None, device=None, g_kwargs=None,
                     d_kwargs=None, batch_size: int = 4, **overrides) -> GalleryRun:
    """The DCGAN recipe with batches of ``batch_size`` = 4: batch norm's statistics over
    four samples. D normalises the real and the fake batch each by its own statistics.
    Measured: D(x) and D(G(z)) at 0.500 for 1,000 steps, samples a grey texture."""
    from gan_course.recipes import RECIPES

    return _engine_run("batch too small for batch norm", "not digits", "dcgan",
                       {**_no_ema(RECIPES["dcgan"]), "batch_size": batch_size}, seed=seed, steps=steps, x=x,
                       device=device, g_kwargs=g_kwargs, d_kwargs=d_kwargs, overrides=overrides)


LR_TOO_HIGH = dict(lr_g=1e-2, lr_d=1e-2)


def lr_too_high(seed: int = 0, *, steps: int | None = 600, x=None, device=None, g_kwargs=None,
                d_kwargs=None, lr: float = 1e-2, out_dir=None, checkpoint_every: int = 100,
                **overrides) -> GalleryRun:
    """The MLP GAN with both learning rates ``lr`` (1e-2: 10 to 50 times the recipe's).
    With ``out_dir`` a checkpoint is written every ``checkpoint_every`` steps, to show what
    the engine keeps when the run breaks. Measured with 1e-2: D's outputs swung between 0
    and 1, then after about 400 steps the losses ran to thousands. With ``lr=100`` the losses
    reached 1.5e14 in 100 steps and stayed finite: BCE on logits never takes log 0 and Adam
    moves each weight by about ``lr`` per step."""
    recipe = {"lr_g": lr, "lr_d": lr, "checkpoint_every": checkpoint_every}
    return _engine_run("learning rate too high", "diverged", "mlp", recipe, seed=seed, steps=steps, x=x,
                       device=device, g_kwargs=g_kwargs, d_kwargs=d_kwargs, overrides=overrides,
                       out_dir=out_dir)


class BreakD:
    """A hook that writes NaN into one of D's weights at step ``at_step``, as an overflow
    would: a fault put in on purpose, to show what the engine does with a NaN."""

    def __init__(self, at_step: int):
        self.at_step = at_step

    def __call__(self, step: int, history, G: nn.Module, D: nn.Module) -> None:
        if step == self.at_step:
            with torch.no_grad():
                next(D.parameters()).view(-1)[0] = float("nan")
        return None


def nan_mid_run(seed: int = 0, *, steps: int | None = 400, at_step: int = 250, x=None, device=None,
                g_kwargs=None, d_kwargs=None, out_dir=None, checkpoint_every: int = 100,
                **overrides) -> GalleryRun:
    """The MLP recipe's rates with a NaN put into D at step ``at_step`` (:class:`BreakD`) and
    a checkpoint every ``checkpoint_every`` steps in ``out_dir``: the engine stops at its next
    check (every 20 steps), says why, and keeps the last good checkpoint."""
    hooks = [BreakD(at_step)] + list(overrides.pop("hooks", ()))
    recipe = {**MLP_RATES, "checkpoint_every": checkpoint_every}
    return _engine_run("a NaN mid-run", "diverged", "mlp", recipe, seed=seed, steps=steps, x=x,
                       device=device, g_kwargs=g_kwargs, d_kwargs=d_kwargs,
                       overrides={**overrides, "hooks": hooks}, out_dir=out_dir, hook_every=10)


def stale_batch_norm_copy(G: nn.Module) -> nn.Module:
    """A copy of ``G`` whose batch-norm running statistics were never measured (mean 0,
    variance 1), as a copy that took only G's weights has: a moving average of the weights
    (:func:`~gan_course.training.ema_update` copies no statistics), or weights loaded into
    a fresh model. Sampled in eval mode it uses those wrong statistics;
    :func:`~gan_course.training.refresh_batch_norm` measures the right ones."""
    G2 = copy.deepcopy(G)
    for m in G2.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
    return G2.eval()


# name -> (function, section of notebook 08, what it shows)
GALLERY: dict[str, tuple[Callable[..., GalleryRun], str, str]] = {
    "healthy MLP": (healthy_mlp, "baseline", "the MLP recipe: what healthy curves look like"),
    "healthy DCGAN": (healthy_dcgan, "baseline", "the DCGAN recipe"),
    "tutorial: G trained through D's step": (tutorial_keras, "tutorials",
                                             "labels swapped and G never updated: |grad G| = 0"),
    "tutorial: labels swapped": (labels_swapped, "tutorials", "D(x) -> 0, D(G(z)) high"),
    "tutorial: real data in [0, 1]": (zero_one_data, "tutorials", "G learns the [0, 1] range"),
    "tutorial: losses on raw logits": (raw_logit_losses, "tutorials", "the losses run off"),
    "tutorial: a softmax D": (softmax_discriminator, "tutorials", "D's output is 1 for every image"),
    "tutorial: uniform noise as real data": (uniform_noise_data, "tutorials",
                                             "balanced curves, samples of noise"),
    "mode collapse": (mode_collapse, "classic", "a G of ten digits ends on one class, then another"),
    "mode collapse from scratch": (mode_collapse_from_scratch, "classic",
                                   "one image for every z, moved as D rejects it"),
    "D overpowers G": (d_overpowers_g, "classic", "D(x) -> 1, D(G(z)) -> 0"),
    "saturating stall": (saturating_stall, "classic", "G's gradient vanishes with D(G(z))"),
    "missing detach()": (missing_detach, "classic", "D's gradient leaks into G's step"),
    "class-sorted data": (class_sorted_data, "classic", "G follows the class D sees"),
    "batch too small for batch norm": (small_batch_norm, "classic", "D blind at exactly 1/2"),
    "learning rate too high": (lr_too_high, "classic", "the losses run off"),
    "a NaN mid-run": (nan_mid_run, "classic", "the engine stops and keeps the last good checkpoint"),
}
