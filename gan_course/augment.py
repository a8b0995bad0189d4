"""Differentiable augmentation (DiffAugment, Zhao et al. 2020): D sees every image, real or
fake, through the same kind of random transforms, and G learns through them.

Augmenting only the real images would teach G to draw augmented digits (shifted, with holes),
and augmenting them outside D's graph would cut G off from D's gradient. DiffAugment applies
random transforms ``T`` to both on *every* pass through D, in D's step and in G's, with
differentiable operations (shifts, masks, additions), so ``loss_G`` back-propagates through
``T`` into G::

    loss_D = f(D(T(x_real)), D(T(G(z).detach())))
    loss_G = h(D(T(G(z))))                            # a new T each time

A *policy* names the transforms, comma-separated, applied in that order (the paper's names,
so its policy strings work here): ``"translation,cutout"``, or ``"color,translation,cutout"``,
the paper's choice for small data. For images in [-1, 1] (B, C, H, W):

- ``translation``: each image shifted by up to 1/8 of its size (ratio 0.125; 4 pixels of
  28) in each direction, a whole number of pixels drawn uniformly; what comes in from
  outside is 0, as in the paper's code (zero padding);
- ``cutout``: one square of half the image's side (14 of 28) set to 0, its centre uniform over
  the image, so near the border part of it lies outside; the paper multiplies by a mask,
  and the paper's images are also in [-1, 1], so 0 is mid-grey there as here, not MNIST's
  background (-1);
- ``color``: brightness (a shift drawn from [-0.5, 0.5) added to the whole image), then
  contrast (the image's deviation from its mean scaled by a factor from [0.5, 1.5)). The
  paper's third colour transform, saturation, is left out: it scales each pixel's deviation
  from its mean over the channels, and with one grey channel that deviation is 0, so it
  would change nothing.

Random numbers: each transform draws one set per image, on the CPU from ``generator`` (the
training loop passes its own seeded one, so runs repeat and resumes continue exactly), and
moves them to the images' device; with ``generator=None`` torch's global CPU generator.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

TRANSLATION_RATIO = 0.125  # the largest shift, as a fraction of the image's side
CUTOUT_RATIO = 0.5         # the side of the cut-out square, as a fraction of the image's


def _uniform(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One U[0, 1) number per image, shaped (B, 1, 1, 1) to broadcast over its pixels."""
    u = torch.rand(len(x), 1, 1, 1, generator=generator, device=_where(generator))
    return u.to(x.device, x.dtype)


def _integers(low: int, high: int, n: int, generator: torch.Generator | None, device) -> torch.Tensor:
    """``n`` whole numbers from ``low`` to ``high - 1``, drawn on the generator's device."""
    return torch.randint(low, high, (n,), generator=generator, device=_where(generator)).to(device)


def _where(generator: torch.Generator | None) -> torch.device:
    return generator.device if generator is not None else torch.device("cpu")


def brightness(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """``x + (u - 0.5)``, ``u ~ U[0, 1)`` per image: the whole image lighter or darker."""
    return x + (_uniform(x, generator) - 0.5)


def contrast(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """``(x - m) * (u + 0.5) + m``, ``m`` the image's mean, ``u ~ U[0, 1)`` per image."""
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_uniform(x, generator) + 0.5) + mean


def shift(x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, pad: int | None = None) -> torch.Tensor:
    """Image ``i`` moved down by ``dy[i]`` and right by ``dx[i]`` pixels (negative: up, left),
    zeros coming in: ``out[i, :, r, c] = x[i, :, r - dy[i], c - dx[i]]``, or 0 outside.

    The image is padded with ``pad`` zeros (at least the largest shift; by default exactly
    that) and each output pixel picks its source by indexing, which autograd differentiates.
    """
    B, _, H, W = x.shape
    if pad is None:
        pad = int(torch.cat([dy, dx]).abs().max())
    padded = F.pad(x, (pad, pad, pad, pad)).permute(0, 2, 3, 1)     # (B, H + 2p, W + 2p, C)
    rows = torch.arange(H, device=x.device) + pad - dy.view(B, 1)    # (B, H)
    cols = torch.arange(W, device=x.device) + pad - dx.view(B, 1)    # (B, W)
    batch = torch.arange(B, device=x.device).view(B, 1, 1)
    out = padded[batch, rows.view(B, H, 1), cols.view(B, 1, W)]      # (B, H, W, C)
    return out.permute(0, 3, 1, 2)                                   # (B, C, H, W)


def translation(x: torch.Tensor, generator: torch.Generator | None = None,
                ratio: float = TRANSLATION_RATIO) -> torch.Tensor:
    """Each image shifted by whole pixels ``dy, dx`` drawn uniformly from ``-s..s``,
    ``s = round(ratio * side)`` (drawn in that order, dy for all images first), with zeros
    coming in (:func:`shift`)."""
    B, _, H, W = x.shape
    sy, sx = int(H * ratio + 0.5), int(W * ratio + 0.5)
    dy = _integers(-sy, sy + 1, B, generator, x.device)
    dx = _integers(-sx, sx + 1, B, generator, x.device)
    return shift(x, dy, dx, pad=max(sy, sx))  # pad known here: no wait for the device


def cutout_mask(shape: torch.Size, cy: torch.Tensor, cx: torch.Tensor, size: tuple[int, int],
                device=None) -> torch.Tensor:
    """(B, 1, H, W): 1, but 0 on rows ``cy - size_y // 2`` to ``cy - size_y // 2 + size_y - 1``
    and the matching columns of image ``i`` (the parts inside the image)."""
    B, _, H, W = shape
    top, left = (cy - size[0] // 2).view(B, 1), (cx - size[1] // 2).view(B, 1)
    r, c = torch.arange(H, device=device), torch.arange(W, device=device)
    in_rows = (r >= top) & (r < top + size[0])                        # (B, H)
    in_cols = (c >= left) & (c < left + size[1])                      # (B, W)
    return (~(in_rows.view(B, 1, H, 1) & in_cols.view(B, 1, 1, W))).float()


def cutout(x: torch.Tensor, generator: torch.Generator | None = None,
           ratio: float = CUTOUT_RATIO) -> torch.Tensor:
    """``x * mask``: one square of side ``round(ratio * side)`` per image set to 0, its centre
    ``(cy, cx)`` drawn uniformly over the image (cy for all images first), as in the paper's
    code (for an even side the centre may also be one past the last pixel)."""
    B, _, H, W = x.shape
    size = (int(H * ratio + 0.5), int(W * ratio + 0.5))
    cy = _integers(0, H + (1 - size[0] % 2), B, generator, x.device)
    cx = _integers(0, W + (1 - size[1] % 2), B, generator, x.device)
    return x * cutout_mask(x.shape, cy, cx, size, x.device).to(x.dtype)


# policy name -> the transforms it applies, in order
AUGMENTS = {
    "color": (brightness, contrast),
    "translation": (translation,),
    "cutout": (cutout,),
}


def parse_policy(policy: str | None) -> tuple[str, ...]:
    """``"translation,cutout"`` -> ``("translation", "cutout")``; None or "" -> ``()``.

    An unknown name raises ``ValueError`` listing the valid ones.
    """
    if not policy:
        return ()
    if not isinstance(policy, str):
        raise ValueError(f"an augmentation policy is a string such as 'translation,cutout', got {policy!r}")
    names = tuple(name.strip() for name in policy.split(","))
    unknown = [name for name in names if name not in AUGMENTS]
    if unknown:
        raise ValueError(f"unknown augmentation {unknown[0]!r} in {policy!r}; choose from "
                         f"{', '.join(sorted(AUGMENTS))}, comma-separated (e.g. 'translation,cutout').")
    return names


def diff_augment(x: torch.Tensor, policy: str | None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """``x`` (B, C, H, W) through the transforms ``policy`` names, in order, fresh random
    numbers for each image (see the module docstring). No policy: ``x`` itself, and nothing
    drawn from ``generator``."""
    for name in parse_policy(policy):
        for transform in AUGMENTS[name]:
            x = transform(x, generator)
    return x


__all__ = ["diff_augment", "parse_policy", "AUGMENTS", "brightness", "contrast", "translation",
           "shift", "cutout", "cutout_mask", "TRANSLATION_RATIO", "CUTOUT_RATIO"]
