"""The GAN losses, each with its formula. D always returns logits ``l``; ``D(x) = sigmoid(l)``.

Labels: real = 1, fake = 0. Every loss is written with ``F.logsigmoid`` or
``binary_cross_entropy_with_logits``, which never take ``log(0)``: with
``log sigmoid(l) = -softplus(-l)`` and ``log(1 - sigmoid(l)) = -softplus(l)``, a very
confident D (``|l|`` of 100) gives a finite loss and a finite gradient.

All losses are means over the batch and are *minimised*: D minimises ``d_loss_*``, G
minimises ``g_loss_*``.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch.nn import functional as F


def d_loss_bce(logits_real: torch.Tensor, logits_fake: torch.Tensor,
               real_target: float = 1.0, fake_target: float = 0.0) -> torch.Tensor:
    """Discriminator loss: binary cross-entropy with real = 1 and fake = 0.

        loss_D = -mean_i log D(x_i) - mean_j log(1 - D(G(z_j)))
               = BCE(l_real, 1) + BCE(l_fake, 0)

    This is the negative of the value function V(D, G) estimated on one batch, so minimising
    it is D's gradient *ascent* on V.

    One-sided label smoothing (Salimans et al. 2016): ``real_target=0.9`` replaces the real
    target 1 by 0.9, ``-mean[0.9 log D(x) + 0.1 log(1 - D(x))]``, and the fake target stays 0.
    ``fake_target=0.1`` as well makes it two-sided, which that paper advises against: the
    best D becomes ``(a p_data + b p_g) / (p_data + p_g)`` for targets ``a`` (real) and
    ``b`` (fake), so with ``b > 0`` fakes where there are no data still keep some credit
    and G is not pushed away from them.
    """
    if not 0.0 < real_target <= 1.0:
        raise ValueError(f"real_target must be in (0, 1] (1 = plain labels, 0.9 = one-sided "
                         f"smoothing), got {real_target}")
    if not 0.0 <= fake_target < real_target:
        raise ValueError(f"fake_target must be in [0, real_target) (0 = plain labels, 0.1 = "
                         f"two-sided smoothing), got {fake_target}")
    loss_real = F.binary_cross_entropy_with_logits(logits_real, torch.full_like(logits_real, real_target))
    loss_fake = F.binary_cross_entropy_with_logits(logits_fake, torch.full_like(logits_fake, fake_target))
    return loss_real + loss_fake


def g_loss_nonsaturating(logits_fake: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss (Goodfellow et al. 2014, section 3):

        loss_G = -mean_j log D(G(z_j)) = BCE(l_fake, 1) = mean_j softplus(-l_j)

    Its gradient with respect to the logit is ``-(1 - D(G(z)))``: large exactly when D
    confidently rejects the fakes, which is at the start of training.
    """
    return F.binary_cross_entropy_with_logits(logits_fake, torch.ones_like(logits_fake))


def g_loss_saturating(logits_fake: torch.Tensor) -> torch.Tensor:
    """The saturating (minimax) generator loss, the term of V(D, G) that G controls:

        loss_G = mean_j log(1 - D(G(z_j))) = -BCE(l_fake, 0) = -mean_j softplus(l_j)

    G minimises it. Its gradient with respect to the logit is ``-D(G(z))``, which vanishes
    when D confidently rejects the fakes (D(G(z)) ~ 0): G stalls at the start of training.
    """
    return -F.binary_cross_entropy_with_logits(logits_fake, torch.zeros_like(logits_fake))


def d_loss_hinge(scores_real: torch.Tensor, scores_fake: torch.Tensor) -> torch.Tensor:
    """Hinge loss for D (Lim & Ye 2017; Miyato et al. 2018, with spectral normalisation):

        loss_D = mean_i relu(1 - D(x_i)) + mean_j relu(1 + D(G(z_j)))

    D's raw scores are pushed past a margin, above +1 for real and below -1 for fake, and a
    sample already beyond its margin adds neither loss nor gradient.
    """
    return F.relu(1 - scores_real).mean() + F.relu(1 + scores_fake).mean()


def g_loss_hinge(scores_fake: torch.Tensor) -> torch.Tensor:
    """G's loss with the hinge D: ``loss_G = -mean_j D(G(z_j))`` (raise D's score of fakes)."""
    return -scores_fake.mean()


def d_loss_least_squares(scores_real: torch.Tensor, scores_fake: torch.Tensor) -> torch.Tensor:
    """Least-squares D (LSGAN, Mao et al. 2017, with their 0-1 coding a = 0, b = c = 1): D
    regresses its raw score onto 1 for real and 0 for fake,

        loss_D = 1/2 mean_i (D(x_i) - 1)^2 + 1/2 mean_j D(G(z_j))^2

    Unlike the sigmoid of BCE, the square does not flatten out: fakes that D already scores
    as real, but far from the target, still give G a gradient proportional to the distance.
    """
    return 0.5 * ((scores_real - 1) ** 2).mean() + 0.5 * (scores_fake ** 2).mean()


def g_loss_least_squares(scores_fake: torch.Tensor) -> torch.Tensor:
    """LSGAN's G loss (c = 1): ``loss_G = 1/2 mean_j (D(G(z_j)) - 1)^2``."""
    return 0.5 * ((scores_fake - 1) ** 2).mean()


def wgan_critic_loss(scores_real: torch.Tensor, scores_fake: torch.Tensor) -> torch.Tensor:
    """WGAN critic loss (Arjovsky et al. 2017): the critic's scores are not probabilities.

        loss_C = mean_j C(G(z_j)) - mean_i C(x_i)

    Minimising it maximises the estimate ``mean C(x) - mean C(G(z))`` of the Wasserstein-1
    distance, which is valid only for a (K-)Lipschitz critic: WGAN clips every weight of the
    critic into ``[-c, c]`` after each of its steps (``training.clip_weights_``), WGAN-GP
    adds :func:`gradient_penalty` instead.
    """
    return scores_fake.mean() - scores_real.mean()


def wgan_g_loss(scores_fake: torch.Tensor) -> torch.Tensor:
    """WGAN generator loss: ``loss_G = -mean_j C(G(z_j))`` (raise the critic's score of fakes)."""
    return -scores_fake.mean()


def gradient_penalty(D: Callable[[torch.Tensor], torch.Tensor], x_real: torch.Tensor,
                     x_fake: torch.Tensor, weight: float = 10.0,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """WGAN-GP's penalty (Gulrajani et al. 2017, eq. 3):

        x_hat = eps * x_real + (1 - eps) * x_fake,   eps ~ U[0, 1], one per sample
        GP    = weight * mean_i (||grad_x C(x_hat_i)||_2 - 1)^2

    The gradient is taken with ``create_graph=True`` so that the penalty itself can be
    back-propagated into the critic's weights. ``x_fake`` is detached: the penalty trains
    the critic only. ``generator`` makes ``eps`` reproducible (training passes its own).
    """
    if x_real.shape != x_fake.shape:
        raise ValueError(f"x_real {tuple(x_real.shape)} and x_fake {tuple(x_fake.shape)} must have the same shape.")
    eps_shape = (x_real.shape[0],) + (1,) * (x_real.dim() - 1)  # broadcast over pixels
    # drawn where the generator lives (the training loop's is on the CPU), then moved
    eps = torch.rand(eps_shape, dtype=x_real.dtype, generator=generator,
                     device=generator.device if generator is not None else x_real.device).to(x_real.device)
    x_hat = (eps * x_real.detach() + (1 - eps) * x_fake.detach()).requires_grad_(True)
    scores = D(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    grad_norm = grad.flatten(1).norm(2, dim=1)
    return weight * ((grad_norm - 1) ** 2).mean()


def r1_penalty(logits_real: torch.Tensor, x_real: torch.Tensor, weight: float) -> torch.Tensor:
    """R1 regularisation (Mescheder et al. 2018, eq. 9): D's gradient on the real images,

        R1 = weight / 2 * mean_i ||grad_x D(x_i)||_2^2,     weight = gamma

    with ``D`` the logit (the score before any sigmoid). It pushes D towards zero slope on
    the data, where the game's equilibrium has it, and stops D's steepness on real images
    from growing without end. ``logits_real`` must come from ``x_real`` with
    ``x_real.requires_grad``: the penalty reuses D's forward pass (as the paper's code does),
    and through any augmentation between them the gradient is still taken at ``x_real``.
    ``create_graph=True``, so the penalty itself is back-propagated into D's weights.

    The factor: the paper writes gamma / 2, as here (and StyleGAN2); the paper's code adds
    ``reg_param * mean ||grad||^2`` with ``reg_param = 10`` by default, which is gamma = 20 here.
    """
    (grad,) = torch.autograd.grad(logits_real.sum(), x_real, create_graph=True)
    return weight / 2 * grad.flatten(1).pow(2).sum(1).mean()


# name -> (D's loss, G's loss); the training loop looks losses up here.
LOSSES: dict[str, tuple[Callable, Callable]] = {
    "nonsaturating": (d_loss_bce, g_loss_nonsaturating),
    "saturating": (d_loss_bce, g_loss_saturating),
    "wgan-gp": (wgan_critic_loss, wgan_g_loss),
    "wgan": (wgan_critic_loss, wgan_g_loss),  # with weight clipping (training.clip_weights_)
    "hinge": (d_loss_hinge, g_loss_hinge),
    "least-squares": (d_loss_least_squares, g_loss_least_squares),
}
# the losses whose D output is a logit of "real": they take label targets (smoothing), and
# their D(x) is recorded as sigmoid(logit); the others' outputs are raw scores
BCE_LOSSES = ("nonsaturating", "saturating")


def get_losses(name: str) -> tuple[Callable, Callable]:
    """``(d_loss, g_loss)`` for a loss name in :data:`LOSSES`, with a clear error otherwise."""
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; choose one of {sorted(LOSSES)}.") from None


def d_output(logits: torch.Tensor, loss: str) -> torch.Tensor:
    """D's mean output as training records it: the probability ``mean sigmoid(l)`` for the
    BCE losses, the mean raw score for the others (a critic's, hinge's or least squares'
    score is not the logit of a probability)."""
    return torch.sigmoid(logits).mean() if loss in BCE_LOSSES else logits.mean()


def generator_field(D: Callable[[torch.Tensor], torch.Tensor], x_fake: torch.Tensor,
                    loss: str = "nonsaturating") -> torch.Tensor:
    """G's gradient field at the points ``x_fake`` (B, ...): one arrow per point,

        v_i = -d ell(x_i) / d x_i = -B * d loss_G / d x_i,    loss_G = mean_i ell(x_i)

    with ``ell`` the per-sample generator loss: the direction (and size) in which G's descent
    step moves that generated point. Each arrow is the point's *own* gradient, so it does not
    shrink when more points are drawn. With ``l_i = D(x_i)`` the logit and ``s = sigmoid``:

        non-saturating, -log s(l):    v_i = (1 - s(l_i)) grad_x l_i
        saturating, log(1 - s(l)):    v_i = s(l_i) grad_x l_i
        WGAN, hinge, -C(x):           v_i = grad_x C(x_i)
        least squares, (l - 1)^2 / 2: v_i = (1 - l_i) grad_x l_i

    Only ``x_fake`` is differentiated (``torch.autograd.grad``): D's weights get no ``.grad``
    and nothing is stepped. The result is detached, on ``x_fake``'s device and dtype.
    """
    _, g_loss = get_losses(loss)
    x = x_fake.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(g_loss(D(x)) * len(x), x)
    return -grad


__all__ = ["d_loss_bce", "g_loss_nonsaturating", "g_loss_saturating", "d_loss_hinge", "g_loss_hinge",
           "d_loss_least_squares", "g_loss_least_squares", "wgan_critic_loss", "wgan_g_loss",
           "gradient_penalty", "r1_penalty", "LOSSES", "BCE_LOSSES", "get_losses", "d_output",
           "generator_field"]
