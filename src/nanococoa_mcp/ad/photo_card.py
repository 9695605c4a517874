"""The photo card: when no trustworthy cut-out exists (nothing stands apart from the backdrop, or the cut-out's
confidence is low), the photo itself stands in the scene instead of a cut-out: cropped around its likely
subject, mounted on a light border with rounded corners. It is an opaque RGBA "product" like any cut-out, so
the compose stage places it and casts its soft shadow, the layout keeps the copy beside it, and the quality
report checks its pixels are unchanged.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

RGBA = npt.NDArray[np.uint8]

MOUNT_RGB = (250, 248, 244)  # a warm off-white, like a print's border
MOUNT_FRAC = 0.035  # border width as a share of the card's long side
CORNER_FRAC = 0.045  # corner radius as a share of the card's long side
SUBJECT_MARGIN = 0.12  # around a subject mask's box, as a share of its size
CENTRE_SHARE = 0.86  # with no subject mask: the central share of each side
ASPECT_RANGE = (0.75, 1.33)  # width / height of the crop
MIN_SUBJECT_SHARE, MAX_SUBJECT_SHARE = 0.02, 0.9  # a mask outside these shares of the photo says nothing
MIN_CROP_SHARE = 0.5  # the crop spans at least this share of the photo's width and of its height


def subject_box(shape: tuple[int, int], subject: npt.NDArray[np.bool_] | None) -> tuple[int, int, int, int]:
    """x0, y0, x1, y1 (exclusive) of the crop around the photo's likely subject: the subject mask's box with a
    margin when the mask is plausible, else the photo's centre; at least MIN_CROP_SHARE of the photo each way
    (a card stands in for an untrustworthy cut-out: a small mask may be a stray piece, and a crop of it alone
    showed scikit-image's rocket as a patch of sky), widened to a card-like aspect within the photo."""
    h, w = shape
    if subject is not None and MIN_SUBJECT_SHARE <= float(subject.mean()) <= MAX_SUBJECT_SHARE:
        rows, cols = np.flatnonzero(subject.any(axis=1)), np.flatnonzero(subject.any(axis=0))
        y0, y1, x0, x1 = float(rows[0]), float(rows[-1] + 1), float(cols[0]), float(cols[-1] + 1)
        my, mx = (y1 - y0) * SUBJECT_MARGIN, (x1 - x0) * SUBJECT_MARGIN
        y0, y1, x0, x1 = y0 - my, y1 + my, x0 - mx, x1 + mx
    else:
        y0, y1 = h * (1 - CENTRE_SHARE) / 2, h * (1 + CENTRE_SHARE) / 2
        x0, x1 = w * (1 - CENTRE_SHARE) / 2, w * (1 + CENTRE_SHARE) / 2
    if x1 - x0 < MIN_CROP_SHARE * w:
        x0, x1 = _grow(x0, x1, MIN_CROP_SHARE * w, w)
    if y1 - y0 < MIN_CROP_SHARE * h:
        y0, y1 = _grow(y0, y1, MIN_CROP_SHARE * h, h)
    bw, bh = x1 - x0, y1 - y0
    lo, hi = ASPECT_RANGE
    if bw / bh < lo:  # too tall: widen
        x0, x1 = _grow(x0, x1, bh * lo, w)
    elif bw / bh > hi:  # too wide: heighten
        y0, y1 = _grow(y0, y1, bw / hi, h)
    return int(max(0, x0)), int(max(0, y0)), int(min(w, round(x1))), int(min(h, round(y1)))


def _grow(a: float, b: float, length: float, limit: int) -> tuple[float, float]:
    """[a, b) grown about its centre to `length`, shifted (then clipped) to stay inside [0, limit)."""
    length = min(length, float(limit))
    c = (a + b) / 2
    a, b = c - length / 2, c + length / 2
    if a < 0:
        a, b = 0.0, length
    if b > limit:
        a, b = limit - length, float(limit)
    return a, b


def photo_card(rgb: npt.NDArray[np.uint8], subject: npt.NDArray[np.bool_] | None = None) -> RGBA:
    """The card: the crop around the subject, its pixels unchanged, on a mount with anti-aliased rounded
    corners (alpha below 255 only at the corners)."""
    x0, y0, x1, y1 = subject_box(rgb.shape[:2], subject)
    crop = rgb[y0:y1, x0:x1]
    ch, cw = crop.shape[:2]
    border = max(2, round(MOUNT_FRAC * max(ch, cw)))
    h, w = ch + 2 * border, cw + 2 * border
    card = np.empty((h, w, 4), np.uint8)
    card[..., :3] = MOUNT_RGB
    card[border : border + ch, border : border + cw, :3] = crop
    card[..., 3] = _rounded_alpha(h, w, max(3.0, CORNER_FRAC * max(h, w)))
    return card


def _rounded_alpha(h: int, w: int, radius: float) -> npt.NDArray[np.uint8]:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32) + 0.5
    # Distance outside the rectangle shrunk by the radius, minus the radius: <= 0 inside the rounded shape.
    dx = np.maximum(np.maximum(radius - xx, xx - (w - radius)), 0.0)
    dy = np.maximum(np.maximum(radius - yy, yy - (h - radius)), 0.0)
    outside = np.hypot(dx, dy) - radius
    return np.clip(np.rint((0.5 - outside) * 255.0), 0, 255).astype(np.uint8)
