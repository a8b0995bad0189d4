"""Checkers for notebook 04 (a GAN on 2-D data).

- :func:`sample_ring`: draw the ring-of-Gaussians mixture (evenly spaced angles, the right
  radius, ``std`` as a standard deviation, equal weights);
- :func:`count_modes`: how many modes a batch of samples covers (modes, not samples; a
  distance threshold, not a squared one);
- :func:`generator_field`: the arrows of G's gradient field, ``-d loss_G / d x`` per sample
  for the non-saturating loss (sign, per-sample scale, the ``1 - D(x)`` factor);
- :func:`diagnose_runs`: name the failure of three training runs from their curves.

Each runs the student's function on several cases against a reference and recognises the
typical wrong answer to give a hint aimed at it.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from gan_course.check.core import Mismatch, attempted, expect, run_exercise


def _points(value, what: str) -> torch.Tensor:
    """The student's answer as a float64 tensor of 2-D points (n, 2)."""
    value = attempted(value)
    try:
        x = torch.as_tensor(value).detach().cpu().to(torch.float64)
    except Exception as e:
        raise Mismatch(f"{what}: expected a tensor of points, got {type(value).__name__} ({e})",
                       hint="return a torch tensor of shape (n, 2)") from None
    return x


# --- 1. sampling the ring of Gaussians ---------------------------------------------------

def _nearest_angle_index(x: torch.Tensor, k: int) -> torch.Tensor:
    """Index j of the nearest angle 2 pi j / k for each point (by the point's own angle)."""
    return torch.round(_angle(x) / (2 * math.pi / k)).long() % k


def _angle(x: torch.Tensor) -> torch.Tensor:
    """Each point's angle in [0, 2 pi), with angles a hair below 2 pi (round-off) set to 0."""
    angle = torch.atan2(x[:, 1], x[:, 0]) % (2 * math.pi)
    return torch.where(angle > 2 * math.pi - 1e-6, torch.zeros_like(angle), angle)


def sample_ring(fn):
    """``fn(n, k, radius, std) -> (n, 2)``: ``k`` equal-weight Gaussians with centers
    ``radius * (cos 2 pi j/k, sin 2 pi j/k)``, ``j = 0..k-1``, and standard deviation ``std``.

    The checker draws from the student's function under ``torch.manual_seed`` (the function
    may use the global generator) and tests, statistically with wide margins: the shape, the
    radius of noiseless points, that every noiseless point sits on one of the ``k`` evenly
    spaced angles starting at 0, that each mode gets about ``n / k`` points, and that the
    spread around the nearest center is ``std`` per coordinate.
    """
    def noiseless(n, k, radius):
        torch.manual_seed(0)
        x = _points(fn(n, k, radius, 0.0), f"sample_ring({n}, {k}, {radius}, std=0)")
        expect(tuple(x.shape) == (n, 2), f"sample_ring({n}, {k}, {radius}, 0): expected shape "
               f"({n}, 2), got {tuple(x.shape)}", hint="one row per sample, columns (x, y)")
        norms = x.norm(dim=1)
        if not torch.allclose(norms, torch.full_like(norms, radius), atol=1e-4):
            med = float(norms.median())
            hint = "with std = 0 every point is a center, at distance `radius` from the origin"
            if math.isclose(med, 2 * radius, rel_tol=1e-3):
                hint = "the points are at 2 * radius: `radius` is the distance from the origin, not the diameter"
            elif math.isclose(med, radius / 2, rel_tol=1e-3):
                hint = "the points are at radius / 2: `radius` is already the distance from the origin"
            raise Mismatch(f"sample_ring({n}, {k}, {radius}, std=0): points should lie at "
                           f"distance {radius} from the origin, median distance is {med:.4g}", hint)
        angle = _angle(x)
        step = 2 * math.pi / k
        off = (angle / step - torch.round(angle / step)).abs()
        if not bool((off < 1e-3).all()):
            hint = ("the angles must be 2 pi j / k for j = 0..k-1 (radians), e.g. "
                    "2 * math.pi * torch.randint(k, (n,)) / k")
            unique = torch.unique(torch.round(angle * 1e4) / 1e4)
            even = torch.arange(k, dtype=torch.float64) * step
            linspace = torch.linspace(0, 2 * math.pi, k, dtype=torch.float64)[:-1]
            if len(unique) == k - 1 and torch.allclose(unique, linspace, atol=1e-3):
                hint = ("torch.linspace(0, 2*pi, k) ends at 2*pi, the same angle as 0: that makes "
                        "k-1 modes spaced 2 pi/(k-1); use 2 * pi * arange(k) / k")
            elif len(unique) == k and not torch.allclose(unique, even, atol=1e-3):
                hint = ("the k angles are not the multiples of 2 pi / k: torch.cos and torch.sin "
                        "take radians, 2 * pi * j / k (not 360 * j / k degrees), starting at j = 0")
            raise Mismatch(f"sample_ring({n}, {k}, {radius}, std=0): the points are not at the "
                           f"k = {k} angles 2 pi j / k", hint)
        counts = torch.bincount(_nearest_angle_index(x, k), minlength=k).double()
        # binomial(n, 1/k): allow 6 standard deviations around n/k
        sd = math.sqrt(n * (1 / k) * (1 - 1 / k))
        worst = float((counts - n / k).abs().max())
        expect(worst <= 6 * sd, f"sample_ring({n}, {k}, {radius}, 0): mode counts "
               f"{counts.long().tolist()} are not about n/k = {n / k:.0f} each",
               hint="pick the mode of each sample uniformly: torch.randint(k, (n,)); every mode "
                    "has weight 1/k (a mode that gets no sample is not sampled at all)")

    def spread(n, k, radius, std):
        torch.manual_seed(1)
        x = _points(fn(n, k, radius, std), f"sample_ring({n}, {k}, {radius}, {std})")
        expect(tuple(x.shape) == (n, 2), f"sample_ring({n}, {k}, {radius}, {std}): expected "
               f"shape ({n}, 2), got {tuple(x.shape)}", hint="one row per sample, columns (x, y)")
        j = _nearest_angle_index(x, k).double()
        centers = radius * torch.stack([torch.cos(2 * math.pi * j / k),
                                        torch.sin(2 * math.pi * j / k)], dim=1)
        got = float((x - centers).std())
        if abs(got - std) <= 0.1 * std:
            return
        hint = "add std * torch.randn(n, 2) to each sample's center"
        if abs(got - std ** 2) <= 0.1 * std ** 2:
            hint = "the spread is std**2: std is a standard deviation, multiply the noise by std itself"
        elif abs(got - math.sqrt(std)) <= 0.1 * math.sqrt(std):
            hint = "the spread is sqrt(std): std is already the standard deviation, not a variance"
        elif got < 0.1 * std:
            hint = "there is (almost) no noise: add std * torch.randn(n, 2)"
        raise Mismatch(f"sample_ring({n}, {k}, {radius}, {std}): spread around the centers should "
                       f"be std = {std} per coordinate, got {got:.4g}", hint)

    cases = [lambda: noiseless(4000, 8, 2.0), lambda: noiseless(3000, 5, 1.0),
             lambda: noiseless(3000, 12, 3.0), lambda: spread(8000, 8, 2.0, 0.05),
             lambda: spread(8000, 6, 1.5, 0.2)]
    return run_exercise("sample_ring", fn, cases)


# --- 2. counting covered modes -------------------------------------------------------------

def _count_modes(samples: torch.Tensor, centers: torch.Tensor, radius: float, min_hits: int) -> int:
    """Reference: modes that are the nearest center of >= min_hits samples within radius."""
    d = torch.cdist(samples, centers)
    dist, idx = d.min(dim=1)
    counts = torch.bincount(idx[dist <= radius], minlength=len(centers))
    return int((counts >= min_hits).sum())


def _ring_centers(k: int, r: float) -> torch.Tensor:
    a = 2 * math.pi * torch.arange(k, dtype=torch.float64) / k
    return r * torch.stack([a.cos(), a.sin()], dim=1)


def _count_cases() -> list[tuple[str, torch.Tensor, torch.Tensor, float, int]]:
    """(label, samples, centers, radius, min_hits) cases built so each typical mistake differs."""
    gen = torch.Generator().manual_seed(4)
    ring = _ring_centers(8, 2.0)

    def around(center, n, std):
        return center + std * torch.randn(n, 2, generator=gen, dtype=torch.float64)

    # 1) modes 0, 2, 5 hit 10 times each; stray points at distance 0.3 from mode 3
    #    (outside radius 0.15, but 0.3**2 = 0.09 < 0.15) and 1.0 from mode 7
    a = torch.cat([around(ring[0], 10, 0.03), around(ring[2], 10, 0.03), around(ring[5], 10, 0.03),
                   ring[3] * (1 + 0.3 / 2.0) + torch.zeros(4, 2, dtype=torch.float64),
                   ring[7] * (1 + 1.0 / 2.0) + torch.zeros(3, 2, dtype=torch.float64)])
    # 2) min_hits = 5: mode 1 has exactly 5 hits (covered), mode 4 has 3 (not), mode 6 has 12
    b = torch.cat([around(ring[1], 5, 0.03), around(ring[4], 3, 0.03), around(ring[6], 12, 0.03)])
    # 3) a 3 x 3 grid with spacing 4 and a wide radius 1.8: points at distance 1.6 of (0, 0)
    #    count (1.6 <= 1.8) though 1.6**2 = 2.56 > 1.8
    ticks = torch.tensor([-4.0, 0.0, 4.0], dtype=torch.float64)
    grid = torch.cartesian_prod(ticks, ticks)
    c = torch.cat([torch.tensor([[1.6, 0.0], [0.0, -1.6]], dtype=torch.float64),
                   around(grid[0], 6, 0.3), around(grid[8], 6, 0.3)])
    # 4) no sample near any mode
    d = torch.tensor([[0.0, 0.0], [0.1, -0.2], [5.0, 5.0]], dtype=torch.float64)
    return [("ring of 8, radius 0.15, 3 modes hit plus stray points", a, ring, 0.15, 1),
            ("ring of 8, radius 0.15, min_hits = 5", b, ring, 0.15, 5),
            ("3 x 3 grid, radius 1.8", c, grid, 1.8, 1),
            ("no sample near a mode", d, ring, 0.15, 1)]


def count_modes(fn):
    """``fn(samples, centers, radius, min_hits=1) -> int``: how many modes are *covered*.

    A sample hits the mode whose center is nearest to it when it lies within ``radius``
    (a distance, not a squared distance) of that center; a mode is covered when it gets at
    least ``min_hits`` hits. The answer counts modes, at most ``len(centers)``.
    """
    def case(label, samples, centers, radius, min_hits):
        got = attempted(fn(samples.clone(), centers.clone(), radius, min_hits))
        try:
            got = int(torch.as_tensor(got).item())
        except Exception:
            raise Mismatch(f"{label}: expected one integer, got {got!r}",
                           hint="return a count of modes, e.g. int((counts >= min_hits).sum())") from None
        want = _count_modes(samples, centers, radius, min_hits)
        if got == want:
            return
        d = torch.cdist(samples, centers)
        dist, idx = d.min(dim=1)
        hits = torch.bincount(idx[dist <= radius], minlength=len(centers))
        hint = ("for each sample find its nearest center and distance (torch.cdist then .min(dim=1)); "
                "count hits per mode with torch.bincount; a mode is covered with >= min_hits hits")
        if got == int((dist <= radius).sum()):
            hint = "you counted samples that hit a mode; count the *modes* that receive hits"
        elif got == _count_modes(samples, centers, radius ** 2, min_hits) or \
                got == int((torch.bincount(idx[dist ** 2 <= radius], minlength=len(centers))
                            >= min_hits).sum()):
            hint = ("the threshold is on the distance: dist <= radius (you compared the squared "
                    "distance with radius, or the distance with radius**2)")
        elif got == int((torch.bincount(idx, minlength=len(centers)) >= min_hits).sum()):
            hint = ("every sample was given to its nearest mode however far away it is: only "
                    "samples within `radius` are hits")
        elif got == int((hits > min_hits).sum()):
            hint = "a mode with exactly min_hits hits is covered: use >=, not >"
        elif got > len(centers):
            hint = f"there are only {len(centers)} modes: count modes, not samples"
        raise Mismatch(f"{label}: expected {want} covered modes, got {got}", hint)

    return run_exercise("count_modes", fn, [lambda c=c: case(*c) for c in _count_cases()])


# --- 3. the generator's gradient field -----------------------------------------------------

def _field_D(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    D = nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1), nn.Flatten(0))
    return D.double()


def _field_reference(D: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``v_i = -d/dx_i softplus(-D(x_i)) = (1 - sigmoid(l_i)) * grad_x l_i`` per point."""
    x = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.softplus(-D(x)).sum(), x)
    return -grad


def generator_field(fn):
    """``fn(D, x) -> (n, 2)``: the arrow at each point ``x_i`` of G's gradient field for the
    non-saturating loss, ``v_i = -d/dx_i [-log D(x_i)]`` with ``D(x) = sigmoid(logit)``:
    the direction (and size) in which G's update moves a generated point. Each arrow is the
    point's own gradient (not divided by the batch size).
    """
    gen = torch.Generator().manual_seed(5)
    xs = [2.5 * torch.randn(7, 2, generator=gen, dtype=torch.float64),
          torch.tensor([[0.0, 0.0], [1.0, -1.0], [-3.0, 2.0]], dtype=torch.float64)]

    def case(i, D, x):
        label = f"case {i}: D = a small random MLP, {len(x)} points"
        params = [p.detach().clone() for p in D.parameters()]
        x_in = x.clone()
        got = _points(fn(D, x_in), label)
        expect(torch.equal(x_in, x), f"{label}: your function changed x in place",
               hint="work on x.detach().clone().requires_grad_(True), not on x itself")
        expect(all(torch.equal(p, q) for p, q in zip(D.parameters(), params)),
               f"{label}: D's weights changed", hint="only differentiate; never step an optimiser here")
        want = _field_reference(D, x)
        expect(tuple(got.shape) == tuple(want.shape), f"{label}: expected shape "
               f"{tuple(want.shape)}, got {tuple(got.shape)}", hint="one 2-D arrow per point")
        if torch.allclose(got, want, atol=1e-6, rtol=1e-5):
            return
        with torch.no_grad():
            logits = D(x)
        xg = x.clone().requires_grad_(True)
        (grad_logit,) = torch.autograd.grad(D(xg).sum(), xg)
        p = torch.sigmoid(logits)[:, None]
        hint = ("v = -grad_x of the per-sample loss softplus(-D(x)) = -log sigmoid(D(x)); use "
                "torch.autograd.grad(loss.sum(), x)")
        if torch.allclose(got, -want, atol=1e-6, rtol=1e-5):
            hint = ("sign flipped: the arrow is *minus* the gradient of G's loss, the way G's "
                    "descent step moves the point (towards higher D(x))")
        elif torch.allclose(got, want / len(x), atol=1e-8, rtol=1e-5):
            hint = ("each arrow is divided by the batch size: the mean loss spreads 1/n over the "
                    "points; differentiate the sum (each point's own loss)")
        elif torch.allclose(got, grad_logit, atol=1e-6, rtol=1e-5):
            hint = ("that is the gradient of D's logit; the loss -log sigmoid(l) adds the factor "
                    "1 - D(x), which shrinks the arrows where D already believes the point is real")
        elif torch.allclose(got, p * grad_logit, atol=1e-6, rtol=1e-5):
            hint = ("that is the saturating loss log(1 - D(x)) (factor D(x)); the non-saturating "
                    "-log D(x) gives the factor 1 - D(x)")
        raise Mismatch(f"{label}: arrows differ from the reference by up to "
                       f"{float((got - want).abs().max()):.3g}", hint)

    # each case builds its D from a seed inside run_exercise, which keeps the global stream
    return run_exercise("generator_field", fn, [lambda i=i, seed=seed, x=x: case(i, _field_D(seed), x)
                                                 for i, (seed, x) in enumerate(
                                                     [(0, xs[0]), (1, xs[0]), (0, xs[1])], 1)])


# --- 4. diagnose three runs from their curves ---------------------------------------------

DIAGNOSES = ("healthy", "mode collapse", "saturating stall")

# The runs A, B, C drawn in notebook 04's exercise figure (its section order, reshuffled).
_RUN_ANSWERS = {"A": "mode collapse", "B": "saturating stall", "C": "healthy"}

# What each diagnosis looks like in the curves: the hint when a run is given that label.
_SIGNATURE = {
    "healthy": ("a healthy run covers all 8 modes by the end and keeps them; check the "
                "modes-covered panel"),
    "mode collapse": ("mode collapse keeps D(G(z)) near 1/2 (G keeps fooling D *somewhere*) "
                      "while only a few modes are covered, the covered ones changing as D chases "
                      "G's mass around; check D(G(z)) and the modes-covered panel"),
    "saturating stall": ("a saturating stall starts with D(G(z)) near 0, D rejecting every fake, "
                         "and G's gradient norm climbing from almost nothing (the gradient of "
                         "log(1 - D(G(z))) at the logit is -D(G(z))); check the first steps"),
}


def diagnose_runs(fn):
    """``fn() -> {"A": ..., "B": ..., "C": ...}``, each one of :data:`DIAGNOSES`: what went
    wrong in each of the three runs of notebook 04's exercise figure."""
    def case():
        got = attempted(fn())
        expect(isinstance(got, dict), f"expected a dict like {{'A': 'healthy', ...}}, got "
               f"{type(got).__name__}", hint="return {'A': ..., 'B': ..., 'C': ...}")
        missing = sorted(set(_RUN_ANSWERS) - set(got))
        expect(not missing, f"no answer for run(s) {', '.join(missing)}",
               hint="answer for each of A, B and C")
        for run in sorted(_RUN_ANSWERS):
            answer = str(got[run]).strip().lower()
            expect(answer in DIAGNOSES, f"run {run}: {got[run]!r} is not one of the choices",
                   hint=f"choose from {', '.join(repr(d) for d in DIAGNOSES)}")
        wrong = [run for run in sorted(_RUN_ANSWERS) if str(got[run]).strip().lower() != _RUN_ANSWERS[run]]
        if wrong:
            run = wrong[0]
            answer = str(got[run]).strip().lower()
            # the hint says what the chosen label would look like, not what the run is
            raise Mismatch(f"run {run} is not {answer!r} ({len(wrong)} of 3 runs misread)",
                           hint=_SIGNATURE[answer])

    return run_exercise("diagnose_runs", fn, [case])
