"""What the tools share: the one base64 / data-URL decoder every door reads images with, reading an image
from a path or base64, and the cut-out hints' arguments (product_box, product_points) and their check against
the decoded photo."""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from nanococoa_mcp.ad.hints import BOX_DESCRIPTION, POINTS_DESCRIPTION, CutoutHints, ProductPoint, hints_from_request
from nanococoa_mcp.ad.images import ACCEPTED_TEXT, DecodedImage, decode_image
from nanococoa_mcp.ad.stages.cutout import MAX_POINTS
from nanococoa_mcp.errors import InvalidInput
from nanococoa_mcp.settings import Settings
from nanococoa_mcp.tenancy import current_caller

ProductBox = Annotated[list[float] | None, Field(min_length=4, max_length=4, description=BOX_DESCRIPTION)]
ProductPoints = Annotated[list[ProductPoint] | None, Field(max_length=MAX_POINTS, description=POINTS_DESCRIPTION)]


def photo_hints(box: list[float] | None, points: list[ProductPoint] | None, image: DecodedImage) -> CutoutHints:
    """The hints in pixels of `image` (as stored, after EXIF rotation). Raises InvalidInput naming
    product_box or product_points."""
    h, w = image.rgba.shape[:2]
    return hints_from_request(box, points, w, h)


class Preview(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str
    mime_type: str = "image/jpeg"


def decode_base64(text: str, field: str, max_bytes: int) -> bytes:
    """The bytes of base64 text, bare or as a data: URL, refused before decoding when they would exceed
    `max_bytes`. Raises InvalidInput naming `field`."""
    text = text.strip()
    if text.startswith("data:"):
        text = text.partition(",")[2]
    if len(text) > max_bytes * 4 // 3 + 8:
        raise InvalidInput(
            "the base64 image is larger than the upload limit",
            field=field,
            accepted=f"images up to {max_bytes / 1_048_576:.0f} MB",
        )
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(
            "the image is not valid base64", field=field, accepted=f"base64 of a {ACCEPTED_TEXT} file"
        ) from None


def read_image_input(
    image_path: str | None, image_base64: str | None, settings: Settings, field: str = "product_image"
) -> DecodedImage:
    """Decode exactly one of a file path or base64 (data: URLs allowed). A path is a file on the server's
    disk: only a local caller (stdio, the loopback user) may name one. Raises InvalidInput."""
    if bool(image_path) == bool(image_base64):
        raise InvalidInput(
            "give exactly one of the image's path or its base64 content",
            field=f"{field}_path / {field}",
            accepted="a local file path, or base64 (data: URL ok)",
        )
    if image_path and current_caller().remote:
        raise InvalidInput(
            "a remote caller cannot name a file on the server's disk; send the image's content instead",
            field=f"{field}_path",
            accepted=f"the image itself in `{field}` (base64, data: URL ok), or a multipart upload over REST",
        )
    if image_path:
        path = Path(image_path).expanduser()
        if not path.is_file():
            raise InvalidInput(f"no file at {image_path}", field=f"{field}_path", accepted="an existing image file")
        size = path.stat().st_size
        if size > settings.max_upload_bytes:
            raise InvalidInput(
                f"the image is {size / 1_048_576:.1f} MB",
                field=f"{field}_path",
                accepted=f"files up to {settings.max_upload_bytes / 1_048_576:.0f} MB",
            )
        data = path.read_bytes()
        name = f"{field}_path"
    else:
        assert image_base64 is not None
        data = decode_base64(image_base64, field, settings.max_upload_bytes)
        name = field
    return decode_image(
        data,
        field=name,
        max_bytes=settings.max_upload_bytes,
        max_pixels=settings.max_pixels,
        min_side=settings.min_side_px,
    )
