"""Cut-out hints as the doors give them, in pixels of the photo as stored: boxes and points in pixels or
fractions, errors that name the field, and a large photo's hints carried to the Studio's working copy."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from nanococoa_mcp.ad.hints import CutoutHints, ProductPoint, hints_from_request
from nanococoa_mcp.ad.images import decode_image
from nanococoa_mcp.ad.pipeline import Studio
from nanococoa_mcp.ad.stages import cutout
from nanococoa_mcp.ad.stages.cutout import CutoutInput, Point
from nanococoa_mcp.errors import InvalidInput
from tests.hint_photos import cluttered, iou


def test_points_are_pixels_or_fractions_of_the_photo_each_read_on_their_own() -> None:
    pixels = hints_from_request(None, [ProductPoint(x=10.7, y=20.2), ProductPoint(x=0, y=1, label="background")],
                                400, 300)  # fmt: skip
    assert pixels.product_box is None
    assert [(p.x, p.y, p.label) for p in pixels.product_points] == [(10, 20, "product"), (0, 1, "background")]
    corner = ProductPoint(x=1, y=1, label="background")
    fractions = hints_from_request([100, 50, 300, 250], [ProductPoint(x=0.5, y=0.5), corner], 401, 301)
    assert fractions.product_box == [100, 50, 300, 250]  # pixels: not all four <= 1
    assert [(p.x, p.y) for p in fractions.product_points] == [(200, 150), (400, 300)]
    assert not hints_from_request(None, None, 400, 300).hinted


@pytest.mark.parametrize(
    ("box", "points", "field"),
    [
        ([300, 50, 100, 250], None, "product_box"),
        ([0.2, 0.2, 1.5, 0.8], None, "product_box"),  # not all <= 1: pixels, and 1.5 px makes it inverted
        ([100, 50, 300], None, "product_box"),
        (None, [ProductPoint(x=5, y=5), ProductPoint(x=400, y=5)], "product_points[1]"),
        (None, [ProductPoint(x=-1, y=5, label="background")], "product_points[0]"),
        ([100, 50, 300, 250], [ProductPoint(x=50, y=60)], "product_points[0]"),  # a product point off the box
        (None, [ProductPoint(x=1, y=1)] * (cutout.MAX_POINTS + 1), "product_points"),
    ],
)
def test_hints_that_do_not_fit_the_photo_are_refused_naming_the_field(
    box: list[float] | None, points: list[ProductPoint] | None, field: str
) -> None:
    with pytest.raises(InvalidInput) as err:
        hints_from_request(box, points, 400, 300)
    assert err.value.field == field and err.value.accepted


def test_a_point_must_be_a_finite_number() -> None:
    with pytest.raises(ValueError):
        ProductPoint(x=float("nan"), y=1)


def test_a_box_accepted_on_a_large_photo_stays_one_the_stage_accepts_on_its_working_copy() -> None:
    inp = CutoutInput(image=np.zeros((4000, 3000, 4), np.uint8), has_alpha=False, box=(2990, 100, 2998, 108),
                      points=(Point(2995, 104, "product"),))  # fmt: skip
    work = cutout.scale_hints(inp, np.zeros((1600, 1200, 4), np.uint8))
    assert work.box is not None
    x0, y0, x1, y1 = work.box
    assert x1 - x0 >= cutout.MIN_BOX and y1 - y0 >= cutout.MIN_BOX and x1 <= 1200 and x0 >= 0
    cutout.check_hints(work)  # the product point is still inside


def test_the_studio_carries_a_large_photos_hints_to_its_working_copy() -> None:
    photo = cluttered()
    with Image.open(io.BytesIO(photo.png)) as im:
        big = im.resize((im.width * 2, im.height * 2), Image.Resampling.LANCZOS)  # 1800×2200: over 1600 px
        buf = io.BytesIO()
        big.save(buf, format="PNG")
    image = decode_image(buf.getvalue())
    hints = CutoutHints(product_box=[2 * v for v in photo.box])
    with ThreadPoolExecutor(1) as pool:  # a Studio stays on the thread that made it
        studio = pool.submit(Studio).result()
        cut = pool.submit(studio.cut_out, image, hints).result()
        pool.submit(studio.close).result()
    assert cut.hint_used and cut.rgba.shape[:2] == (1600, round(1600 * 1800 / 2200))
    small = np.asarray(Image.fromarray(cut.rgba[..., 3]).resize(photo.truth.shape[::-1], Image.Resampling.BILINEAR))
    assert iou(small, photo.truth) >= 0.93
    x0, y0, x1, y1 = (round(v * 2 * 1600 / 2200) for v in photo.box)
    outside = np.ones(cut.rgba.shape[:2], bool)
    outside[max(0, y0 - 1):y1 + 1, max(0, x0 - 1):x1 + 1] = False
    assert not cut.rgba[..., 3][outside].any()
