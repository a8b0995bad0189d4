"""Run by tests/test_distributed.py under torchrun: train a small DCGAN on CPU processes
(gloo) and write each rank's final weights to OUT/rank<r>.pt."""

import sys
from pathlib import Path

import torch

from gan_course import distributed
from gan_course.models import build_gan
from gan_course.training import TrainConfig, train_gan

out, steps = Path(sys.argv[1]), int(sys.argv[2])
dist, device = distributed.init_from_torchrun("cpu")
torch.manual_seed(0)
G, D = build_gan("dcgan", latent_dim=8, g_kwargs={"channels": (8, 4), "hidden": 16},
                 d_kwargs={"channels": (4, 8), "hidden": 16})
x = torch.rand(256, 1, 28, 28, generator=torch.Generator().manual_seed(1)) * 2 - 1
cfg = TrainConfig(steps=steps, quick_steps=steps, batch_size=16, sample_every=5, checkpoint_every=5,
                  progress=False, ema=0.9)
h = train_gan(G, D, x, cfg, device=device, out_dir=out)
torch.save({"G": G.state_dict(), "D": D.state_dict(), "loss_d": h.loss_d, "steps": h.step},
           out / f"rank{dist.rank}.pt")
distributed.shutdown()
