"""Closed-form matting (Levin et al. 2008) restricted to a narrow band, and edge colour estimation: shared by
the studio cut-out (which mattes its edge band) and the BiRefNet one (which re-colours the model's soft edge).

The matting Laplacian is built only for the 3×3 windows that touch an unknown pixel, so the cost
follows the length of the object's outline, not the size of the photo. Its solver runs with one BLAS
thread: its vectors are too short for BLAS threads to pay, and on a busy machine (other workers, other
jobs) their spin-waiting made the edge matting about four times slower than one thread.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.sparse.linalg import cg
from threadpoolctl import threadpool_limits

FloatArray = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]

# The 9 pixel offsets of a 3×3 window, and the 25 offsets two pixels of one window can differ by.
_WIN = np.array([(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)], dtype=np.int64)
_PAIR_OFFSETS = (_WIN[None, :, :] - _WIN[:, None, :]).reshape(-1, 2)  # (81, 2): b - a
_STENCIL = (_PAIR_OFFSETS[:, 0] + 2) * 5 + (_PAIR_OFFSETS[:, 1] + 2)  # each pair's slot among 25


def band_matte(
    rgb: npt.NDArray[np.uint8],
    known_fg: BoolArray,
    unknown: BoolArray,
    prior: FloatArray,
    eps: float = 1e-5,
    prior_weight: float = 1e-4,
    max_iter: int = 100,
) -> FloatArray:
    """Alpha for the `unknown` pixels of `rgb`; elsewhere alpha is 1 on `known_fg`, else 0.

    Solves min αᵀLα + w·Σ(α - prior)² over the unknown pixels with the known ones fixed.
    `prior` (0..1) is a weak hint that only matters where the image itself says nothing (flat colour);
    unknown pixels on the photo's outermost two rows and columns simply take the rounded prior.
    """
    alpha = known_fg.astype(np.float32)
    ys, xs = np.nonzero(unknown)
    if ys.size == 0:
        return alpha
    h, w = unknown.shape
    # Work on the band's bounding box, 2 px wider so every window lies inside it.
    y0, y1 = max(0, int(ys.min()) - 2), min(h, int(ys.max()) + 3)
    x0, x1 = max(0, int(xs.min()) - 2), min(w, int(xs.max()) + 3)
    unk = unknown[y0:y1, x0:x1].copy()
    crop_alpha = alpha[y0:y1, x0:x1]
    rim = np.zeros_like(unk)
    rim[[0, 1, -2, -1], :] = True
    rim[:, [0, 1, -2, -1]] = True
    rim &= unk  # only where the band meets the photo's edge: keep the prior's answer there
    crop_alpha[rim] = prior[y0:y1, x0:x1][rim] >= 0.5
    unk &= ~rim
    if unk.any():
        with threadpool_limits(limits=1, user_api="blas"):
            crop_alpha[unk] = _solve(rgb[y0:y1, x0:x1], crop_alpha, unk, prior[y0:y1, x0:x1], eps,
                                     prior_weight, max_iter)
    return alpha


def _solve(rgb: npt.NDArray[np.uint8], alpha: FloatArray, unknown: BoolArray, prior: FloatArray, eps: float,
           prior_weight: float, max_iter: int) -> npt.NDArray[np.float32]:
    h, w = unknown.shape
    uy, ux = np.nonzero(unknown)
    n = uy.size
    flat_u = uy * w + ux
    uid = np.full(h * w, -1, dtype=np.int64)
    uid[flat_u] = np.arange(n)

    stencil = _unknown_rows(rgb, unknown, uid, n, eps)  # (n, 25): L's entries around each unknown pixel
    stencil[:, 12] += prior_weight
    offsets = (np.arange(25) // 5 - 2) * w + (np.arange(25) % 5 - 2)
    cols = flat_u[:, None] + offsets[None, :]  # (n, 25) flat pixel index of each neighbour
    col_uid = uid[cols]
    is_u = col_uid >= 0
    known_alpha = alpha.reshape(-1)[cols]
    rhs = -(stencil * np.where(is_u, 0.0, known_alpha)).sum(axis=1)
    rhs += prior_weight * prior[uy, ux]

    rows = np.repeat(np.arange(n), 25).reshape(n, 25)
    mat = sp.csr_matrix((stencil[is_u], (rows[is_u], col_uid[is_u])), shape=(n, n))
    precond = sp.diags(1.0 / np.maximum(mat.diagonal(), 1e-12))
    x0 = np.clip(prior[uy, ux].astype(np.float64), 0.0, 1.0)
    x, _ = cg(mat, rhs, x0=x0, rtol=1e-4, maxiter=max_iter, M=precond)
    return np.clip(x, 0.0, 1.0).astype(np.float32)


def _unknown_rows(rgb: npt.NDArray[np.uint8], unknown: BoolArray, uid: npt.NDArray[np.int64], n: int,
                  eps: float) -> npt.NDArray[np.float64]:
    """The rows of the matting Laplacian for the unknown pixels, as 5×5 stencils (n, 25)."""
    w = unknown.shape[1]
    touching = cv2.dilate(unknown.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    cy, cx = np.nonzero(touching)
    flat = (cy * w + cx)[:, None] + (_WIN[:, 0] * w + _WIN[:, 1])[None, :]  # (k, 9)
    win = rgb.reshape(-1, 3)[flat].astype(np.float32) * np.float32(1.0 / 255.0)  # (k, 9, 3)
    x = win - win.mean(axis=1, keepdims=True)
    cov = np.matmul(x.transpose(0, 2, 1), x).astype(np.float64) / 9.0 + (eps / 9.0) * np.eye(3)[None]
    y = np.matmul(x, _inverse3(cov).astype(np.float32))
    g = np.matmul(y, x.transpose(0, 2, 1))  # (k, 9, 9)
    g += 1.0
    g *= -1.0 / 9.0
    g[:, np.arange(9), np.arange(9)] += 1.0  # now window k's share of L[a, b]

    # Rows of known pixels are not needed: send them to a spare row n that is dropped.
    row = uid[flat]  # (k, 9)
    row[row < 0] = n
    slots = (row * 25)[:, :, None] + _STENCIL.reshape(1, 9, 9)
    summed = np.bincount(slots.ravel(), weights=g.ravel(), minlength=(n + 1) * 25)
    return np.asarray(summed[: n * 25], np.float64).reshape(n, 25)


def _inverse3(m: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Inverses of a stack of symmetric 3×3 matrices (adjugate over determinant; faster than LAPACK
    for this many tiny matrices)."""
    a, b, c = m[:, 0, 0], m[:, 0, 1], m[:, 0, 2]
    d, e, f = m[:, 1, 1], m[:, 1, 2], m[:, 2, 2]
    c00, c01, c02 = d * f - e * e, c * e - b * f, b * e - c * d
    c11, c12, c22 = a * f - c * c, b * c - a * e, a * d - b * b
    det = a * c00 + b * c01 + c * c02
    adj = np.stack([c00, c01, c02, c01, c11, c12, c02, c12, c22], axis=-1).reshape(-1, 3, 3)
    return adj / det[:, None, None]


def estimate_foreground(
    rgb: npt.NDArray[np.uint8],
    alpha: FloatArray,
    region: BoolArray,
    radius: float,
    reg: float = 0.03,
) -> FloatArray:
    """Colour of the object at the `region` pixels (its partly transparent edge), without backdrop.

    Local object and backdrop colours come from nearby pixels that are clearly one or the other
    (a normalised box mean); each pixel's own colour is then split between them so that
    αF + (1-α)B reproduces it, with F and B held near those local colours. Returns F for the
    region pixels only, (m, 3) in 0..255.
    """
    ys, xs = np.nonzero(region)
    if ys.size == 0:
        return np.zeros((0, 3), np.float32)
    h, w = region.shape
    pad = int(radius) + 2
    y0, y1 = max(0, int(ys.min()) - pad), min(h, int(ys.max()) + pad + 1)
    x0, x1 = max(0, int(xs.min()) - pad), min(w, int(xs.max()) + pad + 1)
    img = rgb[y0:y1, x0:x1].astype(np.float32)
    a_crop = alpha[y0:y1, x0:x1]
    sel = (ys - y0, xs - x0)
    f_bar = _local_mean(img, (a_crop >= 0.98).astype(np.float32), radius, sel)
    b_bar = _local_mean(img, (a_crop <= 0.02).astype(np.float32), radius, sel)
    a = a_crop[sel][:, None]
    i = img[sel]
    # Per channel, the 2×2 normal equations of min |aF + (1-a)B - I|² + reg(|F - f̄|² + |B - b̄|²).
    a00, a01, a11 = a * a + reg, a * (1.0 - a), (1.0 - a) ** 2 + reg
    r0, r1 = a * i + reg * f_bar, (1.0 - a) * i + reg * b_bar
    f = (a11 * r0 - a01 * r1) / (a00 * a11 - a01 * a01)
    return np.clip(f, 0.0, 255.0).astype(np.float32)


def _local_mean(img: FloatArray, weight: FloatArray, radius: float,
                sel: tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]) -> FloatArray:
    """Weighted mean colour in a (2r+1)² box around each `sel` pixel (integral images: only the
    selected pixels are evaluated); the global weighted mean where the box holds no weight."""
    r = int(radius)
    h, w = weight.shape
    csum = cv2.integral(img * weight[..., None], sdepth=cv2.CV_64F)
    wsum = cv2.integral(weight, sdepth=cv2.CV_64F)
    y0, y1 = np.maximum(sel[0] - r, 0), np.minimum(sel[0] + r + 1, h)
    x0, x1 = np.maximum(sel[1] - r, 0), np.minimum(sel[1] + r + 1, w)
    wbox = wsum[y1, x1] - wsum[y0, x1] - wsum[y1, x0] + wsum[y0, x0]
    cbox = csum[y1, x1] - csum[y0, x1] - csum[y1, x0] + csum[y0, x0]
    total = max(float(wsum[-1, -1]), 1.0)
    fallback = csum[-1, -1] / total
    near = wbox > 1e-3
    out = np.empty((sel[0].size, 3), np.float32)
    out[near] = cbox[near] / wbox[near][:, None]
    out[~near] = fallback
    return out
