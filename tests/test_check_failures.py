"""Notebook 08's checkers (failures): each typical wrong answer fails with the hint aimed at
it, and correct alternatives pass. (That every solution passes and every stub is "not
attempted" is tested once for all checkers in test_exercises.py.)
"""

import math

import pytest
import torch

from exercise_helpers import assert_leaves_global_rng_alone, fails_with, load_solutions, passes
from gan_course.check import failures as chk

sol = load_solutions("nb08_when_gans_fail")
NAMES = ["sample_eval", "epoch_batches", "gradient_norm"]


def test_registered_in_check_namespace():
    from gan_course import check

    for name in NAMES:
        assert getattr(check, name) is getattr(chk, name)


def test_checking_leaves_the_global_rng_alone():
    assert_leaves_global_rng_alone(*[lambda n=n: getattr(chk, n)(getattr(sol, n), quiet=True) for n in NAMES])


# --- sample_eval -------------------------------------------------------------------------

def sample_train_mode(G, z):  # the mistake: batch statistics of this batch
    with torch.no_grad():
        return G(z)


def sample_eval_never_restored(G, z):
    G.eval()
    with torch.no_grad():
        return G(z)


def sample_forces_train_after(G, z):
    G.eval()
    with torch.no_grad():
        out = G(z)
    G.train()
    return out


def sample_keeps_graph(G, z):
    was = G.training
    G.eval()
    out = G(z)
    G.train(was)
    return out


def sample_train_then_eval(G, z):  # warms the statistics on this batch first: moves them
    with torch.no_grad():
        if len(z) > 1:
            G(z)
        G.eval()
        out = G(z)
    return out


@pytest.mark.parametrize("fn, words", [
    (sample_train_mode, ["train-mode images"]),
    (sample_eval_never_restored, ["left it in eval mode", "eval_mode"]),
    (sample_forces_train_after, ["was in eval mode before your call"]),
    (sample_keeps_graph, ["no_grad"]),
    (sample_train_then_eval, ["statistics that your function moved"]),
])
def test_sample_eval_typical_mistakes(fn, words):
    fails_with(chk.sample_eval, fn, *words)


def sample_by_hand(G, z):  # save and restore the flag by hand
    was = G.training
    G.eval()
    try:
        with torch.no_grad():
            return G(z)
    finally:
        G.train(was)


def sample_inference_mode(G, z):
    from gan_course.models import eval_mode

    with torch.inference_mode(), eval_mode(G):
        return G(z).clone()


def sample_with_package(G, z):
    from gan_course.training import sample_images

    return sample_images(G, z)


@pytest.mark.parametrize("fn", [sample_by_hand, sample_inference_mode, sample_with_package])
def test_sample_eval_correct_alternatives_pass(fn):
    passes(chk.sample_eval, fn)


# --- epoch_batches -----------------------------------------------------------------------

def batches_in_order(n, bs, generator):  # the data's own (class-sorted) order
    return [torch.arange(i, i + bs) for i in range(0, n - bs + 1, bs)]


def batches_shuffled_inside(n, bs, generator):
    return [torch.arange(i, i + bs)[torch.randperm(bs, generator=generator)]
            for i in range(0, n - bs + 1, bs)]


def batches_with_replacement(n, bs, generator):
    return [torch.randint(0, n, (bs,), generator=generator) for _ in range(n // bs)]


def batches_global_rng(n, bs, generator):
    perm = torch.randperm(n)
    return [perm[i:i + bs] for i in range(0, n - bs + 1, bs)]


def batches_keep_last(n, bs, generator):
    perm = torch.randperm(n, generator=generator)
    return list(perm.split(bs))


def batches_float(n, bs, generator):
    perm = torch.randperm(n, generator=generator).float()
    return [perm[i:i + bs] for i in range(0, n - bs + 1, bs)]


def batches_fixed_seed(n, bs, generator):  # ignores the generator, seeds its own
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(42))
    return [perm[i:i + bs] for i in range(0, n - bs + 1, bs)]


@pytest.mark.parametrize("fn, words", [
    (batches_in_order, ["own order", "class"]),
    (batches_shuffled_inside, ["only inside the batch"]),
    (batches_with_replacement, ["twice", "randperm"]),
    (batches_global_rng, ["global random stream"]),
    (batches_keep_last, ["drop the last incomplete batch"]),
    (batches_float, ["integer"]),
    (batches_fixed_seed, ["seeds 0 and 1 gave the same"]),
])
def test_epoch_batches_typical_mistakes(fn, words):
    fails_with(chk.epoch_batches, fn, *words)


def batches_argsort(n, bs, generator):
    perm = torch.argsort(torch.rand(n, generator=generator))
    return [perm[k * bs:(k + 1) * bs] for k in range(n // bs)]


def batches_as_lists(n, bs, generator):
    perm = torch.randperm(n, generator=generator).tolist()
    return [perm[i:i + bs] for i in range(0, (n // bs) * bs, bs)]


def batches_view(n, bs, generator):
    k = n // bs
    return list(torch.randperm(n, generator=generator)[:k * bs].view(k, bs))


@pytest.mark.parametrize("fn", [batches_argsort, batches_as_lists, batches_view])
def test_epoch_batches_correct_alternatives_pass(fn):
    passes(chk.epoch_batches, fn)


# --- gradient_norm -----------------------------------------------------------------------

def norm_sum_of_norms(model):
    return sum(float(p.grad.norm()) for p in model.parameters() if p.grad is not None)


def norm_squared(model):
    return sum(float(p.grad.pow(2).sum()) for p in model.parameters() if p.grad is not None)


def norm_mean(model):
    norms = [float(p.grad.norm()) for p in model.parameters() if p.grad is not None]
    return sum(norms) / len(norms)


def norm_max(model):
    return max(float(p.grad.norm()) for p in model.parameters() if p.grad is not None)


def norm_crashes_on_none(model):
    return math.sqrt(sum(float(p.grad.pow(2).sum()) for p in model.parameters()))


def norm_zeroes_grads(model):
    out = math.sqrt(sum(float(p.grad.pow(2).sum()) for p in model.parameters() if p.grad is not None))
    model.zero_grad()
    return out


@pytest.mark.parametrize("fn, words", [
    (norm_sum_of_norms, ["sum of the per-tensor norms"]),
    (norm_squared, ["squared norm"]),
    (norm_mean, ["mean of the per-tensor norms"]),
    (norm_max, ["largest per-tensor norm"]),
    (norm_crashes_on_none, ["None"]),
    (norm_zeroes_grads, ["changed the gradients"]),
])
def test_gradient_norm_typical_mistakes(fn, words):
    fails_with(chk.gradient_norm, fn, *words)


@pytest.mark.parametrize("fn", [
    lambda m: torch.nn.utils.get_total_norm([p.grad for p in m.parameters() if p.grad is not None]),
    lambda m: torch.cat([p.grad.flatten() for p in m.parameters() if p.grad is not None]).norm(),
    lambda m: __import__("gan_course.training", fromlist=["grad_norm"]).grad_norm(m),
], ids=["get_total_norm", "concatenated", "package"])
def test_gradient_norm_correct_alternatives_pass(fn):
    passes(chk.gradient_norm, fn)
