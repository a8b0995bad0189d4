"""The bootstrap against hand-written references: resampling counts, the two intervals, and
the standard error of a mean against its formula."""

import math

import numpy as np
import pytest
import torch

from gan_course import bootstrap as B


def test_resample_indices_are_seeded_draws_with_replacement():
    a, b, c = B.resample_indices(50, 7, seed=1), B.resample_indices(50, 7, seed=1), B.resample_indices(50, 7, seed=2)
    assert a.shape == (7, 50) and torch.equal(a, b) and not torch.equal(a, c)
    assert int(a.min()) >= 0 and int(a.max()) < 50
    assert any(len(torch.unique(row)) < 50 for row in a)  # with replacement: repeats


def test_counts_of_matches_a_loop():
    idx = B.resample_indices(12, 5, seed=0)
    counts = B.counts_of(idx, 12)
    for row, c in zip(idx, counts):
        assert c.tolist() == [float((row == i).sum()) for i in range(12)]
    assert counts.sum(dim=1).tolist() == [12.0] * 5
    assert torch.equal(B.resample_counts(12, 5, seed=0), counts)
    assert B.counts_of(torch.tensor([3, 3, 0]), 4).tolist() == [1.0, 0.0, 0.0, 2.0]


def test_percentile_interval_is_numpys_quantiles():
    v = torch.randn(301, generator=torch.Generator().manual_seed(0))
    lo, hi = B.percentile_interval(v, 0.9)
    assert (lo, hi) == pytest.approx(tuple(np.quantile(v.numpy().astype(np.float64), [0.05, 0.95])))


def test_normal_interval_is_value_plus_minus_z_sd_and_clips():
    reps = torch.tensor([0.0, 1.0, 2.0, 3.0])
    sd = float(np.std([0, 1, 2, 3], ddof=1))
    lo, hi = B.normal_interval(10.0, reps, 0.95)
    assert (lo, hi) == pytest.approx((10 - 1.959964 * sd, 10 + 1.959964 * sd), rel=1e-6)
    assert B.normal_interval(0.99, reps / 100, 0.95, bounds=(0, 1))[1] == 1.0
    with pytest.raises(ValueError, match="two or more"):
        B.normal_interval(1.0, [1.0])


def test_bootstrap_of_a_share_has_the_binomial_standard_error():
    x = (torch.rand(4000, generator=torch.Generator().manual_seed(3)) < 0.3).double()
    est = B.bootstrap(lambda idx: {"p": float(x[idx].mean())}, len(x), n_boot=1000, seed=0)["p"]
    p = float(x.mean())
    se = math.sqrt(p * (1 - p) / len(x))
    assert est.value == pytest.approx(p)
    assert (est.high - est.low) / (2 * 1.96) == pytest.approx(se, rel=0.1)  # 1000 resamples: sd within ~5%


def test_replicates_and_estimate_format():
    x = torch.arange(10.0)
    reps = B.replicates(lambda idx: {"mean": x[idx].mean(), "max": x[idx].max()}, 10, n_boot=30, seed=4)
    assert set(reps) == {"mean", "max"} and reps["mean"].shape == (30,)
    assert bool((reps["max"] <= 9).all()) and float(reps["mean"].std()) > 0
    e = B.Estimate(0.8312, 0.8101, 0.85)
    assert e.format(".2f") == "0.83 [0.81, 0.85]" and str(e) == "0.83 [0.81, 0.85]"
    assert e.format(".1f", percent=True) == "83.1% [81.0, 85.0]"
    assert B.Estimate(**e.to_dict()) == e
