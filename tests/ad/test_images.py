"""Decoding user images: the formats phones and shops produce work; everything else is refused clearly."""

from __future__ import annotations

import io
import zlib

import numpy as np
import pytest
from PIL import Image

from nanococoa_mcp.ad.images import decode_image, fit_long_side
from nanococoa_mcp.errors import InvalidInput


def _encode(im: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _photo(w: int = 200, h: int = 120) -> Image.Image:
    arr = np.zeros((h, w, 3), np.uint8)
    arr[..., 0] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
    arr[: h // 2, : w // 2] = (255, 0, 0)  # a red top-left corner to check orientation
    return Image.fromarray(arr)


def _noise() -> Image.Image:
    return Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8))


def test_jpeg_with_exif_orientation_is_turned_upright() -> None:
    im = _photo()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    out = decode_image(_encode(im, "JPEG", exif=exif, quality=95))
    assert out.rgba.shape == (200, 120, 4)  # width and height swapped
    # After a 90° clockwise turn the red corner is at the top-right.
    assert out.rgba[5, -5, 0] > 200 and out.rgba[5, -5, 1] < 60
    assert not out.has_alpha


def test_cmyk_jpeg_decodes_to_rgb() -> None:
    out = decode_image(_encode(_photo().convert("CMYK"), "JPEG", quality=95))
    assert out.rgba.dtype == np.uint8 and out.rgba.shape[2] == 4
    assert out.rgba[5, 5, 0] > 200 and out.rgba[5, 5, 2] < 80


def test_sixteen_bit_png_is_scaled_to_eight_bits() -> None:
    arr = (np.linspace(0, 65535, 128 * 96).reshape(96, 128)).astype(np.uint16)
    out = decode_image(_encode(Image.fromarray(arr), "PNG"))
    assert out.rgba[..., 0].max() == 255 and out.rgba[..., 0].min() == 0
    assert out.rgba[..., 0][48, 64] == pytest.approx(arr[48, 64] / 257, abs=1.5)


def test_png_alpha_is_kept_and_reported() -> None:
    rgba = np.zeros((100, 100, 4), np.uint8)
    rgba[20:80, 20:80] = (10, 200, 30, 255)
    rgba[40:60, 40:60, 3] = 128
    out = decode_image(_encode(Image.fromarray(rgba), "PNG"))
    assert out.has_alpha
    assert np.array_equal(out.rgba, rgba)


def test_webp_and_heic_decode() -> None:
    assert decode_image(_encode(_photo(), "WEBP", quality=90)).format == "WEBP"
    heic = _encode(_photo(), "HEIF", quality=90)
    assert decode_image(heic).rgba.shape == (120, 200, 4)


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"", "empty"),
        (b"this is not an image at all", "not an image"),
        (_encode(_photo(), "GIF"), "unsupported image format GIF"),
        (_encode(_noise(), "PNG")[:3000], "damaged or truncated"),
        (_encode(_noise(), "JPEG")[:3000], "damaged or truncated"),
        (_encode(_photo(40, 300), "PNG"), "too small"),
    ],
)
def test_bad_images_are_refused_with_a_reason(data: bytes, needle: str) -> None:
    with pytest.raises(InvalidInput) as info:
        decode_image(data)
    assert needle in info.value.message
    assert info.value.field == "product_image"
    assert info.value.accepted


def test_files_over_the_size_limit_are_refused_before_decoding() -> None:
    with pytest.raises(InvalidInput, match="larger than the 10 MB limit"):
        decode_image(b"\xff" * (10 * 1024 * 1024 + 1))


def test_decompression_bomb_is_refused_from_the_header() -> None:
    # A valid PNG header claiming 10000×5000 px (50 MP) with a tiny compressed body.
    width, height = 10_000, 5_000

    def chunk(tag: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + tag + body + zlib.crc32(tag + body).to_bytes(4, "big")

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    row = b"\x00" + b"\x00" * width
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(row * 8)) + chunk(b"IEND", b"")
    with pytest.raises(InvalidInput, match="more than 40 megapixels"):
        decode_image(png)


def test_downscaling_keeps_edges_free_of_dark_fringes() -> None:
    rgba = np.zeros((400, 400, 4), np.uint8)
    rgba[..., :3] = (0, 0, 0)  # colour under transparent pixels must not bleed in
    rgba[100:300, 100:300] = (250, 250, 250, 255)
    small = fit_long_side(rgba, 100)
    edge = small[(small[..., 3] > 0) & (small[..., 3] < 255)]
    assert small.shape == (100, 100, 4)
    assert edge.size == 0 or edge[:, :3].min() >= 245
