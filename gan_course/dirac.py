"""The Dirac-GAN (Mescheder, Geiger and Nowozin 2018): the smallest GAN, one parameter a player,
on which one can see which training methods converge and why (notebook 09).

The real data are a point mass at 0. The generator draws a point mass at ``theta``. The
discriminator is ``D(x) = psi * x``, a logit of "real" (for WGAN, a critic's score). The only
equilibrium is ``theta = psi = 0``: G on the data, and D that cannot tell them apart.

With the course's losses (real = 1, fake = 0, D's loss the BCE of its logits):

    loss_D(theta, psi) = softplus(-psi * 0) + softplus(psi * theta)
    loss_G = softplus(-psi * theta)     (non-saturating)    or    -softplus(psi * theta)   (saturating)

Each player descends its own loss. Its *field* is what one step of learning rate 1 adds to
``(theta, psi)``: ``(-d loss_G / d theta, -d loss_D / d psi)``, computed here with autograd.
Near the equilibrium the field is linear, ``v ~ J (theta, psi)``, and the eigenvalues of the
Jacobian ``J`` decide: real parts all negative, and small enough gradient steps converge; real
parts 0, and the players circle the equilibrium forever (continuous time) or spiral away from
it (simultaneous gradient steps). For the plain GAN

    J = [[0, 1/2], [-1/2, 0]],    eigenvalues +-i/2    (the 1/2 is sigma(0))

for either generator loss: no convergence. The methods (``METHODS``):

- ``"saturating"``, ``"nonsaturating"``: the plain GAN, eigenvalues ``+-i/2``. The
  linearisation cannot tell the two losses apart; the trajectories do (from (1, 1), learning
  rate 0.1, 1,000 steps): with the saturating loss, simultaneous steps spiral *out* (distance
  from the equilibrium 1.41 -> 2.76) and alternating ones circle (1.38 to 1.41 all along); the
  non-saturating loss creeps *in*, its higher-order terms damping the circling, but only about
  like 1 / sqrt(time) (alternating: 0.58, 0.43, 0.35, 0.31, 0.28 after 200 ... 1,000 steps);
- ``"wgan"``: ``loss_D = D(fake) - D(real) = psi * theta``, ``loss_G = -psi * theta``, and psi
  clipped to ``[-clip, clip]`` after each of D's steps (WGAN's weight clipping); eigenvalues
  ``+-i``, and clipping only caps the circling (after the first 250 steps the distance stays
  between 1.00 and 1.14 with simultaneous steps, 0.97 and 1.02 with alternating ones);
- ``"wgan-gp"``: WGAN with ``gp_weight * (|d D / d x| - 1)^2 = gp_weight * (|psi| - 1)^2`` added
  to D's loss. The penalty pulls |psi| to 1, not 0, so the field has no zero at the
  equilibrium (its psi component jumps by ``4 gp_weight`` across ``psi = 0``) and no Jacobian
  there; it is zero instead at ``theta = +-2 gp_weight``, ``psi -> 0``: with gp_weight 1 every
  start tried ((1, 1), (-1, 1), (0.5, -0.5), (3, 0.5)) ended with G stopped at theta = +-2,
  away from the data;
- ``"r1"``: the non-saturating GAN with R1, ``gamma / 2 * |d D / d x|^2`` at the real data,
  ``gamma / 2 * psi^2``: ``J = [[0, 1/2], [-1/2, -gamma]]``, eigenvalues
  ``(-gamma +- sqrt(gamma^2 - 1)) / 2``, real parts negative: it converges, fast (distance
  1e-9 after 500 steps with gamma 1);
- ``"instance-noise"``: the non-saturating GAN with N(0, noise_std^2) noise added to every image
  D sees, real and fake: ``J = [[0, 1/2], [-1/2, -noise_std^2 / 2]]``, it converges (distance
  6e-6 after 500 steps with noise_std 1). The expectations over the noise are Gauss-Hermite
  sums (40 nodes), exact for the Jacobian.

Everything is in float64 on the CPU: a step costs well under a millisecond (instance noise: 0.4 ms).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

METHODS = ("saturating", "nonsaturating", "wgan", "wgan-gp", "r1", "instance-noise")
DEFAULTS = {"clip": 1.0, "gp_weight": 1.0, "gamma": 1.0, "noise_std": 1.0}
_nodes, _weights = np.polynomial.hermite_e.hermegauss(40)      # E[f(e)], e ~ N(0, 1)
NODES = torch.tensor(_nodes, dtype=torch.float64)
WEIGHTS = torch.tensor(_weights / _weights.sum(), dtype=torch.float64)


def _params(method: str, params: dict) -> dict:
    if method not in METHODS:
        raise ValueError(f"unknown Dirac-GAN method {method!r}; choose one of {', '.join(METHODS)}")
    unknown = set(params) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown parameter(s) {sorted(unknown)}; the methods take {sorted(DEFAULTS)}")
    return {**DEFAULTS, **params}


def losses(theta: torch.Tensor, psi: torch.Tensor, method: str, **params) -> tuple[torch.Tensor, torch.Tensor]:
    """``(loss_G, loss_D)`` of the Dirac-GAN at ``(theta, psi)`` for ``method`` (see the module
    docstring; ``params``: ``clip``, ``gp_weight``, ``gamma``, ``noise_std``)."""
    p = _params(method, params)
    real, fake = torch.zeros_like(theta), theta
    if method == "instance-noise":  # every image D sees gets noise: expectations by quadrature
        e = p["noise_std"] * NODES
        loss_d = (WEIGHTS * (F.softplus(-psi * (real + e)) + F.softplus(psi * (fake + e)))).sum()
        return (WEIGHTS * F.softplus(-psi * (fake + e))).sum(), loss_d
    if method in ("wgan", "wgan-gp"):
        loss_d = psi * fake - psi * real
        if method == "wgan-gp":  # |dD/dx| = |psi| at every interpolate
            loss_d = loss_d + p["gp_weight"] * (psi.abs() - 1) ** 2
        return -psi * fake, loss_d
    loss_d = F.softplus(-psi * real) + F.softplus(psi * fake)
    if method == "r1":  # dD/dx = psi at the real data
        loss_d = loss_d + p["gamma"] / 2 * psi ** 2
    loss_g = -F.softplus(psi * fake) if method == "saturating" else F.softplus(-psi * fake)
    return loss_g, loss_d


def field(theta, psi, method: str, **params) -> torch.Tensor:
    """``(-d loss_G / d theta, -d loss_D / d psi)`` at ``(theta, psi)``: where one gradient step
    of learning rate 1 moves each player (a float64 tensor of shape (2,)). Differentiable in
    ``theta`` and ``psi`` when they require gradients (:func:`jacobian` uses that)."""
    theta, psi = (torch.as_tensor(t, dtype=torch.float64) for t in (theta, psi))
    theta, psi = (t if t.requires_grad else t.clone().requires_grad_(True) for t in (theta, psi))
    loss_g, loss_d = losses(theta, psi, method, **params)
    (g_theta,) = torch.autograd.grad(loss_g, theta, create_graph=True)
    (g_psi,) = torch.autograd.grad(loss_d, psi, create_graph=True)
    return -torch.stack([g_theta, g_psi])


def jacobian(method: str, at: tuple[float, float] = (0.0, 0.0), **params) -> torch.Tensor:
    """The 2 x 2 Jacobian of :func:`field` at ``at`` (rows: the field's theta and psi components;
    columns: d/d theta, d/d psi). WGAN-GP has none at the equilibrium: its field jumps there."""
    if method == "wgan-gp" and at[1] == 0:
        raise ValueError("WGAN-GP's field is discontinuous at psi = 0 (the penalty pulls |psi| to 1): "
                         "it has no Jacobian there, and no zero; look at its trajectory instead")
    _params(method, params)
    return torch.autograd.functional.jacobian(
        lambda v: field(v[0], v[1], method, **params), torch.tensor(at, dtype=torch.float64))


def eigenvalues(method: str, **params) -> torch.Tensor:
    """The eigenvalues (complex, shape (2,)) of the field's Jacobian at the equilibrium (0, 0)."""
    return torch.linalg.eigvals(jacobian(method, **params))


def trajectory(method: str, start: tuple[float, float] = (1.0, 1.0), lr: float = 0.1,
               steps: int = 500, alternating: bool = False, **params) -> torch.Tensor:
    """The players' path under gradient descent: ``(steps + 1, 2)`` rows of ``(theta, psi)``.

    Simultaneous: both players step on the field at the current point. Alternating: D steps
    first, then G on the field at D's new ``psi`` (the course's training loop). WGAN clips
    ``psi`` to ``[-clip, clip]`` after D's step.
    """
    if not (lr > 0 and steps >= 0):
        raise ValueError(f"need lr > 0 and steps >= 0, got lr={lr}, steps={steps}")
    p = _params(method, params)
    theta, psi = float(start[0]), float(start[1])
    path = [(theta, psi)]
    for _ in range(steps):
        v = field(theta, psi, method, **params).detach()
        new_psi = psi + lr * float(v[1])
        if method == "wgan":
            new_psi = min(max(new_psi, -p["clip"]), p["clip"])
        if alternating:
            v = field(theta, new_psi, method, **params).detach()
        theta, psi = theta + lr * float(v[0]), new_psi
        path.append((theta, psi))
    return torch.tensor(path, dtype=torch.float64)


__all__ = ["METHODS", "DEFAULTS", "losses", "field", "jacobian", "eigenvalues", "trajectory"]
