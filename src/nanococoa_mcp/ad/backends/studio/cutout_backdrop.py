"""The backdrop the studio cut-out separates the product from, learnt from the photo's border.

Calm paper is a smooth colour field (a quadratic in x, y fitted robustly to the border) whose shadows only
darken it; a busy surface (wood, cloth, grass) is a colour histogram of the border, near and far. Either
way `Backdrop.distance` says how unlike the backdrop each pixel is: about 0-2 for backdrop, above T_MAYBE
probably not, above T_FG surely not.
"""

from __future__ import annotations

import dataclasses
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
from nanococoa_mcp.ad.backends.studio.cutout_horizon import Horizon

FloatArray = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]

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
REFIT_PIXELS = 20_000  # paper pixels a refit looks at, at most
TRIM_STEPS = 3      # trimmed least-squares steps that start a trimmed fit of the border
PLAIN_WALL = 0.5    # a wall spreading under this share of BUSY_SPREAD above a busy table is plain
LEAST_PART = 120    # border pixels the wall's or the table's own field needs at least


@dataclass(frozen=True, slots=True)
class Backdrop:
    """A smooth colour field fitted to the border (studio paper), and the border's colour histogram
    (for busy or patterned backdrops)."""

    coef: npt.NDArray[np.float64]  # (6, 3) quadratic in (x, y) per channel
    spread: float                  # robust spread of the border around the smooth field, 0..255 units
    outliers: float                # share of the border the smooth field cannot explain (a pattern)
    hist: FloatArray               # (HIST_BINS,)*3 smoothed colour density of the border
    local: FloatArray              # (STRETCHES, HIST_BINS**3): the same, from the stretches around each
    chroma: FloatArray             # (CHROMA_BINS,)*2 smoothed chromaticity density of the border
    # A wall above a table: `coef` is the wall's field, fitted above the horizon, and `table` the table's,
    # fitted below it (its coef is what counts); the spread is the larger of the two.
    horizon: Horizon | None = None
    table: Backdrop | None = None
    wall_spread: float = 0.0  # the wall's own spread around its field (with a horizon)

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
            rarity = _rarity_distance(img, self.hist, self.chroma, self.local)
            return rarity if not self.plain_wall else self._before_wall(img, rarity)
        smooth = self._smooth_distance(img)
        if self.patterned:
            np.minimum(smooth, _rarity_distance(img, self.hist, None, None), out=smooth)
        return smooth

    @property
    def plain_wall(self) -> bool:
        """A plain wall above a busy table: the wall is judged against its own smooth field."""
        return self.busy and self.horizon is not None and self.wall_spread <= PLAIN_WALL * BUSY_SPREAD

    def _before_wall(self, img: FloatArray, rarity: FloatArray) -> FloatArray:
        """`rarity` (the busy table's measure) below the horizon; above it, the distance from the wall's
        smooth field in units of the wall's own spread; near the line the less of the two. The border's
        histograms leave out the wall's stretches when the foot of the frame never shows its colour, and
        the wall was then rare: kept as product."""
        assert self.horizon is not None
        h, w = img.shape[:2]
        offset = self.horizon.offset(h, w)
        wall = _shadow_distance(img, self._own_field(h, w), max(self.wall_spread, 2.0))
        out = np.where(offset < 0, wall, rarity)
        near = np.abs(offset) <= _line_band(h)
        out[near] = np.minimum(wall[near], rarity[near])
        return np.asarray(out, np.float32)

    def horizon_step(self, h: int, w: int) -> float:
        """How unlike the wall's field the table's is along the horizon (median, in spreads; 0 without one)."""
        if self.horizon is None or self.table is None:
            return 0.0
        on_line = np.abs(self.horizon.offset(h, w)) < 1.0
        apart = np.linalg.norm(self._own_field(h, w)[on_line] - self.table._own_field(h, w)[on_line], axis=-1)
        return float(np.median(apart)) / self.spread if apart.size else 0.0

    def _smooth_distance(self, img: FloatArray) -> FloatArray:
        """_shadow_distance from the smooth field; with a horizon, each side's from its own field, and near
        the line the least of the two and of their blend (the line's rows mix wall and table)."""
        h, w = img.shape[:2]
        if self.horizon is None or self.table is None:
            return _shadow_distance(img, self.field(h, w), self.spread)
        wall, table = self._own_field(h, w), self.table._own_field(h, w)
        offset = self.horizon.offset(h, w)
        out = np.where(offset < 0, _shadow_distance(img, wall, self.spread), _shadow_distance(img, table, self.spread))
        near = np.abs(offset) <= _line_band(h)
        if near.any():
            pix, a, b = img[near], wall[near], table[near]
            across = b - a
            t = np.clip(((pix - a) * across).sum(axis=-1) / np.maximum((across * across).sum(axis=-1), 1.0), 0.0, 1.0)
            blend = _shadow_distance(pix, a + t[:, None] * across, self.spread)
            either = np.minimum(_shadow_distance(pix, a, self.spread), _shadow_distance(pix, b, self.spread))
            out[near] = np.minimum(np.minimum(out[near], blend), either)
        return np.asarray(out, np.float32)

    def refit(self, img: FloatArray, paper: BoolArray) -> Backdrop:
        """The smooth field fitted again to every pixel of `paper` (the paper seen around the product,
        not only at the border): closer to the paper near the product, where the border's fit is an
        extrapolation. The spread and the histograms are kept. With a horizon, each side apart."""
        if self.horizon is not None and self.table is not None:
            below = self.horizon.offset(*paper.shape) >= 0
            return dataclasses.replace(self._refit(img, paper & ~below),
                                       table=self.table._refit(img, paper & below))
        return self._refit(img, paper)

    def _refit(self, img: FloatArray, paper: BoolArray) -> Backdrop:
        ys, xs = np.nonzero(paper)
        if ys.size < 6 * 50:
            return self
        step = max(1, ys.size // REFIT_PIXELS)
        ys, xs = ys[::step], xs[::step]
        h, w = paper.shape
        a = _basis(ys, xs, h, w)
        b = img[ys, xs].astype(np.float64)
        coef = self.coef
        for _ in range(3):
            weight = _tukey(np.sqrt(((a @ coef - b) ** 2).sum(axis=1)), self.spread)
            sw = np.sqrt(weight)[:, None]
            coef = np.asarray(np.linalg.lstsq(a * sw, b * sw, rcond=None)[0], np.float64)
        return dataclasses.replace(self, coef=coef)

    def field(self, h: int, w: int) -> FloatArray:
        """The smooth paper colour at every pixel of an h×w frame (H×W×3, 0..255 units); with a horizon,
        the wall's above it and the table's below."""
        if self.horizon is None or self.table is None:
            return self._own_field(h, w)
        below = self.horizon.offset(h, w) >= 0
        return np.asarray(np.where(below[..., None], self.table._own_field(h, w), self._own_field(h, w)), np.float32)

    def _own_field(self, h: int, w: int) -> FloatArray:
        u = (np.arange(w) / max(1, w - 1) - 0.5).astype(np.float32)[None, :, None]
        v = (np.arange(h) / max(1, h - 1) - 0.5).astype(np.float32)[:, None, None]
        c = self.coef.astype(np.float32)  # rows: 1, u, v, u², v², uv (as _basis)
        across = c[0] + c[1] * u + c[3] * u * u  # (1, w, 3)
        return np.asarray(across + (c[2] + c[5] * u) * v + c[4] * v * v, np.float32)


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

def _tukey(resid: npt.NDArray[np.float64], scale: float) -> npt.NDArray[np.float64]:
    return np.clip(1.0 - (resid / (4.685 * scale)) ** 2, 0.0, None) ** 2


def fit_backdrop(img: FloatArray, ring: BoolArray, trimmed: bool = False, horizon: Horizon | None = None) -> Backdrop:
    """Robust (Tukey-weighted) quadratic fit to the border; the object may cover part of it.

    The fit starts from the colour most of the border agrees on (median of the stretches' medians),
    so an object covering a whole side starts with no weight at all. `trimmed` first fits the half of
    the border nearest that start a few times: on paper whose light falls off across the frame, the
    paper's own colours spread so far from one centre that a product over two sides of a corner keeps
    its weight in the Tukey fit and bends the field towards it. Only for a border already known to be
    plain paper (see cutout_find): on a busy table the trimmed half is its calmest part, and the table
    would pass for paper. With a `horizon` (find_horizon), the wall and the table are fitted apart, each
    to the border on its side of the line (less the rows near it, which mix the two); the histograms
    stay the whole border's.
    """
    if horizon is not None:
        return split_at(fit_backdrop(img, ring, trimmed), img, ring, horizon, trimmed)
    h, w = ring.shape
    ys, xs = np.nonzero(ring)
    fitted = _fit_smooth(img, ring, trimmed, 0)
    assert fitted is not None  # the whole border is always fitted
    coef, scale, outliers = fitted
    pixels = img[ys, xs].astype(np.float32)
    stretch = _stretch_of(ys, xs, h, w)
    hist, local = _border_hist(_bins(pixels), HIST_BINS**3, _density, stretch)
    chroma, _ = _border_hist(chroma_bins(pixels), CHROMA_BINS**2, chroma_density, stretch)
    return Backdrop(coef=coef, spread=scale, outliers=outliers, hist=hist, local=local,
                     chroma=chroma)


def split_at(whole: Backdrop, img: FloatArray, ring: BoolArray, horizon: Horizon, trimmed: bool = False) -> Backdrop:
    """`whole` (fit_backdrop's model of `ring`) with the wall and the table fitted apart, each to the border
    on its side of the `horizon` (less the rows near it, which mix the two); the histograms stay the whole
    border's. `whole` as it was when either side shows too little border (LEAST_PART)."""
    h, w = ring.shape
    offset = horizon.offset(h, w)
    apart = 2 * _line_band(h)
    wall = _fit_smooth(img, ring & (offset < -apart), trimmed, LEAST_PART)
    table = _fit_smooth(img, ring & (offset > apart), trimmed, LEAST_PART)
    if wall is None or table is None:
        return whole
    spread, outliers = max(wall[1], table[1]), max(wall[2], table[2])
    below = dataclasses.replace(whole, coef=table[0], spread=spread, outliers=outliers)
    return dataclasses.replace(whole, coef=wall[0], spread=spread, outliers=outliers, horizon=horizon,
                               table=below, wall_spread=wall[1])


def _fit_smooth(img: FloatArray, ring: BoolArray, trimmed: bool,
                least: int) -> tuple[npt.NDArray[np.float64], float, float] | None:
    """fit_backdrop's smooth field on `ring`: its coefficients, the border's spread around it and the share
    of the border it cannot explain; None when `ring` has fewer than `least` pixels."""
    h, w = ring.shape
    ys, xs = np.nonzero(ring)
    if ys.size < least:
        return None
    a = _basis(ys, xs, h, w)
    b = img[ys, xs].astype(np.float64)
    stretch = _stretch_of(ys, xs, h, w)
    present = [i for i in range(STRETCHES) if np.count_nonzero(stretch == i) > 1]
    centre = np.median([np.median(b[stretch == i], axis=0) for i in present], axis=0)
    resid = np.sqrt(((b - centre) ** 2).sum(axis=1))
    coef: npt.NDArray[np.float64] = np.zeros((6, 3))
    for _ in range(TRIM_STEPS if trimmed else 0):
        near = resid <= np.median(resid)
        coef = np.asarray(np.linalg.lstsq(a[near], b[near], rcond=None)[0], np.float64)
        resid = np.sqrt(((a @ coef - b) ** 2).sum(axis=1))
    weight = _tukey(resid, max(1.4826 * float(np.median(resid)), 6.0))
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
    return coef, scale, outliers


def _line_band(h: int) -> int:
    """Rows either side of a horizon whose pixels may mix the wall's colour and the table's."""
    return max(2, round(0.01 * h))


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


def grain(img: FloatArray, window: int = 5) -> FloatArray:
    """Local colour spread over window×window squares: high on wood grain or cloth, low on a flat surface
    even where it meets another flat surface (a cup's white wall against its coffee)."""
    mean = cv2.blur(img, (window, window))
    var = cv2.blur(img * img, (window, window)) - mean * mean
    return np.sqrt(np.maximum(var, 0.0).sum(axis=-1)).astype(np.float32)
