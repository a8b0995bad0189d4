"""Reference solutions of notebook 04's exercises (a GAN on 2-D data)."""

import math

import torch
import torch.nn.functional as F


def sample_ring(n, k, radius, std):
    """n points of k equal-weight Gaussians centred at radius * (cos 2 pi j/k, sin 2 pi j/k)."""
    j = torch.randint(k, (n,))                      # each sample's mode, uniform over k
    angle = 2 * math.pi * j / k                     # evenly spaced, starting at angle 0
    centers = radius * torch.stack([angle.cos(), angle.sin()], dim=1)
    return centers + std * torch.randn(n, 2)        # std is a standard deviation


def count_modes(samples, centers, radius, min_hits=1):
    """Modes that are the nearest center of at least min_hits samples lying within radius."""
    dist, idx = torch.cdist(samples, centers).min(dim=1)
    hits = torch.bincount(idx[dist <= radius], minlength=len(centers))
    return int((hits >= min_hits).sum())


def generator_field(D, x):
    """v_i = -d/dx_i [-log sigmoid(D(x_i))]: per-sample arrows of the non-saturating loss."""
    x = x.detach().clone().requires_grad_(True)
    loss = F.softplus(-D(x)).sum()                  # -log sigmoid(l) = softplus(-l), summed
    (grad,) = torch.autograd.grad(loss, x)          # autograd.grad: D's weights get no .grad
    return -grad


def diagnose_runs():
    """Run A: D(G(z)) ~ 1/2 but few modes, changing: mode collapse. Run B: D(G(z)) and G's
    gradient start near 0: the saturating stall. Run C: all modes, kept: healthy."""
    return {"A": "mode collapse", "B": "saturating stall", "C": "healthy"}
