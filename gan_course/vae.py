"""A variational autoencoder (Kingma & Welling 2014) with the DCGAN's networks, for notebook 11.

The model. A latent ``z ~ p(z) = N(0, I)`` and a decoder ``p(x | z)``: here every pixel is a
Bernoulli variable whose probability the decoder outputs (as a logit), so ``x`` is a
*binarised* digit, each pixel 0 or 1. The digits in [-1, 1] are binarised afresh every time
they are used, pixel on with probability ``(x + 1) / 2`` (dynamic binarisation, the usual
way to train and score a Bernoulli VAE on MNIST).

The likelihood ``log p(x) = log ∫ p(x | z) p(z) dz`` has no closed form. An encoder
``q(z | x) = N(mu(x), diag(sigma(x)^2))`` gives a lower bound: for any q,

    log p(x) = log E_q[ p(x | z) p(z) / q(z | x) ]
             >= E_q[ log p(x | z) ] + E_q[ log p(z) - log q(z | x) ]        (Jensen: log E >= E log)
             =  E_q[ log p(x | z) ]  -  KL( q(z | x) || p(z) )  =:  ELBO(x)

and the gap is exactly ``KL(q(z | x) || p(z | x))``, zero when q is the true posterior. The
first term is the reconstruction: how well the decoder redraws x from a z the encoder
chose (a sum of 784 Bernoulli log-likelihoods, :func:`reconstruction_log_likelihood`). The
second has a closed form for two Gaussians (:func:`gaussian_kl`): with ``s = log sigma^2``,

    KL( N(mu, diag e^s) || N(0, I) ) = 1/2 * sum_j ( mu_j^2 + e^{s_j} - 1 - s_j ).

Training maximises the ELBO over the decoder and the encoder together. The expectation over
q is estimated with one sample, written ``z = mu + sigma * eps`` with ``eps ~ N(0, I)``
(the *reparameterisation*): z is then a differentiable function of the encoder's outputs,
and the gradient of ``f(z)`` flows into mu and sigma. The alternative, the *score-function*
(REINFORCE) estimate ``E_q[ f(z) grad log q(z) ]``, needs no gradient of f but is far
noisier: :func:`gradient_estimates` measures both on a case with a known answer.

What this gives that a GAN does not: an encoder (x -> z), and a number per digit that bounds
its log-likelihood from below (:meth:`VAE.elbo`; :meth:`VAE.importance_bound` is a tighter
bound from K samples, Burda et al. 2016). What it costs: the decoder is trained to put
probability on every pixel of every training digit, so when it is unsure where a stroke
goes it spreads the stroke out. Its mean image, what one shows as "the sample", is blurry
where a GAN's generator commits to one sharp stroke.

Sizes: the encoder is the DCGAN discriminator's trunk (two strided convolutions 32, 64 and
a dense layer of 256), the decoder the DCGAN generator (dense 256, transposed convolutions
64, 32) with a logit instead of tanh at the end, ``latent_dim`` 16 by default.
"""

from __future__ import annotations

import math
import time

import torch
from torch import nn
from torch.nn import functional as F

from gan_course.models import DCGANGenerator, _check_x, _check_z, _Remembers, dcgan_init_


def binarise(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Digits in [-1, 1] -> pixels 0 or 1, each on with probability (x + 1) / 2."""
    p = ((x + 1) / 2).clamp(0, 1)
    u = torch.rand(p.shape, generator=generator, dtype=p.dtype) if generator is not None else torch.rand_like(p)
    return (u.to(p.device) < p).to(p.dtype)


def _normal_like(t: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """N(0, 1) noise of ``t``'s shape on ``t``'s device, from ``generator`` (a CPU generator,
    so a seeded run draws the same numbers on any device) or torch's global stream."""
    if generator is None:
        return torch.randn_like(t)
    return torch.randn(t.shape, generator=generator, dtype=t.dtype).to(t.device)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL( N(mu, diag e^logvar) || N(0, I) ) per row (B,): 1/2 sum_j (mu^2 + e^s - 1 - s)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(dim=1)


def reconstruction_log_likelihood(logits: torch.Tensor, x_binary: torch.Tensor) -> torch.Tensor:
    """log p(x | z) per image (B,): the sum over pixels of Bernoulli log-likelihoods,
    x log sigmoid(l) + (1 - x) log sigmoid(-l), written stably as -BCE-with-logits."""
    return -F.binary_cross_entropy_with_logits(logits, x_binary, reduction="none").flatten(1).sum(dim=1)


class Encoder(nn.Module):
    """q(z | x): the DCGAN discriminator's trunk, then mu and log sigma^2 (B, latent_dim) each."""

    def __init__(self, latent_dim: int, channels: tuple[int, int] = (32, 64), hidden: int = 256):
        super().__init__()
        c1, c2 = channels
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, 4, stride=2, padding=1),                  # (B, 1, 28, 28) -> (B, c1, 14, 14)
            nn.LeakyReLU(0.2),
            nn.Conv2d(c1, c2, 4, stride=2, padding=1, bias=False),     # -> (B, c2, 7, 7)
            nn.BatchNorm2d(c2), nn.LeakyReLU(0.2),
            nn.Flatten(),                                              # -> (B, c2 * 49)
            nn.Linear(c2 * 7 * 7, hidden, bias=False),                 # -> (B, hidden)
            nn.BatchNorm1d(hidden), nn.LeakyReLU(0.2),
        )
        self.head = nn.Linear(hidden, 2 * latent_dim)                  # -> (B, 2 * latent)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.head(self.features(x)).chunk(2, dim=1)
        return mu, logvar


class VAE(_Remembers):
    """Encoder q(z | x), decoder p(x | z) of Bernoulli pixels, prior N(0, I).

    Called on ``z`` (B, latent_dim) it returns the decoder's *mean* image in [-1, 1]
    (2 p - 1, p the pixel probabilities), so :func:`gan_course.metrics.sample_generator` and
    the scoreboard treat it like a generator: ``z ~ N(0, I)``, then decode.
    """

    def __init__(self, latent_dim: int = 16, channels: tuple[int, int] = (64, 32), hidden: int = 256):
        super().__init__()
        self._remember(latent_dim=latent_dim, channels=tuple(int(c) for c in channels), hidden=int(hidden))
        self.latent_dim = latent_dim
        self.encoder = Encoder(latent_dim, channels=tuple(reversed(channels)), hidden=hidden)
        self.decoder = DCGANGenerator(latent_dim, channels=channels, hidden=hidden)
        self.decoder.body[-1] = nn.Identity()  # logits of p(x | z), not tanh pixels
        dcgan_init_(self)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Pixel logits of p(x | z), (B, 1, 28, 28)."""
        return self.decoder(z)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        _check_z(z, self.latent_dim)
        return 2 * torch.sigmoid(self.decode_logits(z)) - 1  # the mean image, in [-1, 1]

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """The mean image decoded from the encoder's mean code: x -> mu(x) -> [-1, 1]."""
        _check_x(x, (1, 28, 28))
        return self(self.encoder(x)[0])

    def elbo_terms(self, x_binary: torch.Tensor, generator: torch.Generator | None = None):
        """(ELBO, reconstruction, KL) per image (B,) each, from one reparameterised sample."""
        mu, logvar = self.encoder(2 * x_binary - 1)  # the encoder sees the binarised digit
        eps = _normal_like(mu, generator)
        z = mu + (0.5 * logvar).exp() * eps                                   # reparameterised
        recon = reconstruction_log_likelihood(self.decode_logits(z), x_binary)
        kl = gaussian_kl(mu, logvar)
        return recon - kl, recon, kl

    def elbo(self, x_binary: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The ELBO per image (B,), in nats: a lower bound on log p(x_binary)."""
        return self.elbo_terms(x_binary, generator)[0]

    @torch.no_grad()
    def importance_bound(self, x_binary: torch.Tensor, k: int = 50,
                         generator: torch.Generator | None = None) -> torch.Tensor:
        """log (1/K) sum_k p(x | z_k) p(z_k) / q(z_k | x), z_k ~ q(z | x): per image (B,).

        A lower bound on log p(x) that tightens as K grows (K = 1 is the ELBO's estimate;
        Burda et al. 2016).
        """
        mu, logvar = self.encoder(2 * x_binary - 1)
        std = (0.5 * logvar).exp()
        terms = []
        for _ in range(k):
            eps = _normal_like(mu, generator)
            z = mu + std * eps
            log_px_z = reconstruction_log_likelihood(self.decode_logits(z), x_binary)
            log_pz = -0.5 * (z.pow(2) + math.log(2 * math.pi)).sum(1)
            log_qz = -0.5 * (eps.pow(2) + math.log(2 * math.pi) + logvar).sum(1)
            terms.append(log_px_z + log_pz - log_qz)
        return torch.logsumexp(torch.stack(terms), dim=0) - math.log(k)


def train_vae(vae: VAE, x: torch.Tensor, *, steps: int | None = None, seconds: float | None = None,
              batch_size: int = 64, lr: float = 1e-3, seed: int = 0, log_every: int = 50,
              device: str | torch.device | None = None) -> dict:
    """Maximise the mean ELBO on the digits ``x`` (N, 1, 28, 28) in [-1, 1] with Adam.

    Stops after ``steps`` steps or ``seconds`` of training, whichever comes first (one of the
    two is needed). Each step draws a shuffled batch, binarises it afresh and takes one
    reparameterised sample of z per digit, all from one generator seeded with ``seed``.
    Returns the history: ``step``, ``seconds``, and the batch means of ``elbo``, ``recon``
    and ``kl`` (nats per digit) every ``log_every`` steps and at the end.
    """
    from gan_course import runtime

    if steps is None and seconds is None:
        raise ValueError("train_vae needs steps=... or seconds=... (or both) to know when to stop")
    _check_x(x, (1, 28, 28))
    if float(x.min()) < -1.001 or float(x.max()) > 1.001:
        raise ValueError("train_vae expects digits in [-1, 1] (as load_mnist returns them); "
                         "rescale 0..1 images with x * 2 - 1")
    device = runtime.pick_device(device)
    vae.to(device).train()
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(vae.parameters(), lr=lr)
    history = {"step": [], "seconds": [], "elbo": [], "recon": [], "kl": []}
    trained, step, order = 0.0, 0, torch.empty(0, dtype=torch.int64)
    while (steps is None or step < steps) and (seconds is None or trained < seconds):
        start = time.perf_counter()
        if len(order) < batch_size:
            order = torch.randperm(len(x), generator=g)
        idx, order = order[:batch_size], order[batch_size:]
        xb = binarise(x[idx], g).to(device)
        elbo, recon, kl = vae.elbo_terms(xb, g)
        opt.zero_grad(set_to_none=True)
        (-elbo.mean()).backward()
        opt.step()
        step += 1
        trained += time.perf_counter() - start
        done = (steps is not None and step >= steps) or (seconds is not None and trained >= seconds)
        if step % log_every == 0 or done:
            for key, value in (("step", step), ("seconds", trained), ("elbo", elbo.mean().item()),
                               ("recon", recon.mean().item()), ("kl", kl.mean().item())):
                history[key].append(value)
    return history


@torch.no_grad()
def evaluate_bound(vae: VAE, x: torch.Tensor, k: int = 50, seed: int = 0, batch_size: int = 250) -> dict:
    """Mean ELBO and K-sample importance bound (nats per digit) on digits ``x`` in [-1, 1],
    binarised with a fixed seed, the encoder in eval mode. Both are lower bounds on the mean
    log p(x) of the binarised digits; the importance bound is the tighter one."""
    device = next(vae.parameters()).device
    was_training = vae.training
    vae.eval()
    g = torch.Generator().manual_seed(seed)
    elbo, iw = [], []
    for i in range(0, len(x), batch_size):
        xb = binarise(x[i:i + batch_size], g).to(device)
        elbo.append(vae.elbo(xb, g).cpu())
        iw.append(vae.importance_bound(xb, k, g).cpu())
    vae.train(was_training)
    return {"elbo": float(torch.cat(elbo).mean()), "importance": float(torch.cat(iw).mean()), "k": k}


def gradient_estimates(mu: float = 0.5, log_sigma: float = 0.0, a: float = 2.0, n: int = 1000,
                       repeats: int = 200, seed: int = 0) -> dict:
    """The two estimates of d/d(mu, log sigma) E_{z ~ N(mu, sigma^2)}[ (z - a)^2 ], measured.

    The exact gradient: E[(z - a)^2] = (mu - a)^2 + sigma^2, so d/dmu = 2 (mu - a) and
    d/dlog sigma = 2 sigma^2. Each estimate averages ``n`` samples; ``repeats`` independent
    estimates give its mean and its standard deviation. Reparameterised: z = mu + sigma eps,
    differentiate f(z) by autograd. Score function: f(z) * d log q(z) / d(mu, log sigma) with
    z sampled and f treated as a constant (what REINFORCE does). Returns
    ``{"exact": (2,), "reparam": (mean, std), "score": (mean, std)}`` as tensors of 2.
    """
    g = torch.Generator().manual_seed(seed)
    estimates = {"reparam": [], "score": []}
    for _ in range(repeats):
        params = torch.tensor([mu, log_sigma], dtype=torch.float64, requires_grad=True)
        eps = torch.randn(n, generator=g, dtype=torch.float64)
        z = params[0] + params[1].exp() * eps
        (grad,) = torch.autograd.grad(((z - a) ** 2).mean(), params)
        estimates["reparam"].append(grad)
        z = z.detach()  # sampled: no path from z back to the parameters
        f = (z - a) ** 2
        (grad,) = torch.autograd.grad((f * _log_q(z, params)).mean(), params)
        estimates["score"].append(grad)
    out = {"exact": torch.tensor([2 * (mu - a), 2 * math.exp(2 * log_sigma)], dtype=torch.float64)}
    for name, rows in estimates.items():
        rows = torch.stack(rows)
        out[name] = (rows.mean(0), rows.std(0))
    return out


def _log_q(z: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, sigma^2) per sample, up to a constant, differentiable in (mu, log sigma)."""
    return -0.5 * ((z - params[0]) / params[1].exp()) ** 2 - params[1]
