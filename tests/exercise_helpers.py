"""Helpers for the exercise tests: load a notebook's reference solutions, and assert that a
checker fails a wrong answer with the hint aimed at it.

The solutions are plain files outside the package (``solutions/nbNN_*.py``: students should
not find them imported by the course), so tests load them by path.
"""

import importlib.util
from pathlib import Path

import torch

SOLUTIONS_DIR = Path(__file__).resolve().parents[1] / "solutions"


def load_solutions(stem: str):
    """The module ``solutions/<stem>.py``, e.g. ``load_solutions("nb01_cnn_layer_math")``."""
    path = SOLUTIONS_DIR / f"{stem}.py"
    spec = importlib.util.spec_from_file_location(f"solutions_{stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fails_with(checker, fn, *hint_words):
    """Run ``checker`` on the wrong answer ``fn``: it must fail, naming each of ``hint_words``
    (compared without regard to case)."""
    result = checker(fn, quiet=True)
    name = getattr(fn, "__name__", repr(fn))
    assert result.status == "fail", f"{name} should fail but got {result.status}: {result.message}"
    for word in hint_words:
        assert word.lower() in result.message.lower(), f"{name}: {word!r} not in {result.message!r}"
    return result


def passes(checker, fn):
    """Run ``checker`` on a correct alternative ``fn``: it must pass."""
    result = checker(fn, quiet=True)
    assert result.status == "pass", f"{getattr(fn, '__name__', fn)} should pass: {result.message}"
    return result


def assert_leaves_global_rng_alone(*calls):
    """Each of ``calls`` (no arguments) must leave torch's global random stream where it was:
    a checker that draws from it would change what a student's next cell computes."""
    torch.manual_seed(123)
    want = torch.rand(3)
    torch.manual_seed(123)
    for call in calls:
        call()
    torch.testing.assert_close(torch.rand(3), want, rtol=0, atol=0)


# ---------------------------------------------------------------------------------------
# wrong D and G losses on logits, shared by every loss checker's tests (00, 02, 05), as the
# checkers share core.D_LOSS_MISTAKES / core.G_LOSS_MISTAKES
# ---------------------------------------------------------------------------------------

import torch.nn.functional as F  # noqa: E402

sp = F.softplus


def bce(logits, target):
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


# (name, loss_d(logits_real, logits_fake), words the hint must contain, needs extreme logits):
# the last flag marks losses that are right for moderate logits and wrong only for large |l|.
WRONG_D_LOSSES = [
    ("labels_swapped", lambda r, f: bce(r, 0.0) + bce(f, 1.0), ["swapped"], False),
    ("sign_flipped", lambda r, f: -(bce(r, 1.0) + bce(f, 0.0)), ["sign is flipped"], False),
    ("fake_label_one", lambda r, f: bce(r, 1.0) + bce(f, 1.0), ["label 1"], False),
    ("real_label_zero", lambda r, f: bce(r, 0.0) + bce(f, 0.0), ["real term uses the label 0"], False),
    ("no_real_term", lambda r, f: bce(f, 0.0), ["real-data term"], False),
    ("no_fake_term", lambda r, f: bce(r, 1.0), ["fake-data term"], False),
    ("raw_logits", lambda r, f: f.mean() - r.mean(), ["raw logits"], False),
    ("raw_logits_flipped", lambda r, f: r.mean() - f.mean(), ["raw logits"], False),
    ("averaged_terms", lambda r, f: 0.5 * (bce(r, 1.0) + bce(f, 0.0)), ["*sum*"], False),
    ("one_mean_over_both", lambda r, f: F.binary_cross_entropy_with_logits(
        torch.cat([r, f]), torch.cat([torch.ones_like(r), torch.zeros_like(f)])), ["one mean over both"], False),
    ("one_mean_doubled", lambda r, f: 2 * F.binary_cross_entropy_with_logits(
        torch.cat([r, f]), torch.cat([torch.ones_like(r), torch.zeros_like(f)])), ["same size"], False),
    ("sum_over_real_batch_size", lambda r, f: (sp(-r).sum() + sp(f).sum()) / len(r), ["*real* batch's size"], False),
    ("elementwise_sum_of_batches", lambda r, f: (sp(-r) + sp(f)).mean(), ["different sizes"], False),
    ("sums_not_means", lambda r, f: sp(-r).sum() + sp(f).sum(), ["sum over samples"], False),
    ("real_target_0_9", lambda r, f: bce(r, 0.9) + bce(f, 0.0), ["label smoothing"], False),
    ("fake_target_0_1", lambda r, f: bce(r, 1.0) + bce(f, 0.1), ["0.1"], False),
    ("source_material_labels", lambda r, f: bce(r, 0.0) + bce(f, 0.9), ["source material"], False),
    ("sigmoid_twice", lambda r, f: bce(torch.sigmoid(r), 1.0) + bce(torch.sigmoid(f), 0.0), ["applied twice"], False),
    ("no_log", lambda r, f: torch.sigmoid(f).mean() - torch.sigmoid(r).mean(), ["log is missing"], False),
    ("log_sigmoid_overflows", lambda r, f: -(torch.log(torch.sigmoid(r)).mean()
                                             + torch.log(1 - torch.sigmoid(f)).mean()), ["not finite"], True),
    ("log_sigmoid_of_minus_l_overflows", lambda r, f: -(torch.log(torch.sigmoid(r)).mean()
                                                        + torch.log(torch.sigmoid(-f)).mean()), ["not finite"], True),
    ("manual_sigmoid_exp_overflows", lambda r, f: -(torch.log(1 / (1 + torch.exp(-r))).mean()
                                                    + torch.log(1 / (1 + torch.exp(f))).mean()), ["not finite"], True),
    ("eps_inside_log", lambda r, f: -(torch.log(torch.sigmoid(r) + 1e-8).mean()
                                      + torch.log(1 - torch.sigmoid(f) + 1e-8).mean()), ["eps"], True),
    ("bce_on_probabilities", lambda r, f: F.binary_cross_entropy(torch.sigmoid(r), torch.ones_like(r))
     + F.binary_cross_entropy(torch.sigmoid(f), torch.zeros_like(f)), ["clamps every log at -100"], True),
]

# (name, loss_g(logits_fake), hint words, needs extreme logits)
WRONG_G_LOSSES = [
    ("saturating", lambda f: -sp(f).mean(), ["SATURATING"], False),
    ("fake_label_zero", lambda f: bce(f, 0.0), ["fake label 0"], False),
    ("sign_flipped", lambda f: -sp(-f).mean(), ["sign is flipped"], False),
    ("raw_logits", lambda f: -f.mean(), ["raw logits"], False),
    ("sum_not_mean", lambda f: sp(-f).sum(), ["sum over the fakes"], False),
    ("target_0_9", lambda f: bce(f, 0.9), ["label smoothing"], False),
    ("sigmoid_twice", lambda f: bce(torch.sigmoid(f), 1.0), ["applied twice"], False),
    ("no_log", lambda f: -torch.sigmoid(f).mean(), ["log is missing"], False),
    ("log_sigmoid_overflows", lambda f: -torch.log(torch.sigmoid(f)).mean(), ["not finite"], True),
    ("eps_inside_log", lambda f: -torch.log(torch.sigmoid(f) + 1e-8).mean(), ["eps"], True),
    ("bce_on_probabilities", lambda f: F.binary_cross_entropy(torch.sigmoid(f), torch.ones_like(f)),
     ["clamps every log at -100"], True),
]


def stable_bce_by_hand(logits, target):
    """max(l, 0) - l·y + log(1 + exp(-|l|)): the stable BCE-with-logits formula, written out."""
    return (logits.clamp(min=0) - logits * target + torch.log1p(torch.exp(-logits.abs()))).mean()


# Correct D losses on logits, each a different valid way to write it.
RIGHT_D_LOSSES = [
    ("bce_with_logits", lambda r, f: bce(r, 1.0) + bce(f, 0.0)),
    ("logsigmoid", lambda r, f: -(F.logsigmoid(r).mean() + F.logsigmoid(-f).mean())),
    ("softplus", lambda r, f: sp(-r).mean() + sp(f).mean()),
    ("module_loss", lambda r, f: torch.nn.BCEWithLogitsLoss()(r, torch.ones_like(r))
     + torch.nn.BCEWithLogitsLoss()(f, torch.zeros_like(f))),
    ("stable_formula_by_hand", lambda r, f: stable_bce_by_hand(r, 1.0) + stable_bce_by_hand(f, 0.0)),
    ("in_float64", lambda r, f: bce(r.double(), 1.0) + bce(f.double(), 0.0)),
    ("float64_then_back", lambda r, f: (bce(r.double(), 1.0) + bce(f.double(), 0.0)).float()),
    ("column_targets", lambda r, f: F.binary_cross_entropy_with_logits(r.view(-1, 1), torch.ones(len(r), 1))
     + F.binary_cross_entropy_with_logits(f.view(-1, 1), torch.zeros(len(f), 1))),
]
