"""DiffAugment: each transform against what it is meant to do, with the draws replayed from
the same seeded generator."""

import pytest
import torch

from gan_course import augment
from gan_course.augment import cutout_mask, diff_augment, parse_policy, shift

B, H, W = 6, 28, 28


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def images(seed=1, n=B):
    return torch.rand(n, 1, H, W, generator=gen(seed)) * 2 - 1


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout",
                                    "cutout,translation"])
def test_shapes_dtype_and_gradient(policy):
    x = images().requires_grad_(True)
    out = diff_augment(x, policy, gen())
    assert out.shape == x.shape and out.dtype == x.dtype
    out.square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_no_policy_is_the_identity_and_draws_nothing():
    x, g = images(), gen(3)
    state = g.get_state()
    for policy in (None, ""):
        assert diff_augment(x, policy, g) is x
    assert torch.equal(g.get_state(), state)


def test_the_same_seed_gives_the_same_transforms():
    x = images()
    policy = "color,translation,cutout"
    assert torch.equal(diff_augment(x, policy, gen(5)), diff_augment(x, policy, gen(5)))
    assert not torch.equal(diff_augment(x, policy, gen(5)), diff_augment(x, policy, gen(6)))


def test_translation_moves_each_image_by_its_drawn_shift():
    x = torch.full((B, 1, H, W), -1.0)
    x[:, 0, 14, 13] = 1.0  # one ink pixel, further from every edge than the largest shift
    out = diff_augment(x, "translation", gen(2))
    g = gen(2)  # the same draws: dy for all images, then dx, each from -4..4 (28 / 8 = 3.5 -> 4)
    dy, dx = torch.randint(-4, 5, (B,), generator=g), torch.randint(-4, 5, (B,), generator=g)
    assert (dy != 0).any() and (dx != 0).any()
    for i in range(B):
        ink = (out[i, 0] == 1).nonzero().tolist()
        assert ink == [[14 + dy[i].item(), 13 + dx[i].item()]]
        # what came in from outside is 0 (the paper's zero padding): |dy| rows and |dx| columns
        zeros = int((out[i, 0] == 0).sum())
        assert zeros == H * W - (H - abs(dy[i].item())) * (W - abs(dx[i].item()))


def test_shift_is_the_index_formula_and_its_gradient_counts_the_pixels_kept():
    x = images(n=2).requires_grad_(True)
    dy, dx = torch.tensor([2, -3]), torch.tensor([-1, 4])
    out = shift(x, dy, dx)
    for i in range(2):
        for r, c in [(5, 5), (0, 27), (27, 0), (10, 3)]:
            rs, cs = r - dy[i].item(), c - dx[i].item()
            want = x[i, 0, rs, cs] if 0 <= rs < H and 0 <= cs < W else torch.tensor(0.0)
            assert out[i, 0, r, c] == want
    out.sum().backward()  # each source pixel used at most once: gradient 1 if kept, else 0
    kept = x.grad.sum(dim=(1, 2, 3))
    assert kept.tolist() == [(H - 2) * (W - 1), (H - 3) * (W - 4)]
    assert set(x.grad.unique().tolist()) == {0.0, 1.0}


def test_cutout_zeroes_one_square_of_half_the_side_per_image():
    x = torch.rand(B, 1, H, W, generator=gen(4)) + 0.5  # no zeros of its own
    out = diff_augment(x, "cutout", gen(7))
    g = gen(7)  # the same draws: centres cy, then cx, from 0..28 (side 14, even)
    cy, cx = torch.randint(0, 29, (B,), generator=g), torch.randint(0, 29, (B,), generator=g)
    for i in range(B):
        zero = out[i, 0] == 0
        rows, cols = zero.any(1).nonzero().flatten(), zero.any(0).nonzero().flatten()
        top, left = cy[i].item() - 7, cx[i].item() - 7
        # one rectangle: the 14 x 14 square around the centre, the part inside the image
        assert rows.tolist() == [r for r in range(top, top + 14) if 0 <= r < H]
        assert cols.tolist() == [c for c in range(left, left + 14) if 0 <= c < W]
        assert int(zero.sum()) == len(rows) * len(cols)
        assert torch.equal(out[i, 0][~zero], x[i, 0][~zero])  # the rest untouched
    # a centre far enough from the borders cuts a whole 14 x 14 square
    inside = cutout_mask((1, 1, H, W), torch.tensor([14]), torch.tensor([10]), (14, 14))
    assert int((inside == 0).sum()) == 14 * 14


def test_color_is_brightness_then_contrast_without_saturation():
    x = images()
    out = diff_augment(x, "color", gen(8))
    g = gen(8)
    b = torch.rand(B, generator=g) - 0.5   # brightness: a shift in [-0.5, 0.5)
    f = torch.rand(B, generator=g) + 0.5   # contrast: a factor in [0.5, 1.5)
    mean, dev = x.mean(dim=(1, 2, 3)), x - x.mean(dim=(1, 2, 3), keepdim=True)
    torch.testing.assert_close(out.mean(dim=(1, 2, 3)), mean + b)  # contrast keeps the mean
    torch.testing.assert_close(out - out.mean(dim=(1, 2, 3), keepdim=True), dev * f.view(B, 1, 1, 1))
    assert set(augment.AUGMENTS["color"]) == {augment.brightness, augment.contrast}


def test_unknown_policy_names_list_the_valid_ones():
    assert parse_policy("translation, cutout") == ("translation", "cutout")
    with pytest.raises(ValueError, match=r"unknown augmentation 'flip' .* color, cutout, translation"):
        parse_policy("translation,flip")
    with pytest.raises(ValueError, match="string such as"):
        parse_policy(["translation"])
