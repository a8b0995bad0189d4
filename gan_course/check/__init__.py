"""Self-checking exercises. In a notebook::

    from gan_course import check
    check.conv_output_size(my_conv_output_size)

Each checker prints PASS, FAIL (with what is wrong and a hint) or TODO (not attempted yet)
and returns a :class:`~gan_course.check.core.CheckResult`; ``quiet=True`` returns it
without printing. One module per topic; the shared machinery, the helpers and the lists of
typical wrong D and G losses are in :mod:`gan_course.check.core`.
"""

from gan_course.check.core import CheckResult  # noqa: F401
from gan_course.check.welcome import discriminator_loss, to_pixels  # noqa: F401
from gan_course.check.layers import conv2d_by_hand, conv_output_size, conv_transpose_output_size, count_params  # noqa: F401
from gan_course.check.backprop import (discriminator_step_loss, generator_step_loss, linear_backward,  # noqa: F401
                                      numerical_gradient, sigmoid_bce_grad)
from gan_course.check.minimax import (alternating_invariant, em_step, extragradient_step, jsd,  # noqa: F401
                                     optimal_discriminator, simultaneous_step, value_function,
                                     wasserstein1_histograms)
from gan_course.check.toy_gan import count_modes, diagnose_runs, generator_field, sample_ring  # noqa: F401
from gan_course.check.training_loop import d_loss_from_logits, d_step_by_hand, g_step_by_hand, scale_images  # noqa: F401
from gan_course.check.dcgan import dcgan_init, nearest_neighbour, slerp, upsample_block  # noqa: F401
from gan_course.check.evaluation import frechet_distance, inception_score, knn_precision_recall, which_metric  # noqa: F401
from gan_course.check.failures import epoch_batches, gradient_norm, sample_eval  # noqa: F401
from gan_course.check.stabilising import ema_update, hinge_d_loss, r1_penalty  # noqa: F401
from gan_course.check.generative_models import gaussian_kl, gumbel_softmax_sample, reinforce_loss  # noqa: F401
from gan_course.check.applications import inpainting_loss, psnr, shift_image  # noqa: F401
