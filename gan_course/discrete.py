"""Why GANs struggle with discrete data, on a tiny language whose distribution is known
exactly (notebook 11).

**The language.** Strings of ``L = 6`` tokens over the alphabet ``a b c d`` (``V = 4``), made
by a first-order Markov chain: the first token from :data:`START`, each next one from the
row of :data:`TRANSITIONS` of the token before it. Some entries are zero, a small grammar:
no string starts with ``d``, and ``a`` is never followed by ``d``, ``b`` never by ``a``,
``c`` never by ``b``, ``d`` never by ``c``. So every string has an exact probability,

    p(x) = START[x_1] * TRANSITIONS[x_1, x_2] * ... * TRANSITIONS[x_5, x_6],

and all ``4**6 = 4,096`` strings can be listed (:func:`probability_table`). 729 of them
are valid; the most common, ``abcabc``, has probability 3.2%, the 50 most common hold 44%
of the mass, and the perplexity is 298 strings (entropy 5.70 nats). A generator that ignores the structure is
measurably bad: uniform strings are valid 18% of the time (TV 0.85 to the truth), and the
best generator with independent tokens (the product of the true per-position marginals)
25% of the time (TV 0.80).

**The measure** is the total variation distance between a model's empirical distribution
over the 4,096 strings and the truth, ``TV = 1/2 sum_x |p_model(x) - p(x)|`` (0: the same,
1: disjoint). Estimated from ``n`` samples it is never 0, even for a perfect model: samples
of the truth itself are at TV 0.27 (n = 1,000), 0.19 (2,000), 0.12 (5,000), 0.085 (10,000)
from it. That is the *floor* (:func:`noise_floor`), the number every model's TV must be read
against. Beside it: the share of ``valid`` strings, and the ``missing`` mass, the true
probability of the strings a model never produced in its n samples (the truth's own 10,000
samples miss 0.7%): where a generator drops part of the language.

**The argmax problem.** An image generator's output is continuous: a small change of G's
weights moves the pixels a little, D's verdict changes a little, and ``d loss_G / d theta``
exists. A text generator outputs *tokens*: G gives logits, and a token is their argmax (or a
sample from their softmax). ``argmax`` is piecewise constant: a small change of the logits
changes no token, so its derivative is 0 wherever it exists, and torch gives integer
indices no gradient at all (:func:`argmax_gradient`: G's parameters receive ``None``). D can
say how real a string looks, but not which way to change G's logits. Two ways around:

- **Gumbel-softmax** (Jang, Gu and Poole 2017; Maddison, Mnih and Teh 2017, the "Concrete"
  distribution). The Gumbel-max trick: with ``g = -log(-log u)``, ``u ~ U(0, 1)``,
  ``argmax(logits + g)`` is an exact sample of ``softmax(logits)``. Replace the argmax by a
  softmax at temperature ``tau``, ``y = softmax((logits + g) / tau)``: a point of the
  simplex, differentiable in the logits, which tends to the one-hot sample as ``tau -> 0``.
  D is shown ``y`` instead of a string. The trade-off: at a high ``tau`` the ``y`` are soft
  while every real string is one-hot, so D can tell them apart by their shape alone, and the
  gradient is that of another objective (biased); at a low ``tau`` the softmax is nearly a
  step function and its gradient is nearly always 0 and sometimes huge (high variance).
  *Straight-through* (``hard=True``): D is shown the one-hot argmax, and the gradient is the
  soft sample's (``y_hard - y.detach() + y``), biased at every ``tau``.
- **The score function, REINFORCE** (Williams 1992), as SeqGAN uses it (Yu et al. 2017):
  sample real one-hot strings ``x ~ p_theta``, score each with D (the reward ``r(x)``, here
  ``log D(x)``), and use ``grad E[r(x)] = E[(r(x) - b) grad log p_theta(x)]``: no gradient
  through ``x`` is needed, only through the log-probability of the tokens that were drawn.
  The baseline ``b`` (a moving average of the reward) changes nothing in expectation and
  lowers the variance. The estimate is unbiased, and noisy.

And the baseline every text model is measured against, **maximum likelihood**: a small
autoregressive model (a GRU, :class:`Autoregressive`) trained by cross-entropy on the same
strings, ``p(x) = prod_t p(x_t | x_<t)``, one exact gradient per batch, no D.

The GAN's generator is the course's MLP (``models.MLPGenerator``): ``z -> 6 x 4 logits``, the
tokens independent given ``z`` (``z`` must carry every dependence between positions); D is
``models.MLPDiscriminator`` on the 6 x 4 one-hot (or relaxed) strings, one logit. Losses
are the course's: ``losses.d_loss_bce`` (real = 1, fake = 0) and the non-saturating
``losses.g_loss_nonsaturating``. Everything is seeded through its own ``torch.Generator``;
the networks are built under a forked global generator, so torch's global stream is left
where it was.

**Measured** (December 2026, one CPU thread of a 2-core machine, the defaults of
:class:`DiscreteConfig`: 2,000 steps, batch 128, Adam at 1e-2 for G and D, 10,000 samples
a measurement; the mean over seeds 0, 1, 2, each seed's TV in brackets):

    method               TV                          valid  missing  D right  token entropy
    floor (truth)        0.085                       1.000  0.007
    MLE (GRU)            0.099 (0.093, 0.105, 0.099) 0.998  0.007
    Gumbel tau = 0.1     0.484 (0.462, 0.503, 0.487) 0.946  0.187    0.69     0.021
    Gumbel tau = 0.3     0.354 (0.374, 0.377, 0.311) 0.951  0.119    0.62     0.017
    Gumbel tau = 1       0.407 (0.318, 0.471, 0.433) 0.950  0.248    0.67     0.009
    Gumbel tau = 3       0.744 (0.796, 0.604, 0.833) 0.981  0.723    0.86     0.004
    straight-through, 1  0.313 (0.303, 0.305, 0.332) 0.940  0.051    0.58     0.370
    REINFORCE            0.351 (0.392, 0.338, 0.324) 0.957  0.096    0.63     0.032
    uniform strings      0.857                       0.175
    independent tokens   0.802                       0.253

A run takes 4-6 s (MLE 3.5-4 s): the 21 runs of that table 105-120 s in all, and 8 s with
``steps=100`` (the notebook's quick mode: ``steps = runtime.by_mode(full=2000, quick=100)``;
a shorter run is the first part of a longer one, the learning rate being constant). What it
shows:

- every GAN learns the grammar (94-98% valid strings, against 18% for uniform ones) and
  none learns the distribution: the best, straight-through, is at TV 0.31, more than three
  times the floor, while maximum likelihood is at 0.099 after the same 2,000 steps (its own
  exact distribution, :func:`exact_distribution`, is at TV 0.045-0.057 from the truth:
  closer than its 10,000 training strings, 0.084). The GANs' TV is mostly *dropped* strings:
  5-72% of the true mass never appears in 10,000 samples (the floor: 0.7%);
- the temperature: at ``tau = 3`` D tells G's relaxed strings from the real one-hot ones
  (right 86% of the time, against 58-69% elsewhere) and G answers by saturating its logits
  (a token's entropy given z falls to 0.004 nats: z alone decides the string) until it
  makes a few strings only (72% of the mass missing). At ``tau = 0.1`` the gradient is
  noise: measured against the exact gradient (:func:`gradient_quality`, at the end of the
  straight-through run, seed 0), one draw's spread is 7.7 times the exact gradient's norm at
  tau 0.1, 3.1 at 0.3, 0.75 at 1 and 0.12 at 3, while the bias grows the other way (0.35 at
  0.3, 0.79 at 1, 0.92 at 3; at 0.1 it is below what 100 draws can resolve). REINFORCE is
  unbiased (bias 0.0, within its noise) with a spread of 4.2. The cosine between one draw and
  the exact gradient is 0.14-0.41 for all of them: every GAN step here points only roughly
  the right way, where maximum likelihood's gradient is exact for its batch;
- the learning rate matters as much as the estimator: at 1e-3 the soft Gumbel GAN at
  ``tau = 1`` collapses (TV 0.96, D right 97% of the time); at 3e-3 it is at 0.72, at 1e-2
  0.41; 3e-2 was worse for every method (seed 0). REINFORCE was at 0.35-0.38 at all three.

For text this is the known picture (Caccia et al. 2018, "Language GANs falling short"):
the gradient G gets through discrete tokens is either biased or noisy, D's verdict on a
whole string is one number, and maximum likelihood, with an exact gradient for every token,
wins at equal steps and at equal time.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from gan_course.losses import d_loss_bce, g_loss_nonsaturating
from gan_course.models import MLPDiscriminator, MLPGenerator

ALPHABET = "abcd"
V = len(ALPHABET)   # tokens in the alphabet
L = 6               # tokens in a string
START = torch.tensor([0.5, 0.3, 0.2, 0.0], dtype=torch.float64)
TRANSITIONS = torch.tensor([[0.1, 0.6, 0.3, 0.0],     # a -> a b c, never d
                            [0.0, 0.2, 0.5, 0.3],     # b -> b c d, never a
                            [0.7, 0.0, 0.1, 0.2],     # c -> a c d, never b
                            [0.4, 0.4, 0.0, 0.2]],    # d -> a b d, never c
                           dtype=torch.float64)
N_STRINGS = V ** L
_PLACES = V ** torch.arange(L - 1, -1, -1)  # a string is a number written in base V


# ---------------------------------------------------------------------------------------
# the language: every string, its exact probability, samples
# ---------------------------------------------------------------------------------------

def all_strings() -> torch.Tensor:
    """Every string, (V**L, L) int64 tokens, in the order of :func:`string_index`."""
    return (torch.arange(N_STRINGS)[:, None] // _PLACES) % V


def string_index(x: torch.Tensor) -> torch.Tensor:
    """The row of each string (n, L) in :func:`all_strings`: its tokens read in base V."""
    return (x.long() * _PLACES.to(x.device)).sum(-1)


def string_probability(x: torch.Tensor) -> torch.Tensor:
    """The exact probability of each string (n, L): START[x_1] prod_t TRANSITIONS[x_t, x_t+1]."""
    x = x.long().cpu()
    return START[x[:, 0]] * TRANSITIONS[x[:, :-1], x[:, 1:]].prod(1)


def probability_table() -> torch.Tensor:
    """p(x) for every string, float64 (V**L,), summing to 1 (0 for the invalid ones)."""
    return string_probability(all_strings())


def is_valid(x: torch.Tensor) -> torch.Tensor:
    """True for the strings (n, L) that the grammar allows (probability > 0)."""
    return string_probability(x) > 0


def sample_language(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` strings of the true language, (n, L) int64, drawn token by token from the chain."""
    x = torch.empty(n, L, dtype=torch.long)
    x[:, 0] = torch.multinomial(START.expand(n, V), 1, generator=generator)[:, 0]
    for t in range(1, L):
        x[:, t] = torch.multinomial(TRANSITIONS[x[:, t - 1]], 1, generator=generator)[:, 0]
    return x


def training_set(n: int = 10_000, seed: int = 0) -> torch.Tensor:
    """The fixed training strings every model learns from: (n, L) int64."""
    return sample_language(n, torch.Generator().manual_seed(seed))


def decode(x: torch.Tensor) -> list[str]:
    """Strings (n, L) of tokens as text: ``["acacab", ...]``."""
    return ["".join(ALPHABET[t] for t in row) for row in x.tolist()]


def encode(texts: list[str]) -> torch.Tensor:
    """Text strings as tokens (n, L) int64: the inverse of :func:`decode`."""
    return torch.tensor([[ALPHABET.index(c) for c in s] for s in texts], dtype=torch.long)


def one_hot(x: torch.Tensor) -> torch.Tensor:
    """Tokens (n, L) as float32 one-hot strings (n, L, V): what D is shown."""
    return F.one_hot(x.long(), V).float()


# ---------------------------------------------------------------------------------------
# measures
# ---------------------------------------------------------------------------------------

def empirical(x: torch.Tensor) -> torch.Tensor:
    """The empirical distribution of the strings (n, L) over all V**L strings, float64."""
    counts = torch.bincount(string_index(x).cpu(), minlength=N_STRINGS)
    return counts.double() / len(x)


def tv_distance(p: torch.Tensor, q: torch.Tensor) -> float:
    """Total variation distance ``1/2 sum |p - q|`` between two distributions over strings."""
    return 0.5 * float((p.double() - q.double()).abs().sum())


def tv_to_truth(x: torch.Tensor) -> float:
    """TV between the empirical distribution of the strings (n, L) and the true language.
    Read it against :func:`noise_floor` at the same n: a perfect model is not at 0."""
    return tv_distance(empirical(x), probability_table())


def valid_fraction(x: torch.Tensor) -> float:
    """The share of the strings (n, L) that the grammar allows."""
    return float(is_valid(x).double().mean())


def noise_floor(n: int, repeats: int = 5, seed: int = 1234) -> float:
    """The TV to the truth of ``n`` samples *of the truth itself*, averaged over ``repeats``
    draws: what a perfect model scores at that n (0.085 at n = 10,000)."""
    g = torch.Generator().manual_seed(seed)
    return sum(tv_to_truth(sample_language(n, g)) for _ in range(repeats)) / repeats


def product_of_marginals() -> torch.Tensor:
    """The best distribution with independent tokens: the product of the true per-position
    marginals, float64 (V**L,). What a generator that ignores z could at best reach."""
    strings, p = all_strings(), probability_table()
    q = torch.ones(N_STRINGS, dtype=torch.float64)
    for t in range(L):
        q = q * torch.bincount(strings[:, t], weights=p, minlength=V)[strings[:, t]]
    return q


def missing_mass(x: torch.Tensor) -> float:
    """The true probability of the strings that never appear among the samples (n, L): the
    part of the language a generator drops (the truth's own 10,000 samples miss about 0.7%)."""
    return float(probability_table()[empirical(x) == 0].sum())


def evaluate(x: torch.Tensor) -> dict:
    """``{"tv", "valid", "missing"}`` of the strings (n, L)."""
    return {"tv": tv_to_truth(x), "valid": valid_fraction(x), "missing": missing_mass(x)}


def references(n: int = 10_000, seed: int = 0) -> dict:
    """The numbers to read a model's TV and valid fraction against, at ``n`` samples:
    ``floor`` (n samples of the truth itself), ``train_set`` (the training strings, the best a
    model that memorises them can do), ``marginals`` (independent tokens, sampled) and
    ``uniform`` (every string equally likely), each ``{"tv", "valid", "missing"}``."""
    g = torch.Generator().manual_seed(1000 + seed)   # not the training set's stream
    truth = sample_language(n, g)
    uniform = torch.randint(V, (n, L), generator=g)
    marg = torch.multinomial(product_of_marginals(), n, replacement=True, generator=g)
    return {"floor": evaluate(truth),
            "train_set": evaluate(training_set(n)),
            "marginals": evaluate(all_strings()[marg]),
            "uniform": evaluate(uniform)}


# ---------------------------------------------------------------------------------------
# Gumbel noise, the Gumbel-softmax and the score-function loss
# ---------------------------------------------------------------------------------------

def uniform_noise(shape, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """Uniforms in the open interval (0, 1) (0 itself would make the Gumbel noise -inf)."""
    u = torch.rand(shape, generator=generator, device=device)
    return u.clamp(min=torch.finfo(u.dtype).tiny)


def gumbel_softmax(logits: torch.Tensor, tau: float, u: torch.Tensor, hard: bool = False) -> torch.Tensor:
    """``softmax((logits + g) / tau)`` over the last dim, ``g = -log(-log u)``: the relaxed
    sample of ``softmax(logits)`` at temperature ``tau``. ``argmax(logits + g)`` is an exact
    sample (the Gumbel-max trick); ``hard=True`` returns that one-hot in the forward pass
    with the relaxed sample's gradient (straight-through)."""
    g = -torch.log(-torch.log(u))
    y = torch.softmax((logits + g) / tau, dim=-1)
    if not hard:
        return y
    y_hard = F.one_hot(y.argmax(-1), logits.shape[-1]).to(y.dtype)
    return y_hard - y.detach() + y  # forward: y_hard; backward: the gradient of y


def gumbel_max(logits: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Exact categorical samples of ``softmax(logits)`` (tokens, int64): ``argmax(logits + g)``."""
    return (logits - torch.log(-torch.log(u))).argmax(-1)


def reinforce_loss(log_probs: torch.Tensor, rewards: torch.Tensor, baseline) -> torch.Tensor:
    """The score-function surrogate ``-mean((r - b) * log p(x))``, reward and baseline held
    constant: its gradient is the REINFORCE estimate of ``-grad E[r(x)]``,
    ``-E[(r(x) - b) grad log p(x)]``. (Its *value* means nothing; only its gradient does.)"""
    advantage = (rewards - baseline).detach()
    return -(advantage * log_probs).mean()


def token_log_probs(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``log p(x | logits)`` of each string: the sum over positions of its tokens'
    log-softmax. ``logits`` (B, L, V), ``x`` (B, L) tokens -> (B,)."""
    return torch.log_softmax(logits, -1).gather(-1, x[..., None]).squeeze(-1).sum(-1)


# ---------------------------------------------------------------------------------------
# the models
# ---------------------------------------------------------------------------------------

@dataclass
class DiscreteConfig:
    """Every knob of a run on the tiny language, with its reason."""

    steps: int = 2000           # updates of G (and of D, one each a step; MLE: of the model)
    seconds: float | None = None  # stop early after this much training time (None: no limit)
    batch_size: int = 128       # strings a step, real and fake alike
    latent_dim: int = 16        # z: it must carry all dependence between the tokens
    hidden: tuple[int, ...] = (128, 128)  # G's and D's hidden layers
    lr_g: float = 1e-2          # Adam, betas (0.5, 0.999); the best of 1e-3, 3e-3, 1e-2, 3e-2
    lr_d: float = 1e-2          # for every GAN here (the module docstring has the numbers)
    tau: float = 1.0            # Gumbel-softmax temperature
    hard: bool = False          # straight-through: D sees the one-hot argmax
    baseline_decay: float = 0.9  # REINFORCE: the moving average of the reward
    mle_hidden: int = 32        # the GRU's width (64: same TV, twice the time a step)
    lr_mle: float = 3e-3        # 1e-3 and 1e-2 end at the same TV
    eval_every: int = 250       # steps between measurements in the history
    n_eval: int = 10_000        # samples per measurement (floor at 10,000: TV 0.085)
    train_size: int = 10_000    # the training strings (training_set(train_size))


def make_gan(seed: int, cfg: DiscreteConfig = DiscreteConfig()) -> tuple[nn.Module, nn.Module]:
    """G (``z (B, latent_dim) -> logits (B, L, V)``) and D (``(B, L, V) -> logit (B,)``),
    initialised from ``seed`` without moving torch's global random stream."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        G = MLPGenerator(cfg.latent_dim, cfg.hidden, out_shape=(L, V), out_activation=None)
        D = MLPDiscriminator(in_shape=(L, V), hidden=cfg.hidden)
    return G, D


class Autoregressive(nn.Module):
    """The maximum-likelihood baseline: ``p(x) = prod_t p(x_t | x_<t)``, a one-layer GRU that
    reads the tokens so far (after a start token) and gives the next token's logits."""

    def __init__(self, hidden: int = 32):
        super().__init__()
        self.embed = nn.Embedding(V + 1, hidden)   # token V is the start of the string
        self.rnn = nn.GRU(hidden, hidden, batch_first=True)
        self.head = nn.Linear(hidden, V)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Tokens (B, L) -> logits (B, L, V) of each token given the ones before it."""
        start = torch.full((len(x), 1), V, dtype=torch.long, device=x.device)
        inputs = torch.cat([start, x[:, :-1]], 1)   # (B, L): shifted right by one
        h, _ = self.rnn(self.embed(inputs))          # (B, L, hidden)
        return self.head(h)                          # (B, L, V)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` strings (n, L) int64, token by token."""
        device = self.head.weight.device
        token = torch.full((n, 1), V, dtype=torch.long, device=device)
        state, out = None, []
        for _ in range(L):
            h, state = self.rnn(self.embed(token), state)
            logits = self.head(h[:, -1])                                 # (n, V)
            token = gumbel_max(logits, uniform_noise(logits.shape, generator, device))[:, None]
            out.append(token)
        return torch.cat(out, 1).cpu()


@torch.no_grad()
def sample_generator(G: nn.Module, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` strings (n, L) int64 from a GAN's generator: ``z``, G's logits, then each token
    drawn from its softmax (the Gumbel-max trick), as the GAN was trained to produce."""
    device = next(G.parameters()).device
    z = torch.randn(n, G.latent_dim, generator=generator, device=device)
    logits = G(z)
    return gumbel_max(logits, uniform_noise(logits.shape, generator, device)).cpu()


@dataclass
class Run:
    """A trained model and its history. ``sample(n, seed)`` draws ``n`` strings (n, L)."""

    method: str
    model: nn.Module
    history: dict
    seconds: float          # training time, measurements not counted
    seed: int = 0
    D: nn.Module | None = None
    cfg: DiscreteConfig = field(default_factory=DiscreteConfig)

    def sample(self, n: int = 10_000, seed: int = 0) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        if isinstance(self.model, Autoregressive):
            return self.model.sample(n, g)
        return sample_generator(self.model, n, g)

    def final(self, n: int | None = None, seed: int = 0) -> dict:
        """:func:`evaluate` on ``n`` (default ``cfg.n_eval``) fresh samples drawn from ``seed``."""
        return evaluate(self.sample(n or self.cfg.n_eval, seed))


# ---------------------------------------------------------------------------------------
# the argmax problem
# ---------------------------------------------------------------------------------------

def argmax_gradient(seed: int = 0, tau: float = 1.0) -> dict[str, dict]:
    """What reaches G when D judges G's strings, for four ways of turning G's logits into a
    string: ``argmax``, a ``sample`` (the Gumbel-max trick), the ``gumbel-softmax`` at ``tau``
    and its ``straight-through`` version. For each: ``grad_fn`` (does the string D sees
    carry a graph back to G?) and ``with_grad`` of ``of`` (how many of G's parameter tensors
    get a nonzero gradient of the non-saturating loss_G)."""
    cfg = DiscreteConfig()
    G, D = make_gan(seed, cfg)
    g = torch.Generator().manual_seed(seed)
    logits = G(torch.randn(16, cfg.latent_dim, generator=g))   # (16, L, V)
    u = uniform_noise(logits.shape, g)
    strings = {"argmax": one_hot(logits.argmax(-1)),
               "sample": one_hot(gumbel_max(logits, u)),
               "gumbel-softmax": gumbel_softmax(logits, tau, u),
               "straight-through": gumbel_softmax(logits, tau, u, hard=True)}
    params = list(G.parameters())
    out = {}
    for name, x in strings.items():
        loss_g = g_loss_nonsaturating(D(x))   # D has weights, so loss_g has a graph either way
        grads = torch.autograd.grad(loss_g, params, allow_unused=True, retain_graph=True)
        out[name] = {"grad_fn": x.grad_fn is not None, "of": len(params),
                     "with_grad": sum(gr is not None and bool(gr.abs().sum() > 0) for gr in grads)}
    return out


# ---------------------------------------------------------------------------------------
# training: one GAN step, two ways for G to learn; and maximum likelihood
# ---------------------------------------------------------------------------------------

def d_step(D: nn.Module, opt_d: torch.optim.Optimizer, x_real: torch.Tensor,
           x_fake: torch.Tensor) -> dict:
    """One update of D on real one-hot strings against fakes (detached: no gradient to G)."""
    logits_real, logits_fake = D(x_real), D(x_fake.detach())
    loss_d = d_loss_bce(logits_real, logits_fake)
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()
    logits_real, logits_fake = logits_real.detach(), logits_fake.detach()
    accuracy = ((logits_real > 0).float().mean() + (logits_fake < 0).float().mean()) / 2
    return {"loss_d": float(loss_d.detach()), "d_real": float(torch.sigmoid(logits_real).mean()),
            "d_fake": float(torch.sigmoid(logits_fake).mean()), "d_accuracy": float(accuracy)}


def g_step_gumbel(G, D, opt_g, logits, x_fake, state) -> dict:
    """G learns *through* D and the relaxed strings: the non-saturating loss_G."""
    D.requires_grad_(False)   # only G's weights need gradients here
    loss_g = g_loss_nonsaturating(D(x_fake))
    D.requires_grad_(True)
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    return {"loss_g": float(loss_g.detach())}


def g_step_reinforce(G, D, opt_g, logits, x_fake, state) -> dict:
    """G learns from D's verdict on its sampled strings, the reward ``log D(x)``, by the
    score function: :func:`reinforce_loss`, with a moving-average baseline in ``state``."""
    with torch.no_grad():
        rewards = F.logsigmoid(D(x_fake))                 # (B,) log D(x): G wants it high
    if state.get("baseline") is None:
        state["baseline"] = float(rewards.mean())
    loss_g = reinforce_loss(token_log_probs(logits, x_fake.argmax(-1)), rewards, state["baseline"])
    state["baseline"] = state["decay"] * state["baseline"] + (1 - state["decay"]) * float(rewards.mean())
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    return {"loss_g": float(loss_g.detach()), "reward": float(rewards.mean())}


def gan_step(method: str, G, D, opt_g, opt_d, x_real: torch.Tensor, z: torch.Tensor,
             u: torch.Tensor, cfg: DiscreteConfig, state: dict) -> dict:
    """One step of the game: one generator pass, one update of D, one of G on the same fakes.

    ``"gumbel"``: D sees the relaxed strings ``gumbel_softmax(G(z), tau, u)`` (one-hot in the
    forward pass with ``cfg.hard``) and G's gradient flows back through them.
    ``"reinforce"``: D sees real samples ``one_hot(argmax(G(z) + g))``, and G learns by the
    score function (:func:`g_step_reinforce`).
    """
    logits = G(z)                                                           # (B, L, V)
    if method == "gumbel":
        x_fake = gumbel_softmax(logits, cfg.tau, u, hard=cfg.hard)          # (B, L, V), with a graph
        g_step = g_step_gumbel
    else:
        x_fake = one_hot(gumbel_max(logits.detach(), u))                    # (B, L, V), no graph
        g_step = g_step_reinforce
    stats = d_step(D, opt_d, x_real, x_fake)
    stats.update(g_step(G, D, opt_g, logits, x_fake, state))
    with torch.no_grad():
        probs = torch.softmax(logits, -1)
        stats["fake_max_prob"] = float(x_fake.max(-1).values.mean())
        stats["token_entropy"] = float(-(probs * torch.log_softmax(logits, -1)).sum(-1).mean())
    return stats


def _train(step: Callable[[], dict], sampler: Callable[[int, torch.Generator], torch.Tensor],
           cfg: DiscreteConfig, seed: int) -> tuple[dict, float]:
    """Call ``step`` ``cfg.steps`` times (or until ``cfg.seconds`` of training time), measuring
    ``sampler``'s strings every ``cfg.eval_every`` steps and at the end. Returns the history
    and the training time (measurements not counted)."""
    history: dict = {}
    running: dict = {}
    elapsed, n = 0.0, 0

    def measure():
        # each measurement has its own generator: how often one measures leaves the
        # training's random numbers alone
        x = sampler(cfg.n_eval, torch.Generator().manual_seed(10_000 * seed + n))
        row = {"step": n, "seconds": elapsed, **evaluate(x),
               **{k: sum(v) / len(v) for k, v in running.items()}}
        for k, v in row.items():
            history.setdefault(k, []).append(v)
        running.clear()

    while n < cfg.steps and (cfg.seconds is None or elapsed < cfg.seconds):
        t0 = time.perf_counter()
        stats = step()
        elapsed += time.perf_counter() - t0
        n += 1
        for k, v in stats.items():
            running.setdefault(k, []).append(v)
        if n % cfg.eval_every == 0:
            measure()
    if not history or history["step"][-1] != n:   # the last step, or the time ran out
        measure()
    return history, elapsed


def train_gan(method: str, seed: int = 0, cfg: DiscreteConfig = DiscreteConfig(), **overrides) -> Run:
    """Train the GAN on the tiny language; ``method`` is ``"gumbel"`` (relaxed strings at
    ``cfg.tau``, straight-through with ``cfg.hard``) or ``"reinforce"``; ``overrides``
    replace fields of ``cfg`` (``steps=100``). Each step is :func:`gan_step` on a batch of
    training strings.

    The history (dict of lists) has, every ``cfg.eval_every`` steps and at the end:
    ``step``, ``seconds`` (training time so far), ``tv``, ``valid`` and ``missing`` of
    ``cfg.n_eval`` fresh samples (:func:`evaluate`), and the means over the steps since the
    row before of ``loss_d``, ``loss_g``, ``d_real`` and ``d_fake`` (D(x), D(G(z))),
    ``d_accuracy`` (D's share right at the threshold 0.5, real and fake batches weighed
    alike), ``fake_max_prob`` (mean largest entry of the fake token vectors D sees: 1 for
    one-hot strings) and ``token_entropy`` (mean entropy of G's softmax over one token given
    z, in nats: log 4 = 1.39 for a uniform token, 0 when z alone decides the string);
    REINFORCE also ``reward`` (mean log D(x) of its samples).
    """
    cfg = replace(cfg, **overrides)
    if method not in ("gumbel", "reinforce"):
        raise ValueError(f"method must be 'gumbel' or 'reinforce', got {method!r}")
    G, D = make_gan(seed, cfg)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=(0.5, 0.999))
    data = training_set(cfg.train_size)
    g = torch.Generator().manual_seed(seed)
    state = {"baseline": None, "decay": cfg.baseline_decay}

    def step():
        x_real = one_hot(data[torch.randint(len(data), (cfg.batch_size,), generator=g)])  # (B, L, V)
        z = torch.randn(cfg.batch_size, cfg.latent_dim, generator=g)
        u = uniform_noise((cfg.batch_size, L, V), g)
        return gan_step(method, G, D, opt_g, opt_d, x_real, z, u, cfg, state)

    history, seconds = _train(step, lambda n, gen: sample_generator(G, n, gen), cfg, seed)
    name = "reinforce" if method == "reinforce" else f"gumbel{'-st' if cfg.hard else ''} tau={cfg.tau:g}"
    return Run(name, G, history, seconds, seed, D, cfg)


def train_gumbel(seed: int = 0, tau: float = 1.0, hard: bool = False, **overrides) -> Run:
    """:func:`train_gan` with the Gumbel-softmax at temperature ``tau`` (straight-through: ``hard``)."""
    return train_gan("gumbel", seed, tau=tau, hard=hard, **overrides)


def train_reinforce(seed: int = 0, **overrides) -> Run:
    """:func:`train_gan` with the score-function (REINFORCE) generator."""
    return train_gan("reinforce", seed, **overrides)


def train_mle(seed: int = 0, cfg: DiscreteConfig = DiscreteConfig(), **overrides) -> Run:
    """Maximum likelihood at equal steps: the :class:`Autoregressive` GRU trained by
    cross-entropy, ``-mean log p(x)``, on batches of the same training strings, one exact
    gradient a step and no D. History: ``step``, ``seconds``, ``tv``, ``valid``, ``missing``
    and ``nll`` (nats per string, the mean over the steps since the row before; the truth's
    entropy is 5.70)."""
    cfg = replace(cfg, **overrides)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Autoregressive(cfg.mle_hidden)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr_mle)
    data = training_set(cfg.train_size)
    g = torch.Generator().manual_seed(seed)

    def step():
        x = data[torch.randint(len(data), (cfg.batch_size,), generator=g)]   # (B, L)
        logits = model(x)                                                   # (B, L, V)
        loss = F.cross_entropy(logits.reshape(-1, V), x.reshape(-1)) * L    # nats per string
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"nll": float(loss.detach())}

    history, seconds = _train(step, model.sample, cfg, seed)
    return Run("mle", model, history, seconds, seed, None, cfg)


def summarise(runs: list[Run]) -> dict[str, dict]:
    """The last history row of each run, averaged over the runs of each method (the seeds):
    ``{method: {"seeds": n, "tv": mean, "tv_std": std, "valid": ..., "missing": ...,
    "seconds": ...}}`` (and D's accuracy and G's token entropy for the GANs)."""
    groups: dict[str, list[Run]] = {}
    for run in runs:
        groups.setdefault(run.method, []).append(run)
    out = {}
    for method, group in groups.items():
        row: dict = {"seeds": len(group)}
        for key in ("tv", "valid", "missing", "d_accuracy", "token_entropy", "seconds"):
            if key in group[0].history:
                v = torch.tensor([r.history[key][-1] for r in group], dtype=torch.float64)
                row[key] = float(v.mean())
                if key == "tv":
                    row["tv_std"] = float(v.std()) if len(v) > 1 else 0.0
        out[method] = row
    return out


def exact_distribution(model: Autoregressive) -> torch.Tensor:
    """The MLE model's probability of every string, float64 (V**L,): no sampling noise."""
    strings = all_strings()
    with torch.no_grad():
        return token_log_probs(model(strings), strings).double().exp()


# ---------------------------------------------------------------------------------------
# the estimators' bias and variance, against the exact gradient
# ---------------------------------------------------------------------------------------

def _flat_grad(loss: torch.Tensor, params: list[torch.Tensor]) -> torch.Tensor:
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return torch.cat([(torch.zeros_like(p) if gr is None else gr).flatten() for p, gr in zip(params, grads)])


def gradient_quality(G: nn.Module, D: nn.Module, estimators: dict[str, dict], n_draws: int = 100,
                     batch_size: int = 64, seed: int = 0) -> dict[str, dict]:
    """How well one step's gradient of each estimator points where G should go.

    The target: the exact gradient, for a fixed batch of ``z``, of what G minimises on
    *discrete* strings, ``E_{x ~ p_G(.|z)}[-log D(one_hot(x))]``, a sum over all 4,096
    strings (the tokens are independent given z, so ``p_G(x|z)`` is a product). Each
    estimator (``{"tau": t}``, ``{"tau": t, "hard": True}`` or ``{"reinforce": True}``) is
    drawn ``n_draws`` times with fresh noise on the same ``z``. Returns, for each:

    - ``cosine``: the mean cosine between one draw and the exact gradient (1: the right
      direction; 0: no better than a random direction);
    - ``bias``: the norm of (mean of the draws - exact) over the exact gradient's norm,
      with the part that the draws' own noise adds taken out: about 0 for an unbiased
      estimator (REINFORCE), larger the more the estimator follows another objective;
    - ``spread``: the draws' spread around their mean, ``sqrt(E|g - mean g|^2)``, over the
      exact gradient's norm: the noise of one step;
    - ``bias_floor``: ``spread / sqrt(n_draws)``, the noise left in the mean of the draws: a
      ``bias`` well below it is too small to measure with this many draws.
    """
    g = torch.Generator().manual_seed(seed)
    params = list(G.parameters())
    D.requires_grad_(False)   # only G's gradients are measured
    try:
        z = torch.randn(batch_size, G.latent_dim, generator=g)
        strings = all_strings()
        with torch.no_grad():
            loss_of_string = F.softplus(-D(one_hot(strings)))            # (V**L,): -log D(x)
        logp = torch.log_softmax(G(z), -1)                               # (B, L, V)
        p_all = sum(logp[:, t, strings[:, t]] for t in range(L)).exp()   # (B, V**L): p(x|z)
        exact_loss = (p_all * loss_of_string).sum(1).mean()
        exact = _flat_grad(exact_loss, params)
        baseline = -exact_loss.detach()                                  # the mean reward, exactly
        out = {}
        for name, est in estimators.items():
            g = torch.Generator().manual_seed(seed + 1)   # the same noise for every estimator
            draws = []
            for _ in range(n_draws):
                logits = G(z)
                u = uniform_noise(logits.shape, g)
                if est.get("reinforce"):
                    x = gumbel_max(logits.detach(), u)
                    rewards = F.logsigmoid(D(one_hot(x)))
                    loss = reinforce_loss(token_log_probs(logits, x), rewards, baseline)
                else:
                    loss = g_loss_nonsaturating(D(gumbel_softmax(logits, est["tau"], u, est.get("hard", False))))
                draws.append(_flat_grad(loss, params))
            draws = torch.stack(draws).double()                          # (n_draws, n_params)
            exact64, mean = exact.double(), draws.mean(0)
            var = (draws - mean).pow(2).sum(1).sum() / (n_draws - 1)     # E|g - E g|^2, unbiased
            bias2 = (mean - exact64).pow(2).sum() - var / n_draws        # the mean's own noise removed
            norm = exact64.norm()
            out[name] = {"cosine": float(F.cosine_similarity(draws, exact64[None], dim=1).mean()),
                         "bias": float(bias2.clamp(min=0).sqrt() / norm),
                         "spread": float(var.sqrt() / norm),
                         "bias_floor": float(var.sqrt() / norm / math.sqrt(n_draws))}
        return out
    finally:
        D.requires_grad_(True)


__all__ = ["ALPHABET", "V", "L", "START", "TRANSITIONS", "N_STRINGS", "all_strings", "string_index",
           "string_probability", "probability_table", "is_valid", "sample_language", "training_set",
           "decode", "encode", "one_hot", "empirical", "tv_distance", "tv_to_truth", "valid_fraction",
           "noise_floor", "product_of_marginals", "evaluate", "references", "uniform_noise",
           "gumbel_softmax", "gumbel_max", "reinforce_loss", "token_log_probs", "DiscreteConfig",
           "make_gan", "Autoregressive", "sample_generator", "Run", "argmax_gradient", "d_step",
           "g_step_gumbel", "g_step_reinforce", "train_gan", "train_gumbel", "train_reinforce",
           "train_mle", "exact_distribution", "gradient_quality"]
