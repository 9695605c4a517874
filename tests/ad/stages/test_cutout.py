"""The cut-out stage against photos whose exact alpha is known (bench/alpha_set.py)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from bench.alpha_set import AlphaCase, alpha_error, build_alpha_set, build_case, iou, object_files
from nanococoa_mcp.ad.images import decode_image
from nanococoa_mcp.ad.stages import cutout
from nanococoa_mcp.ad.stages.cutout import CutoutInput, CutoutOutput, CutoutParams, Point
from nanococoa_mcp.errors import InvalidInput

Results = list[tuple[AlphaCase, CutoutOutput]]


def _opaque(rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    return np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])


def _cut(rgb: npt.NDArray[np.uint8]) -> CutoutOutput:
    return cutout.run(CutoutInput(image=_opaque(rgb), has_alpha=False))


def _alpha(out: CutoutOutput) -> npt.NDArray[np.float32]:
    return out.rgba[..., 3].astype(np.float32) / 255.0


@pytest.fixture(scope="module")
def studio() -> Results:
    return [(case, _cut(case.image)) for case in build_alpha_set("studio", n=15)]  # the first, narrower set


@pytest.fixture(scope="module")
def textured() -> Results:
    return [(case, _cut(case.image)) for case in build_alpha_set("textured", n=15)]


def test_an_existing_alpha_channel_is_kept_exactly() -> None:
    bgra = np.asarray(cv2.imread(str(object_files()[0]), cv2.IMREAD_UNCHANGED))
    rgba = np.asarray(cv2.cvtColor(bgra, cv2.COLOR_BGRA2RGBA), np.uint8)
    out = cutout.run(CutoutInput(image=rgba, has_alpha=True))
    alpha = rgba[..., 3]
    assert out.method == "alpha-channel"
    assert out.confidence == 1.0 and not out.low_confidence
    assert np.array_equal(out.rgba[..., 3], alpha)
    assert np.array_equal(out.rgba[alpha > 0], rgba[alpha > 0])
    assert not out.rgba[alpha == 0, :3].any()
    ys, xs = np.nonzero(alpha)
    assert out.bbox == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


def test_studio_photos_are_cut_out_almost_exactly(studio: Results) -> None:
    scores = [iou(_alpha(out), case.alpha) for case, out in studio]
    assert np.mean(scores) >= 0.99, scores
    assert min(scores) >= 0.98, scores


def test_studio_mattes_are_accurate_at_the_edge(studio: Results) -> None:
    errors = np.array([alpha_error(_alpha(out), case.alpha) for case, out in studio])
    whole, band = errors.mean(axis=0)
    assert whole <= 0.002, errors[:, 0]
    assert band <= 0.015, errors[:, 1]


def test_busy_backdrops_are_cut_out_within_a_looser_bound(textured: Results) -> None:
    scores = np.array([iou(_alpha(out), case.alpha) for case, out in textured])
    errors = np.array([alpha_error(_alpha(out), case.alpha) for case, out in textured])
    assert scores.mean() >= 0.93, scores
    assert np.count_nonzero(scores >= 0.95) >= 11, scores
    assert errors[:, 0].mean() <= 0.01 and errors[:, 1].mean() <= 0.06, errors


def test_shadows_on_the_backdrop_do_not_become_product(studio: Results) -> None:
    checked = 0
    for case, out in studio:
        if case.touches_bottom:
            continue  # its shadow lies below the frame
        near_object = cv2.dilate((case.alpha > 0).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        shadow = (case.shadow > 0.1) & ~near_object  # shadow from 1 px beyond the product outwards
        assert shadow.sum() > 5000, case.name  # the photo really has a shadow to test
        kept = _alpha(out)[shadow]
        assert kept.mean() <= 0.005, case.name
        assert kept.max() <= 0.5, case.name
        checked += 1
    assert checked >= 10


def test_a_product_cut_by_the_frame_keeps_its_edge(studio: Results) -> None:
    cut_by_frame = [(case, out) for case, out in studio if case.touches_bottom]
    assert len(cut_by_frame) >= 3
    for case, out in cut_by_frame:
        truth = case.alpha[-3:] > 0.5
        assert truth.sum() > 100, case.name
        assert np.mean(_alpha(out)[-3:][truth] > 0.5) >= 0.97, case.name


def test_parts_thinner_than_the_edge_band_survive() -> None:
    h, w = 1100, 900
    alpha = np.zeros((h, w), np.float32)
    cv2.circle(alpha, (450, 400), 200, 1.0, -1)
    cv2.line(alpha, (450, 600), (450, 950), 1.0, 6)  # a 6 px stick: thinner than the matted band
    alpha = cv2.GaussianBlur(alpha, (0, 0), 1.0)
    paper, product = np.array([235.0, 232.0, 228.0]), np.array([180.0, 60.0, 40.0])
    photo = alpha[..., None] * product + (1.0 - alpha[..., None]) * paper
    photo += np.random.default_rng(0).normal(0.0, 1.5, photo.shape)
    out = _cut(np.clip(photo, 0, 255).astype(np.uint8))
    stick = alpha[650:940] > 0.9
    assert np.mean(_alpha(out)[650:940][stick] > 0.5) >= 0.98
    assert iou(_alpha(out), alpha) >= 0.98


def test_edge_colours_carry_no_backdrop_fringe() -> None:
    case = build_alpha_set("studio", n=1)[0]
    green = np.array([30.0, 200.0, 40.0], np.float32)
    photo = case.alpha[..., None] * case.foreground + (1.0 - case.alpha[..., None]) * green
    out = _cut(np.clip(photo + 0.5, 0, 255).astype(np.uint8))
    a = _alpha(out)
    edge = (a > 0.1) & (a < 0.9) & (case.alpha > 0.05)
    assert edge.sum() > 2000

    def greenness(c: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        return c[:, 1] - (c[:, 0] + c[:, 2]) / 2.0

    estimated = out.rgba[..., :3][edge].astype(np.float32)
    truth = case.foreground[edge]
    seen = photo[edge]
    assert greenness(seen).mean() - greenness(truth).mean() > 40  # the raw edge really is green
    assert abs(greenness(estimated).mean() - greenness(truth).mean()) < 10
    assert np.abs(estimated - truth).mean() < 15


def test_a_flat_photo_has_no_product() -> None:
    flat = np.full((300, 240, 3), 200, np.uint8)
    with pytest.raises(InvalidInput) as err:
        _cut(flat)
    assert err.value.field == "product_image"
    noise = np.clip(np.random.default_rng(0).normal(128, 2, (300, 240, 3)), 0, 255).astype(np.uint8)
    with pytest.raises(InvalidInput):
        _cut(noise)


def test_a_fully_transparent_image_has_no_product() -> None:
    empty = np.zeros((64, 64, 4), np.uint8)
    with pytest.raises(InvalidInput) as err:
        cutout.run(CutoutInput(image=empty, has_alpha=True))
    assert err.value.field == "product_image"


def test_images_that_are_not_8bit_rgba_of_a_workable_size_are_refused() -> None:
    with pytest.raises(InvalidInput, match="RGBA"):
        cutout.run(CutoutInput(image=np.zeros((64, 64, 3), np.uint8), has_alpha=False))
    with pytest.raises(InvalidInput, match="1600"):
        cutout.run(CutoutInput(image=np.zeros((1700, 64, 4), np.uint8), has_alpha=False))


def test_an_unknown_backend_is_refused_with_the_valid_names() -> None:
    with pytest.raises(InvalidInput) as err:
        cutout.run(CutoutInput(image=np.zeros((64, 64, 4), np.uint8), has_alpha=True),
                   CutoutParams(backend="rembg"))
    assert err.value.field == "cutout_backend"
    assert err.value.accepted is not None and "studio" in err.value.accepted


@pytest.mark.parametrize(("box", "says"), [
    ((300, 100, 200, 400), "inverted"),
    ((100, 300, 200, 100), "inverted"),
    ((100, 100, 100, 300), "0×200 px: too small"),  # no width is empty, not inverted
    ((-5, 100, 200, 300), "outside"),
    ((100, 100, 241, 300), "outside"),
    ((100, 100, 200, 301), "outside"),
    ((100, 100, 107, 300), "too small"),
    ((100, 100, 200, 104), "too small"),
])
def test_a_box_that_does_not_fit_the_photo_is_refused_naming_the_field(box: cutout.Box, says: str) -> None:
    photo = _opaque(np.full((300, 240, 3), 200, np.uint8))
    with pytest.raises(InvalidInput, match=says) as err:
        cutout.run(CutoutInput(image=photo, has_alpha=False, box=box))
    assert err.value.field == "product_box"
    assert err.value.accepted is not None and "240" in err.value.accepted and "300" in err.value.accepted


def test_points_off_the_photo_or_badly_labelled_are_refused_naming_the_point() -> None:
    photo = _opaque(np.full((300, 240, 3), 200, np.uint8))
    cases: list[tuple[tuple[Point, ...], cutout.Box | None, str]] = [
        ((Point(10, 10), Point(240, 10)), None, "product_points[1]"),
        ((Point(10, -1, "background"),), None, "product_points[0]"),
        ((Point(10, 10, "maybe"),), None, "product_points[0].label"),  # type: ignore[arg-type]
        ((Point(150, 150), Point(20, 20)), (100, 100, 200, 200), "product_points[1]"),  # product, outside the box
    ]
    for points, box, field in cases:
        with pytest.raises(InvalidInput) as err:
            cutout.run(CutoutInput(image=photo, has_alpha=False, box=box, points=points))
        assert err.value.field == field
    too_many = tuple(Point(i % 200, 5) for i in range(cutout.MAX_POINTS + 1))
    with pytest.raises(InvalidInput) as err:
        cutout.run(CutoutInput(image=photo, has_alpha=False, points=too_many))
    assert err.value.field == "product_points"


def test_a_background_point_outside_the_box_is_allowed() -> None:
    case = build_alpha_set("studio", n=1)[0]
    x0, y0, x1, y1 = case.hint_box()
    out = cutout.run(CutoutInput(image=_opaque(case.image), has_alpha=False, box=(x0, y0, x1, y1),
                                 points=(Point(5, 5, "background"), Point((x0 + x1) // 2, (y0 + y1) // 2))))
    assert out.hint_used and out.method == "matting+box+points"
    assert iou(_alpha(out), case.alpha) >= 0.98


def test_a_door_box_is_read_as_pixels_or_as_fractions_of_the_photo() -> None:
    assert cutout.box_from_request([100, 50, 300, 250], 400, 300) == (100, 50, 300, 250)
    assert cutout.box_from_request([0.25, 0.5, 1.0, 1.0], 400, 300) == (100, 150, 400, 300)
    assert cutout.box_from_request([0, 0, 1, 1], 400, 300) == (0, 0, 400, 300)  # all <= 1: the whole photo
    for bad in ([0.1, 0.2, 0.3], [0.1, 0.2, 0.3, float("nan")]):
        with pytest.raises(InvalidInput) as err:
            cutout.box_from_request(bad, 400, 300)
        assert err.value.field == "product_box"
    with pytest.raises(InvalidInput, match="outside") as err:
        cutout.box_from_request([100, 50, 500, 250], 400, 300)
    assert err.value.field == "product_box"


def test_hints_follow_the_photo_to_a_resized_copy() -> None:
    big = np.zeros((1000, 800, 4), np.uint8)
    inp = CutoutInput(image=big, has_alpha=False, box=(101, 200, 703, 999), points=(Point(400, 500, "background"),))
    small = cutout.scale_hints(inp, np.zeros((500, 400, 4), np.uint8))
    assert small.box == (50, 100, 352, 500)  # rounded outwards, never beyond the copy
    assert small.points == (Point(200, 250, "background"),)
    assert small.image.shape == (500, 400, 4) and not small.has_alpha


def test_a_photo_with_its_own_alpha_keeps_it_and_says_the_hints_were_not_needed() -> None:
    bgra = np.asarray(cv2.imread(str(object_files()[0]), cv2.IMREAD_UNCHANGED))
    rgba = np.asarray(cv2.cvtColor(bgra, cv2.COLOR_BGRA2RGBA), np.uint8)
    out = cutout.run(CutoutInput(image=rgba, has_alpha=True, box=(10, 10, 200, 200)))
    assert out.method == "alpha-channel" and not out.hint_used
    assert np.array_equal(out.rgba[..., 3], rgba[..., 3])
    assert any("hints were not needed" in note for note in out.notes)


def test_params_refuse_unknown_knobs() -> None:
    with pytest.raises(ValueError):
        CutoutParams.model_validate({"backend": "studio", "threshold": 3})


def test_the_same_photo_gives_the_same_cut_out() -> None:
    case = build_alpha_set("textured", n=1)[0]  # busy: both GrabCut runs and k-means are involved
    first, second = _cut(case.image), _cut(case.image)
    assert np.array_equal(first.rgba, second.rgba)
    assert (first.confidence, first.bbox, first.notes) == (second.confidence, second.bbox, second.notes)


def test_output_is_a_straight_rgba_image_with_a_tight_bbox(studio: Results) -> None:
    case, out = studio[0]
    assert out.rgba.shape == (*case.image.shape[:2], 4) and out.rgba.dtype == np.uint8
    assert out.method == "matting"
    ys, xs = np.nonzero(out.rgba[..., 3])
    assert out.bbox == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    assert not out.rgba[out.rgba[..., 3] == 0, :3].any()
    opaque = out.rgba[..., 3] == 255
    assert np.array_equal(out.rgba[opaque, :3], case.image[opaque])  # the product's pixels are untouched


def test_confidence_is_lower_on_busy_backdrops_and_low_wherever_the_cut_out_is_wrong(
        studio: Results, textured: Results) -> None:
    calm = [out.confidence for _, out in studio]
    busy = [out.confidence for _, out in textured]
    assert np.mean(busy) < np.mean(calm) - 0.2
    assert not any(out.low_confidence for _, out in studio)
    # With the tables, where the wrong thing is still taken or kept along (a guitar among books, a cookie
    # against a parcel):
    busy_runs = [*textured, *((case, _cut(case.image)) for case in (build_case("cluttered", 13),
                                                                      build_case("cluttered", 20)))]
    scores = [iou(_alpha(out), case.alpha) for case, out in busy_runs]
    assert min(scores) < 0.85  # the set holds a wrong cut-out to be honest about
    assert sum(score < 0.85 for score in scores) >= 2
    assert all(out.low_confidence for (_, out), score in zip(busy_runs, scores, strict=True) if score < 0.85)
    assert all(out.notes for _, out in busy_runs if out.low_confidence)  # and says why


# --- real photos (the shipped samples): no exact alpha, so loose regions measured by eye -----------

SAMPLES = Path(__file__).resolve().parents[3] / "samples"


def _sample(name: str) -> CutoutOutput:
    return cutout.run(CutoutInput(image=decode_image((SAMPLES / name).read_bytes()).rgba, has_alpha=False))


def _ellipse(shape: tuple[int, int], centre: tuple[int, int], axes: tuple[int, int]) -> npt.NDArray[np.bool_]:
    mask = np.zeros(shape, np.uint8)
    cv2.ellipse(mask, centre, axes, 0, 0, 360, 1, -1)
    return mask.astype(bool)


Region = npt.NDArray[np.bool_] | tuple[slice, slice]


def _kept(out: CutoutOutput, region: Region) -> float:
    """Share of `region` (a mask, or a box as slices) that the cut-out keeps (alpha > 0.5)."""
    return float(np.mean(out.rgba[..., 3][region] > 127))


@pytest.fixture(scope="module")
def apple() -> CutoutOutput:
    return _sample("apple.jpg")


@pytest.fixture(scope="module")
def orange() -> CutoutOutput:
    return _sample("orange.jpg")


@pytest.fixture(scope="module")
def coffee() -> CutoutOutput:
    return _sample("coffee.jpg")


def test_a_red_apple_on_green_cloth_is_cut_out_whole(apple: CutoutOutput) -> None:
    shape = apple.rgba.shape[:2]
    assert _kept(apple, _ellipse(shape, (250, 275), (190, 200))) >= 0.97  # the body, lit and shaded
    assert _kept(apple, ~_ellipse(shape, (251, 278), (225, 235))) <= 0.08  # cloth and table around it
    assert _kept(apple, np.s_[445:475, 0:30]) <= 0.05 and _kept(apple, np.s_[445:475, 480:512]) <= 0.05  # pencil
    assert any("busy background" in note for note in apple.notes)  # right, and honest about the cloth


def test_the_lit_side_of_an_orange_is_kept_and_the_cloth_and_pencil_dropped(orange: CutoutOutput) -> None:
    shape = orange.rgba.shape[:2]
    assert _kept(orange, _ellipse(shape, (345, 260), (100, 170))) >= 0.97
    assert _kept(orange, ~_ellipse(shape, (248, 275), (230, 240))) <= 0.08
    assert _kept(orange, np.s_[450:480, 490:512]) <= 0.05 and _kept(orange, np.s_[400:430, 0:30]) <= 0.05
    assert orange.low_confidence


@pytest.mark.xfail(strict=True, reason="known gap: the orange's shaded side is grey like the table behind "
                                       "it; colour cannot tell them apart and no shape prior is used yet")
def test_the_shaded_side_of_an_orange_is_kept(orange: CutoutOutput) -> None:
    assert _kept(orange, _ellipse(orange.rgba.shape[:2], (248, 275), (200, 215))) >= 0.9


def test_an_espresso_cup_keeps_its_crema_body_and_saucer_and_drops_the_table(coffee: CutoutOutput) -> None:
    shape = coffee.rgba.shape[:2]
    assert _kept(coffee, _ellipse(shape, (290, 140), (60, 35))) >= 0.95  # crema: wood-coloured, inside the cup
    assert _kept(coffee, _ellipse(shape, (260, 230), (60, 25))) >= 0.95  # the cup's shaded body
    assert _kept(coffee, _ellipse(shape, (140, 250), (40, 60))) >= 0.95  # the saucer's left side
    for corner in (np.s_[0:60, 0:80], np.s_[0:60, 520:600], np.s_[340:400, 520:600], np.s_[350:400, 0:50]):
        assert _kept(coffee, corner) <= 0.02  # the wooden table
    assert coffee.low_confidence


@pytest.mark.xfail(strict=True, reason="known gap: the spoon's bowl mirrors the wooden table and is taken "
                                       "for a hole in the saucer")
def test_the_spoon_on_the_saucer_is_kept(coffee: CutoutOutput) -> None:
    assert _kept(coffee, _ellipse(coffee.rgba.shape[:2], (366, 288), (28, 28))) >= 0.8
