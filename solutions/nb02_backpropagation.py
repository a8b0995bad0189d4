"""Reference solutions for the exercises of notebook 02 (backpropagation).

Each function has the name of the notebook's stub; ``gan_course.check.<name>(fn)`` passes
on every one of them (tests/test_check_backprop.py runs them).
"""

import torch
import torch.nn.functional as F


def sigmoid_bce_grad(logits, y):
    """dL/dl for L = mean_i BCE(sigmoid(l_i), y_i): (sigmoid(l) - y) / N."""
    return (torch.sigmoid(logits) - y) / logits.numel()


def linear_backward(x, W, grad_out):
    """Gradients of out = x @ W.T + b given grad_out = dL/dout.

    grad_x = grad_out @ W           (B, n_in)
    grad_W = grad_out.T @ x         (n_out, n_in)
    grad_b = grad_out.sum(0)        (n_out,)   b is shared by every sample
    """
    return grad_out @ W, grad_out.T @ x, grad_out.sum(0)


def numerical_gradient(f, x, eps=1e-5):
    """Central differences: grad[i] = (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)."""
    grad = torch.zeros_like(x)
    flat_x, flat_g = x.view(-1), grad.view(-1)  # views: writing flat_x[i] writes x
    for i in range(flat_x.numel()):
        old = flat_x[i].item()
        flat_x[i] = old + eps
        f_plus = float(f(x))
        flat_x[i] = old - eps
        f_minus = float(f(x))
        flat_x[i] = old  # put x back before the next entry
        flat_g[i] = (f_plus - f_minus) / (2 * eps)
    return grad


def generator_step_loss(D, x_fake):
    """Non-saturating G loss: -mean log D(G(z)) = BCE(D(x_fake), 1); x_fake NOT detached."""
    logits_fake = D(x_fake)
    return F.binary_cross_entropy_with_logits(logits_fake, torch.ones_like(logits_fake))


def discriminator_step_loss(D, x_real, x_fake):
    """D loss: BCE(D(x_real), 1) + BCE(D(x_fake.detach()), 0); the detach keeps G out of it."""
    logits_real = D(x_real)
    logits_fake = D(x_fake.detach())
    return (F.binary_cross_entropy_with_logits(logits_real, torch.ones_like(logits_real))
            + F.binary_cross_entropy_with_logits(logits_fake, torch.zeros_like(logits_fake)))


# Model answers to the explore exercises, keyed by exercise number. The numbers were
# measured with the notebook's own objects (widgets._gradient_field_game, section 3's f,
# judge.train_judge with outlier_weight=0 on the bundled subset), on one CPU thread.
MODEL_ANSWERS = {
    6: """\
Per generated point with logit l, the arrow is -dL/dx = -(dL/dl) grad_x l. The
non-saturating loss -log sigma(l) has dL/dl = -(1 - sigma(l)), the saturating
log(1 - sigma(l)) has dL/dl = -sigma(l); both multiply the same grad_x l, so the arrows are
parallel and |saturating| / |non-saturating| = sigma(l) / (1 - sigma(l)). Measured on the
widget's 64 points the per-point ratio matches this to a relative 1.4e-6 at most.

The titles print the mean arrow lengths and the mean D(G(z)). With D after 0 / 50 / 400
steps: mean D(G(z)) = 0.511 / 0.0923 / 0.0006, ratio of the mean lengths 1.049 / 0.107 /
0.00090, and Dbar / (1 - Dbar) = 1.046 / 0.102 / 0.00061. The ratio of means is
sum_i sigma_i |g_i| / sum_i (1 - sigma_i) |g_i|, a ratio of sums weighted by each point's
|grad_x l_i|, not sigma/(1 - sigma) of the mean sigma: it equals Dbar / (1 - Dbar) only when
D(G(z)) is the same for every point. After 400 steps D(G(z)) ranges from 0.0002 to 0.0060
and the ratio of the means (0.00090) is half again as large as Dbar / (1 - Dbar)
(0.00061): the |grad_x l_i|-weighted mean of sigma_i is above its plain mean, so the points
that D doubts most (largest sigma_i) are also the ones with the larger logit gradients.
""",
    7: """\
In float32 each value of f carries a rounding error of about u |f| with u = 2^-24 ~ 6e-8.
The central difference's error is about u |f| / eps + eps^2 |f'''| / 6, smallest at
eps* = (3 u |f| / |f'''|)^(1/3); for f = sin(x) e^x at x = 1 (|f| = 2.29, |f'''| = 1.64)
that is eps* ~ 6.3e-3 with an error bound of 3.2e-5. Measured on section 3's grid of 61
steps in float32: the best central step is 6.3e-3 with an error of 1.5e-5 (the bound
assumes the worst rounding). The forward difference's optimum, sqrt(2 u |f| / |f''|)
~ 3e-4, bounds its error at about 9e-4; its measured minimum, 4e-5 at eps = 6.3e-5, is
luck of the rounding at that one step: its neighbours 4.0e-5 and 1.0e-4 give 1.1e-3 and
1.4e-3, and the median over eps in [1e-5, 1e-3] is 1.4e-3. So in float32 the
best step is about a thousand times larger than in float64 (1e-5) and the best error about
a hundred thousand times worse (1e-10): gradient checks belong in float64.
""",
    8: """\
Measured on one CPU thread (other thread counts give slightly different weights): retrained
for 3 epochs with outlier_weight=0, the judge is 96.85% accurate on the held-out digits
(97.15% with the non-digits) and its logits get sharpened by 1.90 (2.80 with them). On 2,000
images of uniform noise its mean confidence is 0.884 and 61.9% of them are "confident", nearly
all called an 8 (1,844) or a 2 (156); with the non-digits in training: 0.133 and 0.0%. The
confident fraction, the number meant to catch non-digits, now passes most of them. The class
entropy (0.27) would flag the noise as a collapse, which it is not; and note that it is low
with the non-digits too (0.04: when the judge does not know, its arg-max is almost always a
1), so the histogram never says "not a digit". The Frechet distance still catches the noise
plainly: 789 against a floor of 2.8 (400 against 2.1 with the non-digits). Without non-digits
in training nothing teaches a classifier to say "none of these": a softmax over ten digits
always picks one.
""",

}
