"""gan_course: the package the GAN course's notebooks teach with.

One idea per module:

- ``runtime``   quick/full mode, device choice, seeding, the notebooks' setup line
- ``data``      MNIST (download, verify, cache, bundled offline subset)
- ``toy``       2-D mixtures with known modes (ring, grid, moons)
- ``models``    MLP and DCGAN generators/discriminators
- ``losses``    the GAN losses, each with its formula
- ``theory``    1-D GAN theory on a grid: D*, V(G, D*), JSD, W1, the bilinear game x*y
- ``training``  ``d_step``, ``g_step``, ``train_gan`` and ``TrainConfig``
- ``checkpoints`` atomic save / safe load of training state
- ``judge``     the small CNN digit classifier that scores generated digits
- ``nondigits`` the non-digits the judge is taught to doubt, and the probe that checks it
- ``metrics``   Fréchet distance, judge confidence, precision/recall, mode coverage
- ``plotting``  figures (sample grids, curves, decision surfaces)
- ``live``      the live training dashboard hook
- ``widgets``   the notebooks' interactive widgets
- ``check``     self-checking exercises
- ``cli``       ``python -m gan_course ...``
"""

__version__ = "0.1.0"
