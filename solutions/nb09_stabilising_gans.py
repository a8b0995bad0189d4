"""Reference solutions for the exercises of notebook 09 (stabilising GANs).

Each function has the name of the notebook's stub; ``gan_course.check.<name>(fn)`` passes
on every one of them (tests/test_check_stabilising.py runs them and the typical wrong answers).
"""

import torch
from torch.nn import functional as F


def hinge_d_loss(scores_real, scores_fake):
    """mean relu(1 - D(x)) + mean relu(1 + D(G(z))), on D's raw scores."""
    return F.relu(1 - scores_real).mean() + F.relu(1 + scores_fake).mean()


def r1_penalty(D, x_real, gamma):
    """gamma / 2 * mean_i ||grad_x D(x_i)||^2 at the real images, differentiable in D's weights."""
    x = x_real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)
    return gamma / 2 * grad.flatten(1).pow(2).sum(1).mean()


@torch.no_grad()
def ema_update(G_ema, G, decay):
    """theta_ema <- decay * theta_ema + (1 - decay) * theta, in place, for every parameter."""
    for p_ema, p in zip(G_ema.parameters(), G.parameters()):
        p_ema.mul_(decay).add_(p, alpha=1 - decay)


# Model answers to the experiment and the thinking exercise, keyed by exercise number.
MODEL_ANSWERS = {
    4: """\
Measured with dirac.trajectory("r1", (1, 1), 0.1, 500, alternating, gamma=g) and
dirac.eigenvalues("r1", gamma=g). The eigenvalues are (-gamma +- sqrt(gamma^2 - 1)) / 2:
gamma 0.1: -0.05 +- 0.50i; gamma 1: -0.5 (twice); gamma 10: -0.025 and -9.97; gamma 100:
-0.0025 and -99.998. After 500 steps the distance from the equilibrium is 0.1 (simultaneous)
and 0.06 (alternating) with gamma 0.1, 6e-10 and 9e-9 with gamma 1, 0.29 with gamma 10, and
NaN with gamma 100. Too little gamma damps the circling weakly (real part -gamma / 2). Too
much splits the eigenvalues: one fast direction (psi is pinned near 0 at once) and one slow
one, about -1 / (4 gamma), along which theta creeps towards the data: D is so flat that it
barely tells G where to go. With gamma 100 the fast eigenvalue -100 makes a step of 0.1
overshoot, |1 + 0.1 * (-100)| = 9 > 1, and the run blows up; a learning rate of 0.01 keeps it
finite but after 500 steps it is still at distance 0.99. The best gamma here is 1, where the
two eigenvalues meet (critical damping). On images gamma has the same two sides, but where
the best value lies depends on the size of D's gradients there, so it has to be measured:
the MNIST sweep uses gamma = 10, Mescheder et al.'s value for most of their datasets, untuned.
""",
    5: """\
Equal steps asks which update does more per update; equal time asks what a budget buys,
the cost of each step included. At equal steps WGAN-GP would get the recipe's 900 generator
steps, about 5.8 times the recipe's 90 s here, and it would still be behind: in the shipped
trace (gan_course/assets/wgan_gp_trace.json, two threads) it was at 46% confident and FD 100
(1,000 samples) at step 905, after 367 s, where the recipe's three seeds averaged 75.9% and
FD 23.3 at about 900 steps. So on this DCGAN and this data WGAN-GP loses per step too, and
far more per second. Papers that train every method for 100,000 steps on large GPUs usually
compare at equal steps: every method is run until it stops improving, and their ranking
answers "which method ends best", not "which is best after ten minutes". A course whose
students have two cores and ten minutes needs the equal-time ranking, because that is the
budget they have. Both rankings depend on the budget (the EMA and DiffAugment are built for
long runs) and on the hardware (a GPU changes what a critic step costs next to a generator
step), so a default chosen on one machine should say where it was measured, and be measured
again where it is used.
""",
}
