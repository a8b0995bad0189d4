"""Checkers for notebook 08 (when GANs fail): three small functions that each prevent one
failure of the gallery.

- :func:`sample_eval`: sample ``G(z)`` in eval mode without the batch-norm mistakes. Typical
  mistakes: train mode (each sample then depends on its batch-mates, a batch of one fails,
  and the running statistics move), ``G.eval()`` never undone (the next training step runs
  in eval mode), ``G.train()`` forced afterwards (a G that was in eval mode comes back in
  train mode), no ``torch.no_grad()`` (a graph is kept for nothing).
- :func:`epoch_batches`: one epoch of index batches from a random permutation drawn with
  the given generator, the last incomplete batch dropped. Typical mistakes: the data's own
  order (class-sorted data stays sorted), shuffling only inside each batch, drawing with
  replacement, torch's global random stream instead of the generator, keeping the last
  short batch.
- :func:`gradient_norm`: the L2 norm of all of a model's gradients together (what
  ``History.grad_norm_g`` records; a vanishing G gradient shows in it). Typical mistakes:
  summing the per-tensor norms, their mean or maximum, the squared norm, failing on
  parameters without a gradient.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from gan_course.check.core import (GlobalRNGWatch, Mismatch, as_number, attempted, expect, fmt, run_exercise)
from gan_course.models import DCGANGenerator


# ---------------------------------------------------------------------------------------
# 1. sampling in eval mode
# ---------------------------------------------------------------------------------------

def _tiny_bn_generator(seed: int, training: bool) -> nn.Module:
    """A small course DCGAN generator whose batch-norm statistics are not the defaults, so
    that train mode and eval mode give visibly different images."""
    torch.manual_seed(seed)  # inside run_exercise's cases, which fork the global stream
    G = DCGANGenerator(latent_dim=8, channels=(8, 4), hidden=16)
    for m in G.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.normal_(0.0, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.num_batches_tracked.fill_(100)
    return G.train(training)


def _bn_state(G: nn.Module) -> list[torch.Tensor]:
    return [b.detach().clone() for b in G.buffers()]


def sample_eval(fn, quiet: bool = False):
    """Check ``fn(G, z) -> images``: ``G(z)`` with batch norm using its running statistics
    (eval mode), computed without a graph, and G left exactly as it was: in the mode it had
    (train or eval) and with its running statistics untouched.

    Cases: G in train mode with a batch of 6; the same G with a batch of one (train mode
    would fail there); a G that was already in eval mode.
    """
    cases = [("G in train mode, a batch of 6", 0, True, 6), ("G in train mode, a batch of 1", 1, True, 1),
             ("G already in eval mode, a batch of 5", 2, False, 5)]

    def case(label, seed, training, batch):
        G = _tiny_bn_generator(seed, training)
        z = torch.randn(batch, 8, generator=torch.Generator().manual_seed(seed + 10))
        ref = copy.deepcopy(G).eval()
        with torch.no_grad():
            want = ref(z)
        stats_before = _bn_state(G)
        out = attempted(fn(G, z.clone()))
        expect(isinstance(out, torch.Tensor), f"{label}: expected a tensor of images, got "
               f"{type(out).__name__}", hint="return G(z) itself")
        trained_stats = any(not torch.equal(a, b) for a, b in zip(stats_before, _bn_state(G)))
        expect(tuple(out.shape) == tuple(want.shape), f"{label}: shape {tuple(out.shape)}, "
               f"expected {tuple(want.shape)}", hint="return G(z) for the z given, unchanged")
        if not torch.allclose(out.detach().float(), want, atol=1e-5):
            hint = "sample with G in eval mode: batch norm must use its running statistics"
            with torch.no_grad():
                moved = copy.deepcopy(G).eval()(z)  # eval mode, with the statistics as G has them now
            if trained_stats and torch.allclose(out.detach().float(), moved, atol=1e-5):
                hint = ("these are eval-mode images, but made with running statistics that your "
                        "function moved first (a forward pass in train mode updates them): sample "
                        "in eval mode only, and G's statistics stay those of training")
            elif trained_stats:
                hint = ("these are train-mode images: batch norm normalised with this batch's own "
                        "statistics (so each image depends on the others in the batch) and moved "
                        "its running statistics. Switch to eval mode for sampling")
            raise Mismatch(f"{label}: the images differ from eval-mode samples (first pixels "
                           f"{fmt(out.flatten()[:3])}, expected {fmt(want.flatten()[:3])})", hint)
        expect(not trained_stats, f"{label}: G's batch-norm running statistics changed",
               hint="a forward pass in train mode updates them; sample in eval mode only")
        expect(G.training == training,
               f"{label}: G was in {'train' if training else 'eval'} mode and your function left it "
               f"in {'train' if G.training else 'eval'} mode",
               hint=("put G back as you found it: `with gan_course.models.eval_mode(G):` restores "
                     "the mode on exit (or save G.training and call G.train(flag) afterwards); "
                     "the next training step must run in train mode") if training else
               ("G was in eval mode before your call: restore the mode it had (G.train(was_training)), "
                "do not switch it to train mode unconditionally"))
        expect(not out.requires_grad, f"{label}: the images carry a graph (requires_grad=True)",
               hint="wrap the forward pass in `with torch.no_grad():`: sampling needs no gradients, "
                    "and a kept graph costs memory")

    return run_exercise("sample_eval", fn, [lambda c=c: case(*c) for c in cases], quiet)


# ---------------------------------------------------------------------------------------
# 2. one epoch of shuffled batches
# ---------------------------------------------------------------------------------------

def _as_index_batches(out, label: str) -> list[torch.Tensor]:
    attempted(out)
    try:
        batches = [torch.as_tensor(b) for b in out]
    except (TypeError, ValueError, RuntimeError) as e:
        raise Mismatch(f"{label}: expected a list of index tensors, got {type(out).__name__} ({e})",
                       hint="return a list of 1-D integer tensors, one per batch") from None
    for b in batches:
        expect(b.dim() == 1 and not b.is_floating_point() and b.dtype != torch.bool,
               f"{label}: a batch has dtype {b.dtype} and shape {tuple(b.shape)}",
               hint="each batch is a 1-D tensor of integer indices, e.g. a slice of torch.randperm")
    return batches


def epoch_batches(fn, quiet: bool = False):
    """Check ``fn(n, batch_size, generator) -> list of index tensors``: one epoch over ``n``
    samples in a random order drawn from ``generator`` (a ``torch.Generator``), in
    ``n // batch_size`` batches of exactly ``batch_size`` indices (the last incomplete batch
    is dropped, as the engine does), every index at most once.

    Checked: sizes, no index twice, indices in 0..n-1, the same generator seed gives the
    same batches and another seed other ones, torch's global random stream is not used, and
    the order is not the data's own (sorted data would stay sorted).
    """
    cases = [("n = 100, batch_size = 10", 100, 10), ("n = 103, batch_size = 8", 103, 8),
             ("n = 64, batch_size = 64", 64, 64), ("n = 1000, batch_size = 64", 1000, 64)]

    def run(n, bs, seed):
        with GlobalRNGWatch() as rng:
            out = fn(n, bs, torch.Generator().manual_seed(seed))
        return out, rng.used

    def case(label, n, bs):
        out, used_global = run(n, bs, 0)
        batches = _as_index_batches(out, label)
        expect(not used_global, f"{label}: your function drew from torch's global random stream",
               hint="draw the permutation from the generator you are given: "
                    "torch.randperm(n, generator=generator); then the run is reproducible from its seed")
        sizes = [len(b) for b in batches]
        flat = torch.cat(batches) if batches else torch.zeros(0, dtype=torch.int64)
        if len(batches) == n // bs + 1 and sizes[-1] == n % bs and n % bs:
            raise Mismatch(f"{label}: {len(batches)} batches, the last of {sizes[-1]}",
                           hint="drop the last incomplete batch (n // batch_size batches): a short batch "
                                "gives batch norm and the losses a different batch size")
        expect(len(batches) == n // bs and all(s == bs for s in sizes),
               f"{label}: {len(batches)} batches of sizes {sizes[:5]}{'...' if len(sizes) > 5 else ''}, "
               f"expected {n // bs} batches of {bs}", hint="slice the permutation into n // batch_size "
                                                            "batches of batch_size indices each")
        expect(bool(((flat >= 0) & (flat < n)).all()), f"{label}: indices outside 0..{n - 1}",
               hint="the indices are positions in the data: 0 .. n-1")
        if len(torch.unique(flat)) < len(flat):
            raise Mismatch(f"{label}: {len(flat) - len(torch.unique(flat))} indices appear twice in one epoch",
                           hint="draw a permutation (torch.randperm), not indices with replacement "
                                "(torch.randint): an epoch shows every sample once")
        if n > bs:
            contiguous = all(int(b.max() - b.min()) == bs - 1 for b in batches)
            in_order = bool((flat[1:] > flat[:-1]).all())
            if in_order:
                raise Mismatch(f"{label}: the batches are the data in its own order ({fmt(flat[:6], 6)})",
                               hint="shuffle: data sorted by class would reach D one class at a time, "
                                    "and G would follow it (the gallery's class-sorted run)")
            if contiguous:
                raise Mismatch(f"{label}: each batch holds consecutive indices, shuffled only inside the batch",
                               hint="shuffle the whole epoch, then slice it: shuffling inside each batch "
                                    "leaves a class-sorted data set's batches one class each")
            again, _ = run(n, bs, 0)
            other, _ = run(n, bs, 1)
            again, other = _as_index_batches(again, label), _as_index_batches(other, label)
            expect(all(torch.equal(a, b) for a, b in zip(again, batches)),
                   f"{label}: the same generator seed gave different batches",
                   hint="take all randomness from the generator argument (generator=generator)")
            expect(not all(torch.equal(a, b) for a, b in zip(other, batches)),
                   f"{label}: generators with seeds 0 and 1 gave the same batches",
                   hint="the order must come from the generator: torch.randperm(n, generator=generator)")

    return run_exercise("epoch_batches", fn, [lambda c=c: case(*c) for c in cases], quiet)


# ---------------------------------------------------------------------------------------
# 3. the norm of all gradients
# ---------------------------------------------------------------------------------------

def _model_with_grads(seed: int, missing: bool) -> nn.Module:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3), nn.Linear(3, 1))
    x = torch.randn(7, 5)
    if missing:  # the last layer takes no part: its parameters keep .grad = None
        model[:3](x).pow(2).sum().backward()
    else:
        model(x).pow(2).sum().backward()
    return model


def gradient_norm(fn, quiet: bool = False):
    """Check ``fn(model) -> float``: the L2 norm of all of ``model``'s gradients as one
    vector, ``sqrt(sum over parameters p of sum(p.grad ** 2))``; parameters whose ``.grad``
    is ``None`` count as zero. (``training.grad_norm`` computes it for the History.)"""
    cases = [("a 3-layer model, all gradients", 0, False), ("another seed", 1, False),
             ("a model whose last layer got no gradient (.grad is None)", 2, True)]

    def case(label, seed, missing):
        model = _model_with_grads(seed, missing)
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        want = math.sqrt(sum(float(g.double().pow(2).sum()) for g in grads))
        before = [None if p.grad is None else p.grad.clone() for p in model.parameters()]
        try:
            got = as_number(fn(model), "the gradient norm")
        except (TypeError, AttributeError) as e:
            if missing and "NoneType" in str(e):
                raise Mismatch(f"{label}: your function raised {type(e).__name__}: {e}",
                               hint="skip parameters whose .grad is None (a layer that took no part "
                                    "in the loss has none): `for p in model.parameters() if p.grad "
                                    "is not None`") from None
            raise
        after = [None if p.grad is None else p.grad for p in model.parameters()]
        expect(all((a is None and b is None) or (a is not None and b is not None and torch.equal(a, b))
                   for a, b in zip(before, after)), f"{label}: your function changed the gradients",
               hint="only read .grad: no zero_grad(), no in-place operations on it")
        if abs(got - want) <= 1e-5 * (1 + want):
            return
        norms = [float(g.double().norm()) for g in grads]
        hint = "sqrt of the sum of the squares of every gradient entry, over all parameters"
        if abs(got - sum(norms)) <= 1e-5 * (1 + want):
            hint = ("that is the sum of the per-tensor norms, which is larger than the norm of all "
                    "gradients together: square each norm, add them, take the square root")
        elif abs(got - want ** 2) <= 1e-5 * (1 + want ** 2):
            hint = "that is the squared norm: take its square root"
        elif abs(got - sum(norms) / len(norms)) <= 1e-5 * (1 + want):
            hint = "that is the mean of the per-tensor norms; the norm of all gradients as one vector is asked"
        elif abs(got - max(norms)) <= 1e-5 * (1 + want):
            hint = "that is the largest per-tensor norm; the norm of all gradients together is asked"
        raise Mismatch(f"{label}: expected {want:.6g}, got {got:.6g}", hint)

    return run_exercise("gradient_norm", fn, [lambda c=c: case(*c) for c in cases], quiet)


__all__ = ["sample_eval", "epoch_batches", "gradient_norm"]
