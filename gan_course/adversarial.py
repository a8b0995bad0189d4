"""Images optimised against one network: how every metric built on that network is gamed.

The judge's metrics (confident fraction, class entropy, the Inception-score analogue, the
Fréchet distance of its features) are differentiable functions of the pixels, so gradient
descent *on the pixels* can drive any of them to its best value without making digits:

- :func:`fool_confidence`: each image made to be called its target class with certainty,
  minimising the cross-entropy -log p(target | x);
- :func:`match_features`: a set of images whose judge features have the held-out digits'
  mean and covariance, minimising the Fréchet distance itself.

Both optimise u with Adam and return x = tanh(u), so the images stay in [-1, 1] like a
generator's. They start from a near-blank page with faint noise, u = -2 + 0.3 e (e ~ N(0,
1), x about -0.96): on pure noise the shipped judge has learnt to switch every feature off
(outlier exposure, :mod:`gan_course.judge`), and with all ReLUs off there is no gradient.
The shipped judge resists a little: from that start it is pushed to certainty for eight classes
but not to a 6 or a 7 (measured with 100 images, 60 to 300 steps; its outlier training leaves
those images in a region where it stays unsure). What they make are images the judge scores as
excellent; a second network trained
independently, or a person, shows what they are.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gan_course.models import eval_mode


def _start(n: int, seed: int, device) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (-2.0 + 0.3 * torch.randn(n, 1, 28, 28, generator=g)).to(device).requires_grad_(True)


def fool_confidence(judge: torch.nn.Module, targets: torch.Tensor, steps: int = 150,
                    lr: float = 0.05, seed: int = 0) -> torch.Tensor:
    """Images (len(targets), 1, 28, 28) in [-1, 1] that ``judge`` calls ``targets`` with near
    certainty: minimise (1/n) sum_i -log softmax(judge(tanh(u_i)))[target_i] over the pixels u
    by Adam (``steps`` steps of rate ``lr``). The judge's weights are not changed."""
    device = next(judge.parameters()).device
    targets = torch.as_tensor(targets, dtype=torch.int64).to(device)
    u = _start(len(targets), seed, device)
    opt = torch.optim.Adam([u], lr=lr)
    with eval_mode(judge), torch.enable_grad():
        for _ in range(steps):
            loss = F.cross_entropy(judge(torch.tanh(u)), targets)
            (grad,) = torch.autograd.grad(loss, [u])  # the pixels' gradient only, none in the judge
            opt.zero_grad(set_to_none=True)
            u.grad = grad
            opt.step()
    return torch.tanh(u).detach().cpu()


def match_features(judge: torch.nn.Module, mu: torch.Tensor, cov: torch.Tensor, n: int = 200,
                   steps: int = 250, lr: float = 0.05, seed: int = 0) -> torch.Tensor:
    """``n`` images whose ``judge.features`` fit N(``mu``, ``cov``) (e.g. the held-out digits'
    statistics): minimise FD(N(mu, S), N(mu_x, S_x)) over the pixels, mu_x and S_x being the
    mean and covariance (1/(n-1)) of the n images' features, by Adam. Returns them on the CPU."""
    from gan_course.metrics import frechet_distance_tensor

    device = next(judge.parameters()).device
    mu, cov = torch.as_tensor(mu).double().to(device), torch.as_tensor(cov).double().to(device)
    u = _start(n, seed, device)
    opt = torch.optim.Adam([u], lr=lr)
    with eval_mode(judge), torch.enable_grad():
        for _ in range(steps):
            f = judge.features(torch.tanh(u)).double()
            centred = f - f.mean(dim=0)
            fd = frechet_distance_tensor(mu, cov, f.mean(dim=0), centred.T @ centred / (n - 1), floor=1e-10)
            (grad,) = torch.autograd.grad(fd, [u])
            opt.zero_grad(set_to_none=True)
            u.grad = grad
            opt.step()
    return torch.tanh(u).detach().cpu()
