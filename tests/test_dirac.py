"""The Dirac-GAN: the field's Jacobian at the equilibrium is the one derived by hand for each
method, and the trajectories do what the eigenvalues (and, where they cannot decide, the
measured runs in the module docstring) say: plain GANs and WGAN do not converge, R1 and
instance noise do, WGAN-GP stops G away from the data."""

import math

import pytest
import torch

from gan_course import dirac


@pytest.mark.parametrize("method, want", [
    ("saturating", [[0, 0.5], [-0.5, 0]]),
    ("nonsaturating", [[0, 0.5], [-0.5, 0]]),
    ("wgan", [[0, 1], [-1, 0]]),
])
def test_the_plain_games_jacobian_has_imaginary_eigenvalues(method, want):
    J = dirac.jacobian(method)
    torch.testing.assert_close(J, torch.tensor(want, dtype=torch.float64), atol=1e-12, rtol=0)
    ev = dirac.eigenvalues(method)
    assert ev.real.abs().max() < 1e-12 and sorted(ev.imag.tolist()) == pytest.approx([-want[0][1], want[0][1]])


@pytest.mark.parametrize("gamma", [0.3, 1.0, 3.0])
def test_r1_damps_d(gamma):
    J = dirac.jacobian("r1", gamma=gamma)
    torch.testing.assert_close(J, torch.tensor([[0, 0.5], [-0.5, -gamma]], dtype=torch.float64), atol=1e-12, rtol=0)
    ev = dirac.eigenvalues("r1", gamma=gamma)
    root = complex(gamma ** 2 - 1) ** 0.5
    want = sorted([(-gamma + root) / 2, (-gamma - root) / 2], key=lambda c: (c.real, c.imag))
    got = sorted(ev.tolist(), key=lambda c: (c.real, c.imag))
    assert all(abs(g - w) < 1e-9 for g, w in zip(got, want)) and max(c.real for c in got) < 0


@pytest.mark.parametrize("std", [0.5, 1.0, 2.0])
def test_instance_noise_damps_d_by_half_its_variance(std):
    J = dirac.jacobian("instance-noise", noise_std=std)
    torch.testing.assert_close(J, torch.tensor([[0, 0.5], [-0.5, -std ** 2 / 2]], dtype=torch.float64),
                               atol=1e-10, rtol=0)


def test_field_is_minus_each_players_gradient():
    theta, psi = 0.7, -1.3
    v = dirac.field(theta, psi, "nonsaturating")
    s = 1 / (1 + math.exp(-psi * theta))  # sigma(psi theta)
    # loss_G = softplus(-psi theta): d/dtheta = -psi (1 - s); loss_D = log 2 + softplus(psi theta): d/dpsi = theta s
    assert v.tolist() == pytest.approx([psi * (1 - s), -theta * s])
    w = dirac.field(theta, psi, "wgan-gp", gp_weight=2.0)
    assert w.tolist() == pytest.approx([psi, -(theta + 2 * 2.0 * (abs(psi) - 1) * math.copysign(1, psi))])


def _radius(path):
    return path.norm(dim=1)


def test_plain_gan_does_not_converge():
    sim = _radius(dirac.trajectory("saturating", steps=1000))
    alt = _radius(dirac.trajectory("saturating", steps=1000, alternating=True))
    assert sim[-1] > 1.5 * sim[0]                      # simultaneous steps spiral out
    assert alt.min() > 0.95 * alt[0] and alt.max() < 1.05 * alt[0]  # alternating ones circle
    wgan = _radius(dirac.trajectory("wgan", steps=1000))
    assert wgan[250:].min() > 0.9                      # clipping caps the circling, no more


def test_nonsaturating_creeps_in_slowly():
    r = _radius(dirac.trajectory("nonsaturating", steps=1000, alternating=True))
    assert r[200] > r[600] > r[1000] > 0.2             # still 0.28 after 1,000 steps


@pytest.mark.parametrize("method, kw", [("r1", {"gamma": 1.0}), ("instance-noise", {"noise_std": 1.0})])
@pytest.mark.parametrize("alternating", [False, True])
def test_regularised_games_converge(method, kw, alternating):
    r = _radius(dirac.trajectory(method, steps=500, alternating=alternating, **kw))
    assert r[-1] < 1e-4 * r[0]


def test_wgan_gp_stops_g_away_from_the_data():
    for start in [(1.0, 1.0), (-1.0, 1.0), (3.0, 0.5)]:
        end = dirac.trajectory("wgan-gp", start=start, steps=2000)[-1]
        assert abs(abs(float(end[0])) - 2.0) < 1e-6 and abs(float(end[1])) < 1e-6
    with pytest.raises(ValueError, match="no Jacobian"):
        dirac.jacobian("wgan-gp")


def test_wgan_clips_psi_and_bad_input_is_refused():
    path = dirac.trajectory("wgan", start=(3.0, 0.0), steps=100, clip=0.2)
    assert path[:, 1].abs().max() <= 0.2 + 1e-12
    with pytest.raises(ValueError, match="choose one of"):
        dirac.trajectory("hinge")
    with pytest.raises(ValueError, match="unknown parameter"):
        dirac.field(0.0, 0.0, "r1", gama=1.0)
    with pytest.raises(ValueError, match="lr > 0"):
        dirac.trajectory("r1", lr=0.0)
