"""Reference solutions for the exercises of notebook 05 (an MLP GAN on MNIST).

Each function has the name of the notebook's stub; ``gan_course.check.<name>(fn)`` passes
on every one of them (tests/test_check_training_loop.py runs them).
"""

import torch
import torch.nn.functional as F


def scale_images(x_uint8):
    """uint8 pixels 0..255 -> float in [-1, 1]: 0 (background) -> -1, 255 (ink) -> +1."""
    return x_uint8.float() / 127.5 - 1


def d_loss_from_logits(logits_real, logits_fake):
    """loss_D = BCE(l_real, 1) + BCE(l_fake, 0) = mean softplus(-l_real) + mean softplus(l_fake)."""
    loss_real = F.binary_cross_entropy_with_logits(logits_real, torch.ones_like(logits_real))
    loss_fake = F.binary_cross_entropy_with_logits(logits_fake, torch.zeros_like(logits_fake))
    return loss_real + loss_fake


def d_step_by_hand(G, D, opt_d, x_real, z):
    """One update of D; G's weights get no gradient (detach)."""
    x_fake = G(z).detach()
    loss_d = d_loss_from_logits(D(x_real), D(x_fake))
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    return loss_d.detach()


def g_step_by_hand(G, D, opt_g, z):
    """One update of G with the non-saturating loss -mean log D(G(z)) = BCE(D(G(z)), 1)."""
    logits_fake = D(G(z))
    loss_g = F.binary_cross_entropy_with_logits(logits_fake, torch.ones_like(logits_fake))
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    return loss_g.detach()


# Model answers to the experiments, keyed by exercise number. These runs take minutes
# each and were not repeated for these answers: the answers give what the course's
# measurements elsewhere show (notebooks 03 and 04, gan_course/assets/PRETRAINED.md) and
# what to look for; numbers quoted are from those places.
MODEL_ANSWERS = {
    5: """\
What to expect, and why: at the start D learns faster than G and rejects the fakes, so
D(G(z)) falls towards 0. The saturating loss log(1 - D(G(z))) has the gradient -D(G(z)) at
each fake's logit, which vanishes exactly then, while the non-saturating -log D(G(z)) has
-(1 - D(G(z))), close to -1. So the saturating run's D(G(z)) stays pinned near 0 for its
first hundreds of steps and its samples stay the initial noise, while the non-saturating
run's D(G(z)) climbs back towards a few tenths. Section 5 writes the two gradients; notebook
03 measured the stall on a 1-D GAN (gradient 217 times smaller at step 1 with D(G(z)) =
0.0044, G not moving under SGD) and notebook 04 section 6 on the ring. With Adam the stall
is shorter (Adam rescales small gradients, notebook 03), but the saturating gradient comes
almost entirely from the few fakes that already fool D.
""",
    6: """\
train_gan refuses to start: the real images lie in [0, 1] while G ends in tanh ([-1, 1]),
so D could tell real from fake by the background alone (with check_range=False it trains). Every real background pixel is then exactly
0, the bottom of the data's range, while G's pixels can take any value in (-1, 1): the
darkest of them are darker than anything real, and a background of exactly 0 is a value G
must hit precisely in the middle of its range. D gets a feature that separates the two sets
without looking at a digit. Expect D(x) to go to 1 and D(G(z)) to 0 early, and G's
gradient to tell it first to move its background to 0 instead of drawing strokes; on the
[-1, 1] display scale such a background is mid-grey. (Not measured for this answer:
compare your run's D(x), D(G(z)) and grids with this.) Section 1 is the fix: scale the data
exactly like G's output range, x / 127.5 - 1, so that only the content differs.
""",
    7: """\
How to measure it: for each (step, images) in history.samples, scores =
metrics.judge_scores(images, judge); the share of the favourite class is
max(scores["class_counts"]) / scores["n"], and argmax(scores["class_counts"]) names it.
Plot both against the step. Two outcomes are possible and tell different stories: a
favourite that keeps its name (always the 1s, say) is a stable bias of G, a region of digit
space it found easy; a favourite that changes from epoch to epoch is the chase of notebook
04 section 5, G moving its excess mass to the class D currently rejects least and D then
learning to reject it. The shipped MLP generator, trained longer with the course's recipe,
still over-represents 1s (18%) and 7s (14%) (PRETRAINED.md): a persistent bias of that
generator. Judge each epoch's grid of 64 only roughly: with 64 samples a class share
carries a standard error of about sqrt(0.1 * 0.9 / 64) ~ 4 percentage points.
""",
    8: """\
An EMA of G's weights (cfg.ema = 0.999) averages out the last few thousand steps' back and
forth, so its samples are usually smoother and at least as often judge-confident as G's.
The measurements behind the shipped MLP generator (PRETRAINED.md, seed 0, one thread):
judge-confident 50% (EMA 54%), 67% (72%), 74% (76%), 78% (80%) at 6,000, 12,000, 18,000
and 36,000 steps, the EMA ahead early and the two converging late. One-sided label
smoothing (real_label = 0.9) stops D from pushing its real logits to infinity, which keeps
its gradients for G moderate; the course's one measurement of it on MNIST (PRETRAINED.md:
with the EMA, 6,000 steps, equal learning rates) gave 54% confident with 58% of the samples
1s, so on its own it did not fix that recipe's trouble. Compare the class histograms as
well as the confident fraction: a higher confident fraction with one class taking over is
not an improvement.
""",
}
