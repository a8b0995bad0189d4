"""Shapes, parameter counts, input validation, init and rebuilding of the course's models."""

import pytest
import torch
from torch import nn

from gan_course import models
from gan_course.models import (ConditionalDCGANDiscriminator, ConditionalDCGANGenerator,
                               DCGANDiscriminator, DCGANGenerator, MLPDiscriminator,
                               MLPGenerator, build_gan, dcgan_init_, model_from_arch)


def n_params(m):
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("arch", ["mlp", "dcgan"])
def test_generator_and_discriminator_shapes(arch):
    G, D = build_gan(arch)
    z = torch.randn(5, 100)
    x = G(z)
    assert x.shape == (5, 1, 28, 28)
    assert x.min() >= -1 and x.max() <= 1  # tanh output, same range as the scaled data
    logits = D(x)
    assert logits.shape == (5,)  # one logit per sample, no trailing 1


def test_mlp_sizes_match_the_course_description():
    G, D = MLPGenerator(), MLPDiscriminator()
    # 100 -> 256 -> 256 -> 784 and 784 -> 256 -> 256 -> 1
    assert n_params(G) == (100 * 256 + 256) + (256 * 256 + 256) + (256 * 784 + 784)
    assert n_params(D) == (784 * 256 + 256) + (256 * 256 + 256) + (256 + 1)


def test_toy_mlp_outputs_points_without_tanh():
    G = MLPGenerator(latent_dim=2, hidden=(16,), out_shape=(2,), out_activation=None)
    D = MLPDiscriminator(in_shape=(2,), hidden=(16,))
    with torch.no_grad():
        G.net[-1].bias.fill_(5.0)  # without tanh, outputs can leave [-1, 1]
    pts = G(torch.randn(7, 2))
    assert pts.shape == (7, 2) and pts.max() > 1
    assert D(pts).shape == (7,)


def test_dcgan_is_light():
    G, D = build_gan("dcgan")
    # Linear 100 -> 256 (no bias), BN(256), Linear 256 -> 64*7*7 (no bias), BN(64),
    # ConvT 64->32 (no bias), BN(32), ConvT 32->1
    assert n_params(G) == 100 * 256 + 2 * 256 + 256 * 3136 + 2 * 64 + 64 * 32 * 16 + 2 * 32 + 32 * 16 + 1
    # conv 1->32 (+bias), conv 32->64 (no bias: BN follows), BN(64), linear 3136->256 (no
    # bias: BN follows), BN(256), linear 256->1
    assert n_params(D) == (16 * 32 + 32) + 32 * 64 * 16 + 2 * 64 + 3136 * 256 + 2 * 256 + (256 + 1)
    assert n_params(G) * 4 < 4_000_000  # the shipped fp32 state dict stays under 4 MB
    assert n_params(D) < 1_000_000
    # hidden=0: the DCGAN paper's layout, one dense layer on each side
    G0, D0 = build_gan("dcgan", g_kwargs={"hidden": 0}, d_kwargs={"hidden": 0})
    assert n_params(G0) == 100 * 3136 + 2 * 64 + 64 * 32 * 16 + 2 * 32 + 32 * 16 + 1
    assert n_params(D0) == (16 * 32 + 32) + 32 * 64 * 16 + 2 * 64 + (3136 + 1)


def test_dcgan_layer_shapes_follow_the_comments():
    G = DCGANGenerator()
    z = torch.randn(2, 100)
    h = G.project(z).view(2, 64, 7, 7)
    shapes = []
    for layer in G.body:
        h = layer(h)
        shapes.append(tuple(h.shape))
    assert (2, 32, 14, 14) in shapes and shapes[-1] == (2, 1, 28, 28)
    D = DCGANDiscriminator()
    h = torch.randn(2, 1, 28, 28)
    h = D.features[0](h)
    assert h.shape == (2, 32, 14, 14)
    h = D.features[2](D.features[1](h))
    assert h.shape == (2, 64, 7, 7)


@pytest.mark.parametrize("bad", [torch.randn(3, 99), torch.randn(3), torch.randn(3, 100, 1)])
def test_generators_reject_wrong_z_shape(bad):
    for G in (MLPGenerator(), DCGANGenerator()):
        with pytest.raises(ValueError, match=r"\(B, 100\)"):
            G(bad)


@pytest.mark.parametrize("bad", [torch.randn(3, 28, 28), torch.randn(3, 3, 28, 28), torch.randn(3, 1, 32, 32)])
def test_discriminators_reject_wrong_image_shape(bad):
    for D in (MLPDiscriminator(), DCGANDiscriminator()):
        with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\)"):
            D(bad)


def test_dcgan_init_statistics():
    torch.manual_seed(0)
    G, D = build_gan("dcgan")
    w = G.project[3].weight  # the 256 -> 64*7*7 dense layer
    assert abs(w.mean().item()) < 2e-3 and abs(w.std().item() - 0.02) < 1e-3
    bn1 = G.project[1]  # BatchNorm1d after the hidden dense layer
    assert abs(bn1.weight.mean().item() - 1) < 0.01 and torch.all(bn1.bias == 0)
    bn = G.body[0]
    assert abs(bn.weight.mean().item() - 1) < 0.01 and 0.005 < bn.weight.std().item() < 0.04
    assert torch.all(bn.bias == 0)
    assert torch.all(D.head.bias == 0)


def test_dcgan_init_reaches_spectral_norm_weights():
    torch.manual_seed(0)
    D = dcgan_init_(DCGANDiscriminator(spectral_norm=True))
    raw = D.features[2].parametrizations.weight.original
    assert abs(raw.std().item() - 0.02) < 2e-3
    # the effective weight is divided by its largest singular value (power-iteration estimate)
    with torch.no_grad():
        D.train()
        for _ in range(20):
            D(torch.randn(2, 1, 28, 28))
        D.eval()
        w = D.head.weight
        assert torch.linalg.matrix_norm(w, ord=2).item() == pytest.approx(1.0, rel=0.05)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in D.modules())


def test_spectral_norm_and_batch_norm_options():
    assert any(isinstance(m, nn.BatchNorm2d) for m in DCGANDiscriminator().modules())  # default
    assert not any(isinstance(m, nn.BatchNorm2d) for m in DCGANDiscriminator(batch_norm=False).modules())


def test_conditional_models():
    G, D = build_gan("cdcgan")
    z, y = torch.randn(4, 100), torch.tensor([0, 3, 9, 3])
    x = G(z, y)
    assert x.shape == (4, 1, 28, 28)
    assert D(x, y).shape == (4,)
    # the label changes the output: same z, different y
    with torch.no_grad():
        G.eval()
        a, b = G(z[:1], torch.tensor([1])), G(z[:1], torch.tensor([7]))
    assert not torch.allclose(a, b)
    with pytest.raises(ValueError, match="0..9"):
        G(z, torch.tensor([0, 1, 2, 10]))
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        D(x, torch.tensor([0, 1]))


def test_projection_discriminator_formula():
    torch.manual_seed(0)
    D = ConditionalDCGANDiscriminator()
    x, y = torch.randn(3, 1, 28, 28), torch.tensor([2, 5, 2])
    h = D.features(x)
    expected = h @ D.head.weight[0] + D.head.bias + (D.embed.weight[y] * h).sum(1)
    torch.testing.assert_close(D(x, y), expected)


def test_arch_round_trip_rebuilds_the_same_model():
    for m in (MLPGenerator(latent_dim=8, hidden=(16, 32)), DCGANDiscriminator(spectral_norm=True),
              ConditionalDCGANGenerator(latent_dim=12, channels=(16, 8)),
              ConditionalDCGANDiscriminator(channels=(8, 16), batch_norm=True)):
        arch = models.arch_of(m)
        clone = model_from_arch(arch)
        assert type(clone) is type(m) and arch == models.arch_of(clone)
        clone.load_state_dict(m.state_dict())  # same parameter names and shapes
    with pytest.raises(ValueError, match="unknown model description"):
        model_from_arch({"class": "ResNet", "kwargs": {}})


def test_arch_saved_before_hidden_layers_rebuilds_without_them():
    # generators exported before `hidden` existed record no such key: they had no hidden layer
    old = DCGANGenerator(hidden=0)
    arch = {"class": "DCGANGenerator", "kwargs": {"latent_dim": 100, "channels": [64, 32]}}
    clone = model_from_arch(arch)
    clone.load_state_dict(old.state_dict())  # same keys and shapes
    assert isinstance(clone.project, nn.Linear)
    D = model_from_arch({"class": "DCGANDiscriminator", "kwargs": {"channels": [32, 64]}})
    D.load_state_dict(DCGANDiscriminator(hidden=0).state_dict())


def test_build_gan_rejects_unknown_arch():
    with pytest.raises(ValueError, match="mlp"):
        build_gan("stylegan")


def test_load_pretrained_errors(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="'mlp' or 'dcgan'"):
        models.load_pretrained("cdcgan")
    monkeypatch.setattr(models, "ASSETS", tmp_path)
    with pytest.raises(FileNotFoundError, match="python -m gan_course train dcgan"):
        models.load_pretrained("dcgan")
    (tmp_path / "dcgan_generator.pt").write_bytes(b"not a torch file")
    with pytest.raises(RuntimeError, match="dcgan_generator.pt"):
        models.load_pretrained("dcgan")


def test_load_pretrained_round_trip(tmp_path, monkeypatch):
    G = DCGANGenerator(channels=(8, 4))
    torch.save({"arch": models.arch_of(G), "state_dict": G.state_dict()}, tmp_path / "dcgan_generator.pt")
    monkeypatch.setattr(models, "ASSETS", tmp_path)
    H = models.load_pretrained("dcgan")
    assert not H.training
    z = torch.randn(3, 100)
    G.eval()
    torch.testing.assert_close(H(z), G(z))


@pytest.mark.parametrize("arch", ["mlp", "dcgan"])
def test_shipped_pretrained_generators(arch):
    path = models.pretrained_path(arch)
    if not path.exists():
        pytest.skip(f"{path.name} not built yet")
    assert path.stat().st_size <= 4_000_000
    G = models.load_pretrained(arch)
    with torch.no_grad():
        x = G(torch.randn(8, G.latent_dim))
    assert x.shape == (8, 1, 28, 28) and torch.isfinite(x).all()
