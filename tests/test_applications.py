"""Notebook 10's tools, each on a case with a known answer."""

import torch

from gan_course import applications as apps
from gan_course.models import (ConcatDCGANDiscriminator, ConditionalDCGANGenerator, DCGANGenerator,
                               arch_of, model_from_arch)


def _line(slope: float) -> torch.Tensor:
    """A 28x28 image with a thick stroke through the centre, leaning by ``slope`` columns per row up."""
    x = -torch.ones(1, 1, 28, 28)
    for r in range(4, 24):
        c = int(round(14 + slope * (14 - r)))
        x[0, 0, r, c - 1:c + 2] = 1
    return x


def test_psnr_of_a_known_error_and_only_on_the_mask():
    truth = torch.zeros(2, 1, 28, 28)
    restored = truth + 0.2                        # MSE 0.04: 10 log10(4 / 0.04) = 20 dB
    assert torch.allclose(apps.psnr(restored, truth), torch.tensor([20.0, 20.0]))
    mask = torch.zeros_like(truth)
    mask[:, :, :14] = 1
    restored[:, :, 14:] = 5                       # outside the mask: ignored
    assert torch.allclose(apps.psnr(restored, truth, mask), torch.tensor([20.0, 20.0]))


def test_blur_keeps_a_constant_image_and_smooths_a_point():
    flat = torch.full((1, 1, 28, 28), 0.3)
    assert torch.allclose(apps.blur(flat), flat, atol=1e-6)
    point = -torch.ones(1, 1, 28, 28)
    point[0, 0, 14, 14] = 1
    b = apps.blur(point)
    assert b[0, 0, 14, 14] < 1 and b[0, 0, 14, 15] > -1 and abs(float(b.mean()) - float(point.mean())) < 1e-6


def test_nearest_on_visible_finds_the_digit_that_matches_the_seen_half():
    g = torch.Generator().manual_seed(0)
    train = torch.rand(50, 1, 28, 28, generator=g) * 2 - 1
    mask = torch.zeros_like(train[:3])
    mask[:, :, :14] = 1
    damaged = train[[7, 21, 40]] * mask - (1 - mask)
    assert torch.equal(apps.nearest_on_visible(damaged, mask, train), train[[7, 21, 40]])


def test_restore_fits_a_digit_in_the_generators_range_and_leaves_g_alone():
    torch.manual_seed(0)
    U = DCGANGenerator().eval()
    with torch.no_grad():
        target = U(torch.randn(3, 100, generator=torch.Generator().manual_seed(5)))
    before = [p.clone() for p in U.parameters()]
    mask = torch.ones_like(target)
    start = apps.psnr(U(torch.randn(3, 100, generator=torch.Generator().manual_seed(0))).detach(), target)
    out, z = apps.restore(U, target, mask, steps=150, starts=2, prior_weight=0.0)
    assert out.shape == target.shape and z.shape == (3, 100)
    assert torch.all(apps.psnr(out, target) > start + 3)
    assert all(torch.equal(a, b) for a, b in zip(before, U.parameters()))
    assert all(p.requires_grad for p in U.parameters())


def test_linear_probe_separates_separable_classes_and_not_noise():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(200) % 2
    x = torch.randn(200, 5, generator=g) + 3 * y[:, None].float()
    assert apps.linear_probe(x[:100], y[:100], x[100:], y[100:]) > 0.95
    noise = torch.randn(200, 5, generator=g)
    assert apps.linear_probe(noise[:100], y[:100], noise[100:], y[100:]) < 0.7


def test_thickness_and_slant_measure_what_they_say():
    thin, thick = _line(0.0), _line(0.0)
    thick[0, 0, 4:24, 11:18] = 1
    assert apps.thickness(thick) > apps.thickness(thin)
    assert abs(float(apps.slant(_line(0.0)))) < 0.05
    assert float(apps.slant(_line(0.5))) > 0.3 > 0 > -0.3 > float(apps.slant(_line(-0.5)))


def test_attribute_direction_recovers_a_planted_direction():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(2000, 10, generator=g)
    u = torch.zeros(10)
    u[3] = 1
    values = z @ u + 0.1 * torch.randn(2000, generator=g)
    d = apps.attribute_direction(z, values)
    assert float(d @ u) > 0.95 and abs(float(d.norm()) - 1) < 1e-6


def test_classifier_training_is_seeded_and_learns():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(64) % 2
    x = -torch.ones(64, 1, 28, 28)
    x[y == 1, :, :, :14] = 1                          # class 1: the left half is ink
    x = x + 0.1 * torch.randn(x.shape, generator=g)
    a = apps.train_classifier(x, y, steps=30, seed=0, device="cpu")
    b = apps.train_classifier(x, y, steps=30, seed=0, device="cpu", shift=2)
    c = apps.train_classifier(x, y, steps=30, seed=0, device="cpu")
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert float((a(x).argmax(1) == y).float().mean()) == 1.0


def test_conditional_batches_draw_labelled_samples():
    torch.manual_seed(0)
    G = ConditionalDCGANGenerator().eval()
    x, y = apps.conditional_batches(G)(12, torch.Generator().manual_seed(0))
    assert x.shape == (12, 1, 28, 28) and y.shape == (12,) and int(y.max()) < 10
    assert not x.requires_grad


def test_concatenation_discriminator_uses_the_label_and_round_trips():
    torch.manual_seed(0)
    D = ConcatDCGANDiscriminator().eval()
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    a, b = D(x, torch.zeros(4, dtype=torch.long)), D(x, torch.full((4,), 7))
    assert a.shape == (4,) and not torch.allclose(a, b)
    E = model_from_arch(arch_of(D))
    E.load_state_dict(D.state_dict())
    assert torch.allclose(E.eval()(x, torch.zeros(4, dtype=torch.long)), a)
