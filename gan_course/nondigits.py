"""Images that are not digits: what the judge is taught to be unsure about, and the probe.

A digit classifier has no "none of these" answer, so left alone it calls anything a digit.
The judge (:mod:`gan_course.judge`) is also shown non-digits with a uniform target
("outlier exposure", Hendrycks et al. 2019). This module draws them, one family per
function ``family(n, generator) -> (n, 1, 28, 28)`` in [-1, 1] (background -1, ink +1, like
:func:`gan_course.data.load_mnist`), offline and deterministic given the generator:

- ``uniform_noise``, ``smooth_blobs``, ``flat_grey``, ``shuffled_digits``: what early or
  broken generators draw (pixel noise, smooth fields, one grey level, a digit's ink with its
  pixels shuffled);
- ``scribbles``: random pen strokes (smooth random walks with loops and zig-zags, chained
  cubic Bézier curves) drawn with an anti-aliased pen as thick as MNIST's;
- ``letters``: capital letters unlike digits (:data:`LETTERS`), hand-drawn strokes or a
  font's glyphs, with random slant, rotation, aspect, thickness and size;
- ``overlaid_digits``: two real digits of *different* classes drawn over each other
  (pixel-wise max, with small shifts);
- ``speckled_blots``: salt noise inside a blob, what an MLP GAN collapses to;
- ``symbols`` (Greek and Cyrillic capitals, # @ %): never used in training; the probe
  uses it to ask whether the judge learnt "not a digit" or only the families it was shown.

Every drawn shape is placed as MNIST places its digits: its larger side fitted to a box of
16 to 20 pixels, its centre of mass at the centre of the 28 x 28 canvas.

Each family has a ``variant``: ``"train"`` (what :func:`training_non_digits` mixes into
the judge's batches) and ``"probe"`` (other parameters: other fonts, other curve and blot
shapes, stroke widths and shifts, the held-out digits). :func:`probe_set` draws the probe
from its own seed and :func:`probe_report` says, per family, how often a judge is
"confident" (max softmax > :data:`gan_course.metrics.CONFIDENT`) on it, next to the same
numbers for the 2,000 held-out real digits.

Kept out of training on purpose, because the judge must never be taught that a real digit
is not one: letters that look like digits (O I S Z B G L), rotated digits (a rotated 0, 1
or 8 is still a digit), scribbles that are a single line, arc or loop (:func:`tangle`
below :data:`MIN_TANGLE`), and overlaid pairs where one digit hides along the other (a 1
drawn along a 7's stem is a 7; :data:`MIN_VISIBLE`). The probe keeps the simpler scribbles
and every overlaid pair, so its numbers include such look-alikes.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

SIZE = 28
CENTRE = (SIZE - 1) / 2          # pixel centres are 0 .. 27, so the canvas centre is 13.5
LETTERS = "AEFHKMNPRTVWXY"       # capitals that look like no digit (not O I S Z B G L)
SYMBOLS = "ΣΨΦΩΞΠЖШЮЯДФ#@%"      # probe only: never shown to the judge in training
PROBE_SEED = 20_000              # the probe's own seed, far from the judge's training seed

# Fonts shipped with matplotlib. Training letters use the sans-serif and monospaced faces;
# the probe's letters use the serif, STIX and Computer Modern faces, which it never saw.
TRAIN_FONTS = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf",
               "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "cmss10.ttf")
PROBE_FONTS = ("DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf",
               "DejaVuSans-BoldOblique.ttf", "STIXGeneral.ttf", "STIXGeneralBol.ttf",
               "cmr10.ttf", "cmtt10.ttf")
SYMBOL_FONTS = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf")


def _check_variant(variant: str) -> None:
    if variant not in ("train", "probe"):
        raise ValueError(f"variant must be 'train' or 'probe', got {variant!r}")


def _none() -> torch.Tensor:
    return torch.empty(0, 1, SIZE, SIZE)


def _uniform(shape, lo, hi, generator) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(shape, generator=generator)


# ------------------------------------------------------------------------------- pen strokes

def render_strokes(points: torch.Tensor, pen: torch.Tensor, radius: torch.Tensor,
                   softness: torch.Tensor | float = 1.0, chunk: int = 32) -> torch.Tensor:
    """Draw polylines with a round pen: (n, 1, 28, 28) in [-1, 1].

    ``points`` (n, P, 2) are (x, y) pixel coordinates (x = column, y = row, pixel centres
    0..27); ``pen`` (n, P-1) says which segments points[k] -> points[k+1] are drawn (False:
    the pen is lifted); ``radius`` (n,) is half the stroke width in pixels. A pixel at
    distance d from the nearest drawn segment gets ink

        ink = clamp((radius - d) / softness + 1/2, 0, 1),

    an anti-aliased edge about ``softness`` pixels wide, as MNIST's strokes have.
    """
    n = len(points)
    radius = torch.as_tensor(radius, dtype=torch.float32).expand(n)
    softness = torch.as_tensor(softness, dtype=torch.float32).expand(n)
    qy, qx = torch.meshgrid(torch.arange(SIZE, dtype=torch.float32),
                            torch.arange(SIZE, dtype=torch.float32), indexing="ij")
    qx, qy = qx.flatten(), qy.flatten()                                    # (784,)
    out = []
    for i in range(0, n, chunk):  # (chunk, S, 784) at a time keeps memory small
        p, drawn = points[i:i + chunk].float(), pen[i:i + chunk]
        ax, ay = p[:, :-1, 0, None], p[:, :-1, 1, None]                   # (c, S, 1)
        bx, by = p[:, 1:, 0, None] - ax, p[:, 1:, 1, None] - ay           # segment vectors
        dx, dy = qx - ax, qy - ay                                         # (c, S, 784)
        # the nearest point of each segment is a + t (b - a), t clamped to [0, 1]
        t = ((dx * bx + dy * by) / (bx * bx + by * by).clamp(min=1e-9)).clamp(0, 1)
        d2 = (dx - t * bx) ** 2 + (dy - t * by) ** 2
        d = d2.masked_fill(~drawn[:, :, None], float("inf")).min(dim=1).values.sqrt()
        r, s = radius[i:i + chunk, None], softness[i:i + chunk, None]
        out.append(((r - d) / s + 0.5).clamp(0, 1))
    return (torch.cat(out) * 2 - 1).view(n, 1, SIZE, SIZE)


def fit_to_box(points: torch.Tensor, pen: torch.Tensor, box: torch.Tensor,
               offset: torch.Tensor | None = None) -> torch.Tensor:
    """Scale and move polylines (n, P, 2) as MNIST does its digits: the larger side of their
    bounding box becomes ``box`` (n,) pixels, their centre of mass goes to the canvas centre
    (plus ``offset`` (n, 2) pixels). The centre of mass of the ink is that of the drawn
    segments' midpoints weighted by their lengths."""
    drawn = torch.cat([pen, pen[:, -1:]], dim=1) | torch.cat([pen[:, :1], pen], dim=1)
    big = torch.tensor(1e9)
    lo = torch.where(drawn[..., None], points, big).amin(dim=1)           # (n, 2)
    hi = torch.where(drawn[..., None], points, -big).amax(dim=1)
    scale = box / (hi - lo).amax(dim=1).clamp(min=1e-3)                   # (n,)
    p = points * scale[:, None, None]
    seg = p[:, 1:] - p[:, :-1]
    w = seg.norm(dim=-1) * pen                                            # (n, S)
    mid = (p[:, 1:] + p[:, :-1]) / 2
    com = (mid * w[..., None]).sum(1) / w.sum(1, keepdim=True).clamp(min=1e-6)
    target = torch.full_like(com, CENTRE) if offset is None else CENTRE + offset
    return p - com[:, None] + target[:, None]


def _pad_strokes(strokes: list[list[np.ndarray]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Lists of strokes (each an (k, 2) array) per image -> points (n, P, 2), pen (n, P-1)."""
    flat = []
    for image in strokes:
        pts, pen = [], []
        for s in image:
            if pts:
                pen.append(False)  # lift the pen between strokes
            pts.extend(s.tolist())
            pen.extend([True] * (len(s) - 1))
        flat.append((pts, pen))
    p_max = max(len(p) for p, _ in flat)
    points = torch.zeros(len(flat), p_max, 2)
    pens = torch.zeros(len(flat), p_max - 1, dtype=torch.bool)
    for i, (pts, pen) in enumerate(flat):
        points[i, :len(pts)] = torch.tensor(pts)
        points[i, len(pts):] = torch.tensor(pts[-1])  # padding: zero-length, pen up
        pens[i, :len(pen)] = torch.tensor(pen, dtype=torch.bool)
    return points, pens


# The training pen, chosen so that drawn strokes have MNIST's stroke statistics (on 300
# scribbles against 1,000 training digits: ink (x > 0) 14% of the pixels against 13%,
# saturated (x > 0.98) 31% of the non-background pixels against 29%). A thicker pen
# (radius 1-2 px) gave 17% and 49%: the judge then learnt "thick = not a digit" and
# doubted thick real digits.
PEN_RADIUS = (0.6, 1.8)
PEN_SOFTNESS = (0.9, 1.8)


def _pen(n, generator, radius, softness):
    """Per-image stroke half-width and edge softness drawn from the given ranges."""
    return _uniform(n, *radius, generator), _uniform(n, *softness, generator)


def _place(points, pen, n, generator, box, shift, radius, softness):
    r, s = _pen(n, generator, radius, softness)
    box_px = _uniform(n, *box, generator) - 2 * r     # the ink, pen included, fills the box
    offset = _uniform((n, 2), -shift, shift, generator)
    return render_strokes(fit_to_box(points, pen, box_px, offset), pen, r, s)


# ----------------------------------------------------------------------------- old families

def uniform_noise(n: int, generator: torch.Generator | None = None, *,
                  variant: str = "train") -> torch.Tensor:
    """Pixel noise. train: uniform in [-1, 1]; probe: half Gaussian (clipped), half sparse
    salt-and-pepper on the background."""
    _check_variant(variant)
    if variant == "train":
        return torch.rand(n, 1, SIZE, SIZE, generator=generator) * 2 - 1
    gauss = (torch.randn(n, 1, SIZE, SIZE, generator=generator) * 0.6 - 0.2).clamp(-1, 1)
    density = _uniform((n, 1, 1, 1), 0.05, 0.4, generator)
    salt = torch.where(torch.rand(n, 1, SIZE, SIZE, generator=generator) < density, 1.0, -1.0)
    return torch.where(torch.arange(n)[:, None, None, None] % 2 == 0, gauss, salt)


def smooth_blobs(n: int, generator: torch.Generator | None = None, *,
                 variant: str = "train") -> torch.Tensor:
    """Smooth random fields: noise averaged over a window (train: 5 x 5; probe: 3 x 3 or
    7 x 7, twice) and sharpened with tanh."""
    _check_variant(variant)
    if n == 0:
        return _none()
    x = torch.rand(n, 1, SIZE, SIZE, generator=generator) * 2 - 1
    if variant == "train":
        x = F.avg_pool2d(x, 5, 1, 2, count_include_pad=False)
    else:
        k = 3 if torch.rand(1, generator=generator).item() < 0.5 else 7
        for _ in range(2):
            x = F.avg_pool2d(x, k, 1, k // 2, count_include_pad=False)
    return torch.tanh(x / x.flatten(1).std(dim=1).clamp(min=1e-6)[:, None, None, None])


def flat_grey(n: int, generator: torch.Generator | None = None, *,
              variant: str = "train") -> torch.Tensor:
    """One grey level per image (train); the probe adds linear ramps in a random direction."""
    _check_variant(variant)
    level = _uniform((n, 1, 1, 1), -1, 1, generator)
    if variant == "train":
        return level.expand(n, 1, SIZE, SIZE).clone()
    angle = _uniform(n, 0, 2 * math.pi, generator)
    ramp = torch.linspace(-1, 1, SIZE)
    field = (torch.cos(angle)[:, None, None] * ramp[None, None, :]
             + torch.sin(angle)[:, None, None] * ramp[None, :, None])
    return (level + 0.5 * field[:, None]).clamp(-1, 1)


def _digits_or_default(digits, labels, variant):
    if digits is None:
        from gan_course.judge import bundled_subset_split

        x_train, y_train, x_held, y_held = bundled_subset_split()
        # the probe draws from digits the judge never trained on
        digits, labels = (x_train, y_train) if variant == "train" else (x_held, y_held)
    return digits, labels


def shuffled_digits(n: int, generator: torch.Generator | None = None, *, digits=None,
                    variant: str = "train") -> torch.Tensor:
    """Real digits with their pixels shuffled: a digit's amount of ink, no strokes.
    ``digits`` default: the bundled training digits (train) or held-out digits (probe)."""
    _check_variant(variant)
    digits, _ = _digits_or_default(digits, None, variant)
    idx = torch.randint(0, len(digits), (n,), generator=generator)
    return shuffle_pixels(digits[idx], generator)


def shuffle_pixels(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each image of ``x`` (B, 1, 28, 28) with its own random permutation of its pixels."""
    perm = torch.argsort(torch.rand(len(x), SIZE * SIZE, generator=generator), dim=1)
    return x.detach().cpu().flatten(1).gather(1, perm).view(len(x), 1, SIZE, SIZE)


# --------------------------------------------------------------------------------- scribbles

def _walk_strokes(n, generator, steps, turn, zigzag, n_strokes):
    """Smooth random walks: the heading turns at a rate that itself drifts (loops when it
    stays large), with sudden reversals (zig-zags) and pen lifts between strokes."""
    theta = _uniform(n, 0, 2 * math.pi, generator)
    omega = torch.randn(n, generator=generator) * 0.3
    sigma = _uniform(n, *turn, generator)                 # how fast the turn rate drifts
    p_zig = _uniform(n, *zigzag, generator)
    pos = torch.zeros(n, 2)
    points = [pos]
    pen = []
    # pen lifts: 0-2 of them per image, at distinct steps away from both ends
    strokes = torch.randint(n_strokes[0], n_strokes[1] + 1, (n,), generator=generator)
    rank = torch.argsort(torch.rand(n, steps - 8, generator=generator), dim=1)
    lift = torch.zeros(n, steps, dtype=torch.bool)
    lift[:, 4:steps - 4] = rank < (strokes - 1)[:, None]
    for t in range(steps):
        omega = 0.85 * omega + sigma * torch.randn(n, generator=generator)
        flip = torch.rand(n, generator=generator) < p_zig
        sign = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
        theta = theta + omega + flip * sign * _uniform(n, 2.0, 2.8, generator)
        lifted = lift[:, t]
        jump = _uniform((n, 2), -6, 6, generator)
        step = torch.stack([torch.cos(theta), torch.sin(theta)], dim=1)
        pos = pos + torch.where(lifted[:, None], jump, step)
        points.append(pos)
        pen.append(~lifted)
    return torch.stack(points, dim=1), torch.stack(pen, dim=1)


def _bezier_strokes(n, generator, segments, samples=12):
    """Chains of cubic Bézier curves B(t) = (1-t)^3 P0 + 3(1-t)^2 t P1 + 3(1-t) t^2 P2 + t^3 P3
    with control points anywhere in the unit square (loops where they cross), joined
    smoothly (each P1 mirrors the previous P2 through the joint); ``segments`` = (lo, hi)
    pieces per image."""
    k_max = segments[1]
    k = torch.randint(segments[0], segments[1] + 1, (n,), generator=generator)
    ctrl = torch.rand(n, 3 * k_max + 1, 2, generator=generator)
    for j in range(1, k_max):  # C1 joints: P1 of segment j mirrors P2 of segment j-1
        ctrl[:, 3 * j + 1] = 2 * ctrl[:, 3 * j] - ctrl[:, 3 * j - 1]
    t = torch.linspace(0, 1, samples)[None, :, None]
    parts, piece = [], []
    for j in range(k_max):
        p0, p1, p2, p3 = (ctrl[:, 3 * j + m][:, None] for m in range(4))
        part = (1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * p1 + 3 * (1 - t) * t ** 2 * p2 + t ** 3 * p3
        parts.append(part if j == 0 else part[:, 1:])
        piece.extend([j] * (samples - 1))
    points = torch.cat(parts, dim=1)
    pen = torch.tensor(piece)[None] < k[:, None]             # (n, S): pieces past k_i unused
    # unused pieces collapse onto the chain's end, so they leave the bounding box alone
    end = points[torch.arange(n), (k * (samples - 1))]
    used = torch.cat([torch.ones(n, 1, dtype=torch.bool), pen], dim=1)
    return torch.where(used[..., None], points, end[:, None]), pen


def tangle(points: torch.Tensor, pen: torch.Tensor) -> torch.Tensor:
    """Drawn path length over the larger side of the bounding box, per polyline (n,).

    1 for a straight stroke (a 1), about 2 for a 7 or an arc, pi for a circle (a 0), 4 for
    an 8: scribbles are kept only from a minimum tangle on, so that none is a single line,
    arc or loop (which would teach the judge that a 1, a 7 or a 0 is not a digit)."""
    drawn = torch.cat([pen, pen[:, -1:]], dim=1) | torch.cat([pen[:, :1], pen], dim=1)
    big = torch.tensor(1e9)
    lo = torch.where(drawn[..., None], points, big).amin(dim=1)
    hi = torch.where(drawn[..., None], points, -big).amax(dim=1)
    length = ((points[:, 1:] - points[:, :-1]).norm(dim=-1) * pen).sum(1)
    return length / (hi - lo).amax(dim=1).clamp(min=1e-6)


MIN_TANGLE = 3.5        # training scribbles; the probe's go down to PROBE_MIN_TANGLE
PROBE_MIN_TANGLE = 2.5


def _tangled(make, n, min_tangle):
    """``n`` polylines from ``make(m)`` whose :func:`tangle` is at least ``min_tangle``:
    draws 2n at a time and keeps the first that pass (deterministic given the generator
    that ``make`` draws from)."""
    kept_p, kept_pen, have = [], [], 0
    for _ in range(50):
        points, pen = make(2 * max(n, 8))
        ok = tangle(points, pen) >= min_tangle
        kept_p.append(points[ok]), kept_pen.append(pen[ok])
        have += int(ok.sum())
        if have >= n:
            return torch.cat(kept_p)[:n], torch.cat(kept_pen)[:n]
    raise RuntimeError(f"only {have} of {n} scribbles reached tangle {min_tangle}; lower it")


def scribbles(n: int, generator: torch.Generator | None = None, *,
              variant: str = "train") -> torch.Tensor:
    """Random pen strokes, half smooth random walks (:func:`_walk_strokes`), half chained
    Bézier curves (:func:`_bezier_strokes`), fitted to the 20-pixel box.

    train: walks of 64 steps in 1-2 strokes, often zig-zagging, 3-5 Bézier pieces, the pen
    of :data:`PEN_RADIUS`, :func:`tangle` at least :data:`MIN_TANGLE` (3.5: a 9, a 2 or a 0
    has about 3, and a scribble shaped like one must not be taught as a non-digit);
    probe: simpler ones than that: walks of 48 steps in 1-3 strokes, fewer zig-zags, 2-4
    Bézier pieces, tangle from 2.5, pen radius 0.5-2.0 px.
    """
    _check_variant(variant)
    if n == 0:
        return _none()
    train = variant == "train"
    n_walk = n // 2
    walk = _tangled(lambda m: _walk_strokes(m, generator, steps=64 if train else 48,
                                            turn=(0.1, 0.5) if train else (0.05, 0.35),
                                            zigzag=(0.05, 0.2) if train else (0.0, 0.1),
                                            n_strokes=(1, 2) if train else (1, 3)),
                    n_walk, MIN_TANGLE if train else PROBE_MIN_TANGLE)
    bez = _tangled(lambda m: _bezier_strokes(m, generator, segments=(3, 5) if train else (2, 4)),
                   n - n_walk, MIN_TANGLE if train else PROBE_MIN_TANGLE)
    out = []
    for (points, pen), m in ((walk, n_walk), (bez, n - n_walk)):
        if m:
            out.append(_place(points, pen, m, generator, box=(17, 21) if train else (15, 21),
                              shift=1.0 if train else 1.5,
                              radius=PEN_RADIUS if train else (0.5, 2.0),
                              softness=PEN_SOFTNESS if train else (0.7, 2.0)))
    return torch.cat(out)


# --------------------------------------------------------------------------- letters, drawn

def _arc(cx, cy, rx, ry, a0, a1, k=7):
    a = np.linspace(a0, a1, k)
    return np.stack([cx + rx * np.cos(a), cy + ry * np.sin(a)], axis=1)


def _bowl(y1):
    """The closed bowl of P and R: down the stem's top, round to the right, back at y1."""
    r = y1 / 2
    return np.concatenate([[[0, 0]], _arc(0.55, r, 0.45, r, -np.pi / 2, np.pi / 2), [[0, y1]]])


# Skeletons in a unit box (x right, y down): strokes as a person writes them.
_SKELETONS = {
    "A": [[(0, 1), (0.5, 0), (1, 1)], [(0.22, 0.6), (0.78, 0.6)]],
    "E": [[(0.9, 0), (0, 0), (0, 1), (0.9, 1)], [(0, 0.5), (0.7, 0.5)]],
    "F": [[(0.9, 0), (0, 0), (0, 1)], [(0, 0.48), (0.7, 0.48)]],
    "H": [[(0, 0), (0, 1)], [(0.9, 0), (0.9, 1)], [(0, 0.5), (0.9, 0.5)]],
    "K": [[(0, 0), (0, 1)], [(0.9, 0), (0, 0.58)], [(0.3, 0.38), (0.95, 1)]],
    "M": [[(0, 1), (0.05, 0), (0.5, 0.65), (0.95, 0), (1, 1)]],
    "N": [[(0, 1), (0, 0), (0.85, 1), (0.85, 0)]],
    "P": [[(0, 1), (0, 0)], _bowl(0.55)],
    "R": [[(0, 1), (0, 0)], _bowl(0.52), [(0.35, 0.52), (0.95, 1)]],
    "T": [[(0, 0), (1, 0)], [(0.5, 0), (0.5, 1)]],
    "V": [[(0, 0), (0.5, 1), (1, 0)]],
    "W": [[(0, 0), (0.25, 1), (0.5, 0.3), (0.75, 1), (1, 0)]],
    "X": [[(0, 0), (1, 1)], [(1, 0), (0, 1)]],
    "Y": [[(0, 0), (0.5, 0.48), (1, 0)], [(0.5, 0.48), (0.5, 1)]],
}
_WIDTH = {"M": 1.0, "W": 1.1, "T": 0.85, "A": 0.85}  # width / height; the others 0.7


def _subdivide(stroke: np.ndarray, step: float = 0.08) -> np.ndarray:
    """Points every ``step`` along a polyline, so that wobble can bend its straight parts."""
    out = [stroke[0]]
    for a, b in zip(stroke[:-1], stroke[1:]):
        k = max(1, int(np.ceil(np.linalg.norm(b - a) / step)))
        out.extend(a + (b - a) * (i / k) for i in range(1, k + 1))
    return np.array(out)


def stroke_letters(n: int, generator: torch.Generator | None = None, *,
                   variant: str = "train", letters: str = LETTERS) -> torch.Tensor:
    """Capital letters written with the pen of :func:`render_strokes`: each letter's skeleton
    with its control points jittered, a smooth wobble, random slant, rotation and aspect.

    train: jitter 0.05, slant +-0.35, rotation +-12 degrees, the pen of :data:`PEN_RADIUS`;
    probe: jitter 0.08, slant +-0.5, rotation +-18 degrees, pen radius 0.5-2.0 px.
    """
    _check_variant(variant)
    if n == 0:
        return _none()
    train = variant == "train"
    jitter, slant, rot = (0.05, 0.35, 12) if train else (0.08, 0.5, 18)
    which = torch.randint(0, len(letters), (n,), generator=generator)
    slants = _uniform(n, -slant, slant, generator)
    angles = _uniform(n, -rot, rot, generator) * math.pi / 180
    aspects = _uniform(n, 0.8, 1.25, generator)
    images = []
    for i in range(n):
        ch = letters[int(which[i])]
        width = _WIDTH.get(ch, 0.7) * float(aspects[i])
        c, s = math.cos(float(angles[i])), math.sin(float(angles[i]))
        strokes = []
        for stroke in _SKELETONS[ch]:
            pts = np.asarray(stroke, dtype=np.float64)
            pts = pts + jitter * torch.randn(pts.shape, generator=generator, dtype=torch.float64).numpy()
            pts = _subdivide(pts)
            phase = float(torch.rand(1, generator=generator)) * 2 * np.pi
            wobble = 0.015 * np.sin(np.linspace(0, 2 * np.pi, len(pts))[:, None] * 1.5 + phase)
            pts = pts + wobble
            x = pts[:, 0] * width - float(slants[i]) * (pts[:, 1] - 0.5)  # slant: shear in x
            y = pts[:, 1]
            strokes.append(np.stack([c * x - s * y, s * x + c * y], axis=1))
        images.append(strokes)
    points, pen = _pad_strokes(images)
    return _place(points, pen, n, generator, box=(17, 21) if train else (15, 21),
                  shift=1.0 if train else 1.5,
                  radius=PEN_RADIUS if train else (0.5, 2.0),
                  softness=PEN_SOFTNESS if train else (0.7, 2.0))


# ---------------------------------------------------------------------------- letters, fonts

_BANK_SIZE = 64    # glyph bank canvas (pixels); a glyph's larger side is _GLYPH of them
_GLYPH = 48


def _font_file(name: str) -> Path:
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name
    if not path.exists():
        raise FileNotFoundError(f"font {name} not found in matplotlib's fonts ({path.parent}); "
                                "the non-digit letters need matplotlib's bundled fonts: "
                                "reinstall matplotlib from requirements.txt")
    return path


@functools.lru_cache(maxsize=None)
def glyph_bank(chars: str, fonts: tuple[str, ...]) -> torch.Tensor:
    """Every character of ``chars`` in every font, rendered once with matplotlib's Agg
    (offline, deterministic): (len(fonts) * len(chars), 1, 64, 64) ink coverage in [0, 1],
    each glyph's bounding box centred with its larger side 48 pixels."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

    res = 160
    glyphs = []
    for font in fonts:
        prop = FontProperties(fname=str(_font_file(font)), size=res * 0.55)  # size in points
        for ch in chars:
            fig = Figure(figsize=(1, 1), dpi=res)
            canvas = FigureCanvasAgg(fig)
            fig.text(0.5, 0.5, ch, ha="center", va="center", fontproperties=prop, color="black")
            canvas.draw()
            ink = 1 - np.asarray(canvas.buffer_rgba())[..., 0].astype(np.float32) / 255
            rows, cols = np.nonzero(ink > 0.05)
            if len(rows) == 0:
                raise ValueError(f"font {font} has no glyph for {ch!r}")
            crop = torch.from_numpy(ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1].copy())
            h, w = crop.shape
            scale = _GLYPH / max(h, w)
            hh, ww = max(1, round(h * scale)), max(1, round(w * scale))
            small = F.interpolate(crop[None, None], size=(hh, ww), mode="area")[0, 0]
            canvas_t = torch.zeros(_BANK_SIZE, _BANK_SIZE)
            top, left = (_BANK_SIZE - hh) // 2, (_BANK_SIZE - ww) // 2
            canvas_t[top:top + hh, left:left + ww] = small
            glyphs.append(canvas_t)
    return torch.stack(glyphs)[:, None]


def _thicken(x: torch.Tensor, amount: torch.Tensor) -> torch.Tensor:
    """Per-image dilation of coverage by 0, 1 or 2 bank pixels (``amount`` (n,)). Never
    erosion: thin faces would lose strokes (a T thinned to its stem is a 1)."""
    variants = [x, F.max_pool2d(x, 3, 1, 1), F.max_pool2d(x, 5, 1, 2)]
    out = torch.stack(variants)                                      # (3, n, 1, H, W)
    return out[amount, torch.arange(len(x))]


def font_glyphs(n: int, generator: torch.Generator | None, chars: str, fonts: tuple[str, ...],
                *, rot: float = 12, slant: float = 0.3, box=(16, 20), shift: float = 1.0,
                thin: bool = False) -> torch.Tensor:
    """Glyphs of ``chars`` in ``fonts`` (:func:`glyph_bank`) with random thickness, rotation
    (+-``rot`` degrees), slant, aspect and size (larger side ``box`` pixels), centre of mass
    at the canvas centre: (n, 1, 28, 28) in [-1, 1]. Sampled at 56 x 56 and averaged 2 x 2
    for anti-aliasing."""
    if n == 0:
        return _none()
    bank = glyph_bank(chars, tuple(fonts))
    idx = torch.randint(0, len(bank), (n,), generator=generator)
    g = _thicken(bank[idx], torch.randint(0, 3, (n,), generator=generator) // 2
                 if thin else torch.randint(0, 3, (n,), generator=generator))
    # centre of mass of each glyph, in grid_sample's normalised coordinates [-1, 1]
    coords = (torch.arange(_BANK_SIZE, dtype=torch.float32) + 0.5) / _BANK_SIZE * 2 - 1
    mass = g.sum(dim=(1, 2, 3)).clamp(min=1e-6)
    com_x = (g.sum(dim=2)[:, 0] * coords).sum(1) / mass
    com_y = (g.sum(dim=3)[:, 0] * coords).sum(1) / mass
    # output normalised units -> bank units: the glyph's 48 bank pixels become `box` pixels
    size = _uniform(n, *box, generator)
    zoom = (_GLYPH / _BANK_SIZE) / (size / SIZE)
    angle = _uniform(n, -rot, rot, generator) * math.pi / 180
    shear = _uniform(n, -slant, slant, generator)
    aspect = _uniform(n, 0.85, 1.15, generator)
    c, s = torch.cos(angle), torch.sin(angle)
    # theta maps output (x, y) to input (x, y): rotate, shear, stretch, then zoom
    a11, a12 = c * aspect, -s + shear
    a21, a22 = s * aspect, c
    off = _uniform((n, 2), -shift, shift, generator) * 2 / SIZE
    theta = torch.stack([torch.stack([a11 * zoom, a12 * zoom, com_x - off[:, 0] * zoom], 1),
                         torch.stack([a21 * zoom, a22 * zoom, com_y - off[:, 1] * zoom], 1)], 1)
    grid = F.affine_grid(theta, (n, 1, 2 * SIZE, 2 * SIZE), align_corners=False)
    ink = F.avg_pool2d(F.grid_sample(g, grid, align_corners=False), 2)
    return ink.clamp(0, 1) * 2 - 1


def font_letters(n: int, generator: torch.Generator | None = None, *,
                 variant: str = "train", letters: str = LETTERS) -> torch.Tensor:
    """Capital letters unlike digits in matplotlib's fonts (train: :data:`TRAIN_FONTS`;
    probe: :data:`PROBE_FONTS`, with more rotation and slant), in MNIST's 20-pixel box."""
    _check_variant(variant)
    if variant == "train":
        return font_glyphs(n, generator, letters, TRAIN_FONTS, rot=12, slant=0.3, thin=True)
    return font_glyphs(n, generator, letters, PROBE_FONTS, rot=18, slant=0.4, box=(15, 21),
                       shift=1.5)


def letters(n: int, generator: torch.Generator | None = None, *,
            variant: str = "train") -> torch.Tensor:
    """Capital letters unlike digits: half written with the pen (:func:`stroke_letters`),
    half in fonts (:func:`font_letters`)."""
    half = n // 2
    return torch.cat([stroke_letters(half, generator, variant=variant),
                      font_letters(n - half, generator, variant=variant)])


def symbols(n: int, generator: torch.Generator | None = None, *,
            variant: str = "probe") -> torch.Tensor:
    """Greek and Cyrillic capitals and # @ % (:data:`SYMBOLS`) in DejaVu fonts. Never used in
    training: the probe's check of whether "not a digit" generalises."""
    _check_variant(variant)
    return font_glyphs(n, generator, SYMBOLS, SYMBOL_FONTS, rot=15, slant=0.3)


# ---------------------------------------------------------------------------- overlaid digits

def _shift_images(x: torch.Tensor, max_shift: int, generator) -> torch.Tensor:
    from gan_course.judge import random_shift

    return random_shift(x, max_shift, generator)


MIN_VISIBLE = 0.5  # training overlays: share of each digit's ink the other must leave uncovered


def overlaid_digits(n: int, generator: torch.Generator | None = None, *, digits=None,
                    labels=None, variant: str = "train", return_pairs: bool = False):
    """Two real digits of different classes drawn over each other: max(x_a, shift(x_b))
    pixel-wise, with y_a != y_b and x_b moved by up to 2 (train) or 3 (probe) pixels.

    ``digits``, ``labels`` default to the bundled training digits (train) or the held-out
    ones (probe). Pairs are drawn as a random digit and one of a random *other* class.
    Training pairs keep at least :data:`MIN_VISIBLE` of each digit's ink (x > 0) off the
    other's: a 1 drawn along the stem of a 7 is still a 7, and must not be taught as a
    non-digit. The probe keeps every pair. With ``return_pairs``, also returns the indices
    (a, b) into ``digits`` of each pair.
    """
    _check_variant(variant)
    digits, labels = _digits_or_default(digits, labels, variant)
    labels = torch.as_tensor(labels).cpu()
    classes = torch.unique(labels)
    if len(classes) < 2:
        raise ValueError("overlaid_digits needs digits of at least two classes, got "
                         f"only class {classes.tolist()}")
    order = torch.argsort(labels, stable=True)
    counts = torch.bincount(labels, minlength=10)
    starts = torch.cumsum(counts, 0) - counts
    present = (counts > 0).nonzero().view(-1)

    def pairs(m):
        a = torch.randint(0, len(labels), (m,), generator=generator)
        # another class than y_a, uniformly among the classes present
        pos_a = (present[None] == labels[a][:, None]).float().argmax(1)
        k = torch.randint(1, len(present), (m,), generator=generator)
        yb = present[(pos_a + k) % len(present)]
        b = order[starts[yb] + (torch.rand(m, generator=generator) * counts[yb]).long()]
        xa = digits[a].cpu()
        xb = _shift_images(digits[b].cpu(), 2 if variant == "train" else 3, generator)
        return torch.maximum(xa, xb), a, b, xa, xb

    if variant == "probe":
        out, a, b, _, _ = pairs(n)
    else:
        kept, have = [], 0
        while not kept or have < n:
            out, a, b, xa, xb = pairs(2 * max(n - have, 8))
            ink_a, ink_b = xa > 0, xb > 0
            vis_a = (ink_a & ~ink_b).sum((1, 2, 3)) / ink_a.sum((1, 2, 3)).clamp(min=1)
            vis_b = (ink_b & ~ink_a).sum((1, 2, 3)) / ink_b.sum((1, 2, 3)).clamp(min=1)
            ok = torch.minimum(vis_a, vis_b) >= MIN_VISIBLE
            kept.append((out[ok], a[ok], b[ok]))
            have += int(ok.sum())
        out, a, b = (torch.cat(t)[:n] for t in zip(*kept))
    return (out, a, b) if return_pairs else out


# ----------------------------------------------------------------------------- speckled blots

def speckled_blots(n: int, generator: torch.Generator | None = None, *,
                   variant: str = "train") -> torch.Tensor:
    """Salt noise inside a blob the size of a digit: what an MLP GAN collapses to.

    train: the blob is a smooth random field thresholded inside a central ellipse;
    probe: a union of 2-5 Gaussian bumps. Inside, each pixel is ink with probability
    p ~ U(0.35, 0.95) (grey-levelled); outside, a few stray specks.
    """
    _check_variant(variant)
    if n == 0:
        return _none()
    ys, xs = torch.meshgrid(torch.arange(SIZE, dtype=torch.float32),
                            torch.arange(SIZE, dtype=torch.float32), indexing="ij")
    if variant == "train":
        field = torch.rand(n, 1, SIZE, SIZE, generator=generator)
        field = F.avg_pool2d(F.avg_pool2d(field, 5, 1, 2, count_include_pad=False), 5, 1, 2,
                             count_include_pad=False)
        field = (field - field.mean(dim=(2, 3), keepdim=True)) / field.std(dim=(2, 3), keepdim=True)
        rx, ry = _uniform((n, 1, 1, 1), 6, 10, generator), _uniform((n, 1, 1, 1), 7, 11, generator)
        ell = ((xs - CENTRE) / rx) ** 2 + ((ys - CENTRE) / ry) ** 2
        mask = (field + 1.5 * (1 - ell)) > _uniform((n, 1, 1, 1), 0.0, 1.0, generator)
    else:
        k = 5
        centres = CENTRE + _uniform((n, k, 1, 1, 2), -5, 5, generator)
        widths = _uniform((n, k, 1, 1), 2.5, 5, generator)
        use = torch.arange(k)[None] < torch.randint(2, k + 1, (n, 1), generator=generator)
        bumps = torch.exp(-((xs - centres[..., 0]) ** 2 + (ys - centres[..., 1]) ** 2) / (2 * widths ** 2))
        mask = ((bumps * use[..., None, None]).amax(dim=1, keepdim=True) > 0.4)
    p = _uniform((n, 1, 1, 1), 0.35, 0.95, generator)
    on = torch.rand(n, 1, SIZE, SIZE, generator=generator) < p
    level = _uniform((n, 1, SIZE, SIZE), 0.0, 1.0, generator)
    inside = torch.where(on, level, _uniform((n, 1, SIZE, SIZE), -1.0, -0.4, generator))
    stray = torch.rand(n, 1, SIZE, SIZE, generator=generator) < _uniform((n, 1, 1, 1), 0, 0.04, generator)
    outside = torch.where(stray, level * 1.5 - 0.5, torch.tensor(-1.0))
    return torch.where(mask, inside, outside)


# ------------------------------------------------------------------------ the training mixture

# Share of each family among the non-digits in a training batch. The ones closest to digits
# (pen scribbles, letters, overlaid digits) get most: pixel noise, blobs and grey are learnt
# from a few. With shares (1, 1, 0.5, 1, 2, 2, 2, 1.5), batches of 32 and outlier weight 0.2,
# the judge sharpened until 95% of the held-out digits were confident still called 14.7% of
# 300 probe overlays digits; the shipped recipe with these shares: 7.4% of 1,000.
TRAIN_MIX = {
    "uniform_noise": 0.3,
    "smooth_blobs": 0.4,
    "flat_grey": 0.2,
    "shuffled_digits": 0.3,
    "scribbles": 6.0,
    "letters": 3.5,
    "overlaid_digits": 5.0,
    "speckled_blots": 0.7,
}


def training_non_digits(x: torch.Tensor, generator: torch.Generator | None = None,
                        y: torch.Tensor | None = None, mix: dict | None = None) -> torch.Tensor:
    """One non-digit per image of ``x`` (B, 1, 28, 28), families drawn with the shares of
    :data:`TRAIN_MIX`, all in their ``"train"`` variant, on ``x``'s device.

    The shuffled ones shuffle the pixels of the ``x`` at their position; the overlaid ones
    pair digits of ``x`` whose labels ``y`` differ (without ``y``: the bundled training
    digits), so nothing outside the digits being trained on is used.
    """
    mix = TRAIN_MIX if mix is None else mix
    names = list(mix)
    unknown = [k for k in names if k not in _TRAIN_FAMILIES]
    if unknown:
        raise ValueError(f"unknown non-digit families {unknown}; choose from {list(_TRAIN_FAMILIES)}")
    b = len(x)
    weights = torch.tensor([float(mix[k]) for k in names])
    kind = torch.multinomial(weights, b, replacement=True, generator=generator)
    out = torch.empty(b, 1, SIZE, SIZE)
    xc = x.detach().cpu()
    if y is not None and len(torch.unique(y)) < 2:
        y = None  # a batch of one class cannot make a pair of different digits
    for k, name in enumerate(names):
        pos = (kind == k).nonzero().view(-1)
        if len(pos) == 0:
            continue
        if name == "shuffled_digits":
            out[pos] = shuffle_pixels(xc[pos], generator)
        elif name == "overlaid_digits" and y is not None:
            out[pos] = overlaid_digits(len(pos), generator, digits=xc, labels=y.cpu())
        else:
            out[pos] = _TRAIN_FAMILIES[name](len(pos), generator, variant="train")
    return out.to(x.device)


_TRAIN_FAMILIES = {
    "uniform_noise": uniform_noise,
    "smooth_blobs": smooth_blobs,
    "flat_grey": flat_grey,
    "shuffled_digits": shuffled_digits,
    "scribbles": scribbles,
    "letters": letters,
    "overlaid_digits": overlaid_digits,
    "speckled_blots": speckled_blots,
}


# -------------------------------------------------------------------------------- the probe

# name in the report: (how it is drawn, whether the judge was taught this family)
PROBE_FAMILIES = {
    "pixel noise (Gaussian, salt)": (uniform_noise, True),
    "smooth blobs (other scales)": (smooth_blobs, True),
    "grey levels and ramps": (flat_grey, True),
    "shuffled held-out digits": (shuffled_digits, True),
    "scribbles": (scribbles, True),
    "letters, pen": (stroke_letters, True),
    "letters, unseen fonts": (font_letters, True),
    "overlaid held-out digits": (overlaid_digits, True),
    "speckled blots (Gaussian bumps)": (speckled_blots, True),
    "symbols (never taught)": (symbols, False),
}


def probe_set(n: int = 300, seed: int = PROBE_SEED) -> dict[str, torch.Tensor]:
    """``{family: (n, 1, 28, 28) images}``: every family of :data:`PROBE_FAMILIES` in its
    ``"probe"`` variant, each from its own generator seeded ``seed + k`` (k = its place), so
    a family's images do not depend on which others are drawn or on ``n`` of the others."""
    out = {}
    for k, (name, (family, _)) in enumerate(PROBE_FAMILIES.items()):
        out[name] = family(n, torch.Generator().manual_seed(seed + k), variant="probe")
    return out


def probe_report(judge=None, n: int = 300, seed: int = PROBE_SEED) -> dict:
    """How often ``judge`` (default: the shipped one) is fooled, per probe family.

    Returns ``{"families": {name: row}, "heldout": row}``. A family's row has ``taught``
    (whether training showed the judge that family, in its other variant), ``n``,
    ``confident_fraction`` (share of images with max_c p(c | x) > ``metrics.CONFIDENT``:
    called a digit with confidence, i.e. fooled), ``mean_confidence`` and ``top_class``
    (the class it most often picks). ``heldout`` is the same for the bundled subset's 2,000
    held-out real digits, with their ``accuracy``: there a high confident fraction is good.
    """
    from gan_course.judge import bundled_subset_split
    from gan_course.metrics import _judge_or_default, judge_outputs, scores_from_log_probs

    judge = _judge_or_default(judge)
    families = {}
    for name, images in probe_set(n, seed).items():
        log_probs, _ = judge_outputs(images, judge)
        s = scores_from_log_probs(log_probs)
        families[name] = {"taught": PROBE_FAMILIES[name][1], "n": s["n"],
                          "confident_fraction": s["confident_fraction"],
                          "mean_confidence": s["mean_confidence"],
                          "top_class": int(torch.tensor(s["class_counts"]).argmax())}
    _, _, x_held, y_held = bundled_subset_split()
    log_probs, _ = judge_outputs(x_held, judge)
    s = scores_from_log_probs(log_probs)
    heldout = {"n": s["n"], "confident_fraction": s["confident_fraction"],
               "mean_confidence": s["mean_confidence"],
               "accuracy": float((log_probs.argmax(1) == y_held).double().mean())}
    return {"families": families, "heldout": heldout}


def format_probe_report(report: dict) -> str:
    """:func:`probe_report` as a text table, one line per family, real digits last."""
    lines = [f"{'family':<34}{'taught':>7}{'confident':>11}{'mean conf.':>12}{'top class':>11}"]
    for name, r in report["families"].items():
        lines.append(f"{name:<34}{'yes' if r['taught'] else 'no':>7}{r['confident_fraction']:>11.1%}"
                     f"{r['mean_confidence']:>12.3f}{r['top_class']:>11d}")
    h = report["heldout"]
    lines.append(f"{'real held-out digits':<34}{'':>7}{h['confident_fraction']:>11.1%}"
                 f"{h['mean_confidence']:>12.3f}   accuracy {h['accuracy']:.1%}")
    return "\n".join(lines)
