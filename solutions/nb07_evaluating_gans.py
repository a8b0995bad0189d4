"""Reference solutions to the exercises of notebooks/07_evaluating_gans.ipynb.

Each function has the name and signature of the notebook's stub; check one with
``from gan_course import check; check.frechet_distance(frechet_distance)``.
"""

import torch


def frechet_distance(feats_a, feats_b):
    """|mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)), covariances with 1/(N - 1).

    Tr (S_a S_b)^(1/2) is the sum of the square roots of the eigenvalues of S_a S_b: they are
    real and >= 0 (those of the symmetric S_a^(1/2) S_b S_a^(1/2)), up to rounding, which
    .real and clamp(min=0) remove.
    """
    a, b = feats_a.double(), feats_b.double()
    mu_a, mu_b = a.mean(dim=0), b.mean(dim=0)
    s_a = (a - mu_a).T @ (a - mu_a) / (len(a) - 1)
    s_b = (b - mu_b).T @ (b - mu_b) / (len(b) - 1)
    tr_sqrt = torch.linalg.eigvals(s_a @ s_b).real.clamp(min=0).sqrt().sum()
    return float(((mu_a - mu_b) ** 2).sum() + torch.trace(s_a) + torch.trace(s_b) - 2 * tr_sqrt)


def inception_score(probs):
    """exp((1/N) sum_x KL(p(y|x) || p(y))), p(y) = (1/N) sum_x p(y|x); xlogy makes 0 log 0 = 0."""
    p = probs.double()
    p_y = p.mean(dim=0, keepdim=True)                                   # (1, C)
    kl = (torch.xlogy(p, p) - torch.xlogy(p, p_y.expand_as(p))).sum(dim=1)  # (N,)
    return float(kl.mean().exp())


def knn_precision_recall(real, fake, k):
    """Each point's ball reaches its k-th nearest *other* point of its own set (the diagonal
    of the within-set distances is set to inf so a point is not its own neighbour)."""
    def radii(x):
        d = torch.cdist(x, x)
        d.fill_diagonal_(float("inf"))
        return d.sort(dim=1).values[:, k - 1]

    r_real, r_fake = radii(real), radii(fake)
    precision = (torch.cdist(fake, real) <= r_real[None, :]).any(dim=1).double().mean()
    recall = (torch.cdist(real, fake) <= r_fake[None, :]).any(dim=1).double().mean()
    return float(precision), float(recall)


def which_metric(case):
    """The scoreboard column that exposes each failure (others are accepted too where they
    also expose it; see gan_course.check.evaluation.WHICH_CASES)."""
    return {
        "copier": "nn_distance",          # only the distance to the training digits sees copies
        "one_per_class": "recall",        # no variety within a class: recall (and coverage) ~ 0
        "only_ones": "entropy",           # one class: class entropy 0
        "some_blots": "precision",        # one sample in ten far from every real digit
        "half_the_styles": "coverage",    # part of the real digits gets no sample
    }[case]


# Model answers to the exercises without a checker, keyed by exercise number. The numbers
# were measured with the shipped generators and judge (full mode, 2,000 samples, noise seed 0).
MODEL_ANSWERS = {
    5: """\
Three the intervals leave out, and how to measure each. (1) The training run: another seed
gives another generator. Retrain from several seeds and look at the spread of the metric
across them (section 8: on the ring, recall varied by 0.11 (sd) across five seeds while one
run's bootstrap half-width was 0.05). (2) The reference set: the 2,000 held-out digits are one
sample of the real digits too. Resample them instead of the generated samples (the same
bootstrap, with the roles swapped), or split them in halves and score against each. (3) The
network: every metric but the NN distance is computed through one judge. Score with a second,
independently trained network (section 7: notebook 06's DCGAN had an FD of 8.4 by the judge and
3.9 by the second, so only rankings compare across networks) and check that the ranking holds. Also left
out: the metric's own settings, above all the sample size, since FD, recall and coverage all
move with n (exercise 6), and k for the k-NN metrics. The intervals only say how much the
value would move with another draw of n samples from this one generator.
""",
    6: """\
Measured on the shipped DCGAN, n = 500 / 1,000 / 2,000 / 4,000 samples (noise seed 0, 200
resamples, the 2,000 held-out digits as reference). Half-widths of the 95% intervals: FD 4.67 /
2.32 / 1.43 / 0.92, precision 0.038 / 0.025 / 0.018 / 0.012, recall 0.036 / 0.029 / 0.021 /
0.019. Precision's half-width falls by about sqrt(2) for every doubling (1.52, 1.39, 1.50), as
1/sqrt(n) says: it is an average over the samples. FD's falls faster at small n (2.0, then 1.6
per doubling): its spread has a 1/n part too; recall's more slowly (1.24, 1.38, 1.11). The
values move as well, and that is the larger lesson: FD falls from 9.95 to 7.70 to 6.14 to 5.32
(its bias, section 5), recall from 0.863 to 0.862 to 0.855 to 0.816 (more samples make the
samples' own k-NN balls smaller) and coverage rises from 0.564 to 0.758 to 0.901 to 0.972 (more
samples land in more of the real balls). FD, recall and coverage are only comparable at the
same n, which is why the scoreboard fixes n in its protocol.
""",
    7: """\
Measured on the shipped generators (2,000 samples, noise seed 0, 200 resamples), for psi = 0.5
/ 0.75 / 1 / 1.5 / 2 / no truncation. Truncated the usual way, the DCGAN's precision rises from
0.812 to 0.850 / 0.880 / 0.930 / 0.981 / 0.997 as psi falls while its recall falls from 0.855 to
0.164, and the MLP GAN loses both (precision 0.848 down to 0.703, recall 0.794 down to 0.217).
With every truncated code rescaled to norm 10, both curves shrink to a point: the DCGAN's
precision is 0.832 to 0.837 and its recall 0.818 to 0.834 at every psi, the MLP GAN's 0.841 to
0.851 and 0.778 to 0.795, and density and coverage stay near their untruncated values (density
0.93 to 0.94 against 0.90 and 0.95 untruncated, coverage 0.90 to 0.92 against 0.90 and 0.89). So nearly everything truncation did to these two generators came from
the shorter codes: inside the shell of typical norms the DCGAN draws its most typical digits
(better precision, fewer styles) and the MLP GAN worse ones. What is left at norm 10 is small:
about +0.02 precision and -0.03 recall for the DCGAN, inside or at the edge of the intervals,
and nothing for the MLP GAN. For these generators, truncation done without shrinking the norm
is almost free and almost useless; done the usual way, its effect depends on what each
generator does with codes it was never trained on.
""",
}
