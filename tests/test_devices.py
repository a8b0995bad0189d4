"""Precision and devices: fp16 loss scaling, what "auto" means, and, on a machine with a CUDA
GPU, training, resuming across devices, sampling and scoring there (skipped without one)."""

import pytest
import torch

from gan_course import distributed, metrics, run_state
from gan_course.checkpoints import generator_from_checkpoint, load_checkpoint
from gan_course.models import build_gan
from gan_course.training import TrainConfig, d_step, g_step, gan_step, precision, train_gan

needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def small_dcgan(conditional=False):
    torch.manual_seed(0)
    kw = dict(g_kwargs={"channels": (8, 4)}, d_kwargs={"channels": (4, 8)})
    if not conditional:
        kw["g_kwargs"]["hidden"] = kw["d_kwargs"]["hidden"] = 16
    return build_gan("cdcgan" if conditional else "dcgan", latent_dim=8, **kw)


def digits(n=64):
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(1)) * 2 - 1


def cfg(**kw):
    base = dict(steps=4, batch_size=16, sample_every=2, checkpoint_every=2, progress=False, quick_steps=10**6)
    return TrainConfig(**{**base, **kw})


def test_what_auto_precision_means():
    assert precision("auto", torch.device("cpu")) is None  # CPU results stay float32
    assert precision("auto", torch.device("mps")) is None
    assert precision("bf16", torch.device("cpu")) == "bf16" and precision(None, torch.device("cuda")) is None


def test_fp16_steps_with_loss_scaling_match_float32():
    """The GradScaler path (what older GPUs get) on the CPU: scaled backward, unscaled norms."""
    x, z = digits(16), torch.randn(16, 8, generator=torch.Generator().manual_seed(2))
    out = {}
    for amp in (None, "fp16"):
        G, D = small_dcgan()
        opt_g, opt_d = torch.optim.Adam(G.parameters()), torch.optim.Adam(D.parameters())
        scalers = [torch.amp.GradScaler("cpu") for _ in range(2)] if amp else [None, None]
        c = cfg(amp=amp)
        s = d_step(G, D, opt_d, x, z, c, scaler=scalers[0])
        s.update(g_step(G, D, opt_g, z, c, scaler=scalers[1]))
        out[amp] = s
    for k in ("loss_d", "loss_g", "grad_norm_d", "grad_norm_g"):
        torch.testing.assert_close(out["fp16"][k], out[None][k], rtol=2e-2, atol=2e-3)


def test_loss_scaler_state_is_saved_and_restored(tmp_path):
    c = cfg(amp="fp16")
    dev = torch.device("cpu")
    run, x, _ = run_state.prepare_run(*small_dcgan(), digits(), None, c, dev, distributed.Dist())
    assert run.scaler_g is not None and run.scaler_d is not None
    for _ in range(2):
        gan_step(run, x, None, c)
        run.step += 1
    run.scaler_d.update(123.0)  # a scale no fresh scaler has
    run_state.save_run(run, tmp_path / "c.pt", c, run.fingerprint)
    run2, _, _ = run_state.prepare_run(*small_dcgan(), digits(), None, c, dev, distributed.Dist())
    run_state.restore_run(run2, tmp_path / "c.pt", c, run2.fingerprint)
    assert run2.scaler_d.get_scale() == 123.0 and run2.step == 2


def test_fp16_on_a_cpu_falls_back_to_float32_with_a_warning():
    G, D = small_dcgan()
    with pytest.warns(UserWarning, match="fp16 with loss scaling is for CUDA GPUs"):
        h = train_gan(G, D, digits(), cfg(steps=1, amp="fp16"), device="cpu")
    assert len(h) == 1


@needs_gpu
def test_training_on_the_gpu_takes_no_host_sync_per_step():
    """Between bookkeeping steps nothing waits for the GPU: no .item(), no int(y.min())."""
    dev = torch.device("cuda")
    for conditional in (False, True):
        c = cfg()
        G, D = small_dcgan(conditional)
        y = torch.arange(64) % 10 if conditional else None
        run, x, y = run_state.prepare_run(G, D, digits(), y, c, dev, distributed.Dist())
        gan_step(run, x, y, c)  # warm-up (allocations, kernel choice)
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            for _ in range(3):
                gan_step(run, x, y, c)
        finally:
            torch.cuda.set_sync_debug_mode("default")


@needs_gpu
@pytest.mark.parametrize("amp", ["auto", None])
def test_train_on_gpu_resume_on_cpu_and_back(tmp_path, amp):
    G, D = small_dcgan()
    h = train_gan(G, D, digits(), cfg(amp=amp, ema=0.9), device="cuda", out_dir=tmp_path / "gpu")
    assert len(h) == 4 and all(torch.isfinite(torch.tensor(h.loss_d)))
    assert load_checkpoint(tmp_path / "gpu" / "checkpoint.pt")["extra"]["device"] == "cuda"
    G2, D2 = small_dcgan()
    h2 = train_gan(G2, D2, digits(), cfg(steps=6, amp=amp, ema=0.9), device="cpu",
                   out_dir=tmp_path / "gpu", resume=tmp_path / "gpu" / "checkpoint.pt")
    assert h2.step[-1] == 6 and next(G2.parameters()).device.type == "cpu"
    G3, D3 = small_dcgan()
    h3 = train_gan(G3, D3, digits(), cfg(steps=8, amp=amp, ema=0.9), device="cuda",
                   out_dir=tmp_path / "gpu", resume=tmp_path / "gpu" / "checkpoint.pt")
    assert h3.step[-1] == 8 and next(G3.parameters()).device.type == "cuda"


@needs_gpu
def test_sampling_and_metrics_on_the_gpu(tmp_path):
    G, D = small_dcgan()
    train_gan(G, D, digits(), cfg(), device="cuda", out_dir=tmp_path)
    G = generator_from_checkpoint(tmp_path / "checkpoint.pt").cuda()
    x_gpu = metrics.sample_generator(G, 200, seed=0)
    x_cpu = metrics.sample_generator(G.cpu(), 200, seed=0)  # same noise on any device
    torch.testing.assert_close(x_gpu, x_cpu, atol=1e-4, rtol=1e-3)
    ev = metrics.evaluate_generator(G.cuda(), n=200, device="cuda")
    assert 0 <= ev["confident_fraction"] <= 1 and ev["fd"] >= 0


@needs_gpu
def test_a_conditional_model_on_the_gpu_still_refuses_bad_labels_up_front():
    G, D = small_dcgan(conditional=True)
    with pytest.raises(ValueError, match="labels must lie in 0..9"):
        train_gan(G, D, digits(), cfg(), device="cuda", y=torch.arange(64) % 12)


def test_the_loop_draws_its_randomness_on_the_cpu():
    """So a checkpoint's generator state means the same on every device."""
    c = cfg()
    run, _, _ = run_state.prepare_run(*small_dcgan(), digits(), None, c, torch.device("cpu"),
                                      distributed.Dist())
    assert run.gen.device.type == "cpu"
