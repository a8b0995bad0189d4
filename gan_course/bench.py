"""``python -m gan_course bench``: how fast the course trains, and how soon it draws digits.

It prints

1. training throughput (images per second through D's real side) of the package's MLP GAN
   and DCGAN steps, its share of this machine's limit (FLOPs per training image, counted by
   ``torch.utils.flop_counter``, against the fp32 matrix-product peak measured here), with
   ``--compile`` the same under ``torch.compile``, on a CPU with Adam's fused kernel
   (``cfg.cpu_fused_adam``) and where a step's time goes (the convolutions and matrix
   products, at their own share of the peak; Adam; the rest: see :func:`step_breakdown`), on
   a GPU with each mixed precision, and the
   rate of a reference loop in the style most tutorials use on the *same*
   networks: a ``DataLoader`` over a ``TensorDataset``, float32, ``Sigmoid`` + ``BCELoss``,
   and D evaluated three times per batch (real, fake for D's step, fake again for G's step,
   with D's weights receiving gradients they do not need). The ratio is the package's speedup;
   a 60,000-image epoch is extrapolated from the package's rate. The loops and the peak
   are timed in turn, in 5 rounds, and each figure is the median over the rounds (ratios
   round by round): a shared machine's speed drifts by tens of percent within a minute;
2. peak memory of this process (``resource.getrusage``'s maxrss);
3. time to quality: the DCGAN recipe (or, with ``--fix NAME ...``, fixes of notebook 09 from
   :data:`gan_course.fixes.FIXES`, one after the other) trained for the budget (``--seconds``,
   default 300), with the judge's confident fraction (max softmax > 0.9) and the FD of 2,000
   samples about every 20 s of training (a curve; evaluation time is not counted), and when
   the confident fraction first reached 70%. Real held-out digits score about 95%.
   ``--skip-speed`` prints only these curves.

Numbers depend on the machine and on what else runs on it, so the header prints the load.
"""

from __future__ import annotations

import contextlib
import os
import platform
import resource
import statistics
import sys
import time
from typing import Callable

import torch
from torch import nn

from gan_course import runtime
from gan_course.models import build_gan
from gan_course.recipes import default_config
from gan_course.training import train_gan

TARGET = 0.70          # fraction of samples the judge must be confident about
N_EVAL = 2000          # samples scored at each evaluation
EVAL_EVERY_S = 20.0    # seconds of training between evaluations


def package_runner(arch: str, x: torch.Tensor, device: torch.device, compile: bool = False,
                   **overrides) -> Callable[[int], float]:
    """``rate(steps)``: images per second of :func:`train_gan` with the command line's
    settings for ``arch``, ``steps`` more steps of the same G and D at each call (with
    ``compile``, G and D go through ``torch.compile`` first; the warm-up run here leaves its
    compile time out)."""
    torch.manual_seed(0)
    G, D = build_gan(arch)
    if compile:
        G, D = torch.compile(G), torch.compile(D)
    quiet = dict(progress=False, sample_every=10**9, checkpoint_every=10**9, **overrides)

    def rate(steps: int) -> float:
        cfg = default_config(arch, steps=steps, quick_steps=steps, **quiet)
        h = train_gan(G, D, x, cfg, device=device)
        return h.images_seen / h.seconds

    rate(5)  # warm-up
    return rate


def interleaved_rates(runners: dict[str, Callable[[int], float]], steps: int,
                      rounds: int = 5) -> dict[str, list[float]]:
    """Each runner's img/s in ``rounds`` rounds of ``steps // rounds`` steps, the runners in
    turn within a round, so a machine that slows down or speeds up meanwhile slows them all
    alike: compare them round by round (:func:`median_ratio`)."""
    rates: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(rounds):
        for name, rate in runners.items():
            rates[name].append(rate(max(1, steps // rounds)))
    return rates


def median_ratio(a: list[float], b: list[float]) -> float:
    """The median of the round-by-round ratios ``a[i] / b[i]``."""
    return statistics.median(x / y for x, y in zip(a, b))


def _prepared_step(arch: str, x: torch.Tensor, device: torch.device, **overrides):
    """A new run of ``arch``'s recipe on ``device`` after one warm-up step, and a function
    that makes one more :func:`~gan_course.training.gan_step` of it."""
    from gan_course import distributed
    from gan_course.run_state import prepare_run
    from gan_course.training import gan_step

    torch.manual_seed(0)
    G, D = build_gan(arch)
    cfg = default_config(arch, progress=False, **overrides)
    run, xd, _ = prepare_run(G, D, x[:512], None, cfg, device, distributed.Dist())
    gan_step(run, xd, None, cfg)  # warm-up
    return cfg, lambda: gan_step(run, xd, None, cfg)


def flops_per_image(arch: str, x: torch.Tensor, device: torch.device) -> float:
    """Floating-point operations of one training iteration per real image, counted by
    ``torch.utils.flop_counter`` (forward and backward passes of both updates; a
    multiply-add counts as 2)."""
    from torch.utils.flop_counter import FlopCounterMode

    cfg, step = _prepared_step(arch, x, device)
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops() / (cfg.batch_size * cfg.n_critic)


# the operators that do a step's floating-point work; the others move memory or are overhead
FLOP_OPS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::mkldnn_convolution",
            "aten::_convolution", "aten::convolution_backward")


def step_breakdown(arch: str, x: torch.Tensor, steps: int = 20) -> dict[str, float]:
    """Where a CPU training step's time goes, in ms per step, measured by ``torch.profiler``
    (its own cost included): ``products``, the self time of the convolutions and matrix
    products (:data:`FLOP_OPS`); ``adam``, both optimiser steps; ``rest``, everything else
    (batch norm, activations, losses, the EMA, Python); and their ``total``."""
    from torch.profiler import ProfilerActivity, profile

    _, step = _prepared_step(arch, x, torch.device("cpu"))
    with _stderr_to_devnull(), profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        for _ in range(steps):
            step()
        total = time.perf_counter() - start
    events = prof.key_averages()
    out = {"total": total * 1e3 / steps,
           "products": sum(e.self_cpu_time_total for e in events if e.key in FLOP_OPS) / 1e3 / steps,
           "adam": sum(e.cpu_time_total for e in events if e.key.startswith("Optimizer.step#")) / 1e3 / steps}
    out["rest"] = out["total"] - out["products"] - out["adam"]
    return out


def matmul_peak(device: torch.device, n: int = 2048, reps: int = 10) -> float:
    """fp32 FLOP/s of this machine's best case: large square matrix products."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    for _ in range(2):
        a @ b
    _sync(device)
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    _sync(device)
    return 2 * n ** 3 * reps / (time.perf_counter() - t)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def tutorial_runner(arch: str, x: torch.Tensor, device: torch.device,
                    batch_size: int) -> Callable[[int], float]:
    """``rate(steps)``: images per second of the common tutorial loop (pytorch/examples'
    dcgan style) over ``steps`` more steps at each call."""
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(0)
    G, D_logits = build_gan(arch)
    G, D = G.to(device), nn.Sequential(D_logits, nn.Sigmoid()).to(device)  # probabilities out
    criterion = nn.BCELoss()
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    loader = DataLoader(TensorDataset(x.cpu()), batch_size=batch_size, shuffle=True, drop_last=True)

    def run(n: int) -> float:
        done, start = 0, time.perf_counter()
        while True:
            for (real,) in loader:
                real = real.to(device)
                b = real.size(0)
                label = torch.full((b,), 1.0, device=device)
                D.zero_grad()
                err_real = criterion(D(real), label)                  # D evaluation 1
                err_real.backward()
                noise = torch.randn(b, G.latent_dim, device=device)
                fake = G(noise)
                label.fill_(0.0)
                err_fake = criterion(D(fake.detach()), label)         # D evaluation 2
                err_fake.backward()
                opt_d.step()
                G.zero_grad()
                label.fill_(1.0)
                err_g = criterion(D(fake), label)                     # D evaluation 3
                err_g.backward()
                opt_g.step()
                err_g.item()  # tutorials print or log the losses every step
                done += 1
                if done == n:
                    return n * batch_size / (time.perf_counter() - start)

    run(5)  # warm-up
    return run


def time_to_quality(x: torch.Tensor, device: torch.device, budget_s: float,
                    fix: str | None = None) -> list[str]:
    """Train the DCGAN recipe (the fix :data:`gan_course.fixes.RECIPE`; or another of
    :data:`gan_course.fixes.FIXES`; seed 0) for the
    budget and measure N_EVAL samples every EVAL_EVERY_S seconds of training: the judge's
    confident fraction and FD, a time-to-quality curve (:class:`gan_course.fixes.QualityTrace`).
    The last line says when the confident fraction first reached TARGET."""
    from gan_course import fixes

    label, fix = fix or "DCGAN recipe", fix or fixes.RECIPE
    lines: list[str] = []

    def say(line: str) -> None:
        lines.append(line)
        print(line, flush=True)

    trace = fixes.QualityTrace(N_EVAL, EVAL_EVERY_S, say=say)
    G, D = fixes.build(fix, seed=0)
    train_gan(G, D, x, fixes.config_of(fix, 0, budget_s), device=device, hooks=[trace], hook_every=25)
    reached = next((r for r in trace.rows if r["confident"] >= TARGET), None)
    if reached:
        lines.append(f"  {label}: reached {reached['confident']:.1%} >= {TARGET:.0%} first after "
                     f"{reached['seconds']:.0f} s of training (step {reached['step']})")
    else:
        best = max((r["confident"] for r in trace.rows), default=0.0)
        lines.append(f"  {label}: not reached within {budget_s:.0f} s (best {best:.1%})")
    return lines


def speed_report(x: torch.Tensor, device: torch.device, steps: int, compile: bool) -> None:
    """Print the img/s of both architectures against the tutorial loop and the machine's
    limit; the loops are timed in turn, round by round (:func:`interleaved_rates`), and each
    figure is the median over the rounds."""
    print(f"training throughput, {steps} steps each in 5 rounds, the loops in turn (images/s, "
          "higher is better: medians over the rounds; each ratio is the median of the "
          "rounds' ratios):")
    for arch in ("mlp", "dcgan"):
        batch = default_config(arch).batch_size
        runners = {"peak": lambda _: matmul_peak(device),  # FLOP/s, in every round: the machine drifts
                   "package": package_runner(arch, x, device),
                   "tutorial": tutorial_runner(arch, x, device, batch)}
        if device.type == "cpu":
            runners["fused"] = package_runner(arch, x, device, cpu_fused_adam=True)
        if compile:
            try:
                runners["compiled"] = package_runner(arch, x, device, compile=True)
            except Exception as err:  # a missing compiler, an unsupported op: say so, go on
                print(f"  {arch:5s}  torch.compile failed: {type(err).__name__}: {str(err)[:200]}")
        rates = interleaved_rates(runners, steps)
        ours, peak = statistics.median(rates["package"]), statistics.median(rates["peak"])
        flops = flops_per_image(arch, x, device)
        ceiling = peak / flops
        share = statistics.median(r * flops / p for r, p in zip(rates["package"], rates["peak"]))
        print(f"  {arch:5s}  package {ours:8,.0f}   tutorial-style loop "
              f"{statistics.median(rates['tutorial']):8,.0f}   ratio "
              f"{median_ratio(rates['package'], rates['tutorial']):4.2f}x   60,000-image epoch "
              f"{60000 / ours:5.1f} s  (batch {batch})")
        print(f"         {flops / 1e6:.1f} MFLOP per image; at the fp32 matmul peak of "
              f"{peak / 1e9:,.0f} GFLOP/s measured here, a ceiling of {ceiling:,.0f} img/s: the "
              f"package runs {share:.0%} of it (the median over the rounds)")
        for name, what in (("fused", "with cfg.cpu_fused_adam (rounds differently, so off by default)"),
                           ("compiled", "with torch.compile")):
            if name in rates:
                rate = statistics.median(rates[name])
                ratio = median_ratio(rates[name], rates["package"])
                print(f"         {what}: {rate:,.0f} img/s, {ratio:4.2f}x, "
                      f"{share * ratio:.0%} of the ceiling")
        if device.type == "cpu":
            _where_the_time_goes(arch, x, flops, peak)
    if device.type == "cuda":
        for amp in ("bf16", "fp16", None):
            rate = package_runner("dcgan", x, device, amp=amp)(steps)
            print(f"  dcgan  amp={amp}: {rate:8,.0f} img/s")


@contextlib.contextmanager
def _stderr_to_devnull():
    """The profiler's C++ library writes a "profiler_start"/"profiler_stop" line to the
    process's stderr (file descriptor 2, which Python cannot filter): send it nowhere."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _where_the_time_goes(arch: str, x: torch.Tensor, flops: float, peak: float) -> None:
    """One line from :func:`step_breakdown`: what a loop without any overhead could reach."""
    t = step_breakdown(arch, x)
    cfg = default_config(arch)
    speed = flops * cfg.batch_size * cfg.n_critic / (t["products"] / 1e3)  # FLOP/s
    print(f"         a step, profiled: {t['total']:.1f} ms = convolutions and matrix products "
          f"{t['products']:.1f} ms (at {speed / 1e9:,.0f} GFLOP/s, {speed / peak:.0%} of the "
          f"peak) + Adam {t['adam']:.1f} ms + the rest {t['rest']:.1f} ms (batch norm, "
          "activations, losses, EMA, Python)")


def run_bench(args) -> int:
    from gan_course.data import load_mnist

    from gan_course.fixes import FIXES

    unknown = [f for f in getattr(args, "fix", None) or [] if f not in FIXES]
    if unknown:
        print(f"error: unknown fix {unknown[0]!r}; choose from {list(FIXES)}", file=sys.stderr)
        return 2
    runtime.apply_thread_setting()
    device = runtime.pick_device(getattr(args, "device", None))
    quick = runtime.is_quick()
    steps = runtime.by_mode(full=150, quick=10)
    budget = args.seconds or runtime.by_mode(full=300.0, quick=20.0)
    data = load_mnist("subset")  # offline and identical everywhere
    x = data.x_train
    load = os.getloadavg()
    print(f"gan_course bench | torch {torch.__version__} | {device.type} ({torch.get_num_threads()} "
          f"threads) on {platform.processor() or platform.machine()} | load average "
          f"{load[0]:.2f} {load[1]:.2f} | {len(x):,} training digits | "
          f"{'quick' if quick else 'full'} mode")
    if not getattr(args, "skip_speed", False):
        speed_report(x, device, steps, getattr(args, "compile", False))
    maxrss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"peak memory (maxrss) so far: {maxrss_mib:,.0f} MiB")
    if args.skip_quality:
        return 0
    for fix in getattr(args, "fix", None) or [None]:
        print(f"time to quality: {fix or 'the DCGAN recipe'} for {budget:.0f} s of training, "
              f"{N_EVAL:,} samples measured every {EVAL_EVERY_S:.0f} s (target: the judge "
              f"confident on {TARGET:.0%}):")
        lines = time_to_quality(x, device, budget, fix)  # prints each evaluation as it goes
        print(lines[-1])
    maxrss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (maxrss): {maxrss_mib:,.0f} MiB | load average now "
          f"{os.getloadavg()[0]:.2f}")
    return 0
