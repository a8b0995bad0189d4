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


def frechet_distance_from_stats(mu_a, cov_a, mu_b, cov_b) -> float:
    """The Fréchet distance between N(mu_a, S_a) and N(mu_b, S_b); see :func:`frechet_distance`."""
    mu_a, mu_b = torch.as_tensor(mu_a).double(), torch.as_tensor(mu_b).double()
    cov_a, cov_b = torch.as_tensor(cov_a).double(), torch.as_tensor(cov_b).double()
    root_a = _sqrt_psd(cov_a)
    # S_a S_b has the same eigenvalues as the symmetric PSD matrix S_a^1/2 S_b S_a^1/2,
    # so Tr (S_a S_b)^1/2 = sum of the square roots of that matrix's eigenvalues.
    m = root_a @ cov_b @ root_a
    tr_sqrt = torch.linalg.eigvalsh((m + m.T) / 2).clamp(min=0).sqrt().sum()
    diff = mu_a - mu_b
    fd = diff @ diff + torch.trace(cov_a) + torch.trace(cov_b) - 2 * tr_sqrt
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


def _kth_neighbour_radius(feats: torch.Tensor, k: int, chunk: int) -> torch.Tensor:
    """Distance from each point to its k-th nearest *other* point of the same set."""
    radii = []
    for i in range(0, len(feats), chunk):
        d = torch.cdist(feats[i:i + chunk], feats)
        # the smallest distance is the point to itself (0); the (k+1)-th is the k-th neighbour
        radii.append(d.topk(k + 1, dim=1, largest=False).values[:, -1])  # topk: faster than kthvalue
    return torch.cat(radii)


def _inside_any_ball(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor,
                     chunk: int) -> torch.Tensor:
    inside = []
    for i in range(0, len(points), chunk):
        d = torch.cdist(points[i:i + chunk], centres)  # (chunk, M)
        inside.append((d <= radii[None, :]).any(dim=1))
    return torch.cat(inside)


def precision_recall(real_feats: torch.Tensor, fake_feats: torch.Tensor, k: int = 3,
                     chunk: int = 1024) -> dict:
    """Precision and recall of generated samples by k-NN manifolds (Kynkäänniemi et al. 2019).

    The real manifold is the union of balls B(r, rho_k(r)) around each real feature r, where
    rho_k(r) is the distance from r to its k-th nearest other real feature; the fake
    manifold likewise. Then

    - precision = fraction of fakes inside the real manifold (are the samples realistic?),
    - recall    = fraction of reals inside the fake manifold (is all of the data covered?).

    A collapsed generator can have high precision and low recall; a noisy one the reverse.
    """
    real = torch.as_tensor(real_feats).double()
    fake = torch.as_tensor(fake_feats).double()
    if real.dim() != 2 or fake.dim() != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"expected features (N, F) and (M, F), got {tuple(real.shape)} and "
                         f"{tuple(fake.shape)}")
    if min(len(real), len(fake)) <= k:
        raise ValueError(f"need more than k = {k} samples in each set, got {len(real)} real "
                         f"and {len(fake)} fake")
    r_real = _kth_neighbour_radius(real, k, chunk)
    r_fake = _kth_neighbour_radius(fake, k, chunk)
    precision = _inside_any_ball(fake, real, r_real, chunk).double().mean()
    recall = _inside_any_ball(real, fake, r_fake, chunk).double().mean()
    return {"precision": float(precision), "recall": float(recall), "k": k}


@torch.no_grad()
def sample_generator(G: torch.nn.Module, n: int = 2000, seed: int = 0,
                     batch_size: int = 500, digit: int | None = None) -> torch.Tensor:
    """``n`` samples of ``G`` in eval mode (restored after), float32 on the CPU.

    The noise comes from a CPU generator seeded with ``seed``, so the same G gives the same
    samples on any device. A class-conditional G (``G.n_classes``) gets balanced labels
    0, 1, ..., 9, 0, 1, ..., or all ``digit`` when it is given.
    """
    from gan_course.training import sample_images

    latent_dim = getattr(G, "latent_dim", None)
    if latent_dim is None:
        raise ValueError("G has no `latent_dim` attribute; build it with gan_course.models "
                         "or set G.latent_dim to the size of its noise vector")
    z = torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(seed))
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
