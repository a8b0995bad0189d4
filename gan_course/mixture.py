"""Gaussian mixtures on digits, for notebook 11: the explicit density model of notebook 03,
scaled up, and the Parzen window that was once used to give GANs a likelihood.

:class:`PCAMixture` is notebook 03's Gaussian mixture fitted by EM, in the space of a digit's
first ``d`` principal components (on 784 pixels a full covariance per component would need
300k numbers and many more digits than 8,000). It has what a GAN lacks, an exact
log-likelihood (:meth:`PCAMixture.log_likelihood`, of the ``d`` coordinates), and samples
in one step: pick a component, draw from its Gaussian, map back to pixels. Called on ``z``
(B, d + 1) it is a generator like the others, so the scoreboard can score it.

:func:`parzen_log_likelihood` is a kernel density estimate: one Gaussian of width sigma on
each of a model's samples. Goodfellow et al. (2014) reported GANs' log-likelihoods this way,
for lack of anything better. Theis, van den Oord and Bethge (2016) showed why it misleads:
in 784 dimensions the estimate is far from the true log-likelihood even with millions of
samples, and it rewards blur: the :func:`kmeans` centroids of the training digits, averages
that look like no digit, score higher than real digits do. Notebook 11 measures that.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def pca(x: torch.Tensor, d: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Principal components of ``x`` (N, ...): ``(mean (D,), components (d, D), variances (D,))``,
    the components orthonormal rows, the variances every eigenvalue of the covariance, largest first."""
    flat = x.flatten(1).double()
    mean = flat.mean(0)
    _, s, vt = torch.linalg.svd(flat - mean, full_matrices=False)
    return mean, vt[:d], s.pow(2) / (len(flat) - 1)


def _log_gaussians(y: torch.Tensor, means: torch.Tensor, chols: torch.Tensor) -> torch.Tensor:
    """log N(y_n; mu_k, L_k L_k^T) for every n and k: (N, K)."""
    out = []
    for mu, chol in zip(means, chols):
        sol = torch.linalg.solve_triangular(chol, (y - mu).T, upper=False)  # L^-1 (y - mu): (d, N)
        log_det = 2 * torch.log(torch.diagonal(chol)).sum()
        out.append(-0.5 * (sol.pow(2).sum(0) + log_det + y.shape[1] * math.log(2 * math.pi)))
    return torch.stack(out, dim=1)


class PCAMixture(nn.Module):
    """A K-component, full-covariance Gaussian mixture on the first ``d`` PCA coordinates.

    Build it with :meth:`fit`. ``latent_dim`` is ``d + 1``: :meth:`forward` turns
    ``z ~ N(0, I)`` into a sample, the first coordinate choosing the component (through the
    normal CDF, so the choice has the mixture's weights) and the other ``d`` the point inside
    it (``mu_k + L_k z``); the sample is mapped back to pixels and clipped to [-1, 1].
    """

    def __init__(self, mean, components, weights, means, chols):
        super().__init__()
        for name, t in (("mean", mean), ("components", components), ("weights", weights),
                        ("means", means), ("chols", chols)):
            self.register_buffer(name, t.double())
        self.latent_dim = components.shape[0] + 1

    @classmethod
    def fit(cls, x: torch.Tensor, k: int = 20, d: int = 40, iters: int = 100, seed: int = 0,
            reg: float = 1e-3) -> tuple[PCAMixture, list[float]]:
        """EM on the PCA coordinates of ``x``, the means started at :func:`kmeans` centres.

        Returns the mixture and the mean training log-likelihood before each M-step (EM
        never lowers it). ``reg`` times the smallest kept PCA variance is added to each
        covariance's diagonal, so that a component shrinking onto a few digits cannot become
        singular (this makes the M-step a maximum only up to that small amount).
        Random starts can leave two components on one cluster, where EM, whose responsibilities
        are then split evenly, never separates them; k-means, whose assignments are hard, does.
        """
        mean, components, variances = pca(x, d)
        y = (x.flatten(1).double() - mean) @ components.T                   # (N, d)
        means = kmeans(y, k, seed=seed).double()
        eye = torch.eye(d, dtype=y.dtype) * reg * variances[d - 1]
        covs = torch.cov(y.T).expand(k, d, d).clone()
        weights = torch.full((k,), 1.0 / k, dtype=y.dtype)
        history = []
        for _ in range(iters):
            log_p = torch.log(weights) + _log_gaussians(y, means, torch.linalg.cholesky(covs))  # E-step
            history.append(float(torch.logsumexp(log_p, 1).mean()))
            r = torch.softmax(log_p, dim=1)                                   # responsibilities (N, K)
            n_k = r.sum(0)                                                    # M-step
            weights = n_k / len(y)
            means = (r.T @ y) / n_k[:, None]
            covs = torch.stack([((y - mu) * r[:, j, None]).T @ (y - mu) / n_k[j]
                                for j, mu in enumerate(means)]) + eye
        return cls(mean, components, weights, means, torch.linalg.cholesky(covs)), history

    def coordinates(self, x: torch.Tensor) -> torch.Tensor:
        """The PCA coordinates (N, d) of digits (N, 1, 28, 28)."""
        return (x.flatten(1).double() - self.mean) @ self.components.T

    def log_likelihood(self, x: torch.Tensor) -> torch.Tensor:
        """log p(y) per digit (N,), in nats, of the digits' ``d`` PCA coordinates ``y``."""
        y = self.coordinates(x)
        return torch.logsumexp(torch.log(self.weights) + _log_gaussians(y, self.means, self.chols), dim=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = z.double()
        u = torch.special.ndtr(z[:, 0]).clamp(0, 1 - 1e-12)                  # uniform in [0, 1)
        k = torch.searchsorted(torch.cumsum(self.weights, 0), u.contiguous(), right=True).clamp(max=len(self.weights) - 1)
        y = self.means[k] + (self.chols[k] @ z[:, 1:, None])[..., 0]          # (B, d)
        x = self.mean + y @ self.components                                    # (B, 784)
        return x.clamp(-1, 1).float().view(-1, 1, 28, 28)


def kmeans(x: torch.Tensor, k: int, iters: int = 20, seed: int = 0) -> torch.Tensor:
    """Lloyd's k-means on flattened ``x``: the ``k`` centroids, shaped like ``x``'s rows.

    Started from ``k`` random rows (seeded); a cluster that loses every member keeps its
    centroid.
    """
    flat = x.flatten(1)
    g = torch.Generator().manual_seed(seed)
    centres = flat[torch.randperm(len(flat), generator=g)[:k]].clone()
    for _ in range(iters):
        nearest = torch.cdist(flat, centres).argmin(1)
        sums = torch.zeros_like(centres).index_add_(0, nearest, flat)
        counts = torch.bincount(nearest, minlength=k).float()
        centres = torch.where(counts[:, None] > 0, sums / counts.clamp(min=1)[:, None], centres)
    return centres.view(k, *x.shape[1:])


def parzen_log_likelihood(centres: torch.Tensor, x: torch.Tensor, sigma: float,
                          batch_size: int = 500) -> torch.Tensor:
    """The Parzen-window estimate of log p(x) per row of ``x`` (N,), in nats:
    log (1/M) sum_m N(x; c_m, sigma^2 I) over the M ``centres``, in pixel space."""
    c = centres.flatten(1).double()
    dim = c.shape[1]
    out = []
    for i in range(0, len(x), batch_size):
        d2 = torch.cdist(x[i:i + batch_size].flatten(1).double(), c).pow(2)    # (b, M)
        out.append(torch.logsumexp(-d2 / (2 * sigma ** 2), dim=1))
    const = math.log(len(c)) + 0.5 * dim * math.log(2 * math.pi * sigma ** 2)
    return torch.cat(out) - const


def best_parzen_sigma(centres: torch.Tensor, x_val: torch.Tensor,
                      sigmas=(0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.7, 1.0)) -> float:
    """The kernel width that gives the validation digits the highest mean estimate
    (Goodfellow et al. 2014 chose sigma this way)."""
    scores = [float(parzen_log_likelihood(centres, x_val, s).mean()) for s in sigmas]
    return sigmas[max(range(len(sigmas)), key=scores.__getitem__)]
