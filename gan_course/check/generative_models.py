"""Checkers for notebook 11 (GANs among generative models): three pieces of the other
families, written by hand.

- :func:`gaussian_kl`: the VAE's ``KL(N(mu, diag(exp(logvar))) || N(0, I)) = 1/2 sum_j
  (mu_j^2 + exp(logvar_j) - 1 - logvar_j)``, one value per row. Typical mistakes: the 1/2
  left out, ``logvar`` taken for the variance or the standard deviation (or the log of the
  standard deviation), the -1 left out, a mean over the latent dimensions, the sign
  flipped, one number for the whole batch, a Python number (``.item()``) or a tensor
  without a graph.
- :func:`gumbel_softmax_sample`: ``softmax((logits + g) / tau)`` over the last dimension
  with ``g = -log(-log u)`` from the given uniforms. Typical mistakes: the wrong noise
  (``-log u``, ``log u``, ``log(-log u)``, none), the temperature multiplied, or applied to
  the logits only, the softmax over another dimension, the hard one-hot argmax (no
  gradient), ``log_softmax``, ``F.gumbel_softmax`` (its own noise).
- :func:`reinforce_loss`: the score-function surrogate ``-mean((r - b) * log p(x))`` with
  the reward and the baseline held constant. Typical mistakes: the sign flipped (G would
  *lower* its reward), the baseline added or left out, the reward not detached (a gradient
  into D), a sum, probabilities instead of log-probabilities.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from gan_course.check.core import (Mismatch, attempted, call, close, expect, expect_unchanged, fmt,
                                   hint_for, run_exercise, scalar_loss, snapshot)


def _call(fn, *args, shape_hint: str, what: str):
    """:func:`call`, and ``.item()`` on a tensor of many elements named as the mistake it is."""
    try:
        return call(fn, *args, shape_hint=shape_hint)
    except RuntimeError as e:
        if "converted to Scalar" in str(e) or "only one element tensors" in str(e):
            raise Mismatch(f"your function raised RuntimeError: {e}",
                           hint=f"return {what} as a tensor, not a Python number: .item() (or float()) "
                                "works on one number only, and it cuts the graph that backward() needs") from None
        raise


def _draw(seed: int, *shape, scale: float = 1.0, shift: float = 0.0, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(*shape, generator=g, dtype=dtype) + shift


# ---------------------------------------------------------------------------------------
# 1. the VAE's KL term
# ---------------------------------------------------------------------------------------

def _kl(mu, logvar):
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(-1)


KL_MISTAKES = [
    (lambda m, lv: -_kl(m, lv),
     "the sign is flipped: a KL divergence is >= 0. Kingma and Welling write it "
     "-1/2 sum(1 + logvar - mu^2 - exp(logvar)): mind the minus in front"),
    (lambda m, lv: 2 * _kl(m, lv),
     "twice the reference: the 1/2 in front is missing, 1/2 sum_j (mu_j^2 + exp(logvar_j) - 1 - logvar_j)"),
    (lambda m, lv: 0.5 * (m.pow(2) + lv - 1 - torch.log(lv)).sum(-1),
     "logvar is the *log* of the variance: the variance is exp(logvar) and log(variance) is "
     "logvar itself (you used logvar as the variance)"),
    (lambda m, lv: 0.5 * (m.pow(2) + lv.pow(2) - 1 - torch.log(lv.pow(2))).sum(-1),
     "logvar is the log of the variance, not the standard deviation: the variance is "
     "exp(logvar), not logvar ** 2"),
    (lambda m, lv: 0.5 * (m.pow(2) + (2 * lv).exp() - 1 - 2 * lv).sum(-1),
     "that treats logvar as the log of the standard deviation (variance exp(2 logvar)); "
     "it is the log of the variance: variance exp(logvar), log variance logvar"),
    (lambda m, lv: 0.5 * (m.pow(2) + lv.exp().pow(2) - 1 - lv).sum(-1),
     "exp(logvar) is already the variance: do not square it"),
    (lambda m, lv: 0.5 * (m.pow(2) + lv.exp() - lv).sum(-1),
     "the -1 is missing: 1/2 sum_j (mu_j^2 + exp(logvar_j) - 1 - logvar_j); without it the KL of "
     "N(0, I) to itself would be d/2, not 0"),
    (lambda m, lv: 0.5 * (m.pow(2) + lv.exp() - 1 - lv).mean(-1),
     "a mean over the latent dimensions: the KL of a diagonal Gaussian is the *sum* of one "
     "term per dimension (.sum(dim=-1))"),
    (lambda m, lv: 0.5 * (m + lv.exp() - 1 - lv).sum(-1),
     "mu must be squared: mu_j^2 (mu.pow(2))"),
]


def gaussian_kl(fn, quiet: bool = False):
    """Check ``fn(mu, logvar) -> kl``: ``KL(N(mu, diag(exp(logvar))) || N(0, I))`` for each
    row, a tensor of shape (B,) with a graph back to ``mu`` and ``logvar``. Cases: a batch of
    5 with 3 latent dimensions, the standard normal itself (KL 0), a batch of 2 with 7
    dimensions and very small and large variances, a batch of one."""
    cases = [("a batch of 5, 3 latent dims", 0, 5, 3, 1.0), ("mu = 0, logvar = 0: N(0, I) itself", None, 4, 6, 0.0),
             ("a batch of 2, 7 latent dims, logvar spread wide (std 3)", 2, 2, 7, 3.0),
             ("a batch of one row, 4 latent dims", 3, 1, 4, 1.0)]

    def case(label, seed, batch, dims, spread):
        if seed is None:
            mu, logvar = torch.zeros(batch, dims, dtype=torch.float64), torch.zeros(batch, dims, dtype=torch.float64)
        else:
            mu, logvar = _draw(seed, batch, dims), _draw(seed + 50, batch, dims, scale=spread)
        mu, logvar = mu.requires_grad_(True), logvar.requires_grad_(True)
        leaves = {"mu": mu, "logvar": logvar}
        before = snapshot(**leaves)
        out = attempted(_call(fn, mu, logvar, what="the KL of each row",
                              shape_hint=f"mu and logvar have shape (B, d) = ({batch}, {dims}); work "
                                         "elementwise, then sum over the latent dimension: .sum(dim=-1)"))
        expect_unchanged(label, leaves, before)
        want = _kl(mu.detach(), logvar.detach())
        expect(isinstance(out, torch.Tensor),
               f"{label}: expected a tensor of shape ({batch},), got {type(out).__name__}",
               hint="return the tensor itself, one KL per row, not a Python number (.item()) or a "
                    "NumPy array: the VAE's loss back-propagates through it into the encoder")
        got = out.detach()
        if tuple(got.shape) != (batch,):
            total = got.double().reshape(-1)
            is_sum = got.numel() == 1 and close(total[0], want.sum(), rtol=1e-5)
            if is_sum or (got.numel() == 1 and close(total[0], want.mean(), rtol=1e-5)):
                hint = (f"one number for the whole batch ({'sum' if is_sum else 'mean'} over the rows): "
                        f"return one KL per row, shape ({batch},); sum over the latent dimension only, "
                        ".sum(dim=-1). The loss averages over the batch later")
            elif tuple(got.shape) == (dims,):
                hint = (f"shape ({dims},) is one value per latent dimension: you summed over the batch "
                        f"(dim=0); sum over the latent dimension, dim=-1, for one KL per row, shape ({batch},)")
            elif tuple(got.shape) == (batch, 1):
                hint = (f"the KL of each row is one number: sum over the latent dimension with "
                        f".sum(dim=-1) (no keepdim), giving shape ({batch},)")
            elif tuple(got.shape) == (batch, dims):
                hint = (f"that is one term per latent dimension: the KL of a row is their sum over "
                        f"the latent dimension, .sum(dim=-1), giving shape ({batch},)")
            else:
                hint = f"one KL per row: shape ({batch},), the sum over the latent dimension (dim=-1)"
            raise Mismatch(f"{label}: expected shape ({batch},), got {tuple(got.shape)}", hint=hint)
        if not close(got, want, rtol=1e-5, atol=1e-7):
            hint = hint_for(got, KL_MISTAKES, (mu.detach(), logvar.detach()),
                               "KL = 1/2 sum_j (mu_j^2 + exp(logvar_j) - 1 - logvar_j), summed over the "
                               "latent dimension, one value per row")
            raise Mismatch(f"{label}: expected {fmt(want)}, got {fmt(got)}", hint=hint)
        no_graph = ("compute it from mu and logvar with torch operations (no .item(), .detach(), "
                    "NumPy or torch.no_grad()), so that the encoder learns from the KL")
        expect(out.requires_grad, f"{label}: the KL carries no graph back to mu and logvar", hint=no_graph)
        w = torch.linspace(0.5, 1.5, batch, dtype=torch.float64)   # weigh the rows differently
        g_mu, g_lv = torch.autograd.grad((out.double() * w).sum(), (mu, logvar), allow_unused=True)
        want_mu, want_lv = w[:, None] * mu.detach(), w[:, None] * 0.5 * (logvar.detach().exp() - 1)
        for g, wg, name in ((g_mu, want_mu, "mu"), (g_lv, want_lv, "logvar")):
            expect(g is not None and close(g, wg, rtol=1e-5, atol=1e-8),
                   f"{label}: the gradient with respect to {name} is {fmt(g) if g is not None else 'None'}, "
                   f"expected {fmt(wg)}", hint=no_graph)

    return run_exercise("gaussian_kl", fn, [lambda c=c: case(*c) for c in cases], quiet)


# ---------------------------------------------------------------------------------------
# 2. the Gumbel-softmax sample
# ---------------------------------------------------------------------------------------

def _gumbel(l, tau, u):
    return torch.softmax((l - torch.log(-torch.log(u))) / tau, dim=-1)


GUMBEL_MISTAKES = [
    (lambda l, tau, u: F.one_hot((l - torch.log(-torch.log(u))).argmax(-1), l.shape[-1]).to(l.dtype),
     "that is the hard sample, the one-hot argmax(logits + g): the Gumbel-max trick, exact but "
     "with no gradient. The relaxation replaces the argmax by softmax((logits + g) / tau)"),
    (lambda l, tau, u: torch.softmax((l - torch.log(u)) / tau, dim=-1),
     "the noise is -log(u), an exponential variable; the Gumbel noise is g = -log(-log u): "
     "two logs"),
    (lambda l, tau, u: torch.softmax((l + torch.log(u)) / tau, dim=-1),
     "the noise is log(u); the Gumbel noise is g = -log(-log u): two logs and a minus in front of each"),
    (lambda l, tau, u: torch.softmax((l + torch.log(-torch.log(u))) / tau, dim=-1),
     "the noise has the wrong sign: g = -log(-log u), added to the logits"),
    (lambda l, tau, u: torch.softmax(l / tau, dim=-1),
     "no noise: softmax(logits / tau) is the same for every draw. Add g = -log(-log u) to the "
     "logits before dividing by tau"),
    (lambda l, tau, u: torch.softmax((l - torch.log(-torch.log(u))) * tau, dim=-1),
     "the temperature multiplies: divide by it, softmax((logits + g) / tau); a low tau must "
     "make the sample nearly one-hot"),
    (lambda l, tau, u: torch.softmax(l / tau - torch.log(-torch.log(u)), dim=-1),
     "tau divides the logits only: divide the sum, (logits + g) / tau, noise included"),
    (lambda l, tau, u: torch.log_softmax((l - torch.log(-torch.log(u))) / tau, dim=-1),
     "that is log_softmax: the sample is a point of the simplex, softmax, whose entries are "
     ">= 0 and sum to 1"),
    (lambda l, tau, u: torch.softmax((l - torch.log(-torch.log(u))) / tau, dim=0),
     "the softmax runs over dim 0, the batch: run it over the last dimension (dim=-1), the "
     "categories of each token"),
    (lambda l, tau, u: torch.softmax((l - torch.log(-torch.log(u))) / tau, dim=1),
     "the softmax runs over dim 1: with logits of shape (B, L, V) that is the positions; run "
     "it over the last dimension (dim=-1), the categories"),
]


def gumbel_softmax_sample(fn, quiet: bool = False):
    """Check ``fn(logits, tau, u) -> y``: ``softmax((logits + g) / tau)`` over the last
    dimension with ``g = -log(-log u)``, for uniforms ``u`` of the logits' shape, and its
    gradient with respect to the logits. Cases: (4, 5) logits at tau 1, (3, 6) at tau 0.5,
    (2, 3, 4) (a batch of strings) at tau 2, (5, 3) at tau 0.1 (nearly one-hot)."""
    cases = [("logits (4, 5), tau = 1", 0, (4, 5), 1.0), ("logits (3, 6), tau = 0.5", 1, (3, 6), 0.5),
             ("logits (2, 3, 4): 2 strings of 3 tokens, tau = 2", 2, (2, 3, 4), 2.0),
             ("logits (5, 3), tau = 0.1", 3, (5, 3), 0.1)]

    def case(label, seed, shape, tau):
        logits = _draw(seed, *shape, scale=1.5, dtype=torch.float32).requires_grad_(True)
        g = torch.Generator().manual_seed(seed + 100)
        u = torch.rand(*shape, generator=g).clamp(1e-4, 1 - 1e-4)
        leaves = {"logits": logits, "u": u}
        before = snapshot(**leaves)
        out = attempted(_call(fn, logits, tau, u, what="the relaxed sample",
                              shape_hint="u has the logits' shape: add the noise elementwise and take "
                                         "the softmax over the last dimension (dim=-1)"))
        expect_unchanged(label, leaves, before)
        expect(isinstance(out, torch.Tensor), f"{label}: expected a tensor, got {type(out).__name__}",
               hint="return the tensor softmax((logits + g) / tau)")
        expect(tuple(out.shape) == shape, f"{label}: expected shape {shape}, got {tuple(out.shape)}",
               hint="the sample has the logits' shape: one probability vector per token")
        want = _gumbel(logits.detach(), tau, u)
        got = out.detach()
        if not close(got, want, rtol=1e-4, atol=1e-6):
            hint = hint_for(got, GUMBEL_MISTAKES, (logits.detach(), tau, u),
                               "y = softmax((logits + g) / tau) over the last dimension, with g = "
                               "-log(-log u) from the u given (F.gumbel_softmax draws noise of its own)",
                               rtol=1e-4)
            raise Mismatch(f"{label}: expected {fmt(want)}, got {fmt(got)}", hint=hint)
        no_grad = ("the relaxation exists for its gradient: compute it from the logits with torch "
                   "operations (no argmax, .detach(), .item() or torch.no_grad())")
        expect(out.requires_grad, f"{label}: the sample carries no graph back to the logits", hint=no_grad)
        w = torch.linspace(-1.0, 2.0, want.numel()).view(shape)   # any weighting of the entries
        (grad,) = torch.autograd.grad((out * w).sum(), logits, allow_unused=True)
        ref = logits.detach().clone().requires_grad_(True)
        (want_grad,) = torch.autograd.grad((_gumbel(ref, tau, u) * w).sum(), ref)
        expect(grad is not None and close(grad, want_grad, rtol=1e-3, atol=1e-5),
               f"{label}: the gradient with respect to the logits is "
               f"{fmt(grad) if grad is not None else 'None'}, expected {fmt(want_grad)}",
               hint="right values, wrong gradient: a straight-through trick (y_hard - y.detach() + y) "
                    "or a detach changes it; return softmax((logits + g) / tau) itself")

    return run_exercise("gumbel_softmax_sample", fn, [lambda c=c: case(*c) for c in cases], quiet)


# ---------------------------------------------------------------------------------------
# 3. the score-function (REINFORCE) loss
# ---------------------------------------------------------------------------------------

def _reinforce(lp, r, b):
    return -((r - b) * lp).mean()


REINFORCE_MISTAKES = [
    (lambda lp, r, b: -_reinforce(lp, r, b),
     "the sign is flipped (or reward and baseline swapped, b - r): G *minimises* the "
     "surrogate -mean((r - b) log p(x)), so that descending it raises the log-probability of "
     "strings with a better-than-expected reward. With the opposite sign G would learn to "
     "lower its reward"),
    (lambda lp, r, b: -((r + b) * lp).mean(),
     "the baseline is added: subtract it, (r - b). The baseline is the reward one expects, "
     "so only a better-than-expected string gets pushed up"),
    (lambda lp, r, b: -(r * lp).mean(),
     "the baseline is left out: use (r - b). Without it the estimate is still unbiased, but "
     "much noisier (every string is pushed up when all rewards are positive, down when negative)"),
    (lambda lp, r, b: -((r - b) * lp).sum(),
     "a sum over the batch: take the mean, so the step does not grow with the batch size"),
    (lambda lp, r, b: -((r - b) * lp.exp()).mean(),
     "that multiplies by the probabilities p(x): the score function is the gradient of "
     "log p(x), so multiply by the log-probabilities themselves"),
]


def reinforce_loss(fn, quiet: bool = False):
    """Check ``fn(log_probs, rewards, baseline) -> loss``: ``-mean((rewards - baseline) *
    log_probs)``, a 0-d tensor whose gradient with respect to ``log_probs`` is
    ``-(rewards - baseline) / B``, with no gradient into ``rewards`` (D's verdict) or the
    baseline. Cases: a baseline as a Python number, as a 0-d tensor, a baseline of 0, and
    rewards that require grad, as D's output does."""
    cases = [("6 strings, baseline 0.5", 0, 6, 0.5), ("4 strings, baseline a tensor -1.2", 1, 4, "tensor"),
             ("5 strings, baseline 0", 2, 5, 0.0), ("8 strings, baseline a tensor that requires grad", 3, 8, "grad")]

    def case(label, seed, batch, baseline):
        log_probs = (-_draw(seed, batch).abs() * 3 - 0.5).requires_grad_(True)   # log p < 0
        rewards = _draw(seed + 20, batch, shift=-0.7).requires_grad_(True)       # D's verdicts, with a graph
        if baseline == "tensor":
            baseline = torch.tensor(-1.2, dtype=torch.float64)
        elif baseline == "grad":
            baseline = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
        leaves = {"log_probs": log_probs, "rewards": rewards}
        if isinstance(baseline, torch.Tensor):
            leaves["baseline"] = baseline
        before = snapshot(**leaves)
        out = attempted(_call(fn, log_probs, rewards, baseline, what="the loss",
                              shape_hint="log_probs and rewards both have shape (B,): multiply them elementwise"))
        expect_unchanged(label, leaves, before)
        loss = scalar_loss(out, "the loss")
        b = float(baseline.detach()) if isinstance(baseline, torch.Tensor) else float(baseline)
        want = float(_reinforce(log_probs.detach(), rewards.detach(), b))
        got = float(loss.detach())
        if abs(got - want) > 1e-6 * max(1.0, abs(want)):
            hint = hint_for(torch.tensor(got, dtype=torch.float64), REINFORCE_MISTAKES,
                               (log_probs.detach(), rewards.detach(), b),
                               "the surrogate is -mean((rewards - baseline) * log_probs)", rtol=1e-6)
            raise Mismatch(f"{label}: expected {want:.6g}, got {got:.6g}", hint=hint)
        targets = [t for t in (log_probs, rewards, baseline) if isinstance(t, torch.Tensor) and t.requires_grad]
        grads = torch.autograd.grad(loss, targets, allow_unused=True) if loss.requires_grad else [None] * len(targets)
        g_lp, g_r = grads[0], grads[1]
        want_lp = -(rewards.detach() - b) / batch
        expect(g_lp is not None and close(g_lp, want_lp, rtol=1e-5, atol=1e-9),
               f"{label}: the gradient with respect to log_probs is "
               f"{fmt(g_lp) if g_lp is not None else 'None'}, expected {fmt(want_lp)}",
               hint="the loss must be differentiable in log_probs, the only path to G's weights: no "
                    ".detach() on the log-probabilities, no .item(), no torch.no_grad()")
        detach_hint = ("the reward is D's verdict, a number G is scored with, not something to "
                       "differentiate: detach it, (rewards - baseline).detach(). Else backward() sends "
                       "a gradient into D through the reward (and the baseline), and the estimate is "
                       "no longer the score function's")
        expect(g_r is None or float(g_r.abs().max()) == 0.0,
               f"{label}: a gradient flows into the rewards ({fmt(g_r) if g_r is not None else ''})", hint=detach_hint)
        if len(grads) > 2:
            g_b = grads[2]
            expect(g_b is None or float(g_b.abs().max()) == 0.0,
                   f"{label}: a gradient flows into the baseline ({fmt(g_b) if g_b is not None else ''})",
                   hint=detach_hint)

    return run_exercise("reinforce_loss", fn, [lambda c=c: case(*c) for c in cases], quiet)
