"""The notebooks' interactive widgets, one small module per topic:

- ``convolution``     notebook 01: a kernel sliding over a digit (:func:`conv_explorer`)
- ``gradient_field``  notebook 02: the gradient D hands to G (:func:`generator_gradient_field`)
- ``minimax``         notebook 03: p_g against p_data, D*, V and the JSD (:func:`minimax_explorer`)
- ``toy_gan``         notebook 04: a short GAN run on 2-D data (:func:`toy_gan_trainer`)
- ``latent``          notebooks 00 and 06: digits from a generator (:func:`pretrained_digits`,
  :func:`latent_explorer`)
- ``core``            what they share: :class:`Explorer`, the widget whose plain text says
  what it is for readers who see no live widget

Every builder returns an :class:`Explorer` that renders once with its default values when
the notebook cell runs (``interact`` with defaults), so a headless run (nbval, ``make
notebooks``) exercises it; prints go through its ``Output`` so JupyterLab shows them. The
widgets train with :mod:`gan_course.training` and draw with :mod:`gan_course.plotting`.
Notebooks put a static figure beside each widget (the ``*_figure`` functions) for readers
who cannot run it. Use them as ``from gan_course import widgets; widgets.conv_explorer(...)``.
"""

from gan_course.widgets.convolution import (CONV_KERNELS, conv_explorer, conv_explorer_figure,
                                            conv_kernels_figure)
from gan_course.widgets.core import Explorer
from gan_course.widgets.gradient_field import (GRADIENT_FIELD_LOSSES, generator_gradient_field,
                                               gradient_field_figure)
from gan_course.widgets.latent import (latent_directions, latent_explorer, latent_point,
                                       latent_walk_figure, pretrained_digits)
from gan_course.widgets.minimax import minimax_explorer
from gan_course.widgets.toy_gan import (TOY_LOSSES, toy_gan_settings_figure, toy_gan_trainer,
                                        train_toy_gan)

__all__ = ["CONV_KERNELS", "conv_explorer", "conv_explorer_figure", "conv_kernels_figure",
           "Explorer", "GRADIENT_FIELD_LOSSES", "generator_gradient_field",
           "gradient_field_figure", "latent_directions",
           "latent_explorer", "latent_point", "latent_walk_figure", "pretrained_digits",
           "minimax_explorer", "TOY_LOSSES", "toy_gan_settings_figure", "toy_gan_trainer",
           "train_toy_gan"]
