"""Notebook 11's checkers (GANs among generative models): each typical wrong answer fails
with the hint aimed at it, and correct alternatives pass. (That every solution passes and
every stub is "not attempted" is tested once for all checkers in test_exercises.py.)
"""

import warnings

import pytest
import torch
from torch.nn import functional as F

from exercise_helpers import assert_leaves_global_rng_alone, fails_with, load_solutions, passes
from gan_course import discrete
from gan_course.check import generative_models as chk

sol = load_solutions("nb11_gans_and_other_generative_models")
NAMES = ["gaussian_kl", "gumbel_softmax_sample", "reinforce_loss"]


def test_registered_in_check_namespace():
    from gan_course import check

    for name in NAMES:
        assert getattr(check, name) is getattr(chk, name)


def test_solutions_pass_and_checking_leaves_the_global_rng_alone():
    for name in NAMES:
        passes(getattr(chk, name), getattr(sol, name))
    assert_leaves_global_rng_alone(*[lambda n=n: getattr(chk, n)(getattr(sol, n), quiet=True) for n in NAMES])


def test_stubs_are_not_attempted():
    def stub(*args):
        raise NotImplementedError

    for name in NAMES:
        assert getattr(chk, name)(stub, quiet=True).status == "not attempted"
        assert getattr(chk, name)(lambda *args: None, quiet=True).status == "not attempted"


# --- gaussian_kl ---------------------------------------------------------------------------

def test_kl_alternatives_pass():
    passes(chk.gaussian_kl, lambda mu, lv: -0.5 * torch.sum(1 + lv - mu ** 2 - lv.exp(), dim=1))
    passes(chk.gaussian_kl, lambda mu, lv: torch.distributions.kl_divergence(
        torch.distributions.Normal(mu, (0.5 * lv).exp()),
        torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(-1))
    passes(chk.gaussian_kl, lambda mu, lv: 0.5 * (mu * mu + torch.exp(lv) - 1 - lv).sum(-1).float())


def kl(mu, lv):
    return 0.5 * (mu.pow(2) + lv.exp() - 1 - lv)


def test_kl_mistakes_fail_with_their_hint():
    fails_with(chk.gaussian_kl, lambda mu, lv: (mu.pow(2) + lv.exp() - 1 - lv).sum(-1), "1/2")
    fails_with(chk.gaussian_kl, lambda mu, lv: 0.5 * (mu.pow(2) + lv - 1 - torch.log(lv)).sum(-1), "as the variance")
    fails_with(chk.gaussian_kl, lambda mu, lv: 0.5 * (mu.pow(2) + lv ** 2 - 1 - torch.log(lv ** 2)).sum(-1),
               "not the standard deviation")
    fails_with(chk.gaussian_kl, lambda mu, lv: 0.5 * (mu.pow(2) + (2 * lv).exp() - 1 - 2 * lv).sum(-1),
               "log of the standard deviation")
    fails_with(chk.gaussian_kl, lambda mu, lv: 0.5 * (mu.pow(2) + lv.exp() - lv).sum(-1), "-1 is missing")
    fails_with(chk.gaussian_kl, lambda mu, lv: kl(mu, lv).mean(-1), "*sum*")
    fails_with(chk.gaussian_kl, lambda mu, lv: -kl(mu, lv).sum(-1), "sign is flipped")
    fails_with(chk.gaussian_kl, lambda mu, lv: 0.5 * (mu + lv.exp() - 1 - lv).sum(-1), "squared")


def test_kl_of_the_wrong_shape_says_what_shape_is_wanted():
    fails_with(chk.gaussian_kl, lambda mu, lv: kl(mu, lv).sum(), "one number for the whole batch", "shape (5,)")
    fails_with(chk.gaussian_kl, lambda mu, lv: kl(mu, lv).sum(-1).mean(), "whole batch", "mean")
    fails_with(chk.gaussian_kl, lambda mu, lv: kl(mu, lv).sum(0), "summed over the batch", "dim=-1")
    fails_with(chk.gaussian_kl, lambda mu, lv: kl(mu, lv).sum(-1, keepdim=True), "no keepdim")
    fails_with(chk.gaussian_kl, lambda mu, lv: kl(mu, lv), "sum over the latent dimension")


def test_kl_as_a_number_or_without_a_graph_fails():
    fails_with(chk.gaussian_kl, lambda mu, lv: kl(mu, lv).sum(-1).item(), "python number", ".item()")
    fails_with(chk.gaussian_kl, lambda mu, lv: kl(mu, lv).sum(-1).detach(), "graph")
    fails_with(chk.gaussian_kl, lambda mu, lv: torch.tensor(kl(mu, lv).sum(-1).tolist()), "graph")


def test_kl_that_changes_its_input_in_place_fails():
    def in_place(mu, lv):
        with torch.no_grad():
            mu.mul_(2)
        return kl(mu, lv).sum(-1)

    fails_with(chk.gaussian_kl, in_place, "in place")


# --- gumbel_softmax_sample ------------------------------------------------------------------

def test_gumbel_alternatives_pass():
    passes(chk.gumbel_softmax_sample, lambda l, tau, u: discrete.gumbel_softmax(l, tau, u))
    passes(chk.gumbel_softmax_sample, lambda l, tau, u: F.softmax((l - (-u.log()).log()) / tau, dim=l.dim() - 1))
    passes(chk.gumbel_softmax_sample, lambda l, tau, u: torch.exp(
        torch.log_softmax((l - torch.log(-torch.log(u))) / tau, -1)))


def g_of(u):
    return -torch.log(-torch.log(u))


def test_gumbel_mistakes_fail_with_their_hint():
    fails_with(chk.gumbel_softmax_sample, lambda l, tau, u: F.softmax((l - torch.log(u)) / tau, -1), "-log(u)")
    fails_with(chk.gumbel_softmax_sample, lambda l, tau, u: F.softmax((l + torch.log(u)) / tau, -1), "log(u)",
               "two logs")
    fails_with(chk.gumbel_softmax_sample, lambda l, tau, u: F.softmax((l - g_of(u)) / tau, -1), "wrong sign")
    fails_with(chk.gumbel_softmax_sample, lambda l, tau, u: F.softmax(l / tau, -1), "no noise")
    fails_with(chk.gumbel_softmax_sample, lambda l, tau, u: F.softmax((l + g_of(u)) * tau, -1), "multiplies")
    fails_with(chk.gumbel_softmax_sample, lambda l, tau, u: F.softmax(l / tau + g_of(u), -1), "noise included")
    fails_with(chk.gumbel_softmax_sample, lambda l, tau, u: F.softmax((l + g_of(u)) / tau, 0), "dim 0")
    fails_with(chk.gumbel_softmax_sample, lambda l, tau, u: F.softmax((l + g_of(u)) / tau, 1), "dim 1", "positions")
    fails_with(chk.gumbel_softmax_sample, lambda l, tau, u: F.log_softmax((l + g_of(u)) / tau, -1), "log_softmax")
    fails_with(chk.gumbel_softmax_sample, lambda l, tau, u: F.one_hot((l + g_of(u)).argmax(-1), l.shape[-1]).float(),
               "hard sample", "no gradient")


def test_gumbel_with_its_own_noise_or_without_a_gradient_fails():
    def own_noise(l, tau, u):
        with torch.random.fork_rng(devices=[]):
            return F.gumbel_softmax(l, tau=tau)

    fails_with(chk.gumbel_softmax_sample, own_noise, "from the u given")
    fails_with(chk.gumbel_softmax_sample, lambda l, tau, u: F.softmax((l.detach() + g_of(u)) / tau, -1), "no graph")
    fails_with(chk.gumbel_softmax_sample, lambda l, tau, u: discrete.gumbel_softmax(l, tau, u, hard=True),
               "hard sample")


def test_gumbel_that_changes_its_input_in_place_fails():
    def in_place(l, tau, u):
        u.mul_(0.999)
        return discrete.gumbel_softmax(l, tau, u)

    fails_with(chk.gumbel_softmax_sample, in_place, "in place")


# --- reinforce_loss -------------------------------------------------------------------------

def test_reinforce_alternatives_pass():
    passes(chk.reinforce_loss, discrete.reinforce_loss)

    def with_no_grad(lp, r, b):
        with torch.no_grad():
            adv = r - b
        return -(adv * lp).sum() / len(lp)

    passes(chk.reinforce_loss, with_no_grad)
    passes(chk.reinforce_loss, lambda lp, r, b: torch.mean(-(r.detach() - torch.as_tensor(b).detach()) * lp))


def test_reinforce_mistakes_fail_with_their_hint():
    fails_with(chk.reinforce_loss, lambda lp, r, b: ((r - b).detach() * lp).mean(), "sign is flipped", "lower")
    fails_with(chk.reinforce_loss, lambda lp, r, b: -((r + b).detach() * lp).mean(), "baseline is added")
    fails_with(chk.reinforce_loss, lambda lp, r, b: -(r.detach() * lp).mean(), "baseline is left out")
    fails_with(chk.reinforce_loss, lambda lp, r, b: -((r - b).detach() * lp).sum(), "sum over the batch")
    fails_with(chk.reinforce_loss, lambda lp, r, b: -((r - b).detach() * lp.exp()).mean(), "log-probabilities")
    fails_with(chk.reinforce_loss, lambda lp, r, b: -((b - r).detach() * lp).mean(), "swapped", "b - r")


def test_reinforce_that_lets_a_gradient_into_the_reward_fails():
    fails_with(chk.reinforce_loss, lambda lp, r, b: -((r - b) * lp).mean(), "detach", "into D")

    def baseline_not_detached(lp, r, b):
        return -((r.detach() - b) * lp).mean()

    fails_with(chk.reinforce_loss, baseline_not_detached, "into the baseline")


@pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad=True")  # the mistake itself
def test_reinforce_without_a_graph_or_as_a_number_fails():
    fails_with(chk.reinforce_loss, lambda lp, r, b: -((r - b) * lp).mean().detach(), "log_probs")
    fails_with(chk.reinforce_loss, lambda lp, r, b: -((r - b).detach() * lp.detach()).mean(), "no .detach()")
    fails_with(chk.reinforce_loss, lambda lp, r, b: float(-((r - b).detach() * lp).mean()), "tensor")
    fails_with(chk.reinforce_loss, lambda lp, r, b: -((r - b).detach() * lp), "one number")


def test_reinforce_that_changes_its_input_in_place_fails():
    def in_place(lp, r, b):
        with torch.no_grad():
            r.sub_(b)
        return -(r.detach() * lp).mean()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fails_with(chk.reinforce_loss, in_place, "in place")
