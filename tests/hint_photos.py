"""Photos for the hint tests of every door, with their exact alpha (bench/alpha_set.py): a cluttered table
whose product a box picks out, and a pair of shoes set apart, one of which a background point drops."""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

from bench.alpha_set import AlphaCase, build_case

Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class HintPhoto:
    png: bytes                        # the photo as a PNG file
    truth: Mask                       # where the product is (alpha > 0.5), pixels of the photo
    box: tuple[int, int, int, int]    # a box a person would drag around the product (4 % margin)
    dropped: Mask                     # what a background point (`point`) marks: not the product
    point: tuple[int, int]            # a click on `dropped`


def _png(rgb: npt.NDArray[np.uint8]) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


@cache
def cluttered() -> HintPhoto:
    """A honey jar on a busy table among other things; without a box the cut-out takes some of them along."""
    case: AlphaCase = build_case("cluttered", 3)
    none = np.zeros(case.alpha.shape, bool)
    return HintPhoto(_png(case.image), case.alpha > 0.5, case.hint_box(), none, (0, 0))


@cache
def two_shoes() -> HintPhoto:
    """A pair of shoes side by side on paper: without hints both are kept; a background point on the right one
    drops it (the truth is then the left one)."""
    case = build_case("multipart", 0)
    both = case.alpha > 0.5
    labels = np.asarray(cv2.connectedComponents(both.astype(np.uint8))[1])
    ys, xs = np.nonzero(both)
    right = labels == labels[ys[np.argmax(xs)], xs[np.argmax(xs)]]
    ry, rx = np.nonzero(right)
    return HintPhoto(_png(case.image), both & ~right, case.hint_box(), right, (int(np.median(rx)), int(np.median(ry))))


def alpha_of(png: bytes) -> npt.NDArray[np.uint8]:
    """The alpha channel of an RGBA PNG (the cut-out a door wrote)."""
    with Image.open(io.BytesIO(png)) as im:
        assert im.mode == "RGBA", im.mode
        return np.asarray(im)[..., 3]


def iou(alpha: npt.NDArray[np.uint8], truth: Mask) -> float:
    kept = alpha > 127
    return float((kept & truth).sum()) / max(1, int((kept | truth).sum()))
