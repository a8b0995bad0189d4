"""Checkers for notebook 04 (a GAN on 2-D data).

- :func:`sample_ring`: draw the ring-of-Gaussians mixture (evenly spaced angles, the right
  radius, ``std`` as a standard deviation, equal weights);
- :func:`count_modes`: how many modes a batch of samples covers (modes, not samples; a
  distance threshold, not a squared one);
- :func:`generator_field`: the arrows of G's gradient field, ``-d loss_G / d x`` per sample
  for the non-saturating loss (sign, per-sample scale, the ``1 - D(x)`` factor);
- :func:`diagnose_runs`: name the failure of three training runs from their curves (the
  figure's runs come from :func:`mystery_runs`, which hides the answer from the code).

Each runs the student's function on several cases against a reference and recognises the
typical wrong answer to give a hint aimed at it.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from gan_course import losses
from gan_course.check.core import (Mismatch, as_tensor, attempted, expect, expect_restored, expect_unchanged,
                                   module_state, run_exercise, snapshot)


# --- 1. sampling the ring of Gaussians ---------------------------------------------------

def _nearest_angle_index(x: torch.Tensor, k: int) -> torch.Tensor:
    """Index j of the nearest angle 2 pi j / k for each point (by the point's own angle)."""
    return torch.round(_angle(x) / (2 * math.pi / k)).long() % k


def _angle(x: torch.Tensor) -> torch.Tensor:
    """Each point's angle in [0, 2 pi), with angles a hair below 2 pi (round-off) set to 0."""
    angle = torch.atan2(x[:, 1], x[:, 0]) % (2 * math.pi)
    return torch.where(angle > 2 * math.pi - 1e-6, torch.zeros_like(angle), angle)


def sample_ring(fn, quiet: bool = False):
    """``fn(n, k, radius, std) -> (n, 2)``: ``k`` equal-weight Gaussians with centers
    ``radius * (cos 2 pi j/k, sin 2 pi j/k)``, ``j = 0..k-1``, and standard deviation ``std``.

    The checker draws from the student's function under ``torch.manual_seed`` (the function
    may use the global generator) and tests, statistically with wide margins: the shape, the
    radius of noiseless points, that every noiseless point sits on one of the ``k`` evenly
    spaced angles starting at 0, that each mode gets about ``n / k`` points (and not exactly
    ``n / k``: the modes are drawn, not dealt out in turn), that the spread around the
    nearest center is ``std`` per coordinate with independent noise per sample and
    coordinate, and that ``torch.manual_seed`` makes the samples reproducible (the global
    generator, not NumPy's or a private one).
    """
    def noiseless(n, k, radius):
        torch.manual_seed(0)
        x = as_tensor(fn(n, k, radius, 0.0), f"sample_ring({n}, {k}, {radius}, std=0)")
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
        expect(worst > 1, f"sample_ring({n}, {k}, {radius}, 0): every mode got exactly n/k "
               f"samples ({counts.long().tolist()})",
               hint="the mode of each sample must be random, torch.randint(k, (n,)): "
                    "torch.arange(n) % k deals the modes out in turn, so the first k samples "
                    "always cover every mode, which no sample of the mixture does")

    def spread(n, k, radius, std):
        label = f"sample_ring({n}, {k}, {radius}, {std})"
        torch.manual_seed(1)
        x = as_tensor(fn(n, k, radius, std), label)
        expect(tuple(x.shape) == (n, 2), f"{label}: expected shape ({n}, 2), got {tuple(x.shape)}",
               hint="one row per sample, columns (x, y)")
        j = _nearest_angle_index(x, k).double()
        centers = radius * torch.stack([torch.cos(2 * math.pi * j / k),
                                        torch.sin(2 * math.pi * j / k)], dim=1)
        noise = x - centers
        got = float(noise.std())
        if abs(got - std) > 0.1 * std:
            hint = "add std * torch.randn(n, 2) to each sample's center"
            if abs(got - std ** 2) <= 0.1 * std ** 2:
                hint = "the spread is std**2: std is a standard deviation, multiply the noise by std itself"
            elif abs(got - math.sqrt(std)) <= 0.1 * math.sqrt(std):
                hint = "the spread is sqrt(std): std is already the standard deviation, not a variance"
            elif got < 0.1 * std and bool(noise.abs().max() < 0.1 * std):
                hint = "there is (almost) no noise: add std * torch.randn(n, 2)"
            elif bool((noise - noise[0]).abs().max() < 1e-3 * std):
                hint = "every sample got the same offset: draw noise per sample, torch.randn(n, 2), not torch.randn(2)"
            raise Mismatch(f"{label}: spread around the centers should be std = {std} per "
                           f"coordinate, got {got:.4g}", hint)
        corr = float(torch.corrcoef(noise.T)[0, 1])
        expect(abs(corr) < 0.1, f"{label}: the noise of the two coordinates is correlated "
               f"(correlation {corr:.2f})",
               hint="each coordinate needs its own noise: std * torch.randn(n, 2), not "
                    "std * torch.randn(n, 1) added to both")
        torch.manual_seed(1)
        again = as_tensor(fn(n, k, radius, std), label)
        torch.manual_seed(2)
        other = as_tensor(fn(n, k, radius, std), label)
        expect(torch.equal(again, x) and not torch.equal(other, x),
               f"{label}: torch.manual_seed(1) did not reproduce the samples" if not torch.equal(again, x)
               else f"{label}: torch.manual_seed(1) and torch.manual_seed(2) gave the same samples",
               hint="draw with torch's global generator (torch.randint, torch.randn without a "
                    "generator= argument): NumPy's random numbers, Python's random module or a "
                    "private torch.Generator() ignore torch.manual_seed")

    cases = [lambda: noiseless(4000, 8, 2.0), lambda: noiseless(3000, 5, 1.0),
             lambda: noiseless(3000, 12, 3.0), lambda: spread(8000, 8, 2.0, 0.05),
             lambda: spread(8000, 6, 1.5, 0.2)]
    return run_exercise("sample_ring", fn, cases, quiet)


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
    # 5) centers 1 apart with radius 0.8: the points at 0.3 lie within the radius of two
    #    centers but hit only their nearest one
    near = torch.tensor([[0.0, 0.0], [1.0, 0.0], [4.0, 0.0]], dtype=torch.float64)
    e = torch.tensor([[0.3, 0.0]] * 3 + [[3.9, 0.0]] * 2, dtype=torch.float64)
    return [("ring of 8, radius 0.15, 3 modes hit plus stray points", a, ring, 0.15, 1),
            ("ring of 8, radius 0.15, min_hits = 5", b, ring, 0.15, 5),
            ("3 x 3 grid, radius 1.8", c, grid, 1.8, 1),
            ("no sample near a mode", d, ring, 0.15, 1),
            ("centers 1 apart, radius 0.8: points within reach of two centers", e, near, 0.8, 1)]


def count_modes(fn, quiet: bool = False):
    """``fn(samples, centers, radius, min_hits=1) -> int``: how many modes are *covered*.

    A sample hits the mode whose center is nearest to it when it lies within ``radius``
    (a distance, not a squared distance) of that center; a mode is covered when it gets at
    least ``min_hits`` hits. The answer counts modes, at most ``len(centers)``.
    """
    def case(label, samples, centers, radius, min_hits):
        args = {"samples": samples.clone(), "centers": centers.clone()}
        before = snapshot(**args)
        got = attempted(fn(*args.values(), radius, min_hits))
        try:
            got = int(torch.as_tensor(got).item())
        except Exception:
            raise Mismatch(f"{label}: expected one integer, got {got!r}",
                           hint="return a count of modes, e.g. int((counts >= min_hits).sum())") from None
        want = _count_modes(samples, centers, radius, min_hits)
        if got == want:
            expect_unchanged(label, args, before)
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
        elif min_hits > 1 and got == _count_modes(samples, centers, radius, 1):
            hint = "min_hits is ignored: a mode is covered only with at least min_hits hits"
        elif got == int(((d <= radius).sum(0) >= min_hits).sum()):
            hint = ("a sample hits only its NEAREST center: find it first (.min(dim=1)), then test "
                    "that distance against radius; counting every center within reach counts a "
                    "sample twice where two modes are close")
        elif got > len(centers):
            hint = f"there are only {len(centers)} modes: count modes, not samples"
        raise Mismatch(f"{label}: expected {want} covered modes, got {got}", hint)

    return run_exercise("count_modes", fn, [lambda c=c: case(*c) for c in _count_cases()], quiet)


# --- 3. the generator's gradient field -----------------------------------------------------

def _field_D(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    D = nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1), nn.Flatten(0))
    return D.double()


def _field_reference(D: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``v_i = -d/dx_i softplus(-D(x_i)) = (1 - sigmoid(l_i)) * grad_x l_i`` per point."""
    return losses.generator_field(D, x, "nonsaturating")


def generator_field(fn, quiet: bool = False):
    """``fn(D, x) -> (n, 2)``: the arrow at each point ``x_i`` of G's gradient field for the
    non-saturating loss, ``v_i = -d/dx_i [-log D(x_i)]`` with ``D(x) = sigmoid(logit)``:
    the direction (and size) in which G's update moves a generated point. Each arrow is the
    point's own gradient (not divided by the batch size). D and ``x`` must be left as they
    were: D's weights, mode, ``requires_grad`` and ``.grad`` (``torch.autograd.grad`` leaves
    them alone, ``backward()`` does not), ``x``'s values, ``requires_grad`` and ``.grad``.
    """
    gen = torch.Generator().manual_seed(5)
    xs = [2.5 * torch.randn(7, 2, generator=gen, dtype=torch.float64),
          torch.tensor([[0.0, 0.0], [1.0, -1.0], [-3.0, 2.0]], dtype=torch.float64)]

    def case(i, D, x):
        label = f"case {i}: D = a small random MLP, {len(x)} points"
        params = [p.detach().clone() for p in D.parameters()]
        x_in = x.clone()
        d_before, x_before = module_state(D), snapshot(x=x_in)
        got = as_tensor(fn(D, x_in), label)
        expect_unchanged(label, {"x": x_in}, x_before)
        expect(all(torch.equal(p, q) for p, q in zip(D.parameters(), params)),
               f"{label}: D's weights changed", hint="only differentiate; never step an optimiser here")
        expect_restored(label, "D", D, d_before, grads=True,
                        grad_hint="loss.backward() wrote D's gradients into its .grad, where D's next "
                                  "optimiser step would find them; torch.autograd.grad(loss, x) returns "
                                  "the gradient with respect to x and touches no .grad")
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
        elif torch.allclose(got, want / want.norm(dim=1, keepdim=True), atol=1e-6, rtol=1e-5):
            hint = ("the arrows are normalised to length 1; their length is part of the answer "
                    "(how hard G is pushed there): return the gradient itself")
        raise Mismatch(f"{label}: arrows differ from the reference by up to "
                       f"{float((got - want).abs().max()):.3g}", hint)

    # each case builds its D from a seed inside run_exercise, which keeps the global stream
    return run_exercise("generator_field", fn, [lambda i=i, seed=seed, x=x: case(i, _field_D(seed), x)
                                                 for i, (seed, x) in enumerate(
                                                     [(0, xs[0]), (1, xs[0]), (0, xs[1])], 1)], quiet)


# --- 4. diagnose three runs from their curves ---------------------------------------------

DIAGNOSES = ("healthy", "mode collapse", "saturating stall")

# The runs A, B, C drawn in notebook 04's exercise figure (mystery_runs puts them there).
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


def mystery_runs(runs: dict) -> dict:
    """The runs of notebook 04's exercise figure under the letters A, B, C.

    ``runs`` maps each diagnosis of :data:`DIAGNOSES` to its run; the letters it returns
    hide which is which (so the cell that draws the figure does not show the answer), and
    :func:`diagnose_runs` knows the assignment.
    """
    if set(runs) != set(DIAGNOSES):
        raise ValueError(f"mystery_runs needs exactly one run for each of {', '.join(map(repr, DIAGNOSES))}; "
                         f"got {', '.join(map(repr, runs)) or 'none'}")
    return {letter: runs[diagnosis] for letter, diagnosis in sorted(_RUN_ANSWERS.items())}


def diagnose_runs(fn, quiet: bool = False):
    """``fn() -> {"A": ..., "B": ..., "C": ...}``, each one of :data:`DIAGNOSES`: what went
    wrong in each of the three runs of notebook 04's exercise figure (built by
    :func:`mystery_runs`). Case and surrounding spaces do not matter."""
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

    return run_exercise("diagnose_runs", fn, [case], quiet)
