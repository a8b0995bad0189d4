"""gan_course.discrete: the tiny language is what it says, the measures measure it, the
argmax blocks the gradient and the Gumbel-softmax does not, and each way of training is
seeded and learns something (a few hundred steps, on one thread)."""

import math

import pytest
import torch
from torch.nn import functional as F

from gan_course import discrete as dd


# --- the language ---------------------------------------------------------------------------

def test_the_probability_table_is_a_distribution_with_the_markov_formula():
    p = dd.probability_table()
    assert p.shape == (dd.V ** dd.L,) and p.dtype == torch.float64
    assert math.isclose(float(p.sum()), 1.0, abs_tol=1e-12)
    # by hand: START[a] T[a,b] T[b,c] T[c,a] T[a,b] T[b,c]
    assert math.isclose(float(dd.string_probability(dd.encode(["abcabc"]))), 0.5 * 0.6 * 0.5 * 0.7 * 0.6 * 0.5)
    assert math.isclose(float(dd.string_probability(dd.encode(["cadbbd"]))), 0.2 * 0.7 * 0.0 * 0.4 * 0.2 * 0.3)
    assert math.isclose(float(dd.string_probability(dd.encode(["bdabca"]))), 0.3 * 0.3 * 0.4 * 0.6 * 0.5 * 0.7)
    x = dd.encode(["abcabc", "bdabca", "ccccca"])
    assert torch.equal(p[dd.string_index(x)], dd.string_probability(x))
    assert dd.decode(dd.all_strings()[dd.string_index(x)]) == ["abcabc", "bdabca", "ccccca"]


def test_forbidden_strings_have_probability_zero_and_are_invalid():
    bad = dd.encode(["dabcab", "adbcab", "abacab", "abcbca", "abdcab"])  # start d; a->d, b->a, c->b, d->c
    assert torch.all(dd.string_probability(bad) == 0) and not dd.is_valid(bad).any()
    strings, p = dd.all_strings(), dd.probability_table()
    assert torch.equal(dd.is_valid(strings), p > 0)
    assert int((p > 0).sum()) == 3 * 3 ** 5   # 3 starts, then 3 allowed successors each


def test_sampling_is_seeded_and_approaches_the_truth():
    a = dd.sample_language(500, torch.Generator().manual_seed(3))
    b = dd.sample_language(500, torch.Generator().manual_seed(3))
    c = dd.sample_language(500, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert dd.valid_fraction(dd.sample_language(5000, torch.Generator().manual_seed(0))) == 1.0
    big = dd.sample_language(100_000, torch.Generator().manual_seed(5))
    assert dd.tv_to_truth(big) < 0.04
    # the first token's frequencies against START
    freq = torch.bincount(big[:, 0], minlength=dd.V).double() / len(big)
    assert torch.allclose(freq, dd.START, atol=0.01)
    assert torch.equal(dd.training_set(100), dd.training_set(100))


def test_the_noise_floor_shrinks_with_n_and_is_not_zero():
    floors = [dd.noise_floor(n, repeats=3) for n in (500, 2000, 8000)]
    assert floors[0] > floors[1] > floors[2] > 0.0
    # TV of n samples from ~300 effective strings shrinks about like 1 / sqrt(n)
    assert 1.5 < floors[0] / floors[1] < 2.5


def test_references_place_uniform_and_independent_tokens_far_from_the_floor():
    ref = dd.references(n=5000)
    assert ref["floor"]["valid"] == 1.0 and ref["floor"]["tv"] < 0.15
    assert ref["uniform"]["tv"] > 0.8 and 0.14 < ref["uniform"]["valid"] < 0.22   # 729 / 4096 = 0.178
    assert ref["marginals"]["tv"] > 0.7 and ref["marginals"]["valid"] < 0.35
    q = dd.product_of_marginals()
    assert math.isclose(float(q.sum()), 1.0, abs_tol=1e-12)
    assert math.isclose(dd.tv_distance(q, dd.probability_table()), 0.7959, abs_tol=1e-3)


def test_tv_and_missing_mass_on_known_cases():
    p = dd.probability_table()
    assert dd.tv_distance(p, p) == 0.0
    top = dd.all_strings()[p.argmax()][None].repeat(10, 1)   # one string only
    assert math.isclose(dd.tv_to_truth(top), 1 - float(p.max()), rel_tol=1e-9)
    assert math.isclose(dd.missing_mass(top), 1 - float(p.max()), rel_tol=1e-9)


# --- gradients: argmax, Gumbel-softmax, REINFORCE ----------------------------------------------

def test_argmax_and_samples_give_G_no_gradient_and_the_relaxations_do():
    out = dd.argmax_gradient()
    assert out["argmax"] == {"grad_fn": False, "of": 6, "with_grad": 0}
    assert out["sample"] == {"grad_fn": False, "of": 6, "with_grad": 0}
    assert out["gumbel-softmax"]["grad_fn"] and out["gumbel-softmax"]["with_grad"] == 6
    assert out["straight-through"]["with_grad"] == 6


def test_gumbel_softmax_is_the_formula_and_straight_through_is_one_hot_with_its_gradient():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(7, 6, 4, generator=g, requires_grad=True)
    u = dd.uniform_noise(logits.shape, g)
    y = dd.gumbel_softmax(logits, 0.5, u)
    torch.testing.assert_close(y, torch.softmax((logits - torch.log(-torch.log(u))) / 0.5, -1))
    torch.testing.assert_close(y.sum(-1), torch.ones(7, 6))
    hard = dd.gumbel_softmax(logits, 0.5, u, hard=True)
    assert torch.equal(hard.detach(), F.one_hot(dd.gumbel_max(logits, u), 4).float())
    w = torch.randn(7, 6, 4, generator=g)
    (g_soft,) = torch.autograd.grad((y * w).sum(), logits)
    (g_hard,) = torch.autograd.grad((hard * w).sum(), logits)
    torch.testing.assert_close(g_hard, g_soft)
    # a low temperature: nearly one-hot; the uniforms are inside (0, 1), so the noise is finite
    assert dd.gumbel_softmax(logits, 0.01, u).max(-1).values.min() > 0.9
    assert bool((u > 0).all() and (u < 1).all())


def test_the_gumbel_max_trick_samples_the_softmax():
    logits = torch.tensor([1.0, 0.0, -1.0, 2.0])
    u = dd.uniform_noise((40_000, 4), torch.Generator().manual_seed(1))
    freq = torch.bincount(dd.gumbel_max(logits.expand(40_000, 4), u), minlength=4).float() / 40_000
    torch.testing.assert_close(freq, torch.softmax(logits, 0), atol=0.01, rtol=0)


def test_reinforce_loss_has_the_score_function_gradient_and_none_into_the_reward():
    log_probs = torch.tensor([-1.0, -2.0, -0.5], requires_grad=True)
    rewards = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
    loss = dd.reinforce_loss(log_probs, rewards, 0.25)
    g_lp, g_r = torch.autograd.grad(loss, (log_probs, rewards), allow_unused=True)
    torch.testing.assert_close(g_lp, -(rewards.detach() - 0.25) / 3)
    assert g_r is None


def test_token_log_probs_sum_the_chosen_tokens_log_softmax():
    logits = torch.randn(2, dd.L, dd.V, generator=torch.Generator().manual_seed(0))
    x = torch.randint(dd.V, (2, dd.L), generator=torch.Generator().manual_seed(1))
    want = sum(torch.log_softmax(logits[:, t], -1)[torch.arange(2), x[:, t]] for t in range(dd.L))
    torch.testing.assert_close(dd.token_log_probs(logits, x), want)


def test_gradient_quality_shows_the_temperature_trade_off():
    G, D = dd.make_gan(0)
    q = dd.gradient_quality(G, D, {"low": {"tau": 0.1}, "mid": {"tau": 1.0}, "high": {"tau": 3.0},
                                   "reinforce": {"reinforce": True}}, n_draws=40, batch_size=32)
    assert q["low"]["spread"] > q["mid"]["spread"] > q["high"]["spread"]   # low tau: noisy
    assert q["high"]["bias"] > q["low"]["bias"] + 0.2                       # high tau: biased
    assert q["reinforce"]["bias"] < 3 * q["reinforce"]["bias_floor"]        # unbiased, within noise
    assert all(-1 <= v["cosine"] <= 1 for v in q.values())


# --- training ---------------------------------------------------------------------------------

def _same_history(a, b):
    keys = [k for k in a.history if k != "seconds"]
    return all(a.history[k] == b.history[k] for k in keys)


@pytest.mark.parametrize("train", [lambda **kw: dd.train_gumbel(1, tau=0.5, **kw),
                                   lambda **kw: dd.train_gumbel(1, tau=1.0, hard=True, **kw),
                                   lambda **kw: dd.train_reinforce(1, **kw),
                                   lambda **kw: dd.train_mle(1, **kw)], ids=["gumbel", "st", "reinforce", "mle"])
def test_a_short_run_is_deterministic_for_a_seed_and_leaves_the_global_rng_alone(train):
    torch.manual_seed(123)
    want = torch.rand(3)
    torch.manual_seed(123)
    a = train(steps=30, eval_every=10, n_eval=500)
    torch.testing.assert_close(torch.rand(3), want, rtol=0, atol=0)
    b = train(steps=30, eval_every=15, n_eval=500)   # measuring less often changes no training number
    c = train(steps=30, eval_every=10, n_eval=500)
    assert a.history["step"] == [10, 20, 30] and b.history["step"] == [15, 30]
    assert _same_history(a, c)
    assert a.history["tv"][-1] == b.history["tv"][-1]
    assert torch.equal(a.sample(200, seed=3), b.sample(200, seed=3))


def test_a_time_budget_stops_early_and_still_measures_the_end():
    run = dd.train_reinforce(0, steps=10_000, seconds=0.05, n_eval=500)
    assert 0 < run.history["step"][-1] < 10_000 and run.seconds >= 0.05


def test_mle_and_a_gan_beat_a_uniform_generator_after_a_short_run():
    uniform_tv = dd.references(n=5000)["uniform"]["tv"]   # 0.86
    mle = dd.train_mle(0, steps=200, n_eval=5000)
    gan = dd.train_gumbel(0, tau=1.0, hard=True, steps=300, n_eval=5000)
    assert mle.history["tv"][-1] < 0.25
    assert gan.history["tv"][-1] < uniform_tv - 0.1
    assert gan.history["valid"][-1] > 0.5 > dd.references(n=5000)["uniform"]["valid"]
    assert math.isclose(float(dd.exact_distribution(mle.model).sum()), 1.0, abs_tol=1e-5)


def test_summarise_averages_the_seeds_of_each_method():
    runs = [dd.train_mle(s, steps=5, n_eval=200) for s in (0, 1)] + [dd.train_reinforce(0, steps=5, n_eval=200)]
    table = dd.summarise(runs)
    assert table["mle"]["seeds"] == 2 and table["reinforce"]["seeds"] == 1
    assert math.isclose(table["mle"]["tv"], (runs[0].history["tv"][-1] + runs[1].history["tv"][-1]) / 2)
    assert "d_accuracy" in table["reinforce"] and "d_accuracy" not in table["mle"]


def test_an_unknown_method_is_refused():
    with pytest.raises(ValueError, match="gumbel"):
        dd.train_gan("wgan", 0, steps=1)
