"""Metrics against references: closed forms of the Fréchet distance, loop versions of the
judge scores and of k-NN precision/recall, mode coverage on synthetic samples, and the check
that the digit metrics tell real digits from noise and from a collapsed generator."""

import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from gan_course import metrics as M
from gan_course.judge import bundled_subset_split
from gan_course.toy import get_toy


# ----------------------------------------------------------------------------- Fréchet distance

def test_frechet_distance_of_a_set_with_itself_is_zero():
    f = torch.randn(500, 16, generator=torch.Generator().manual_seed(0))
    assert M.frechet_distance(f, f) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_diagonal_gaussians_closed_form():
    # diagonal S: Tr(S_a + S_b - 2 sqrt(S_a S_b)) = sum (sqrt(a_i) - sqrt(b_i))^2
    mu_a, mu_b = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 0.0])
    a, b = torch.tensor([1.0, 4.0, 0.25]), torch.tensor([4.0, 1.0, 0.25])
    want = ((mu_a - mu_b) ** 2).sum() + ((a.sqrt() - b.sqrt()) ** 2).sum()  # 5 + 1 + 1
    got = M.frechet_distance_from_stats(mu_a, torch.diag(a), mu_b, torch.diag(b))
    assert got == pytest.approx(float(want)) and got == pytest.approx(7.0)


def test_frechet_distance_general_covariances_vs_eig_reference():
    g = torch.Generator().manual_seed(1)
    fa = torch.randn(300, 5, generator=g) @ torch.randn(5, 5, generator=g)
    fb = torch.randn(200, 5, generator=g) @ torch.randn(5, 5, generator=g) + 0.5
    # reference: numpy covariance, and Tr sqrtm(S_a S_b) from the (real, non-negative)
    # eigenvalues of the non-symmetric product, as scipy.linalg.sqrtm would give
    a, b = fa.double().numpy(), fb.double().numpy()
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    tr_sqrt = np.sqrt(np.linalg.eigvals(sa @ sb).real.clip(min=0)).sum()
    want = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(sa) + np.trace(sb) - 2 * tr_sqrt
    assert M.frechet_distance(fa, fb) == pytest.approx(want, rel=1e-9)


def test_frechet_distance_singular_covariance_is_finite():
    # dead ReLU features: a constant column makes S singular
    f = torch.randn(100, 4, generator=torch.Generator().manual_seed(2))
    f[:, 0] = 0
    fd = M.frechet_distance(f, f + torch.tensor([3.0, 0, 0, 0]))
    assert fd == pytest.approx(9.0, abs=1e-6)


# ------------------------------------------------------------------------------- judge scores

def test_scores_from_log_probs_match_a_loop_reference():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(40, 10, generator=g) * 3
    log_probs = torch.log_softmax(logits, 1)
    got = M.scores_from_log_probs(log_probs)
    p = log_probs.exp().double().numpy()
    py = p.mean(axis=0)
    kls = [sum(p[i, c] * math.log(p[i, c] / py[c]) for c in range(10)) for i in range(40)]
    counts = np.bincount(p.argmax(1), minlength=10)
    q = counts[counts > 0] / 40
    assert got["inception_score"] == pytest.approx(math.exp(np.mean(kls)))
    assert got["class_counts"] == counts.tolist()
    assert got["class_entropy"] == pytest.approx(-(q * np.log(q)).sum())
    assert got["confident_fraction"] == pytest.approx((p.max(1) > 0.9).mean())
    assert got["mean_confidence"] == pytest.approx(p.max(1).mean())


def test_scores_extremes():
    # ten sure samples of ten different classes: IS = 10, entropy = log 10
    sure = torch.log_softmax(torch.eye(10) * 50, 1)
    s = M.scores_from_log_probs(sure)
    assert s["inception_score"] == pytest.approx(10, rel=1e-6)
    assert s["class_entropy"] == pytest.approx(math.log(10))
    # all one class: IS = 1 and entropy 0 (not -0.0)
    one = M.scores_from_log_probs(torch.log_softmax(torch.eye(10)[[3] * 10] * 50, 1))
    assert one["inception_score"] == pytest.approx(1) and str(one["class_entropy"]) == "0.0"


def test_images_in_the_wrong_scale_are_caught():
    with pytest.raises(ValueError, match="x / 127.5 - 1"):
        M.judge_scores(torch.full((4, 1, 28, 28), 200.0))
    with pytest.warns(UserWarning, match=r"\[0, 1\]"):
        M.judge_scores(torch.rand(4, 1, 28, 28))
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        M.judge_scores(torch.zeros(4, 784))


# ------------------------------------------------------------------- the metrics tell sets apart

@pytest.fixture(scope="module")
def three_sets():
    x_train, y_train, _, _ = bundled_subset_split()
    g = torch.Generator().manual_seed(0)
    return {
        "real": x_train[2000:4000],                          # not the floor's train digits
        "noise": torch.rand(2000, 1, 28, 28, generator=g) * 2 - 1,
        "collapsed": x_train[:1].repeat(2000, 1, 1, 1),      # one digit, 2,000 times
    }


def test_metrics_tell_real_digits_from_noise_and_collapse(three_sets):
    s = {k: M.judge_scores(v) for k, v in three_sets.items()}
    fd = {k: M.fid_vs_heldout(v) for k, v in three_sets.items()}
    floor = M.fid_floor()
    assert 0 < floor < 20
    assert fd["real"] < 2 * floor < fd["collapsed"] and fd["real"] < fd["noise"]
    assert s["real"]["confident_fraction"] > 0.9
    assert s["noise"]["confident_fraction"] < 0.1  # the judge knows noise is not a digit
    assert s["real"]["class_entropy"] > 2.2 and s["collapsed"]["class_entropy"] == 0
    assert s["real"]["inception_score"] > 8 and s["collapsed"]["inception_score"] < 1.01


def test_precision_recall_separate_collapse_from_real(three_sets):
    _, held = M.judge_outputs(bundled_subset_split()[2])
    _, real = M.judge_outputs(three_sets["real"])
    _, coll = M.judge_outputs(three_sets["collapsed"][:1] + 0.01 * torch.randn(300, 1, 28, 28,
                                                                                generator=torch.Generator().manual_seed(0)))
    pr_real, pr_coll = M.precision_recall(held, real), M.precision_recall(held, coll)
    assert pr_real["precision"] > 0.6 and pr_real["recall"] > 0.6
    assert pr_coll["recall"] < 0.05  # one digit covers almost none of the real manifold


# --------------------------------------------------------------------------- precision/recall

def _pr_loops(real, fake, k):
    def radius(s, i):
        d = sorted(float(torch.dist(s[i], s[j])) for j in range(len(s)) if j != i)
        return d[k - 1]
    r_real = [radius(real, i) for i in range(len(real))]
    r_fake = [radius(fake, i) for i in range(len(fake))]
    prec = np.mean([any(float(torch.dist(f, real[j])) <= r_real[j] for j in range(len(real))) for f in fake])
    rec = np.mean([any(float(torch.dist(r, fake[j])) <= r_fake[j] for j in range(len(fake))) for r in real])
    return prec, rec


@pytest.mark.parametrize("shift", [0.0, 1.0, 3.0])
def test_precision_recall_match_loops(shift):
    g = torch.Generator().manual_seed(4)
    real = torch.randn(30, 3, generator=g).double()
    fake = (torch.randn(25, 3, generator=g) * 0.5 + shift).double()
    got = M.precision_recall(real, fake, k=3, chunk=7)  # chunks smaller than the sets
    prec, rec = _pr_loops(real, fake, 3)
    assert got["precision"] == pytest.approx(prec) and got["recall"] == pytest.approx(rec)


def test_precision_recall_needs_more_than_k_samples():
    with pytest.raises(ValueError, match="more than k"):
        M.precision_recall(torch.randn(3, 2), torch.randn(10, 2), k=3)


# ---------------------------------------------------------------------------- evaluate_generator

class _TinyG(nn.Module):
    """A stand-in generator: z picks one of 512 real digits and dims it a little, so its
    samples depend on the seed in a way the judge's features see."""

    def __init__(self, n_classes=None):
        super().__init__()
        self.latent_dim, self.n_classes = 4, n_classes
        self.lin = nn.Linear(1, 1)  # a parameter, so the generator has a device
        self.register_buffer("bank", bundled_subset_split()[0][4000:4512].clone())
        self.seen_y = None

    def forward(self, z, y=None):
        if y is not None:
            self.seen_y = y if self.seen_y is None else torch.cat([self.seen_y, y])
        idx = (z[:, 0].abs() * 997).long() % len(self.bank)
        return self.bank[idx] * (0.9 + 0.1 * torch.tanh(z[:, 1]))[:, None, None, None]


def test_evaluate_generator_is_seeded_and_restores_train_mode():
    torch.manual_seed(0)
    G = _TinyG().train()
    a = M.evaluate_generator(G, n=300, seed=0)
    b = M.evaluate_generator(G, n=300, seed=0)
    c = M.evaluate_generator(G, n=300, seed=1)
    assert G.training
    assert a == b and a["fd"] != c["fd"]
    for key in ("confident_fraction", "class_entropy", "inception_score", "fd", "fd_floor",
                "precision", "recall", "class_counts", "mean_confidence"):
        assert key in a
    assert sum(a["class_counts"]) == 300 and a["fd"] > a["fd_floor"]


def test_sample_generator_gives_a_conditional_G_balanced_labels():
    G = _TinyG(n_classes=10)
    x = M.sample_generator(G, n=25, seed=0, batch_size=10)
    assert x.shape == (25, 1, 28, 28)
    assert G.seen_y.tolist() == [i % 10 for i in range(25)]
    with pytest.raises(ValueError, match="latent_dim"):
        M.sample_generator(nn.Linear(2, 2))


# ------------------------------------------------------------------------------ mode coverage

def test_mode_coverage_real_collapsed_and_noise():
    ring = get_toy("ring")
    g = torch.Generator().manual_seed(0)
    real = ring.sample(2000, generator=g)
    cov = M.mode_coverage(real, ring.centers, ring.std)
    assert cov["modes_covered"] == 8 and cov["n_modes"] == 8
    assert cov["high_quality"] == pytest.approx(1 - math.exp(-4.5), abs=0.01)  # 3-std rule
    # collapsed: everything on modes 0 and 3
    collapsed = ring.centers[torch.tensor([0, 3]).repeat(500)] + 0.01 * torch.randn(1000, 2, generator=g)
    cov = M.mode_coverage(collapsed, ring.centers, ring.std)
    assert cov["modes_covered"] == 2 and cov["covered"] == [i in (0, 3) for i in range(8)]
    assert cov["high_quality"] == 1.0
    # noise over the plane: almost nothing is a hit, so no mode reaches its 10% share
    noise = torch.rand(1000, 2, generator=g) * 6 - 3
    cov = M.mode_coverage(noise, ring.centers, ring.std)
    assert cov["high_quality"] < 0.05 and cov["modes_covered"] == 0


def test_mode_coverage_threshold_and_toydata_radius():
    centers = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    x = torch.cat([torch.zeros(95, 2), torch.full((5, 2), 0.0) + torch.tensor([10.0, 0.0])])
    cov = M.mode_coverage(x, centers, std=1.0)
    assert cov["min_count"] == 5 and cov["modes_covered"] == 2   # 5 >= 10% of 100 / 2
    cov = M.mode_coverage(x[:-1], centers, std=1.0)
    assert cov["min_count"] == 5 and cov["modes_covered"] == 1   # 4 < ceil(9.9 / 2)
    moons = get_toy("moons")
    cov = M.mode_coverage(moons.sample(1600, generator=torch.Generator().manual_seed(0)), moons)
    assert cov["modes_covered"] == 16 and cov["high_quality"] > 0.97
    with pytest.raises(ValueError, match="std"):
        M.mode_coverage(x, centers)


# ---------------------------------------------------------------------------- density, coverage

def _dc_loops(real, fake, k):
    def radius(i):
        return sorted(float(torch.dist(real[i], real[j])) for j in range(len(real)) if j != i)[k - 1]
    r = [radius(i) for i in range(len(real))]
    inside = [[float(torch.dist(f, real[i])) <= r[i] for i in range(len(real))] for f in fake]
    density = sum(sum(row) for row in inside) / (k * len(fake))
    coverage = np.mean([any(row[i] for row in inside) for i in range(len(real))])
    return density, coverage


@pytest.mark.parametrize("shift, k", [(0.0, 5), (1.0, 3), (4.0, 5)])
def test_density_coverage_match_loops(shift, k):
    g = torch.Generator().manual_seed(5)
    real = torch.randn(30, 3, generator=g).double()
    fake = (torch.randn(22, 3, generator=g) * 0.7 + shift).double()
    got = M.density_coverage(real, fake, k=k, chunk=8)
    density, coverage = _dc_loops(real, fake, k)
    assert got["density"] == pytest.approx(density) and got["coverage"] == pytest.approx(coverage)


def _resampled_reference(real, fake, idx, k_pr, k_dc):
    """All four metrics on the resample fake[idx] by loops; a fake's own copies are not its
    neighbours (its ball reaches the k-th nearest other *drawn* sample, with multiplicity)."""
    def kth(dists, k):
        return sorted(dists)[k - 1]
    r_pr = [kth([float(torch.dist(real[i], real[j])) for j in range(len(real)) if j != i], k_pr) for i in range(len(real))]
    r_dc = [kth([float(torch.dist(real[i], real[j])) for j in range(len(real)) if j != i], k_dc) for i in range(len(real))]
    drawn = idx.tolist()
    r_fake = {j: kth([float(torch.dist(fake[j], fake[m])) for m in drawn if m != j], k_pr) for j in set(drawn)}
    d = lambda j, i: float(torch.dist(fake[j], real[i]))  # noqa: E731
    precision = np.mean([any(d(j, i) <= r_pr[i] for i in range(len(real))) for j in drawn])
    recall = np.mean([any(d(j, i) <= r_fake[j] for j in set(drawn)) for i in range(len(real))])
    density = sum(d(j, i) <= r_dc[i] for j in drawn for i in range(len(real))) / (k_dc * len(drawn))
    coverage = np.mean([any(d(j, i) <= r_dc[i] for j in set(drawn)) for i in range(len(real))])
    return {"precision": precision, "recall": recall, "density": density, "coverage": coverage}


def test_neighbour_balls_with_counts_match_the_resample_by_loops():
    from gan_course.bootstrap import counts_of, resample_indices

    g = torch.Generator().manual_seed(6)
    real = torch.randn(25, 3, generator=g).double()
    fake = (torch.randn(20, 3, generator=g) * 0.8 + 0.4).double()
    balls = M.NeighbourBalls(real, fake, k_pr=3, k_dc=4, chunk=6, reach=5)  # reach < 20: the far path too
    assert balls.scores(torch.ones(20)) == balls.scores()
    for idx in resample_indices(20, 6, seed=1):
        got = balls.scores(counts_of(idx, 20))
        want = _resampled_reference(real, fake, idx, 3, 4)
        for key, value in want.items():
            assert got[key] == pytest.approx(value), key


def test_neighbour_balls_reject_bad_counts():
    balls = M.NeighbourBalls(torch.randn(10, 2), torch.randn(8, 2))
    with pytest.raises(ValueError, match="non-negative"):
        balls.scores(torch.ones(7))


# --------------------------------------------------------------------- FD at several sizes

def test_fd_extrapolate_is_the_least_squares_intercept():
    sizes, fds = [250, 500, 1000, 2000], [30.0, 18.0, 12.5, 9.0]
    slope, intercept = np.polyfit(1 / np.array(sizes), fds, 1)
    got = M.fd_extrapolate(sizes, fds)
    assert got["fd_inf"] == pytest.approx(intercept) and got["slope"] == pytest.approx(slope)
    table = torch.tensor([[30.0, 31.0], [18.0, 17.0], [12.5, 13.0], [9.0, 9.5]])
    each = M.fd_extrapolate(sizes, table)
    assert each["fd_inf_each"] == pytest.approx([np.polyfit(1 / np.array(sizes), table[:, r].numpy(), 1)[1] for r in range(2)])
    with pytest.raises(ValueError, match="two or more"):
        M.fd_extrapolate([100, 100], [1.0, 2.0])


def test_fd_at_sizes_is_biased_and_the_extrapolation_removes_most_of_it():
    # two Gaussians in 8-d whose means are 1 apart: the true FD is 1
    g = torch.Generator().manual_seed(0)
    a = torch.randn(4000, 8, generator=g, dtype=torch.float64)
    b = torch.randn(4000, 8, generator=g, dtype=torch.float64)
    b[:, 0] += 1.0
    sizes = [200, 400, 1000, 2000]
    c = M.fd_at_sizes(a, b, sizes, repeats=8, seed=1)
    assert c["sizes"] == sizes and c["fd"].shape == (4, 8)
    assert c["mean"][0] > c["mean"][-1] > 1.0            # biased upwards, less so with more samples
    e = M.fd_extrapolate(c["sizes"], c["fd"])
    assert abs(e["fd_inf"] - 1.0) < 0.3 * abs(c["mean"][-1] - 1.0) + 0.02  # closer to the truth than N = 2000
    again = M.fd_at_sizes(a, b, sizes, repeats=8, seed=1)
    assert torch.equal(again["fd"], c["fd"])
    full = M.fd_at_sizes(a[:300], b[:300], [300], repeats=3)
    assert full["std"] == pytest.approx([0.0], abs=1e-9)  # subsets of the whole set are the whole set
    with pytest.raises(ValueError, match="sizes"):
        M.fd_at_sizes(a[:100], b, [200])


def test_frechet_distance_tensor_has_finite_gradients_with_a_dead_feature():
    g = torch.Generator().manual_seed(1)
    ref = torch.randn(200, 4, generator=g, dtype=torch.float64)
    f = torch.randn(100, 4, generator=g, dtype=torch.float64).clamp(min=0)
    f[:, 0] = 0
    f.requires_grad_(True)
    mu, cov = M.gaussian_stats(ref)
    c = f - f.mean(0)
    fd = M.frechet_distance_tensor(mu, cov, f.mean(0), c.T @ c / 99, floor=1e-10)
    (grad,) = torch.autograd.grad(fd, [f])
    assert bool(torch.isfinite(grad).all())
    # the floor adds sqrt(1e-10) = 1e-5 per zero eigenvalue to the trace term
    assert float(fd.detach()) == pytest.approx(M.frechet_distance(ref, f.detach()), abs=1e-4)


# -------------------------------------------------------------------- truncation, neighbours

def test_truncated_normal_stays_inside_and_has_the_truncated_variance():
    z = M.truncated_normal(20000, 10, 1.0, torch.Generator().manual_seed(0))
    assert z.shape == (20000, 10) and float(z.abs().max()) <= 1.0
    psi = 1.0
    phi = math.exp(-psi ** 2 / 2) / math.sqrt(2 * math.pi)
    big_phi = 0.5 * (1 + math.erf(psi / math.sqrt(2)))
    want = 1 - 2 * psi * phi / (2 * big_phi - 1)
    assert float(z.var()) == pytest.approx(want, rel=0.02)
    assert abs(float(z.mean())) < 0.01
    plain = M.truncated_normal(5, 3, None, torch.Generator().manual_seed(2))
    assert torch.equal(plain, torch.randn(5, 3, generator=torch.Generator().manual_seed(2)))
    with pytest.raises(ValueError, match="positive"):
        M.truncated_normal(5, 3, 0.0)


def test_sample_generator_truncation():
    G = _TinyG()
    x1, x2 = M.sample_generator(G, 50, seed=0, truncation=0.5), M.sample_generator(G, 50, seed=0, truncation=0.5)
    assert torch.equal(x1, x2) and not torch.equal(x1, M.sample_generator(G, 50, seed=0))
    assert torch.equal(M.sample_generator(G, 50, seed=0, truncation=None), M.sample_generator(G, 50, seed=0))


def test_nearest_neighbours_match_a_loop_and_find_copies():
    g = torch.Generator().manual_seed(3)
    train = torch.rand(40, 1, 28, 28, generator=g) * 2 - 1
    x = torch.cat([train[[5, 17]], torch.rand(6, 1, 28, 28, generator=g) * 2 - 1])
    dist, idx = M.nearest_neighbours(x, train, chunk=3)
    for i in range(len(x)):
        d = [float(torch.dist(x[i].double(), t.double())) for t in train]
        assert dist[i].item() == pytest.approx(min(d), abs=1e-4) and idx[i].item() == int(np.argmin(d))
    assert idx[:2].tolist() == [5, 17] and float(dist[:2].max()) < 1e-4
