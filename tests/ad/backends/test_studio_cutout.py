"""The studio cut-out on the hard categories of the exact-alpha set (bench/alpha_set.py), a few photos
each, and the hints it takes: a product box, product and background points."""

from __future__ import annotations

from functools import cache

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from bench.alpha_paint import load_sprite, place, studio_backdrop, textured_backdrop
from bench.alpha_set import AlphaCase, Category, build_case, iou, object_path
from nanococoa_mcp.ad.backends.studio.cutout_horizon import find_horizon
from nanococoa_mcp.ad.backends.studio.cutout_subject import table_scene
from nanococoa_mcp.ad.stages import cutout
from nanococoa_mcp.ad.stages.cutout import CutoutInput, CutoutOutput, Point

Alpha = npt.NDArray[np.float32]


@cache
def _case(kind: Category, index: int) -> AlphaCase:
    return build_case(kind, index)


@cache
def _cut(kind: Category, index: int, boxed: bool = False) -> CutoutOutput:
    case = _case(kind, index)
    return _run(case.image, box=case.hint_box() if boxed else None)


def _run(rgb: npt.NDArray[np.uint8], box: cutout.Box | None = None, points: tuple[Point, ...] = ()) -> CutoutOutput:
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    return cutout.run(CutoutInput(image=rgba, has_alpha=False, box=box, points=points))


def _alpha(out: CutoutOutput) -> Alpha:
    return out.rgba[..., 3].astype(np.float32) / 255.0


def _score(kind: Category, index: int, boxed: bool = False) -> float:
    return iou(_alpha(_cut(kind, index, boxed)), _case(kind, index).alpha)


@pytest.mark.parametrize("index", [0, 1, 4])  # headphones on a light-grey sweep, a toilet roll, a mouse
def test_white_products_on_light_paper_are_found_by_their_outlines(index: int) -> None:
    assert _score("light", index) >= 0.95


@pytest.mark.parametrize("index", [1, 3])  # earrings set apart, a fork beside a knife
def test_every_part_of_a_product_in_several_pieces_is_kept(index: int) -> None:
    assert _score("multipart", index) >= 0.95


@pytest.mark.parametrize("index", [1, 4])  # cut by the left edge; by the left and bottom edges
def test_a_product_cut_by_the_frame_is_kept_to_the_frame_edge(index: int) -> None:
    case, out = _case("frame", index), _cut("frame", index)
    assert _score("frame", index) >= 0.97
    at_edge = case.alpha[:, 0] > 0.5
    assert at_edge.sum() > 50 and np.mean(_alpha(out)[:, 0][at_edge] > 0.5) >= 0.95


def test_a_product_over_a_corner_of_the_frame_does_not_bend_the_paper_model() -> None:
    # A briefcase covering the top-left corner (a third of the border) on cream paper whose light falls
    # off across the frame (seed 1 frame-08: IoU 0.409 when the border's fit kept the case's colour).
    case = build_case("frame", 8, seed=1)
    out = _run(case.image)
    assert iou(_alpha(out), case.alpha) >= 0.97
    assert np.mean(_alpha(out)[case.alpha > 0.5] > 0.5) >= 0.97
    assert out.confidence >= 0.6  # clean, and said to be


def test_a_busy_table_cut_by_the_frame_is_not_taken_for_paper() -> None:
    # The trimmed fit of the border's nearer half is only for paper: on a busy table that half is its
    # calmest part. Seed 3 cluttered-10 (a cup among things on wood) was cut at IoU 0.0 and said to be
    # sure (0.74) when it was fitted so; it must stay unsure or be right.
    case = build_case("cluttered", 10, seed=3)
    out = _run(case.image)
    assert out.confidence < 0.6 or iou(_alpha(out), case.alpha) >= 0.85


def test_the_paper_inside_a_headband_at_the_frame_edge_is_not_filled() -> None:
    # Light headphones on pink paper, cut by the right edge: the paper inside the band sits beside the
    # cups' shadow, which once made it look unlike the paper, and the band's inside was filled.
    case = build_case("studio", 19, seed=1)
    out = _run(case.image)
    assert iou(_alpha(out), case.alpha) >= 0.8
    ys, xs = np.nonzero(case.alpha > 0.5)
    inside = np.zeros(case.alpha.shape, bool)  # the middle of the band's opening, where paper shows
    cy, cx = (ys.min() + ys.max()) // 2, (xs.min() + xs.max()) // 2
    inside[cy - 20:cy + 20, cx - 30:cx + 10] = True
    inside &= case.alpha < 0.05
    assert inside.sum() > 500 and np.mean(_alpha(out)[inside] > 0.5) <= 0.05


def test_the_paper_wedged_between_a_headband_and_its_ear_cup_is_not_kept() -> None:
    # The same headphones: a wedge of paper between the band and the right cup, enclosed on every side
    # but the band's open middle, was kept as product (IoU 0.842) because half its rim is that opening,
    # not an outline.
    case = build_case("studio", 19, seed=1)
    alpha = _alpha(_run(case.image))
    assert iou(alpha, case.alpha) >= 0.95
    hull = np.zeros(case.alpha.shape, np.uint8)
    cv2.fillPoly(hull, [cv2.convexHull(cv2.findNonZero((case.alpha > 0.5).astype(np.uint8)))], 1)
    paper = (hull > 0) & (case.alpha < 0.05)  # the paper among the band and the cups
    assert paper.sum() > 20_000 and np.mean(alpha[paper] > 0.5) <= 0.02


def test_with_a_box_meeting_the_frame_the_paper_in_the_covered_corner_is_not_kept() -> None:
    # A guitar boxed to the left and bottom edges of paper that falls off towards that corner: the box's
    # margin (top and right) alone put the paper between the neck and the two edges darker than it is,
    # and it was kept (seed 2 frame-11 boxed: IoU 0.56).
    case = build_case("frame", 11, seed=2)
    box = case.hint_box()
    alpha = _alpha(_run(case.image, box=box))
    assert iou(alpha, case.alpha) >= 0.95
    x0, y0, x1, y1 = box
    corner = np.zeros(case.alpha.shape, bool)
    corner[(y0 + y1) // 2:y1, x0:(x0 + x1) // 2] = True
    corner &= case.alpha < 0.05
    assert corner.sum() > 50_000 and np.mean(alpha[corner] > 0.5) <= 0.02


@pytest.mark.parametrize("index", [7, 9])  # a honey pot and a cookie on paper the colour of their shade
def test_the_shaded_side_of_a_product_stays_and_its_cast_shadow_goes(index: int) -> None:
    case, out = _case("shaded", index), _cut("shaded", index)
    assert _score("shaded", index) >= 0.95
    lower = np.zeros_like(case.alpha, dtype=bool)
    ys = np.nonzero(case.alpha > 0.5)[0]
    lower[(ys.min() + ys.max()) // 2:] = True
    shaded_side = (case.alpha > 0.99) & lower
    assert np.mean(_alpha(out)[shaded_side] > 0.5) >= 0.97
    clear = cv2.dilate((case.alpha > 0).astype(np.uint8), np.ones((9, 9), np.uint8)) == 0
    thrown = (case.shadow > 0.2) & clear
    assert thrown.sum() > 2000 and _alpha(out)[thrown].mean() <= 0.01


@pytest.mark.parametrize("index", [0, 2])  # a guitar before a standing person; a loaf between a cupcake and a watch
def test_with_a_box_a_cluttered_table_gives_the_product_alone(index: int) -> None:
    assert _score("cluttered", index, boxed=True) >= 0.93
    out = _cut("cluttered", index, boxed=True)
    assert out.hint_used and out.method == "matting+box"


def test_with_a_box_every_table_of_the_first_set_is_cut_out_well() -> None:
    # A guitar, a gift box, bread, honey, a handbag, a teddy, a sake set, a cup, among the table's other
    # things, people standing behind half of them; the box is the true one and 4 % of room.
    scores = [_score("cluttered", i, boxed=True) for i in range(10)]
    assert np.mean(scores) >= 0.95 and min(scores) >= 0.85, scores


def test_a_box_on_a_busy_table_keeps_a_product_coloured_like_the_table() -> None:
    # Bread on oak, its crust the oak's colour: what tells them apart is the grain, and the box.
    case = _case("cluttered", 16)
    assert case.name.endswith("-oak")
    assert _score("cluttered", 16, boxed=True) >= 0.9


def test_with_a_box_coffee_in_a_cup_on_wood_is_kept_not_cut_as_a_hole() -> None:
    # A cup of coffee on wavy wood: the coffee has the wood's colour and, the wood being smooth, its
    # grain too; the histograms cut it away as a hole, and a GrabCut from the evidence holds it.
    case = build_case("cluttered", 10, seed=3)
    assert case.name.endswith("2615-wood")
    out = _run(case.image, box=case.hint_box())
    coffee = case.alpha > 0.5  # the cup, the coffee in it included
    assert iou(_alpha(out), case.alpha) >= 0.95
    assert np.mean(_alpha(out)[coffee] > 0.5) >= 0.97


def test_with_a_box_a_neighbour_leaning_into_it_is_left_out() -> None:
    # A briefcase on wood, an orange and a bowl leaning into its box: their in-box parts stood out from
    # the backdrop model, were held as product seeds and kept (IoU 0.922); the box is drawn with room
    # around the product, so seeds reaching that room are a neighbour's.
    case = build_case("cluttered", 15, seed=0)
    assert case.name.endswith("1f4bc-wood")
    box = case.hint_box()
    alpha = _alpha(_run(case.image, box=box))
    assert iou(alpha, case.alpha) >= 0.97
    x0, y0, x1, y1 = box
    others = np.zeros(case.alpha.shape, bool)
    others[y0:y1, x0:x1] = case.alpha[y0:y1, x0:x1] < 0.05
    assert np.mean(alpha[others] > 0.5) <= 0.03


def test_with_a_box_the_steam_over_a_cup_is_kept() -> None:
    # A cup on wavy wood, three wisps of steam over it against the wood: their grey is in the colour
    # models of neither side and the cut ended at the cup's rim, well short of the box's top (IoU
    # 0.895). The box is drawn around the whole product, so what stands apart from the box's
    # surroundings between the cut and that side, next to the cut, is the part it lost.
    case = build_case("cluttered", 10, seed=2)
    assert case.name.endswith("1f375-wood")
    alpha = _alpha(_run(case.image, box=case.hint_box()))
    assert iou(alpha, case.alpha) >= 0.95
    x0, y0, x1, y1 = case.box
    steam = np.zeros(case.alpha.shape, bool)
    steam[y0:y0 + (y1 - y0) // 4, x0:x1] = case.alpha[y0:y0 + (y1 - y0) // 4, x0:x1] > 0.5
    assert steam.sum() > 500 and np.mean(alpha[steam] > 0.5) >= 0.8


def test_with_a_box_light_headphones_on_a_light_table_are_kept() -> None:
    # White headphones on a light table, grey trousers of a person behind in the box's margin: the
    # histograms kept almost nothing of the box (IoU 0.001); a GrabCut from the box itself finds them,
    # and, started with what looks like the table as maybe table, leaves the table inside the headband
    # out (it kept it: IoU 0.459).
    case = build_case("cluttered", 14, seed=3)
    assert case.name.endswith("1f3a7-plain")
    out = _run(case.image, box=case.hint_box())
    assert iou(_alpha(out), case.alpha) >= 0.85
    ys, xs = np.nonzero(case.alpha > 0.5)
    inside = np.zeros(case.alpha.shape, bool)  # the middle of the headband's opening: table
    cy, cx = (ys.min() + ys.max()) // 2, (xs.min() + xs.max()) // 2
    inside[cy - 25:cy + 25, cx - 25:cx + 25] = True
    inside &= case.alpha < 0.05
    assert inside.sum() > 1000 and np.mean(_alpha(out)[inside] > 0.5) <= 0.1


@pytest.mark.parametrize("index", [3, 7, 8])  # honey by cheese and books; a cup by a vase and an orange; a guitar
def test_without_a_hint_the_product_is_chosen_among_the_things_on_a_table(index: int) -> None:
    # The product in front, its neighbours leaning on it or standing apart, a person behind the guitar:
    # the cut-out took the neighbours along (IoU 0.76, 0.35, 0.47) or the coffee alone.
    assert _score("cluttered", index) >= 0.95
    out = _cut("cluttered", index)
    assert any("chosen among several things" in note for note in out.notes), out.notes
    assert out.confidence < cutout.LOW_CONFIDENCE  # still a busy table without a box


@pytest.mark.parametrize("index", [12, 16])  # a potted plant, headphones: parts of one thing, alone on wood
def test_a_product_alone_on_a_busy_surface_keeps_all_its_parts(index: int) -> None:
    assert _score("textured", index) >= 0.93


@pytest.mark.parametrize(("index", "seed"), [(15, 2), (18, 2)])  # books off the frame's side; chopsticks
def test_a_product_alone_on_a_busy_surface_is_not_chosen_among_its_own_parts(index: int, seed: int) -> None:
    # One surface all round, no wall: the photo shows the product, whole. Split into things as if on a
    # table among others, the pile of books kept one book (IoU 0.24) and the chopsticks one stick (0.53).
    case = build_case("textured", index, seed)
    assert iou(_alpha(_run(case.image)), case.alpha) >= 0.95


@pytest.mark.parametrize(("index", "seed"), [(11, 0), (17, 0)])  # a lotion bottle on marble, a honey pot on wood
def test_a_smooth_product_coloured_like_the_texture_under_it_is_kept_whole(index: int, seed: int) -> None:
    # Its faces match the marble's light clouds or the wood's streaks in colour but lack their grain:
    # found by colour alone, the bottle kept its right half (IoU 0.57) and the pot lost its middle band (0.53).
    case = build_case("textured", index, seed)
    assert iou(_alpha(_run(case.image)), case.alpha) >= 0.88


@pytest.mark.parametrize("seed", [0, 4])
def test_without_a_hint_a_product_coloured_like_the_wooden_table_under_it_is_kept_whole(seed: int) -> None:
    # A handbag before a person, its lower band dark brown like the walnut under it and its top beige like
    # the wall: found by colour alone only its middle band was kept (IoU 0.33, 0.41). Its band lacks
    # the wood's grain, also in the shade the bag casts.
    case = build_case("cluttered", 4, seed)
    assert iou(_alpha(_run(case.image)), case.alpha) >= 0.85


def test_without_a_hint_a_product_on_a_plain_table_before_a_wall_is_chosen_among_the_things() -> None:
    # A backpack with a cup leaning on it, on a plain table before a wall: both were kept (IoU 0.46).
    case = build_case("cluttered", 14, seed=0)
    out = _run(case.image)
    assert iou(_alpha(out), case.alpha) >= 0.95
    assert out.confidence < cutout.LOW_CONFIDENCE  # which thing was meant is still a guess


@pytest.mark.parametrize(("index", "seed", "least"), [(6, 2, 0.95), (21, 0, 0.85)])  # a sake set; a laptop
def test_without_a_hint_a_neighbour_of_another_colour_leaning_on_the_product_is_left_out(
        index: int, seed: int, least: float) -> None:
    # Cheese against a sake set, a blue mug and an orange against a laptop: side by side they made a
    # shape as compact as one thing and were kept with it (IoU 0.82, 0.73).
    case = build_case("cluttered", index, seed)
    assert iou(_alpha(_run(case.image)), case.alpha) >= least


def test_without_a_hint_a_person_behind_the_product_is_left_out_whatever_their_colours() -> None:
    # A guitar leaning on a person cut by the frame's top: the hair, shirt and trousers are one thing behind
    # it although each is another colour; grown by colour alone, only the hair counted as behind and the
    # person was kept with the guitar (IoU 0.30).
    case = build_case("cluttered", 0, seed=2)
    assert iou(_alpha(_run(case.image)), case.alpha) >= 0.95


def test_without_a_hint_a_teddy_among_things_on_a_table_keeps_its_legs() -> None:
    # Thick parts of the teddy's own colour touching its body were taken for neighbours (IoU 0.78).
    case = build_case("cluttered", 19, seed=0)
    assert iou(_alpha(_run(case.image)), case.alpha) >= 0.95


def test_a_table_before_a_wall_is_told_from_one_surface_all_round() -> None:
    rng = np.random.default_rng(0)
    shape = (160, 120)
    wood = textured_backdrop("wood", rng, shape)
    wall = studio_backdrop((226, 222, 214), rng, shape)
    scene = wood.copy()
    scene[:60] = wall[:60]
    as_u8 = [np.clip(img + 0.5, 0, 255).astype(np.uint8) for img in (scene, wood, wall)]
    assert [table_scene(img) for img in as_u8] == [True, False, False]


def test_the_horizon_is_found_where_a_wall_meets_a_table_and_not_on_a_sweep() -> None:
    # A grey wall over a lavender table meeting at row 90, a brown thing in front of the right side there;
    # a sweep darkening from top to bottom as much has no horizon.
    rng = np.random.default_rng(0)
    shape = (240, 180)
    scene = studio_backdrop((205, 190, 215), rng, shape)
    scene[:90] = studio_backdrop((210, 210, 206), rng, shape)[:90]
    scene[70:130, 140:] = (120, 80, 60)
    horizon = find_horizon(scene)
    assert horizon is not None and abs(horizon.left - 90) <= 2 and abs(horizon.right - 90) <= 2
    sweep = studio_backdrop((230, 225, 215), rng, shape) * np.linspace(1.0, 0.8, shape[0])[:, None, None]
    assert find_horizon(sweep.astype(np.float32)) is None


@pytest.mark.parametrize(("index", "seed", "least"), [
    (14, 1, 0.95), (19, 1, 0.95),  # a briefcase by a cup; a handbag by a person and a plant
    (19, 3, 0.9)])  # a cupcake among things hiding both sides of the horizon, the table paler towards the wall
def test_without_a_hint_a_plain_wall_unlike_the_table_is_not_kept(index: int, seed: int, least: float) -> None:
    # The wall, coloured unlike the plain table, was outliers to the one field fitted to the whole border:
    # it was kept with the product (IoU 0.25 at confidence 0.59; 0.32; 0.44).
    case = build_case("cluttered", index, seed=seed)
    out = _run(case.image)
    assert iou(_alpha(out), case.alpha) >= least
    wall = np.zeros(case.alpha.shape, bool)
    wall[: case.alpha.shape[0] // 5] = True
    assert np.mean(_alpha(out)[wall] > 0.5) < 0.01


def test_without_a_hint_a_plain_wall_behind_a_busy_table_is_not_kept() -> None:
    # A briefcase among bottles on oak before a pale blue wall: the border's colour histogram left out the
    # wall's stretches (the frame's foot never shows that blue), and a patch of the wall was kept (0.45).
    case = build_case("cluttered", 11, seed=0)
    alpha = _alpha(_run(case.image))
    assert iou(alpha, case.alpha) >= 0.75
    assert np.mean(alpha[: case.alpha.shape[0] // 5] > 0.5) < 0.01


def test_no_badly_wrong_cut_out_is_reported_as_sure() -> None:
    runs: list[tuple[Category, int, bool]] = [
        ("cluttered", 13, False), ("cluttered", 16, False), ("cluttered", 18, False),  # wrong, busy tables
        ("cluttered", 20, False), ("cluttered", 13, True),  # wrong: a box kept with a cookie; a boxed guitar
        ("light", 0, False), ("light", 1, False), ("multipart", 1, False), ("shaded", 7, False),
        ("frame", 4, False), ("cluttered", 0, True), ("cluttered", 2, True)]
    scored = [(_score(kind, i, boxed), _cut(kind, i, boxed).confidence) for kind, i, boxed in runs]
    wrong = [(s, c) for s, c in scored if s < 0.85]
    right = [(s, c) for s, c in scored if s >= 0.95]
    assert len(wrong) >= 5 and len(right) >= 6, scored  # both kinds are really there
    assert all(c < cutout.LOW_CONFIDENCE for _, c in wrong), scored
    assert sum(c >= cutout.LOW_CONFIDENCE for _, c in right) > len(right) / 2, scored  # most, on hard photos


def test_the_evidence_behind_the_confidence_is_reported_by_name() -> None:
    out = _cut("light", 0)
    names = [name for name, _ in out.evidence]
    assert {"busy", "edge_support", "agree_rect", "touching", "box_fill"} <= set(names)
    assert all(np.isfinite(value) for _, value in out.evidence)


def _click(wrong: npt.NDArray[np.bool_], label: cutout.PointLabel) -> Point:
    """Where a person taps to correct `wrong` (what the cut-out kept that is not product, or left out that
    is): the deepest pixel of its largest piece."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(wrong.astype(np.uint8), connectivity=8)
    assert n > 1, "nothing to correct"
    piece = labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    depth = cv2.distanceTransform(piece.astype(np.uint8), cv2.DIST_L2, 5)
    y, x = np.unravel_index(int(np.argmax(depth)), depth.shape)
    return Point(int(x), int(y), label)


def _near(at: Point, shape: tuple[int, ...], r: int = 10) -> npt.NDArray[np.bool_]:
    yy, xx = np.ogrid[:shape[0], :shape[1]]
    return np.asarray((yy - at.y) ** 2 + (xx - at.x) ** 2 <= r * r)


def _piece(wrong: npt.NDArray[np.bool_], at: Point) -> npt.NDArray[np.bool_]:
    labels = np.asarray(cv2.connectedComponents(wrong.astype(np.uint8), connectivity=8)[1])
    return np.asarray(labels == labels[at.y, at.x])


@pytest.mark.parametrize(("index", "seed", "boxed"), [(0, 0, True), (18, 2, False), (16, 0, True)])
def test_a_background_point_removes_the_piece_it_is_put_on(index: int, seed: int, boxed: bool) -> None:
    # A person's shoe in the box beside a guitar; an orange kept with a loaf of bread on cloth, without a
    # box; a bowl peeking into the box of a laptop on oak. The tap goes on the largest piece the cut-out
    # wrongly kept.
    case = build_case("cluttered", index, seed)
    truth = case.alpha > 0.5
    box = case.hint_box() if boxed else None
    before = _alpha(_run(case.image, box=box)) > 0.5
    wrong = before & ~truth
    point = _click(wrong, "background")
    out = _run(case.image, box=box, points=(point,))
    alpha = _alpha(out)
    assert out.hint_used and "points" in out.method
    assert not (alpha[_near(point, alpha.shape)] > 0.5).any()
    assert np.mean(alpha[_piece(wrong, point)] > 0.5) <= 0.5  # and at least half the wrong piece tapped
    assert iou(alpha, case.alpha) > iou(before, case.alpha) + 0.01
    assert np.mean(alpha[truth] > 0.5) >= np.mean(before[truth]) - 0.01  # the product stays


@pytest.mark.parametrize(("seed", "index"), [(3, 0), (1, 15)])  # books beside a guitar; a bag's neighbour
def test_a_background_point_on_a_thing_touching_the_product_takes_that_thing_only(seed: int, index: int) -> None:
    # No box, a busy table: the product and what touches it are one blob of evidence. A tap on the books
    # leaning on a guitar took the whole blob (IoU 0.66 -> 0.00); the flood of the tap's backdrop
    # distance ran from a neighbour over the product (0.93 -> 0.04).
    case = build_case("cluttered", index, seed)
    truth = case.alpha > 0.5
    before = _alpha(_run(case.image)) > 0.5
    point = _click(before & ~truth, "background")
    alpha = _alpha(_run(case.image, points=(point,)))
    assert not (alpha[_near(point, alpha.shape)] > 0.5).any()
    assert np.mean(alpha[truth] > 0.5) >= np.mean(before[truth]) - 0.01  # the product stays
    assert iou(alpha, case.alpha) > iou(before, case.alpha) + 0.05


@pytest.mark.parametrize("seed", [0, 5])
def test_with_a_box_a_handbag_keeps_its_handle_coloured_like_the_wood(seed: int) -> None:
    # The handle, the walnut's dark brown, was cut away with the wood; a fleck of it left near the box's top
    # hid that the cut ended well short of that side, so the strip above was never looked at (handle kept:
    # none, IoU 0.86).
    case = build_case("cluttered", 4, seed)
    alpha = _alpha(_run(case.image, box=case.hint_box()))
    truth = case.alpha > 0.5
    rows = np.nonzero(truth.any(axis=1))[0]
    handle = truth.copy()
    handle[rows[0] + (rows[-1] - rows[0]) // 4:] = False
    assert np.mean(alpha[handle] > 0.5) >= 0.6
    assert iou(alpha, case.alpha) >= 0.89


@pytest.mark.parametrize(("index", "boxed"), [(13, False), (4, True)])
def test_a_product_point_keeps_the_piece_it_is_put_on(index: int, boxed: bool) -> None:
    # A small guitar behind a stack of books, the books taken for the product without a hint; the
    # handle of a handbag, the dark wood's colour, dropped inside its box.
    case = _case("cluttered", index)
    truth = case.alpha > 0.5
    box = case.hint_box() if boxed else None
    missed = truth & (_alpha(_cut("cluttered", index, boxed)) <= 0.5)
    point = _click(missed, "product")
    alpha = _alpha(_run(case.image, box=box, points=(point,)))
    assert (alpha[_near(point, alpha.shape)] > 0.5).all()
    assert np.mean(alpha[_piece(missed, point)] > 0.5) >= 0.7  # and most of what was tapped
    assert iou(alpha, case.alpha) > _score("cluttered", index, boxed) + 0.02


def test_with_a_box_around_one_shoe_the_other_is_left_out() -> None:
    case = _case("multipart", 0)  # a pair of shoes side by side, set apart
    labels = cv2.connectedComponents((case.alpha > 0.5).astype(np.uint8))[1]
    left = labels == labels[np.nonzero(case.alpha > 0.5)][np.argmin(np.nonzero(case.alpha > 0.5)[1])]
    ys, xs = np.nonzero(left)
    pad = 12
    box = (int(xs.min()) - pad, int(ys.min()) - pad, int(xs.max()) + pad, int(ys.max()) + pad)
    out = _run(case.image, box=box)
    alpha = _alpha(out)
    assert iou(alpha, np.where(left, case.alpha, 0.0)) >= 0.95
    assert not alpha[:, box[2] + 2:].any() and not alpha[:box[1] - 2].any()


def test_a_background_point_drops_the_part_it_is_on() -> None:
    case = _case("multipart", 0)
    parts = np.asarray(cv2.connectedComponents((case.alpha > 0.5).astype(np.uint8))[1])
    assert _score("multipart", 0) >= 0.95  # without hints both shoes are kept
    right = parts == parts[np.nonzero(case.alpha > 0.5)][np.argmax(np.nonzero(case.alpha > 0.5)[1])]
    ys, xs = np.nonzero(right)
    on_right = Point(int(np.median(xs)), int(np.median(ys)), "background")
    out = _run(case.image, points=(on_right,))
    alpha = _alpha(out)
    assert out.hint_used and out.method == "matting+points"
    assert alpha[right].mean() <= 0.05
    kept = (case.alpha > 0.5) & ~right
    assert np.mean(alpha[kept] > 0.5) >= 0.97


def test_a_product_point_brings_back_a_part_the_cut_out_left_out() -> None:
    shape = (1100, 900)
    rng = np.random.default_rng(7)
    photo = textured_backdrop("wood", rng, shape)
    truth = np.zeros(shape, np.float32)
    for stem, long_side, x0, y0 in (("1f9f4", 520, 120, 380), ("1f48e", 170, 690, 80)):  # a bottle, far off a gem
        fg, a = place(load_sprite(object_path(stem), long_side), shape, x0, y0)
        photo = a[..., None] * fg + (1.0 - a[..., None]) * photo
        truth = np.maximum(truth, a)
    rgb = np.clip(photo + rng.normal(0.0, 2.0, photo.shape) + 0.5, 0, 255).astype(np.uint8)
    gem = np.zeros(shape, bool)
    gem[60:300, 670:900] = True
    gem &= truth > 0.5
    plain = _alpha(_run(rgb))
    assert np.mean(plain[gem] > 0.5) <= 0.05  # on a busy table a far, small thing is taken for clutter
    ys, xs = np.nonzero(gem)
    out = _run(rgb, points=(Point(int(np.median(xs)), int(np.median(ys))),))
    alpha = _alpha(out)
    assert np.mean(alpha[gem] > 0.5) >= 0.9
    assert np.mean(alpha[(truth > 0.5) & ~gem] > 0.5) >= 0.95
