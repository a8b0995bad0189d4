"""The course's training recipes: one default :class:`~gan_course.training.TrainConfig` per
architecture, each with the measurements that chose it (as nanoGPT keeps its configs).

``python -m gan_course train ARCH`` starts from these; a notebook writes its own config in
its hyperparameter cell and says where it departs from them. Every number below was measured
on the bundled 8,000-digit training split with the shipped judge of its time, 2,000 samples,
seed 0, one CPU thread unless said; ``assets/PRETRAINED.md`` has the full record and the
commands that made the shipped generators.
"""

from __future__ import annotations

from gan_course.training import TrainConfig

RECIPES: dict[str, dict] = {
    # MLP 100 -> 256 -> 256 -> 784 against 784 -> 256 -> 256 -> 1.
    # G learns 5x faster than D (lr_g 1e-3, lr_d 2e-4). With equal rates this D outran G
    # on 3 of 4 runs (D(x) above 0.9 for thousands of steps, one run collapsed to one blot);
    # with G faster, 4 of 4 seeds drew all ten digits (class entropy >= 2.2 from 6,000 steps).
    # Judge-confident, seeds 0 and 3: 67% / 75% / 78% at 12,000 / 24,000 / 36,000 steps (EMA of
    # G 0.999: 72% / 78% / 80%). Cheap steps (~110/s on one CPU thread): 36,000 in ~5.5 minutes.
    "mlp": dict(steps=36000, batch_size=64, lr_g=1e-3, lr_d=2e-4, ema=0.999),
    # DCGAN with a dense hidden layer of 256 in G and in D (InfoGAN's MNIST pair) and lr_g
    # 1e-3 (InfoGAN's too): judge-confident 72% / 78% / 81% / 82% at 1,000 / 2,000 / 3,000 /
    # 4,000 steps (class entropy 2.30); with lr_g 2e-4, 59% / 75% / 76%. Without the hidden
    # layers it levels off near 65% (every change tried is in assets/PRETRAINED.md).
    # EMA of G 0.999 (notebook 09, section 6; assets/recipe_choice.json, made by
    # fixes.RECIPE_CHOICE_COMMAND): 300 s of training on 2 threads, seeds 0-2, scoreboard on
    # 2,000 samples: FD 2.6 / 3.0 / 3.1 against 6.3 / 11.8 / 5.7 without it (floor 2.4),
    # confident 86.9 / 87.4 / 87.5% against 85.5 / 86.4 / 84.8%, class entropy 2.30; lower FD
    # at every one of the 24 measurements from 93 s on. Training is unchanged (4% fewer img/s
    # for the update); the average lags early: 70% confident after ~62 s instead of ~31 s.
    "dcgan": dict(steps=6000, batch_size=64, lr_g=1e-3, lr_d=2e-4, ema=0.999),
    # Class-conditional DCGAN, without hidden layers (see ConditionalDCGANGenerator): judge-
    # confident 49% / 88% / 93% at 1,000 / 2,000 / 3,000 steps, the judge agreeing with the
    # asked class on 57% / 94% / 97% of all samples. With the DCGAN's hidden layers and
    # lr_g 1e-3 the pair collapsed onto one image within 1,000 steps (D(x) 0.94 to 0.99).
    "cdcgan": dict(steps=3000, batch_size=64, lr_g=2e-4, lr_d=2e-4),
}

# WGAN-GP (Gulrajani et al. 2017, Algorithm 1): five critic steps per G step, lambda 10,
# Adam with beta1 = 0 and beta2 = 0.9, lr 1e-4, and a critic without batch norm (the
# penalty is per sample). Applied on top of an architecture's recipe by `--loss wgan-gp`.
WGAN_GP = dict(loss="wgan-gp", n_critic=5, gp_weight=10.0, lr_g=1e-4, lr_d=1e-4, betas=(0.0, 0.9))

# WGAN with weight clipping (Arjovsky et al. 2017, Algorithm 1): five critic steps per G step,
# c = 0.01, RMSprop at lr 5e-5. The course keeps Adam, with beta1 = 0 (no momentum, which the
# paper found unstable) and beta2 = 0.99, RMSprop's default decay: then it is RMSprop plus
# Adam's bias correction. The paper's extra 100 critic steps at the start are left out.
# Applied on top of an architecture's recipe by `--loss wgan`. Measured in notebook 09
# (gan_course/assets/fixes.json: the DCGAN, 90 s on one CPU thread, seeds 0-2): WGAN made
# 256 G steps where the recipe made 900, WGAN-GP 155, and neither drew digits yet; WGAN-GP
# reached 45% confident (FD 78) after 480 s on two threads (assets/wgan_gp_trace.json).
WGAN = dict(loss="wgan", n_critic=5, weight_clip=0.01, lr_g=5e-5, lr_d=5e-5, betas=(0.0, 0.99))


def default_config(arch: str, **overrides) -> TrainConfig:
    """The recipe's :class:`TrainConfig` for ``arch``, with ``overrides`` applied."""
    if arch not in RECIPES:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {sorted(RECIPES)}.")
    return TrainConfig(**{**RECIPES[arch], **overrides})
