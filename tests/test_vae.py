"""The VAE of notebook 11: its ELBO's pieces against independent formulas, the bounds in the
right order, the two gradient estimators against the exact gradient, and training that is
seeded, checked and improves."""

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from gan_course import vae as V
from gan_course.metrics import sample_generator


def test_gaussian_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    want = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(1)
    assert torch.allclose(V.gaussian_kl(mu, logvar), want, atol=1e-6)
    assert torch.all(V.gaussian_kl(torch.zeros(2, 4), torch.zeros(2, 4)) == 0)


def test_reconstruction_log_likelihood_is_the_bernoulli_sum():
    logits = torch.tensor([[[[0.0, 2.0], [-1.0, 3.0]]]])
    x = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    p = torch.sigmoid(logits)
    want = (x * p.log() + (1 - x) * (1 - p).log()).sum()
    assert torch.allclose(V.reconstruction_log_likelihood(logits, x), want.view(1))


def test_binarise_gives_zeros_and_ones_with_the_pixel_probability():
    x = torch.full((20000, 1, 1, 1), 0.5)  # (x + 1) / 2 = 0.75
    b = V.binarise(x, torch.Generator().manual_seed(0))
    assert set(b.unique().tolist()) == {0.0, 1.0}
    assert abs(float(b.mean()) - 0.75) < 0.01
    assert torch.equal(V.binarise(torch.tensor([-1.0, 1.0])), torch.tensor([0.0, 1.0]))


def test_elbo_is_reconstruction_minus_kl_and_below_the_importance_bound():
    torch.manual_seed(0)
    vae = V.VAE().eval()
    x = V.binarise(torch.rand(8, 1, 28, 28) * 2 - 1, torch.Generator().manual_seed(1))
    elbo, recon, kl = vae.elbo_terms(x, torch.Generator().manual_seed(2))
    assert torch.allclose(elbo, recon - kl)
    assert torch.all(kl >= 0)
    # the K-sample bound tightens with K: on average ELBO <= IW_1 (same estimator) <= IW_50
    with torch.no_grad():
        many = torch.stack([vae.elbo(x, torch.Generator().manual_seed(s)) for s in range(20)]).mean(0)
    iw50 = vae.importance_bound(x, k=50, generator=torch.Generator().manual_seed(3))
    assert float(iw50.mean()) > float(many.mean())


def test_vae_is_a_generator_of_images_in_range():
    torch.manual_seed(0)
    vae = V.VAE(latent_dim=8)
    x = sample_generator(vae, 10, seed=0)
    assert x.shape == (10, 1, 28, 28) and float(x.min()) >= -1 and float(x.max()) <= 1
    assert vae.reconstruct(torch.zeros(3, 1, 28, 28)).shape == (3, 1, 28, 28)
    assert vae.training  # sample_generator restored the mode


def test_both_gradient_estimators_are_unbiased_and_reparameterisation_is_less_noisy():
    est = V.gradient_estimates(mu=0.5, log_sigma=0.0, a=2.0, n=200, repeats=200, seed=0)
    assert torch.allclose(est["exact"], torch.tensor([-3.0, 2.0], dtype=torch.float64))
    for name in ("reparam", "score"):
        mean, std = est[name]
        assert torch.all((mean - est["exact"]).abs() < 4 * std / math.sqrt(200)), name
    assert torch.all(est["reparam"][1] * 2 < est["score"][1])


def test_training_is_seeded_improves_and_refuses_bad_input():
    x = torch.rand(256, 1, 28, 28) * 2 - 1

    def run(steps, seed):
        torch.manual_seed(0)
        vae = V.VAE(latent_dim=4)
        return vae, V.train_vae(vae, x, steps=steps, seed=seed, log_every=10, device="cpu")

    a, ha = run(20, 0)
    b, hb = run(20, 0)
    assert ha["elbo"] == hb["elbo"] and ha["step"] == [10, 20]
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert run(20, 1)[1]["elbo"] != ha["elbo"]
    assert ha["elbo"][-1] > ha["elbo"][0]
    with pytest.raises(ValueError, match="steps=.*seconds="):
        V.train_vae(V.VAE(), x)
    with pytest.raises(ValueError, match=r"x \* 2 - 1"):
        V.train_vae(V.VAE(), (x + 1) * 127.5, steps=1)


def test_evaluate_bound_orders_the_bounds():
    torch.manual_seed(0)
    vae = V.VAE(latent_dim=4)
    x = torch.rand(40, 1, 28, 28) * 2 - 1
    V.train_vae(vae, x, steps=30, seed=0)
    out = V.evaluate_bound(vae, x, k=20, batch_size=16)
    assert out["importance"] > out["elbo"] and out["k"] == 20
    assert vae.training
