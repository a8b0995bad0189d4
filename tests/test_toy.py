"""gan_course.toy: the modes are where the docstrings say, sampling is reproducible and has
the stated noise, and the hit rule scores real data as (nearly) perfect and a collapsed
generator as covering one mode."""

from __future__ import annotations

import math

import pytest
import torch

from gan_course import toy


def test_ring_centers():
    d = toy.get_toy("ring")
    assert d.name == "ring" and d.centers.shape == (8, 2) and d.centers.dtype == torch.float32
    assert torch.allclose(d.centers.norm(dim=1), torch.full((8,), 2.0))
    angles = torch.atan2(d.centers[:, 1], d.centers[:, 0]) % (2 * math.pi)
    assert torch.allclose(angles.sort().values, torch.arange(8) * math.pi / 4, atol=1e-6)
    assert 0.02 <= d.std <= 0.05 and d.radius == pytest.approx(3 * d.std)


def test_grid_centers():
    d = toy.get_toy("grid")
    want = {(float(a), float(b)) for a in range(-4, 5, 2) for b in range(-4, 5, 2)}
    assert {tuple(c) for c in d.centers.tolist()} == want and len(d.centers) == 25
    assert d.centers.mean(dim=0).abs().max() < 1e-6


def test_moons_modes_lie_on_the_arcs():
    d = toy.get_toy("moons")
    assert d.centers.shape == (16, 2)
    c = d.centers / 2 + torch.tensor([0.5, 0.25])  # undo scale and shift
    upper, lower = c[:8], c[8:]
    assert torch.allclose(upper.norm(dim=1), torch.ones(8), atol=1e-6)
    assert torch.allclose((lower - torch.tensor([1.0, 0.5])).norm(dim=1), torch.ones(8), atol=1e-6)
    assert (upper[:, 1] > 0).all() and (lower[:, 1] < 0.5).all()


@pytest.mark.parametrize("name", ["ring", "grid", "moons"])
def test_sample_is_reproducible_and_float32(name):
    d = toy.get_toy(name)
    a = d.sample(500, generator=torch.Generator().manual_seed(1))
    b = d.sample(500, generator=torch.Generator().manual_seed(1))
    c = d.sample(500, generator=torch.Generator().manual_seed(2))
    assert a.shape == (500, 2) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert d.sample(0).shape == (0, 2)


@pytest.mark.parametrize("name", ["ring", "grid"])
def test_mixture_noise_and_weights(name):
    d = toy.get_toy(name)
    x = d.sample(20000, generator=torch.Generator().manual_seed(0))
    idx, _ = d.nearest_mode(x)
    resid = x - d.centers[idx]
    assert resid.std(dim=0) == pytest.approx(torch.tensor([d.std, d.std]), rel=0.05)
    share = torch.bincount(idx, minlength=d.n_modes).float() / len(x)
    assert (share - 1 / d.n_modes).abs().max() < 0.01


@pytest.mark.parametrize("name", ["ring", "grid", "moons"])
def test_real_samples_hit_every_mode(name):
    d = toy.get_toy(name)
    x = d.sample(20000, generator=torch.Generator().manual_seed(0))
    hits = d.mode_hits(x)
    assert hits.shape == (d.n_modes,) and (hits > 0).all()
    quality = hits.sum().item() / len(x)
    if name == "moons":
        assert quality > 0.99
    else:  # 2-D Gaussian: P(|e| <= 3 std) = 1 - exp(-9/2)
        assert quality == pytest.approx(1 - math.exp(-4.5), abs=0.004)


def test_mixture_modes_are_farther_apart_than_two_radii():
    # otherwise a blob's samples could sit within the hit radius of another mode
    for name in ["ring", "grid"]:
        d = toy.get_toy(name)
        dist = torch.cdist(d.centers, d.centers) + torch.eye(d.n_modes) * 1e9
        assert dist.min() > 2 * d.radius, name


def test_noiseless_moon_arc_is_all_hits():
    d = toy.two_moons(std=0.0)
    x = d.sample(5000, generator=torch.Generator().manual_seed(0))
    assert d.mode_hits(x).sum() == 5000
    # the radius is tight: the arc point halfway between two modes is exactly that far
    mid = toy._moon_points(torch.tensor([math.pi / 8]), torch.tensor([True]), 2.0)
    assert d.nearest_mode(mid)[1].item() == pytest.approx(d.radius, rel=1e-5)


def test_collapsed_generator_covers_one_mode():
    d = toy.get_toy("ring")
    x = d.centers[3] + 0.01 * torch.randn(300, 2, generator=torch.Generator().manual_seed(0))
    hits = d.mode_hits(x)
    assert hits[3] == 300 and hits.sum() == 300
    far = torch.zeros(10, 2)  # the ring's middle is no mode
    assert d.mode_hits(far).sum() == 0


def test_limits_and_errors():
    xmin, xmax, ymin, ymax = toy.get_toy("grid").limits(margin=1)
    assert (xmin, xmax, ymin, ymax) == (-5, 5, -5, 5)
    with pytest.raises(ValueError, match="'ring', 'grid', 'moons'"):
        toy.get_toy("spiral")
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        toy.get_toy("ring").nearest_mode(torch.zeros(3, 3))
