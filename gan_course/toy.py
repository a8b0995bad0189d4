"""2-D toy data with known modes, for the minimax notebook (03), the 2-D GAN (04) and the
failure gallery (08).

Because every mode is known, a generator's samples can be scored exactly:

- **hit**: a sample *hits* mode ``k`` when ``k`` is its nearest mode and it lies within
  ``radius`` of that mode's center. For the Gaussian mixtures ``radius = 3 * std`` (the rule
  of Metz et al. 2016, "Unrolled GANs"): a real sample misses with probability
  exp(-9/2) ~ 1.1% (2-D Gaussian, ``P(|e| > 3 std) = exp(-3**2 / 2)``).
- **quality**: the fraction of samples that hit some mode.
- **coverage**: the number of modes that receive at least a given share of the hits.

``ToyData.mode_hits(x)`` returns the per-mode hit counts those numbers come from.

The datasets (``get_toy(name)``):

- ``"ring"``: 8 Gaussians, centers on a circle of radius 2, std 0.05.
- ``"grid"``: 25 Gaussians on a 5 x 5 grid with spacing 2 centered at 0 (-4, -2, 0, 2, 4),
  std 0.05.
- ``"moons"``: two interleaving half circles (the usual "two moons", scaled by 2 and
  centered), with Gaussian noise of std 0.05. A moon is a continuous curve, not a set of
  blobs, so its "modes" are 8 fixed points evenly spaced along each arc (16 in all), and a
  sample hits the nearest one when it is within ``radius = d + 3 * std`` of it, where ``d``
  is the distance from a mode to the arc point halfway to its neighbour; every point of a
  noiseless arc is then a hit, and a generator that draws only part of a moon leaves the
  points of the other part uncovered. (These hit discs overlap along the arc; the
  nearest-mode rule still gives each sample to one mode.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch

Sampler = Callable[[int, "torch.Generator | None"], torch.Tensor]


@dataclass(eq=False)
class ToyData:
    """A 2-D distribution with ``K`` known modes.

    ``centers`` is a (K, 2) float32 tensor; ``std`` the noise of each point around its
    mode (or curve); ``radius`` the hit radius used for quality and coverage.
    """

    name: str
    centers: torch.Tensor
    std: float
    radius: float
    sampler: Sampler | None = field(default=None, repr=False)

    @property
    def n_modes(self) -> int:
        return len(self.centers)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` points, a float32 tensor (n, 2) on the CPU, drawn with ``generator``.

        Without a sampler of its own the data is an equal-weight Gaussian mixture:
        ``x = centers[k] + std * e`` with ``k ~ Uniform{0..K-1}`` and ``e ~ N(0, I)``.
        """
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        if self.sampler is not None:
            return self.sampler(n, generator)
        k = torch.randint(self.n_modes, (n,), generator=generator)
        noise = torch.randn(n, 2, generator=generator)
        return self.centers[k] + self.std * noise

    def nearest_mode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """For points ``x`` (n, 2): the index of each one's nearest mode and the distance."""
        x = torch.as_tensor(x, dtype=torch.float32)
        if x.ndim != 2 or x.shape[1] != 2:
            raise ValueError(f"expected points of shape (n, 2), got {tuple(x.shape)}")
        d = torch.cdist(x.cpu(), self.centers)
        dist, idx = d.min(dim=1)
        return idx, dist

    def mode_hits(self, x: torch.Tensor) -> torch.Tensor:
        """Hit counts per mode, (K,) int64: points whose nearest mode is within ``radius``."""
        idx, dist = self.nearest_mode(x)
        return torch.bincount(idx[dist <= self.radius], minlength=self.n_modes)

    def limits(self, margin: float = 1.0) -> tuple[float, float, float, float]:
        """(xmin, xmax, ymin, ymax) around the modes, for plots of samples and of D."""
        lo = self.centers.min(dim=0).values - margin
        hi = self.centers.max(dim=0).values + margin
        return float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])


def ring(n_modes: int = 8, radius: float = 2.0, std: float = 0.05) -> ToyData:
    """``n_modes`` Gaussians with centers ``radius * (cos 2 pi k/K, sin 2 pi k/K)``."""
    angle = 2 * math.pi * torch.arange(n_modes, dtype=torch.float64) / n_modes
    centers = radius * torch.stack([angle.cos(), angle.sin()], dim=1)
    return ToyData("ring", centers.float(), std, 3 * std)


def grid(side: int = 5, spacing: float = 2.0, std: float = 0.05) -> ToyData:
    """``side * side`` Gaussians on a square grid with the given spacing, centered at 0."""
    ticks = (torch.arange(side, dtype=torch.float32) - (side - 1) / 2) * spacing
    gx, gy = torch.meshgrid(ticks, ticks, indexing="ij")
    centers = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)
    return ToyData("grid", centers, std, 3 * std)


def _moon_points(t: torch.Tensor, upper: torch.Tensor, scale: float) -> torch.Tensor:
    """Points on the two moons at arc parameter ``t`` in [0, pi].

    Upper moon: (cos t, sin t). Lower moon: (1 - cos t, 1/2 - sin t). Both are shifted by
    (-1/2, -1/4) so the pair is centered at 0, then multiplied by ``scale``.
    """
    x = torch.where(upper, t.cos(), 1 - t.cos())
    y = torch.where(upper, t.sin(), 0.5 - t.sin())
    return scale * torch.stack([x - 0.5, y - 0.25], dim=1)


def two_moons(scale: float = 2.0, std: float = 0.05, modes_per_moon: int = 8) -> ToyData:
    """Two interleaving half circles; its modes are ``modes_per_moon`` points per arc.

    A sample picks a moon with probability 1/2 and ``t ~ Uniform[0, pi]`` (uniform along
    the arc), then adds ``std * N(0, I)``. The modes sit at ``t_i = (i + 1/2) pi / m``;
    neighbouring ones are ``pi / m`` apart in ``t``, so the arc point halfway between two
    of them (and each arc's end) is at distance ``2 * scale * sin(pi / (4m))`` (a chord of
    angle ``pi / (2m)``) from its nearest mode: that plus ``3 * std`` is the hit radius.
    """
    m = modes_per_moon
    t = (torch.arange(m, dtype=torch.float32) + 0.5) * math.pi / m
    upper = torch.cat([torch.ones(m, dtype=torch.bool), torch.zeros(m, dtype=torch.bool)])
    centers = _moon_points(t.repeat(2), upper, scale)
    radius = 2 * scale * math.sin(math.pi / (4 * m)) + 3 * std

    def sampler(n: int, generator: torch.Generator | None) -> torch.Tensor:
        which = torch.rand(n, generator=generator) < 0.5
        t = torch.rand(n, generator=generator) * math.pi
        noise = torch.randn(n, 2, generator=generator)
        return _moon_points(t, which, scale) + std * noise

    return ToyData("moons", centers, std, radius, sampler)


_BUILDERS = {"ring": ring, "grid": grid, "moons": two_moons}


def get_toy(name: str) -> ToyData:
    """The toy dataset called ``name``: ``"ring"``, ``"grid"`` or ``"moons"``."""
    try:
        return _BUILDERS[name]()
    except KeyError:
        valid = ", ".join(repr(k) for k in _BUILDERS)
        raise ValueError(f"unknown toy dataset {name!r}; choose one of {valid}.") from None
