"""Reference solutions for the exercises of notebook 02 (backpropagation).

Each function has the name of the notebook's stub; ``gan_course.check.<name>(fn)`` passes
on every one of them (tests/test_check_backprop.py runs them).
"""

import torch
import torch.nn.functional as F


def sigmoid_bce_grad(logits, y):
    """dL/dl for L = mean_i BCE(sigmoid(l_i), y_i): (sigmoid(l) - y) / N."""
    return (torch.sigmoid(logits) - y) / logits.numel()


def linear_backward(x, W, grad_out):
    """Gradients of out = x @ W.T + b given grad_out = dL/dout.

    grad_x = grad_out @ W           (B, n_in)
    grad_W = grad_out.T @ x         (n_out, n_in)
    grad_b = grad_out.sum(0)        (n_out,)   b is shared by every sample
    """
    return grad_out @ W, grad_out.T @ x, grad_out.sum(0)


def numerical_gradient(f, x, eps=1e-5):
    """Central differences: grad[i] = (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)."""
    grad = torch.zeros_like(x)
    flat_x, flat_g = x.view(-1), grad.view(-1)  # views: writing flat_x[i] writes x
    for i in range(flat_x.numel()):
        old = flat_x[i].item()
        flat_x[i] = old + eps
        f_plus = float(f(x))
        flat_x[i] = old - eps
        f_minus = float(f(x))
        flat_x[i] = old  # put x back before the next entry
        flat_g[i] = (f_plus - f_minus) / (2 * eps)
    return grad


def generator_step_loss(D, x_fake):
    """Non-saturating G loss: -mean log D(G(z)) = BCE(D(x_fake), 1); x_fake NOT detached."""
    logits_fake = D(x_fake)
    return F.binary_cross_entropy_with_logits(logits_fake, torch.ones_like(logits_fake))


def discriminator_step_loss(D, x_real, x_fake):
    """D loss: BCE(D(x_real), 1) + BCE(D(x_fake.detach()), 0); the detach keeps G out of it."""
    logits_real = D(x_real)
    logits_fake = D(x_fake.detach())
    return (F.binary_cross_entropy_with_logits(logits_real, torch.ones_like(logits_real))
            + F.binary_cross_entropy_with_logits(logits_fake, torch.zeros_like(logits_fake)))
