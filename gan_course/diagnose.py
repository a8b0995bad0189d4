"""Reading a GAN's curves: :func:`diagnose` names, in one plain sentence with the evidence,
what a training run is doing.

::

    history = train_gan(G, D, x, cfg)
    print(diagnose(history))   # e.g. "D is winning: D(x) 0.99 and D(G(z)) 0.01 over ..."

It reads what :func:`~gan_course.training.train_gan` records per generator step (the two
losses, the mean D(x) and D(G(z)), G's gradient norm, why training stopped) and, when it has
them, generated samples: by default the latest fixed-noise grid of the history and the one
about 100 steps before it (``samples=`` gives other samples, ``curves_only=True`` ignores
them). ``w`` below is the last fifth of the run (at least 50, at most 500 steps); "mean" is a
mean over ``w``. The thresholds were set from the runs of notebook 08's gallery
(:mod:`gan_course.failures`, seed 0) and from healthy runs of both recipes read every 100
steps: the MLP recipe with seeds 0-2 up to 12,000 steps, and without its moving average with
seeds 0-1 up to 2,000; the DCGAN recipe with seeds 1-2 up to 2,000 and seed 0 up to 6,000
(the ranges quoted are theirs). The rules, in the order they are tried:

1. **diverged**: training stopped on a NaN or infinite loss or weight (the engine stops and
   keeps the last good checkpoint), or a recorded loss is not finite.
2. **too early**: fewer than 50 steps: every run looks odd in its first steps.
3. **diverged**: the median over ``w`` of the larger of ``|loss_D|``, ``|loss_G|`` beyond 50
   (a median: a winning D's loss has single spikes past 50). A BCE loss is ``-log`` of a
   probability, never negative, and 50 means a logit past 50. Healthy runs: at most 3.3 at
   any step; D winning and collapsed runs: medians of at most 15; losses on raw logits ran to
   -2e4, learning rates of 1e-2 to medians of 350 to 700.
4. **labels swapped**: mean D(x) below 0.25 and mean D(G(z)) above it by more than 0.3: D
   calls the real images fake, which it only learns from swapped labels (the tutorial's
   labels: D(x) 0.00 with D(G(z)) 0.90 and 0.97). A D fooled for a moment can show D(x) 0.4,
   D(G(z)) 0.7, hence the bound on D(x).
5. **mode collapse** onto one image (needs samples): the samples' per-pixel standard
   deviation, averaged over the pixels, is below 0.02: every z gives the same image. Real
   digits 0.37; healthy runs never below 0.04; the collapsed runs 0.000 to 0.005.
6. **mode collapse**, hopping (needs two grids 50 to 200 steps apart, and 500 steps): that
   spread below 0.12 and the same noise's images changed by more than 0.3 per pixel (mean
   absolute difference) in about 100 steps: nearly one image at a time, and it jumps. Data
   sorted by class: spread 0.05-0.06, change 0.35-0.42; healthy runs after 500 steps: spread
   0.16 and up without a moving average of G, and with one (spread down to 0.08) changes of at
   most 0.11.
7. **not learning**: the median of ``|grad G|`` over ``w`` is below 1e-8: G gets no gradient
   (exactly 0 when G's optimiser is never stepped, or through a softmax over D's one output).
   Healthy runs: 0.25 to 3.5.
8. **saturating stall**: the saturating loss (mean ``loss_G`` below 0; the non-saturating
   one is never negative), mean D(G(z)) below 0.05, and the median ``|grad G|`` over ``w``
   below 5% of its largest 50-step median earlier in the run: D rejects every fake, and
   ``d log(1 - D(G(z))) / d logit = -D(G(z))`` vanishes with it (66 times below the peak
   after 300 steps, measured).
9. **D winning**: mean D(x) above 0.8, mean D(G(z)) below 0.2, their gap above 0.6. Healthy
   runs: gaps of at most 0.4 (the DCGAN's D gains slowly over 6,000 steps); D winning: 0.7 to
   0.8 (the MLP with equal learning rates), 1.0 (five D steps per G step). G's gradient is
   reported against its first 50 steps': with the non-saturating loss it does not vanish, it
   grows.
10. **not digits** (needs samples, and 1,000 steps, before which healthy runs have not yet
    learnt the white background): fewer than 10% of the samples' pixels at the background
    (below -0.9) and fewer than 30% below -0.5. Real digits: 82% and 84%; healthy runs after
    1,000 steps at least 1% and 58% (the moving average of G lags behind G: grey digits);
    uniform noise as data, digits in [0, 1], batch norm over 4 samples: at most 1% and 13%.
    The sentence says whether D can tell real from fake at all (both outputs within 0.02 of
    1/2: it cannot, and G has nothing to learn from) or G imitates data that are not digits.
11. **healthy** otherwise: neither player wins, G's gradient is alive, the samples vary.
    That says nothing about how *good* the samples are: measure them (notebook 07).

A WGAN-GP critic's scores are not probabilities (``d_real`` outside [0, 1]); then only
rules 1-3, 5-7 and 10 apply.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from gan_course.losses import BCE_LOSSES
from gan_course.recorder import sample_grids, series

LABELS = ("diverged", "too early", "labels swapped", "mode collapse", "not learning",
          "saturating stall", "D winning", "not digits", "healthy")

MIN_STEPS = 50                         # rule 2
LOSS_LIMIT = 50.0                      # rule 3
SWAP_REAL, SWAP_GAP = 0.25, 0.3        # rule 4
COLLAPSE_SPREAD = 0.02                 # rule 5
HOP_STEPS, HOP_SPREAD, HOP_CHANGE = 500, 0.12, 0.30  # rule 6
NO_GRADIENT = 1e-8                     # rule 7
STALL_D_FAKE, STALL_RATIO = 0.05, 0.05  # rule 8
WIN_REAL, WIN_FAKE, WIN_GAP = 0.8, 0.2, 0.6  # rule 9
SAMPLE_STEPS, FEW_BACKGROUND, FEW_DARK, BLIND = 1000, 0.10, 0.30, 0.02  # rule 10
BACKGROUND, DARK = -0.9, -0.5          # pixel values: background (white), darker than mid grey


@dataclass
class Diagnosis:
    """What :func:`diagnose` found: a ``label`` (one of :data:`LABELS`), the ``sentence``
    that says it with the evidence, and the numbers it read (``evidence``)."""

    label: str
    sentence: str
    evidence: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return self.sentence

    def _repr_pretty_(self, p, cycle) -> None:  # IPython shows the sentence
        p.text(self.sentence)


def grid_change(history) -> tuple[float, int] | None:
    """How much the fixed-noise samples changed over about 100 steps: the mean absolute pixel
    difference between the latest grid and the one closest to 100 steps before it (50 to
    200 steps apart; the same noise vectors), and the steps between them; None without two
    such grids."""
    grids = sample_grids(history)
    if len(grids) < 2:
        return None
    s1, x1 = grids[-1]
    s0, x0 = min(grids[:-1], key=lambda g: abs((s1 - g[0]) - 100))
    if not 50 <= s1 - s0 <= 200 or tuple(x0.shape) != tuple(x1.shape):
        return None
    return float((torch.as_tensor(x1).float() - torch.as_tensor(x0).float()).abs().mean()), int(s1 - s0)


def sample_stats(samples) -> dict:
    """The sample features the rules read, for images in [-1, 1] (background -1): ``spread``
    (the standard deviation of each pixel across the samples, averaged over the pixels),
    ``background`` (the share of pixels below -0.9) and ``dark`` (the share below -0.5)."""
    x = torch.as_tensor(samples).detach().float().cpu()
    flat = x.reshape(len(x), -1)
    return {"n_samples": len(x),
            "spread": float(flat.std(dim=0).mean()) if len(x) > 1 else float("nan"),
            "background": float((flat < BACKGROUND).float().mean()),
            "dark": float((flat < DARK).float().mean())}


def diagnose(history, samples=None, *, loss: str | None = None, curves_only: bool = False) -> Diagnosis:
    """Name what a run is doing, in one sentence with its evidence (see the module's rules).

    ``history``: a :class:`~gan_course.training.History` (or a dict of its lists);
    ``samples``: generated images (N, 1, 28, 28) in [-1, 1], default the history's latest
    fixed-noise grid; ``loss``: the run's ``cfg.loss``. The rules about D's probabilities
    (swapped labels, the stall, D winning) apply to the BCE losses only; without ``loss``
    they apply when every recorded D(x) lies in [0, 1], which a hinge or least-squares D's
    raw scores can do too: pass ``loss`` for those. ``curves_only``: ignore samples, read the
    curves alone.
    """
    loss_d, loss_g = series(history, "loss_d"), series(history, "loss_g")
    d_real, d_fake = series(history, "d_real"), series(history, "d_fake")
    gn_g = series(history, "grad_norm_g")
    stopped = (history.get("stopped_reason", "") if isinstance(history, dict)
               else getattr(history, "stopped_reason", "")) or ""
    n = len(loss_d)
    given = samples is not None
    if samples is None and not curves_only:
        grids = sample_grids(history)
        samples = grids[-1][1] if grids else None
    stats = sample_stats(samples) if samples is not None and not curves_only and len(samples) > 1 else None
    w = int(min(500, max(MIN_STEPS, n // 5)))
    ev: dict = {"steps": n, "window": min(w, n), "stopped_reason": stopped}
    change = grid_change(history) if stats is not None and not given else None
    if stats is not None:
        ev.update(stats)
        ev["change"] = change[0] if change else float("nan")

    def done(label: str, sentence: str) -> Diagnosis:
        return Diagnosis(label, sentence, ev)

    if stopped.startswith("non-finite"):  # rule 1, before "too early": a run can break at once
        return done("diverged", f"Diverged: training stopped on a {stopped}; lower the learning "
                    "rates or check the loss (the engine keeps its last good checkpoint, if it "
                    "wrote one).")
    finite = np.isfinite(loss_d) & np.isfinite(loss_g)
    if n and not finite.all():
        k = int(np.argmin(finite))
        return done("diverged", f"Diverged: the losses are NaN or infinite from step {k + 1:,}.")
    if n < MIN_STEPS:
        return done("too early", f"Too early to tell: {n} steps recorded, the rules need {MIN_STEPS}.")

    last = slice(n - w, n)
    m = {name: float(np.mean(s[last])) for name, s in
         (("loss_d", loss_d), ("loss_g", loss_g), ("d_real", d_real), ("d_fake", d_fake))}
    ev.update(m)
    # the typical size of the losses: a median, so that one spiky batch of a winning D is not
    # taken for a run that ran off
    peak = float(np.median(np.maximum(np.abs(loss_d[last]), np.abs(loss_g[last]))))
    g_now = float(np.median(gn_g[last])) if len(gn_g) >= n else float("nan")
    no_gradient = bool(np.isfinite(g_now) and g_now < NO_GRADIENT)
    probabilities = _is_prob(d_real[last]) if loss is None else loss in BCE_LOSSES
    ev.update(loss_peak=peak, grad_g=g_now)
    where = f"over the last {w:,} of {n:,} steps"
    frozen = f"; and G gets no gradient at all (|grad G| {g_now:.2g})" if no_gradient else ""

    if peak > LOSS_LIMIT:  # rule 3
        low = float(min(np.median(loss_d[last]), np.median(loss_g[last])))
        if low < -LOSS_LIMIT and probabilities:
            return done("diverged", f"Diverged: a loss ran off, to a median of {low:.3g} {where}; a BCE loss is never "
                        "negative, so this one is written on raw logits, which nothing bounds: write "
                        "both losses as the BCE of sigmoid(logit).")
        return done("diverged", f"Diverged: the losses ran off, to a median of {peak:.3g} {where} (a BCE loss of "
                    f"{LOSS_LIMIT:g} already means a logit past {LOSS_LIMIT:g}): lower the learning "
                    "rates.")
    if probabilities and m["d_real"] < SWAP_REAL and m["d_fake"] - m["d_real"] > SWAP_GAP:  # rule 4
        return done("labels swapped", f"Labels swapped: D calls the real images fake and the fakes "
                    f"real (D(x) {m['d_real']:.2f}, D(G(z)) {m['d_fake']:.2f} {where}){frozen}; in "
                    "D's loss real images are labelled 1 and fakes 0.")
    if stats is not None and stats["spread"] < COLLAPSE_SPREAD:  # rule 5
        rejected = f", D rejects it (D(G(z)) {m['d_fake']:.2f})" if probabilities else ""
        return done("mode collapse", f"Mode collapse: the {stats['n_samples']} samples are all one "
                    f"image (pixel spread {stats['spread']:.3f}; real digits 0.37){rejected}"
                    f"{frozen}: G has put all its mass on one output.")
    if (change is not None and n >= HOP_STEPS and stats["spread"] < HOP_SPREAD
            and change[0] > HOP_CHANGE):  # rule 6
        return done("mode collapse", f"Mode collapse: the samples are nearly one image at a time "
                    f"(pixel spread {stats['spread']:.2f}; real digits 0.37) and that image jumps (the "
                    f"same noise changed by {change[0]:.2f} per pixel in {change[1]} steps): G puts its "
                    "mass on what D accepts now and moves when D catches up.")

    if no_gradient:  # rule 7
        return done("not learning", f"Not learning: G receives no gradient (|grad G| = {g_now:.2g} "
                    f"{where}), so G never changes; is G's optimiser ever stepped, and does D's "
                    "output depend on its input?")

    if probabilities:
        rolling = _rolling_median(gn_g, MIN_STEPS)
        best = float(np.max(rolling)) if len(rolling) else float("nan")
        ratio = g_now / best if best > 0 else float("nan")
        ev["grad_g_peak"] = best
        if m["loss_g"] < 0 and m["d_fake"] < STALL_D_FAKE and ratio < STALL_RATIO:  # rule 8
            return done("saturating stall", f"Saturating stall: D rejects every fake (D(G(z)) "
                        f"{m['d_fake']:.3f}) and with the saturating loss G's gradient has vanished "
                        f"(|grad G| {g_now:.2g}, {1 / ratio:,.0f} times below its peak) {where}; "
                        "use the non-saturating loss -log D(G(z)).")
        gap = m["d_real"] - m["d_fake"]
        if m["d_real"] > WIN_REAL and m["d_fake"] < WIN_FAKE and gap > WIN_GAP:  # rule 9
            first = float(rolling[0]) if len(rolling) else float("nan")
            times = g_now / first if first > 0 else float("nan")
            trend = (f"grown to {times:.1f} times its first 50 steps'" if times > 1.5 else
                     f"fallen to {times:.2g} of its first 50 steps'" if times < 0.67 else
                     "kept the size of its first 50 steps'")
            return done("D winning", f"D is winning: D(x) {m['d_real']:.2f} and D(G(z)) "
                        f"{m['d_fake']:.2f} {where} (loss_D {m['loss_d']:.2f}); G's gradient has "
                        f"{trend} (|grad G| {g_now:.2g}), yet G is not catching up.")

    if (stats is not None and n >= SAMPLE_STEPS and stats["background"] < FEW_BACKGROUND
            and stats["dark"] < FEW_DARK):  # rule 10
        seen = (f"after {n:,} steps only {stats['background']:.0%} of the samples' pixels are white "
                "background (real digits 82%)")
        if probabilities and abs(m["d_real"] - 0.5) < BLIND and abs(m["d_fake"] - 0.5) < BLIND:
            return done("not digits", f"Not digits: D cannot tell real from fake at all (D(x) "
                        f"{m['d_real']:.3f}, D(G(z)) {m['d_fake']:.3f} {where}) and {seen}: G has "
                        "nothing to learn from. Are the real images digits in [-1, 1], and the "
                        "batches large enough for batch norm?")
        return done("not digits", f"Not digits: the game looks balanced (D(x) {m['d_real']:.2f}, "
                    f"D(G(z)) {m['d_fake']:.2f}) but {seen}: G imitates its training data; is it "
                    "really digits?")

    if not probabilities:
        return done("healthy", f"No failure found: D's losses are finite and G's gradient "
                    f"is alive (|grad G| {g_now:.2g} {where}); measure the samples to judge them.")
    spread = f", the samples vary (pixel spread {stats['spread']:.2f})" if stats is not None else ""
    return done("healthy", f"Healthy: neither player wins (D(x) {m['d_real']:.2f}, D(G(z)) "
                f"{m['d_fake']:.2f} {where}), G's gradient is alive (|grad G| {g_now:.2g}){spread}; "
                "measure the samples to know how good they are.")


def _is_prob(values: np.ndarray) -> bool:
    """Whether D's recorded outputs are probabilities (a WGAN critic's scores are not)."""
    return bool(np.all((values >= 0) & (values <= 1)))


def _rolling_median(values: np.ndarray, k: int) -> np.ndarray:
    """Medians of consecutive blocks of ``k`` values (a cheap, outlier-proof smoothing)."""
    v = np.asarray(values, dtype=float)
    if len(v) < k:
        return np.array([np.median(v)]) if len(v) else v
    blocks = len(v) // k
    return np.median(v[:blocks * k].reshape(blocks, k), axis=1)


__all__ = ["diagnose", "Diagnosis", "LABELS", "sample_stats"]
