"""Reference solutions for the exercises of notebook 11 (GANs among generative models).

Each function has the name of the notebook's stub; ``gan_course.check.<name>(fn)`` passes
on every one of them (tests/test_check_generative_models.py runs them and the typical wrong
answers).
"""

import torch


def gaussian_kl(mu, logvar):
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) = 1/2 sum_j (mu_j^2 + exp(logvar_j) - 1 - logvar_j),
    one value per row: (B, d) -> (B,)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(dim=-1)


def gumbel_softmax_sample(logits, tau, u):
    """softmax((logits + g) / tau) over the last dimension, with the Gumbel noise g = -log(-log u)."""
    g = -torch.log(-torch.log(u))
    return torch.softmax((logits + g) / tau, dim=-1)


def reinforce_loss(log_probs, rewards, baseline):
    """-mean((r - b) log p(x)), the reward and the baseline held constant: its gradient is the
    score-function estimate of -grad E[r(x)]."""
    advantage = (rewards - baseline).detach()
    return -(advantage * log_probs).mean()


# Model answers to the experiment and the thinking exercise, keyed by exercise number.
MODEL_ANSWERS = {
    4: """\
Measured on one CPU thread, 60 s of training each (seed 0), bound on the first 1,000
held-out digits (K = 50), 1,000 samples:

    latent  steps  KL (nats)  importance bound  confident   FD    grey pixels
       2    1,758     5.3         -150.5          31.1%    225.2    29.2%
      16    1,931    21.2          -95.1          55.7%     54.2    17.0%
      64    1,734    22.8          -96.7          51.6%     66.7    18.0%

A code of 2 numbers is too small: the encoder can pass only about 5 nats about each digit,
the bound is 55 nats worse, and the samples are grey blends of a few shapes. Between 16 and
64 the bound barely moves (-95.1 against -96.7) and the samples are slightly worse with 64.
Here the best bound and the best samples come from the same size, but they need not: the
bound is about reconstructing held-out digits, the samples about decoding z drawn from the
prior, and the prior matches the codes the encoder uses less well as the code grows. The
KL term is the information the code carries: it grows only from 21.2 to 22.8 nats when the
code grows from 16 to 64 dimensions, so the extra 48 carry almost nothing; the encoder
leaves them at the prior (posterior collapse of unused dimensions), which is what the KL
term rewards when a dimension does not pay for itself in reconstruction.
""",
    5: """\
D would see G's softmax probabilities, points inside the simplex, while every real string
is a one-hot vector at a corner. D can then separate real from fake by the shape of the
vectors alone (is the largest entry 1?) without looking at which tokens they are, and G's
gradient says only "be more one-hot". Section 6 measured the same thing with the relaxation
at a high temperature: at tau = 3 D was right most of the time and G answered by driving its
logits to extremes, its token entropy near 0, collapsing onto few strings (TV about 0.74,
most of the language missing). Showing the probabilities is the limit tau -> infinity of
that failure. REINFORCE shows D only real one-hot strings, so D has to judge the tokens
themselves and the signal is about the right thing, and the gradient is unbiased; its
problem is variance: one batch's estimate has a spread several times the gradient itself,
so it needs a baseline, many samples or small steps, and in section 6 it did no better
than the best relaxation, far from maximum likelihood.
""",
}
