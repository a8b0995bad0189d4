"""Notebook 06's checkers (dcgan): each typical wrong answer fails with the hint aimed
at it, and the reference solutions agree with PyTorch and the package. (That every solution
passes and every stub is "not attempted" is tested once for all checkers in test_exercises.py.)
"""

import pytest
import torch
from torch import nn

from exercise_helpers import assert_leaves_global_rng_alone, fails_with, load_solutions, passes
from gan_course import check
from gan_course.check import dcgan
from gan_course.models import DCGANDiscriminator, DCGANGenerator


sol = load_solutions("nb06_dcgan_mnist")
NAMES = ("upsample_block", "dcgan_init", "slerp", "nearest_neighbour")


# ---- the solutions themselves agree with the package and with PyTorch -----------------

def test_solution_block_is_the_package_generators_block():
    torch.manual_seed(0)
    block = sol.upsample_block(64, 32)
    G = DCGANGenerator()
    ref = G.body[2]  # ConvTranspose2d(64, 32, 4, stride=2, padding=1)
    conv = block[0]
    assert (conv.kernel_size, conv.stride, conv.padding) == (ref.kernel_size, ref.stride, ref.padding)
    assert block(torch.randn(2, 64, 7, 7)).shape == (2, 32, 14, 14)


def test_solution_init_matches_package_init_statistics():
    torch.manual_seed(0)
    G = sol.dcgan_init(DCGANGenerator())
    D = sol.dcgan_init(DCGANDiscriminator(batch_norm=True))
    for m in list(G.modules()) + list(D.modules()):
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)) and m.weight.numel() > 1000:
            assert abs(m.weight.std().item() - 0.02) < 0.002
        if isinstance(m, nn.BatchNorm2d):
            assert abs(m.weight.mean().item() - 1) < 0.02 and (m.bias == 0).all()


def test_solution_slerp_properties():
    torch.manual_seed(0)
    z0, z1 = torch.randn(100), torch.randn(100)
    torch.testing.assert_close(sol.slerp(z0, z1, 0.0), z0)
    torch.testing.assert_close(sol.slerp(z0, z1, 1.0), z1)
    # on the unit sphere, slerp stays on it and moves at a constant angular speed
    u0, u1 = z0 / z0.norm(), z1 / z1.norm()
    omega = torch.arccos(u0 @ u1)
    for t in (0.2, 0.5, 0.9):
        p = sol.slerp(u0, u1, t)
        assert abs(p.norm().item() - 1) < 1e-5
        torch.testing.assert_close(torch.arccos((p @ u0).clamp(-1, 1)), t * omega, atol=1e-4, rtol=0)


def test_solution_nearest_neighbour_matches_brute_force():
    torch.manual_seed(0)
    x, train = torch.randn(5, 1, 28, 28), torch.randn(40, 1, 28, 28)
    dist, idx = sol.nearest_neighbour(x, train)
    for i in range(5):
        d = ((train - x[i]) ** 2).flatten(1).sum(1).sqrt()
        assert idx[i] == d.argmin()
        torch.testing.assert_close(dist[i], d.min(), rtol=1e-4, atol=1e-4)


# ---- upsample_block: typical wrong answers ----------------------------------------------

def test_block_with_strided_conv2d_fails():  # the source material's shrinking "generator"
    def wrong(c_in, c_out):
        return nn.Sequential(nn.Conv2d(c_in, c_out, 4, 2, 1), nn.BatchNorm2d(c_out), nn.ReLU())
    fails_with(check.upsample_block, wrong, "shrinks")


def test_block_k3_wrong_padding_fails():
    def wrong(c_in, c_out):
        return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, 3, 2, 1), nn.BatchNorm2d(c_out), nn.ReLU())
    r = fails_with(check.upsample_block, wrong, "output_padding")
    assert "13" in r.message  # 7 -> 13, not 14


def test_block_k3_with_output_padding_passes():
    def other(c_in, c_out):
        return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, 3, 2, 1, output_padding=1),
                             nn.BatchNorm2d(c_out), nn.ReLU())
    passes(check.upsample_block, other)


def test_block_stride_1_fails():
    def wrong(c_in, c_out):
        return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, 4, 1, 1), nn.BatchNorm2d(c_out), nn.ReLU())
    fails_with(check.upsample_block, wrong, "stride 2")


def test_block_without_batch_norm_fails():
    def wrong(c_in, c_out):
        return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, 4, 2, 1), nn.ReLU())
    fails_with(check.upsample_block, wrong, "batch norm")


def test_block_with_tanh_or_leaky_relu_fails():
    def tanh(c_in, c_out):
        return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, 4, 2, 1), nn.BatchNorm2d(c_out), nn.Tanh())

    def leaky(c_in, c_out):
        return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, 4, 2, 1), nn.BatchNorm2d(c_out),
                             nn.LeakyReLU(0.2))
    fails_with(check.upsample_block, tanh, "output layer")
    fails_with(check.upsample_block, leaky, "ReLU")


def test_block_batch_norm_before_conv_fails():
    def wrong(c_in, c_out):
        return nn.Sequential(nn.BatchNorm2d(c_in), nn.ConvTranspose2d(c_in, c_out, 4, 2, 1), nn.ReLU())
    fails_with(check.upsample_block, wrong, "after the transposed convolution")


# ---- dcgan_init: typical wrong answers --------------------------------------------------

def _init(std=0.02, bn_mean=1.0, bn_std=0.02, kinds=(nn.Conv2d, nn.ConvTranspose2d, nn.Linear),
          zero_bias=True):
    def fn(module):
        for m in module.modules():
            if isinstance(m, kinds):
                nn.init.normal_(m.weight, 0.0, std)
                if zero_bias and m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, bn_mean, bn_std) if bn_std else nn.init.constant_(m.weight, bn_mean)
                nn.init.zeros_(m.bias)
        return module
    return fn


def test_init_std_02_fails():
    fails_with(check.dcgan_init, _init(std=0.2), "ten times too large")


def test_init_variance_instead_of_std_fails():
    fails_with(check.dcgan_init, _init(std=0.0004), "not the variance")


def test_init_bn_weights_zero_fails():
    fails_with(check.dcgan_init, _init(bn_mean=0.0, bn_std=0.0), "normal_(bn.weight, 1.0, 0.02)")


def test_init_bn_weights_mean_zero_fails():
    fails_with(check.dcgan_init, _init(bn_mean=0.0), "normal_(bn.weight, 1.0, 0.02)")


def test_init_bn_weights_too_spread_fails():
    fails_with(check.dcgan_init, _init(bn_std=0.2), "N(1, 0.02)")


def test_init_forgot_linear_and_transposed_fail():
    fails_with(check.dcgan_init, _init(kinds=(nn.Conv2d, nn.ConvTranspose2d)), "Linear was not initialised")
    fails_with(check.dcgan_init, _init(kinds=(nn.Conv2d, nn.Linear)), "ConvTranspose2d was not initialised")


def test_init_biases_kept_fails():
    fails_with(check.dcgan_init, _init(zero_bias=False), "bias")


def test_init_bn_constant_one_passes():  # pytorch/examples draws N(1, 0.02); a constant 1 is fine too
    passes(check.dcgan_init, _init(bn_std=0.0))


def test_package_init_passes():
    from gan_course.models import dcgan_init_
    passes(check.dcgan_init, dcgan_init_)


# ---- slerp: typical wrong answers -------------------------------------------------------

def lerp(z0, z1, t):
    return (1 - t) * z0 + t * z1


def slerp_unnormalised(z0, z1, t):  # arccos of the raw dot product (clamped to avoid nan)
    omega = torch.arccos((z0 * z1).sum(-1, keepdim=True).clamp(-1, 1))
    so = torch.sin(omega).clamp(min=1e-6)
    return torch.sin((1 - t) * omega) / so * z0 + torch.sin(t * omega) / so * z1


def slerp_swapped(z0, z1, t):
    return sol.slerp(z1, z0, t)


def slerp_no_fallback(z0, z1, t):
    cos = (z0 * z1).sum(-1, keepdim=True) / (z0.norm(dim=-1, keepdim=True) * z1.norm(dim=-1, keepdim=True))
    omega = torch.arccos(cos)
    return torch.sin((1 - t) * omega) / torch.sin(omega) * z0 + torch.sin(t * omega) / torch.sin(omega) * z1


def slerp_1d_only(z0, z1, t):
    omega = torch.arccos(torch.dot(z0, z1) / (z0.norm() * z1.norm()))
    return torch.sin((1 - t) * omega) / torch.sin(omega) * z0 + torch.sin(t * omega) / torch.sin(omega) * z1


def test_slerp_wrong_answers():
    fails_with(check.slerp, lerp, "linear interpolation")
    fails_with(check.slerp, slerp_unnormalised, "normalised")
    fails_with(check.slerp, slerp_swapped, "swapped")
    fails_with(check.slerp, slerp_no_fallback, "fall back to lerp")
    fails_with(check.slerp, slerp_1d_only, "raised")


# ---- nearest_neighbour: typical wrong answers -------------------------------------------

def _dists(x, train, p=2):
    """Distances without torch.cdist (which the checker switches off)."""
    diff = x.flatten(1)[:, None, :] - train.flatten(1)[None, :, :]
    return diff.abs().sum(-1) if p == 1 else diff.pow(2).sum(-1).sqrt()


def nn_argmax(x, train):
    d = _dists(x, train)
    return d.max(dim=1).values, d.argmax(dim=1)


def nn_squared(x, train):
    dist, idx = _dists(x, train).min(dim=1)
    return dist ** 2, idx


def nn_l1(x, train):
    dist, idx = _dists(x, train, p=1).min(dim=1)
    return dist, idx


def nn_wrong_dim(x, train):
    dist, idx = _dists(x, train).min(dim=0)
    return dist, idx


def nn_expansion(x, train):  # the exercise's route: one matrix product, clamped
    a, b = x.flatten(1), train.flatten(1)
    sq = (a * a).sum(1, keepdim=True) - 2 * a @ b.T + (b * b).sum(1)
    dist, idx = sq.clamp(min=0).sqrt().min(dim=1)
    return dist, idx


def nn_expansion_unclamped(x, train):
    a, b = x.flatten(1), train.flatten(1)
    sq = (a * a).sum(1, keepdim=True) - 2 * a @ b.T + (b * b).sum(1)
    sq[0, 9] = -1e-4  # what rounding does to an exact copy's squared distance, made certain
    sq[1, 0] = -1e-4
    dist, idx = sq.sqrt().min(dim=1)
    return dist, idx


def test_nearest_neighbour_matrix_product_route():
    passes(check.nearest_neighbour, nn_expansion)
    fails_with(check.nearest_neighbour, nn_expansion_unclamped, "clamp")


def test_nearest_neighbour_wrong_answers():
    fails_with(check.nearest_neighbour, nn_argmax, "farthest")
    fails_with(check.nearest_neighbour, nn_squared, "squared")
    fails_with(check.nearest_neighbour, nn_l1, "Euclidean")
    fails_with(check.nearest_neighbour, nn_wrong_dim, "shape")


def test_checkers_are_registered():
    for name in NAMES:
        assert getattr(check, name) is getattr(dcgan, name)


def test_checkers_that_seed_leave_global_rng_alone():
    # upsample_block and dcgan_init call torch.manual_seed in their cases
    assert_leaves_global_rng_alone(lambda: check.upsample_block(sol.upsample_block),
                                   lambda: check.dcgan_init(sol.dcgan_init))


# ---- more typical wrong answers, and correct alternatives ---------------------------------

def block_channels_swapped(c_in, c_out):
    return nn.Sequential(nn.ConvTranspose2d(c_out, c_in, 4, 2, 1), nn.BatchNorm2d(c_out), nn.ReLU())


def block_bn_of_inputs(c_in, c_out):
    return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, 4, 2, 1), nn.BatchNorm2d(c_in), nn.ReLU())


def block_k2(c_in, c_out):  # (H - 1) * 2 + 2 = 2H: also doubles
    return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, 2, 2, 0), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


@pytest.mark.parametrize("fn, words", [(block_channels_swapped, ["c_in"]), (block_bn_of_inputs, ["BatchNorm2d(c_out)"])])
def test_block_wrong_channels_fail(fn, words):
    fails_with(check.upsample_block, fn, *words)


def test_block_other_doubling_kernel_passes():
    passes(check.upsample_block, block_k2)


def init_children_only(module):  # misses layers nested in blocks
    for m in module.children():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            nn.init.zeros_(m.bias)


def init_mean_not_std(module):  # normal_(w, 0.02) sets the mean
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def init_uniform(module):
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.uniform_(m.weight, -0.02, 0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def init_pytorch_examples(module):  # pytorch/examples' weights_init with module.apply: right
    def weights_init(m):
        name = type(m).__name__
        if name.find("Conv") != -1 or name == "Linear":
            m.weight.data.normal_(0.0, 0.02)
            if m.bias is not None:
                m.bias.data.fill_(0)
        elif name.find("BatchNorm") != -1:
            m.weight.data.normal_(1.0, 0.02)
            m.bias.data.fill_(0)
    module.apply(weights_init)


@pytest.mark.parametrize("fn, words", [(init_children_only, ["children()"]), (init_mean_not_std, ["MEAN"]),
                                       (init_uniform, ["uniform"])])
def test_init_more_wrong_answers(fn, words):
    fails_with(check.dcgan_init, fn, *words)


def test_init_with_apply_passes():
    passes(check.dcgan_init, init_pytorch_examples)


def slerp_unit_output(z0, z1, t):
    out = sol.slerp(z0, z1, t)
    return out / out.norm(dim=-1, keepdim=True)


def slerp_along_batch(z0, z1, t):  # the angle across the batch (dim 0), not per pair
    return sol.slerp(z0.T, z1.T, t).T if z0.dim() > 1 else sol.slerp(z0, z1, t)


def slerp_normalises_in_place(z0, z1, t):
    out = sol.slerp(z0, z1, t)
    z0.div_(z0.norm(dim=-1, keepdim=True))
    return out


@pytest.mark.parametrize("fn, words", [(slerp_unit_output, ["length 1"]), (slerp_along_batch, ["dim 0"]),
                                       (slerp_normalises_in_place, ["in place"])])
def test_slerp_more_wrong_answers(fn, words):
    fails_with(check.slerp, fn, *words)


def nn_cdist(x, train):  # the exercise asks for the matrix-product route
    dist, idx = torch.cdist(x.flatten(1), train.flatten(1)).min(dim=1)
    return dist, idx


def nn_norms_broadcast_wrongly(x, train):  # (M,) squared norms added along the training axis
    a, b = x.flatten(1), train.flatten(1)
    sq = (a * a).sum(1) - 2 * a @ b.T + (b * b).sum(1)
    return sq.clamp(min=0).sqrt().min(dim=1)


def nn_broadcast_differences(x, train):  # every difference at once: another valid route
    d = (x.flatten(1)[:, None, :] - train.flatten(1)[None, :, :]).pow(2).sum(-1).sqrt()
    dist, idx = d.min(dim=1)
    return dist, idx


@pytest.mark.parametrize("fn, words", [(nn_cdist, ["matrix product"]), (nn_norms_broadcast_wrongly, ["keepdim=True"])])
def test_nearest_neighbour_more_wrong_answers(fn, words):
    fails_with(check.nearest_neighbour, fn, *words)


def test_nearest_neighbour_broadcast_route_passes():
    passes(check.nearest_neighbour, nn_broadcast_differences)
    assert torch.cdist is not None and torch.cdist(torch.zeros(1, 2), torch.ones(1, 2)).item() > 1.41  # restored
