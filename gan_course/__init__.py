"""gan_course: the package the GAN course's notebooks teach with.

One idea per module:

- ``runtime``   quick/full mode, device choice, seeding, the notebooks' setup line
- ``data``      MNIST (download, verify, cache, bundled offline subset)
- ``toy``       2-D mixtures with known modes (ring, grid, moons)
- ``models``    MLP and DCGAN generators/discriminators
- ``losses``    the GAN losses, each with its formula, and D's penalties (WGAN-GP, R1)
- ``augment``   DiffAugment: differentiable random transforms of every image D sees
- ``theory``    1-D GAN theory on a grid: D*, V(G, D*), JSD, W1, the bilinear game x*y
- ``dirac``     the Dirac-GAN: which training methods converge, by eigenvalues and trajectories
- ``config``    ``TrainConfig``: every knob of a training run, with its reason
- ``training``  ``d_step``, ``g_step``, ``gan_step`` and ``train_gan``
- ``recipes``   the default training config of each architecture, with its measurements
- ``run_state`` a run's state: checked, built, saved, restored (the pieces of ``train_gan``)
- ``recorder``  the ``History`` of a run, NaN checks, training time and the progress line
- ``interrupts`` Ctrl-C that lets the current step finish
- ``distributed`` torchrun and DistributedDataParallel
- ``checkpoints`` safe load of training state, and the generator in it
- ``files``     the one atomic file writer
- ``judge``     the small CNN digit classifier that scores generated digits
- ``nondigits`` the non-digits the judge is taught to doubt, and the probe that checks it
- ``metrics``   Fréchet distance (and its bias with N), judge confidence, precision/recall,
                density/coverage, nearest neighbours, truncated noise, mode coverage
- ``bootstrap`` error bars: resample the samples, recompute, read the spread
- ``adversarial`` images optimised against the judge: how its metrics are gamed
- ``scoreboard`` every generator scored the same way, in one table kept in runs/
- ``plotting``  figures (sample grids, curves, decision surfaces)
- ``live``      the live training dashboard hook
- ``diagnose``  ``diagnose(history)``: what a run is doing, in one sentence with the evidence
- ``failures``  notebook 08's gallery: each failure built and trained from a seed
- ``widgets``   the notebooks' interactive widgets
- ``check``     self-checking exercises
- ``commands``  what ``train`` and ``sample`` do
- ``grading``   ``python -m gan_course grade``: run students' notebooks, collect the verdicts
- ``cli``       ``python -m gan_course ...`` (argument parsing only)
"""

__version__ = "0.1.0"
