"""The product inside a box on a busy backdrop: a graph cut whose colour models know the box.

GrabCut's two five-part colour mixtures cannot hold a cluttered table (wood in three shades, a wall, a
person behind, the things around) and learn the product's model from whatever the box holds, neighbours
included. Here each side is a smoothed histogram of colour and grain (a flat face of bread and the oak
grain around it share a colour, not a texture), the product's first model counts a colour by how much
more often the box shows it than the margin around it does (a person's legs reaching into the box are
in the margin too), and the box itself is a prior: near its edge product costs more, deep inside
backdrop does. The minimum cut is scipy's maximum flow on the pixel graph. Product seeds that reach the
room inside the box's edge belong to a neighbour leaning in and are not held; where the cut stops well
short of a side of the box, the part it lost there is looked for (_reach_sides).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.ndimage import gaussian_filter
from scipy.sparse.csgraph import breadth_first_order, maximum_flow

from nanococoa_mcp.jobs.cancel import checkpoint

FloatArray = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]
U8 = npt.NDArray[np.uint8]
Ints = npt.NDArray[np.int64]

PIXELS = 40_000     # most pixels the cut runs on (about 0.1 s a cut)
LEVELS = 16         # colour levels per channel in the histograms
GRAIN_STEPS = (0.5, 1.2)  # grain levels: under half, under 1.2 times, and over the margin's median grain
ROUNDS = 3          # cuts, each with models re-learnt from the last
MARGIN_SHARE = 12.0  # how much a colour seen in the margin counts against the product in the first model
EDGE_ROOM = 0.15    # share of the box's half-side near its edge where product costs more ...
EDGE_COST = 1.0     # ... up to this (nats) at the edge
DEPTH_COST = 0.5    # backdrop deep in the box costs up to this (nats)
MAX_COST = 10.0     # nats: no colour is surer than this
UNIT = 20.0         # flow capacity per nat (the max-flow works on integers)
GAMMA = 50.0        # GrabCut's boundary weight: the cost of an edge across flat colour
FORCED = 1e4        # nats: a label given by the hints or the box
SHORT = 0.1         # a cut ending this share of the box's height short of its top (any side) lost a part there ...
REACHED = 0.15      # ... the piece beyond it that comes within this share of the side, next to the cut, ...
RARE = 0.5          # ... and whose colours the box's surroundings show under this share as often as the strip does
SPECK = 0.05       # a part of the cut under this share of its largest does not say where the cut reaches
BODY_SOLID = 0.5   # ... when the rest is a body (area over hull), not an outline in pieces
VISITOR_SHARE = 0.5  # a seed piece reaching the box's room is a neighbour's unless it holds this share of the seeds


def box_cut(img: U8, allowed: BoolArray, inner: BoolArray, grain: FloatArray, product: BoolArray,
            backdrop: BoolArray) -> BoolArray:
    """The product inside `allowed` (the box, on the working copy `img` of the box and its margin);
    `inner` is the box less the room a box is drawn with (the first guess at the product). `grain` is
    the local colour spread (cutout_backdrop.grain); `product` and `backdrop` are pixels whose label is
    known (points, the sure evidence; outside the box is backdrop anyway)."""
    h0, w0 = allowed.shape
    product = product & ~_visiting(product, allowed & ~inner, backdrop)
    shrink = min(1.0, math.sqrt(PIXELS / (h0 * w0)))
    if shrink < 1.0:
        size = (max(8, round(w0 * shrink)), max(8, round(h0 * shrink)))
        img = np.asarray(cv2.resize(img, size, interpolation=cv2.INTER_AREA), np.uint8)
        grain = np.asarray(cv2.resize(grain, size, interpolation=cv2.INTER_AREA), np.float32)
        allowed, inner, product, backdrop = (
            cv2.resize(m.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
            for m in (allowed, inner, product, backdrop))
    backdrop = backdrop | ~allowed
    margin = ~allowed
    bins = _bins(img, grain, float(np.median(grain[margin])) if margin.any() else float(np.median(grain)))
    links = _links(img)
    edge_cost, depth_cost = _box_prior(allowed)
    fg = inner.copy()
    for step in range(ROUNDS):
        if step == 0:
            # The first product model: the box's colours, each counted by how much more often the box
            # shows it than the margin does; what is left of the box goes to the backdrop's model.
            in_box = _density(bins[inner], None)
            seen_out = _density(bins[margin], None)
            share = (in_box / (in_box + MARGIN_SHARE * seen_out + 1e-12))[bins]
            fg_model = _density(bins[inner], share[inner])
            bg_model = _density(bins.ravel(), np.where(allowed, 1.0 - share, 1.0).ravel())
        else:
            fg_model = _density(bins[fg], None)
            bg_model = _density(bins[~fg], None)
        cost_fg = -np.log(fg_model[bins] + 1e-6)
        cost_bg = -np.log(bg_model[bins] + 1e-6)
        floor = np.minimum(cost_fg, cost_bg)
        cost_fg = np.minimum(cost_fg - floor, MAX_COST) + edge_cost
        cost_bg = np.minimum(cost_bg - floor, MAX_COST) + depth_cost
        cost_fg[backdrop], cost_bg[backdrop] = FORCED, 0.0
        cost_bg[product & ~backdrop], cost_fg[product & ~backdrop] = FORCED, 0.0
        fg = _min_cut(cost_fg, cost_bg, links)
        checkpoint()
    fg = _reach_sides(fg, bins, allowed, seen_out)
    if shrink < 1.0:
        fg = cv2.resize(fg.astype(np.float32), (w0, h0), interpolation=cv2.INTER_LINEAR) >= 0.5
    return np.asarray(fg)


def _reach_sides(fg: BoolArray, bins: Ints, allowed: BoolArray, seen_around: npt.NDArray[np.float64]) -> BoolArray:
    """`fg` with the parts it lost at the box's sides. A box is drawn around the whole product with a
    little room, so the product comes near each of its sides (but where the frame cuts the box: it may
    run off there). A cut ending well short of a side lost a part coloured like the table there (a
    bag's handle, steam over a cup, an apple's leaf): the pieces of the strip beyond the cut, next to
    it, in colours the box's surroundings show less than the strip does, that reach the side."""
    out = fg.copy()
    if not fg.any():
        return out
    near = cv2.dilate(fg.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    body = _without_specks(fg)
    for turn in range(4):  # each side of the box in turn, turned to the top
        mask, box, touching = (np.rot90(m, turn) for m in (body, allowed, near))
        where: Ints = np.rot90(bins, turn)
        rows, cols = np.nonzero(box.any(axis=1))[0], np.nonzero(box.any(axis=0))[0]
        y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
        top = int(np.nonzero(mask.any(axis=1))[0][0])
        if y0 == 0 or top - y0 <= SHORT * (y1 - y0):
            continue
        strip = (slice(y0, top), slice(x0, x1))
        outside = (slice(max(0, 2 * y0 - top), y0), slice(max(0, x0 - 4), x1 + 4))  # as deep as the strip
        seen = 0.5 * _density(where[outside], None) + 0.5 * seen_around
        lacking = np.zeros(mask.shape, np.uint8)
        lacking[strip] = seen[where[strip]] < RARE * _density(where[strip], None)[where[strip]]
        rare = np.asarray(cv2.morphologyEx(lacking, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)), np.uint8)
        count, labels = cv2.connectedComponents(rare, connectivity=8)
        for i in range(1, count):
            piece = labels == i
            if (piece & touching).any() and np.nonzero(piece.any(axis=1))[0][0] - y0 <= REACHED * (y1 - y0):
                np.rot90(out, turn)[piece] = True
    return out


def _without_specks(fg: BoolArray) -> BoolArray:
    """`fg`'s parts of at least SPECK of its largest: where the cut reaches is judged by them, not by a speck
    it kept near a side (a fleck of a handle it lost, a line along the horizon)."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg.astype(np.uint8), connectivity=8)
    if n <= 2:
        return fg
    areas = stats[1:, cv2.CC_STAT_AREA]
    body = np.isin(labels, 1 + np.flatnonzero(areas >= SPECK * areas.max()))
    hull = cv2.contourArea(cv2.convexHull(cv2.findNonZero(body.astype(np.uint8))))
    if np.count_nonzero(body) < BODY_SOLID * hull:
        return fg  # a cut in fragments (an outline's pieces): each says where it reaches
    return np.asarray(body)


def _visiting(product: BoolArray, room: BoolArray, backdrop: BoolArray) -> BoolArray:
    """The pieces of `product` (seeds from the backdrop model's evidence) that reach `room`, the band a box
    is drawn with inside its edge, or the backdrop known there: a neighbour leaning into the box whose
    colour the backdrop model did not know (cheese beside a cupcake, a jar beside a cup, a bowl's rim).
    Held as product they were kept whatever the colour models said (seeds 4, 5 cluttered-14, -17, -19).
    A piece holding VISITOR_SHARE of the seeds is the product itself, in a box drawn tight."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(product.astype(np.uint8), connectivity=8)
    if n <= 1:
        return np.zeros_like(product)
    near = cv2.dilate((room | backdrop).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    total = int(np.count_nonzero(product))
    ids = [i for i in np.unique(labels[product & near])
           if i > 0 and stats[i, cv2.CC_STAT_AREA] < VISITOR_SHARE * total]
    return np.asarray(np.isin(labels, ids)) if ids else np.zeros_like(product)


def _bins(img: U8, grain: FloatArray, typical: float) -> Ints:
    """Each pixel's histogram bin: its colour (LEVELS per channel) and its grain level."""
    q = (img // (256 // LEVELS)).astype(np.int64)
    colour = (q[..., 0] * LEVELS + q[..., 1]) * LEVELS + q[..., 2]
    level = np.digitize(grain, [s * typical for s in GRAIN_STEPS]).astype(np.int64)
    return colour * (len(GRAIN_STEPS) + 1) + level


def _density(bins: Ints, weights: npt.NDArray[np.float64] | None) -> npt.NDArray[np.float64]:
    """Smoothed, normalised histogram over the colour-and-grain bins (1 level of colour, half of grain)."""
    grains = len(GRAIN_STEPS) + 1
    counts = np.bincount(bins.ravel(), weights=None if weights is None else weights.ravel(),
                         minlength=LEVELS**3 * grains).astype(np.float64)
    hist = gaussian_filter(counts.reshape(LEVELS, LEVELS, LEVELS, grains), (1.0, 1.0, 1.0, 0.5), mode="constant")
    return np.asarray(hist / max(float(hist.sum()), 1e-9)).ravel()


def _box_prior(allowed: BoolArray) -> tuple[FloatArray, FloatArray]:
    """What the box says, in nats per pixel: product near its edge costs up to EDGE_COST (a box is drawn
    with a little room), backdrop deep inside it up to DEPTH_COST."""
    depth = cv2.distanceTransform(np.pad(allowed, 1).astype(np.uint8), cv2.DIST_L2, 3)[1:-1, 1:-1]
    ys, xs = np.nonzero(allowed)
    half = 0.5 * min(int(np.ptp(ys)) + 1, int(np.ptp(xs)) + 1)
    rel = np.clip(depth / max(half, 1.0), 0.0, 1.0)
    edge = EDGE_COST * np.clip(EDGE_ROOM - rel, 0.0, None) / EDGE_ROOM
    return edge.astype(np.float32), (DEPTH_COST * rel).astype(np.float32)


Links = tuple[tuple[FloatArray, tuple[slice, slice], tuple[slice, slice]], ...]


def _links(img: U8) -> Links:
    """The 8-neighbour boundary weights (GrabCut's: GAMMA·exp(-β·|Δcolour|²), diagonals / √2) with the
    two slices of the frame each pairs."""
    z = img.astype(np.float32)
    s, lo, hi = slice(None), slice(None, -1), slice(1, None)
    pairs = (((s, lo), (s, hi), 1.0), ((lo, s), (hi, s), 1.0),
             ((lo, lo), (hi, hi), 1 / math.sqrt(2)), ((lo, hi), (hi, lo), 1 / math.sqrt(2)))
    diffs = [((z[a] - z[b]) ** 2).sum(axis=-1) for a, b, _ in pairs]
    beta = 1.0 / (2.0 * max(float(np.mean([d.mean() for d in diffs])), 1e-6))
    return tuple(((GAMMA * k * np.exp(-beta * d)).astype(np.float32), a, b)
                 for (a, b, k), d in zip(pairs, diffs, strict=True))


def _min_cut(cost_fg: npt.NDArray[np.float64], cost_bg: npt.NDArray[np.float64], links: Links) -> BoolArray:
    """The labelling of least total cost: product pixels pay cost_fg, backdrop ones cost_bg, and each pair
    of neighbours labelled apart its link's weight. Source side = product."""
    h, w = cost_fg.shape
    n = h * w
    index = np.arange(n).reshape(h, w)
    source, sink = n, n + 1
    rows = [np.full(n, source), index.ravel()]
    cols = [index.ravel(), np.full(n, sink)]
    caps: list[npt.NDArray[np.floating]] = [cost_bg.ravel(), cost_fg.ravel()]  # cut source→p: p is backdrop
    for weight, a, b in links:
        rows += [index[a].ravel(), index[b].ravel()]
        cols += [index[b].ravel(), index[a].ravel()]
        caps += [weight.ravel(), weight.ravel()]
    capacity = np.clip(np.round(np.concatenate(caps) * UNIT), 0, 2**30).astype(np.int32)
    keep = capacity > 0
    graph = sp.csr_matrix((capacity[keep], (np.concatenate(rows)[keep], np.concatenate(cols)[keep])),
                          shape=(n + 2, n + 2))
    flow = maximum_flow(graph, source, sink, method="dinic").flow
    residual = (graph - flow).tocsr()
    residual.data[residual.data < 0] = 0
    residual.eliminate_zeros()
    reached = np.zeros(n + 2, bool)
    reached[breadth_first_order(residual, source, directed=True, return_predecessors=False)] = True
    return reached[:n].reshape(h, w)
