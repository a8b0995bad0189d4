"""The Gaussian mixture of notebook 11 (EM in a PCA space), k-means and the Parzen window,
each against a direct computation."""

import torch
from torch.distributions import MultivariateNormal

from gan_course import mixture as M
from gan_course.metrics import sample_generator


def _two_blobs(n=400, seed=0):
    """Two 28x28 'digits' plus small noise, half of the rows each: (N, 1, 28, 28), labels."""
    g = torch.Generator().manual_seed(seed)
    a, b = torch.full((784,), -0.5), torch.full((784,), 0.5)
    b[:392] = -0.5
    label = torch.arange(n) % 2
    x = torch.where(label[:, None] == 0, a, b) + 0.05 * torch.randn(n, 784, generator=g)
    return x.view(n, 1, 28, 28), label


def test_pca_components_are_orthonormal_and_variances_sorted():
    x, _ = _two_blobs()
    mean, comps, var = M.pca(x, 5)
    assert torch.allclose(comps @ comps.T, torch.eye(5, dtype=comps.dtype), atol=1e-8)
    assert torch.all(var[:-1] >= var[1:] - 1e-12)
    assert torch.allclose(mean, x.flatten(1).double().mean(0))


def test_em_never_lowers_the_likelihood_and_finds_the_two_blobs():
    x, label = _two_blobs()
    gmm, history = M.PCAMixture.fit(x, k=2, d=3, iters=30, seed=0)
    assert all(b >= a - 1e-9 for a, b in zip(history, history[1:]))
    assert torch.allclose(gmm.weights, torch.tensor([0.5, 0.5], dtype=torch.float64), atol=1e-6)
    # each component's mean, mapped back to pixels, is one blob's centre
    centres = gmm.mean + gmm.means @ gmm.components
    truth = torch.stack([x.flatten(1)[label == c].mean(0) for c in (0, 1)]).double()
    assert torch.cdist(centres, truth).min(1).values.max() < 0.1
    assert set(torch.cdist(centres, truth).argmin(1).tolist()) == {0, 1}


def test_log_likelihood_matches_torch_distributions():
    x, _ = _two_blobs()
    gmm, _ = M.PCAMixture.fit(x, k=3, d=4, iters=10, seed=1)
    y = gmm.coordinates(x[:7])
    comps = [MultivariateNormal(m, scale_tril=c) for m, c in zip(gmm.means, gmm.chols)]
    want = torch.logsumexp(torch.stack([w.log() + c.log_prob(y) for w, c in zip(gmm.weights, comps)]), 0)
    assert torch.allclose(gmm.log_likelihood(x[:7]), want, atol=1e-8)


def test_sampling_picks_components_with_their_weights():
    x, _ = _two_blobs()
    gmm, _ = M.PCAMixture.fit(x, k=2, d=3, iters=20, seed=0)
    gmm.weights.copy_(torch.tensor([0.8, 0.2], dtype=torch.float64))
    s = sample_generator(gmm, 4000, seed=0)
    assert s.shape == (4000, 1, 28, 28) and float(s.abs().max()) <= 1
    centres = (gmm.mean + gmm.means @ gmm.components).float()
    nearest = torch.cdist(s.flatten(1), centres).argmin(1)
    assert abs(float((nearest == 0).float().mean()) - 0.8) < 0.03


def test_kmeans_finds_separated_clusters():
    x, label = _two_blobs()
    c = M.kmeans(x, 2, iters=10, seed=0).flatten(1)
    truth = torch.stack([x.flatten(1)[label == k].mean(0) for k in (0, 1)])
    assert torch.cdist(c, truth).min(1).values.max() < 1e-4


def test_parzen_with_one_centre_is_a_gaussian_density():
    c = torch.zeros(1, 4)
    x = torch.tensor([[0.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 2.0]])
    want = MultivariateNormal(torch.zeros(4), 0.25 * torch.eye(4)).log_prob(x).double()
    assert torch.allclose(M.parzen_log_likelihood(c, x, 0.5), want, atol=1e-6)
    # two identical centres: the same density (the mean over centres, not the sum)
    assert torch.allclose(M.parzen_log_likelihood(torch.zeros(2, 4), x, 0.5), want, atol=1e-6)


def test_best_sigma_is_the_one_that_scores_the_validation_digits_highest():
    g = torch.Generator().manual_seed(0)
    centres, val = 0.3 * torch.randn(300, 10, generator=g), 0.3 * torch.randn(200, 10, generator=g)
    sigmas = (0.05, 0.3, 3.0)
    best = M.best_parzen_sigma(centres, val, sigmas)
    assert best == max(sigmas, key=lambda s: float(M.parzen_log_likelihood(centres, val, s).mean()))
    assert best == 0.3
