"""Reference solutions of notebook 03's exercises (generative models and the minimax game).

Same names and signatures as the notebook's stubs; ``tests/test_exercises.py`` checks that
every checker passes on them. ``MODEL_ANSWERS`` holds the model answers of the thinking
exercises, keyed by exercise number.
"""

import math

import torch


def em_step(x, counts, w, mu, sd):
    """One EM iteration for a 1-D Gaussian mixture on a histogram (counts[n] samples at x[n]).

    E-step, in logs so that a far bin cannot underflow every density to 0 (0/0 = nan):

        log r_nk = log π_k + log N(x_n; μ_k, σ_k²) - logsumexp_j(log π_j + log N(x_n; μ_j, σ_j²))

    M-step, every sum over n weighted by the count c_n:

        N_k = Σ_n c_n r_nk,   π_k = N_k / Σ_n c_n,   μ_k = Σ_n c_n r_nk x_n / N_k,
        σ_k² = Σ_n c_n r_nk (x_n - μ_k)² / N_k     (around the new μ_k)
    """
    x, c = x[:, None], counts.to(x.dtype)[:, None]                          # (N, 1)
    log_p = torch.log(w) - torch.log(sd * math.sqrt(2 * math.pi)) - 0.5 * ((x - mu) / sd) ** 2  # (N, K)
    r = torch.exp(log_p - torch.logsumexp(log_p, dim=1, keepdim=True))     # rows sum to 1
    rc = r * c
    n_k = rc.sum(0)
    mu_new = (rc * x).sum(0) / n_k
    var = (rc * (x - mu_new) ** 2).sum(0) / n_k
    return n_k / c.sum(), mu_new, var.sqrt()


def optimal_discriminator(p_data, p_g):
    """D*(x) = p_data(x) / (p_data(x) + p_g(x)), elementwise; ½ where both densities are 0
    (any value is optimal there, section 3). The inner where keeps 0/0 out of the division."""
    total = p_data + p_g
    return torch.where(total > 0, p_data / torch.where(total > 0, total, 1.0), 0.5)


def jsd(p, q, dx):
    """JSD(p || q) = ½ KL(p || m) + ½ KL(q || m), m = (p + q)/2, in nats (0 · log 0 = 0)."""
    m = 0.5 * (p + q)
    kl_pm = (torch.xlogy(p, p) - torch.xlogy(p, m)).sum() * dx
    kl_qm = (torch.xlogy(q, q) - torch.xlogy(q, m)).sum() * dx
    return 0.5 * kl_pm + 0.5 * kl_qm


def value_function(d_real, d_fake):
    """V = mean log D(x_real) + mean log(1 - D(G(z))) from D's probabilities on two batches."""
    return torch.log(d_real).mean() + torch.log1p(-d_fake).mean()


def wasserstein1_histograms(counts_p, counts_q, dx):
    """W1 = Σ_i |F_p(i) - F_q(i)| dx, each CDF the running share of its own histogram's total.

    Normalising by each total makes histograms of different sample sizes comparable; the
    result stays a tensor connected to the counts (section 5 differentiates W1).
    """
    cdf_p = counts_p.cumsum(0) / counts_p.sum()
    cdf_q = counts_q.cumsum(0) / counts_q.sum()
    return (cdf_p - cdf_q).abs().sum() * dx


def simultaneous_step(x, y, lr):
    """x descends V = x*y (dV/dx = y), y ascends it (dV/dy = x), both from the old point."""
    return x - lr * y, y + lr * x


def extragradient_step(x, y, lr):
    """Look ahead, then step from (x, y) with the gradients at the look-ahead point."""
    x_half, y_half = x - lr * y, y + lr * x
    return x - lr * y_half, y + lr * x_half


def alternating_invariant(x, y, lr_x, lr_y):
    """Q = η_y x² + η_x y² - η_x η_y x y, conserved by x' = x - η_x y, y' = y + η_y x'.

    Derivation: with y' = y + η_y x', the y-terms give η_x y'² - η_x η_y x' y' = η_x y' (y' - η_y x')
    = η_x y' y = η_x y² + η_x η_y x' y; with x' + η_x y = x, the x-terms then give
    η_y x'² + η_x η_y x' y = η_y x' (x' + η_x y) = η_y x' x = η_y x² - η_x η_y x y. Their sum
    is Q(x, y). For η_x = η_y = η it is η (x² + y² - η x y), section 8's invariant times η.

    Q is a positive-definite quadratic form (its level sets are ellipses, so the orbit is
    bounded) exactly when (η_x η_y)² < 4 η_x η_y, i.e. η_x η_y < 4: the same threshold as the
    spectral radius table of section 8. At η_x η_y > 4 the level sets are hyperbolas and the
    iterates run off along them.
    """
    return lr_y * x * x + lr_x * y * y - lr_x * lr_y * x * y


MODEL_ANSWERS = {
    8: """\
Measured on section 2's grid (x from -15 to 15, dx = 0.005), best centred Gaussian N(0, sd²)
(sd in steps of 0.025) against the best one on a mode N(m, sd²): m = 2.00: 0.2010 against
0.2157 (covering wins); m = 2.10: 0.2131 against 0.2158; m = 2.15: 0.2190 against 0.2158
(one mode wins). The switch lies between m = 2.10 and 2.15, just past the course's data.

It is sudden because there are two separate local minima, one covering and one on a mode,
and the best fit jumps from one to the other when their values cross: the covering fit's
JSD rises steadily with m (its Gaussian must stretch over more empty space between the
modes), while the one-mode fit's stays put. Nothing in between is any good.

Closed form for the one-mode fit, when the two modes A and B of p_data = A/2 + B/2 do not
overlap and p_g = A: the mixture is M = (p_data + p_g)/2 = 3A/4 + B/4, so
KL(p_data || M) = 1/2 log((1/2)/(3/4)) + 1/2 log((1/2)/(1/4)) = 1/2 log(4/3) and
KL(p_g || M) = log(1 / (3/4)) = log(4/3); JSD = (1/2)(1/2 + 1) log(4/3) = 3/4 log(4/3) =
0.21576, whatever m is, which is the 0.2158 the search finds. For GANs: a generator that
drops a mode pays a fixed price under the JSD, however far away the dropped mode lies.
""",

    9: """\
Measured with the notebook's early_run and cfg.head_start = 20 (one CPU thread): after 20
D steps D(G(z)) at step 1 is 0.519, against 0.0044 after 300 steps, so D barely tells G's
samples apart yet. The non-saturating / saturating gradient ratio at step 1 is 0.93, and
(1 - D)/D = 0.93 too (with the head start of 300: 217 and 226). Per fake the two gradients
at the logit are -(1 - sigma(l)) and -sigma(l); G's gradient norm is a batch sum of such
terms weighted by each fake's sigma(l_j), so its ratio equals (1 - D)/D for the batch mean D
when D(G(z)) is about the same for every fake, as here (a fresh D, G's samples close
together). With D near 1/2 the two losses hand G the same gradient, and the saturating
loss does not stall: after 60 steps both runs sit at D(G(z)) = 0.17 (saturating 0.166,
non-saturating 0.172) with G's mean output at 0.22 and 0.31. The stall needs a confident D.
""",
}
