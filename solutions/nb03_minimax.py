"""Reference solutions of notebook 03's exercises (generative models and the minimax game).

Same names and signatures as the notebook's stubs; ``tests/test_check_minimax.py`` checks
that every checker passes on them.
"""

import torch
from torch.nn import functional as F


def optimal_discriminator(p_data, p_g):
    """D*(x) = p_data(x) / (p_data(x) + p_g(x)), elementwise."""
    return p_data / (p_data + p_g)


def jsd(p, q, dx):
    """JSD(p || q) = ½ KL(p || m) + ½ KL(q || m), m = (p + q)/2, in nats (0 · log 0 = 0)."""
    m = 0.5 * (p + q)
    kl_pm = (torch.xlogy(p, p) - torch.xlogy(p, m)).sum() * dx
    kl_qm = (torch.xlogy(q, q) - torch.xlogy(q, m)).sum() * dx
    return 0.5 * kl_pm + 0.5 * kl_qm


def value_function(d_real, d_fake):
    """V = mean log D(x_real) + mean log(1 - D(G(z))) from D's probabilities on two batches."""
    return torch.log(d_real).mean() + torch.log1p(-d_fake).mean()


def g_loss_nonsaturating(logits_fake):
    """loss_G = -mean log sigmoid(l) = mean softplus(-l), finite for any logit."""
    return -F.logsigmoid(logits_fake).mean()


def simultaneous_step(x, y, lr):
    """x descends V = x*y (dV/dx = y), y ascends it (dV/dy = x), both from the old point."""
    return x - lr * y, y + lr * x


def extragradient_step(x, y, lr):
    """Look ahead, then step from (x, y) with the gradients at the look-ahead point."""
    x_half, y_half = x - lr * y, y + lr * x
    return x - lr * y_half, y + lr * x_half
