"""Finding the product on the small working copy, for the studio cut-out.

Two kinds of evidence mark where the product is: colour (what the backdrop model cannot explain) and, on
calm paper, closed outlines (edges found on a sharper copy: a white cup on white paper differs from it
only by its outline and shading). Hints narrow it: outside a box is backdrop, a product point is product,
a background point and what looks like it around is not. GrabCut then decides the outline from those
seeds, and a tidy-up keeps the product's parts and fills its gaps.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
from scipy.ndimage import find_objects

from nanococoa_mcp.ad.backends.studio.cutout_backdrop import (
    BUSY_SPREAD,
    T_BG,
    T_FG,
    T_MAYBE,
    Backdrop,
    fit_backdrop,
    grain,
    split_at,
)
from nanococoa_mcp.ad.backends.studio.cutout_boxcut import box_cut
from nanococoa_mcp.ad.backends.studio.cutout_horizon import Horizon, find_horizon
from nanococoa_mcp.ad.backends.studio.cutout_subject import (
    SCENE_SPREAD,
    choose_subject,
    solidity,
    table_scene,
    thing_at,
)
from nanococoa_mcp.ad.stages.cutout import NoProductFound
from nanococoa_mcp.jobs.cancel import checkpoint

FloatArray = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]
U8 = npt.NDArray[np.uint8]
Labels = npt.NDArray[np.int32]
XY = tuple[int, int]

NO_PRODUCT = "no product found in the photo: nothing stands apart from the backdrop"
BUSY_PIXELS = 32_000  # most pixels GrabCut runs on when the backdrop is busy (about 0.06 s a run)
EDGE_HIGH, EDGE_LOW = 2.0, 1.0  # Canny thresholds in units of the border's 90th-percentile gradient
EDGE_FLOOR = 24.0   # ... and never below this (a noiseless backdrop would make every ripple an edge)
EDGE_MIN_LENGTH = 10  # px on the sharp copy: shorter edge fragments are noise in a shadow's gradient
EDGE_CRISP = 1.5    # an edge's gradient is at least this much steeper at the fine scale than at the coarse
PAPER_OFFSET = 2.0  # a gap showing paper is, on average, within this many spreads of the paper's colour
GAP_RIM = 0.5       # ... and at least this share of its rim lies on crisp edges
REACH_CALM = 0.3    # share of the frame's diagonal within which a detached part on calm paper is the product's
REACH_BUSY = 0.08   # ... and on a busy backdrop, where stray blobs are common
BOX_BAND = 0.025    # the band inside a product box's edge taken as the room left around the product
NECK = 0.03         # share of the frame: things on a busy table meeting through a narrower neck are parted
SOLID = 0.85        # candidates on a busy table at least this solid (area over hull) are one thing
MOST_OF = 0.6       # a candidate part this share of all candidates is not one thing a background point removes
ONE_THING = 0.9     # ... unless the thing a point is on covers this share of it
HOLE_SHARE = 0.02   # a hole in the box cut at least this share of the mask is judged by a second GrabCut ...
HOLE_AGREE = 0.9    # ... and filled when the GrabCut covers this share of it
TINY_CUT = 0.12     # a box cut keeping under this share of the box kept almost nothing: GrabCut from the box
FRAME_SURE = 2.0    # a box meeting the frame: its edge counts as paper but where the distance is this many T_FG
SMOOTH_WINDOW = 9   # px of the working copy: the window a texture's grain is measured in
SMOOTH_SHARE = 0.7  # ... and a product's face is smoother than this share of the border's median grain
SMOOTH_FLOOR = 6.0  # ... when that median is at least this (0..255 units; paper's is 1-2, textures' 9-42)
SMOOTH_BORDER = 0.2  # ... and no more of the border than this is that smooth (textures <= 0.17, a sky or wall 0.3+)
SMOOTH_TABLE_SHARE = 0.55  # on a table, a thing is smoother than this share of its grain (a shadow softens it a little)
SMOOTH_MID_GREY = 128.0  # on a table, the grain is scaled to what it would be at this light (0..255) ...
SMOOTH_DARK = 20.0       # ... taking the light as this much brighter than it is (noise keeps deep shadow grainy)
PLAIN_PARTS = 0.5   # a busy-looking border is a plain wall and table when each spreads under this share of busy
PIECE_RANGE = 24    # colour difference (per channel) from the clicked colour a background point's piece ends at
AROUND_STEP = 12    # step in backdrop distance (0..255 over 3 T_FG) a background point's stretch floods across


@dataclass(frozen=True, slots=True)
class Hints:
    """The hints on the working copy's pixels."""

    box: tuple[int, int, int, int] | None = None  # x0, y0, x1, y1 (exclusive)
    product: tuple[XY, ...] = ()
    background: tuple[XY, ...] = ()

    @property
    def hinted(self) -> bool:
        return self.box is not None or bool(self.product) or bool(self.background)


@dataclass(frozen=True, slots=True)
class Found:
    """The product as found on the working copy, with the evidence used (kept for the confidence)."""

    mask: BoolArray       # GrabCut's answer, tidied
    colour: BoolArray     # what the backdrop model alone marked as product
    edges: BoolArray      # crisp edges (calm paper; empty on a busy backdrop)
    dist: FloatArray      # backdrop distance per pixel
    backdrop: Backdrop
    allowed: BoolArray    # where the product may be (the box, or the whole frame)
    set_aside: float      # area of the things around it not taken for the product, over its own (busy, no hint)
    runner_up: float = 0.0  # among several things: the best one left out, its score over the product's


def find_object(small: U8, sharp: U8, hints: Hints, iterations: int) -> Found:
    """The product on `small` (the working copy); `sharp` is the same view larger, for edges.
    Raises NoProductFound (an InvalidInput) when nothing stands apart from the backdrop and no box says where it is."""
    smallf = small.astype(np.float32)
    h, w = small.shape[:2]
    allowed, ring = _allowed_and_ring((h, w), hints.box)
    texture = grain(smallf)
    backdrop = fit_backdrop(smallf, ring)
    dist = backdrop.distance(smallf)
    horizon = find_horizon(smallf) if hints.box is None else None
    if horizon is not None:
        backdrop, dist = _wall_and_table(smallf, ring, backdrop, dist, horizon)
    colour = _colour_region(dist) & allowed
    if hints.box is None:
        touching = cv2.dilate(colour.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool) & ring
        if touching.any() and np.count_nonzero(ring & ~touching) > 0.3 * np.count_nonzero(ring):
            # The product runs off the frame: learn the backdrop again without it.
            ring = ring & ~touching
            backdrop = _fit_paper(smallf, ring, backdrop.horizon)
            dist = backdrop.distance(smallf)
            colour = _colour_region(dist)
    elif not (backdrop.busy or backdrop.patterned):
        refit = _with_frame_sides(smallf, allowed, ring, dist)
        if refit is not None:
            backdrop = refit
            dist = backdrop.distance(smallf)
            colour = _colour_region(dist) & allowed
    calm = not (backdrop.busy or backdrop.patterned)
    scene = hints.box is None and not calm and table_scene(small)
    outline, edges = np.zeros((h, w), bool), np.zeros((h, w), bool)
    on_table = np.zeros((h, w), bool)
    if hints.box is None and not calm and not scene:
        # A texture all round: what lacks its grain is closed like an outline (its inside is product).
        outline = _smooth(smallf, ring, colour)
    elif scene:
        # A busy table under a wall: what lacks the table's grain is a thing on it, a candidate only.
        if horizon is not None:
            on_table = _smooth(smallf, ring, colour, horizon.offset(h, w) > SMOOTH_WINDOW)
    like_paper = None
    if calm:
        edges, outline, like_paper = _outline_evidence(smallf, sharp, ring, colour, dist, backdrop,
                                                       hints.box is None)
        outline &= allowed
    region = colour | outline | on_table
    for x, y in hints.product:
        cv2.circle(region.view(np.uint8), (x, y), _dot(h, w), 1, -1)
    boxed_table = hints.box is not None and not calm  # cut by box_cut, which takes the points itself
    # A table before a wall, with no box: the product is chosen among the things on it (cutout_subject). A
    # plain table counts when the wall was told from it, or its border spreads more than a studio sweep's.
    crowded = scene or (hints.box is None and calm and (backdrop.horizon is not None
                                                       or math.log(backdrop.spread) > SCENE_SPREAD)
                        and table_scene(small))
    # No box, on a table: the candidates are things side by side, touching, not parts apart. (Inside a box
    # a background point's piece of the clicked colour is what peeks in from outside.)
    things = hints.box is None and (crowded or not calm)
    dropped = np.zeros_like(region) if boxed_table else _marked_background(small, region, dist, hints, things)
    everything = region & ~dropped
    region = _parts(everything, hints, calm)
    if not region.any():
        if hints.box is None:
            raise NoProductFound(NO_PRODUCT, field="product_image")
        region = allowed.copy()  # the box says the product is there: let GrabCut find it inside
    checkpoint()
    others = np.zeros_like(region)
    runner_up = 0.0
    tapped = _discs(hints.background, (h, w), _dot(h, w))
    if crowded:
        # Several things on a table and no box: the one a photographer would have meant (cutout_subject),
        # and whatever thing a product point was put on.
        piece = choose_subject(small, everything, dist, hints.product).mask
        if piece.any():
            others, region = everything & ~piece, piece
    elif not calm and hints.box is None:
        # The central piece, and whatever piece a product point was put on (a point adds, it does not
        # choose: the automatic choice was most often right about the rest).
        piece = _central_piece(region) | _pieces(small, hints.product, region, tapped)
        others, region = region & ~piece, piece
    set_aside = float(np.count_nonzero(others)) / max(1, int(np.count_nonzero(region)))
    seeds, forced = _seeds(dist, region, outline, ring, hints, allowed, everything if hints.box is None else None)
    forced |= dropped
    seeds[dropped] = cv2.GC_BGD
    seeds[others & (seeds != cv2.GC_FGD)] = cv2.GC_PR_BGD
    if hints.box is not None:
        before = forced.copy()
        _spill_over(small, seeds, forced, region, dist, allowed)
    if boxed_table:
        # A box on a busy table: the box is the stronger evidence (cutout_boxcut). A background point
        # there marks its disc only (the table's colour evidence would flood too far); _unmarked then
        # takes the piece it sits on.
        backdrop_known = (forced & ~before) | _discs(hints.background, (h, w), 2 * _dot(h, w))
        # A product point's piece, unless it runs to the box's edge (then it is the table's colour).
        product_known = (seeds == cv2.GC_FGD) | _pieces(small, hints.product, allowed, backdrop_known | ring)
        mask = box_cut(small, allowed, allowed & ~ring, texture, product_known & ~backdrop_known,
                       backdrop_known) & allowed
        # Where the histograms fail, the box and a GrabCut from the evidence speak: a hole they cut
        # that the GrabCut fills is filled, and a cut keeping almost nothing of the box gives way to
        # a GrabCut from the box itself.
        mask = _holes_grabcut_fills(mask, lambda: _grabcut(small, seeds, forced, dist, iterations, True) & allowed)
        if np.count_nonzero(mask) < TINY_CUT * np.count_nonzero(allowed):
            mask = _box_grabcut(small, allowed, forced, dist, iterations) | mask
    else:
        mask = _grabcut(small, seeds, forced, dist, iterations, backdrop.busy) & allowed
    mask = _tidy(_unmarked(small, mask, hints, things), dist, texture, like_paper, edges, hints, calm,
                 _like_border(small, texture, ring))
    if not mask.any():
        if hints.box is None:
            raise NoProductFound(NO_PRODUCT, field="product_image")
        mask = region & allowed
    if crowded:
        subject = choose_subject(small, mask, dist, hints.product)
        mask, set_aside, runner_up = subject.mask, set_aside + subject.set_aside, subject.runner_up
    return Found(mask=mask, colour=colour, edges=edges, dist=dist, backdrop=backdrop, allowed=allowed,
                 set_aside=set_aside, runner_up=runner_up)


def _wall_and_table(img: FloatArray, ring: BoolArray, backdrop: Backdrop, dist: FloatArray,
                    horizon: Horizon) -> tuple[Backdrop, FloatArray]:
    """The backdrop in two parts, the wall above the `horizon` and the table below it (cutout_horizon),
    with the backdrop distance it gives, when the frame shows a wall above a table; else `backdrop` and
    `dist` as they were. A plain wall over a busy table: the wall is judged by its own smooth field (the border's
    histograms left its stretches out when the frame's foot never shows its colour, and a patch of it was
    kept). Both plain: taken apart when they meet in a step (their fields differ along the line by over
    T_MAYBE spreads: a sweep bending into its floor has none), as one field fitted to the whole border
    bends between them and a wall coloured unlike the table was outliers to it, kept as product; a
    border that looked busy only when both parts are far calmer than busy (PLAIN_PARTS): linen spreads
    nearly as much on its own, and cut as plain paper it lost the things on it to their neighbours (seed
    0 cluttered-02 0.997 -> 0.44)."""
    split = split_at(backdrop, img, ring, horizon)
    if split.table is None:
        return backdrop, dist
    if backdrop.busy and split.plain_wall:
        return split, split.distance(img)
    if split.busy or split.patterned or (backdrop.busy and split.spread > PLAIN_PARTS * BUSY_SPREAD):
        return backdrop, dist
    if split.horizon_step(*ring.shape) <= T_MAYBE:
        return backdrop, dist
    return split, split.distance(img)


def _fit_paper(img: FloatArray, ring: BoolArray, horizon: Horizon | None = None) -> Backdrop:
    """The backdrop learnt from `ring` (the border less the product running off the frame); when that is
    plain paper, fitted again from the ring's nearer half (cutout_backdrop.fit_backdrop, trimmed), kept
    if it is still plain paper: a product over a frame corner, on paper whose light falls off, then does
    not bend the field. Not for the first look at the whole frame, whose border may be a busy table's
    (its nearer half is the table's calmest part: seed 3 cluttered-10 was taken for paper), nor for a
    box's margin alone (measured: seed 1 frame-09 boxed 0.999 -> 0.961); a box's margin with the frame's
    sides inside the box takes it (_with_frame_sides)."""
    backdrop = fit_backdrop(img, ring, horizon=horizon)
    if not (backdrop.busy or backdrop.patterned):
        trimmed = fit_backdrop(img, ring, trimmed=True, horizon=horizon)
        if not (trimmed.busy or trimmed.patterned):
            return trimmed
    return backdrop


def _with_frame_sides(img: FloatArray, allowed: BoolArray, ring: BoolArray, dist: FloatArray) -> Backdrop | None:
    """A box on plain paper that meets the frame: the backdrop learnt from the box's margin and the paper
    along the frame's edge inside the box (less where the product surely runs off it), or None when that
    adds nothing or is not plain paper. Only the fit takes that edge: as backdrop seeds it cut a light
    keyboard running off the frame (seed 3 studio-20 boxed 0.994 -> 0.967). The margin alone may lie on one side
    of paper whose light changes towards a corner the box covers, and the field extrapolated from it
    there strayed from the paper, which was then taken for product (seed 2 frame-11 boxed: the paper
    between a guitar's neck and the two frame edges, IoU 0.56)."""
    h, w = dist.shape
    sides = allowed & _ring((h, w), max(2, round(0.02 * min(h, w)))) & ~ring  # no margin on these sides
    sure = cv2.dilate((dist > FRAME_SURE * T_FG).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    extra = sides & ~sure
    if not extra.any() or np.count_nonzero(extra) < 0.3 * np.count_nonzero(sides):
        return None
    refit = _fit_paper(img, ring | extra)
    return None if refit.busy or refit.patterned else refit


def _allowed_and_ring(shape: tuple[int, int], box: tuple[int, int, int, int] | None) -> tuple[BoolArray, BoolArray]:
    """Where the product may be (the box, or the whole frame), and where the backdrop is learnt: the
    frame's border; with a box, the margin around it and the room left inside its edge (where the box
    meets the frame the product may run off it: no room is assumed on that side)."""
    h, w = shape
    if box is None:
        return np.ones(shape, bool), _ring(shape, max(2, round(0.02 * min(h, w))))
    x0, y0, x1, y1 = box
    allowed = np.zeros(shape, bool)
    allowed[y0:y1, x0:x1] = True
    room = max(1, round(BOX_BAND * min(x1 - x0, y1 - y0)))
    inner = np.zeros(shape, bool)
    inner[y0 + (room if y0 > 0 else 0):y1 - (room if y1 < h else 0),
          x0 + (room if x0 > 0 else 0):x1 - (room if x1 < w else 0)] = True
    return allowed, ~inner


def _outline_evidence(img: FloatArray, sharp: U8, ring: BoolArray, colour: BoolArray, dist: FloatArray,
                      backdrop: Backdrop, whole_frame: bool) -> tuple[BoolArray, BoolArray, BoolArray]:
    """On calm paper: the crisp edges, what they (and the colour evidence) enclose less the gaps that
    show paper, and which pixels look like the paper itself."""
    h, w = img.shape[:2]
    edges = _edges(sharp, ring, (w, h))
    walls = edges | colour
    votes = _surrounded(walls)
    # The paper in view: away from every outline and not enclosed by one.
    open_paper = (votes < 7) & (dist < T_BG) & (cv2.dilate(walls.astype(np.uint8), np.ones((9, 9), np.uint8)) == 0)
    corrected, smooth = _paper(img, backdrop, open_paper)
    # In a box's small view the smooth field alone is an extrapolation from a thin margin: there only
    # the corrected measure counts (measured: a boxed white product lost its faces to it).
    like_paper = _like_paper(dist, corrected, smooth if whole_frame else corrected)
    return edges, _enclosed(votes, walls, edges, like_paper, dist), like_paper


def _ring(shape: tuple[int, int], width: int) -> BoolArray:
    ring = np.zeros(shape, bool)
    ring[:width], ring[-width:], ring[:, :width], ring[:, -width:] = True, True, True, True
    return ring


def _dot(h: int, w: int) -> int:
    """Radius of the disc a point marks on the working copy."""
    return max(2, round(0.012 * math.hypot(h, w)))


def _paper(img: FloatArray, backdrop: Backdrop, open_paper: BoolArray) -> tuple[FloatArray, FloatArray]:
    """Each pixel's colour difference from the paper at its place, in units of the paper's spread, two
    ways: from the paper corrected by how the open paper nearby departs from the smooth field fitted to
    all the open paper in view (a vignette, uneven light: the field is only a quadratic), and from that
    field alone (the open paper nearby may be the product's shadow, darker than the paper it encloses)."""
    h, w = img.shape[:2]
    field = backdrop.refit(img, open_paper).field(h, w)
    # The correction is smooth (sigma 8 % of the frame): worked out on a quarter-size copy.
    size = (max(8, w // 4), max(8, h // 4))
    sigma = 0.08 * max(size)
    weight = cv2.GaussianBlur(cv2.resize(open_paper.astype(np.float32), size, interpolation=cv2.INTER_AREA),
                              (0, 0), sigma)
    local = cv2.GaussianBlur(cv2.resize((img - field) * open_paper[..., None], size, interpolation=cv2.INTER_AREA),
                             (0, 0), sigma)
    correction = local / np.maximum(weight, 1e-3)[..., None] * np.clip(weight / 0.05, 0.0, 1.0)[..., None]
    correction = cv2.resize(correction, (w, h), interpolation=cv2.INTER_LINEAR)
    return (((img - field - correction) / backdrop.spread).astype(np.float32),
            ((img - field) / backdrop.spread).astype(np.float32))


def _components(mask: BoolArray, min_area: int) -> tuple[Labels, Labels]:
    """Labels of the 8-connected parts of `mask`, and the ids of those of at least `min_area` px."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    keep = np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] >= min_area) + 1
    return np.asarray(labels, np.int32), keep.astype(np.int32)


def _smooth(img: FloatArray, ring: BoolArray, colour: BoolArray, table: BoolArray | None = None) -> BoolArray:
    """On a textured backdrop all round (wood, cloth, marble seen close), what is much smoother than it
    and meets the colour evidence: a product's faces coloured like the texture's light or dark streaks
    still lack its grain. Not where the border shows no grain (SMOOTH_FLOOR): a backdrop out of focus is
    the smooth thing there, not the product; nor where much of the border is smooth itself (SMOOTH_BORDER):
    the texture is not all round (a launch pad's towers under a plain sky, a table under a wall).

    `table`: the texture is a table's, below a wall (where the grain window stays off the wall); it is
    looked at there only, and its grain is measured against the light it lies in, as a thing's shadow
    darkens the grain with the wood (a handbag's dark band on walnut, lost as the table's colour)."""
    k = 2 * SMOOTH_WINDOW + 1
    spread = cv2.blur(grain(img, SMOOTH_WINDOW), (k, k))  # the grain's level, not its every streak
    if table is not None:
        spread *= SMOOTH_MID_GREY / (cv2.blur(img.mean(axis=-1), (k, k)) + SMOOTH_DARK)
        ring = ring & table
    typical = float(np.median(spread[ring])) if ring.any() else 0.0
    low = spread < (SMOOTH_SHARE if table is None else SMOOTH_TABLE_SHARE) * typical
    if typical < SMOOTH_FLOOR or float(np.mean(low[ring])) > SMOOTH_BORDER:
        return np.zeros_like(colour)
    if table is not None:
        low &= table
    low = cv2.morphologyEx(low.astype(np.uint8), cv2.MORPH_OPEN, np.ones((5, 5), np.uint8)) > 0
    h, w = low.shape
    labels, keep = _components(low, max(4, h * w // 1000))
    near = cv2.dilate(colour.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    meets = np.unique(labels[near & np.isin(labels, keep)])
    return np.isin(labels, meets[meets > 0])


def _colour_region(dist: FloatArray) -> BoolArray:
    """Pixels that stand apart from the backdrop, grown from the surest ones (hysteresis)."""
    h, w = dist.shape
    sure = cv2.morphologyEx((dist > T_FG).astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)) > 0
    labels, keep = _components((dist > T_MAYBE) | sure, max(4, h * w // 5000))
    seeded = np.unique(labels[sure & np.isin(labels, keep)])
    return np.isin(labels, seeded[seeded > 0])


def _edges(sharp: U8, ring: BoolArray, size: tuple[int, int]) -> BoolArray:
    """Outline evidence on the working copy's grid (`size` = w, h): Canny on the sharper copy, its
    thresholds set by the gradient the backdrop itself shows on `ring` (noise, grain, JPEG). Only crisp
    edges count: a shadow's soft gradient is as steep at a coarse scale as at a fine one, an object's
    outline much steeper at the fine one. Short fragments are dropped."""
    fine = cv2.GaussianBlur(sharp, (0, 0), 1.0)
    magnitude = _gradient(np.asarray(fine, np.uint8))
    on_ring = cv2.resize(ring.astype(np.uint8), (sharp.shape[1], sharp.shape[0]), interpolation=cv2.INTER_NEAREST)
    noise = float(np.percentile(magnitude[on_ring > 0], 90)) if on_ring.any() else EDGE_FLOOR
    high = max(EDGE_FLOOR, EDGE_HIGH * noise)
    edges = cv2.Canny(fine, max(EDGE_FLOOR / 2, EDGE_LOW * noise), high, L2gradient=True) > 0
    coarse = cv2.dilate(_gradient(np.asarray(cv2.GaussianBlur(sharp, (0, 0), 3.0), np.uint8)),
                        np.ones((3, 3), np.uint8))
    edges &= magnitude > EDGE_CRISP * coarse
    labels, keep = _components(edges, EDGE_MIN_LENGTH)
    pooled = cv2.resize(np.isin(labels, keep).astype(np.float32), size, interpolation=cv2.INTER_AREA)
    return np.asarray(pooled > 0.15)


def _gradient(img: U8) -> FloatArray:
    """Sobel gradient magnitude, the largest over the colour channels."""
    gx = cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=3)
    return np.asarray(np.sqrt(gx * gx + gy * gy).max(axis=-1), np.float32)


def _surrounded(walls: BoolArray) -> npt.NDArray[np.uint8]:
    """For each pixel, in how many of the 8 compass directions a wall pixel lies (itself included): 8
    inside a closed outline, 7 inside one with a gap or in a deep bay, at most 5 out on open paper."""
    h, w = walls.shape
    e = walls.astype(np.uint8)
    votes = np.zeros((h, w), np.uint8)
    for view in (e, e.T):  # along rows and columns, both ways
        forward = np.maximum.accumulate(view, axis=1)
        backward = np.maximum.accumulate(view[:, ::-1], axis=1)[:, ::-1]
        votes += (forward + backward).T if view is not e else forward + backward
    rows = np.arange(h)[:, None]
    for mirrored in (e, e[:, ::-1]):  # the two diagonals: shear each row by its index, then scan columns
        cols = np.arange(w)[None, :] + np.arange(h)[:, None]
        sheared = np.zeros((h, w + h), np.uint8)
        sheared[rows, cols] = mirrored
        down = np.maximum.accumulate(sheared, axis=0)[rows, cols]
        up = np.maximum.accumulate(sheared[::-1], axis=0)[::-1][rows, cols]
        both = down + up
        votes += both if mirrored is e else both[:, ::-1]
    return votes


def _filled(mask: BoolArray) -> BoolArray:
    """`mask` with every enclosed gap filled (what cannot be reached from the frame's edge)."""
    outside = np.zeros((mask.shape[0] + 2, mask.shape[1] + 2), np.uint8)
    outside[1:-1, 1:-1] = mask
    cv2.floodFill(outside, None, (0, 0), 2)
    return outside[1:-1, 1:-1] != 2


def _enclosed(votes: npt.NDArray[np.uint8], walls: BoolArray, edges: BoolArray, like_paper: BoolArray,
              dist: FloatArray) -> BoolArray:
    """What outlines (edges and colour) enclose, less the gaps that show paper (the space inside a
    headphone's band), and less bare outlines (an edge enclosing nothing is not a product). A pixel
    with walls in all 8 directions (`votes`, from _surrounded) is enclosed; one open to a single
    direction (a gap in the outline, a bay, the frame's edge) only when it does not look like paper."""
    inside = (votes == 8) | ((votes == 7) & ~like_paper)
    inside &= ~_paper_gaps(inside & ~walls, edges, like_paper, dist, like_paper & ~inside & ~walls)
    return cv2.morphologyEx(inside.astype(np.uint8), cv2.MORPH_OPEN,
                            cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))).astype(bool)


def _like_paper(dist: FloatArray, paper: FloatArray, smooth_paper: FloatArray) -> BoolArray:
    """Pixels that look like the paper itself: backdrop-coloured and, averaged over 5×5 so the noise is
    gone, within PAPER_OFFSET spreads of its colour by either of _paper's measures (a white product's
    face differs from the paper by a few levels, evenly; its shaded side is darker, as a shadow would be)."""
    offset = np.minimum(np.linalg.norm(cv2.blur(paper, (5, 5)), axis=-1),
                        np.linalg.norm(cv2.blur(smooth_paper, (5, 5)), axis=-1))
    return np.asarray((offset < PAPER_OFFSET) & (dist < T_BG))


def _paper_gaps(candidates: BoolArray, edges: BoolArray, like_paper: BoolArray, dist: FloatArray,
                open_paper: BoolArray | None = None) -> BoolArray:
    """The parts of `candidates` that show the paper through a gap in the product: ringed by crisp edges
    (the product's inner outline; a lit face of a white product that happens to match the paper fades
    into its shading instead), backdrop-coloured throughout, and at least half of it the paper itself
    (the rest may lie in the product's shadow). Candidates joined only through a gap in an outline are
    judged apart. Where a part runs on into `open_paper` (the paper not enclosed, beside it) the rim is
    no outline and is not judged: the paper wedged between a headband and its ear cup, enclosed on all
    sides but the band's open middle, was kept for its rim there (seed 1 studio-19)."""
    labels = _split(candidates)
    out = np.zeros_like(candidates)
    near_edge = cv2.dilate(edges.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    for i, found in enumerate(find_objects(labels), start=1):
        if found is None:
            continue
        rows, cols = found
        box = (slice(max(0, rows.start - 2), rows.stop + 2), slice(max(0, cols.start - 2), cols.stop + 2))
        gap = labels[box] == i
        if np.count_nonzero(gap) < 12:
            continue
        if float(np.mean(like_paper[box][gap])) < 0.5 or float(np.mean(dist[box][gap] < T_BG)) < 0.8:
            continue
        rim = cv2.dilate(gap.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & ~gap
        rim &= labels[box] == 0  # not where it was split from a neighbour
        if open_paper is not None:
            rim &= ~open_paper[box]
        if rim.any() and float(np.mean(near_edge[box][rim])) >= GAP_RIM:
            out[box] |= gap
    return out


def _split(mask: BoolArray) -> Labels:
    """Labels of the parts of `mask`, parts joined only by a passage under 7 px wide counted apart: the
    cores left by an erosion, grown back over the mask."""
    core = cv2.erode(mask.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7)))
    labels = np.asarray(cv2.connectedComponents(core, connectivity=4)[1], np.int32)
    kernel = np.ones((3, 3), np.uint8)
    for _ in range(3):
        grown = cv2.dilate(labels.astype(np.float32), kernel).astype(np.int32)
        take = mask & (labels == 0) & (grown > 0)
        labels[take] = grown[take]
    return labels


def _central_piece(region: BoolArray) -> BoolArray:
    """On a busy table with no hint, the product among the things touching it. When the candidates run
    off the frame (a person behind, the table's other things) and are not one compact shape, they are
    parted where they meet through narrow necks (an erosion by NECK of the frame), and the piece that
    is large and near the middle of the frame (a little below it, where products are put) is kept,
    grown back to its own outline."""
    h, w = region.shape
    sides = sum(int(np.count_nonzero(line) > 0.03 * line.size)
                for line in (region[0], region[-1], region[:, 0], region[:, -1]))
    if sides == 0 or _compact(region):  # one thing standing free: nothing to choose between
        return region
    k = max(3, round(NECK * max(h, w)))
    core = cv2.erode(region.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1,) * 2))
    n, labels, stats, centroids = cv2.connectedComponentsWithStats(core, connectivity=8)
    big = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= 0.02 * np.count_nonzero(region)]
    if len(big) < 2:
        return region
    sigma = 0.25 * math.hypot(h, w)

    def score(i: int) -> float:
        dx, dy = centroids[i][0] - w / 2, centroids[i][1] - 0.6 * h
        return math.sqrt(float(stats[i, cv2.CC_STAT_AREA])) * math.exp(-(dx * dx + dy * dy) / (2 * sigma * sigma))

    chosen = (labels == max(big, key=score)).astype(np.uint8)
    grown = cv2.dilate(chosen, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 5,) * 2)) > 0
    return np.asarray(grown & region)


def _compact(region: BoolArray) -> bool:
    """One part, nearly convex (area over hull area at least SOLID)."""
    n = cv2.connectedComponents(region.astype(np.uint8), connectivity=8)[0]
    return n <= 2 and (not region.any() or solidity(region) >= SOLID)


def _marked_background(img: U8, region: BoolArray, dist: FloatArray, hints: Hints, things: bool) -> BoolArray:
    """What background points were put on among the candidate parts: a part whole (a shoe with its
    laces) when it is a thing apart: under MOST_OF the candidates or, among `things` (a table's), one
    thing (cutout_subject.thing_at grows most of it from the point). In a part that holds most of them
    (the product and its neighbours touching, one blob), the thing the point is on when it is a
    minority of the blob (a mug beside a laptop), else only the piece of the clicked colour (_pieces).
    Nothing on a part holding a product point, and nothing when nothing else would be left: _seeds
    then marks only the stretch around each point."""
    dropped = np.zeros_like(region)
    if not hints.background:
        return dropped
    labels = np.asarray(cv2.connectedComponents(region.astype(np.uint8), connectivity=8)[1])
    areas = np.bincount(labels.ravel())
    keep = {int(labels[y, x]) for x, y in hints.product}
    total = int(np.count_nonzero(region))
    h, w = region.shape
    products = _discs(hints.product, (h, w), _dot(h, w))
    for x, y in hints.background:
        part = int(labels[y, x])
        if part == 0:
            continue
        whole = labels == part
        apart = areas[part] < MOST_OF * total and part not in keep
        if part in keep or not things:
            dropped |= whole if apart else _pieces(img, ((x, y),), region, products)
            continue
        piece, thing = thing_at(img, whole, (x, y))
        if np.count_nonzero(thing) >= ONE_THING * areas[part] or (apart and _compact(whole)):
            dropped |= whole
            continue
        minority = [p for p in (thing, piece) if np.count_nonzero(p) <= 0.5 * areas[part] and not (p & products).any()]
        dropped |= minority[0] if minority else _pieces(img, ((x, y),), region, products)
    return dropped if (region & ~dropped).any() else np.zeros_like(region)


def _parts(region: BoolArray, hints: Hints, calm: bool) -> BoolArray:
    """The product's parts among the candidate ones: the largest and those holding a product point;
    then every part near what is kept (on calm paper, the far earring too). Inside a box every sizeable
    part is kept."""
    h, w = region.shape
    labels, ids = _components(region, max(4, h * w // 5000))
    if ids.size == 0:
        return np.zeros_like(region)
    areas = np.bincount(labels.ravel(), minlength=int(labels.max()) + 1)
    marked = [int(labels[y, x]) for x, y in hints.product if labels[y, x] > 0]
    if hints.box is not None:
        return np.isin(labels, [*ids[areas[ids] >= 0.02 * areas[ids].max()], *marked])
    largest = int(ids[np.argmax(areas[ids])])
    mains = sorted({largest, *marked})
    reach = (REACH_CALM if calm else REACH_BUSY) * math.hypot(h, w)
    return _near(labels, ids, mains, reach, calm)


def _near(labels: Labels, ids: Labels, mains: list[int], reach: float, calm: bool) -> BoolArray:
    """`mains` plus, step by step, every other part within `reach` px of what is kept and at least 1 %
    of the largest main's size; on calm paper a part along the frame's edge (a vignette's dark corner)
    only when it is a fifth of the main's size."""
    areas = np.bincount(labels.ravel(), minlength=int(labels.max()) + 1)
    kept = np.isin(labels, mains)
    biggest = max(int(areas[m]) for m in mains)
    edge_ids = set(np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])).tolist())
    pending = [int(i) for i in ids if i not in mains and areas[i] >= 0.01 * biggest
               and not (calm and i in edge_ids and areas[i] < 0.2 * biggest)]
    while pending:
        gap = cv2.distanceTransform((~kept).astype(np.uint8), cv2.DIST_L2, 3)
        per_label = np.full(int(labels.max()) + 1, np.inf, np.float32)
        np.minimum.at(per_label, labels.ravel(), gap.ravel())  # cheaper than scipy's sort-based minimum
        close = [i for i in pending if per_label[i] <= reach]
        if not close:
            break
        kept |= np.isin(labels, close)
        pending = [i for i in pending if i not in close]
    return kept


def _seeds(dist: FloatArray, region: BoolArray, outline: BoolArray, ring: BoolArray, hints: Hints,
           allowed: BoolArray, candidates: BoolArray | None) -> tuple[U8, BoolArray]:
    """GrabCut's starting labels from the evidence, instead of a rectangle; and where backdrop is
    forced by the hints (outside the box, around background points), for every GrabCut run."""
    h, w = dist.shape
    seeds = np.where(region | ((dist > T_MAYBE) & allowed), cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    reach = max(3, round(0.06 * max(h, w)))
    near = cv2.dilate(_filled(region).astype(np.uint8),
                      cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1,) * 2))
    # Far from every candidate part: backdrop whatever its colour. On the frame's edge: backdrop
    # only where it looks like it (a product may run off the frame).
    seeds[(near == 0) | (ring & (dist < T_BG))] = cv2.GC_BGD
    sure = cv2.erode(((dist > T_FG) & region).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    # Deep inside a closed outline: product, whatever its colour (white on white paper).
    depth = cv2.distanceTransform((outline & region).astype(np.uint8), cv2.DIST_L2, 3)
    sure |= depth > max(4.0, 0.25 * float(depth.max(initial=0.0)))
    seeds[sure] = cv2.GC_FGD
    forced = ~allowed
    r = _dot(h, w)
    for x, y in hints.background:
        forced |= _around(dist, (x, y), r, candidates)
    for x, y in hints.product:
        cv2.circle(seeds, (x, y), r, cv2.GC_FGD, -1)
    seeds[forced] = cv2.GC_BGD
    return seeds, forced


def _spill_over(img: U8, seeds: U8, forced: BoolArray, region: BoolArray, dist: FloatArray,
                allowed: BoolArray) -> None:
    """A box is drawn around the product with a little room: what crosses its edge from something
    outside (the legs of a person behind, a neighbour leaning in) is not product. Where it crosses,
    within BOX_BAND of the edge, it becomes backdrop; further in, candidate pixels coloured like the
    visitor outside lose their sure-product seeds, so GrabCut may give them to the backdrop."""
    h, w = dist.shape
    ys, xs = np.nonzero(allowed)
    y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    room = max(1, round(BOX_BAND * min(y1 - y0, x1 - x0)))
    edge = np.zeros((h, w), bool)  # the box's own edge, where the frame does not cut it
    if y0 > 0:
        edge[y0, x0:x1] = True
    if y1 < h:
        edge[y1 - 1, x0:x1] = True
    if x0 > 0:
        edge[y0:y1, x0] = True
    if x1 < w:
        edge[y0:y1, x1 - 1] = True
    outside = (~allowed & (dist > T_MAYBE)).astype(np.uint8)
    entering = edge & region & (cv2.dilate(outside, np.ones((3, 3), np.uint8)) > 0)
    if not entering.any():
        return
    labels = np.asarray(cv2.connectedComponents((region & allowed).astype(np.uint8), connectivity=8)[1])
    crossing = np.isin(labels, np.unique(labels[entering]))
    inner = np.zeros((h, w), bool)
    inner[y0 + room:y1 - room, x0 + room:x1 - room] = True
    cut = crossing & ~inner & allowed
    forced |= cut
    seeds[cut] = cv2.GC_BGD
    out_labels = np.asarray(cv2.connectedComponents(outside | cut.astype(np.uint8), connectivity=8)[1])
    visitor = np.isin(out_labels, np.unique(out_labels[entering])) & ~allowed
    bins = (img[..., 0] // 32).astype(np.int64) * 64 + (img[..., 1] // 32) * 8 + img[..., 2] // 32
    seen_out = np.bincount(bins[visitor], minlength=512) / max(1, int(np.count_nonzero(visitor)))
    seen_in = np.bincount(bins[crossing], minlength=512) / max(1, int(np.count_nonzero(crossing)))
    like_visitor = crossing & (seen_out[bins] > seen_in[bins])
    seeds[like_visitor & (seeds == cv2.GC_FGD)] = cv2.GC_PR_FGD


def _discs(points: tuple[XY, ...], shape: tuple[int, int], r: int) -> BoolArray:
    discs = np.zeros(shape, np.uint8)
    for x, y in points:
        cv2.circle(discs, (x, y), r, 1, -1)
    return discs.astype(bool)


def _pieces(img: U8, points: tuple[XY, ...], within: BoolArray, avoid: BoolArray) -> BoolArray:
    """What a flood from each point reaches within `within` through colours within PIECE_RANGE of the
    clicked one: the piece a point was put on. A flood that reaches `avoid` or takes more than a
    quarter of `within` has run out of the piece (into a table of the same colour): it is left out."""
    smooth = np.asarray(cv2.GaussianBlur(img, (0, 0), 1.5), np.uint8)
    out = np.zeros(within.shape, bool)
    room = int(np.count_nonzero(within))
    for x, y in points:
        if not within[y, x] or out[y, x]:
            continue
        piece = _flood(smooth, within, (x, y))
        if not (piece & avoid).any() and np.count_nonzero(piece) <= 0.25 * room:
            out |= piece
    return out


def _flood(smooth: U8, within: BoolArray, at: XY) -> BoolArray:
    """What a flood from `at` reaches within `within` through colours within PIECE_RANGE of its own."""
    h, w = within.shape
    barrier = np.ones((h + 2, w + 2), np.uint8)
    barrier[1:-1, 1:-1] = ~within
    cv2.floodFill(smooth, barrier, at, (0, 0, 0), (PIECE_RANGE,) * 3, (PIECE_RANGE,) * 3,
                  4 | cv2.FLOODFILL_MASK_ONLY | cv2.FLOODFILL_FIXED_RANGE | (2 << 8))
    return np.asarray(barrier[1:-1, 1:-1] == 2)


def _unmarked(img: U8, mask: BoolArray, hints: Hints, things: bool) -> BoolArray:
    """`mask` less the piece each background point sits on: among `things` (a table's), the thing it is
    on (cutout_subject.thing_at), or its piece when the thing is most of the mask; else, or when the
    piece is too, what a flood from the point reaches within the mask through colours within
    PIECE_RANGE of the clicked one, so a neighbour leaning on the product goes up to the edge between
    them. What reaches a product point, or takes more than half the mask, has crossed into the
    product: then only the disc around the point goes."""
    if not hints.background or not mask.any():
        return mask
    h, w = mask.shape
    smooth = np.asarray(cv2.GaussianBlur(img, (0, 0), 1.5), np.uint8)
    products = _discs(hints.product, (h, w), 0)
    out = mask.copy()
    for x, y in hints.background:
        if not out[y, x]:
            continue
        half = 0.5 * np.count_nonzero(out)
        found = [*thing_at(img, out, (x, y))[::-1]] if things else []  # the thing, then its piece
        found.append(_flood(smooth, out, (x, y)))
        out &= ~next((p for p in found if not (p & products).any() and np.count_nonzero(p) <= half),
                     _discs(((x, y),), (h, w), 2 * _dot(h, w)))
    return out


def _around(dist: FloatArray, at: XY, r: int, candidates: BoolArray | None) -> BoolArray:
    """What a background point marks: the disc around it, and the stretch of like backdrop distance
    connected to it (the rest of the shadow or thing it was put on) unless that floods most of the
    photo, or, from a point on something as far from the backdrop as the scale goes, half the
    `candidates` (with no box): all things are that far, and the flood from a tap on a mug ran over
    the laptop it touched (the thing a point is on is then _marked_background's). Inside a box it is
    the one thing peeking in."""
    h, w = dist.shape
    level = np.clip(dist / (3.0 * T_FG) * 255.0, 0, 255).astype(np.uint8)
    flood = np.zeros((h + 2, w + 2), np.uint8)
    cv2.floodFill(level, flood, at, 0, loDiff=AROUND_STEP, upDiff=AROUND_STEP,
                  flags=4 | cv2.FLOODFILL_MASK_ONLY | (1 << 8))
    marked = flood[1:-1, 1:-1] > 0
    if np.count_nonzero(marked) >= 0.25 * h * w or (
            candidates is not None and level[at[1], at[0]] >= 255 - AROUND_STEP
            and np.count_nonzero(marked & candidates) >= 0.5 * np.count_nonzero(candidates)):
        marked[:] = False
    disc = np.zeros((h, w), np.uint8)
    cv2.circle(disc, at, 2 * r, 1, -1)
    return np.asarray(marked | (disc > 0))


def _grabcut(img: U8, seeds: U8, forced: BoolArray, dist: FloatArray, iterations: int, busy: bool) -> BoolArray:
    """Mask-initialised GrabCut around the candidate parts; on a busy backdrop also a box-initialised
    run (everything in the first answer's box may be product), kept when its energy is lower."""
    ys, xs = np.nonzero(seeds != cv2.GC_BGD)
    if ys.size == 0:
        return np.zeros(seeds.shape, bool)
    y0, y1 = max(0, int(ys.min()) - 4), min(img.shape[0], int(ys.max()) + 5)
    x0, x1 = max(0, int(xs.min()) - 4), min(img.shape[1], int(xs.max()) + 5)
    crop, first, near, hard = img[y0:y1, x0:x1], seeds[y0:y1, x0:x1], dist[y0:y1, x0:x1], forced[y0:y1, x0:x1]
    size = (x1 - x0, y1 - y0)
    shrink = min(1.0, math.sqrt(BUSY_PIXELS / (size[0] * size[1]))) if busy else 1.0
    if shrink < 1.0:
        # A busy backdrop makes GrabCut's max-flow slow, and its outline is re-matted at full
        # resolution anyway: run it on a smaller copy.
        small = (max(8, round(size[0] * shrink)), max(8, round(size[1] * shrink)))
        crop = np.asarray(cv2.resize(crop, small, interpolation=cv2.INTER_AREA), np.uint8)
        first = np.asarray(cv2.resize(first, small, interpolation=cv2.INTER_NEAREST), np.uint8)
        near = np.asarray(cv2.resize(near, small, interpolation=cv2.INTER_AREA), np.float32)
        hard = cv2.resize(hard.astype(np.uint8), small, interpolation=cv2.INTER_NEAREST) > 0
    best = _grabcut_pair(np.ascontiguousarray(crop), first.copy(), hard, near, iterations, busy)
    if shrink < 1.0:
        best = cv2.resize(best.astype(np.float32), size, interpolation=cv2.INTER_LINEAR) >= 0.5
    out = np.zeros(seeds.shape, bool)
    out[y0:y1, x0:x1] = best
    return out


def _grabcut_pair(crop: U8, seeds: U8, forced: BoolArray, dist: FloatArray, iterations: int, busy: bool) -> BoolArray:
    """GrabCut from `seeds`; when `busy`, also from the box of its answer, keeping the lower energy."""
    if not ((seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD)).any() or not (
            (seeds == cv2.GC_BGD) | (seeds == cv2.GC_PR_BGD)).any():
        return (seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD)  # GrabCut needs both kinds to start
    best, models = _grabcut_run(crop, seeds.copy(), iterations)
    checkpoint()
    if busy and best.any():
        by, bx = np.nonzero(best)
        box = np.full_like(seeds, cv2.GC_BGD)
        box[max(0, by.min() - 2):by.max() + 3, max(0, bx.min() - 2):bx.max() + 3] = cv2.GC_PR_FGD
        box[(box == cv2.GC_PR_FGD) & (dist < T_BG)] = cv2.GC_PR_BGD
        box[seeds == cv2.GC_FGD] = cv2.GC_FGD
        box[forced] = cv2.GC_BGD
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


Border = Callable[[BoolArray], tuple[BoolArray, FloatArray]]


def _tidy(mask: BoolArray, dist: FloatArray, texture: FloatArray, like_paper: BoolArray | None, edges: BoolArray,
          hints: Hints, calm: bool, border: Border) -> BoolArray:
    """Drop the specks and far-away blobs GrabCut leaves, and fill the gaps it opens in the product."""
    if not mask.any():
        return mask
    kept = _parts(mask, hints, calm)
    return _fill_holes(kept, dist, texture, like_paper, edges, border)


def _box_grabcut(img: U8, allowed: BoolArray, forced: BoolArray, dist: FloatArray, iterations: int) -> BoolArray:
    """GrabCut started from the box alone (the margin backdrop; in the box, what looks like the backdrop
    maybe backdrop, the rest maybe product): what the box says, when the cut from the evidence kept
    almost nothing of it (light headphones on a light table, whose colours the margin shows too). Started
    with all of the box maybe product, it kept the table inside the headband."""
    ys, xs = np.nonzero(allowed)
    seeds = np.full(allowed.shape, cv2.GC_BGD, np.uint8)
    seeds[int(ys.min()):int(ys.max()) + 1, int(xs.min()):int(xs.max()) + 1] = cv2.GC_PR_FGD
    seeds[(seeds == cv2.GC_PR_FGD) & (dist < T_BG)] = cv2.GC_PR_BGD  # like the backdrop: maybe backdrop
    seeds[forced] = cv2.GC_BGD
    if not (seeds == cv2.GC_PR_FGD).any():
        return np.zeros(allowed.shape, bool)
    return _grabcut_run(np.ascontiguousarray(img), seeds, iterations)[0] & allowed


def _holes_grabcut_fills(mask: BoolArray, grabcut: Callable[[], BoolArray]) -> BoolArray:
    """`mask` (the box cut's answer on a busy table) with the sizeable holes filled that a GrabCut from
    the evidence fills too: coffee in a cup, as brown and as flat as the wood around, is cut away by
    colour and grain histograms alone, while GrabCut's seeds hold the cup as one thing. Holes that the
    GrabCut leaves open (the table seen through a handle) stay open; GrabCut runs only when there are
    holes to judge."""
    holes = _filled(mask) & ~mask
    n, labels, stats, _ = cv2.connectedComponentsWithStats(holes.astype(np.uint8), connectivity=4)
    big = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= HOLE_SHARE * np.count_nonzero(mask)]
    if not big:
        return mask
    second = grabcut()
    out = mask.copy()
    for i in big:
        hole = labels == i
        if float(np.mean(second[hole])) >= HOLE_AGREE:
            out |= hole
    return out


def _fill_holes(mask: BoolArray, dist: FloatArray, texture: FloatArray, like_paper: BoolArray | None,
                edges: BoolArray, border: Border) -> BoolArray:
    """Fill enclosed gaps unless they look like backdrop seen through the product (a mug's handle): on
    calm paper, the paper ringed by crisp edges (_paper_gaps); on a busy or patterned backdrop, coloured
    like the backdrop (by its model, or more common on the border than in the product) and at least
    half as grainy as the border is in those colours. Coffee in a cup on a brown table has the wood's
    colour but not its grain, so it is filled; the wall seen through a bag's handle is as flat as the
    wall, so it is not."""
    enclosed = _filled(mask) & ~mask
    if like_paper is not None:
        return mask | (enclosed & ~_paper_gaps(enclosed, edges, like_paper, dist))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(enclosed.astype(np.uint8), connectivity=4)
    out = mask.copy()
    area = float(mask.sum())
    like_border, grain_there = border(mask) if n > 1 else (mask, texture)
    for i in range(1, n):
        x, y, bw, bh, count = (int(v) for v in stats[i])
        box = (slice(y, y + bh), slice(x, x + bw))
        hole = labels[box] == i
        if count >= 0.002 * area and float(np.mean((dist[box][hole] < T_BG) | like_border[box][hole])) >= 0.5 \
                and float(np.median(texture[box][hole])) >= 0.5 * float(np.median(grain_there[box][hole])):
            continue  # backdrop seen through the product
        out[box] |= hole
    return out


def _like_border(img: U8, texture: FloatArray, ring: BoolArray) -> Border:
    """For a mask: which pixels have a colour more common on the border (less the mask) than in the mask,
    and how grainy the border is, on average, in each pixel's colour (its median grain where the border
    shows too little of that colour). Coarse colour bins (8 per channel)."""
    bins = (img[..., 0] // 32).astype(np.int64) * 64 + (img[..., 1] // 32) * 8 + img[..., 2] // 32

    def judge(mask: BoolArray) -> tuple[BoolArray, FloatArray]:
        border = ring & ~mask
        counts = np.bincount(bins[border], minlength=512)
        grain = np.bincount(bins[border], weights=texture[border], minlength=512)
        typical = float(np.median(texture[border])) if border.any() else 0.0
        per_bin = np.where(counts >= 5, grain / np.maximum(counts, 1), typical)
        inside = np.bincount(bins[mask], minlength=512) / max(1, int(np.count_nonzero(mask)))
        more_outside = counts / max(1, int(np.count_nonzero(border))) > inside
        return more_outside[bins], per_bin[bins].astype(np.float32)

    return judge
