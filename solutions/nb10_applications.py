"""Reference solutions for the exercises of notebook 10 (applications).

Each function has the name of the notebook's stub; ``gan_course.check.<name>(fn)`` passes
on every one of them (tests/test_check_applications.py runs them and the typical wrong
answers).
"""

import torch
from torch.nn import functional as F


def psnr(restored, truth, mask):
    """10 log10(4 / MSE) per image, the MSE over the pixels where mask is 1 (range 2: [-1, 1])."""
    mse = ((restored - truth) ** 2 * mask).flatten(1).sum(1) / mask.flatten(1).sum(1)
    return 10 * torch.log10(4.0 / mse)


def shift_image(x, dy, dx):
    """x moved dy rows down and dx columns right; pad with the background -1, then crop."""
    h, w = x.shape[-2:]
    p = max(abs(dy), abs(dx))
    padded = F.pad(x, (p, p, p, p), value=-1.0)
    return padded[..., p - dy:p - dy + h, p - dx:p - dx + w]


def inpainting_loss(x_gen, y, mask, z, prior_weight):
    """mean over the batch of [masked MSE on the visible pixels + prior_weight * mean(z^2)]."""
    fit = ((x_gen - y) ** 2 * mask).flatten(1).sum(1) / mask.flatten(1).sum(1)
    return (fit + prior_weight * z.pow(2).mean(1)).mean()


# Model answers to the experiment and the thinking exercise, keyed by exercise number.
MODEL_ANSWERS = {
    4: """\
Measured with the shipped DCGAN on the first 200 held-out digits, bottom half hidden,
apps.restore(G_ship, masked, seen, steps=300, lr=0.05, starts=1, prior_weight=w):

    w      PSNR hidden half   judge reads the true class   mean ||z||
    0          10.9 dB                 60%                    13.3
    0.1        10.9 dB                 58%                     4.2
    1          10.9 dB                 58%                     2.2

The prior changes where z ends up, not how well the hidden half is guessed: without it the
codes drift to a norm of 13, beyond the sphere of radius about sqrt(100) = 10 where
N(0, I) puts its samples, and with it they are pulled towards the origin. For inpainting
the visible half pins the digit down and the prior hardly matters here (one start; the
starts matter far more: see apps.restore's docstring). For denoising every pixel is seen, so without a prior the search would also fit
the noise wherever G can draw it; measured the same way on 200 digits with noise 0.6:
w = 0.1 gave 16.3 dB and w = 1 gave 14.7 dB (59-60% of the true class either way). Too
strong a prior pulls every digit towards G(0), an average digit.
""",
    5: """\
Ask, with section 2 as the model: (1) what the GAN was trained on: if it saw more labelled
digits than the classifier (here: all 8,000 labels), the gain is the labels' and the
comparison is a leak; an honest test trains the GAN on the same labelled digits only, or
says it used unlabelled data and how. (2) Which baseline augmentation the classifier had:
here two-pixel random shifts, which cost nothing, beat the honest GAN's samples; a gain
over no augmentation at all says little. (3) How many seeds, and the spread: with 100
labels the accuracy moves by a point or more between seeds. (4) Whether the training was
equal otherwise: more steps, larger effective batches (the extra samples make each batch
bigger) or a tuned learning rate can each explain a few points. (5) Whether the test set
was used to pick anything. (6) Whether the samples were filtered (for example, kept only
where a classifier agreed with the label), which smuggles that classifier's knowledge in.
""",
}
