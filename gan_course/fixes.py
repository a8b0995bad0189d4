"""The fixes of notebook 09, measured: each one trains the course's DCGAN for the same time
from several seeds and is scored by notebook 07's scoreboard.

:data:`FIXES` names each fix with what it changes from the baseline, the DCGAN recipe of
:mod:`gan_course.recipes` without its EMA of G (the recipe as notebook 06 first trained it,
before notebook 09 measured the EMA and made it part of the recipe: the fix :data:`RECIPE` is
the course's recipe itself): the :class:`~gan_course.training.TrainConfig` fields and the
keyword arguments of D. :func:`run_fix` trains one fix from one seed for a time budget and
scores it; :func:`sweep` runs every fix from every seed into a JSON file (resumable: the runs
already in the file are kept); :func:`summary` turns the runs into one line per fix, with
the mean over seeds, a 95% interval, and whether the difference from the recipe is real.

Equal time, not equal steps, is the fair comparison: a fix that costs more per step (five
critic steps, a gradient penalty) has to earn its cost. The numbers shipped with the course
(:func:`load_shipped`, made by the command in :data:`SHIPPED_COMMAND`) come from one CPU
thread, 90 s each, seeds 0 to 2; notebook 09 shows them and re-runs one of them itself::

    python -m gan_course.fixes --seconds 90 --seeds 0 1 2 --threads 1 --out gan_course/assets/fixes.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from gan_course import runtime
from gan_course.files import atomic_write
from gan_course.recipes import WGAN, WGAN_GP, default_config

FORMAT = "gan_course.fixes/1"
ASSETS = Path(__file__).parent / "assets"
SHIPPED = ASSETS / "fixes.json"
SHIPPED_COMMAND = ("python -m gan_course.fixes --seconds 90 --seeds 0 1 2 --threads 1 "
                   "--out gan_course/assets/fixes.json")
SHIPPED_TRACE = ASSETS / "wgan_gp_trace.json"
SHIPPED_TRACE_COMMAND = ('python -m gan_course.fixes --trace --fixes WGAN-GP --seeds 0 --seconds 480 '
                         '--every 10 --threads 2 --out gan_course/assets/wgan_gp_trace.json')
TRACE_FORMAT = "gan_course.fixes.trace/1"
BASELINE = "recipe without EMA"
RECIPE = "EMA of G (0.999)"  # the baseline with the EMA: recipes.RECIPES["dcgan"] itself
SHIPPED_RECIPE_CHOICE = ASSETS / "recipe_choice.json"
RECIPE_CHOICE_COMMAND = ('python -m gan_course.fixes --seconds 300 --seeds 0 1 2 --threads 2 --every 30 '
                         f'--fixes "{BASELINE}" "{RECIPE}" --out gan_course/assets/recipe_choice.json')
METRIC_KEYS = ("confident", "fd", "entropy", "precision", "recall", "coverage")
LOWER_IS_BETTER = {"fd"}


@dataclass(frozen=True)
class Fix:
    """One fix: the recipe fields it changes (``config``), D's keyword arguments (``d_kwargs``),
    where it comes from and what it claims."""

    config: dict = field(default_factory=dict)
    d_kwargs: dict = field(default_factory=dict)
    source: str = ""
    claim: str = ""


FIXES: dict[str, Fix] = {
    BASELINE: Fix({}, {}, "notebook 06", "non-saturating BCE, lr_g 1e-3 (5x lr_d 2e-4), no EMA"),
    "one-sided smoothing": Fix(dict(real_label=0.9), {}, "Salimans et al. 2016",
                               "D's real target 0.9: D never becomes certain"),
    "two-sided smoothing": Fix(dict(real_label=0.9, fake_label=0.1), {}, "Salimans et al. 2016",
                               "also 0.1 on fakes (the paper advises against it)"),
    "equal rates 2e-4": Fix(dict(lr_g=2e-4, lr_d=2e-4), {}, "Radford et al. 2015",
                            "the DCGAN paper's rates, which the recipe replaced"),
    "TTUR (D 4x faster)": Fix(dict(lr_g=1e-4, lr_d=4e-4), {}, "Heusel et al. 2017",
                              "D learns faster and so tracks G"),
    "WGAN (clipping)": Fix(dict(WGAN), {}, "Arjovsky et al. 2017",
                           "a critic kept Lipschitz by clipping; loss ~ W1"),
    "WGAN-GP": Fix(dict(WGAN_GP), {"batch_norm": False}, "Gulrajani et al. 2017",
                   "a gradient penalty instead of clipping"),
    "spectral norm in D": Fix({}, {"spectral_norm": True}, "Miyato et al. 2018",
                              "every layer of D 1-Lipschitz"),
    "R1 (gamma 10)": Fix(dict(r1_weight=10.0), {}, "Mescheder et al. 2018",
                         "penalise D's gradient on real digits"),
    "hinge loss": Fix(dict(loss="hinge"), {}, "Lim & Ye 2017; Miyato et al. 2018",
                      "D stops pushing scores past the margin"),
    "least-squares loss": Fix(dict(loss="least-squares"), {}, "Mao et al. 2017",
                              "a quadratic loss that does not saturate"),
    "EMA of G (0.999)": Fix(dict(ema=0.999), {}, "Yazici et al. 2019",
                            "sample from an average of G's weights"),
    "DiffAugment": Fix(dict(augment="translation,cutout"), {}, "Zhao et al. 2020",
                       "D sees every image through random shifts and cutouts"),
}


def config_of(name: str, seed: int, seconds: float, **overrides):
    """The :class:`TrainConfig` of fix ``name``: the DCGAN recipe without its EMA, the fix, a
    time budget."""
    fix = _fix(name)
    return default_config("dcgan", **{"ema": None, **fix.config, "steps": 10**9, "quick_steps": 10**9,
                                      "max_seconds": seconds, "seed": seed, "progress": False,
                                      "checkpoint_every": 10**9, "sample_every": 10**9, **overrides})


def build(name: str, seed: int):
    """The DCGAN pair of fix ``name``, its weights drawn from ``seed`` (the caller's random
    stream is left where it was)."""
    from gan_course.failures import build as build_seeded

    return build_seeded("dcgan", seed, d_kwargs=dict(_fix(name).d_kwargs))


def run_fix(name: str, seed: int, seconds: float, x: torch.Tensor | None = None, device=None,
            hooks=(), hook_every: int | None = None) -> dict:
    """Train fix ``name`` from ``seed`` for ``seconds`` of training and score it.

    Returns ``{"fix", "seed", "steps", "seconds", "img_per_s", "row"}``: ``row`` is the
    scoreboard row (:func:`gan_course.scoreboard.score`) of the generator it samples from
    (the EMA when the fix keeps one), ``img_per_s`` the real images D saw per second. Also
    ``"G"`` and ``"history"``, which :func:`sweep` does not store.
    """
    from gan_course import scoreboard
    from gan_course.data import load_mnist
    from gan_course.training import train_gan

    x = load_mnist().x_train if x is None else x
    cfg = config_of(name, seed, seconds)
    G, D = build(name, seed)
    history = train_gan(G, D, x, cfg, device=device, hooks=hooks, hook_every=hook_every)
    G_out = (history.G_ema if history.G_ema is not None else G).eval()
    row = scoreboard.score(G_out, f"{name} (seed {seed})", f"{seconds:g} s", device=device)
    return {"fix": name, "seed": seed, "steps": len(history), "seconds": history.seconds,
            "img_per_s": history.images_seen / max(history.seconds, 1e-9),
            "stopped": history.stopped_reason, "row": row.to_dict(), "G": G_out, "history": history}


class QualityTrace:
    """A :func:`~gan_course.training.train_gan` hook: about every ``every_s`` seconds of
    training, the quality of ``n`` samples of G (fixed noise ``seed``; the EMA when the run
    keeps one, on a copy with its own batch-norm statistics measured first, as the engine
    does before it samples) and what D reported since the last measurement.

    ``rows`` holds dicts: ``seconds``, ``step``, ``confident`` (the judge's confident
    fraction), ``fd`` (to the held-out digits), ``gap`` (mean of D(x) - D(G(z)): for WGAN
    and WGAN-GP the critic's estimate of the Wasserstein-1 distance) and ``loss_d`` (mean).
    The measuring is outside the training clock, and train_gan's call at the end of the run
    is always measured. ``say``: called with each row's line.
    """

    def __init__(self, n: int = 2000, every_s: float = 20.0, seed: int = 1234, say=None):
        self.n, self.every_s, self.seed, self.say = n, every_s, seed, say
        self.rows: list[dict] = []

    def __call__(self, step, history, G, D):
        from gan_course.metrics import fid_vs_heldout, judge_scores, sample_generator
        from gan_course.training import sampling_copy

        last = self.rows[-1] if self.rows else {"seconds": 0.0, "step": 0}
        final = bool(history.stopped_reason)  # train_gan's last call: always measured
        if step == last["step"] or (self.rows and not final and history.seconds - last["seconds"] < self.every_s):
            return False
        since = slice(last["step"], step)
        if history.G_ema is not None:  # the average, with its own batch-norm statistics
            G = sampling_copy(G, history, self.seed)
        x = sample_generator(G, self.n, seed=self.seed)
        row = {"seconds": history.seconds, "step": int(step),
               "confident": judge_scores(x)["confident_fraction"], "fd": fid_vs_heldout(x),
               "gap": float(torch.tensor(history.d_real[since]).mean() - torch.tensor(history.d_fake[since]).mean()),
               "loss_d": float(torch.tensor(history.loss_d[since]).mean())}
        self.rows.append(row)
        if self.say:
            self.say(f"  {row['seconds']:6.0f} s  step {step:6d}  confident {row['confident']:6.1%}  FD {row['fd']:6.1f}")
        return False


def sweep(out: str | Path, names=None, seeds=(0, 1, 2), seconds: float = 90.0, x=None,
          device=None, say=print, curve_every: float | None = None, curve_n: int = 2000) -> dict:
    """Run every fix in ``names`` (default: all of :data:`FIXES`) from every seed into ``out``.

    The order is seed by seed (all fixes from seed 0, then seed 1, ...), so a slow spell of
    the machine spreads over the fixes instead of hitting all seeds of one. The file is
    rewritten after each run; runs already in it (same fix, seed and budget) are kept, so an
    interrupted sweep resumes where it stopped. With ``curve_every``, each run also keeps its
    time-to-quality curve (``"curve"``: the rows of a :class:`QualityTrace` of ``curve_n``
    samples every ``curve_every`` seconds of training, measured off the clock)."""
    out = Path(out)
    names = list(FIXES) if names is None else [n for n in names if _fix(n)]
    data = load(out) if out.exists() else {"format": FORMAT, "seconds": seconds,
                                            "threads": torch.get_num_threads(), "runs": []}
    if data["seconds"] != seconds:
        raise ValueError(f"{out} holds runs of {data['seconds']} s, not {seconds} s: pass "
                         f"--seconds {data['seconds']} to resume it, or another --out")
    done = {(r["fix"], r["seed"]) for r in data["runs"]}
    todo = [(name, seed) for seed in seeds for name in names if (name, seed) not in done]
    for name, seed in todo:
        start = time.perf_counter()
        curve = [QualityTrace(curve_n, curve_every)] if curve_every else []
        r = run_fix(name, seed, seconds, x, device, hooks=curve, hook_every=25 if curve else None)
        r.pop("G"), r.pop("history")
        if curve:
            r["curve"] = curve[0].rows
        if r["stopped"].startswith("interrupted"):  # Ctrl-C or SIGTERM: not a whole run, not kept
            say(f"{name}, seed {seed}: {r['stopped']} after {r['seconds']:.0f} s, not recorded; "
                f"{len(data['runs'])} runs are in {out}, and the same command resumes")
            break
        data["runs"].append(r)
        with atomic_write(out, "w") as f:
            json.dump(data, f, indent=1)
        m = r["row"]["metrics"]
        say(f"{name:22s} seed {seed}  {r['steps']:5d} steps  {r['img_per_s']:6.0f} img/s  "
            f"confident {m['confident']['value']:.1%}  FD {m['fd']['value']:5.1f}  "
            f"({time.perf_counter() - start:.0f} s with scoring)")
    return data


def trace(out: str | Path, name: str, seed: int = 0, seconds: float = 600.0, every_s: float = 10.0,
          n: int = 1000, x=None, device=None, say=print) -> dict:
    """One run of fix ``name`` with a :class:`QualityTrace` of ``n`` samples every ``every_s``
    seconds, written to ``out`` (JSON): the curve of FD, confident fraction and D's reports
    against training time, and the final scoreboard row."""
    trace_hook = QualityTrace(n, every_s, say=say)
    r = run_fix(name, seed, seconds, x, device, hooks=[trace_hook], hook_every=5)
    data = {"format": TRACE_FORMAT, "fix": name, "seed": seed, "seconds": seconds, "every_s": every_s,
            "n": n, "threads": torch.get_num_threads(), "steps": r["steps"], "img_per_s": r["img_per_s"],
            "stopped": r["stopped"], "rows": trace_hook.rows, "row": r["row"]}
    if not r["stopped"].startswith("interrupted"):
        with atomic_write(out, "w") as f:
            json.dump(data, f, indent=1)
    return data


def load_trace(path: str | Path = SHIPPED_TRACE) -> dict:
    """A file of :func:`trace` (default: the one shipped, made by :data:`SHIPPED_TRACE_COMMAND`)."""
    return _read(path, TRACE_FORMAT, "gan_course.fixes.trace")


def load(path: str | Path) -> dict:
    """A sweep's file (:func:`sweep`), checked to be one."""
    return _read(path, FORMAT, "gan_course.fixes.sweep")


def _read(path: str | Path, fmt: str, what: str) -> dict:
    data = json.loads(Path(path).read_text())
    if data.get("format") != fmt:
        raise ValueError(f"{path} is not a file of {what} (format {data.get('format')!r}, "
                         f"expected {fmt!r})")
    return data


def load_shipped() -> dict:
    """The sweep shipped with the course (see :data:`SHIPPED_COMMAND`)."""
    return load(SHIPPED)


# ------------------------------------------------------------------------------ summary

# two-sided 95% quantiles of Student's t, by degrees of freedom (1 to 10; beyond: 1.96)
_T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228]


def t95(dof: float) -> float:
    if dof < 1:
        return math.inf
    return _T95[min(int(dof), 10) - 1] if dof <= 10 else 1.96


def _mean_sd(values: list[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else math.nan
    return mean, sd


def difference(a: list[float], b: list[float]) -> tuple[float, float, float]:
    """mean(a) - mean(b) with its 95% Welch interval over the seeds: ``(diff, low, high)``
    (infinite bounds with fewer than two seeds on either side)."""
    (ma, sa), (mb, sb) = _mean_sd(a), _mean_sd(b)
    if len(a) < 2 or len(b) < 2:
        return ma - mb, -math.inf, math.inf
    va, vb = sa ** 2 / len(a), sb ** 2 / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return ma - mb, ma - mb, ma - mb
    dof = (va + vb) ** 2 / ((va ** 2 / (len(a) - 1)) + (vb ** 2 / (len(b) - 1))) if va + vb else 1
    half = t95(dof) * se
    return ma - mb, ma - mb - half, ma - mb + half


def summary(data: dict, baseline: str = BASELINE) -> list[dict]:
    """One dict per fix (in :data:`FIXES` order): ``n`` seeds, mean ``steps``, ``img_per_s``,
    for each metric key its seed values, mean and ``(diff, low, high)`` against ``baseline``,
    and ``verdict``: "better" / "worse" where the FD interval of the difference excludes 0,
    else "no clear difference"."""
    by_fix: dict[str, list[dict]] = {}
    for r in data["runs"]:
        by_fix.setdefault(r["fix"], []).append(r)
    values = {name: {k: [r["row"]["metrics"][k]["value"] for r in runs] for k in METRIC_KEYS}
              for name, runs in by_fix.items()}
    rows = []
    for name in [n for n in FIXES if n in by_fix] + [n for n in by_fix if n not in FIXES]:
        runs = by_fix[name]
        row = {"fix": name, "n": len(runs), "steps": sum(r["steps"] for r in runs) / len(runs),
               "img_per_s": sum(r["img_per_s"] for r in runs) / len(runs), "metrics": {}}
        for k in METRIC_KEYS:
            v = values[name][k]
            diff = difference(v, values[baseline][k]) if baseline in values and name != baseline else None
            row["metrics"][k] = {"values": v, "mean": sum(v) / len(v), "diff": diff}
        row["verdict"] = _verdict(row["metrics"]["fd"]["diff"], lower_is_better=True)
        rows.append(row)
    return rows


def _verdict(diff, lower_is_better: bool) -> str:
    if diff is None:
        return "(the baseline)"
    d, lo, hi = diff
    if lo > 0 or hi < 0:
        return "better" if (d < 0) == lower_is_better else "worse"
    return "no clear difference"


def format_summary(rows: list[dict]) -> str:
    """The summary as a text table: per fix the mean over seeds of confident % and FD (with
    the 95% interval of the difference from the baseline), entropy, precision, recall, steps,
    img/s, and the verdict on FD."""
    lines = [f"{'fix':22s} {'seeds':>5s} {'confident %':>12s} {'vs baseline':>15s} {'FD':>6s} "
             f"{'vs baseline':>17s} {'entropy':>7s} {'prec':>5s} {'recall':>6s} {'steps':>6s} "
             f"{'img/s':>6s}  FD verdict"]
    for r in rows:
        m = r["metrics"]

        def vs(key, scale=1.0, spec=".1f"):
            if m[key]["diff"] is None:
                return ""
            d, lo, hi = (scale * v for v in m[key]["diff"])
            return f"{d:+{spec}} [{lo:+{spec}},{hi:+{spec}}]"

        lines.append(f"{r['fix']:22s} {r['n']:5d} {100 * m['confident']['mean']:12.1f} "
                     f"{vs('confident', 100, '.0f'):>15s} {m['fd']['mean']:6.1f} {vs('fd', 1, '.1f'):>17s} "
                     f"{m['entropy']['mean']:7.2f} {m['precision']['mean']:5.2f} "
                     f"{m['recall']['mean']:6.2f} {r['steps']:6.0f} {r['img_per_s']:6.0f}  {r['verdict']}")
    return "\n".join(lines)


def _fix(name: str) -> Fix:
    if name not in FIXES:
        raise ValueError(f"unknown fix {name!r}; choose from {list(FIXES)}")
    return FIXES[name]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gan_course.fixes", description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=90.0, help="training time per run (default 90)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--fixes", nargs="+", default=None, help=f"default: all of {list(FIXES)}")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--out", required=True, help="the JSON file (resumed if it exists)")
    p.add_argument("--device", default=None)
    p.add_argument("--trace", action="store_true", help="instead of a sweep: one run (the first "
                   "of --fixes and --seeds) with FD and D's reports measured every --every seconds")
    p.add_argument("--every", type=float, default=None, help="seconds of training between quality "
                   "measurements: with --trace (default 10), or to keep each sweep run's curve")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = runtime.pick_device(args.device)
    if args.trace:
        name = (args.fixes or [BASELINE])[0]
        try:
            data = trace(args.out, name, args.seeds[0], args.seconds, args.every or 10.0, device=device)
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(f"{name}, seed {args.seeds[0]}: {data['steps']:,} steps, {data['stopped']}; "
              f"{len(data['rows'])} measurements" + ("" if data["stopped"].startswith("interrupted")
                                                     else f" written to {args.out}"))
        return 130 if data["stopped"].startswith("interrupted") else 0
    try:
        data = sweep(args.out, args.fixes, args.seeds, args.seconds, device=device,
                     curve_every=args.every)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(format_summary(summary(data)))
    wanted = {(name, seed) for name in (args.fixes or FIXES) for seed in args.seeds}
    return 130 if wanted - {(r["fix"], r["seed"]) for r in data["runs"]} else 0


if __name__ == "__main__":
    raise SystemExit(main())
