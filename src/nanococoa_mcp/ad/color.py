"""Colour maths shared by the stages: WCAG luminance and contrast, hex, dominant colours."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

RGB = tuple[int, int, int]


def _srgb_to_linear(c: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


_LINEAR_OF_BYTE = _srgb_to_linear(np.arange(256, dtype=np.float64) / 255.0)
_WEIGHTS = (0.2126, 0.7152, 0.0722)
_LUMINANCE_OF_BYTE = tuple(_LINEAR_OF_BYTE * w for w in _WEIGHTS)  # each channel's share, by byte value (whole
# images are measured per ad: a table lookup instead of a power per pixel)


def relative_luminance(rgb: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """WCAG 2.x relative luminance of sRGB colours (last axis = RGB, 0..255)."""
    array = np.asarray(rgb)
    if array.dtype == np.uint8:
        red, green, blue = _LUMINANCE_OF_BYTE
        return red[array[..., 0]] + green[array[..., 1]] + blue[array[..., 2]]
    lin = _srgb_to_linear(array.astype(np.float64) / 255.0)
    return lin[..., 0] * _WEIGHTS[0] + lin[..., 1] * _WEIGHTS[1] + lin[..., 2] * _WEIGHTS[2]


def contrast_ratio(lum_a: float, lum_b: float) -> float:
    hi, lo = max(lum_a, lum_b), min(lum_a, lum_b)
    return (hi + 0.05) / (lo + 0.05)


def hex_to_rgb(value: str) -> RGB:
    v = value.lstrip("#")
    if len(v) == 3:
        v = "".join(ch * 2 for ch in v)
    return int(v[0:2], 16), int(v[2:4], 16), int(v[4:6], 16)


def rgb_to_hex(rgb: npt.ArrayLike) -> str:
    r, g, b = (round(float(x)) for x in np.clip(np.asarray(rgb, dtype=np.float64), 0, 255)[:3])
    return f"#{r:02X}{g:02X}{b:02X}"


def dominant_colors(
    rgb: npt.NDArray[np.uint8], mask: npt.NDArray[np.bool_] | None = None, k: int = 3, seed: int = 0
) -> list[RGB]:
    """The k most common colours (k-means in RGB on a sample), most frequent first."""
    pixels = rgb.reshape(-1, 3) if mask is None else rgb[mask]
    if pixels.shape[0] == 0:
        return [(128, 128, 128)] * k
    rng = np.random.default_rng(seed)
    if pixels.shape[0] > 4000:
        pixels = pixels[rng.choice(pixels.shape[0], 4000, replace=False)]
    data = pixels.astype(np.float32)
    k_eff = min(k, len(np.unique(pixels, axis=0)))
    centers = data[rng.choice(data.shape[0], k_eff, replace=False)]
    for _ in range(12):
        d = ((data[:, None, :] - centers[None, :, :]) ** 2).sum(-1)
        labels = d.argmin(1)
        for j in range(k_eff):
            sel = data[labels == j]
            if len(sel):
                centers[j] = sel.mean(0)
    counts = np.bincount(labels, minlength=k_eff)
    order = np.argsort(-counts)
    out: list[RGB] = [tuple(round(float(c)) for c in centers[i]) for i in order]  # type: ignore[misc]
    while len(out) < k:
        out.append(out[-1])
    return out
