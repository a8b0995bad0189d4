"""Numbers for how good a generator is, since its losses do not say.

For digits, everything reads the judge (:mod:`gan_course.judge`), a CNN classifier trained
on real MNIST:

- :func:`judge_scores`: how confident the judge is on the samples, which classes it sees
  (histogram and its entropy) and an Inception-score analogue;
- :func:`frechet_distance` on the judge's 64 penultimate features (FID's formula, with the
  judge in place of Inception), against the bundled subset's 2,000 held-out real digits
  (:func:`fid_vs_heldout`), next to its floor, real train digits vs the same held-out ones
  (:func:`fid_floor`);
- :func:`precision_recall` by k-nearest-neighbour manifolds in the same feature space;
- :func:`evaluate_generator`: all of the above for a generator, with a fixed seed.

The reference digits are always the bundled subset's (never full MNIST), so the numbers
compare across machines. For 2-D toy data, :func:`mode_coverage` counts the modes a
generator reaches and how many of its samples land on one.

Caches: the judge's statistics of the real digits are computed once per judge object.
If you change a judge's weights in place, call :func:`clear_cache`.
"""

from __future__ import annotations

import math
import warnings
import weakref

import torch
import torch.nn.functional as F

N_CLASSES = 10
CONFIDENT = 0.9  # a sample is "confidently a digit" when the judge's max softmax exceeds this
FLOOR_N = 2000   # real train digits compared with the 2,000 held-out ones for the floor

_default_judges: dict[str, torch.nn.Module] = {}        # device -> the shipped judge
_real_cache: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # judge -> {name: value}


def clear_cache() -> None:
    """Forget the cached shipped judge and every cached feature statistic."""
    _default_judges.clear()
    _real_cache.clear()


def _judge_or_default(judge, device=None) -> torch.nn.Module:
    if judge is not None:
        return judge
    from gan_course.judge import load_judge
    from gan_course.runtime import pick_device

    key = str(pick_device(device))
    if key not in _default_judges:
        _default_judges[key] = load_judge(key)
    return _default_judges[key]


def _check_images(x: torch.Tensor) -> torch.Tensor:
    x = torch.as_tensor(x)
    if x.dim() == 3:  # (N, 28, 28): add the channel axis
        x = x.unsqueeze(1)
    if x.dim() != 4 or x.shape[1:] != (1, 28, 28):
        raise ValueError(f"expected digit images of shape (N, 1, 28, 28), got {tuple(x.shape)}")
    if len(x) == 0:
        raise ValueError("got 0 images; pass at least a few hundred samples for stable numbers")
    lo, hi = float(x.min()), float(x.max())
    if lo < -1.5 or hi > 1.5:
        raise ValueError(f"images must be in [-1, 1] like the training data, got values in "
                         f"[{lo:.1f}, {hi:.1f}]; 0..255 images: x / 127.5 - 1")
    if lo >= 0 and hi <= 1 and hi > 0.5:
        warnings.warn("these images look scaled to [0, 1], but the judge (like the GANs) works "
                      "on [-1, 1], where the background is -1; rescale with 2 * x - 1.",
                      stacklevel=3)
    return x.float()


@torch.no_grad()
def judge_outputs(samples: torch.Tensor, judge=None, batch_size: int = 500,
                  device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The judge's log-probabilities (N, 10) and features (N, 64) for ``samples``, on the CPU."""
    x = _check_images(samples)
    from gan_course.models import eval_mode

    judge = _judge_or_default(judge, device)
    dev = next(judge.parameters()).device
    logps, feats = [], []
    with eval_mode(judge):  # no dropout/batch-norm updates while scoring
        for i in range(0, len(x), batch_size):
            f = judge.features(x[i:i + batch_size].to(dev))
            logps.append(F.log_softmax(judge.head(f), dim=1).double().cpu())
            feats.append(f.double().cpu())
    return torch.cat(logps), torch.cat(feats)


def scores_from_log_probs(log_probs: torch.Tensor) -> dict:
    """The judge's verdict from log p(y|x) of shape (N, 10); see :func:`judge_scores`."""
    log_probs = log_probs.double()
    probs = log_probs.exp()
    n = len(probs)
    conf = probs.max(dim=1).values
    counts = torch.bincount(probs.argmax(dim=1), minlength=N_CLASSES)
    share = counts.double() / n
    entropy = -(share[share > 0] * share[share > 0].log()).sum()
    # p(y) = E_x p(y|x); KL(p(y|x) || p(y)) = sum_y p(y|x) (log p(y|x) - log p(y))
    log_py = torch.logsumexp(log_probs, dim=0) - math.log(n)
    kl = (probs * (log_probs - log_py)).sum(dim=1)
    return {
        "n": n,
        "confident_fraction": float((conf > CONFIDENT).double().mean()),
        "mean_confidence": float(conf.mean()),
        "class_counts": [int(c) for c in counts],
        "class_entropy": float(entropy) + 0.0,  # + 0.0 turns -0.0 (one class) into 0.0
        "inception_score": float(kl.mean().exp()),
    }


def judge_scores(samples: torch.Tensor, judge=None, batch_size: int = 500) -> dict:
    """What the judge says about a set of digit images (N, 1, 28, 28) in [-1, 1].

    With p(y|x) = softmax(judge(x)) and p(y) = (1/N) sum_x p(y|x):

    - ``confident_fraction``: fraction of samples with max_y p(y|x) > 0.9 (look like *a* digit);
    - ``mean_confidence``: mean of max_y p(y|x);
    - ``class_counts``: how many samples the judge puts in each class 0..9 (arg-max);
    - ``class_entropy``: H = -sum_c q_c log q_c of those counts' shares q_c, in nats;
      log 10 ~ 2.303 when every class is equally frequent, 0 when all are one class;
    - ``inception_score``: the Inception-score analogue (Salimans et al. 2016)
      IS = exp(E_x KL(p(y|x) || p(y))), between 1 and 10: high when each sample is
      confidently one class *and* the classes are varied.
    """
    log_probs, _ = judge_outputs(samples, judge, batch_size)
    return scores_from_log_probs(log_probs)


def gaussian_stats(feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (F,) and covariance (F, F) of features (N, F), float64; covariance with 1/(N-1)."""
    f = torch.as_tensor(feats).double()
    if f.dim() != 2 or len(f) < 2:
        raise ValueError(f"expected features of shape (N, F) with N >= 2, got {tuple(f.shape)}")
    mu = f.mean(dim=0)
    centred = f - mu
    return mu, centred.T @ centred / (len(f) - 1)


def _sqrt_psd(s: torch.Tensor) -> torch.Tensor:
    """Symmetric square root of a positive semi-definite matrix, by eigh (negatives -> 0)."""
    w, v = torch.linalg.eigh((s + s.T) / 2)
    return (v * w.clamp(min=0).sqrt()) @ v.T


def frechet_distance_tensor(mu_a, cov_a, mu_b, cov_b, floor: float = 0.0) -> torch.Tensor:
    """:func:`frechet_distance_from_stats` as a 0-d tensor that gradients flow through (into
    mu_b and S_b: put the statistics being optimised second). Eigenvalues of the middle
    matrix are clamped at ``floor``; a small floor (1e-10) keeps the square root's gradient
    finite where S_b is singular (features that are always 0)."""
    root_a = _sqrt_psd(cov_a)
    # S_a S_b has the same eigenvalues as the symmetric PSD matrix S_a^1/2 S_b S_a^1/2,
    # so Tr (S_a S_b)^1/2 = sum of the square roots of that matrix's eigenvalues.
    m = root_a @ cov_b @ root_a
    tr_sqrt = torch.linalg.eigvalsh((m + m.T) / 2).clamp(min=floor).sqrt().sum()
    diff = mu_a - mu_b
    return diff @ diff + torch.trace(cov_a) + torch.trace(cov_b) - 2 * tr_sqrt


def frechet_distance_from_stats(mu_a, cov_a, mu_b, cov_b) -> float:
    """The Fréchet distance between N(mu_a, S_a) and N(mu_b, S_b); see :func:`frechet_distance`."""
    mu_a, mu_b = torch.as_tensor(mu_a).double(), torch.as_tensor(mu_b).double()
    cov_a, cov_b = torch.as_tensor(cov_a).double(), torch.as_tensor(cov_b).double()
    fd = frechet_distance_tensor(mu_a, cov_a, mu_b, cov_b)
    return float(fd.clamp(min=0))  # rounding can leave -1e-12 for identical sets


def frechet_distance(feats_a: torch.Tensor, feats_b: torch.Tensor) -> float:
    """Fréchet distance between two sets of features (N_a, F) and (N_b, F) (Heusel et al. 2017).

    Fit a Gaussian to each set (mean mu, covariance S); the squared Wasserstein-2 distance
    between the two Gaussians is

        FD = ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^{1/2}).

    0 for identical sets; it grows as the means move apart or the spreads differ. Computed in
    float64 with a symmetric square root (eigh), which stays stable when S is singular.
    """
    return frechet_distance_from_stats(*gaussian_stats(feats_a), *gaussian_stats(feats_b))


def _real_stats(judge, name: str):
    """Judge features (and their Gaussian statistics) of the bundled subset's real digits,
    cached per judge: ``name`` is "heldout" (2,000 held-out) or "train" (first 2,000 train)."""
    cache = _real_cache.setdefault(judge, {})
    if name not in cache:
        from gan_course.judge import bundled_subset_split

        x_train, _, x_held, _ = bundled_subset_split()
        x = x_held if name == "heldout" else x_train[:FLOOR_N]
        _, feats = judge_outputs(x, judge)
        cache[name] = (feats, *gaussian_stats(feats))
    return cache[name]


def get_judge(judge=None, device=None) -> torch.nn.Module:
    """``judge`` itself, or the shipped judge on ``device`` (loaded once, then cached)."""
    return _judge_or_default(judge, device)


def reference_features(judge=None, which: str = "heldout"):
    """The judge's features (N, 64) of the bundled subset's real digits, with their mean and
    covariance: ``which`` = "heldout" (the 2,000 held-out digits every metric compares with)
    or "train" (the first 2,000 training digits, the floor's). Cached per judge."""
    if which not in ("heldout", "train"):
        raise ValueError(f"which must be 'heldout' or 'train', got {which!r}")
    return _real_stats(_judge_or_default(judge), which)


def fid_vs_heldout(samples: torch.Tensor, judge=None) -> float:
    """Fréchet distance (judge features) of ``samples`` vs the subset's 2,000 held-out digits.

    Always the bundled subset's held-out split, so numbers compare across machines. Compare
    it with :func:`fid_floor`: real digits do not reach 0 either.
    """
    judge = _judge_or_default(judge)
    _, feats = judge_outputs(samples, judge)
    _, mu_h, cov_h = _real_stats(judge, "heldout")
    return frechet_distance_from_stats(*gaussian_stats(feats), mu_h, cov_h)


def fid_floor(judge=None) -> float:
    """The same distance for 2,000 real *train* digits vs the 2,000 held-out ones.

    The best a generator can hope for with samples of this size: two real samples differ too.
    """
    judge = _judge_or_default(judge)
    cache = _real_cache.setdefault(judge, {})
    if "floor" not in cache:
        _, mu_t, cov_t = _real_stats(judge, "train")
        _, mu_h, cov_h = _real_stats(judge, "heldout")
        cache["floor"] = frechet_distance_from_stats(mu_t, cov_t, mu_h, cov_h)
    return cache["floor"]


def fd_at_sizes(feats_a: torch.Tensor, feats_b: torch.Tensor, sizes, repeats: int = 5,
                seed: int = 0) -> dict:
    """The Fréchet distance between random subsets of ``N`` features of each set, for each
    ``N`` in ``sizes``, ``repeats`` times (subsets drawn without replacement, seeded).

    FD estimated from N samples is biased upwards: the noise in the estimated means and
    covariances adds to the distance, by about c / N for some c > 0 that depends on the
    features (Chong & Forsyth 2020). So FD values are comparable only at the same N.
    Returns ``{"sizes": [...], "fd": tensor (len(sizes), repeats), "mean": [...],
    "std": [...]}``; where N is the size of both sets the repeats are identical.
    """
    a, b = torch.as_tensor(feats_a).double(), torch.as_tensor(feats_b).double()
    sizes = [int(n) for n in sizes]
    if not sizes or min(sizes) < 2 or max(sizes) > min(len(a), len(b)):
        raise ValueError(f"sizes must lie between 2 and the smaller set's size "
                         f"({min(len(a), len(b))}), got {sizes}")
    gen = torch.Generator().manual_seed(seed)
    fd = torch.empty(len(sizes), repeats, dtype=torch.float64)
    for i, n in enumerate(sizes):
        for r in range(repeats):
            ia, ib = torch.randperm(len(a), generator=gen)[:n], torch.randperm(len(b), generator=gen)[:n]
            fd[i, r] = frechet_distance(a[ia], b[ib])
    return {"sizes": sizes, "fd": fd, "mean": fd.mean(dim=1).tolist(),
            "std": (fd.std(dim=1) if repeats > 1 else torch.zeros(len(sizes))).tolist()}


def fd_extrapolate(sizes, fds) -> dict:
    """FD at infinitely many samples, by the extrapolation of Chong & Forsyth (2020).

    Fit the straight line FD_N = FD_inf + slope / N to the points (1/N, FD_N) by least squares
    and read its intercept at 1/N = 0:

        slope = cov(1/N, FD_N) / var(1/N),    FD_inf = mean(FD_N) - slope * mean(1/N).

    ``sizes``: the N values; ``fds``: the FD at each, or a (len(sizes), R) table of R
    repeats (``fd_at_sizes``'s ``"fd"``), when each repeat gets its own line: then
    ``fd_inf`` is their mean and ``fd_inf_each`` the R intercepts, whose spread says how
    sure the extrapolation is. FD_inf can come out below 0 for two samples of one
    distribution (the line is a first-order model of the bias).
    """
    x = 1.0 / torch.as_tensor(sizes, dtype=torch.float64)
    y = torch.as_tensor(fds, dtype=torch.float64)
    y = y[:, None] if y.dim() == 1 else y
    if y.shape[0] != len(x) or len(x) < 2 or torch.unique(x).numel() < 2:
        raise ValueError(f"need FD values at two or more different sizes, got sizes {list(sizes)} "
                         f"and values of shape {tuple(y.shape)}")
    xc = (x - x.mean())[:, None]
    slope = (xc * (y - y.mean(dim=0))).sum(dim=0) / (xc * xc).sum()
    fd_inf = y.mean(dim=0) - slope * x.mean()
    return {"fd_inf": float(fd_inf.mean()), "slope": float(slope.mean()),
            "fd_inf_each": fd_inf.tolist()}


def _check_feature_sets(real_feats, fake_feats, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    real = torch.as_tensor(real_feats).double()
    fake = torch.as_tensor(fake_feats).double()
    if real.dim() != 2 or fake.dim() != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"expected features (N, F) and (M, F), got {tuple(real.shape)} and "
                         f"{tuple(fake.shape)}")
    if min(len(real), len(fake)) <= k:
        raise ValueError(f"need more than k = {k} samples in each set, got {len(real)} real "
                         f"and {len(fake)} fake")
    return real, fake


def _nearest_others(x: torch.Tensor, m: int, chunk: int, rows: torch.Tensor | None = None):
    """Distances (and indices) from each point of ``x`` (or the points ``rows``) to its ``m``
    nearest *other* points of ``x``, ascending: shapes (len, m)."""
    rows = torch.arange(len(x)) if rows is None else rows
    values, indices = [], []
    for i in range(0, len(rows), chunk):
        r = rows[i:i + chunk]
        d = torch.cdist(x[r], x)
        d[torch.arange(len(r)), r] = math.inf  # a point is not its own neighbour
        v, j = d.topk(m, dim=1, largest=False)  # topk: faster than a full sort
        values.append(v), indices.append(j)
    return torch.cat(values), torch.cat(indices)


class NeighbourBalls:
    """k-nearest-neighbour balls around real and generated features, built once, scored often.

    Each real feature r_i gets the ball B(r_i, rho_k(r_i)), rho_k(r_i) being the distance from
    r_i to its k-th nearest *other* real feature; each generated feature g_j gets
    B(g_j, rho_k(g_j)) among the generated ones. With N real and M generated features:

        precision = (1/M) sum_j 1[g_j lies in some real ball]              (Kynkäänniemi et al.
        recall    = (1/N) sum_i 1[r_i lies in some generated ball]          2019; k = k_pr)
        density   = 1/(k M) sum_j sum_i 1[g_j in B(r_i, rho_k(r_i))]       (Naeem et al.
        coverage  = (1/N) sum_i 1[some g_j lies in B(r_i, rho_k(r_i))]      2020; k = k_dc)

    Precision asks "are the samples realistic?", recall "is all of the data reached?".
    Density counts *how many* real balls hold each sample (1 on average for samples
    distributed like the real ones; it is not capped at 1), so a few outlying real
    digits with huge balls cannot make bad samples look good the way they can for precision;
    coverage uses only the real balls, so outlying *samples* with huge balls cannot fake
    coverage the way they can fake recall.

    :meth:`scores` takes counts c_j, how often each generated sample is drawn in a bootstrap
    resample (:mod:`gan_course.bootstrap`): every sum over j is then weighted by c_j (and
    divided by sum_j c_j instead of M), a sample with c_j = 0 is absent, and rho_k(g_j) is
    the distance to the k-th nearest other *drawn* sample counted with multiplicity, never
    to one of g_j's own copies (a copy at distance 0 would shrink its ball to nothing).
    The real side is never resampled: it is the fixed reference.
    """

    def __init__(self, real_feats, fake_feats, k_pr: int = 3, k_dc: int = 5, chunk: int = 1024,
                 reach: int = 16):
        self.real, self.fake = _check_feature_sets(real_feats, fake_feats, max(k_pr, k_dc))
        self.k_pr, self.k_dc, self.chunk = k_pr, k_dc, chunk
        real_nn, _ = _nearest_others(self.real, max(k_pr, k_dc), chunk)
        self.real_radius_pr, self.real_radius_dc = real_nn[:, k_pr - 1], real_nn[:, k_dc - 1]
        self.dist = torch.cat([torch.cdist(self.fake[i:i + chunk], self.real)  # (M, N)
                               for i in range(0, len(self.fake), chunk)])
        self.in_real = (self.dist <= self.real_radius_pr[None, :]).any(dim=1)     # (M,)
        in_dc_balls = self.dist <= self.real_radius_dc[None, :]                   # (M, N)
        self.n_dc_balls = in_dc_balls.sum(dim=1)                                  # (M,)
        self._dc_pairs = in_dc_balls.nonzero().T  # (generated j, real i) with g_j in B(r_i)
        self.reach = max(k_pr, min(reach, len(self.fake) - 1))
        self._fake_nn = None  # the generated points' neighbours, found when recall first needs them

    def _generated_balls(self):
        """Each generated point's ``reach`` nearest others, and the (generated j, real i) pairs
        with r_i within the distance of g_j's reach-th neighbour: every pair a ball of g_j can
        hold unless fewer than k of those neighbours are drawn (then :meth:`scores` checks
        that row against every real point)."""
        if self._fake_nn is None:
            nb_dist, nb_idx = _nearest_others(self.fake, self.reach, self.chunk)
            pairs = (self.dist <= nb_dist[:, -1:]).nonzero().T
            self._fake_nn = nb_dist, nb_idx, pairs, self.dist[pairs[0], pairs[1]]
        return self._fake_nn

    def _fake_radius(self, counts: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """rho_k(g_j) for every generated point under ``counts`` (see the class docstring), and
        which points found their k-th drawn neighbour beyond their ``reach`` nearest."""
        nb_dist, nb_idx, _, _ = self._generated_balls()
        k = self.k_pr
        if counts is None:
            return nb_dist[:, k - 1], torch.zeros(len(self.fake), dtype=torch.bool)
        # walk each point's neighbours nearest first, adding their counts, until k are reached
        reached = counts[nb_idx].cumsum(dim=1) >= k
        radius = nb_dist.gather(1, reached.to(torch.uint8).argmax(dim=1, keepdim=True)).squeeze(1)
        far = ~reached.any(dim=1) & (counts > 0)
        if far.any():
            rows = far.nonzero().squeeze(1)
            d_all, i_all = _nearest_others(self.fake, len(self.fake) - 1, self.chunk, rows)
            pos = (counts[i_all].cumsum(dim=1) >= k).to(torch.uint8).argmax(dim=1, keepdim=True)
            radius[rows] = d_all.gather(1, pos).squeeze(1)
        return radius, far

    def scores(self, counts: torch.Tensor | None = None) -> dict:
        """``precision``, ``recall``, ``density``, ``coverage`` (and ``k_pr``, ``k_dc``);
        ``counts`` (M,): how often each generated sample is drawn (default: once each)."""
        n_real = len(self.real)
        if counts is None:
            c = torch.ones(len(self.fake), dtype=torch.float64)
        else:
            c = torch.as_tensor(counts, dtype=torch.float64)
            if c.shape != (len(self.fake),) or (c < 0).any() or c.sum() <= self.k_pr:
                raise ValueError(f"counts must be {len(self.fake)} non-negative numbers summing to "
                                 f"more than k = {self.k_pr}, got shape {tuple(c.shape)}")
        present = c > 0
        total = c.sum()
        radius, far = self._fake_radius(None if counts is None else c)
        _, _, (pj, pi), pair_d = self._generated_balls()
        hit = present[pj] & (pair_d <= radius[pj])
        recalled = torch.zeros(n_real, dtype=torch.bool)
        recalled[pi[hit]] = True
        if far.any():  # balls larger than the candidate pairs reach: check those rows in full
            recalled |= (self.dist[far] <= radius[far, None]).any(dim=0)
        covered = torch.zeros(n_real, dtype=torch.bool)
        dj, di = self._dc_pairs
        covered[di[present[dj]]] = True
        return {
            "precision": float((c * self.in_real).sum() / total),
            "recall": float(recalled.double().mean()),
            "density": float((c * self.n_dc_balls).sum() / (self.k_dc * total)),
            "coverage": float(covered.double().mean()),
            "k_pr": self.k_pr, "k_dc": self.k_dc,
        }


def precision_recall(real_feats: torch.Tensor, fake_feats: torch.Tensor, k: int = 3,
                     chunk: int = 1024) -> dict:
    """Precision and recall of generated samples by k-NN manifolds (Kynkäänniemi et al. 2019).

    The real manifold is the union of balls B(r, rho_k(r)) around each real feature r, where
    rho_k(r) is the distance from r to its k-th nearest other real feature; the fake
    manifold likewise. Then

    - precision = fraction of fakes inside the real manifold (are the samples realistic?),
    - recall    = fraction of reals inside the fake manifold (is all of the data covered?).

    A collapsed generator can have high precision and low recall; a noisy one the reverse.
    (:class:`NeighbourBalls` computes them, with density and coverage.)
    """
    s = NeighbourBalls(real_feats, fake_feats, k_pr=k, k_dc=k, chunk=chunk).scores()
    return {"precision": s["precision"], "recall": s["recall"], "k": k}


def density_coverage(real_feats: torch.Tensor, fake_feats: torch.Tensor, k: int = 5,
                     chunk: int = 1024) -> dict:
    """Density and coverage of generated samples (Naeem et al. 2020), k = 5 as in the paper.

    With real features r_1..r_N, their k-NN radii rho_k(r_i) (distance to the k-th nearest
    other real), and generated features g_1..g_M:

        density  = 1/(k M) sum_j sum_i 1[||g_j - r_i|| <= rho_k(r_i)]
        coverage = (1/N) sum_i 1[min_j ||g_j - r_i|| <= rho_k(r_i)]

    Both use only the real balls: density is about 1 for samples distributed like the
    real data (it can exceed 1 where samples crowd the densest real regions), coverage is
    the share of real digits with a sample nearby. Computed by :class:`NeighbourBalls`.
    """
    s = NeighbourBalls(real_feats, fake_feats, k_pr=k, k_dc=k, chunk=chunk).scores()
    return {"density": s["density"], "coverage": s["coverage"], "k": k}


def truncated_normal(n: int, dim: int, truncation: float | None = None,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` noise vectors (n, dim), each entry from N(0, 1) restricted to [-psi, psi].

    ``truncation`` psi: the *truncation trick* (Brock et al. 2019, BigGAN): entries beyond
    psi are never drawn, so G sees only its most typical inputs. Sampled exactly by
    inverting the normal CDF Phi:

        z = Phi^{-1}(Phi(-psi) + u (Phi(psi) - Phi(-psi))),   u ~ U(0, 1),

    whose variance is 1 - 2 psi phi(psi) / (2 Phi(psi) - 1) (phi the normal density).
    ``None`` (or inf) is plain ``torch.randn``, the same numbers as with no truncation at all.
    """
    if truncation is None or math.isinf(truncation):
        return torch.randn(n, dim, generator=generator)
    if not truncation > 0:
        raise ValueError(f"truncation must be a positive number (or None for none), got {truncation!r}")
    psi = torch.tensor(float(truncation), dtype=torch.float64)
    lo = torch.special.ndtr(-psi)
    u = torch.rand(n, dim, generator=generator, dtype=torch.float64)
    return torch.special.ndtri(lo + u * (1 - 2 * lo)).clamp(-psi, psi).float()  # 1 - 2 lo = Phi(psi) - Phi(-psi)


def nearest_neighbours(x: torch.Tensor, reference: torch.Tensor, chunk: int = 500
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """For each image of ``x`` (M, ...): the Euclidean distance over pixels to its nearest
    image of ``reference`` (N, ...), min_j ||x_i - ref_j||, and that image's index j.

    Notebook 06's memorisation check: a generator that copies its training digits puts its
    samples at distance 0 from them, much closer than new real digits come.
    """
    flat = torch.as_tensor(reference).flatten(1).double()
    if len(flat) == 0 or len(x) == 0:
        raise ValueError("nearest_neighbours needs at least one image on each side")
    dist, idx = [], []
    for part in torch.as_tensor(x).double().flatten(1).split(chunk):
        # |a|^2 - 2 a.b + |b|^2 by one matrix product, in float64 so that a copy comes out at
        # about 1e-6 from its original (float32 rounding would leave about 0.03)
        d = torch.cdist(part, flat)
        m = d.min(dim=1)
        dist.append(m.values.float()), idx.append(m.indices)
    return torch.cat(dist), torch.cat(idx)


@torch.no_grad()
def sample_generator(G: torch.nn.Module, n: int = 2000, seed: int = 0,
                     batch_size: int = 500, digit: int | None = None,
                     truncation: float | None = None) -> torch.Tensor:
    """``n`` samples of ``G`` in eval mode (restored after), float32 on the CPU.

    The noise comes from a CPU generator seeded with ``seed``, so the same G gives the same
    samples on any device. A class-conditional G (``G.n_classes``) gets balanced labels
    0, 1, ..., 9, 0, 1, ..., or all ``digit`` when it is given. ``truncation`` psi draws
    the noise from N(0, 1) truncated to [-psi, psi] (:func:`truncated_normal`).
    """
    from gan_course.training import sample_images

    latent_dim = getattr(G, "latent_dim", None)
    if latent_dim is None:
        raise ValueError("G has no `latent_dim` attribute; build it with gan_course.models "
                         "or set G.latent_dim to the size of its noise vector")
    z = truncated_normal(n, latent_dim, truncation, torch.Generator().manual_seed(seed))
    n_classes = getattr(G, "n_classes", None)
    if digit is not None and not (n_classes and 0 <= digit < n_classes):
        raise ValueError(f"digit={digit!r} needs a class-conditional generator with that class "
                         f"(this one: {type(G).__name__}, classes {n_classes or 'none'})")
    y = None
    if n_classes:
        y = torch.full((n,), digit, dtype=torch.int64) if digit is not None else torch.arange(n) % n_classes
    out = []
    for i in range(0, n, batch_size):  # sample_images moves each batch to G's device
        out.append(sample_images(G, z[i:i + batch_size], None if y is None else y[i:i + batch_size]))
    return torch.cat(out)


def evaluate_generator(G: torch.nn.Module, n: int = 2000, seed: int = 0, device=None,
                       judge=None, k: int = 3) -> dict:
    """Every digit metric for generator ``G`` on ``n`` samples drawn with a fixed ``seed``.

    Returns the keys of :func:`judge_scores` plus ``fd`` (:func:`fid_vs_heldout`),
    ``fd_floor`` (:func:`fid_floor`) and ``precision``/``recall`` (:func:`precision_recall`
    against the 2,000 held-out digits, k = 3). ``device``: where the shipped judge runs
    (default: the best available); G samples on its own device.
    """
    judge = _judge_or_default(judge, device)
    samples = sample_generator(G, n, seed)
    log_probs, feats = judge_outputs(samples, judge)
    held_feats, mu_h, cov_h = _real_stats(judge, "heldout")
    out = scores_from_log_probs(log_probs)
    out["fd"] = frechet_distance_from_stats(*gaussian_stats(feats), mu_h, cov_h)
    out["fd_floor"] = fid_floor(judge)
    out.update(precision_recall(held_feats, feats, k=k))
    return out


def mode_coverage(samples: torch.Tensor, centers, std: float | None = None, n_std: float = 3.0,
                  min_share: float = 0.1) -> dict:
    """How many modes of a 2-D mixture a generator reaches, and how well.

    ``centers``: a (K, 2) tensor of mode centres (then a sample hits mode k when k is its
    nearest centre and it lies within ``n_std * std`` of it), or a
    :class:`gan_course.toy.ToyData` (then its own hit radius is used, which for the two
    moons also covers the arc between modes).

    - ``high_quality``: fraction of samples that hit some mode;
    - ``counts``: hits per mode (K,);
    - ``covered``: a mode counts as covered when it gets at least
      ``min_count = max(1, ceil(min_share * N / K))`` hits, i.e. 10% (by default) of the
      N/K samples a perfect generator would put there;
    - ``modes_covered``: how many are covered, out of ``n_modes``.
    """
    from gan_course.toy import ToyData

    if isinstance(centers, ToyData):
        data = centers
    else:
        if std is None:
            raise ValueError("pass the mixture's std (a sample within n_std * std of a centre "
                             "is a hit), or pass a ToyData instead of the centres")
        c = torch.as_tensor(centers, dtype=torch.float32).cpu()
        data = ToyData("mixture", c, float(std), n_std * float(std))
    x = torch.as_tensor(samples, dtype=torch.float32).detach().cpu()
    if x.dim() != 2 or x.shape[1] != 2 or len(x) == 0:
        raise ValueError(f"expected 2-D samples of shape (N, 2), got {tuple(x.shape)}")
    counts = data.mode_hits(x)
    n, k = len(x), data.n_modes
    min_count = max(1, math.ceil(min_share * n / k))
    covered = counts >= min_count
    return {
        "n": n,
        "n_modes": k,
        "modes_covered": int(covered.sum()),
        "covered": covered.tolist(),
        "counts": counts.tolist(),
        "min_count": min_count,
        "high_quality": float(counts.sum()) / n,
    }
