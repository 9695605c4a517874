"""Which of the things on a table is the product, when no hint says.

Only a table before a wall is a scene to choose in (table_scene): a product seen close up on one surface
is what the photo shows, and splitting it into things could only lose its parts. The cut-out's evidence
there often holds the product and its neighbours (leaning on it, standing beside it, a person behind). It
is split into pieces along the colour edges inside it (a watershed from the flat pieces between edges);
pieces are joined into things while the union stays compact (a product's faces, label and lid fill out
its shape; a neighbour leaning on it adds a lump, and only a piece of the thing's own colour may make it
a little less compact); each thing is scored by what makes a photographer's subject (large, near the
middle across, in front: its base low in the frame, whole: not cut by the frame as the wall and a person
behind are). The winner is kept with what it encloses and its thin parts (a handle, a guitar's neck, a
plant's leaves) and the thick parts of its colour grown onto it (a teddy's legs); other thick things
touching it and things apart are left out. How close the runner-up came is reported for the confidence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from nanococoa_mcp.ad.backends.studio.cutout_backdrop import T_BG

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float32]
U8 = npt.NDArray[np.uint8]
Labels = npt.NDArray[np.int32]

FRAME_BAND = 0.02   # share of the short side within which a piece counts as running off the frame
EDGE_LOW, EDGE_HIGH = 30.0, 80.0  # Canny thresholds on the smoothed working copy: the edges pieces split at
MIN_PIECE = 0.004   # share of the mask a flat piece must cover to seed the watershed
ENCLOSED = 0.8      # a piece whose rim lies this much on the subject is part of it
BLOB = 3.0          # ... and no larger than this many times its inscribed disc (not a long part)
THICK = 0.25        # a thing left out at least this thick (inscribed radius) against the subject is another thing
SOLID_JOIN = 0.9    # a piece joins a thing when the union stays about this solid (area over hull), or as solid
SOLID_SLACK = 0.03  # ... as the thing was, less this, when the piece is coloured like the thing (KIN)
CONTACT = 0.15      # share of its rim a thick thing of the subject's colour lies on it to be its part
KIN = 12.0          # chroma distance (Lab a, b) under which two pieces are of one material
MIN_CANDIDATE = 0.03  # share of the mask a candidate must cover to be chosen
CENTRE = 0.35       # the subject's spread across the frame (share of its width) in the score
HIGH = 0.06         # share of the frame's height from its top that a thing behind the product reaches ...
LOW = 0.2           # ... while the product's top stays below this share of it
CUT = 0.5           # the score's factor for each side of the frame a thing runs off
WALL = 2.0          # spreads between the frame's top edge and its lower edges that show a wall behind a table
BELONGS = 0.5       # a piece whose border inside the mask lies this much on a thing is part of it (thing_at)
SCENE_SPREAD = 1.5  # log of the border's spread (0..255 units) above which plain paper is a table, not a sweep


@dataclass(frozen=True, slots=True)
class Subject:
    """The chosen thing, and how sure the choice was."""

    mask: BoolArray
    runner_up: float     # the best thing left out: its score over the winner's (0 when there was no choice)
    set_aside: float     # area left out, over the subject's


def table_scene(img: U8) -> bool:
    """Whether the photo shows a table before a wall, the scene things stand on side by side and behind one
    another: the frame's top edge differs from its lower edges (the bottom, and the sides' lower halves) by
    more than WALL times their spread (median colours in Lab, spreads by median absolute deviation). A
    product seen close up on one surface (wood, cloth all round) is what the photo shows: nothing to choose
    among."""
    lab = cv2.cvtColor(img, cv2.COLOR_RGB2LAB).astype(np.float32)
    h, w = lab.shape[:2]
    band = max(2, round(FRAME_BAND * min(h, w)))
    top = lab[:band].reshape(-1, 3)
    low = np.concatenate([lab[-band:].reshape(-1, 3), lab[h // 2:, :band].reshape(-1, 3),
                          lab[h // 2:, -band:].reshape(-1, 3)])
    centre_top, centre_low = np.median(top, axis=0), np.median(low, axis=0)
    spread = float(np.median(np.abs(top - centre_top), axis=0).mean() + np.median(np.abs(low - centre_low),
                                                                                  axis=0).mean()) + 1.0
    return float(np.linalg.norm(centre_top - centre_low)) > WALL * spread


def solidity(mask: BoolArray) -> float:
    """The mask's area over its convex hull's (0 for an empty mask)."""
    points = cv2.findNonZero(mask.astype(np.uint8))
    if points is None:
        return 0.0
    return float(np.count_nonzero(mask)) / max(1.0, float(cv2.contourArea(cv2.convexHull(points))))


def choose_subject(small: U8, mask: BoolArray, dist: FloatArray, marked: tuple[tuple[int, int], ...] = ()) -> Subject:
    """The product among the things in `mask` (on the working copy `small`; `dist`: each pixel's
    distance from the backdrop model), with the things product points were put on (`marked`, x, y: a
    point adds, it does not choose)."""
    labels = _pieces(small, mask)
    if int(labels.max()) < 2:
        return Subject(mask, 0.0, 0.0)
    groups = labels
    pieces = _describe(groups, dist, small)
    total = float(np.count_nonzero(mask))
    seeds = [i for i, p in pieces.items() if p.area >= MIN_CANDIDATE * total and not p.backdrop]
    if len(pieces) < 2 or not seeds:
        return Subject(mask, 0.0, 0.0)
    touching = _touching(groups)
    # What runs off the frame's top or sides, with what it grows into (a person's legs below the cut
    # shirt): behind the subject, or the wall.
    behind: frozenset[int] = frozenset()
    for i in sorted((i for i, p in pieces.items() if p.cut), key=lambda i: -pieces[i].area):
        if i not in behind:
            behind |= _grow(i, pieces, touching, behind, any_colour=True)
    scores: dict[frozenset[int], float] = {}
    for i in seeds:
        thing = _grow(i, pieces, touching, frozenset() if i in behind else behind)
        if thing not in scores:
            scores[thing] = _score(np.isin(groups, list(thing)))
    best = max(scores, key=lambda t: scores[t])
    chosen = set(best)
    for x, y in marked:
        if groups[y, x] > 0 and groups[y, x] not in chosen:
            chosen |= _grow(int(groups[y, x]), pieces, touching, frozenset(chosen))
    kept = _with_enclosed(groups, frozenset(chosen), pieces)
    core_ids = frozenset(kept)
    core = np.isin(groups, list(kept))
    reach = float(cv2.distanceTransform(core.astype(np.uint8), cv2.DIST_L2, 3).max())
    rest, tops = _tops(mask, core)
    dropped: list[frozenset[int]] = []
    taken: frozenset[int] = frozenset(kept)
    cut_kept = any(pieces[k].cut for k in kept)
    while True:
        # The things touching what is kept are judged first (largest first), then those standing apart.
        left = sorted((i for i in pieces if i not in taken), key=lambda i: (not touching.get(i, set()) & kept,
                                                                             -pieces[i].area))
        if not left:
            break
        thing = _grow(left[0], pieces, touching, taken)
        taken |= thing
        around = set().union(*(touching.get(j, set()) for j in thing))
        if around & kept:
            # Leaning on the subject: another thing when thick, unless of its colour and grown onto it
            # (a teddy's leg, its ear); reached only through a thin part kept (a headphone's other cup
            # past its band, a plant's leaves past the stem): the product's.
            apart = bool(around & core_ids) and _thick(thing, groups, reach) and not (
                all(_kin(j, core_ids, pieces) for j in thing) and _contact(thing, groups, core) >= CONTACT)
        else:
            apart = _thick(thing, groups, reach) or _gap(thing, groups, kept) > reach
        if apart or (not cut_kept and (thing & behind or _rises_behind(np.isin(groups, list(thing)), rest, tops,
                                                                       core))):
            dropped.append(thing)
        else:
            kept |= thing
    out = np.isin(groups, list(kept)) & mask
    area = float(np.count_nonzero(out))
    rivals = [scores[t] if t in scores else _score(np.isin(groups, list(t))) for t in dropped]
    runner_up = max(rivals, default=0.0) / max(scores[best], 1e-9)
    return Subject(out, min(1.0, runner_up), (total - area) / max(1.0, area))


def _thick(thing: frozenset[int], groups: Labels, reach: float) -> bool:
    """Whether `thing` is a thing of its own: as thick (inscribed radius) as THICK of the subject's, and
    a blob, no larger than BLOB times its inscribed disc (a plant's leaves, a headphone's band, a bag's
    handle, a guitar's neck are thin or long parts)."""
    part = np.isin(groups, list(thing)).astype(np.uint8)
    radius = float(cv2.distanceTransform(part, cv2.DIST_L2, 3).max())
    return radius >= THICK * reach and float(np.count_nonzero(part)) <= BLOB * math.pi * radius * radius


def _contact(thing: frozenset[int], groups: Labels, core: BoolArray) -> float:
    """The share of `thing`'s rim that lies on `core`: a teddy's leg grows out of its body, a cookie of
    the same brown standing against a box touches it along a short stretch."""
    part = np.isin(groups, list(thing)).astype(np.uint8)
    rim = (cv2.dilate(part, np.ones((3, 3), np.uint8)) > 0) & (part == 0)
    return float(np.count_nonzero(rim & core)) / max(1, int(np.count_nonzero(rim)))


def _tops(mask: BoolArray, core: BoolArray) -> tuple[Labels, npt.NDArray[np.int64]]:
    """The parts of `mask` outside `core` (labels; a streak of evidence thinner than 5 px does not join
    them), and the top row each reaches."""
    apart = cv2.erode((mask & ~core).astype(np.uint8), np.ones((5, 5), np.uint8))
    n, rest = cv2.connectedComponents(apart, connectivity=8)
    rows = np.broadcast_to(np.arange(mask.shape[0], dtype=np.int64)[:, None], mask.shape)
    tops = np.full(n, mask.shape[0], np.int64)
    np.minimum.at(tops, rest.ravel().astype(np.intp), rows.ravel())
    return np.asarray(rest, np.int32), tops


def _rises_behind(part: BoolArray, rest: Labels, tops: npt.NDArray[np.int64], core: BoolArray) -> bool:
    """Whether `part`, with what joins it outside the chosen core, rises to the frame's top (within HIGH of
    its height) while the core stays well below it (under LOW): a person's legs and arms behind the
    product, whose shirt the cut-out lost at the frame's edge."""
    h = part.shape[0]
    ids = np.unique(rest[part])
    ids = ids[ids > 0]
    core_top = int(np.argmax(core.any(axis=1)))
    return ids.size > 0 and int(tops[ids].min()) <= HIGH * h and core_top >= LOW * h


def _gap(thing: frozenset[int], groups: Labels, kept: set[int]) -> float:
    """The distance in px between `thing` and what is kept."""
    away = cv2.distanceTransform((~np.isin(groups, list(kept))).astype(np.uint8), cv2.DIST_L2, 3)
    return float(away[np.isin(groups, list(thing))].min())


def _with_enclosed(groups: Labels, best: frozenset[int], pieces: dict[int, _Piece]) -> set[int]:
    """`best` and, step by step, every piece whose rim lies mostly (ENCLOSED) on what is kept: the coffee
    in a cup, a label on a jar."""
    return _absorb(groups, set(best), ENCLOSED, within_mask=False)


def _absorb(groups: Labels, kept: set[int], share: float, within_mask: bool) -> set[int]:
    """`kept` and, until none is left, every other piece whose rim (the pixels around it; with
    `within_mask`, only those on other pieces) lies at least `share` on what is kept. Kept only grows, so
    the order pieces are looked at in does not change the answer."""
    kernel = np.ones((3, 3), np.uint8)
    rims = {}
    for i in (int(v) for v in np.unique(groups) if v > 0 and v not in kept):
        part = groups == i
        rim = (cv2.dilate(part.astype(np.uint8), kernel) > 0) & ~part
        rims[i] = rim & (groups > 0) if within_mask else rim
    inside = np.isin(groups, list(kept))
    changed = True
    while changed:
        changed = False
        for i, rim in list(rims.items()):
            if rim.any() and float(np.mean(inside[rim])) >= share:
                kept.add(i)
                inside |= groups == i
                del rims[i]
                changed = True
    return kept


@dataclass(frozen=True, slots=True)
class _Piece:
    area: float
    hull: npt.NDArray[np.int32]  # its convex hull's points
    cut: bool       # it runs off the frame's top or sides
    backdrop: bool  # it is mostly coloured like the backdrop (a stretch of wall GrabCut kept)
    chroma: npt.NDArray[np.float32]  # its median Lab a, b (what its material is, whatever the light on it)


def _describe(groups: Labels, dist: FloatArray, img: U8) -> dict[int, _Piece]:
    out: dict[int, _Piece] = {}
    ab = cv2.cvtColor(img, cv2.COLOR_RGB2LAB)[..., 1:].astype(np.float32)
    frame = np.zeros(groups.shape, bool)
    band = _frame_band(groups.shape)
    frame[:band], frame[:, :band], frame[:, -band:] = True, True, True
    for i in (int(v) for v in np.unique(groups) if v > 0):
        part = groups == i
        points = cv2.findNonZero(part.astype(np.uint8))
        out[i] = _Piece(float(np.count_nonzero(part)), cv2.convexHull(points).reshape(-1, 2),
                        int(np.count_nonzero(part & frame)) > 2, float(np.median(dist[part])) < T_BG,
                        np.median(ab[part], axis=0).astype(np.float32))
    return out


def _touching(groups: Labels) -> dict[int, set[int]]:
    """Which pieces touch which (4-neighbours)."""
    out: dict[int, set[int]] = {}
    for a, b in ((groups[:, :-1], groups[:, 1:]), (groups[:-1], groups[1:])):
        cross = (a != b) & (a > 0) & (b > 0)
        for x, y in set(zip(a[cross].tolist(), b[cross].tolist(), strict=True)):
            out.setdefault(x, set()).add(y)
            out.setdefault(y, set()).add(x)
    return out


def _solidity(ids: frozenset[int], pieces: dict[int, _Piece]) -> float:
    points = np.concatenate([pieces[i].hull for i in ids]).astype(np.int32)
    hull = float(cv2.contourArea(cv2.convexHull(points)))
    return sum(pieces[i].area for i in ids) / max(1.0, hull)


def _grow(seed: int, pieces: dict[int, _Piece], touching: dict[int, set[int]], taken: frozenset[int],
          any_colour: bool = False) -> frozenset[int]:
    """The thing `seed` is part of: touching pieces joined one at a time, the one that leaves the union
    most solid first, as long as it stays a compact shape (solidity at least SOLID_JOIN, or no less
    than before; SOLID_SLACK less for a piece of the thing's colour): a product's faces and label fill
    out its shape, a neighbour leaning on it adds a lump. Things side by side can make a compact union
    too (an orange behind a briefcase, cheese against a cupcake); only a piece of the same material may
    bend the shape a little (a teddy's leg). `any_colour`: any piece may, for what runs off the frame's top
    or sides and grows into what is behind the product (a person: hair, skin, shirt and trousers)."""
    thing = frozenset((seed,))
    solid = _solidity(thing, pieces)
    while True:
        around = {j for j in set().union(*(touching.get(i, set()) for i in thing)) - thing - taken
                  if not pieces[j].backdrop}
        options = [(_solidity(thing | {j}, pieces), j) for j in around]
        fitting = [(s, j) for s, j in options
                   if s >= min(SOLID_JOIN, solid) - (SOLID_SLACK if any_colour or _kin(j, thing, pieces) else 0.0)]
        if not fitting:
            return thing
        solid, j = max(fitting)
        thing = thing | {j}


def _kin(piece: int, thing: frozenset[int], pieces: dict[int, _Piece]) -> bool:
    """Whether `piece` is coloured like `thing` (its area-weighted chroma within KIN): one material, a
    teddy's leg and its body, where a neighbour leaning on the product is most often another colour."""
    weights = np.array([pieces[i].area for i in thing], np.float32)
    chroma = (np.stack([pieces[i].chroma for i in thing]) * weights[:, None]).sum(axis=0) / weights.sum()
    return float(np.linalg.norm(pieces[piece].chroma - chroma)) < KIN


def _pieces(img: U8, mask: BoolArray) -> Labels:
    """The mask split along the colour edges in it: the flat pieces between edges seed a watershed that
    gives every mask pixel to one of them (0 outside the mask)."""
    smooth = np.asarray(cv2.GaussianBlur(img, (0, 0), 1.0), np.uint8)
    edges = cv2.Canny(smooth, EDGE_LOW, EDGE_HIGH, L2gradient=True)
    walls = cv2.dilate(edges, np.ones((3, 3), np.uint8)) > 0
    flat = cv2.erode((mask & ~walls).astype(np.uint8), np.ones((3, 3), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(flat, connectivity=4)
    least = MIN_PIECE * float(np.count_nonzero(mask))
    markers = np.zeros(mask.shape, np.int32)
    k = 0
    for i in range(1, n):
        if stats[i, cv2.CC_STAT_AREA] >= least:
            k += 1
            markers[labels == i] = k + 1
    if k < 2:
        return mask.astype(np.int32)
    outside = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) == 0
    markers[outside] = 1
    cv2.watershed(np.ascontiguousarray(smooth), markers)
    # Watershed lines (-1) go to the largest neighbouring piece.
    line = markers == -1
    grown = cv2.dilate(np.where(line, 0, markers).astype(np.float32), np.ones((3, 3), np.uint8)).astype(np.int32)
    markers[line] = grown[line]
    return np.where(mask & (markers > 1), markers - 1, 0).astype(np.int32)


def _score(part: BoolArray) -> float:
    """How much `part` looks like the photo's subject: large, near the middle across, its base low in
    the frame (in front), and whole (a thing cut by the frame's top or sides stands behind, or is the
    wall)."""
    h, w = part.shape
    ys, xs = np.nonzero(part)
    dx = (float(xs.mean()) - w / 2) / w
    base = float(ys.max()) / h
    band = _frame_band(part.shape)
    cut = sum(int(np.count_nonzero(side) > 2) for side in (part[:band], part[:, :band], part[:, -band:]))
    return math.sqrt(float(ys.size)) * math.exp(-dx * dx / (2 * CENTRE ** 2)) * (0.3 + base) * CUT ** cut


def _frame_band(shape: tuple[int, ...]) -> int:
    """Px from the frame's edge within which a piece runs off it (the cut-out's own ring there is backdrop)."""
    return max(2, round(FRAME_BAND * min(shape[:2]))) + 1


def thing_at(small: U8, mask: BoolArray, at: tuple[int, int]) -> tuple[BoolArray, BoolArray]:
    """The piece of `mask` a point at `at` (x, y) was put on (split as choose_subject splits), and the
    thing that piece is part of: the pieces joined, one after another, whose border inside the mask lies
    mostly (BELONGS) on what is joined: a bowl's rim and spoon around its inside, not the gift box a
    vase beside it touches along one side. What a background point on a table takes away. Both empty
    when the point is off the mask."""
    labels = _pieces(small, mask)
    x, y = at
    piece = int(labels[y, x])
    if piece == 0:
        empty = np.zeros(mask.shape, bool)
        return empty, empty
    thing = np.isin(labels, list(_absorb(labels, {piece}, BELONGS, within_mask=True)))
    return labels == piece, thing
