"""Checkers for notebook 06 (DCGAN on MNIST): an upsampling block, the DCGAN initialisation,
spherical interpolation of latent codes, and the nearest-training-neighbour search.

Each checker runs the student's function on several cases against a reference and names
the typical mistake behind a wrong answer: a stride-2 ``Conv2d`` that shrinks where a
generator must grow (the source material's mistake), ``std=0.2`` instead of 0.02, lerp
instead of slerp, ``argmax`` instead of ``argmin``, ...
"""

from __future__ import annotations

import math

import torch
from torch import nn

from gan_course.check.core import Mismatch, attempted, call, expect, expect_unchanged, refusing, run_exercise, snapshot


def _shape(t) -> tuple:
    return tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__


# ---------------------------------------------------------------------------------------
# upsample_block: (B, c_in, H, W) -> (B, c_out, 2H, 2W)
# ---------------------------------------------------------------------------------------

def _layers(block) -> list[nn.Module]:
    return [m for m in block.modules() if not list(m.children())]


def _size_hint(block, h_in: int, h_out) -> str:
    """The hint for a block whose output has the wrong height ``h_out`` for input ``h_in``."""
    convs = [m for m in _layers(block) if isinstance(m, nn.Conv2d)]
    tconvs = [m for m in _layers(block) if isinstance(m, nn.ConvTranspose2d)]
    if convs and not tconvs:
        return ("an nn.Conv2d with stride 2 SHRINKS the map (28 -> 14); a generator must grow "
                "it. Use nn.ConvTranspose2d(c_in, c_out, kernel_size=4, stride=2, padding=1): "
                "(H - 1) * 2 - 2 * 1 + 4 = 2H.")
    if tconvs:
        t = tconvs[0]
        k, s, p, op = t.kernel_size[0], t.stride[0], t.padding[0], t.output_padding[0]
        if s != 2:
            return (f"your ConvTranspose2d has stride {s}; doubling the size needs stride 2 "
                    "(the inputs land 2 pixels apart).")
        return (f"ConvTranspose2d(k={k}, s={s}, p={p}, output_padding={op}) gives "
                f"(H - 1) * {s} - 2 * {p} + {k} + {op} = {h_out} for H = {h_in}, not "
                f"{2 * h_in}. Use k=4, p=1 (or k=3, p=1, output_padding=1).")
    return "the block must contain an nn.ConvTranspose2d that doubles the height and width."


def upsample_block(fn, quiet: bool = False):
    """Check ``fn(c_in, c_out)`` -> a module mapping (B, c_in, H, W) to (B, c_out, 2H, 2W)
    with a transposed convolution, batch norm and ReLU (a DCGAN generator's hidden block)."""

    def case(c_in, c_out, h):
        torch.manual_seed(0)
        block = attempted(fn(c_in, c_out))
        expect(isinstance(block, nn.Module),
               f"upsample_block({c_in}, {c_out}) returned {type(block).__name__}, not an nn.Module",
               hint="return nn.Sequential(nn.ConvTranspose2d(...), nn.BatchNorm2d(...), nn.ReLU()).")
        block.train()
        x = torch.randn(8, c_in, h, h)
        try:
            with torch.no_grad():
                y = block(x)
        except RuntimeError as e:
            raise Mismatch(f"input (8, {c_in}, {h}, {h}): your block raised RuntimeError: {e}",
                           hint=f"each layer must fit the one before: nn.ConvTranspose2d(c_in, c_out, ...) "
                                f"takes c_in = {c_in} channels and makes c_out = {c_out}, then "
                                f"nn.BatchNorm2d(c_out) normalises those c_out channels") from None
        want = (8, c_out, 2 * h, 2 * h)
        if _shape(y) != want:
            h_out = y.shape[-1] if isinstance(y, torch.Tensor) and y.dim() == 4 else None
            if isinstance(y, torch.Tensor) and y.dim() == 4 and y.shape[1] != c_out \
                    and y.shape[-1] == 2 * h:
                hint = f"the block must output c_out = {c_out} channels."
            else:
                hint = _size_hint(block, h, h_out)
            expect(False, f"input (8, {c_in}, {h}, {h}): expected output {want}, got {_shape(y)}",
                   hint=hint)
        kinds = _layers(block)
        expect(any(isinstance(m, nn.ConvTranspose2d) for m in kinds),
               f"the block maps {h}x{h} to {2 * h}x{2 * h} but has no nn.ConvTranspose2d",
               hint="DCGAN upsamples with learned transposed convolutions, not with "
                    "nn.Upsample or reshapes.")
        expect(any(isinstance(m, nn.BatchNorm2d) for m in kinds),
               "the block has no nn.BatchNorm2d",
               hint="DCGAN puts batch norm after every hidden layer of G: it keeps the "
                    "activations' scale steady and helps against G collapsing to one output.")
        expect(not any(isinstance(m, nn.Tanh) for m in kinds),
               "the block ends in tanh",
               hint="tanh belongs only at G's OUTPUT layer (images in [-1, 1]); hidden blocks use "
                    "ReLU.")
        expect(any(isinstance(m, nn.ReLU) for m in kinds) and float(y.min()) >= 0,
               "the block's output has negative values: there is no ReLU at its end",
               hint="DCGAN's generator uses ReLU after batch norm in every hidden layer "
                    "(LeakyReLU is for the discriminator).")
        bn = next(m for m in kinds if isinstance(m, nn.BatchNorm2d))
        expect(bn.num_features == c_out,
               f"BatchNorm2d normalises {bn.num_features} channels, the output has {c_out}",
               hint="put batch norm AFTER the transposed convolution: nn.BatchNorm2d(c_out).")

    cases = [(64, 32, 7), (32, 16, 14), (8, 4, 5), (3, 5, 1)]
    return run_exercise("upsample_block", fn, [lambda c=c: case(*c) for c in cases], quiet)


# ---------------------------------------------------------------------------------------
# dcgan_init: conv/linear weights ~ N(0, 0.02), batch-norm weights ~ N(1, 0.02), biases 0
# ---------------------------------------------------------------------------------------

def _test_nets() -> nn.Module:
    """Every layer kind of a DCGAN pair, with PyTorch's default init (std far from 0.02),
    nested in blocks as in the course's models (``module.children()`` misses the inner ones)."""
    return nn.ModuleDict({
        "project": nn.Linear(100, 64 * 7 * 7),
        "g_block": nn.Sequential(nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.BatchNorm2d(32), nn.ReLU()),
        "d_block": nn.Sequential(nn.Conv2d(32, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.LeakyReLU(0.2)),
        "head": nn.Linear(64 * 7 * 7, 1),
    })


def _std_hint(name: str, mean: float, std: float) -> str:
    if abs(std - 0.2) < 0.03:
        return "std 0.2 is ten times too large: DCGAN draws weights from N(0, 0.02)."
    if abs(std - 0.02 ** 2) < 1e-4 or abs(std - 0.002) < 5e-4:
        return "the second argument of nn.init.normal_ is the standard deviation 0.02, not " \
               "the variance."
    if abs(mean - 0.02) < 0.01 and abs(std - 1.0) < 0.05:
        return ("nn.init.normal_(w, 0.02) sets the MEAN to 0.02 and leaves the std at 1: pass both, "
                "nn.init.normal_(w, 0.0, 0.02) (mean 0, std 0.02).")
    if abs(std - 0.02 / math.sqrt(3)) < 0.002:
        return ("that looks like a uniform draw on [-0.02, 0.02] (std 0.02 / sqrt(3)): DCGAN draws "
                "from the normal distribution N(0, 0.02), nn.init.normal_(w, 0.0, 0.02).")
    return (f"this {name} was not initialised (PyTorch's default init): loop over "
            "module.modules(), which also visits layers nested in blocks (module.children() "
            "does not), and call nn.init.normal_(m.weight, 0.0, 0.02) for EVERY "
            "nn.Conv2d, nn.ConvTranspose2d and nn.Linear (G's dense layer and D's head too).")


def dcgan_init(fn, quiet: bool = False):
    """Check ``fn(module)`` initialises a network in place as DCGAN prescribes."""

    def case(seed):
        torch.manual_seed(seed)
        net = _test_nets()
        fn(net)  # in place; the return value is not used (returning the module is fine)
        with torch.no_grad():
            inspect(net)

    def inspect(net):
        layers = {"project": net["project"], "tconv": net["g_block"][0], "conv": net["d_block"][0],
                  "head": net["head"]}
        for name in ("project", "tconv", "conv", "head"):
            m = layers[name]
            w = m.weight.detach()
            mean, std = float(w.mean()), float(w.std())
            tol = 4 * 0.02 / math.sqrt(2 * w.numel()) + 5e-4  # 4 standard errors of the std
            expect(abs(std - 0.02) < tol and abs(mean) < 4 * 0.02 / math.sqrt(w.numel()) + 1e-4,
                   f"{type(m).__name__} weights: mean {mean:.4f}, std {std:.4f}; expected "
                   "mean 0, std 0.02",
                   hint=_std_hint(type(m).__name__, mean, std))
            expect(m.bias is None or bool((m.bias == 0).all()),
                   f"{type(m).__name__} biases are not 0",
                   hint="DCGAN starts every bias at 0: nn.init.zeros_(m.bias) when m.bias is not None.")
        for bn in (net["g_block"][1], net["d_block"][1]):
            g = bn.weight.detach()
            expect(float(g.abs().max()) > 0.5,
                   f"BatchNorm2d weights are {float(g.mean()):.3f} on average; expected about 1",
                   hint="batch-norm weights multiply the normalised activations: at 0 every "
                        "output is just the bias and no gradient reaches earlier layers. Use "
                        "nn.init.normal_(bn.weight, 1.0, 0.02).")
            expect(abs(float(g.mean()) - 1) < 0.02 and float(g.std()) < 0.04,
                   f"BatchNorm2d weights: mean {float(g.mean()):.3f}, std {float(g.std()):.3f}; "
                   "expected N(1, 0.02)",
                   hint="batch-norm weights are drawn from N(1, 0.02) (mean 1: start as the "
                        "identity scaling), not N(0, 0.02).")
            expect(bool((bn.bias == 0).all()),
                   "BatchNorm2d biases are not 0",
                   hint="batch-norm biases start at 0: nn.init.zeros_(bn.bias).")

    return run_exercise("dcgan_init", fn, [lambda s=s: case(s) for s in (0, 1)], quiet)


# ---------------------------------------------------------------------------------------
# slerp: spherical interpolation of latent codes
# ---------------------------------------------------------------------------------------

def _slerp(z0, z1, t):
    """sin((1-t) w)/sin(w) z0 + sin(t w)/sin(w) z1 with cos w = <z0, z1>/(|z0||z1|), along the
    last dimension; lerp where w ~ 0 (parallel codes), as ``solutions`` does."""
    z0, z1 = z0.double(), z1.double()
    cos = (z0 * z1).sum(-1, keepdim=True) / (z0.norm(dim=-1, keepdim=True) * z1.norm(dim=-1, keepdim=True))
    omega = torch.arccos(cos.clamp(-1, 1))
    so = torch.sin(omega)
    small = so < 1e-6
    safe = torch.where(small, torch.ones_like(so), so)
    out = torch.sin((1 - t) * omega) / safe * z0 + torch.sin(t * omega) / safe * z1
    return torch.where(small, (1 - t) * z0 + t * z1, out)


def slerp(fn, quiet: bool = False):
    """Check ``fn(z0, z1, t)`` = spherical interpolation between latent codes (along dim -1)."""
    gen = torch.Generator().manual_seed(0)
    za, zb = torch.randn(100, generator=gen), torch.randn(100, generator=gen)
    batch0, batch1 = torch.randn(4, 100, generator=gen), torch.randn(4, 100, generator=gen)
    small0, small1 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 3.0])

    def hint_for(z0, z1, t, got):
        g = got.double()
        lerp = (1 - t) * z0.double() + t * z1.double()
        if torch.allclose(g, lerp, atol=1e-4):
            return ("this is linear interpolation (lerp). slerp walks along the arc: "
                    "sin((1-t)w)/sin(w) z0 + sin(t w)/sin(w) z1, with cos w = "
                    "<z0, z1> / (|z0| |z1|).")
        if torch.allclose(g, _slerp(z1, z0, t), atol=1e-4):
            return "the endpoints are swapped: t = 0 must give z0 and t = 1 must give z1."
        want = _slerp(z0, z1, t)
        if torch.allclose(g, want / want.norm(dim=-1, keepdim=True), atol=1e-4) or torch.allclose(
                g, _slerp(z0 / z0.norm(dim=-1, keepdim=True), z1 / z1.norm(dim=-1, keepdim=True), t), atol=1e-4):
            return ("the result has length 1: normalise only to compute the angle w; the weights "
                    "sin((1-t)w)/sin(w) and sin(t w)/sin(w) multiply the original z0 and z1.")
        if z0.dim() > 1 and torch.allclose(g, _slerp(z0.T, z1.T, t).T, atol=1e-4):
            return ("the angle was computed along dim 0 (across the batch); each pair is a row: "
                    "sum(-1, keepdim=True) and norm(dim=-1, keepdim=True).")
        return ("compute the angle from the NORMALISED dot product, cos w = <z0, z1> / "
                "(|z0| |z1|) (clamp it to [-1, 1] before arccos), then weight z0 by "
                "sin((1-t)w)/sin(w) and z1 by sin(t w)/sin(w).")

    def case(z0, z1, t, what):
        args = {"z0": z0.clone(), "z1": z1.clone()}
        before = snapshot(**args)
        got = attempted(fn(*args.values(), t))
        expect_unchanged(what, args, before)
        want = _slerp(z0, z1, t)
        expect(isinstance(got, torch.Tensor) and tuple(got.shape) == tuple(want.shape),
               f"{what}: expected a tensor of shape {tuple(want.shape)}, got {_shape(got)}",
               hint="work along the last dimension (sum(-1, keepdim=True)) so a batch (B, d) "
                    "of pairs works too.")
        expect(bool(torch.isfinite(got).all()),
               f"{what}: the result has nan or inf",
               hint="when z0 and z1 point the same way, sin(w) = 0: fall back to lerp there "
                    "(and clamp cos w to [-1, 1] before arccos).")
        err = float((got.double() - want).abs().max())
        expect(err < 1e-4, f"{what}, t = {t}: max abs difference {err:.3g} from the reference",
               hint=hint_for(z0, z1, t, got))

    cases = [
        (za, zb, 0.0, "t = 0 (must give z0)"),
        (za, zb, 1.0, "t = 1 (must give z1)"),
        (small0, small1, 0.5, "z0 = (1, 0), z1 = (0, 3)"),
        (za, zb, 0.3, "two 100-d Gaussian codes"),
        (batch0, batch1, 0.7, "a batch of 4 pairs, shape (4, 100)"),
        (torch.tensor([3.0, 4.0]), torch.tensor([6.0, 8.0]), 0.25,
         "parallel codes z0 = (3, 4), z1 = (6, 8) (angle 0)"),
    ]
    return run_exercise("slerp", fn, [lambda c=c: case(*c) for c in cases], quiet)


# ---------------------------------------------------------------------------------------
# nearest_neighbour: for each query image, the closest training image (Euclidean, pixels)
# ---------------------------------------------------------------------------------------

def _nearest(x, train):
    d = torch.cdist(x.flatten(1).double(), train.flatten(1).double())
    dist, idx = d.min(dim=1)
    return dist, idx


def nearest_neighbour(fn, quiet: bool = False):
    """Check ``fn(x, train)`` -> ``(dist, idx)``: for each of the M query images the Euclidean
    pixel distance to its nearest of the N training images, and that image's index.

    ``torch.cdist`` is switched off while the student's function runs (the exercise asks for
    the one-matrix-product route); one case has as many queries as training images, where
    an ``(M,)`` vector of squared norms broadcasts silently along the wrong axis.
    """
    gen = torch.Generator().manual_seed(0)
    train = torch.rand(50, 1, 28, 28, generator=gen) * 2 - 1
    near = train[[3, 17, 42]] + 0.05 * torch.randn(3, 1, 28, 28, generator=gen)
    fresh = torch.rand(6, 1, 28, 28, generator=gen) * 2 - 1
    copies = train[[9, 0]].clone()
    square = torch.rand(50, 1, 28, 28, generator=gen) * 2 - 1

    def case(x, what):
        args = {"x": x.clone(), "train": train.clone()}
        before = snapshot(**args)
        with refusing([(torch, "cdist")], "this exercise asks for the distances from one matrix product, "
                      "|a|^2 - 2 a.b + |b|^2, not from torch.cdist"):
            got = attempted(call(fn, *args.values(), shape_hint=(
                "build the (M, N) matrix of squared distances from the flattened images a (M, 784) "
                "and b (N, 784): (a * a).sum(1, keepdim=True) is a column (M, 1), (b * b).sum(1) a "
                "row (N,), and a @ b.T is (M, N); without keepdim=True the (M,) vector broadcasts "
                "along the wrong axis")))
        expect_unchanged(what, args, before)
        want_d, want_i = _nearest(x, train)
        expect(isinstance(got, tuple) and len(got) == 2,
               f"{what}: expected a pair (dist, idx), got {type(got).__name__}",
               hint="return dist, idx (both of shape (M,)), e.g. from d.min(dim=1).")
        dist, idx = got
        expect(isinstance(idx, torch.Tensor) and tuple(idx.shape) == (len(x),),
               f"{what}: idx must have shape ({len(x)},), got {_shape(idx)}",
               hint="flatten the images to (M, 784) and (N, 784), build the (M, N) distance "
                    "matrix, and take the minimum over dim=1 (the training images).")
        expect(not isinstance(dist, torch.Tensor) or bool(torch.isfinite(dist).all()),
               f"{what}: some distances are nan or inf",
               hint="with |a|^2 - 2 a.b + |b|^2, rounding can make a squared distance slightly "
                    "negative: clamp it at 0 before the square root (.clamp(min=0).sqrt()).")
        if not torch.equal(idx.long(), want_i):
            a, b = x.flatten(1).double(), train.flatten(1).double()
            far = torch.cdist(a, b).argmax(dim=1)
            hint = ("flatten both sets to (M, 784) and (N, 784), compute every squared distance "
                    "|a|^2 - 2 a.b + |b|^2 as an (M, N) matrix, and take the minimum along dim=1.")
            if torch.equal(idx.long(), far):
                hint = ("argmax finds the FARTHEST training image; the nearest neighbour is the "
                        "argmin (or d.min(dim=1)).")
            elif len(a) == len(b) and torch.equal(
                    idx.long(), ((a * a).sum(1) - 2 * a @ b.T + (b * b).sum(1)).argmin(dim=1)):
                hint = ("(a * a).sum(1) has shape (M,): broadcasting adds it along the LAST axis, "
                        "the training images, so row i gets |a_j|^2 instead of |a_i|^2 (silently, "
                        "when M = N). Keep it a column: (a * a).sum(1, keepdim=True), shape (M, 1).")
            expect(False, f"{what}: expected idx {want_i.tolist()}, got {idx.tolist()}", hint=hint)
        expect(isinstance(dist, torch.Tensor) and tuple(dist.shape) == (len(x),),
               f"{what}: dist must have shape ({len(x)},), got {_shape(dist)}")
        # tolerance 0.05: the |a|^2 - 2ab + |b|^2 route in float32 is off by ~0.01 near 0
        err = float((dist.double() - want_d).abs().max())
        if err > 0.05:
            if torch.allclose(dist.double(), want_d ** 2, rtol=1e-3, atol=0.05):
                hint = "you returned the SQUARED distance; take its square root."
            else:
                hint = "dist is the Euclidean distance sqrt(sum over pixels of (x - t)^2)."
            expect(False, f"{what}: distances differ from the reference by up to {err:.3g}",
                   hint=hint)

    cases = [(near, "3 noisy copies of training images 3, 17, 42"),
             (fresh, "6 new random images"),
             (copies, "exact copies of training images 9 and 0 (distance 0)"),
             (square, "50 new images against the 50 training images (M = N)")]
    return run_exercise("nearest_neighbour", fn, [lambda c=c: case(*c) for c in cases], quiet)
