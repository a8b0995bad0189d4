"""Reference solutions to the exercises of notebooks/00_welcome.ipynb, and MODEL_ANSWERS to the
thinking exercise.

Each function has the name and signature of the notebook's stub; check one with
``from gan_course import check; check.to_pixels(to_pixels)``.
"""

import torch
import torch.nn.functional as F


def to_pixels(x):
    """Images in [-1, 1] -> uint8 pixels 0..255: round((x + 1) * 127.5), clipped."""
    return ((x + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)


def discriminator_loss(logits_real, logits_fake):
    """-[mean log sigmoid(l_real) + mean log(1 - sigmoid(l_fake))], real = 1, fake = 0.

    log(1 - sigmoid(l)) = log sigmoid(-l); F.logsigmoid never takes log(0).
    """
    return -(F.logsigmoid(logits_real).mean() + F.logsigmoid(-logits_fake).mean())


# Model answers to the exercises without a checker, keyed by exercise number.
MODEL_ANSWERS = {
    3: """\
Both terms of L_D change. The real term becomes BCE(D(x), 0) = -log(1 - D(x)) and the fake
term BCE(D(G(z)), 0.9) = -0.9 log D(G(z)) - 0.1 log(1 - D(G(z))). Minimising pointwise, as
notebook 03 does for D*, a·(-log(1 - y)) + b·(-0.9 log y - 0.1 log(1 - y)) with
a = p_data(x), b = p_g(x) has its minimum at y = 0.9 b / (a + b): D learns
D(x) = 0.9 · p_g / (p_data + p_g), the probability that x is FAKE, capped at 0.9. D itself
still learns a useful classifier; its output just means the opposite of the convention.

G is the problem. With the course's generator loss -log D(G(z)) (target 1 = "real"), G now
climbs towards D(G(z)) = 1, i.e. towards where D is surest the samples are fake: away
from the data, so training cannot converge. A convention only works when both losses share
it; the source material also trained G through D's own step, which cannot work at all
(notebook 02, section 5). The 0.9 on the fakes is label smoothing on the wrong side as
well: one-sided smoothing puts 0.9 on the REAL labels only (losses.d_loss_bce), because
smoothing the fake label rewards D for leaving some "real" probability on G's mistakes.
""",
}
