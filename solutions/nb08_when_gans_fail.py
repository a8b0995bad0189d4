"""Reference solutions for the exercises of notebook 08 (when GANs fail).

Each function has the name of the notebook's stub; ``gan_course.check.<name>(fn)`` passes
on every one of them (tests/test_check_failures.py runs them and the typical wrong answers).
"""

import math

import torch

from gan_course.models import eval_mode


def sample_eval(G, z):
    """G(z) with batch norm on its running statistics, no graph, G's mode restored."""
    with torch.no_grad(), eval_mode(G):
        return G(z)


def epoch_batches(n, batch_size, generator):
    """One epoch: a permutation from `generator`, cut into n // batch_size full batches."""
    perm = torch.randperm(n, generator=generator)
    return [perm[i:i + batch_size] for i in range(0, n - batch_size + 1, batch_size)]


def gradient_norm(model):
    """sqrt(sum over parameters of sum(grad ** 2)); parameters without a gradient count 0."""
    return math.sqrt(sum(float(p.grad.double().pow(2).sum()) for p in model.parameters()
                         if p.grad is not None))


# Model answers to the experiment and the thinking exercise, keyed by exercise number. The
# numbers of answer 4 were measured for it (seed 0, 300 steps, one CPU thread, the bundled
# training digits); rerun the three calls to see yours.
MODEL_ANSWERS = {
    4: """\
Measured: the failure itself (five D steps per G step) ends at D(x) 1.00, D(G(z)) 0.001 and
diagnose says "D winning", with |grad G| about 12, two and a half times its first 50 steps'.
With n_critic=1 (everything else equal) D(x) 0.59 and D(G(z)) 0.50 over the last 60 steps:
"healthy", G's gradient 2.5, and the samples start to show strokes and a white background
(19% of the pixels, against none). One-sided label smoothing alone (real_label=0.9, still
five D steps) does not cure it: D(x) stops at 0.87 because its real target is now 0.9, but
D(G(z)) is still 0.04 and diagnose still says "D winning" (gap 0.83). Smoothing stops D from
becoming infinitely sure of the real images; it does nothing about D rejecting the fakes,
which is what starves G. The cure here is to stop overtraining D (fewer D steps or a lower
lr_d), or a loss whose critic may be trained hard (WGAN-GP, notebook 09).
""",
    5: """\
D's outputs and the losses only say how well D tells the training data from G's samples,
whatever the training data is. With uniform noise as the data, G learns to make noise, D
cannot tell G's noise from the real noise, and the curves show exactly the balanced game a
healthy run shows: D(x) and D(G(z)) near 0.5, loss_D near log 4, a steady G gradient. The
curves measure agreement between G and the data, not whether the data are digits. So when
the curves look fine but the samples do not, look at the training data first, the way the
model sees it: draw a grid of real batches exactly as the loop feeds them (after scaling and
any transform), and print their range and shape (digits in [-1, 1] with a white -1
background, shape (B, 1, 28, 28)). Then compare the samples with those real images, not with
what the data should be. diagnose does this with the samples: after 1,000 steps almost no
pixel of the noise run's samples is white background, which no healthy run shows.
""",
}
