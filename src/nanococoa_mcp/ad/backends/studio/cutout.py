"""The embedded cut-out: backdrop model + GrabCut + band matting.

The object is found on a small copy (a shadow-tolerant model of the backdrop, learnt from the
photo's border, seeds a mask-initialised GrabCut); its edge is then matted at full resolution.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
from scipy.ndimage import gaussian_filter

from nanococoa_mcp.ad.backends.studio.cutout_chroma import (
    CHROMA_BINS,
    chroma_bins,
    chroma_density,
    chroma_ratio,
)
from nanococoa_mcp.ad.matting import band_matte, estimate_foreground
from nanococoa_mcp.ad.stages.cutout import CutoutInput, CutoutOutput, CutoutParams, NoProductFound, alpha_bbox
from nanococoa_mcp.jobs.cancel import checkpoint

FloatArray = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]
U8 = npt.NDArray[np.uint8]
Labels = npt.NDArray[np.int32]

# Backdrop distances (see _Backdrop.distance): ~0-2 for backdrop, larger for what it cannot explain.
T_BG = 2.5     # below: looks like backdrop (or its shadow)
T_MAYBE = 4.0  # above: probably not backdrop
T_FG = 7.0     # above: surely not backdrop
SHADOW_MIN = 0.4    # a shadow keeps at least this share of the backdrop's brightness
BUSY_SPREAD = 10.0  # border spread (0..255 units) above which the backdrop counts as busy
PATTERN_SHARE = 0.04  # share of the border off the smooth backdrop above which it counts as patterned
HIST_BINS = 16
SHADOW_STEPS = ((0.8, 0.9), (0.65, 0.75), (0.5, 0.5))  # (brightness kept, weight) of shadows on a texture
STRETCHES = 16      # the border is judged in this many stretches around the frame
NEIGHBOURS = ((-2, 0.25), (-1, 0.5), (0, 1.0), (1, 0.5), (2, 0.25))  # stretches (offset, weight) seen as "near"
EDGE_STEP = 24.0    # colour step (0..255 units) across the outline that counts as a real edge
BUSY_PIXELS = 32_000  # most pixels GrabCut runs on when the backdrop is busy (about 0.06 s a run)
MAX_BAND = 250_000  # most edge-band pixels worth matting (about a second)
NO_PRODUCT = "no product found in the photo: nothing stands apart from the backdrop"


def cut_out(inp: CutoutInput, params: CutoutParams) -> CutoutOutput:
    """The product found against its backdrop and matted at the edge (a photo's own alpha is kept by the
    stage, before any backend). Raises InvalidInput when no product can be found."""
    return _matte(np.ascontiguousarray(inp.image[..., :3]), params)


# --- the backdrop, learnt from the border --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Backdrop:
    """A smooth colour field fitted to the border (studio paper), and the border's colour histogram
    (for busy or patterned backdrops)."""

    coef: npt.NDArray[np.float64]  # (6, 3) quadratic in (x, y) per channel
    spread: float                  # robust spread of the border around the smooth field, 0..255 units
    outliers: float                # share of the border the smooth field cannot explain (a pattern)
    texture: float                 # typical fine-grain colour spread (5×5 local std) on the border
    hist: FloatArray               # (HIST_BINS,)*3 smoothed colour density of the border
    local: FloatArray              # (STRETCHES, HIST_BINS**3): the same, from the stretches around each
    chroma: FloatArray             # (CHROMA_BINS,)*2 smoothed chromaticity density of the border

    @property
    def busy(self) -> bool:
        return self.spread > BUSY_SPREAD

    @property
    def patterned(self) -> bool:
        return not self.busy and self.outliers > PATTERN_SHARE

    def distance(self, img: FloatArray) -> FloatArray:
        """How unlike the backdrop each pixel is.

        Calm paper: distance to the smooth field in units of the border's spread, counting only the
        part of a darker pixel that a shadow cannot explain. Busy: how much rarer the pixel's colour
        is on the border than in the whole photo. Patterned paper (brick joints): a pixel that
        either model explains is backdrop.
        """
        if self.busy:
            return _rarity_distance(img, self.hist, self.chroma, self.local)
        h, w = img.shape[:2]
        yy, xx = np.mgrid[0:h, 0:w]
        field = (_basis(yy, xx, h, w).reshape(-1, 6) @ self.coef).reshape(h, w, 3)
        smooth = _shadow_distance(img, field.astype(np.float32), self.spread)
        if self.patterned:
            np.minimum(smooth, _rarity_distance(img, self.hist, None, None), out=smooth)
        return smooth


def _basis(y: npt.NDArray[np.int64], x: npt.NDArray[np.int64], h: int, w: int) -> npt.NDArray[np.float64]:
    u = x / max(1, w - 1) - 0.5
    v = y / max(1, h - 1) - 0.5
    return np.stack([np.ones_like(u), u, v, u * u, v * v, u * v], axis=-1)


def _shadow_distance(img: FloatArray, ref: FloatArray, spread: float) -> FloatArray:
    dot = (img * ref).sum(axis=-1)
    norm2 = np.maximum((ref * ref).sum(axis=-1), 1.0)
    k = np.clip(dot / norm2, SHADOW_MIN, 1.0)  # brightness relative to the backdrop, as a shadow would be
    resid = np.sqrt(((img - k[..., None] * ref) ** 2).sum(axis=-1))
    darkening = 2.0 * ((1.0 - k) / (1.0 - SHADOW_MIN)) ** 2  # a shadow is cheap, not free
    return (resid / spread + darkening).astype(np.float32)


def _bins(pixels: FloatArray) -> npt.NDArray[np.int64]:
    idx = np.clip(pixels * (HIST_BINS / 256.0), 0, HIST_BINS - 1).astype(np.int64)
    return (idx[..., 0] * HIST_BINS + idx[..., 1]) * HIST_BINS + idx[..., 2]


def _density(counts: npt.NDArray[np.float32]) -> FloatArray:
    hist = gaussian_filter(counts.reshape((HIST_BINS,) * 3).astype(np.float32), 1.0, mode="constant")
    return (hist / max(float(hist.sum()), 1e-9)).ravel()


def _rarity_distance(img: FloatArray, border: FloatArray, chroma: FloatArray | None,
                     local: FloatArray | None) -> FloatArray:
    """-log(border density / whole-photo density) of each pixel's colour, scaled so that a ratio of
    0.3 lands on T_MAYBE and 0.1 on T_FG. A darker pixel whose brightened colour is common on the
    border (a shadow on the texture) counts as common, at a small discount. With `chroma` (the
    border's chromaticity density), a pixel whose hue is rare on the border counts as rare however
    dark it is. With `local` (per-stretch densities), a colour the nearest stretches of the border
    never show is rare there even if the far side of the frame has it: the shaded side of an orange
    against green cloth, when the cloth behind its lit side is in shadow."""
    bins = _bins(img)
    photo = _density(np.bincount(bins.ravel(), minlength=HIST_BINS**3).astype(np.float32))
    ratio = _shadowed(img, border[None], np.zeros(bins.shape, np.int64)) / (photo[bins] + 1e-9)
    if local is not None:
        near = _shadowed(img, local, _sectors(*bins.shape)) / (photo[bins] + 1e-9)
        np.minimum(ratio, near, out=ratio)
    if chroma is not None:
        np.minimum(ratio, chroma_ratio(img, chroma), out=ratio)
    ratio = np.maximum(ratio, 1e-6)
    d = T_MAYBE - (T_FG - T_MAYBE) / math.log(3.0) * np.log(ratio / 0.3)
    return np.clip(d, 0.0, 3.0 * T_FG).astype(np.float32)


def _shadowed(img: FloatArray, dens: FloatArray, sector: npt.NDArray[np.int64]) -> FloatArray:
    """Border density of each pixel's colour (from row `sector` of `dens`), or of the colour it would
    have out of shadow, at a small discount: a shadow on the texture is still backdrop."""
    here = dens[sector, _bins(img)]
    for k, weight in SHADOW_STEPS:
        np.maximum(here, weight * dens[sector, _bins(np.minimum(img / k, 255.0))], out=here)
    return here


def _sectors(h: int, w: int) -> npt.NDArray[np.int64]:
    """Which of the STRETCHES angular sectors around the frame's centre each pixel lies in."""
    yy, xx = np.mgrid[0:h, 0:w]
    return _stretch_of(yy, xx, h, w)


def _stretch_of(ys: npt.NDArray[np.int64], xs: npt.NDArray[np.int64], h: int, w: int) -> npt.NDArray[np.int64]:
    angle = np.arctan2(ys - h / 2, xs - w / 2) + math.pi
    return (angle / (2 * math.pi) * STRETCHES).astype(np.int64) % STRETCHES


def _ring(shape: tuple[int, int], width: int) -> BoolArray:
    ring = np.zeros(shape, bool)
    ring[:width], ring[-width:], ring[:, :width], ring[:, -width:] = True, True, True, True
    return ring


def _tukey(resid: npt.NDArray[np.float64], scale: float) -> npt.NDArray[np.float64]:
    return np.clip(1.0 - (resid / (4.685 * scale)) ** 2, 0.0, None) ** 2


def _fit_backdrop(img: FloatArray, ring: BoolArray, grain: FloatArray) -> _Backdrop:
    """Robust (Tukey-weighted) quadratic fit to the border; the object may cover part of it.

    The fit starts from the colour most of the border agrees on (median of the stretches' medians),
    so an object covering a whole side starts with no weight at all.
    """
    h, w = ring.shape
    ys, xs = np.nonzero(ring)
    a = _basis(ys, xs, h, w)
    b = img[ys, xs].astype(np.float64)
    stretch = _stretch_of(ys, xs, h, w)
    present = [i for i in range(STRETCHES) if np.count_nonzero(stretch == i) > 1]
    centre = np.median([np.median(b[stretch == i], axis=0) for i in present], axis=0)
    resid = np.sqrt(((b - centre) ** 2).sum(axis=1))
    weight = _tukey(resid, max(1.4826 * float(np.median(resid)), 6.0))
    coef: npt.NDArray[np.float64] = np.zeros((6, 3))
    scale = 255.0
    for _ in range(5):
        sw = np.sqrt(weight)[:, None]
        coef = np.asarray(np.linalg.lstsq(a * sw, b * sw, rcond=None)[0], np.float64)
        resid = np.sqrt(((a @ coef - b) ** 2).sum(axis=1))
        scale = max(1.4826 * float(np.median(resid[weight > 0])), 2.0)
        weight = _tukey(resid, scale)
    # A pattern shows all round the frame; a product running off it, only on some stretches.
    off = np.bincount(stretch, weights=weight == 0, minlength=STRETCHES)
    outliers = float(np.median(off[present] / np.bincount(stretch, minlength=STRETCHES)[present]))
    texture = float(np.median(grain[ring]))
    pixels = b.astype(np.float32)
    hist, local = _border_hist(_bins(pixels), HIST_BINS**3, _density, stretch)
    chroma, _ = _border_hist(chroma_bins(pixels), CHROMA_BINS**2, chroma_density, stretch)
    return _Backdrop(coef=coef, spread=scale, outliers=outliers, texture=texture, hist=hist, local=local,
                     chroma=chroma)


def _border_hist(bins: npt.NDArray[np.int64], n: int, density: Callable[[npt.NDArray[np.float32]], FloatArray],
                 stretch: npt.NDArray[np.int64]) -> tuple[FloatArray, FloatArray]:
    """Density (over `n` colour bins) of the border, leaving out stretches whose colours the opposite
    side of the frame never shows (a product running off the frame there, not backdrop); and per
    stretch, the density of the kept stretches around it (STRETCHES, n)."""
    counts = np.bincount(stretch * n + bins, minlength=STRETCHES * n)
    per = counts.reshape(STRETCHES, n).astype(np.float32)
    scores = np.full(STRETCHES, np.nan)
    for i in np.flatnonzero(per.sum(axis=1) > 0):
        opposite = [(i + k) % STRETCHES for k in range(STRETCHES // 3, STRETCHES - STRETCHES // 3 + 1)]
        dens = density(per[opposite].sum(axis=0))
        scores[i] = float((per[i] * np.log(dens + 1e-6)).sum() / per[i].sum())
    keep = scores >= np.nanmedian(scores) - 2.0  # an empty stretch (NaN) compares False
    whole = density(per[keep].sum(axis=0))
    kept = per * keep[:, None]
    local = np.empty((STRETCHES, n), np.float32)
    for at in range(STRETCHES):
        mix = np.zeros(n, np.float32)
        for k, wk in NEIGHBOURS:
            mix += wk * kept[(at + k) % STRETCHES]
        local[at] = density(mix) if float(mix.sum()) > 0 else whole
    return whole, local


# --- finding the object on the small copy --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Found:
    """The object as found on the small copy, with the evidence used (kept for the confidence)."""

    mask: BoolArray       # GrabCut's answer, tidied
    region: BoolArray     # what the backdrop model alone marked as object
    dist: FloatArray      # backdrop distance per pixel
    backdrop: _Backdrop
    edge_support: float   # share of the mask's outline on a clear colour edge


def _find_object(small: U8, iterations: int) -> _Found:
    """Raises InvalidInput when nothing stands apart from the backdrop."""
    smallf = small.astype(np.float32)
    h, w = small.shape[:2]
    ring = _ring((h, w), max(2, round(0.02 * min(h, w))))
    grain = _grain(smallf)
    backdrop = _fit_backdrop(smallf, ring, grain)
    dist = backdrop.distance(smallf)
    region = _object_region(dist)
    touching = cv2.dilate(region.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool) & ring
    if touching.any() and np.count_nonzero(ring & ~touching) > 0.3 * np.count_nonzero(ring):
        # The product runs off the frame: learn the backdrop again without it.
        backdrop = _fit_backdrop(smallf, ring & ~touching, grain)
        dist = backdrop.distance(smallf)
        region = _object_region(dist)
    seeds = _grabcut_seeds(dist, region, ring)
    mask = _grabcut(small, seeds, dist, iterations, backdrop.busy)
    mask = _tidy(mask, dist, grain, backdrop)
    if not mask.any():
        raise NoProductFound(NO_PRODUCT, field="product_image")
    return _Found(mask=mask, region=region, dist=dist, backdrop=backdrop,
                  edge_support=_edge_support(small, mask))


def _grain(img: FloatArray) -> FloatArray:
    """Local colour spread over 5×5 windows: high on wood grain or cloth, low on a flat surface even
    where it meets another flat surface (a cup's white wall against its coffee)."""
    mean = cv2.blur(img, (5, 5))
    var = cv2.blur(img * img, (5, 5)) - mean * mean
    return np.sqrt(np.maximum(var, 0.0).sum(axis=-1)).astype(np.float32)


def _components(mask: BoolArray, min_area: int) -> tuple[Labels, Labels]:
    """Labels of the 8-connected parts of `mask`, and the ids of those of at least `min_area` px."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    keep = np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] >= min_area) + 1
    return np.asarray(labels, np.int32), keep.astype(np.int32)


def _object_region(dist: FloatArray) -> BoolArray:
    """Pixels that stand apart from the backdrop, grown from the surest ones (hysteresis), keeping
    the main part and the detached parts near it. Raises InvalidInput when there are none."""
    h, w = dist.shape
    sure = cv2.morphologyEx((dist > T_FG).astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)) > 0
    labels, keep = _components((dist > T_MAYBE) | sure, max(4, h * w // 5000))
    seeded = np.unique(labels[sure & np.isin(labels, keep)])
    seeded = seeded[seeded > 0].astype(np.int32)
    if seeded.size == 0:
        raise NoProductFound(NO_PRODUCT, field="product_image")
    return _near_main(labels, seeded, 0.08 * math.hypot(h, w))


def _near_main(labels: Labels, ids: Labels, reach: float) -> BoolArray:
    """The largest of the `ids` parts plus, step by step, every other one within `reach` px of what
    is kept and at least 1% of the largest's size (a plant's leaves, a set's second piece)."""
    areas = np.bincount(labels.ravel(), minlength=int(ids.max()) + 1)
    main = int(ids[np.argmax(areas[ids])])
    kept = labels == main
    pending = [int(i) for i in ids if i != main and areas[i] >= 0.01 * areas[main]]
    while pending:
        gap = cv2.distanceTransform((~kept).astype(np.uint8), cv2.DIST_L2, 3)
        per_label = np.full(int(labels.max()) + 1, np.inf, np.float32)
        np.minimum.at(per_label, labels.ravel(), gap.ravel())  # cheaper than scipy's sort-based minimum
        nearest = per_label[pending]
        close = [i for i, d in zip(pending, nearest, strict=True) if d <= reach]
        if not close:
            break
        kept |= np.isin(labels, close)
        pending = [i for i in pending if i not in close]
    return kept


def _filled(mask: BoolArray) -> BoolArray:
    """`mask` with every enclosed gap filled (what cannot be reached from the frame's edge)."""
    outside = np.zeros((mask.shape[0] + 2, mask.shape[1] + 2), np.uint8)
    outside[1:-1, 1:-1] = mask
    cv2.floodFill(outside, None, (0, 0), 2)
    return outside[1:-1, 1:-1] != 2


def _grabcut_seeds(dist: FloatArray, region: BoolArray, ring: BoolArray) -> U8:
    """GrabCut's starting labels from the backdrop distance, instead of a rectangle."""
    h, w = dist.shape
    seeds = np.where((dist > T_MAYBE) | region, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    reach = max(3, round(0.06 * max(h, w)))
    near = cv2.dilate(_filled(region).astype(np.uint8),
                      cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1,) * 2))
    # Far from every candidate part: backdrop whatever its colour. On the frame's edge: backdrop
    # only where it looks like it (a product may run off the frame).
    seeds[(near == 0) | (ring & (dist < T_BG))] = cv2.GC_BGD
    sure = cv2.erode(((dist > T_FG) & region).astype(np.uint8), np.ones((5, 5), np.uint8))
    seeds[sure > 0] = cv2.GC_FGD
    return seeds


def _grabcut(img: U8, seeds: U8, dist: FloatArray, iterations: int, busy: bool) -> BoolArray:
    """Mask-initialised GrabCut around the candidate parts; on a busy backdrop also a box-initialised
    run (everything in the first answer's box may be product), kept when its energy is lower."""
    ys, xs = np.nonzero(seeds != cv2.GC_BGD)
    y0, y1 = max(0, int(ys.min()) - 4), min(img.shape[0], int(ys.max()) + 5)
    x0, x1 = max(0, int(xs.min()) - 4), min(img.shape[1], int(xs.max()) + 5)
    crop, first, near = img[y0:y1, x0:x1], seeds[y0:y1, x0:x1], dist[y0:y1, x0:x1]
    size = (x1 - x0, y1 - y0)
    shrink = min(1.0, math.sqrt(BUSY_PIXELS / (size[0] * size[1]))) if busy else 1.0
    if shrink < 1.0:
        # A busy backdrop makes GrabCut's max-flow slow, and its outline is re-matted at full
        # resolution anyway: run it on a smaller copy.
        small = (max(8, round(size[0] * shrink)), max(8, round(size[1] * shrink)))
        crop = np.asarray(cv2.resize(crop, small, interpolation=cv2.INTER_AREA), np.uint8)
        first = np.asarray(cv2.resize(first, small, interpolation=cv2.INTER_NEAREST), np.uint8)
        near = np.asarray(cv2.resize(near, small, interpolation=cv2.INTER_AREA), np.float32)
    best = _grabcut_pair(np.ascontiguousarray(crop), first.copy(), near, iterations, busy)
    if shrink < 1.0:
        best = cv2.resize(best.astype(np.float32), size, interpolation=cv2.INTER_LINEAR) >= 0.5
    out = np.zeros(seeds.shape, bool)
    out[y0:y1, x0:x1] = best
    return out


def _grabcut_pair(crop: U8, seeds: U8, dist: FloatArray, iterations: int, busy: bool) -> BoolArray:
    """GrabCut from `seeds`; when `busy`, also from the box of its answer, keeping the lower energy."""
    best, models = _grabcut_run(crop, seeds.copy(), iterations)
    checkpoint()
    if busy and best.any():
        by, bx = np.nonzero(best)
        box = np.full_like(seeds, cv2.GC_BGD)
        box[max(0, by.min() - 2):by.max() + 3, max(0, bx.min() - 2):bx.max() + 3] = cv2.GC_PR_FGD
        box[(box == cv2.GC_PR_FGD) & (dist < T_BG)] = cv2.GC_PR_BGD
        box[seeds == cv2.GC_FGD] = cv2.GC_FGD
        boxed, box_models = _grabcut_run(crop, box, iterations)
        if _energy(crop, boxed, *box_models) < _energy(crop, best, *models):
            best = boxed
    return best


GMMs = tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]


def _grabcut_run(img: U8, mask: U8, iterations: int) -> tuple[BoolArray, GMMs]:
    """One GrabCut from `mask` (changed in place): the product mask and the backdrop and product
    colour models it ended with."""
    bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.setRNGSeed(0)  # GrabCut's k-means start draws random numbers: same photo, same answer
    cv2.grabCut(img, mask, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)  # type: ignore[call-overload]
    return (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD), (bgd, fgd)


def _gmm_nll(pixels: npt.NDArray[np.float64], model: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """-log likelihood under one of OpenCV's GrabCut GMMs (5 components: weights, means, covs)."""
    m = model.ravel()
    weights, means, covs = m[:5], m[5:20].reshape(5, 3), m[20:65].reshape(5, 3, 3)
    like = np.zeros(len(pixels))
    for wk, mu, cov in zip(weights, means, covs, strict=True):
        if wk <= 0:
            continue
        cov = cov + 1e-6 * np.eye(3)
        d = pixels - mu
        maha = ((d @ np.linalg.inv(cov)) * d).sum(axis=1)
        like += wk * np.exp(-0.5 * maha) / math.sqrt((2 * math.pi) ** 3 * np.linalg.det(cov))
    return -np.log(np.maximum(like, 1e-300))


def _energy(img: U8, fg: BoolArray, bgd: npt.NDArray[np.float64], fgd: npt.NDArray[np.float64]) -> float:
    """GrabCut's energy of a labelling: colour terms under its GMMs plus OpenCV's contrast-weighted
    boundary cost (gamma 50, 8-neighbourhood)."""
    px = img.reshape(-1, 3).astype(np.float64)
    f = fg.ravel()
    data = float(_gmm_nll(px[f], fgd).sum() + _gmm_nll(px[~f], bgd).sum())
    z = img.astype(np.float64)
    s, lo, hi = slice(None), slice(None, -1), slice(1, None)
    pairs = [((s, hi), (s, lo), 1.0), ((hi, s), (lo, s), 1.0),
             ((hi, hi), (lo, lo), 1 / math.sqrt(2)), ((hi, lo), (lo, hi), 1 / math.sqrt(2))]
    diffs = [((z[a] - z[b]) ** 2).sum(axis=-1) for a, b, _ in pairs]
    beta = 1.0 / (2.0 * max(float(np.mean([d.mean() for d in diffs])), 1e-6))
    smooth = sum(float((50.0 * k * np.exp(-beta * d[fg[a] != fg[b]])).sum())
                 for (a, b, k), d in zip(pairs, diffs, strict=True))
    return data + smooth


def _tidy(mask: BoolArray, dist: FloatArray, grain: FloatArray, backdrop: _Backdrop) -> BoolArray:
    """Drop the specks and far-away blobs GrabCut leaves, and fill the gaps it opens in the product."""
    h, w = mask.shape
    labels, keep = _components(mask, max(4, h * w // 20000))
    if keep.size == 0:
        return np.zeros_like(mask)
    return _fill_holes(_near_main(labels, keep, 0.08 * math.hypot(h, w)), dist, grain, backdrop)


def _fill_holes(mask: BoolArray, dist: FloatArray, grain: FloatArray, backdrop: _Backdrop) -> BoolArray:
    """Fill enclosed gaps unless they look like backdrop seen through the product (a mug's handle):
    backdrop-coloured and, on a busy or patterned backdrop, as textured as the border. Coffee in a
    cup on a brown table is backdrop-coloured but flat, so it is filled."""
    h, w = mask.shape
    n, labels, stats, _ = cv2.connectedComponentsWithStats((~mask).astype(np.uint8), connectivity=4)
    out = mask.copy()
    area = float(mask.sum())
    for i in range(1, n):
        x, y, bw, bh, count = (int(v) for v in stats[i])
        if x == 0 or y == 0 or x + bw == w or y + bh == h:
            continue  # open to the frame: the backdrop itself
        box = (slice(y, y + bh), slice(x, x + bw))
        hole = labels[box] == i
        if count < 0.002 * area or not _looks_like_backdrop(dist[box][hole], grain[box][hole], backdrop):
            out[box] |= hole
    return out


def _looks_like_backdrop(dist: FloatArray, grain: FloatArray, backdrop: _Backdrop) -> bool:
    if float(np.mean(dist < T_BG)) < 0.5:
        return False
    if backdrop.busy or backdrop.patterned:
        return float(np.median(grain)) >= 0.5 * backdrop.texture
    return True


# --- the full-resolution matte -------------------------------------------------------------------


def _matte(rgb: U8, params: CutoutParams) -> CutoutOutput:
    h, w = rgb.shape[:2]
    scale = min(1.0, params.work_side / max(h, w))
    size = (max(8, round(w * scale)), max(8, round(h * scale)))
    small = np.asarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), np.uint8) if scale < 1.0 else rgb
    found = _find_object(small, params.grabcut_iterations)
    checkpoint()  # the mask is found; matting the edge band is the other long part
    factor = max(h, w) / max(size)
    radius = params.edge_band or math.ceil(factor / 2) + 3  # the small mask's error, plus the edge's blur
    alpha = _refine_edges(rgb, found.mask, factor, radius, params.refine_edges)
    a8 = np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)
    a8[a8 < 4] = 0  # faint haze out in the band is noise, not product
    a8[a8 > 251] = 255
    rgba = np.dstack([rgb, a8])
    rgba[a8 == 0, :3] = 0
    edge = (a8 > 0) & (a8 < 255)
    checkpoint()
    colour = estimate_foreground(rgb, a8.astype(np.float32) / 255.0, edge, radius)
    rgba[edge, :3] = np.round(colour).astype(np.uint8)
    confidence, notes = _confidence(found)
    return CutoutOutput(rgba=rgba, confidence=confidence, method="matting", bbox=alpha_bbox(a8), notes=notes)


def _refine_edges(rgb: U8, mask: BoolArray, factor: float, radius: int, matting: bool) -> FloatArray:
    """Full-resolution alpha: the small mask scaled up, its edge band re-solved by closed-form matting."""
    h, w = rgb.shape[:2]
    hard = cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR) >= 0.5
    prior = np.asarray(cv2.GaussianBlur(hard.astype(np.float32), (0, 0), max(0.7, factor / 2)), np.float32)
    if not matting:
        return prior
    depth = cv2.distanceTransform(hard.astype(np.uint8), cv2.DIST_L2, 3)
    # Known product: deeper than the band, plus the centre line of parts thinner than the band (a
    # stem, a strap) so that matting has something to hold on to there.
    centre = (depth >= factor + 1.0) & (depth >= cv2.dilate(depth, np.ones((3, 3), np.uint8)))
    inner = (depth > radius) | centre
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    unknown = cv2.dilate(hard.astype(np.uint8), kernel).astype(bool) & ~inner
    if np.count_nonzero(unknown) > MAX_BAND:
        return prior  # a ragged outline on a busy backdrop: matting would cost seconds for little gain
    return band_matte(rgb, inner, unknown, prior)


# --- confidence ----------------------------------------------------------------------------------


def _edge_support(small: U8, mask: BoolArray) -> float:
    """Share of the mask's outline where the colour steps clearly between inside and outside (mean
    colours over 7×7 on each side, so texture averages out). An outline running through smooth
    surface (the shaded side of a fruit) is a guess there."""
    m = mask.astype(np.float32)
    img = small.astype(np.float32)
    w_in = cv2.boxFilter(m, -1, (7, 7))
    c_in = cv2.boxFilter(img * m[..., None], -1, (7, 7))
    c_out = cv2.boxFilter(img * (1.0 - m)[..., None], -1, (7, 7))
    outline = mask & ~cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    outline &= (w_in > 0.2) & (w_in < 0.8)
    if not outline.any():
        return 0.0
    wi = w_in[outline][:, None]
    step = np.linalg.norm(c_in[outline] / wi - c_out[outline] / (1.0 - wi), axis=1)
    return float(np.mean(step > EDGE_STEP))


def _confidence(found: _Found) -> tuple[float, tuple[str, ...]]:
    """How far to trust the cut-out, from the evidence the pipeline saw. Each piece of evidence gives
    a factor in 0..1 (and a note when it is below 0.8); the confidence is their product, at most
    0.95 since a classical cut-out is never certain:

    - backdrop: the border's spread around a smooth backdrop. Studio paper: a few levels (1.0,
      falling to 0.55 at BUSY_SPREAD); busy (wood, fabric, grass: tens of levels) at most 0.55 and
      falling with the spread, since that is where colour models fail; patterned paper 0.75.
    - outline on edges: 0.3 + the share of the outline on a clear colour step (_edge_support).
    - product stands out: 0.5 + the share of the mask whose colour is clearly unlike the backdrop;
      a white product on white paper is found by its edges alone, which is fragile.
    - agreement: 0.4 + IoU between what the colour model alone saw and what GrabCut kept.
    - frame contact: a mask touching three or four sides of the frame has probably taken backdrop.
    - size: a product under 0.5 % or over 85 % of the frame is suspicious.
    """
    backdrop, mask = found.backdrop, found.mask
    evidence: list[tuple[float, str]] = []
    if backdrop.busy:
        evidence.append((float(np.clip(0.55 - (backdrop.spread - BUSY_SPREAD) / 100.0, 0.3, 0.55)),
                         "busy background: check the cut-out"))
    else:
        evidence.append((float(np.clip(1.0 - (backdrop.spread - 5.0) / 10.0, 0.55, 1.0)),
                         "uneven background: check the cut-out"))
    if backdrop.patterned:
        evidence.append((0.75, "patterned background: check the cut-out"))
    evidence.append((min(1.0, 0.3 + found.edge_support),
                     "part of the outline crosses smooth surface: check the cut-out's edge"))
    stands = int(np.count_nonzero(mask & (found.dist > T_MAYBE))) / max(1, int(np.count_nonzero(mask)))
    evidence.append((min(1.0, 0.5 + stands), "the product's colours are close to the backdrop's"))
    agree = int(np.count_nonzero(mask & found.region)) / max(1, int(np.count_nonzero(mask | found.region)))
    evidence.append((min(1.0, 0.4 + agree), "colour and edge evidence disagree about the product's outline"))
    sides = sum(int(np.count_nonzero(line) > 0.05 * line.size)
                for line in (mask[0], mask[-1], mask[:, 0], mask[:, -1]))
    evidence.append(((1.0, 1.0, 0.85, 0.6, 0.4)[sides],
                     "the product touches most of the frame: the backdrop may have been kept"))
    area = float(mask.mean())
    evidence.append((0.4 if area < 0.005 or area > 0.85 else 1.0,
                     "the product is unusually small or large in the frame"))
    confidence = min(0.95, float(np.prod([factor for factor, _ in evidence])))
    return round(confidence, 3), tuple(note for factor, note in evidence if factor < 0.8)
