"""The non-digit families: shapes, range, determinism, the drawing helpers against hand
computations, overlaid digits of two different classes, scribbles that are tangles, and a
probe drawn apart from training."""

import math

import pytest
import torch

from gan_course import nondigits as N
from gan_course.judge import bundled_subset_split

FAMILIES = [N.uniform_noise, N.smooth_blobs, N.flat_grey, N.shuffled_digits, N.scribbles,
            N.stroke_letters, N.font_letters, N.letters, N.overlaid_digits, N.speckled_blots,
            N.symbols]


@pytest.mark.parametrize("variant", ["train", "probe"])
@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.__name__)
def test_family_shape_range_and_determinism(family, variant):
    a = family(12, torch.Generator().manual_seed(0), variant=variant)
    b = family(12, torch.Generator().manual_seed(0), variant=variant)
    c = family(12, torch.Generator().manual_seed(1), variant=variant)
    assert a.shape == (12, 1, 28, 28) and a.dtype == torch.float32
    assert a.min() >= -1 and a.max() <= 1
    assert torch.equal(a, b), "same generator seed, different images"
    assert not torch.equal(a, c), "another seed gave the same images"
    assert family(0, torch.Generator().manual_seed(0), variant=variant).shape == (0, 1, 28, 28)


@pytest.mark.parametrize("family", [N.scribbles, N.stroke_letters, N.font_letters,
                                    N.overlaid_digits, N.speckled_blots, N.symbols],
                         ids=lambda f: f.__name__)
def test_drawn_families_look_like_mnist_ink_on_background(family):
    x = family(40, torch.Generator().manual_seed(0))
    real = bundled_subset_split()[0][:500]
    ink = (x > 0).float().mean().item()
    real_ink = (real > 0).float().mean().item()  # about 0.19
    assert 0.3 * real_ink < ink < 2.5 * real_ink, f"ink share {ink:.2f} vs MNIST's {real_ink:.2f}"
    assert (x[:, :, 0, :] == -1).float().mean() > 0.9  # the top row stays background
    # fitted like MNIST: centre of mass of the ink near the centre of the canvas
    w = (x[:, 0] + 1) / 2
    grid = torch.arange(28.0)
    com_r = (w.sum(2) * grid).sum(1) / w.sum((1, 2))
    com_c = (w.sum(1) * grid).sum(1) / w.sum((1, 2))
    assert (com_r - 13.5).abs().mean() < 2 and (com_c - 13.5).abs().mean() < 2


def test_families_reject_an_unknown_variant():
    with pytest.raises(ValueError, match="'train' or 'probe'"):
        N.scribbles(2, variant="test")


def test_render_strokes_against_the_distance_rule():
    # one horizontal segment along row 14 from column 4 to 23, pen radius 1.5, softness 1
    points = torch.tensor([[[4.0, 14.0], [23.0, 14.0]]])
    img = N.render_strokes(points, torch.ones(1, 1, dtype=torch.bool), torch.tensor([1.5]), 1.0)
    ink = (img[0, 0] + 1) / 2
    for r in range(28):
        for c in (2, 10, 26):
            d = math.hypot(max(4 - c, 0, c - 23), r - 14)  # distance to the segment
            want = min(max(1.5 - d + 0.5, 0.0), 1.0)
            assert ink[r, c].item() == pytest.approx(want, abs=1e-5), (r, c)
    lifted = N.render_strokes(points, torch.zeros(1, 1, dtype=torch.bool), torch.tensor([1.5]))
    assert (lifted == -1).all()  # pen up: nothing drawn


def test_fit_to_box_sets_the_larger_side_and_the_centre_of_mass():
    points = torch.tensor([[[0.0, 0.0], [10.0, 0.0], [10.0, 5.0]]])
    pen = torch.ones(1, 2, dtype=torch.bool)
    fitted = N.fit_to_box(points, pen, torch.tensor([20.0]))
    extent = fitted[0].amax(0) - fitted[0].amin(0)
    assert extent.max().item() == pytest.approx(20.0)
    # length-weighted midpoints: (10 px at (5, 0)) and (5 px at (10, 2.5)), scaled by 2
    com = 2 * (10 * torch.tensor([5.0, 0.0]) + 5 * torch.tensor([10.0, 2.5])) / 15
    torch.testing.assert_close(fitted[0], points[0] * 2 - com + 13.5)


def test_tangle_of_a_line_a_circle_and_scribbles():
    line = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]]])
    t = torch.linspace(0, 2 * math.pi, 201)
    circle = torch.stack([torch.cos(t), torch.sin(t)], 1)[None]
    assert N.tangle(line, torch.ones(1, 2, dtype=torch.bool)).item() == pytest.approx(1.0)
    assert N.tangle(circle, torch.ones(1, 200, dtype=torch.bool)).item() == pytest.approx(math.pi, rel=1e-3)
    g = torch.Generator().manual_seed(0)  # no scribble is a single line, arc or loop
    walk = N._tangled(lambda m: N._walk_strokes(m, g, 48, (0.05, 0.35), (0, 0.1), (1, 3)), 50, 3.0)
    assert len(walk[0]) == 50 and (N.tangle(*walk) >= 3.0).all()


def test_overlaid_digits_are_two_different_classes():
    x, y, _, _ = bundled_subset_split()
    x, y = x[:300], y[:300]
    out, a, b = N.overlaid_digits(200, torch.Generator().manual_seed(0), digits=x, labels=y,
                                  return_pairs=True)
    assert (y[a] != y[b]).all()
    assert len(torch.unique(y[b])) == 10  # every other class gets drawn
    assert (out >= x[a]).all()             # the pixel-wise max keeps the first digit...
    ink = (out > 0).sum((1, 2, 3))
    assert (ink > (x[a] > 0).sum((1, 2, 3))).float().mean() > 0.95  # ...and adds the second
    with pytest.raises(ValueError, match="two classes"):
        N.overlaid_digits(3, digits=x[:5], labels=torch.zeros(5, dtype=torch.long))


def test_glyph_bank_is_rendered_once_and_centred():
    bank = N.glyph_bank(N.LETTERS, N.TRAIN_FONTS[:2])
    assert bank.shape == (2 * len(N.LETTERS), 1, 64, 64)
    assert bank is N.glyph_bank(N.LETTERS, N.TRAIN_FONTS[:2])  # cached
    rows = (bank[:, 0] > 0.05).any(2)
    cols = (bank[:, 0] > 0.05).any(1)
    side = torch.maximum(rows.sum(1), cols.sum(1))
    assert ((side >= 46) & (side <= 50)).all()  # the larger side is 48 bank pixels
    with pytest.raises(FileNotFoundError, match="matplotlib"):
        N.glyph_bank("A", ("NoSuchFont.ttf",))


def test_training_mix_uses_the_batch_digits():
    x, y, _, _ = bundled_subset_split()
    xb, yb = x[:400], y[:400]
    out = N.training_non_digits(xb, torch.Generator().manual_seed(0), yb)
    assert out.shape == xb.shape and out.min() >= -1 and out.max() <= 1
    same = N.training_non_digits(xb, torch.Generator().manual_seed(0), yb)
    assert torch.equal(out, same)
    # shuffled ones keep the pixels of the digit at their own position
    shuffled = [i for i in range(400)
                if torch.equal(out[i].flatten().sort().values, xb[i].flatten().sort().values)]
    share = N.TRAIN_MIX["shuffled_digits"] / sum(N.TRAIN_MIX.values())
    assert abs(len(shuffled) / 400 - share) < 0.05
    with pytest.raises(ValueError, match="unknown non-digit families"):
        N.training_non_digits(xb, mix={"cats": 1.0})


def test_probe_is_seeded_and_drawn_apart_from_training():
    a, b = N.probe_set(n=20), N.probe_set(n=20)
    assert list(a) == list(N.PROBE_FAMILIES)
    for name in a:
        assert a[name].shape == (20, 1, 28, 28) and torch.equal(a[name], b[name]), name
    assert not all(N.PROBE_FAMILIES[k][1] for k in a)  # at least one family never taught
    # the probe's overlaid and shuffled digits come from the held-out digits
    _, _, x_held, y_held = bundled_subset_split()
    _, pa, pb = N.overlaid_digits(20, torch.Generator().manual_seed(N.PROBE_SEED),
                                  variant="probe", return_pairs=True)
    assert pa.max() < len(x_held) and (y_held[pa] != y_held[pb]).all()
    # the same seed in the two variants gives other images: other code paths and parameters
    for family in (N.scribbles, N.stroke_letters, N.font_letters, N.speckled_blots):
        tr = family(20, torch.Generator().manual_seed(0), variant="train")
        pr = family(20, torch.Generator().manual_seed(0), variant="probe")
        assert (tr - pr).abs().mean() > 0.1, family.__name__


def test_probe_report_and_its_table():
    torch.manual_seed(0)
    from gan_course.judge import Judge

    report = N.probe_report(Judge().eval(), n=10)
    assert set(report["families"]) == set(N.PROBE_FAMILIES)
    for row in report["families"].values():
        assert row["n"] == 10 and 0 <= row["confident_fraction"] <= 1
        assert 0.1 <= row["mean_confidence"] <= 1 and 0 <= row["top_class"] < 10
    assert report["heldout"]["n"] == 2000 and 0 <= report["heldout"]["accuracy"] <= 1
    table = N.format_probe_report(report)
    assert "symbols (never taught)" in table and "real held-out digits" in table
