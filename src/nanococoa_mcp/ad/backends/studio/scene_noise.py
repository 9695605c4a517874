"""Noise and shaping helpers for the procedural scenes: tileable fractal noise, smoothstep, soft shapes."""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
TILE = 256
FEATURE = 32.0  # texels: the tiles hold no structure larger than this, so a feature size can be asked for


def f32(a: object) -> F32:
    """The array as float32 (no copy when it already is): OpenCV's stubs lose the dtype."""
    return np.asarray(a, dtype=np.float32)


@lru_cache(maxsize=8)
def fbm_tile(beta: float, key: int = 0) -> F32:
    """A TILE×TILE tileable noise tile (zero mean, unit std): a 1/f^beta spectrum above 1/FEATURE.

    Built once per process: scenes vary by sampling it at seeded offsets, not by rebuilding it.
    """
    rng = np.random.default_rng(1234 + key)
    white = rng.standard_normal((TILE, TILE))
    fy = np.fft.fftfreq(TILE)[:, None]
    fx = np.fft.fftfreq(TILE)[None, :]
    f = np.sqrt(fx * fx + fy * fy)
    f[0, 0] = 1.0
    highpass = 1.0 - np.exp(-((f * FEATURE) ** 2))
    spectrum = np.fft.fft2(white) * highpass / f ** (beta / 2.0)
    spectrum[0, 0] = 0.0
    tile = np.real(np.fft.ifft2(spectrum))
    tile = (tile - tile.mean()) / (tile.std() + 1e-9)
    out = tile.astype(np.float32)
    out.setflags(write=False)
    return out


def sample(tile: F32, u: F32, v: F32) -> F32:
    """Sample a tile at texel coordinates (u, v), wrapping around its edges (cubic: smooth when magnified)."""
    return f32(cv2.remap(tile, u, v, interpolation=cv2.INTER_CUBIC, borderMode=cv2.BORDER_WRAP))


def field(shape: tuple[int, int], cell: float, rng: np.random.Generator, beta: float = 2.0) -> F32:
    """Smooth value noise over an image, features about `cell` px across, finer octaves weighted by
    2^(-beta/2) each (high beta: smooth blobs; low beta: rougher). Roughly zero mean, unit std."""
    h, w = shape
    out = np.zeros((h, w), np.float32)
    total = 0.0
    amp, size = 1.0, max(cell, 2.0)
    for _ in range(4):
        gh, gw = int(h / size) + 3, int(w / size) + 3
        coarse = rng.standard_normal((gh, gw)).astype(np.float32)
        big = cv2.resize(coarse, (int(gw * size), int(gh * size)), interpolation=cv2.INTER_CUBIC)
        oy, ox = int(rng.integers(0, int(size) + 1)), int(rng.integers(0, int(size) + 1))
        out += amp * big[oy : oy + h, ox : ox + w]
        total += amp * amp
        amp *= 2.0 ** (-beta / 2.0)
        size /= 2.0
        if size < 2.0:
            break
    return (out / np.float32(np.sqrt(total) * 0.85)).astype(np.float32)


def smoothstep(e0: float, e1: float, x: F32 | float) -> F32:
    t = np.clip((np.asarray(x, dtype=np.float32) - e0) / (e1 - e0), 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)).astype(np.float32)


def screen(base: F32, light: F32) -> F32:
    """Add light without clipping: 1 - (1 - a)(1 - b)."""
    return (1.0 - (1.0 - base) * (1.0 - np.clip(light, 0.0, 1.0))).astype(np.float32)


def blur(img: F32, sigma: float) -> F32:
    if sigma < 0.3:
        return img
    return f32(cv2.GaussianBlur(img, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT))


def blur_lowres(img: F32, sigma: float) -> F32:
    """A wide Gaussian blur done at a reduced size (same look, a fraction of the cost)."""
    h, w = img.shape[:2]
    f = int(max(1, min(8, sigma // 6)))
    if f == 1:
        return blur(img, sigma)
    small = f32(cv2.resize(img, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA))
    small = blur(small, sigma / f)
    return f32(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR))


def grid(h: int, w: int) -> tuple[F32, F32]:
    """Pixel-centre coordinates (x, y), each h×w float32."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return xs, ys
