"""Error bars by the bootstrap: resample the samples, recompute the metric, read the spread.

A metric computed from n samples is itself a random number: another n samples of the same
generator give another value. The bootstrap (Efron 1979) estimates that spread from the one
set at hand: draw n of the n samples *with replacement* (some twice or more, some not at
all; on average 1 - (1 - 1/n)^n, about 63%, appear), recompute the metric on the draw,
repeat B times, and read the spread of the B values m(x*_1), ..., m(x*_B). The interval here
is centred on the value m(x) on all samples (the *normal* bootstrap interval):

    m(x) +- z sd*,   sd* = standard deviation of the m(x*_b),   z = 1.96 for 95%,

clipped to the metric's range. The *percentile* interval, the middle 95% of the m(x*_b)
(:func:`percentile_interval`), assumes they scatter around m(x) as fresh samples would; two
kinds of metric break that. The Fréchet distance is biased upwards by how few samples it
has, and a resample holds only 63% distinct samples, so resampled FDs come out larger;
recall and coverage count the real digits that *some* sample reaches, and with a third of
the samples missing they come out lower (notebook 07 measures both against fresh samples).

Drawing with replacement gives sample i a count c_i, (c_1, ..., c_n) ~ Multinomial(n; 1/n,
..., 1/n): :func:`resample_counts` gives those counts for metrics that are weighted sums
(and for :class:`gan_course.metrics.NeighbourBalls`, where a sample's own copies must not
count as its neighbours). The interval describes the uncertainty that comes from *which*
samples were drawn; it says nothing about training another run with another seed, which
usually moves a generator's numbers much more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

LEVEL = 0.95   # the intervals' coverage
N_BOOT = 200   # resamples: enough for stable 2.5% and 97.5% quantiles (each from ~5 values)


@dataclass(frozen=True)
class Estimate:
    """A metric's ``value`` on all samples and its bootstrap interval [``low``, ``high``]."""

    value: float
    low: float
    high: float

    def format(self, spec: str = ".2f", percent: bool = False) -> str:
        """``"0.83 [0.81, 0.85]"`` (``percent``: ``"83.0% [81.2, 84.6]"``)."""
        if percent:
            v, lo, hi = (100 * t for t in (self.value, self.low, self.high))
            return f"{v:{spec}}% [{lo:{spec}}, {hi:{spec}}]"
        return f"{self.value:{spec}} [{self.low:{spec}}, {self.high:{spec}}]"

    def __str__(self) -> str:
        return self.format()

    def to_dict(self) -> dict:
        return {"value": self.value, "low": self.low, "high": self.high}


def resample_indices(n: int, n_boot: int = N_BOOT, seed: int = 0) -> torch.Tensor:
    """``n_boot`` draws of n indices from 0..n-1 with replacement, shape (n_boot, n), seeded."""
    if n < 1 or n_boot < 1:
        raise ValueError(f"need n >= 1 samples and n_boot >= 1 resamples, got {n} and {n_boot}")
    return torch.randint(n, (n_boot, n), generator=torch.Generator().manual_seed(seed))


def counts_of(indices: torch.Tensor, n: int) -> torch.Tensor:
    """How often each of 0..n-1 occurs in each row of ``indices`` (B, m): counts (B, n)."""
    indices = torch.as_tensor(indices)
    rows = indices.reshape(-1, indices.shape[-1])
    counts = torch.zeros(len(rows), n, dtype=torch.float64)
    counts.scatter_add_(1, rows, torch.ones_like(rows, dtype=torch.float64))
    return counts.reshape(*indices.shape[:-1], n)


def resample_counts(n: int, n_boot: int = N_BOOT, seed: int = 0) -> torch.Tensor:
    """The counts (n_boot, n) of :func:`resample_indices`: each row ~ Multinomial(n; 1/n, ...)."""
    return counts_of(resample_indices(n, n_boot, seed), n)


def percentile_interval(values, level: float = LEVEL) -> tuple[float, float]:
    """The ((1 - level)/2, (1 + level)/2) quantiles of ``values`` (linear interpolation)."""
    v = torch.as_tensor(values, dtype=torch.float64).flatten()
    if v.numel() == 0 or not 0 < level < 1:
        raise ValueError(f"need at least one value and a level in (0, 1), got {v.numel()} and {level}")
    lo, hi = torch.quantile(v, torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=torch.float64))
    return float(lo), float(hi)


def normal_interval(value: float, replicates, level: float = LEVEL,
                    bounds: tuple[float, float] = (-math.inf, math.inf)) -> tuple[float, float]:
    """value +- z sd(replicates), z = Phi^{-1}((1 + level) / 2) (1.96 for 95%), clipped to ``bounds``."""
    v = torch.as_tensor(replicates, dtype=torch.float64).flatten()
    if v.numel() < 2 or not 0 < level < 1:
        raise ValueError(f"need two or more replicates and a level in (0, 1), got {v.numel()} and {level}")
    z = float(torch.special.ndtri(torch.tensor((1 + level) / 2, dtype=torch.float64)))
    half = z * float(v.std())
    lo, hi = bounds
    return max(lo, value - half), min(hi, value + half)


def replicates(statistic: Callable[[torch.Tensor], dict], n: int, n_boot: int = N_BOOT,
               seed: int = 0) -> dict[str, torch.Tensor]:
    """``statistic`` on ``n_boot`` resamples of the n samples: ``{name: tensor (n_boot,)}``.

    ``statistic(idx)`` takes indices into the n samples (a row of :func:`resample_indices`;
    ``torch.arange(n)`` means all of them once) and returns a dict of floats.
    """
    reps: dict[str, list] = {}
    for idx in resample_indices(n, n_boot, seed):
        for name, v in statistic(idx).items():
            reps.setdefault(name, []).append(float(v))
    return {name: torch.tensor(v, dtype=torch.float64) for name, v in reps.items()}


def bootstrap(statistic: Callable[[torch.Tensor], dict], n: int, n_boot: int = N_BOOT,
              seed: int = 0, level: float = LEVEL, bounds: dict | None = None) -> dict[str, Estimate]:
    """Bootstrap intervals of every number ``statistic`` returns (see :func:`replicates`).

    Returns ``{name: Estimate(value, low, high)}``: the value on all n samples and its normal
    interval over ``n_boot`` resamples (:func:`normal_interval`), clipped to ``bounds[name]``
    where given (e.g. ``{"precision": (0, 1)}``).
    """
    bounds = bounds or {}
    value = statistic(torch.arange(n))
    reps = replicates(statistic, n, n_boot, seed)
    return {name: Estimate(float(value[name]), *normal_interval(
                float(value[name]), reps[name], level, bounds.get(name, (-math.inf, math.inf))))
            for name in value}
