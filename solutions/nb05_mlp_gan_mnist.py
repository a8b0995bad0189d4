"""Reference solutions for the exercises of notebook 05 (an MLP GAN on MNIST).

Each function has the name of the notebook's stub; ``gan_course.check.<name>(fn)`` passes
on every one of them (tests/test_check_training_loop.py runs them).
"""

import torch
import torch.nn.functional as F


def scale_images(x_uint8):
    """uint8 pixels 0..255 -> float in [-1, 1]: 0 (background) -> -1, 255 (ink) -> +1."""
    return x_uint8.float() / 127.5 - 1


def d_loss_from_logits(logits_real, logits_fake):
    """loss_D = BCE(l_real, 1) + BCE(l_fake, 0) = mean softplus(-l_real) + mean softplus(l_fake)."""
    loss_real = F.binary_cross_entropy_with_logits(logits_real, torch.ones_like(logits_real))
    loss_fake = F.binary_cross_entropy_with_logits(logits_fake, torch.zeros_like(logits_fake))
    return loss_real + loss_fake


def d_step_by_hand(G, D, opt_d, x_real, z):
    """One update of D; G's weights get no gradient (detach)."""
    x_fake = G(z).detach()
    loss_d = d_loss_from_logits(D(x_real), D(x_fake))
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    return loss_d.detach()


def g_step_by_hand(G, D, opt_g, z):
    """One update of G with the non-saturating loss -mean log D(G(z)) = BCE(D(G(z)), 1)."""
    logits_fake = D(G(z))
    loss_g = F.binary_cross_entropy_with_logits(logits_fake, torch.ones_like(logits_fake))
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    return loss_g.detach()
