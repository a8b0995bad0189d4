"""``python -m gan_course bench``: how fast the course trains, and how soon it draws digits.

It prints

1. training throughput (images per second through D's real side) of the package's MLP GAN
   and DCGAN steps, its share of this machine's limit (FLOPs per training image, counted by
   ``torch.utils.flop_counter``, against the fp32 matrix-product peak measured here), with
   ``--compile`` the same under ``torch.compile``, on a GPU with each mixed precision, and the
   rate of a reference loop in the style most tutorials use on the *same*
   networks: a ``DataLoader`` over a ``TensorDataset``, float32, ``Sigmoid`` + ``BCELoss``,
   and D evaluated three times per batch (real, fake for D's step, fake again for G's step,
   with D's weights receiving gradients they do not need). The ratio is the package's speedup;
   a 60,000-image epoch is extrapolated from the package's rate;
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

import os
import platform
import resource
import sys
import time

import torch
from torch import nn

from gan_course import runtime
from gan_course.models import build_gan
from gan_course.recipes import default_config
from gan_course.training import train_gan

TARGET = 0.70          # fraction of samples the judge must be confident about
N_EVAL = 2000          # samples scored at each evaluation
EVAL_EVERY_S = 20.0    # seconds of training between evaluations


def package_rate(arch: str, x: torch.Tensor, device: torch.device, steps: int,
                 compile: bool = False, **overrides) -> float:
    """Images per second of :func:`train_gan` with the command line's settings for ``arch``
    (with ``compile``, G and D go through ``torch.compile`` first; its compile time is left
    out by the warm-up run)."""
    torch.manual_seed(0)
    G, D = build_gan(arch)
    if compile:
        G, D = torch.compile(G), torch.compile(D)
    quiet = dict(progress=False, sample_every=10**9, checkpoint_every=10**9, **overrides)
    train_gan(G, D, x, default_config(arch, steps=5, **quiet), device=device)  # warm-up
    cfg = default_config(arch, steps=steps, quick_steps=steps, **quiet)
    h = train_gan(G, D, x, cfg, device=device)
    return h.images_seen / h.seconds


def flops_per_image(arch: str, x: torch.Tensor, device: torch.device) -> float:
    """Floating-point operations of one training iteration per real image, counted by
    ``torch.utils.flop_counter`` (forward and backward passes of both updates; a
    multiply-add counts as 2)."""
    from torch.utils.flop_counter import FlopCounterMode

    from gan_course import distributed
    from gan_course.run_state import prepare_run
    from gan_course.training import gan_step

    torch.manual_seed(0)
    G, D = build_gan(arch)
    cfg = default_config(arch, progress=False)
    run, xd, _ = prepare_run(G, D, x[:512], None, cfg, device, distributed.Dist())
    gan_step(run, xd, None, cfg)  # warm-up outside the counter
    with FlopCounterMode(display=False) as counter:
        gan_step(run, xd, None, cfg)
    return counter.get_total_flops() / (cfg.batch_size * cfg.n_critic)


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


def tutorial_rate(arch: str, x: torch.Tensor, device: torch.device, steps: int,
                  batch_size: int) -> float:
    """Images per second of the common tutorial loop (pytorch/examples dcgan style)."""
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
    return run(steps)


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
    """Print the img/s of both architectures against the tutorial loop and the machine's limit."""
    print(f"training throughput, {steps} steps each (images/s; higher is better):")
    peak = matmul_peak(device)
    rates = {}
    for arch in ("mlp", "dcgan"):
        batch = default_config(arch).batch_size
        ours = rates[arch] = package_rate(arch, x, device, steps)
        ref = tutorial_rate(arch, x, device, steps, batch)
        print(f"  {arch:5s}  package {ours:8,.0f}   tutorial-style loop {ref:8,.0f}   "
              f"ratio {ours / ref:4.2f}x   60,000-image epoch {60000 / ours:5.1f} s  (batch {batch})")
    print(f"against this machine's limit (fp32 matmul peak {peak / 1e9:,.0f} GFLOP/s, measured):")
    for arch in ("mlp", "dcgan"):
        flops = flops_per_image(arch, x, device)
        ceiling = peak / flops
        print(f"  {arch:5s}  {flops / 1e6:6.1f} MFLOP per image -> ceiling {ceiling:8,.0f} img/s; "
              f"the package runs {rates[arch] / ceiling:4.0%} of it")
    if compile:
        for arch in ("mlp", "dcgan"):
            try:
                fast = package_rate(arch, x, device, steps, compile=True)
                print(f"  {arch:5s}  with torch.compile {fast:8,.0f} img/s ({fast / rates[arch]:4.2f}x)")
            except Exception as err:  # a missing compiler, an unsupported op: say so, go on
                print(f"  {arch:5s}  torch.compile failed: {type(err).__name__}: {str(err)[:200]}")
    if device.type == "cuda":
        for amp in ("bf16", "fp16", None):
            rate = package_rate("dcgan", x, device, steps, amp=amp)
            print(f"  dcgan  amp={amp}: {rate:8,.0f} img/s")


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
