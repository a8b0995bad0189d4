"""diagnose(): each rule on histories made here with the numbers it reads (its thresholds and
their edges), then on small real runs of the gallery's failures and of healthy runs of both
recipes, trained here from seeds on a subset of the bundled digits."""


import numpy as np
import pytest
import torch

from gan_course import diagnose as dg
from gan_course import failures
from gan_course.data import load_mnist
from gan_course.diagnose import LABELS, diagnose, grid_change, sample_stats
from gan_course.training import History


def make(n=600, d_real=0.58, d_fake=0.43, loss_d=1.2, loss_g=1.0, grad=1.0, samples=None,
         stopped="finished", noise=0.02, seed=0):
    """A History of n steps around the given means (scalars, or arrays of length n)."""
    rng = np.random.default_rng(seed)

    def series(v, scale):
        v = np.broadcast_to(np.asarray(v, dtype=float), (n,))
        return list(v + scale * rng.standard_normal(n))

    def prob(v):  # D's outputs are probabilities, a critic's scores are not
        s = series(v, noise)
        return list(np.clip(s, 0, 1)) if 0 <= np.mean(v) <= 1 else s

    h = History(step=list(range(1, n + 1)), loss_d=series(loss_d, noise), loss_g=series(loss_g, noise),
                d_real=prob(d_real), d_fake=prob(d_fake), d_fake_after=series(d_fake, 0),
                grad_norm_d=series(1.0, 0), grad_norm_g=list(np.abs(series(grad, 0))))
    h.samples = list(samples or [])
    h.stopped_reason = stopped
    return h


def digits(n=64, start=0):
    return load_mnist().x_test[start:start + n]


def one_image(n=64):
    return digits(1).expand(n, -1, -1, -1).clone()


def test_labels_are_the_documented_ones():
    assert LABELS == ("diverged", "too early", "labels swapped", "mode collapse", "not learning",
                      "saturating stall", "D winning", "not digits", "healthy")
    for label in LABELS:  # every label is explained in the module's rules
        assert f"**{label}**" in dg.__doc__


# --- each rule, with its edges ----------------------------------------------------------

def test_healthy_curves_and_digits():
    d = diagnose(make(samples=[(600, digits())]))
    assert d.label == "healthy" and "D(x) 0.58" in d.sentence and "D(G(z)) 0.43" in d.sentence
    assert str(d) == d.sentence and d.evidence["steps"] == 600


def test_too_early_below_fifty_steps():
    assert diagnose(make(n=49)).label == "too early"
    assert diagnose(make(n=50)).label == "healthy"


def test_a_non_finite_stop_is_diverged_even_early():
    d = diagnose(make(n=20, stopped="non-finite loss_d (nan) at step 17"))
    assert d.label == "diverged" and "loss_d (nan) at step 17" in d.sentence
    h = make()
    h.loss_g[300] = float("inf")
    assert diagnose(h).label == "diverged" and "step 301" in diagnose(h).sentence


def test_losses_beyond_fifty_are_diverged():
    assert diagnose(make(loss_g=49.0, noise=0.0)).label != "diverged"
    d = diagnose(make(loss_g=np.linspace(1, 3000, 600)))
    assert d.label == "diverged" and "ran off" in d.sentence


def test_labels_swapped_needs_a_low_d_real():
    assert diagnose(make(d_real=0.02, d_fake=0.9)).label == "labels swapped"
    fooled = diagnose(make(d_real=0.39, d_fake=0.74))  # a fooled D, measured for a moment
    assert fooled.label != "labels swapped"
    frozen = diagnose(make(d_real=0.0, d_fake=0.97, grad=0.0, noise=0.0))
    assert frozen.label == "labels swapped" and "no gradient at all" in frozen.sentence


def test_one_image_for_every_z_is_mode_collapse():
    d = diagnose(make(d_real=0.99, d_fake=0.01, samples=[(600, one_image())]))
    assert d.label == "mode collapse" and "all one image" in d.sentence and "D rejects it" in d.sentence
    assert diagnose(make(samples=[(600, one_image())]), curves_only=True).label == "healthy"


def test_no_gradient_is_not_learning():
    d = diagnose(make(grad=0.0, noise=0.0, d_real=0.73, d_fake=0.73))
    assert d.label == "not learning" and "no gradient" in d.sentence
    assert diagnose(make(grad=1e-7, noise=0.0)).label == "healthy"  # tiny, not absent


def test_saturating_stall():
    decay = np.geomspace(1.0, 1e-4, 600)
    d = diagnose(make(loss_g=-0.001, d_real=0.999, d_fake=0.001, loss_d=0.002, grad=decay, noise=0.0))
    assert d.label == "saturating stall" and "times below its peak" in d.sentence
    # the same curves with the non-saturating loss (loss_G > 0): D winning, not a stall
    assert diagnose(make(loss_g=7.0, d_real=0.999, d_fake=0.001, grad=decay, noise=0.0)).label == "D winning"


def test_d_winning_and_its_edges():
    d = diagnose(make(d_real=0.99, d_fake=0.01, loss_d=0.03, loss_g=7.0, grad=np.linspace(7, 40, 600)))
    assert d.label == "D winning" and "has grown" in d.sentence
    assert diagnose(make(d_real=0.78, d_fake=0.05)).label == "healthy"   # D(x) not above 0.8
    assert diagnose(make(d_real=0.85, d_fake=0.3)).label == "healthy"    # gap 0.55
    assert diagnose(make(d_real=0.86, d_fake=0.14)).label == "D winning"  # gap 0.72


def noise_grid(seed, n=64, lo=-1.0, hi=1.0):
    g = torch.Generator().manual_seed(seed)
    return lo + (hi - lo) * torch.rand(n, 1, 28, 28, generator=g)


def test_not_digits_only_after_a_thousand_steps():
    early = diagnose(make(n=999, d_real=0.52, d_fake=0.5, samples=[(999, noise_grid(0))]))
    assert early.label == "healthy"
    d = diagnose(make(n=1000, d_real=0.53, d_fake=0.5, samples=[(1000, noise_grid(0))]))
    assert d.label == "not digits" and "imitates its training data" in d.sentence
    blind = diagnose(make(n=1000, d_real=0.5, d_fake=0.5, noise=0.001, samples=[(1000, noise_grid(1, lo=-0.3, hi=0.6))]))
    assert blind.label == "not digits" and "cannot tell real from fake" in blind.sentence
    # grey, blurred digits (a moving average of G that lags behind) are not "not digits"
    blurred = digits() * 0.5 - 0.4
    assert diagnose(make(n=1500, samples=[(1500, blurred)])).label == "healthy"


def test_samples_that_jump_between_grids_are_mode_collapse():
    a = one_image() * 0.9 + 0.1 * noise_grid(2)                      # nearly one image ...
    b = digits(1, start=5).expand(64, -1, -1, -1) * 0.9 + 0.1 * noise_grid(3)  # ... then another
    h = make(n=600, samples=[(500, a), (600, b)])
    assert grid_change(h)[1] == 100 and grid_change(h)[0] > 0.3
    d = diagnose(h)
    assert d.label == "mode collapse" and "jumps" in d.sentence
    steady = make(n=600, samples=[(500, digits()), (600, digits() * 0.98)])
    assert diagnose(steady).label == "healthy"
    assert diagnose(make(n=499, samples=[(400, a), (499, b)])).label == "healthy"  # too early for it
    far = make(n=600, samples=[(300, a), (600, b)])  # 300 steps apart: not compared
    assert grid_change(far) is None


def test_wgan_scores_are_not_probabilities():
    d = diagnose(make(d_real=3.0, d_fake=-2.0, loss_d=-5.0, loss_g=2.0))
    assert d.label == "healthy" and "No failure found" in d.sentence
    assert diagnose(make(d_real=3.0, d_fake=-2.0, samples=[(600, one_image())])).label == "mode collapse"


def test_raw_scores_inside_0_1_are_read_as_probabilities_only_for_bce_losses():
    # a least-squares D regresses real to 1 and fake to 0: its raw scores look like a winning D's
    curves = dict(d_real=0.95, d_fake=0.05, loss_d=0.01, loss_g=0.4)
    assert diagnose(make(**curves)).label == "D winning"                      # loss unknown: read as BCE
    assert diagnose(make(**curves), loss="nonsaturating").label == "D winning"
    for loss in ("least-squares", "hinge", "wgan-gp"):
        d = diagnose(make(**curves), loss=loss)
        assert d.label == "healthy" and "No failure found" in d.sentence, loss


def test_samples_argument_and_dicts():
    h = make(d_real=0.99, d_fake=0.01, samples=[(600, digits())])
    assert diagnose(h, samples=one_image()).label == "mode collapse"
    as_dict = {k: getattr(h, k) for k in ("loss_d", "loss_g", "d_real", "d_fake", "grad_norm_g")}
    assert diagnose(as_dict).label == "D winning"


def test_sample_stats_of_real_digits():
    s = sample_stats(load_mnist().x_test[:256])
    assert 0.3 < s["spread"] < 0.45 and 0.75 < s["background"] < 0.9 and s["dark"] > 0.75


# --- small real runs: every failure the gallery trains, and healthy runs ---------------------

@pytest.fixture(scope="module")
def x():
    return load_mnist().x_train[:2048]


def run(fn, x, steps, **kw):
    """A gallery function, ``steps`` long also under GAN_COURSE_QUICK=1, on the CPU."""
    return fn(0, steps=steps, x=x, device="cpu", quick_steps=steps, **kw)


@pytest.mark.parametrize("fn, steps, expected", [
    (failures.softmax_discriminator, 60, "not learning"),
    (failures.tutorial_keras, 150, "labels swapped"),
    (failures.labels_swapped, 250, "labels swapped"),
    (failures.raw_logit_losses, 250, "diverged"),
    (failures.d_overpowers_g, 100, "D winning"),
    (failures.saturating_stall, 200, "saturating stall"),
    (failures.mode_collapse, 300, "mode collapse"),
    (failures.mode_collapse_from_scratch, 400, "mode collapse"),
    (failures.lr_too_high, 500, "diverged"),
], ids=lambda v: getattr(v, "__name__", str(v)))
def test_small_gallery_runs_get_their_diagnosis(fn, steps, expected, x):
    r = run(fn, x, steps)
    d = diagnose(r.history)
    assert r.expected == expected and d.label == expected, d.sentence


@pytest.mark.parametrize("fn, steps, expected", [
    (failures.uniform_noise_data, 1000, "not digits"),
    (failures.zero_one_data, 1000, "not digits"),
    (failures.class_sorted_data, 600, "mode collapse"),
    (failures.missing_detach, 300, "healthy"),
], ids=lambda v: getattr(v, "__name__", str(v)))
def test_gallery_runs_on_all_training_digits_get_their_diagnosis(fn, steps, expected):
    """The failures whose symptom depends on the whole data set (its order, its range, what it
    is), at the gallery's own lengths (the missing detach() shorter: its curves stay healthy)."""
    r = fn(0, steps=steps, device="cpu", quick_steps=steps)
    d = diagnose(r.history)
    assert r.expected == expected and d.label == expected, d.sentence


def test_a_nan_mid_run_is_diverged_and_the_last_good_checkpoint_stays(x, tmp_path):
    from gan_course.checkpoints import load_checkpoint

    r = run(failures.nan_mid_run, x, 100, at_step=50, checkpoint_every=40, out_dir=tmp_path)
    assert r.history.stopped_reason.startswith("non-finite") and len(r.history) <= 60
    assert diagnose(r.history).label == "diverged"
    assert load_checkpoint(tmp_path / "checkpoint.pt")["step"] == 40


@pytest.mark.parametrize("fn, steps, seed, extra", [
    (failures.healthy_mlp, 300, 0, {}),
    (failures.healthy_mlp, 300, 2, {"ema": None}),
    (failures.healthy_dcgan, 55, 0, {}),
    (failures.healthy_dcgan, 55, 1, {}),
], ids=["mlp-0", "mlp-2-no-ema", "dcgan-0", "dcgan-1"])
def test_healthy_runs_of_both_recipes_are_healthy_at_every_check(fn, steps, seed, extra, x):
    """Diagnosed every 50 steps while training (as the dashboard does): never sick."""
    seen = []

    def hook(step, history, G, D):
        seen.append((step, diagnose(history).label))

    fn(seed, steps=steps, x=x, device="cpu", quick_steps=steps, hooks=[hook], sample_every=50, **extra)
    labels = {label for _, label in seen}
    assert labels <= {"healthy", "too early"} and "healthy" in labels, seen
