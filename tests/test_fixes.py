"""gan_course.fixes: the fixes of notebook 09, run at equal time and summarised over seeds."""

import json
import math

import pytest
import torch

from gan_course import fixes
from gan_course.models import DCGANDiscriminator


def test_every_fix_builds_a_valid_config_and_pair():
    for name, fix in fixes.FIXES.items():
        cfg = fixes.config_of(name, seed=3, seconds=5)
        assert cfg.max_seconds == 5 and cfg.seed == 3
        for key, value in fix.config.items():
            assert getattr(cfg, key) == value, (name, key)
        G, D = fixes.build(name, seed=0)
        assert isinstance(D, DCGANDiscriminator)
        assert D(G(torch.randn(2, G.latent_dim))).shape == (2,)


def test_the_baseline_is_the_recipe_without_its_ema_and_RECIPE_is_the_recipe_itself():
    from gan_course.recipes import RECIPES, default_config

    budget = {"steps", "quick_steps", "max_seconds", "seed", "progress", "checkpoint_every", "sample_every"}
    recipe = default_config("dcgan")
    for name, ema in ((fixes.BASELINE, None), (fixes.RECIPE, RECIPES["dcgan"]["ema"])):
        cfg = fixes.config_of(name, seed=0, seconds=5)
        assert cfg.ema == ema
        differ = {f for f in vars(cfg) if getattr(cfg, f) != getattr(recipe, f)} - budget
        assert differ == ({"ema"} if ema is None else set()), name
    assert fixes.RECIPE_CHOICE_COMMAND.count(fixes.BASELINE) == 1


def test_wgan_gp_critic_has_no_batch_norm_and_build_leaves_the_global_stream():
    _, D = fixes.build("WGAN-GP", seed=0)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in D.modules())
    torch.manual_seed(5)
    want = torch.rand(2)
    torch.manual_seed(5)
    fixes.build(fixes.BASELINE, seed=1)
    assert torch.equal(torch.rand(2), want)


def test_unknown_fix_is_refused_with_the_list():
    with pytest.raises(ValueError, match="choose from"):
        fixes.config_of("dropout", 0, 1)


def test_difference_is_welchs_interval():
    d, lo, hi = fixes.difference([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    half = 2.776 * math.sqrt(1 / 3 + 1 / 3)  # sd 1 each, n 3 each: 4 degrees of freedom
    assert d == -3.0 and lo == pytest.approx(-3 - half) and hi == pytest.approx(-3 + half)
    assert fixes.difference([1.0], [2.0, 3.0])[1:] == (-math.inf, math.inf)
    assert fixes.difference([2.0, 2.0], [1.0, 1.0]) == (1.0, 1.0, 1.0)


def _run(fix, seed, fd, conf):
    metrics = {k: {"value": 0.5, "low": 0.4, "high": 0.6} for k in fixes.METRIC_KEYS}
    metrics["fd"] = {"value": fd, "low": fd - 1, "high": fd + 1}
    metrics["confident"] = {"value": conf, "low": conf, "high": conf}
    return {"fix": fix, "seed": seed, "steps": 100, "seconds": 1.0, "img_per_s": 6400.0,
            "stopped": "time budget", "row": {"metrics": metrics}}


def test_summary_calls_only_clear_differences():
    runs = [_run(fixes.BASELINE, s, fd, 0.7) for s, fd in enumerate([20.0, 21.0, 22.0])]
    runs += [_run("WGAN-GP", s, fd, 0.8) for s, fd in enumerate([10.0, 11.0, 12.0])]   # clearly lower FD
    runs += [_run("hinge loss", s, fd, 0.7) for s, fd in enumerate([15.0, 30.0, 21.0])]  # too noisy
    runs += [_run("R1 (gamma 10)", s, fd, 0.6) for s, fd in enumerate([30.0, 31.0, 32.0])]
    rows = {r["fix"]: r for r in fixes.summary({"runs": runs})}
    assert rows[fixes.BASELINE]["verdict"] == "(the baseline)"
    assert rows["WGAN-GP"]["verdict"] == "better"
    assert rows["hinge loss"]["verdict"] == "no clear difference"
    assert rows["R1 (gamma 10)"]["verdict"] == "worse"
    assert rows["WGAN-GP"]["metrics"]["confident"]["diff"][0] == pytest.approx(0.1)
    table = fixes.format_summary(list(rows.values()))
    assert "better" in table and "WGAN-GP" in table and len(table.splitlines()) == 5


def test_sweep_writes_scores_and_resumes(tmp_path, monkeypatch):
    from gan_course.data import load_mnist

    x = load_mnist("subset").x_train[:256]
    out = tmp_path / "fixes.json"
    data = fixes.sweep(out, [fixes.BASELINE], seeds=[0], seconds=0.3, x=x, say=lambda *a: None)
    (run,) = data["runs"]
    assert run["steps"] > 0 and run["row"]["metrics"]["fd"]["value"] > 0
    assert json.loads(out.read_text()) == data
    # resuming trains nothing that is already there
    monkeypatch.setattr(fixes, "run_fix", lambda *a, **k: pytest.fail("trained again"))
    assert fixes.sweep(out, [fixes.BASELINE], seeds=[0], seconds=0.3, x=x, say=lambda *a: None) == data
    with pytest.raises(ValueError, match="--seconds 0.3"):
        fixes.sweep(out, [fixes.BASELINE], seeds=[0], seconds=5, x=x)


def test_a_sweep_with_curve_every_keeps_each_runs_curve_ending_at_the_final_step(tmp_path):
    from gan_course.data import load_mnist

    x = load_mnist("subset").x_train[:256]
    data = fixes.sweep(tmp_path / "f.json", [fixes.BASELINE], seeds=[0], seconds=3, x=x,
                       say=lambda *a: None, curve_every=0.2, curve_n=64)
    (run,) = data["runs"]
    curve = run["curve"]
    assert curve[-1]["step"] == run["steps"]  # the end of the run is always measured
    assert len(curve) >= 1 + (run["steps"] >= 50)  # ... and every 0.2 s (checked every 25 steps)
    assert [r["seconds"] for r in curve] == sorted(r["seconds"] for r in curve)
    assert all(0 <= r["confident"] <= 1 and r["fd"] > 0 for r in curve)


def test_load_refuses_a_file_that_is_not_a_sweep(tmp_path):
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"format": "gan_course.scoreboard/1"}))
    with pytest.raises(ValueError, match="not a file of gan_course.fixes"):
        fixes.load(path)


def test_an_interrupted_run_is_not_recorded_and_stops_the_sweep(tmp_path, monkeypatch):
    calls = []

    def interrupted(name, seed, seconds, x, device, **hooks):
        calls.append(name)
        return {"fix": name, "seed": seed, "steps": 3, "seconds": 0.1, "img_per_s": 1.0,
                "stopped": "interrupted", "row": {}, "G": None, "history": None}

    monkeypatch.setattr(fixes, "run_fix", interrupted)
    said = []
    data = fixes.sweep(tmp_path / "f.json", [fixes.BASELINE, "WGAN-GP"], seeds=[0], seconds=1,
                       say=said.append)
    assert data["runs"] == [] and calls == [fixes.BASELINE]
    assert "not recorded" in said[0] and "resumes" in said[0]


def test_quality_trace_and_trace_file(tmp_path):
    from gan_course.data import load_mnist

    x = load_mnist("subset").x_train[:256]
    out = tmp_path / "trace.json"
    lines = []
    data = fixes.trace(out, "hinge loss", seed=0, seconds=0.6, every_s=0.2, n=200, x=x, say=lines.append)
    rows = data["rows"]
    assert rows and rows[-1]["step"] == data["steps"]  # the end of the run is always measured
    assert all(a["seconds"] < b["seconds"] and a["step"] < b["step"] for a, b in zip(rows, rows[1:]))
    assert all(0 <= r["confident"] <= 1 and r["fd"] > 0 and math.isfinite(r["gap"]) for r in rows)
    assert len(lines) == len(rows) and "FD" in lines[0]
    assert fixes.load_trace(out) == json.loads(json.dumps(data))
    with pytest.raises(ValueError, match="not a file of gan_course.fixes.trace"):
        fixes.load_trace(_write(tmp_path / "x.json", {"format": "other"}))


def _write(path, obj):
    path.write_text(json.dumps(obj))
    return path


def test_shipped_sweep_has_every_fix_from_three_seeds():
    data = fixes.load_shipped()
    assert data["seconds"] == 90 and data["threads"] == 1
    have = {(r["fix"], r["seed"]) for r in data["runs"]}
    assert have == {(name, seed) for name in fixes.FIXES for seed in (0, 1, 2)}
    assert all(r["steps"] > 0 and r["stopped"] == "time budget" for r in data["runs"])
    assert "--seconds 90 " in fixes.SHIPPED_COMMAND and "--threads 1 " in fixes.SHIPPED_COMMAND


def test_shipped_trace_is_what_its_command_says():
    data = fixes.load_trace()
    assert data["fix"] == "WGAN-GP" and data["stopped"] == "time budget"
    assert f"--seconds {data['seconds']:g} " in fixes.SHIPPED_TRACE_COMMAND
    assert f"--threads {data['threads']} " in fixes.SHIPPED_TRACE_COMMAND
    assert f"--every {data['every_s']:g} " in fixes.SHIPPED_TRACE_COMMAND
    assert data["rows"][-1]["step"] == data["steps"] and len(data["rows"]) >= 20


def test_quality_trace_measures_the_ema_with_its_own_batch_statistics(monkeypatch):
    """Mid-run, the average's running statistics are stale (the engine refreshes them only
    when it samples): the trace must refresh them on a copy, and leave the run's EMA alone."""
    from gan_course.models import build_gan

    G, _ = build_gan("dcgan")
    ema = build_gan("dcgan")[0]
    before = {k: v.clone() for k, v in ema.state_dict().items()}
    seen = []
    monkeypatch.setattr("gan_course.metrics.sample_generator",
                        lambda g, n, seed: seen.append(g) or torch.zeros(n, 1, 28, 28))

    class H:
        seconds, stopped_reason, G_ema = 1.0, "", ema
        d_real, d_fake, loss_d = [0.5] * 10, [0.4] * 10, [1.3] * 10

    fixes.QualityTrace(n=100, every_s=0.0)(10, H, G, None)
    (used,) = seen
    assert used is not ema and used is not G
    bn = next(m for m in used.modules() if isinstance(m, torch.nn.BatchNorm1d))
    assert not torch.equal(bn.running_mean, torch.zeros_like(bn.running_mean))  # measured
    assert all(torch.equal(v, before[k]) for k, v in ema.state_dict().items())  # untouched


def test_quality_trace_measures_every_few_seconds_and_at_the_end(monkeypatch):
    monkeypatch.setattr("gan_course.metrics.sample_generator", lambda g, n, seed: torch.zeros(n, 1, 28, 28))

    class H:
        G_ema, stopped_reason = None, ""
        d_real, d_fake, loss_d = [0.6] * 40, [0.4] * 40, [1.2] * 40

    trace = fixes.QualityTrace(n=50, every_s=1.0)
    for step, seconds in ((5, 0.2), (10, 0.7), (15, 1.3), (20, 1.9), (25, 2.4)):
        H.seconds = seconds
        trace(step, H, None, None)
    H.stopped_reason, H.seconds = "time budget", 2.5  # train_gan's last call
    trace(27, H, None, None)
    trace(27, H, None, None)  # the same step again: not measured twice
    assert [r["step"] for r in trace.rows] == [5, 15, 25, 27]
    assert trace.rows[1]["gap"] == pytest.approx(0.2) and trace.rows[1]["loss_d"] == pytest.approx(1.2)
