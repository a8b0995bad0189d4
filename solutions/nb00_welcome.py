"""Reference solutions to the exercises of notebooks/00_welcome.ipynb.

Each function has the name and signature of the notebook's stub; check one with
``from gan_course import check; check.to_pixels(to_pixels)``.
"""

import torch
import torch.nn.functional as F


def to_pixels(x):
    """Images in [-1, 1] -> uint8 pixels 0..255: round((x + 1) * 127.5), clipped."""
    return ((x + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)


def discriminator_loss(logits_real, logits_fake):
    """-[mean log sigmoid(l_real) + mean log(1 - sigmoid(l_fake))], real = 1, fake = 0.

    log(1 - sigmoid(l)) = log sigmoid(-l); F.logsigmoid never takes log(0).
    """
    return -(F.logsigmoid(logits_real).mean() + F.logsigmoid(-logits_fake).mean())
