"""Reference solutions to the exercises of notebooks/06_dcgan_mnist.ipynb.

Each function has the name and signature of the notebook's stub; check one with
``from gan_course import check; check.slerp(slerp)``.
"""

import torch
from torch import nn


def upsample_block(c_in, c_out):
    """(B, c_in, H, W) -> (B, c_out, 2H, 2W): transposed conv, batch norm, ReLU.

    Kernel 4, stride 2, padding 1: (H - 1) * 2 - 2 * 1 + 4 = 2H. No bias in the convolution:
    batch norm's own bias replaces it.
    """
    return nn.Sequential(
        nn.ConvTranspose2d(c_in, c_out, kernel_size=4, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(),
    )


def dcgan_init(module):
    """In place: conv, transposed-conv and linear weights ~ N(0, 0.02), batch-norm weights
    ~ N(1, 0.02), every bias 0 (Radford et al. 2015). Returns the module."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return module


def slerp(z0, z1, t):
    """Spherical interpolation along the last dimension:

        cos w = <z0, z1> / (|z0| |z1|),
        slerp = sin((1 - t) w) / sin(w) * z0 + sin(t w) / sin(w) * z1,

    falling back to lerp where sin(w) ~ 0 (parallel codes).
    """
    cos = (z0 * z1).sum(-1, keepdim=True) / (z0.norm(dim=-1, keepdim=True) * z1.norm(dim=-1, keepdim=True))
    omega = torch.arccos(cos.clamp(-1.0, 1.0))
    so = torch.sin(omega)
    parallel = so < 1e-6
    so = torch.where(parallel, torch.ones_like(so), so)  # avoid 0/0; those rows use lerp
    arc = torch.sin((1 - t) * omega) / so * z0 + torch.sin(t * omega) / so * z1
    return torch.where(parallel, (1 - t) * z0 + t * z1, arc)


def nearest_neighbour(x, train):
    """For each image in x (M, 1, 28, 28): the Euclidean pixel distance to the nearest of
    train (N, 1, 28, 28) and its index, as (dist (M,), idx (M,)).

    All M x N squared distances from one matrix product, |a|^2 - 2 a.b + |b|^2; the squared
    norms of the queries stay a column (M, 1) so they broadcast along the training images,
    and rounding's tiny negatives are clamped to 0 before the square root.
    """
    a, b = x.flatten(1), train.flatten(1)                                # (M, 784), (N, 784)
    sq = (a * a).sum(1, keepdim=True) - 2 * a @ b.T + (b * b).sum(1)     # (M, N)
    dist, idx = sq.clamp(min=0).sqrt().min(dim=1)
    return dist, idx
