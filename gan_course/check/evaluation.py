"""Checkers for notebook 07 (evaluating GANs).

- :func:`frechet_distance`: FD between two sets of features, by hand (the matrix square
  root of S_a S_b, not an elementwise one; the factor 2; covariances with 1/(N-1));
- :func:`inception_score`: the Inception-score analogue exp(E_x KL(p(y|x) || p(y))) from
  class probabilities (the direction of the KL, the exp outside the mean, p(y) as the mean of
  the probabilities, 0 log 0 = 0);
- :func:`knn_precision_recall`: k-NN precision and recall (a point is not its own
  neighbour; which set's balls each one uses);
- :func:`which_metric`: which scoreboard column exposes a given failure.

Each runs the student's function on several cases against the package's metrics and names
the typical mistake behind a wrong answer.
"""

from __future__ import annotations

import math

import torch

from gan_course import metrics
from gan_course.check.core import (Mismatch, as_number, attempted, call, expect, expect_unchanged,
                                   name_the_mistake, run_exercise, snapshot)


def _cov(f: torch.Tensor, ddof: int = 1) -> torch.Tensor:
    c = f - f.mean(dim=0)
    return c.T @ c / (len(f) - ddof)


def _sqrtm(s: torch.Tensor) -> torch.Tensor:
    w, v = torch.linalg.eigh((s + s.T) / 2)
    return (v * w.clamp(min=0).sqrt()) @ v.T


def _fd_parts(a, b, ddof=1):
    return a.mean(0), b.mean(0), _cov(a, ddof), _cov(b, ddof)


def _tr_sqrt_product(sa, sb):
    return float(torch.linalg.eigvals(sa @ sb).real.clamp(min=0).sqrt().sum())


# ---------------------------------------------------------------------------------------
# frechet_distance
# ---------------------------------------------------------------------------------------

# (what the mistake computes from the two feature sets, the hint aimed at it)
FD_MISTAKES = [
    (lambda a, b: float(((a.mean(0) - b.mean(0)) ** 2).sum() + torch.trace(_cov(a)) + torch.trace(_cov(b))
                        - _tr_sqrt_product(_cov(a), _cov(b))),
     "the factor 2 is missing: FD = |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))"),
    (lambda a, b: float(((a.mean(0) - b.mean(0)) ** 2).sum() + torch.trace(_cov(a)) + torch.trace(_cov(b))
                        - 2 * torch.trace(_sqrtm(_cov(a)) @ _sqrtm(_cov(b)))),
     "(S_a S_b)^(1/2) is not S_a^(1/2) S_b^(1/2) unless the two matrices commute: take the "
     "square root of the product, e.g. the sum of the square roots of the eigenvalues of "
     "S_a S_b (torch.linalg.eigvals(S_a @ S_b).real), which equal those of the symmetric "
     "S_a^(1/2) S_b S_a^(1/2)"),
    (lambda a, b: float(((a.mean(0) - b.mean(0)) ** 2).sum() + torch.trace(_cov(a)) + torch.trace(_cov(b))
                        - 2 * torch.trace((_cov(a) @ _cov(b)).clamp(min=0).sqrt())),
     "that square root is taken entry by entry (torch.sqrt of the matrix S_a S_b): the formula "
     "needs the *matrix* square root, whose trace is the sum of the square roots of the "
     "eigenvalues of S_a S_b"),
    (lambda a, b: float(((a.mean(0) - b.mean(0)) ** 2).sum() + torch.trace(_cov(a)) + torch.trace(_cov(b))
                        - 2 * torch.trace((_cov(a) * _cov(b)).clamp(min=0).sqrt())),
     "(S_a * S_b) multiplies entry by entry; the formula needs the matrix product S_a @ S_b "
     "and then its matrix square root"),
    (lambda a, b: float(((a.mean(0) - b.mean(0)) ** 2).sum() + torch.trace(_cov(a, 0)) + torch.trace(_cov(b, 0))
                        - 2 * _tr_sqrt_product(_cov(a, 0), _cov(b, 0))),
     "the covariances divide by N; the course (torch.cov, numpy.cov) divides by N - 1, the "
     "unbiased estimate: S = (f - mean)^T (f - mean) / (N - 1)"),
    (lambda a, b: float((a.mean(0) - b.mean(0)).norm() + torch.trace(_cov(a)) + torch.trace(_cov(b))
                        - 2 * _tr_sqrt_product(_cov(a), _cov(b))),
     "the mean term is the *squared* distance |mu_a - mu_b|^2, not |mu_a - mu_b|"),
    (lambda a, b: float(((a.mean(0) - b.mean(0)) ** 2).sum()),
     "only the means are compared: FD adds Tr(S_a + S_b - 2 (S_a S_b)^(1/2)), which sees a "
     "difference in spread (a collapsed generator has the right mean and too small a covariance)"),
    (lambda a, b: math.sqrt(max(0.0, metrics.frechet_distance(a, b))),
     "that is the square root of FD: FID and the course's FD are the *squared* Wasserstein-2 "
     "distance between the two Gaussians, with no square root at the end"),
]


def _fd_cases():
    g = torch.Generator().manual_seed(7)
    mix = torch.randn(6, 6, generator=g, dtype=torch.float64)
    a = torch.randn(200, 6, generator=g, dtype=torch.float64) @ mix
    b = torch.randn(150, 6, generator=g, dtype=torch.float64) @ torch.randn(6, 6, generator=g, dtype=torch.float64) + 0.7
    c = torch.randn(120, 6, generator=g, dtype=torch.float64) * torch.tensor([3.0, 1, 1, 0.5, 0.2, 1], dtype=torch.float64)
    dead = torch.randn(90, 6, generator=g, dtype=torch.float64).clamp(min=0)
    dead[:, 0] = 0  # a feature that is always 0, as a dead ReLU gives: S is singular
    return [("two correlated 6-d sets of 200 and 150 features", a, b),
            ("a set against itself (FD must be 0)", a, a.clone()),
            ("diagonal spreads 3, 1, 1, 0.5, 0.2, 1 against correlated features", c, a[:80]),
            ("features with one always-0 column (singular covariance)", dead, b[:60]),
            ("the second set shifted by 2 in every coordinate", a[:100], a[100:] + 2.0)]


def frechet_distance(fn, quiet: bool = False):
    """Check ``fn(feats_a, feats_b) -> float``: the Fréchet distance between the Gaussians
    fitted to two sets of features (N_a, F) and (N_b, F),
    |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)), covariances with 1/(N - 1)."""
    cases = _fd_cases()
    answers: list = [None] * len(cases)

    def case(i):
        label, a, b = cases[i]
        args = {"feats_a": a.clone(), "feats_b": b.clone()}
        before = snapshot(**args)
        got = as_number(call(fn, *args.values(), shape_hint="features are (N, F): the means are "
                             "over dim 0, the covariances (F, F) = centred.T @ centred / (N - 1)"), "FD")
        answers[i] = got
        want = metrics.frechet_distance(a, b)
        expect_unchanged(label, args, before)
        if math.isnan(got):
            raise Mismatch(f"{label}: got nan", hint="a square root of a negative number: the "
                           "eigenvalues of S_a S_b can come out a hair below 0 (or complex by "
                           "rounding); take their real part and clamp them at 0 before sqrt")
        if abs(got - want) > 1e-4 * (1 + abs(want)):
            hint = name_the_mistake([(a, b) for _, a, b in cases], answers, FD_MISTAKES,
                                    lambda x, y: abs(x - y) <= 1e-4 * (1 + abs(y)), i)
            raise Mismatch(f"{label}: expected {want:.6g}, got {got:.6g}", hint or
                           "FD = |mu_a - mu_b|^2 + Tr(S_a) + Tr(S_b) - 2 Tr (S_a S_b)^(1/2), with "
                           "Tr (S_a S_b)^(1/2) the sum of the square roots of the eigenvalues of S_a S_b")

    return run_exercise("frechet_distance", fn, [lambda i=i: case(i) for i in range(len(cases))], quiet)


# ---------------------------------------------------------------------------------------
# inception_score
# ---------------------------------------------------------------------------------------

def _is_ref_marginal(p, py):
    """exp(mean_x KL(p(y|x) || py)) with 0 log 0 = 0; the reference when py = p.mean(0)."""
    kl = (torch.xlogy(p, p) - torch.xlogy(p, py.expand_as(p))).sum(1)
    return float(kl.mean().exp())


def _is_ref(p: torch.Tensor) -> float:
    return _is_ref_marginal(p, p.mean(0))


IS_MISTAKES = [
    (lambda p: float(((torch.xlogy(p, p) - torch.xlogy(p, p.mean(0).expand_as(p))).sum(1)).mean()),
     "the exp is missing: IS = exp(mean_x KL(p(y|x) || p(y))), the mean KL alone is its log"),
    (lambda p: float(((torch.xlogy(p, p) - torch.xlogy(p, p.mean(0).expand_as(p))).sum(1)).exp().mean()),
     "the exp is inside the mean: IS = exp(mean_x KL), not mean_x exp(KL)"),
    (lambda p: math.exp(float((p.mean(0)[None, :] * (p.mean(0)[None, :].log() - p.clamp(min=1e-300).log())).sum(1).mean())),
     "the KL is reversed: IS uses KL(p(y|x) || p(y)) = sum_y p(y|x) log(p(y|x) / p(y)), with "
     "p(y|x) weighting the sum"),
    (lambda p: _is_ref_marginal(p, torch.bincount(p.argmax(1), minlength=p.shape[1]).double() / len(p)),
     "p(y) is the mean of the probabilities, (1/N) sum_x p(y|x), not the share of arg-max "
     "classes (a sample the judge is unsure of counts a little for every class)"),
    (lambda p: math.exp(float(-torch.xlogy(p.mean(0), p.mean(0)).sum())),
     "that is exp of the entropy of p(y) alone, which only rewards varied classes; IS = "
     "exp(H(p(y)) - mean_x H(p(y|x))) also rewards confident samples"),
    (lambda p: math.exp(float(((torch.xlogy(p, p) - torch.xlogy(p, p.mean(1, keepdim=True).expand_as(p))).sum(1)).mean())),
     "p(y) is averaged over the wrong axis: probs is (N, classes), so p(y) = probs.mean(dim=0), "
     "one probability per class"),
    (lambda p: math.exp(float(((torch.xlogy(p, p) - torch.xlogy(p, p.mean(0).expand_as(p))).sum(1)).sum())),
     "the KL is summed over the samples: take their mean, then exp"),
]


def _is_cases():
    g = torch.Generator().manual_seed(3)
    soft = torch.softmax(2.5 * torch.randn(60, 10, generator=g, dtype=torch.float64), dim=1)
    onehot = torch.eye(10, dtype=torch.float64)[torch.tensor([0, 1, 2, 3, 3, 3, 4, 5, 6, 7, 8, 9])]
    same = torch.softmax(torch.randn(1, 10, generator=g, dtype=torch.float64), 1).repeat(25, 1)
    three = torch.softmax(4 * torch.randn(37, 3, generator=g, dtype=torch.float64), dim=1)
    sharp = torch.softmax(30 * torch.randn(40, 10, generator=g, dtype=torch.float64), dim=1)
    return [("60 samples, soft probabilities over 10 classes", soft),
            ("12 certain (one-hot) samples, digit 3 three times: 0 log 0 = 0", onehot),
            ("25 samples with the same probabilities (IS must be 1)", same),
            ("37 samples over 3 classes", three),
            ("40 very confident samples (probabilities near 0 and 1)", sharp)]


def inception_score(fn, quiet: bool = False):
    """Check ``fn(probs) -> float``: IS = exp((1/N) sum_x KL(p(y|x) || p(y))) from class
    probabilities ``probs`` (N, C) whose rows sum to 1, with p(y) = (1/N) sum_x p(y|x)."""
    cases = _is_cases()
    answers: list = [None] * len(cases)

    def case(i):
        label, p = cases[i]
        args = {"probs": p.clone()}
        before = snapshot(**args)
        got = as_number(call(fn, args["probs"], shape_hint="probs is (N, C): p(y) = probs.mean(dim=0) "
                             "has one entry per class"), "IS")
        answers[i] = got
        expect_unchanged(label, args, before)
        want = _is_ref(p)
        if math.isnan(got):
            raise Mismatch(f"{label}: got nan", hint="0 * log 0 gives nan in floating point, but the "
                           "limit is 0: use torch.xlogy(p, p) (0 where p = 0), or clamp the "
                           "probabilities inside the log, p * (p.clamp(min=1e-12).log() - ...)")
        if abs(got - want) > 1e-5 * (1 + abs(want)):
            hint = name_the_mistake([(p,) for _, p in cases], answers, IS_MISTAKES,
                                    lambda x, y: abs(x - y) <= 1e-5 * (1 + abs(y)), i)
            raise Mismatch(f"{label}: expected {want:.6g}, got {got:.6g}", hint or
                           "IS = exp(mean over samples of sum_y p(y|x) (log p(y|x) - log p(y))), "
                           "p(y) = probs.mean(dim=0)")

    return run_exercise("inception_score", fn, [lambda i=i: case(i) for i in range(len(cases))], quiet)


# ---------------------------------------------------------------------------------------
# knn_precision_recall
# ---------------------------------------------------------------------------------------

def _radii(x, k, include_self=False, extra=0):
    d = torch.cdist(x, x)
    if not include_self:
        d.fill_diagonal_(math.inf)
    return d.sort(dim=1).values[:, k - 1 + extra]


def _pr(real, fake, r_real, r_fake):
    prec = (torch.cdist(fake, real) <= r_real[None, :]).any(1).double().mean()
    rec = (torch.cdist(real, fake) <= r_fake[None, :]).any(1).double().mean()
    return (float(prec), float(rec))


PR_MISTAKES = [
    (lambda real, fake, k: _pr(real, fake, _radii(real, k, include_self=True), _radii(fake, k, include_self=True)),
     "each point was counted as its own nearest neighbour (distance 0): the k-th nearest *other* "
     "point sets the radius, so skip the point itself (the (k+1)-th smallest distance of its "
     "row, or set the diagonal to inf)"),
    (lambda real, fake, k: (metrics.precision_recall(real, fake, k)["recall"],
                            metrics.precision_recall(real, fake, k)["precision"]),
     "precision and recall are swapped: precision is the share of *fakes* inside the real "
     "balls, recall the share of *reals* inside the fake balls"),
    (lambda real, fake, k: _pr(real, fake, _radii(real, k, extra=1), _radii(fake, k, extra=1)),
     "the radius is the (k+1)-th nearest other point; it is the k-th (with the point itself "
     "excluded)"),
    (lambda real, fake, k: _pr(real, fake, torch.cdist(real, fake).sort(1).values[:, k - 1],
                               torch.cdist(fake, real).sort(1).values[:, k - 1]),
     "the radii were measured to the *other* set: a real point's ball reaches its k-th nearest "
     "other *real* point, a fake point's its k-th nearest other *fake*"),
    (lambda real, fake, k: (float((torch.cdist(fake, real) <= _radii(fake, k)[:, None]).any(1).double().mean()),
                            float((torch.cdist(real, fake) <= _radii(real, k)[:, None]).any(1).double().mean())),
     "the balls are centred on the wrong points: for precision, ask whether a fake lies inside "
     "the ball of some *real* point (radius of that real point), not whether a real point lies "
     "within the fake's own radius; for recall, the other way round"),
]


def _pr_cases():
    g = torch.Generator().manual_seed(5)
    real = torch.randn(40, 3, generator=g, dtype=torch.float64)
    fake = 0.6 * torch.randn(30, 3, generator=g, dtype=torch.float64) + 0.8
    wide = 2.0 * torch.randn(50, 3, generator=g, dtype=torch.float64)
    return [("40 real and 30 fake 3-d points, k = 3", real, fake, 3),
            ("the same sets, k = 1", real, fake, 1),
            ("fakes spread wider than the reals (50 points), k = 5", real, wide, 5),
            ("fakes far away from every real point, k = 3", real, fake + 10.0, 3),
            ("the fakes are 25 of the real points, k = 2", real, real[:25].clone(), 2)]


def knn_precision_recall(fn, quiet: bool = False):
    """Check ``fn(real, fake, k) -> (precision, recall)`` by k-NN balls (Kynkäänniemi et al.
    2019): a point's ball reaches its k-th nearest *other* point of its own set; precision =
    share of fakes inside some real ball, recall = share of reals inside some fake ball."""
    cases = _pr_cases()
    answers: list = [None] * len(cases)

    def case(i):
        label, real, fake, k = cases[i]
        args = {"real": real.clone(), "fake": fake.clone()}
        before = snapshot(**args)
        out = attempted(call(fn, *args.values(), k, shape_hint="real is (N, F) and fake (M, F): "
                             "torch.cdist(a, b) gives all pairwise distances (len(a), len(b))"))
        expect(isinstance(out, (tuple, list)) and len(out) == 2,
               f"{label}: expected a pair (precision, recall), got {type(out).__name__}",
               hint="return precision, recall (two numbers)")
        got = (as_number(out[0], "precision"), as_number(out[1], "recall"))
        answers[i] = got
        expect_unchanged(label, args, before)
        want = metrics.precision_recall(real, fake, k)
        want = (want["precision"], want["recall"])
        if any(abs(g_ - w) > 1e-9 for g_, w in zip(got, want)):
            hint = name_the_mistake([(r, f, k) for _, r, f, k in cases], answers, PR_MISTAKES,
                                    lambda x, y: all(abs(a - b) <= 1e-9 for a, b in zip(x, y)), i)
            raise Mismatch(f"{label}: expected (precision, recall) = ({want[0]:.4g}, {want[1]:.4g}), "
                           f"got ({got[0]:.4g}, {got[1]:.4g})", hint or
                           "radius of each point: distance to its k-th nearest other point of the "
                           "same set; precision: share of fakes within the radius of some real point; "
                           "recall: share of reals within the radius of some fake point")

    return run_exercise("knn_precision_recall", fn, [lambda i=i: case(i) for i in range(len(cases))], quiet)


# ---------------------------------------------------------------------------------------
# which_metric
# ---------------------------------------------------------------------------------------

COLUMNS = ("confident", "entropy", "inception_score", "fd", "precision", "recall", "density",
           "coverage", "nn_distance")
_ALIASES = {"is": "inception_score", "inception": "inception_score", "fid": "fd", "frechet": "fd",
            "fréchet": "fd", "frechet_distance": "fd", "fréchet_distance": "fd",
            "nn": "nn_distance", "nn_dist": "nn_distance", "nearest_neighbour": "nn_distance",
            "nearest_neighbor": "nn_distance", "nearest_neighbour_distance": "nn_distance",
            "class_entropy": "entropy", "confident_fraction": "confident", "confidence": "confident"}

# case: (what happens, columns that expose it, {wrong column: why it does not})
WHICH_CASES = {
    "copier": ("returns exact copies of its training digits", {"nn_distance"}, {
        "fd": "a copier's FD sits at the floor, as real digits do (section 4): FD compares "
              "distributions, and copies of real digits are distributed like real digits",
        "*": "copies of real digits score like real digits on every metric that compares the "
             "samples with the held-out digits; only their distance to the training digits "
             "(0 for a copy) gives them away",
    }),
    "one_per_class": ("draws one fixed digit per class (each a new digit, not a training digit), "
                      "every class equally often", {"recall", "coverage", "fd"}, {
        "entropy": "every class comes up equally often, so the class entropy is at its maximum log 10",
        "inception_score": "each sample is one clear digit and the classes are balanced: IS is "
                           "near 10, its maximum (section 3); IS cannot see the lack of variety "
                           "*within* a class",
        "confident": "the judge is sure of every one of them",
        "nn_distance": "the ten digits are new, so they are as far from the training digits as "
                       "real new digits are",
        "*": "every sample is a realistic digit; what is missing is variety, which recall, "
             "coverage and the covariance term of FD measure",
    }),
    "only_ones": ("draws only 1s, each a good and different 1", {"entropy", "inception_score", "recall", "coverage", "fd"}, {
        "confident": "the judge is sure of good 1s",
        "precision": "every sample is a realistic 1, so every sample lies near real digits",
        "density": "realistic 1s sit inside real 1s' balls",
        "nn_distance": "new 1s are as far from the training digits as real new 1s",
        "*": "the samples are realistic; what is wrong is the mix of classes",
    }),
    "some_blots": ("draws good digits, and a blot (no digit at all) in one sample out of ten",
                   {"precision", "density", "confident", "fd"}, {
        "recall": "the nine good samples in ten still reach the real digits, so recall hardly moves",
        "coverage": "the good samples still reach the real digits' balls, so coverage hardly moves",
        "entropy": "a blot is given some class too, so the class mix barely changes",
        "nn_distance": "the median distance to the training digits looks past one sample in ten",
        "*": "one sample in ten is unrealistic: a measure of quality (how many samples land "
             "near real digits) sees it",
    }),
    "half_the_styles": ("draws perfect digits of every class, but only the upright half of "
                        "each class's handwriting styles (no slanted digits)", {"recall", "coverage", "fd"}, {
        "precision": "every sample is realistic, so precision is high",
        "density": "every sample lies among real digits",
        "confident": "the judge is sure of upright digits",
        "entropy": "every class is there, equally often",
        "inception_score": "every sample is a clear digit of a balanced class mix",
        "nn_distance": "new upright digits are as far from the training digits as real ones",
        "*": "nothing is wrong with any sample; part of the real data gets none",
    }),
}


def _normalise(answer) -> str | None:
    if not isinstance(answer, str):
        return None
    a = answer.strip().lower().replace("-", "_").replace(" ", "_")
    return _ALIASES.get(a, a)


def which_metric(fn, quiet: bool = False):
    """Check ``fn(case) -> column``: for each failure in :data:`WHICH_CASES` ("copier",
    "one_per_class", "only_ones", "some_blots", "half_the_styles"), a scoreboard column
    ("confident", "entropy", "inception_score", "fd", "precision", "recall", "density",
    "coverage" or "nn_distance") that exposes it."""
    def case(name):
        what, right, why = WHICH_CASES[name]
        raw = attempted(fn(name))
        got = _normalise(raw)
        expect(got in COLUMNS, f"{name!r}: {raw!r} is not a scoreboard column",
               hint="answer with one of " + ", ".join(repr(c) for c in COLUMNS))
        if got not in right:
            raise Mismatch(f"{name!r} ({what}): {got!r} does not expose it",
                           hint=why.get(got, why["*"]))

    return run_exercise("which_metric", fn, [lambda n=n: case(n) for n in WHICH_CASES], quiet)
