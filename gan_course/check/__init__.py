"""Self-checking exercises. In a notebook::

    from gan_course import check
    check.conv_output_size(my_conv_output_size)

Each checker prints PASS, FAIL (with what is wrong and a hint) or TODO (not attempted yet)
and returns a :class:`~gan_course.check.core.CheckResult`. One module per topic.
"""

from gan_course.check.core import CheckResult  # noqa: F401
from gan_course.check.minimax import (extragradient_step, g_loss_nonsaturating, jsd, optimal_discriminator,  # noqa: F401
                                     simultaneous_step, value_function)
from gan_course.check.layers import conv2d_by_hand, conv_output_size, conv_transpose_output_size, count_params  # noqa: F401
from gan_course.check.backprop import (discriminator_step_loss, generator_step_loss, linear_backward,  # noqa: F401
                                      numerical_gradient, sigmoid_bce_grad)
from gan_course.check.dcgan import dcgan_init, nearest_neighbour, slerp, upsample_block  # noqa: F401
from gan_course.check.welcome import discriminator_loss, generator_loss, to_pixels  # noqa: F401
from gan_course.check.toy_gan import count_modes, diagnose_runs, generator_field, sample_ring  # noqa: F401
from gan_course.check.training_loop import d_loss_from_logits, d_step_by_hand, g_step_by_hand, scale_images  # noqa: F401
