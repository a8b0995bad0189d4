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


# Model answers to the exercises without a checker, keyed by exercise number.
MODEL_ANSWERS = {
    5: """\
Not measured for this answer (each run is a full training budget); what to expect, and why.
Adam's beta1 is the decay of its running mean of gradients. In a two-player game the
gradient direction keeps turning (notebook 03 section 8: gradient play circles the
equilibrium); with beta1 = 0.9 the momentum carries each player about ten steps along a
direction that is already out of date, which feeds the oscillation, while beta1 = 0.5
averages over about two steps. Radford et al. (2015) report that 0.9 gave oscillation and
instability and 0.5 stabilised training; expect a lower confident fraction and a larger
Frechet distance at equal time, or a run that collapses. Without dcgan_init_ the layers
keep PyTorch's default (Kaiming-uniform) weights, whose std is about 1/sqrt(3 fan_in):
measured on the course's models, 0.058 in G's first dense layer, 0.144 in G's last
transposed convolution and D's first convolution (fan_in 16), but 0.026 and 0.010 in the
wide middle layers, close to or below 0.02. So the default is not uniformly "too large";
the batch norm after most layers also rescales what they pass on, which is a reason to
expect this change to matter less than the betas (a guess to test, not a measurement). Run
both and read the confident fraction, the class
histogram and the Frechet distance together, with the same seed and time budget.
""",
    6: """\
Two images of the same digit can be far apart in pixels: shift it or change its stroke
width. Measured with a 1 from the held-out digits and the shipped judge: the same 1 moved 3
pixels to the right is 19.7 away in pixels, farther than the median distance from that 1 to
200 held-out 7s (18.8) and to 200 other 1s (15.4); thickened by a 3x3 max filter it is 13.1
away. In the judge's 64 features the shifted copy is 9.4 away and the thickened one 9.2,
against a median of 36.1 to the 7s and 15.0 to other 1s: the features put both copies next
to their original (the judge was trained with 2-pixel shifts, so it has learned to ignore
small translations). So feature distances are a better test of "same digit" than pixel
distances. What could go wrong: the judge only sees what it was trained to see. A generator
that copied a training digit and shifted or re-stroked it would look like a near neighbour
in features though it is new in pixels, and two different handwritings of a 1 map close
together too, so a small feature distance does not prove copying; and the features react
to changes that do not change the digit (the judge gives the thickened 1 only 0.62
probability of being a 1, the original 0.93, the shifted one 0.82). Use both: pixel distance
for exact copies, feature distance for near copies, and look at the pairs.
""",
}
