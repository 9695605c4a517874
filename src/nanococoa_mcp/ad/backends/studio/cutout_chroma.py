"""Shading-tolerant colour evidence for the cut-out on busy backdrops.

The shaded side of a fruit is the same hue as its lit side, only darker; an RGB histogram calls it
"dark, like the cloth's folds". Chromaticity (colour divided by brightness) keeps it apart.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.ndimage import gaussian_filter

FloatArray = npt.NDArray[np.float32]

CHROMA_BINS = 32
DARK_FLOOR = 45.0  # added to the brightness sum: very dark pixels drift to neutral (their hue is noise)


def chroma_bins(img: FloatArray) -> npt.NDArray[np.int64]:
    """Each pixel's bin in a 2D opponent chromaticity: red-green and yellow-blue over brightness."""
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    total = r + g + b + DARK_FLOOR
    rg = (r - g) / total            # -1..1
    yb = (r + g - 2.0 * b) / total  # -2..2
    i = np.clip((rg + 1.0) * (CHROMA_BINS / 2.0), 0, CHROMA_BINS - 1).astype(np.int64)
    j = np.clip((yb + 2.0) * (CHROMA_BINS / 4.0), 0, CHROMA_BINS - 1).astype(np.int64)
    return i * CHROMA_BINS + j


def chroma_density(counts: npt.NDArray[np.float32]) -> FloatArray:
    """Smoothed, normalised 2D chromaticity histogram from per-bin counts."""
    hist = gaussian_filter(counts.reshape(CHROMA_BINS, CHROMA_BINS).astype(np.float32), 1.0, mode="constant")
    return (hist / max(float(hist.sum()), 1e-9)).ravel()


def chroma_ratio(img: FloatArray, border: FloatArray) -> FloatArray:
    """How common each pixel's chromaticity is on the border relative to the whole photo."""
    bins = chroma_bins(img)
    photo = chroma_density(np.bincount(bins.ravel(), minlength=CHROMA_BINS**2).astype(np.float32))
    return np.maximum(border[bins] / (photo[bins] + 1e-9), 1e-6).astype(np.float32)
