"""Cut-out hints as the doors take them (a product box in pixels or fractions of the photo, product and
background points) and as a job keeps them: in pixels of the photo as stored (after EXIF rotation), checked
against that photo before the job exists. The cut-out stage reads them through `cutout_input`."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from nanococoa_mcp.ad.stages.cutout import (
    MAX_POINTS,
    CutoutInput,
    Point,
    PointLabel,
    box_from_request,
    check_hints_for,
)

BOX_DESCRIPTION = (
    "Where the product is: [x0, y0, x1, y1] in pixels of the photo as stored (after EXIF rotation; x1, y1 "
    "exclusive), or as fractions 0-1 of its width and height when all four are <= 1. The cut-out then keeps "
    "to the box. Give one when the photo is cluttered or holds several objects (a table with other things, a "
    "person holding the product), when a cut-out came back with confidence below 0.6, or when an ad came "
    "back as a photo_card. A little margin around the product is best; at least 8 px a side."
)
POINTS_DESCRIPTION = (
    "Touch-up clicks: [{x, y, label}], label 'product' (keep what is here) or 'background' (drop what is "
    "here), in pixels of the photo as stored, or fractions 0-1 when every x and y is <= 1. Use them to "
    f"bring back a part the cut-out lost or drop a neighbour it took; at most {MAX_POINTS}. A product point "
    "must lie inside product_box when both are given."
)


class ProductPoint(BaseModel):
    """One click on the photo: this is the product, or this is not."""

    model_config = ConfigDict(extra="forbid")

    x: float = Field(allow_inf_nan=False, description="Pixels from the photo's left edge (or a fraction 0-1 of "
                     "its width).")
    y: float = Field(allow_inf_nan=False, description="Pixels from the photo's top edge (or a fraction 0-1 of "
                     "its height).")
    label: PointLabel = Field(default="product", description="product: keep what is here; background: drop it.")


class CutoutHints(BaseModel):
    """The hints a job keeps: pixels of its photo as stored."""

    model_config = ConfigDict(extra="forbid")

    product_box: list[int] | None = Field(
        default=None, min_length=4, max_length=4, description="[x0, y0, x1, y1] in pixels of the photo as stored."
    )
    product_points: list[ProductPoint] = Field(
        default_factory=list, max_length=MAX_POINTS, description="Clicks in pixels of the photo as stored."
    )

    @property
    def hinted(self) -> bool:
        return self.product_box is not None or bool(self.product_points)

    def cutout_input(self, image: npt.NDArray[np.uint8], has_alpha: bool) -> CutoutInput:
        """The stage's input for `image`, the photo these hints were given on (scale_hints carries them to a
        working copy)."""
        box = self.product_box
        return CutoutInput(
            image=image,
            has_alpha=has_alpha,
            box=(box[0], box[1], box[2], box[3]) if box is not None else None,
            points=tuple(Point(int(p.x), int(p.y), p.label) for p in self.product_points),
        )


def hints_from_request(
    box: Sequence[float] | None, points: Sequence[ProductPoint] | None, width: int, height: int
) -> CutoutHints:
    """A door's product_box and product_points for a photo of width × height px (as stored, after EXIF
    rotation), in that photo's pixels. Raises InvalidInput naming product_box or product_points[i] for a box
    that is not four numbers, is inverted, reaches outside the photo or is under 8 px a side, and for points
    outside the photo (or a product point outside the box) or too many points."""
    pixel_box = box_from_request(box, width, height) if box is not None else None
    given = list(points or ())
    if given and all(0 <= v <= 1 for p in given for v in (p.x, p.y)):
        clicks = [Point(round(p.x * (width - 1)), round(p.y * (height - 1)), p.label) for p in given]
    else:
        clicks = [Point(math.floor(p.x), math.floor(p.y), p.label) for p in given]
    check_hints_for(pixel_box, clicks, width, height)
    return CutoutHints(
        product_box=list(pixel_box) if pixel_box is not None else None,
        product_points=[ProductPoint(x=p.x, y=p.y, label=p.label) for p in clicks],
    )
