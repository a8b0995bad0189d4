"""Checkers for notebook 03 (generative models and the minimax game).

Each runs the student's function on several cases against the references in
:mod:`gan_course.theory` and recognises the typical wrong answer (a flipped ratio, a missing
½, log base 2, a sign error, a player moving the wrong way, responsibilities normalised
along the wrong axis, CDFs left unnormalised, ...) to give a hint aimed at it. Logs are
natural: divergences are in nats. Answers computed in float32 pass (tolerances allow its
rounding); inputs must come back as they went in.

- :func:`em_step`: one EM iteration for a 1-D Gaussian mixture fitted to a histogram;
- :func:`optimal_discriminator`: ``D* = p_data / (p_data + p_g)``, any value in [0, 1]
  where both densities are 0 (section 3: "any value is optimal; we use ½");
- :func:`jsd`, :func:`value_function`: the divergence and the Monte Carlo value;
- :func:`wasserstein1_histograms`: ``W1 = Σ |F_p - F_q| dx`` between two histograms;
- :func:`simultaneous_step`, :func:`extragradient_step`, :func:`alternating_invariant`:
  the bilinear game ``min_x max_y xy``.
"""

from __future__ import annotations

import math

import torch

from gan_course import theory
from gan_course.check.core import (Mismatch, as_tensor, attempted, call, close, expect, expect_unchanged,
                                   fmt, name_the_mistake, run_exercise, snapshot)


def _inputs(**tensors):
    """Copies of the case's tensors for the student, and a snapshot to compare with after."""
    copies = {name: t.clone() for name, t in tensors.items()}
    return copies, snapshot(**copies)


# --- 1. one EM step for a 1-D Gaussian mixture, on a histogram ----------------------------

def _em_step(x, counts, w, mu, sd, *, no_pi=False, wrong_axis=False, pi_over_bins=False,
             no_counts=False, counts_only_in_pi=False, old_mu=False, return_var=False,
             sd_as_var=False):
    """The reference EM step (all flags off) and, with one flag on, a typical wrong one.

    E-step, in logs so that no density underflows: ``log r_nk = log π_k + log N(x_n; μ_k, σ_k²)
    - logsumexp_j(...)``. M-step with counts c_n: ``N_k = Σ c_n r_nk``, ``π_k = N_k / Σ c_n``,
    ``μ_k = Σ c_n r_nk x_n / N_k``, ``σ_k² = Σ c_n r_nk (x_n - μ_k)² / N_k`` (the new μ_k).
    """
    x, c = x.double()[:, None], counts.double()[:, None]
    if no_counts:
        c = torch.ones_like(c)
    s = sd.double().sqrt() if sd_as_var else sd.double()
    log_c = -torch.log(s * math.sqrt(2 * math.pi)) - 0.5 * ((x - mu.double()) / s) ** 2   # (N, K)
    if not no_pi:
        log_c = log_c + torch.log(w.double())
    r = torch.exp(log_c - torch.logsumexp(log_c, dim=0 if wrong_axis else 1, keepdim=True))
    moments = r if counts_only_in_pi else r * c
    n_k = (r * c).sum(0)
    w_new = n_k / (len(x) if pi_over_bins else c.sum())
    mu_new = (moments * x).sum(0) / moments.sum(0)
    centre = mu.double() if old_mu else mu_new
    var = (moments * (x - centre) ** 2).sum(0) / moments.sum(0)
    return w_new, mu_new, var if return_var else var.sqrt()


def _mixture_loglik(x, counts, w, mu, sd):
    """The mean log-likelihood per sample, Σ c_n log Σ_k π_k N(x_n; μ_k, σ_k²) / Σ c_n."""
    x, c = x.double()[:, None], counts.double()
    log_c = torch.log(w) - torch.log(sd * math.sqrt(2 * math.pi)) - 0.5 * ((x - mu) / sd) ** 2
    return float((c * torch.logsumexp(log_c, dim=1)).sum() / c.sum())


_EM_MISTAKES = [
    ({"no_pi": True}, "the E-step leaves out the weights: r_nk is proportional to π_k N(x_n; μ_k, σ_k²), "
                      "with π_k"),
    ({"wrong_axis": True}, "the responsibilities of each point must sum to 1 over the K components: "
                           "normalise along dim=1 (the component axis), not over the points"),
    ({"pi_over_bins": True}, "π_k = N_k / Σ_n c_n: divide by the number of samples (the total count), "
                             "not by the number of bins"),
    ({"no_counts": True}, "the counts are missing: bin n stands for c_n samples at x_n, so every sum "
                          "over n carries c_n (N_k = Σ_n c_n r_nk, and so on)"),
    ({"counts_only_in_pi": True}, "μ_k and σ_k need the counts too: μ_k = Σ_n c_n r_nk x_n / N_k and "
                                  "σ_k² = Σ_n c_n r_nk (x_n - μ_k)² / N_k"),
    ({"old_mu": True}, "σ_k² is measured around the NEW mean μ_k of this M-step, not the old one"),
    ({"return_var": True}, "those are the variances σ_k²; return the standard deviations σ_k "
                           "(their square roots), as the inputs are"),
    ({"sd_as_var": True}, "sd holds standard deviations: N(x; μ, σ²) = exp(-(x - μ)² / (2σ²)) / "
                          "(σ √(2π)) with σ = sd, not σ² = sd"),
]

_EM_NAMES = ("w", "mu", "sd")


def em_step(fn, quiet: bool = False):
    """``fn(x, counts, w, mu, sd) -> (w, mu, sd)``: one EM iteration for a K-component 1-D
    Gaussian mixture fitted to a histogram (bin centres ``x``, ``counts[n]`` samples at
    ``x[n]``; counts of 1 are plain EM on samples, as in section 1).

        r_nk = π_k N(x_n; μ_k, σ_k²) / Σ_j π_j N(x_n; μ_j, σ_j²)      (E-step, in logs)
        N_k = Σ_n c_n r_nk,  π_k = N_k / Σ_n c_n,  μ_k = Σ_n c_n r_nk x_n / N_k,
        σ_k² = Σ_n c_n r_nk (x_n - μ_k)² / N_k                          (M-step)
    """
    gen = torch.Generator().manual_seed(7)
    comp = torch.multinomial(torch.tensor([0.3, 0.5, 0.2]), 60, replacement=True, generator=gen)
    samples = torch.tensor([-2.5, 0.0, 2.5])[comp] + torch.tensor([0.5, 0.8, 0.4])[comp] * \
        torch.randn(60, generator=gen)
    samples = samples.double()
    quant = torch.quantile(samples, (torch.arange(3, dtype=torch.float64) + 0.5) / 3)
    edges = torch.linspace(-5.0, 5.0, 41, dtype=torch.float64)
    many = torch.cat([torch.randn(1200, generator=gen) * 0.6 - 2.0, torch.randn(800, generator=gen) + 1.5])
    counts_b = torch.bincount(torch.bucketize(many.double().clamp(-4.999, 4.999), edges) - 1, minlength=40)
    d = lambda *v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    cases = [
        ("60 samples (every count 1), the notebook's start: equal weights, means at quantiles",
         samples, torch.ones(60, dtype=torch.float64), torch.full((3,), 1 / 3, dtype=torch.float64),
         quant, torch.full((3,), float(samples.std()), dtype=torch.float64)),
        ("a histogram of 2,000 samples in 40 bins (int64 counts), weights [0.6, 0.3, 0.1]",
         (edges[:-1] + edges[1:]) / 2, counts_b, d(0.6, 0.3, 0.1), d(-2.0, 0.5, 2.0), d(1.0, 0.5, 0.8)),
        ("a far bin at x = 60: every density of it underflows to 0",
         d(-1.0, -0.5, 0.0, 0.5, 1.0, 60.0), d(3, 5, 8, 5, 3, 1), d(0.5, 0.5), d(-0.5, 0.5), d(0.3, 0.3)),
    ]

    def case(label, x, counts, w, mu, sd):
        args, before = _inputs(x=x, counts=counts, w=w, mu=mu, sd=sd)
        out = attempted(call(fn, *args.values(), shape_hint="x and counts have shape (N,), w, mu and sd "
                             "shape (K,): the responsibilities are (N, K), e.g. x[:, None] - mu"))
        expect(isinstance(out, (tuple, list)) and len(out) == 3,
               f"{label}: expected a tuple (w, mu, sd), got {type(out).__name__}",
               hint="return w_new, mu_new, sd_new")
        got = [as_tensor(v, name) for v, name in zip(out, _EM_NAMES)]
        want = _em_step(x, counts, w, mu, sd)
        for name, g, t in zip(_EM_NAMES, got, want):
            expect(g.shape == t.shape, f"{label}: {name} has shape {tuple(g.shape)}, expected "
                   f"{tuple(t.shape)}", hint="one value per component: w, mu and sd each of shape (K,)")
        if not all(close(g, t, rtol=1e-5, atol=1e-8) for g, t in zip(got, want)):
            bad = next(n for n, g, t in zip(_EM_NAMES, got, want) if not close(g, t, rtol=1e-5, atol=1e-8))
            g, t = got[_EM_NAMES.index(bad)], want[_EM_NAMES.index(bad)]
            hint = ("E-step: r_nk ∝ π_k N(x_n; μ_k, σ_k²), each row summing to 1; M-step: N_k = Σ c_n r_nk, "
                    "π_k = N_k / Σ c_n, μ_k = Σ c_n r_nk x_n / N_k, σ_k² = Σ c_n r_nk (x_n - μ_k)² / N_k")
            if not all(bool(torch.isfinite(v).all()) for v in got):
                hint = ("the result has nan or inf: the far bin's density underflows to 0 under every "
                        "component and 0/0 is nan. Compute log π_k + log N(x_n; μ_k, σ_k²) and "
                        "normalise with torch.logsumexp along the component axis, as the notebook's "
                        "code does with np.logaddexp")
            else:
                for flags, mistake in _EM_MISTAKES:
                    if all(close(a, b, rtol=1e-5, atol=1e-8) for a, b in zip(got, _em_step(x, counts, w, mu, sd, **flags))):
                        hint = mistake
                        break
                else:
                    if bool((got[0] > 0).all() and (got[2] > 0).all()) and \
                            _mixture_loglik(x, counts, *got) < _mixture_loglik(x, counts, w, mu, sd) - 1e-12:
                        hint = ("your step lowered the log-likelihood, which an EM step never does "
                                "(section 1). " + hint)
            raise Mismatch(f"{label}: {bad} = {fmt(g)}, expected {fmt(t)}", hint)
        expect_unchanged(label, args, before)

    return run_exercise("em_step", fn, [lambda c=c: case(*c) for c in cases], quiet)


# --- 2. the optimal discriminator ----------------------------------------------------------

def optimal_discriminator(fn, quiet: bool = False):
    """``fn(p_data, p_g) -> D*(x) = p_data / (p_data + p_g)`` elementwise.

    Where both densities are 0 any value in [0, 1] is optimal (it is weighted by 0; section
    3 and ``theory.optimal_discriminator`` use ½): there the answer must be a number in
    [0, 1], not nan. Where only one density is positive D* is exactly 1 or 0, and where both
    are tiny but positive it is still their ratio (an eps in the denominator breaks that).
    """
    x, _ = theory.grid(-5.0, 5.0, 201)
    tails, _ = theory.grid(-9.0, 9.0, 181)
    boxes, _ = theory.grid(-1.0, 3.0, 401)
    pairs = [
        ("p_data = N(0, 1), p_g = N(1, 1.5²)", theory.normal_pdf(x, 0.0, 1.0), theory.normal_pdf(x, 1.0, 1.5)),
        ("p_data = two modes, p_g = N(0, 2²)", theory.data_density(x, "two modes"), theory.normal_pdf(x, 0.0, 2.0)),
        ("three points", torch.tensor([0.1, 0.4, 0.3], dtype=torch.float64),
         torch.tensor([0.3, 0.1, 0.3], dtype=torch.float64)),
        ("p_data = N(0, 1), p_g = N(0, 0.5²) out to |x| = 9 (both tiny in the tails, D* -> 1)",
         theory.normal_pdf(tails, 0.0, 1.0), theory.normal_pdf(tails, 0.0, 0.5)),
        ("boxes U[0, 1) and U[0.5, 2) on [-1, 3]: both densities are 0 outside [0, 2)",
         theory.uniform_pdf(boxes, 0.0, 1.0), theory.uniform_pdf(boxes, 0.5, 2.0)),
    ]

    def case(label, p_data, p_g):
        args, before = _inputs(p_data=p_data, p_g=p_g)
        got = as_tensor(call(fn, *args.values(), shape_hint="D* is elementwise: the output has the "
                             "shape of p_data"), label)
        want = theory.optimal_discriminator(p_data, p_g)
        both_zero = (p_data + p_g) == 0
        if got.shape == want.shape and both_zero.any():
            free = got[both_zero]
            expect(bool(torch.isfinite(free).all() and (free >= 0).all() and (free <= 1).all()),
                   f"{label}: where p_data = p_g = 0 your D* is {fmt(free)}",
                   hint="0 / 0 is nan: where both densities are 0 any value in [0, 1] is optimal "
                        "(section 3); the course uses ½ there, e.g. torch.where(p_data + p_g > 0, "
                        "p_data / (p_data + p_g), 0.5)")
            want = torch.where(both_zero, got, want)  # any such value agrees with the text
        if close(got, want, rtol=1e-6, atol=1e-6):
            expect_unchanged(label, args, before)
            return
        hint = "D*(x) = p_data(x) / (p_data(x) + p_g(x)): maximise a·log y + b·log(1 − y) in y"
        if got.shape != want.shape:
            hint = "D* is elementwise: the output has the shape of p_data"
        elif close(got, 1.0 - want, atol=1e-6):
            hint = ("you returned p_g / (p_data + p_g), the probability of *fake*; D outputs the "
                    "probability of *real* (real = 1), so p_data goes on top")
        elif close(got, p_data / p_g, atol=1e-6):
            hint = ("p_data / p_g is the density ratio, unbounded; D* is a probability: divide by "
                    "the sum p_data + p_g")
        elif close(got[(p_data + p_g) > 1e-3], want[(p_data + p_g) > 1e-3], rtol=1e-6, atol=1e-6):
            hint = ("right where the densities are large, wrong where both are tiny: an eps in the "
                    "denominator (p_data / (p_data + p_g + eps)) pulls D* to 0 where both are small, "
                    "though D* -> 1 wherever p_data dominates. Handle only the exact 0 / 0 (torch.where)")
        diff = (got - want).abs().nan_to_num(float("inf")).max() if got.shape == want.shape else float("nan")
        raise Mismatch(f"{label}: expected {fmt(want)}, got {fmt(got)} (largest difference {float(diff):.3g})",
                       hint)

    return run_exercise("optimal_discriminator", fn, [lambda c=c: case(*c) for c in pairs], quiet)


# --- 3. Jensen-Shannon divergence ----------------------------------------------------------

def jsd(fn, quiet: bool = False):
    """``fn(p, q, dx) -> JSD(p || q)`` in nats on a grid, with ``0 · log 0 = 0``."""
    x, dx = theory.grid(-6.0, 8.0, 2801)
    cases = [
        ("N(0, 1) vs N(1, 1)", theory.normal_pdf(x, 0.0, 1.0), theory.normal_pdf(x, 1.0, 1.0)),
        ("two modes vs N(0, 1.5²)", theory.data_density(x, "two modes"), theory.normal_pdf(x, 0.0, 1.5)),
        ("identical densities", theory.normal_pdf(x, 0.5, 1.0), theory.normal_pdf(x, 0.5, 1.0)),
        ("boxes [0, 1) and [0.5, 1.5) (half overlap, zeros outside)",
         theory.uniform_pdf(x, 0.0, 1.0), theory.uniform_pdf(x, 0.5, 1.5)),
        ("disjoint boxes [0, 1) and [3, 4)", theory.uniform_pdf(x, 0.0, 1.0), theory.uniform_pdf(x, 3.0, 4.0)),
    ]
    kl = theory.kl_divergence

    def case(label, p, q):
        args, before = _inputs(p=p, q=q)
        got = as_tensor(fn(*args.values(), dx), label)
        want = theory.js_divergence(p, q, dx)
        expect(got.numel() == 1, f"{label}: expected one number, got {fmt(got)}",
               hint="integrate: sum over the grid and multiply by dx")
        got = got.reshape(())
        if close(got, want, rtol=1e-4, atol=1e-6):  # float32 sums over the grid pass
            expect_unchanged(label, args, before)
            return
        m = 0.5 * (p + q)
        near = lambda v: bool(torch.isfinite(torch.as_tensor(v))) and close(got, v, rtol=1e-4, atol=1e-6)  # noqa: E731
        hint = "JSD(p||q) = ½ KL(p||m) + ½ KL(q||m) with m = (p + q)/2, KL = Σ p log(p/m) dx"
        if torch.isnan(got):
            hint = ("you got nan: 0 · log 0 must count as 0 where p or q is zero; use "
                    "torch.xlogy(p, p / m) or mask the zeros")
        elif torch.isinf(got):
            hint = ("you got inf: a KL with q (or p) in the denominator is infinite where it is 0 and "
                    "the other is not; the JSD compares each density with the mixture m = (p + q)/2, "
                    "which is positive wherever p or q is")
        elif near(2 * want):
            hint = "missing the ½ factors: JSD averages the two KL terms"
        elif near(want / math.log(2)):
            hint = "that is the JSD in bits (log base 2); the course uses natural logs (nats)"
        elif near(want / math.log(10)):
            hint = "that is log base 10; the course uses natural logs (nats): torch.log"
        elif near(kl(p, q, dx)):
            hint = ("that is KL(p || q); the JSD compares each density with the mixture "
                    "m = (p + q)/2, which is why it stays finite where q = 0")
        elif near(kl(p, m, dx)) or near(0.5 * kl(p, m, dx)):
            hint = "only the KL(p || m) half is there: add ½ KL(q || m)"
        elif near(want - math.log(2)):
            hint = "m is the average (p + q) / 2, not the sum p + q"
        elif near(0.5 * kl(m, p, dx) + 0.5 * kl(m, q, dx)):
            hint = "the KL terms are KL(p || m) and KL(q || m), with p and q first, not KL(m || p)"
        elif near(torch.sqrt(want)):
            hint = "that is the Jensen-Shannon *distance* sqrt(JSD); return the divergence itself"
        elif near(want / dx):
            hint = "multiply the sum by dx: it is an integral"
        elif near(want * dx):
            hint = "dx is in twice: multiply the sum over the grid by dx once"
        raise Mismatch(f"{label}: expected {float(want):.6f} nats, got {fmt(got)}", hint)

    return run_exercise("jsd", fn, [lambda c=c: case(*c) for c in cases], quiet)


# --- 4. the value function from a batch of D's outputs -------------------------------------

def value_function(fn, quiet: bool = False):
    """``fn(d_real, d_fake) -> mean log d_real + mean log(1 - d_fake)`` (probabilities in;
    the two batches differ in size)."""
    gen = torch.Generator().manual_seed(3)
    batches = [
        ("D half sure, 4 real and 6 fake", torch.full((4,), 0.5, dtype=torch.float64),
         torch.full((6,), 0.5, dtype=torch.float64)),
        ("random batch of 8 and 6",
         torch.rand(8, generator=gen, dtype=torch.float64) * 0.9 + 0.05,
         torch.rand(6, generator=gen, dtype=torch.float64) * 0.9 + 0.05),
        ("a confident D, 3 real and 2 fake", torch.tensor([0.99, 0.95, 0.9], dtype=torch.float64),
         torch.tensor([0.02, 0.1], dtype=torch.float64)),
    ]

    def case(label, d_real, d_fake):
        args, before = _inputs(d_real=d_real, d_fake=d_fake)
        got = as_tensor(call(fn, *args.values(), shape_hint=(
            f"the batches have different sizes ({len(d_real)} real, {len(d_fake)} fake): average "
            "each term over its own batch, then add the two means")), label).reshape(-1)
        want = torch.log(d_real).mean() + torch.log(1 - d_fake).mean()
        expect(got.numel() == 1, f"{label}: expected one number, got {fmt(got)}",
               hint="average over each batch: V is an expectation")
        got = got[0]
        if close(got, want, rtol=1e-5, atol=1e-7):
            expect_unchanged(label, args, before)
            return
        lr_, lf = torch.log(d_real), torch.log(1 - d_fake)
        hint = "V = mean log D(x_real) + mean log(1 − D(G(z)))"
        if close(got, -want):
            hint = ("sign flipped: that is D's BCE loss, −V. V itself is what D maximises "
                    "(and G minimises)")
        elif close(got, lr_.mean() + torch.log(d_fake).mean()):
            hint = "the fake term is log(1 − D(G(z))), not log D(G(z)): D wants D(G(z)) → 0"
        elif close(got, torch.log(1 - d_real).mean() + torch.log(d_fake).mean()):
            hint = "the two batches are swapped: log D on the real batch, log(1 − D) on the fakes"
        elif close(got, lr_.sum() + lf.sum()):
            hint = "use means, not sums: the two batches can have different sizes"
        elif close(got, torch.cat([lr_, lf]).mean()):
            hint = "average each term over its own batch, then add the two means"
        elif close(got, want / math.log(2)):
            hint = "that is log base 2; V uses natural logs (torch.log)"
        raise Mismatch(f"{label}: expected {float(want):.6f}, got {fmt(got)}", hint)

    return run_exercise("value_function", fn, [lambda c=c: case(*c) for c in batches], quiet)


# --- 5. W1 between two histograms ----------------------------------------------------------

def _w1(h_p: torch.Tensor, h_q: torch.Tensor, dx: float) -> torch.Tensor:
    """``W1 = Σ_i |F_p(i) - F_q(i)| dx`` with ``F`` each histogram's cumulative share of its own
    total: ``theory.wasserstein1`` of the two histograms scaled to densities."""
    h_p, h_q = h_p.double(), h_q.double()
    return theory.wasserstein1(h_p / (h_p.sum() * dx), h_q / (h_q.sum() * dx), dx)


def _cdfs(h_p, h_q):
    p, q = h_p.double(), h_q.double()
    return p.cumsum(0) / p.sum(), q.cumsum(0) / q.sum()


def _floor_cdfs(h_p, h_q, dx):
    """What ``cumsum // total`` gives on integer counts (nan for float counts: no match)."""
    if h_p.is_floating_point() or h_q.is_floating_point():
        return torch.tensor(float("nan"))
    return (h_p.cumsum(0) // h_p.sum() - h_q.cumsum(0) // h_q.sum()).abs().sum().double() * dx


# (what the wrong W1 computes from (counts_p, counts_q, dx), the hint aimed at it)
_W1_MISTAKES = [
    (lambda p, q, dx: (p.double().cumsum(0) - q.double().cumsum(0)).abs().sum() * dx,
     "the counts are not normalised: divide each histogram's CDF by its own total, so that "
     "both end at 1 (F_p = cumsum(counts_p) / counts_p.sum())"),
    (lambda p, q, dx: theory.wasserstein1(p.double(), q.double(), dx),
     "theory.wasserstein1 takes densities: turn the counts into one first, counts / "
     "(counts.sum() * dx), or normalise the CDFs by the totals"),
    (lambda p, q, dx: (p.double().cumsum(0) - q.double().cumsum(0)).abs().sum() * dx / (p.sum() + q.sum()),
     "each histogram is normalised by its OWN total (the two samples have different sizes), "
     "not by the sum of both"),
    (lambda p, q, dx: (p.double().cumsum(0) - q.double().cumsum(0)).abs().sum() * dx / p.sum(),
     "each histogram is normalised by its own total: q's CDF must end at 1 too"),
    (lambda p, q, dx: (p.double().cumsum(0) - q.double().cumsum(0)).abs().sum() * dx / q.sum(),
     "each histogram is normalised by its own total: p's CDF must end at 1 too"),
    (_floor_cdfs, "integer counts with // (floor division) make every CDF value 0 until it "
                  "reaches 1: use / (true division) or convert to float first"),
    (lambda p, q, dx: (p / p.sum() - q / q.sum()).abs().sum() * dx,
     "that compares the histograms bin by bin; W1 compares the CDFs: cumsum first, then "
     "sum |F_p - F_q| dx"),
    (lambda p, q, dx: (p / p.sum() - q / q.sum()).abs().sum(),
     "that is the total-variation style sum |p - q| of the bins; W1 compares the CDFs: cumsum "
     "first, then sum |F_p - F_q| dx"),
    (lambda p, q, dx: _w1(p, q, dx) / dx, "multiply by dx: W1 is the integral of |F_p - F_q| over x"),
    (lambda p, q, dx: _w1(p, q, dx) * dx, "dx is in twice: the normalised cumulative counts are already "
                                          "the CDF, multiply their differences by dx once"),
    (lambda p, q, dx: (_cdfs(p, q)[0] - _cdfs(p, q)[1]).sum().abs() * dx,
     "take |F_p - F_q| bin by bin before summing: the signed sum cancels where the CDFs cross"),
    (lambda p, q, dx: (_cdfs(p, q)[0] - _cdfs(p, q)[1]).sum() * dx,
     "take |F_p - F_q| bin by bin before summing: the signed sum cancels where the CDFs cross"),
    (lambda p, q, dx: ((_cdfs(p, q)[0] - _cdfs(p, q)[1]) ** 2).sum() * dx,
     "that squares the CDF differences (the Cramér distance); W1 sums their absolute values"),
    (lambda p, q, dx: (((_cdfs(p, q)[0] - _cdfs(p, q)[1]) ** 2).sum() * dx).sqrt(),
     "that is the L2 distance of the CDFs; W1 sums their absolute differences"),
    (lambda p, q, dx: (_cdfs(p, q)[0] - _cdfs(p, q)[1]).abs().mean(),
     "that is the mean over the bins; W1 is the sum times dx"),
]


def wasserstein1_histograms(fn, quiet: bool = False):
    """``fn(counts_p, counts_q, dx) -> W1`` between two histograms on one grid of bins of
    width ``dx`` (counts of any totals; int64 or float):

        W1 = Σ_i |F_p(i) - F_q(i)| dx,   F_p(i) = Σ_{j <= i} counts_p[j] / Σ_j counts_p[j]

    (section 5's ``W1 = ∫ |F_p - F_q| dx``; a copy shifted by ``m`` bins is ``m dx`` away).
    The result is a tensor that autograd can differentiate with respect to the counts.
    """
    gen = torch.Generator().manual_seed(11)
    edges = torch.linspace(-4.0, 4.0, 81, dtype=torch.float64)  # dx = 0.1
    dx = 0.1

    def hist(samples):
        idx = torch.bucketize(samples.double().clamp(-3.999, 3.999), edges) - 1
        return torch.bincount(idx, minlength=80)  # int64 counts, as np.histogram / bincount give

    bump = torch.zeros(80, dtype=torch.float64)
    bump[20:31] = torch.tensor([1, 3, 6, 10, 14, 16, 14, 10, 6, 3, 1], dtype=torch.float64)
    wide, narrow = hist(1.5 * torch.randn(3000, generator=gen)), hist(0.5 * torch.randn(1000, generator=gen))
    box_p, box_q = torch.zeros(80, dtype=torch.float64), torch.zeros(80, dtype=torch.float64)
    box_p[5:15], box_q[45:55] = 2.0, 7.0
    smooth_p = 1 + 50 * torch.exp(-0.5 * ((edges[:-1] + 1.0) / 0.7) ** 2)
    smooth_q = 2 + 30 * torch.exp(-0.5 * ((edges[:-1] - 0.5) / 1.2) ** 2)
    cases = [
        ("a histogram and its copy shifted by 7 bins (W1 = 7 dx = 0.7)", bump, torch.roll(bump, 7), dx, False),
        ("500 samples of N(0, 1) against 1,500 of N(0.8, 0.7²) (int64 counts)",
         hist(torch.randn(500, generator=gen)), hist(0.8 + 0.7 * torch.randn(1500, generator=gen)), dx, False),
        ("same centre, widths 1.5 and 0.5 (the CDFs cross at 0)", wide, narrow, dx, False),
        ("disjoint boxes 4 apart with totals 20 and 70 (W1 = 4)", box_p, box_q, dx, False),
        ("two smooth float histograms, gradient with respect to the counts", smooth_p, smooth_q, dx, True),
    ]

    def answer(c):
        """The student's W1 on case ``c`` as a float64 number, None where it raised."""
        try:
            return as_tensor(fn(c[1].clone(), c[2].clone(), c[3]), c[0]).reshape(())
        except Exception:
            return None

    def case(label, h_p, h_q, dx, grad):
        args = {"counts_p": h_p.clone(), "counts_q": h_q.clone().requires_grad_(grad)}
        before = snapshot(**args)
        out = attempted(call(fn, *args.values(), dx, shape_hint="both histograms have shape (N,): "
                             "cumsum along dim 0"))
        got = as_tensor(out, label)
        expect(got.numel() == 1, f"{label}: expected one number, got {fmt(got)}",
               hint="sum |F_p - F_q| over the bins and multiply by dx")
        got = got.reshape(())
        want = _w1(h_p, h_q, dx)
        if not close(got, want, rtol=1e-5, atol=1e-7):
            hint = "W1 = Σ |F_p - F_q| dx with F_p = cumsum(counts_p) / counts_p.sum(), F_q likewise"
            if not torch.isfinite(got):
                hint = "the result is not finite: divide each CDF by its histogram's total, which is > 0"
            else:
                hint = name_the_mistake([c[1:4] for c in cases], [answer(c) for c in cases], _W1_MISTAKES,
                                        lambda a, b: close(a, b, rtol=1e-5, atol=1e-7),
                                        [c[0] for c in cases].index(label)) or hint
            raise Mismatch(f"{label}: expected {float(want):.6f}, got {fmt(got)}", hint)
        expect_unchanged(label, args, before)
        if grad:
            expect(isinstance(out, torch.Tensor) and out.requires_grad,
                   f"{label}: the value is right but W1 is not connected to the counts (no gradient)",
                   hint="compute with torch operations on the tensors (cumsum, abs, sum): .item(), "
                        "NumPy or float() cut the graph, and section 5 differentiates W1")
            (g,) = torch.autograd.grad(out.sum(), args["counts_q"])
            ref = h_q.clone().requires_grad_(True)
            (g_ref,) = torch.autograd.grad(_w1(h_p, ref, dx), ref)
            expect(close(g, g_ref, rtol=1e-4, atol=1e-9),
                   f"{label}: the gradient with respect to counts_q is {fmt(g)}, expected {fmt(g_ref)}",
                   hint="build W1 from the counts with differentiable torch operations; |.| is "
                        ".abs() (sqrt of a square has a nan gradient at 0)")

    return run_exercise("wasserstein1_histograms", fn, [lambda c=c: case(*c) for c in cases], quiet)


# --- 6, 7 and 8. the bilinear game min_x max_y x*y ----------------------------------------

_POINTS = [(1.0, 1.0, 0.1), (0.5, -2.0, 0.3), (-1.5, 0.25, 0.05)]


def _pair(out, label):
    out = attempted(out)
    expect(isinstance(out, (tuple, list)) and len(out) == 2,
           f"{label}: expected a pair (x_new, y_new), got {type(out).__name__}",
           hint="return x_new, y_new")
    return float(out[0]), float(out[1])


def simultaneous_step(fn, quiet: bool = False):
    """``fn(x, y, lr) -> (x - lr*y, y + lr*x)``: x descends x·y, y ascends it."""
    def case(x, y, lr):
        label = f"x={x}, y={y}, lr={lr}"
        got, want = _pair(fn(x, y, lr), label), theory.simultaneous_step(x, y, lr)
        if close(got, want):
            return
        hint = "dV/dx = y and dV/dy = x; x' = x − lr·y (descent), y' = y + lr·x (ascent)"
        if close(got, (x - lr * y, y - lr * x)):
            hint = "y descends instead of ascending: the max player moves *up* the gradient, y + lr·x"
        elif close(got, (x + lr * y, y + lr * x)):
            hint = "x ascends: the min player moves *down* the gradient, x − lr·y"
        elif close(got, theory.alternating_step(x, y, lr)):
            hint = "that is the alternating step (y sees the new x); simultaneous uses the old x"
        elif close(got, (x - lr * x, y + lr * y)):
            hint = "the gradient of x·y with respect to x is y (not x), and with respect to y is x"
        elif close(got, want[::-1]):
            hint = "the pair is in the wrong order: return (x_new, y_new)"
        raise Mismatch(f"{label}: expected ({want[0]:.6g}, {want[1]:.6g}), got ({got[0]:.6g}, {got[1]:.6g})",
                       hint)

    return run_exercise("simultaneous_step", fn, [lambda c=c: case(*c) for c in _POINTS], quiet)


def extragradient_step(fn, quiet: bool = False):
    """``fn(x, y, lr)``: look-ahead step, then step from (x, y) with the look-ahead gradients."""
    def case(x, y, lr):
        label = f"x={x}, y={y}, lr={lr}"
        got, want = _pair(fn(x, y, lr), label), theory.extragradient_step(x, y, lr)
        if close(got, want):
            return
        xh, yh = x - lr * y, y + lr * x
        xa, ya = theory.alternating_step(x, y, lr)
        hint = ("x_half = x − lr·y, y_half = y + lr·x; then x' = x − lr·y_half, "
                "y' = y + lr·x_half")
        if close(got, (xh - lr * yh, yh + lr * xh)):
            hint = ("you stepped from the look-ahead point (two simultaneous steps); the second "
                    "step starts again from the original (x, y)")
        elif close(got, (x - lr * yh, y - lr * xh)) or close(got, (x - lr * (y - lr * x), y - lr * xh)):
            hint = "y descends: the max player ascends, y + lr·(gradient at the look-ahead point)"
        elif close(got, (xh, yh)):
            hint = "that is only the look-ahead (a simultaneous step); take the second step too"
        elif close(got, (x - lr * ya, y + lr * xa)):
            hint = ("the look-ahead is a simultaneous step from (x, y): y_half = y + lr·x uses the "
                    "old x, not the new one")
        elif close(got, want[::-1]):
            hint = "the pair is in the wrong order: return (x_new, y_new)"
        raise Mismatch(f"{label}: expected ({want[0]:.6g}, {want[1]:.6g}), got ({got[0]:.6g}, {got[1]:.6g})",
                       hint)

    return run_exercise("extragradient_step", fn, [lambda c=c: case(*c) for c in _POINTS], quiet)


# The typical wrong invariants, with the hint aimed at each (any multiple of one matches).
_INVARIANT_MISTAKES = [
    (lambda x, y, a, b: x * x + y * y - a * x * y,
     "x² + y² − η·x·y is the invariant for ONE rate η (section 8); with two rates it drifts. "
     "Write Q = a x² + b y² + c xy, substitute x' = x − η_x y, y' = y + η_y x', and match the "
     "coefficients of Q(x', y') = Q(x, y)"),
    (lambda x, y, a, b: x * x + y * y - b * x * y,
     "x² + y² − η·x·y is the invariant for ONE rate η (section 8); with two rates it drifts. "
     "Write Q = a x² + b y² + c xy, substitute x' = x − η_x y, y' = y + η_y x', and match the "
     "coefficients of Q(x', y') = Q(x, y)"),
    (lambda x, y, a, b: x * x + y * y - a * b * x * y,
     "the cross term is right but x² and y² need weights too: with two rates Q = η_y x² + "
     "η_x y² − η_x η_y x y has them"),
    (lambda x, y, a, b: a * x * x + b * y * y - a * b * x * y,
     "the rates are swapped: x² goes with η_y and y² with η_x"),
    (lambda x, y, a, b: b * x * x + a * y * y + a * b * x * y,
     "the sign of the cross term: alternating steps conserve ... − η_x η_y x y"),
    (lambda x, y, a, b: x * x + y * y + a * x * y,
     "the sign of the cross term: alternating steps conserve ... − η x y"),
    (lambda x, y, a, b: x * x + y * y,
     "x² + y² is not conserved (it grows by 1 + η² per SIMULTANEOUS step and wobbles under "
     "alternating ones); the alternating steps keep a tilted ellipse, with an x·y term"),
    (lambda x, y, a, b: x * y,
     "V = x·y itself is not conserved; look for a quadratic a x² + b y² + c x y"),
]


def alternating_invariant(fn, quiet: bool = False):
    """``fn(x, y, lr_x, lr_y) -> Q``: a quantity that alternating steps
    ``x' = x - η_x y``, ``y' = y + η_y x'`` leave unchanged, and that is not a constant.

    Checked along 200 alternating steps (``theory.alternating_step``) from several starts and
    rate pairs with ``η_x η_y < 4``: ``Q`` stays within 1e-9 (relative) of its first value,
    and orbits of different sizes get different values. Any function of the invariant
    ``η_y x² + η_x y² - η_x η_y x y`` passes (it is defined up to such a function).
    """
    rates = [(0.2, 0.2), (0.1, 0.4), (0.5, 1.5), (1.0, 3.0), (0.05, 0.8)]
    starts = [(1.0, 1.0), (0.5, -2.0), (-1.5, 0.25)]

    def value(x, y, a, b, label):
        q = as_tensor(fn(x, y, a, b), label)
        expect(q.numel() == 1, f"{label}: expected one number, got {fmt(q)}", hint="return Q(x, y) as a number")
        return float(q)

    def case(lr_x, lr_y):
        for x0, y0 in starts:
            label = f"lr_x={lr_x}, lr_y={lr_y}, start ({x0}, {y0})"
            path = theory.trajectory(theory.alternating_step, x0, y0, lr_x, 200, lr_y=lr_y).tolist()
            qs = [value(x, y, lr_x, lr_y, label) for x, y in path]
            q0 = qs[0]
            drift = max(abs(q - q0) for q in qs)
            if not all(math.isfinite(q) for q in qs) or drift > 1e-9 * max(1.0, abs(q0)):
                hint = ("Q must take the same value at every point of an orbit: write Q = a x² + b y² + "
                        "c xy, substitute one alternating step and choose a, b, c so that Q(x', y') = "
                        "Q(x, y) for all x, y")
                pts = path[:6]
                for mistake, h in _INVARIANT_MISTAKES:
                    ref = [mistake(x, y, lr_x, lr_y) for x, y in pts]
                    got = [value(x, y, lr_x, lr_y, label) for x, y in pts]
                    k = got[0] / ref[0] if ref[0] else None
                    if k and all(abs(g - k * r) <= 1e-9 * (1 + abs(g)) for g, r in zip(got, ref)):
                        hint = h
                        break
                raise Mismatch(f"{label}: Q changes along the orbit: {q0:.6g} at the start, up to "
                               f"{drift:.3g} away after {len(qs) - 1} steps", hint)
        big = value(2 * starts[0][0], 2 * starts[0][1], lr_x, lr_y, "start (2, 2)")
        small = value(*starts[0], lr_x, lr_y, "start (1, 1)")
        expect(abs(big - small) > 1e-6 * max(1.0, abs(small)),
               f"lr_x={lr_x}, lr_y={lr_y}: Q is {small:.6g} on the orbit through (1, 1) and "
               f"{big:.6g} on the orbit through (2, 2)",
               hint="a constant is conserved by any dynamics and says nothing; Q must tell "
                    "orbits apart (it is quadratic in x and y)")

    return run_exercise("alternating_invariant", fn, [lambda r=r: case(*r) for r in rates], quiet)
