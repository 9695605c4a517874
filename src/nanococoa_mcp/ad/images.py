"""Decode and check user images: one place that turns bytes into an 8-bit RGBA array or says why not."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError

from nanococoa_mcp.errors import InvalidInput

try:  # HEIC/HEIF from phones; optional at import time so a broken wheel never blocks the engine
    from pillow_heif import register_heif_opener

    register_heif_opener()
    _HEIF = True
except ImportError:  # pragma: no cover - pillow-heif is a declared dependency
    _HEIF = False

ACCEPTED_FORMATS = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP", "HEIF": "HEIC/HEIF", "TIFF": "TIFF", "BMP": "BMP"}
ACCEPTED_TEXT = ", ".join(ACCEPTED_FORMATS.values())


@dataclass(frozen=True, slots=True)
class DecodedImage:
    rgba: npt.NDArray[np.uint8]  # H×W×4, straight alpha, EXIF orientation applied
    has_alpha: bool  # the file carried an alpha channel with some transparency
    format: str
    source_size: tuple[int, int]  # (width, height) as stored in the file, before EXIF rotation
    source: bytes = b""  # the file as received (a job stores these, not a re-encoding)


def decode_image(
    data: bytes,
    *,
    field: str = "product_image",
    max_bytes: int = 10 * 1024 * 1024,
    max_pixels: int = 40_000_000,
    min_side: int = 64,
) -> DecodedImage:
    """Decode image bytes into RGBA.

    Raises InvalidInput (naming `field`) for: empty or oversized files, non-images, unsupported
    formats, truncated files, decompression bombs, and images too small to use.
    """
    if not data:
        raise InvalidInput("the image is empty (0 bytes)", field=field, accepted=ACCEPTED_TEXT)
    if len(data) > max_bytes:
        raise InvalidInput(
            f"the image is {len(data) / 1_048_576:.1f} MB, larger than the {max_bytes / 1_048_576:.0f} MB limit",
            field=field,
            accepted=f"files up to {max_bytes / 1_048_576:.0f} MB",
        )
    with warnings.catch_warnings():
        # Pillow warns before it raises on huge images; we check the size ourselves below.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            im = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            raise InvalidInput(
                "the file is not an image Pillow can read", field=field, accepted=ACCEPTED_TEXT
            ) from None
        except Image.DecompressionBombError:
            raise _too_many_pixels(field, max_pixels) from None
        fmt = (im.format or "").upper()
        if fmt not in ACCEPTED_FORMATS:
            raise InvalidInput(f"unsupported image format {fmt or 'unknown'}", field=field, accepted=ACCEPTED_TEXT)
        width, height = im.size
        if width * height > max_pixels:
            raise _too_many_pixels(field, max_pixels, width, height)
        if min(width, height) < min_side:
            raise InvalidInput(
                f"the image is {width}×{height} px; too small to make an ad from",
                field=field,
                accepted=f"images at least {min_side} px on each side",
            )
        try:
            im.load()
            upright: Image.Image = ImageOps.exif_transpose(im)
        except Image.DecompressionBombError:
            raise _too_many_pixels(field, max_pixels) from None
        except (OSError, SyntaxError, ValueError) as exc:
            raise InvalidInput(
                f"the image file is damaged or truncated ({exc})", field=field, accepted=ACCEPTED_TEXT
            ) from None
    rgba = _to_rgba8(upright)
    has_alpha = bool((rgba[..., 3] < 255).any())
    return DecodedImage(rgba=rgba, has_alpha=has_alpha, format=fmt, source_size=(width, height), source=data)


def _too_many_pixels(field: str, max_pixels: int, width: int = 0, height: int = 0) -> InvalidInput:
    size = f"{width}×{height} px " if width else ""
    return InvalidInput(
        f"the image {size}has more than {max_pixels / 1e6:.0f} megapixels (possible decompression bomb)",
        field=field,
        accepted=f"images up to {max_pixels / 1e6:.0f} MP",
    )


def _to_rgba8(im: Image.Image) -> npt.NDArray[np.uint8]:
    """Any Pillow mode (CMYK, 16-bit, palette, LA, I, F) to 8-bit RGBA."""
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        peak = 1.0 if mode == "F" else (65535.0 if arr.max() > 255 else 255.0)
        grey = np.clip(np.round(arr / peak * 255.0), 0, 255).astype(np.uint8)
        out = np.empty((*grey.shape, 4), dtype=np.uint8)
        out[..., :3] = grey[..., None]
        out[..., 3] = 255
        return out
    if mode == "CMYK":
        # Many CMYK JPEGs (Photoshop exports) carry an ICC profile; Pillow's naive conversion is
        # acceptable for a product photo and keeps us free of a colour-management dependency.
        im = im.convert("RGB")
    if mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode not in ("RGBA", "RGB"):
        im = im.convert("RGBA" if "A" in im.getbands() else "RGB")
    if im.mode == "RGB":
        im = im.convert("RGBA")
    return np.ascontiguousarray(np.asarray(im, dtype=np.uint8))


def fit_long_side(rgba: npt.NDArray[np.uint8], max_side: int) -> npt.NDArray[np.uint8]:
    """Downscale (area averaging, premultiplied) so the long side is at most `max_side`."""
    import cv2

    h, w = rgba.shape[:2]
    if max(h, w) <= max_side:
        return rgba
    scale = max_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    premul = rgba[..., :3].astype(np.float32) * alpha
    premul_s = cv2.resize(premul, size, interpolation=cv2.INTER_AREA)
    alpha_s = cv2.resize(alpha[..., 0], size, interpolation=cv2.INTER_AREA)[..., None]
    rgb = np.where(alpha_s > 1e-4, premul_s / np.maximum(alpha_s, 1e-4), 0.0)
    out = np.empty((size[1], size[0], 4), dtype=np.uint8)
    out[..., :3] = np.clip(np.round(rgb), 0, 255).astype(np.uint8)
    out[..., 3] = np.clip(np.round(alpha_s[..., 0] * 255.0), 0, 255).astype(np.uint8)
    return out


def encode_png(array: npt.NDArray[np.uint8]) -> bytes:
    """PNG bytes of an H×W×3 or H×W×4 array (fast compression: these are working files)."""
    import cv2

    if array.ndim == 3 and array.shape[2] == 4:
        bgr = cv2.cvtColor(array, cv2.COLOR_RGBA2BGRA)
    else:
        bgr = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:  # pragma: no cover - cv2 only fails on invalid arrays
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def encode_jpeg(array: npt.NDArray[np.uint8], max_side: int = 512, quality: int = 82) -> bytes:
    """A small JPEG preview (flattened on white if it has alpha)."""
    import cv2

    img = array
    if img.ndim == 3 and img.shape[2] == 4:
        a = img[..., 3:4].astype(np.float32) / 255.0
        img = (img[..., :3].astype(np.float32) * a + 255.0 * (1 - a)).astype(np.uint8)
    h, w = img.shape[:2]
    if max(h, w) > max_side:
        s = max_side / max(h, w)
        img = np.asarray(
            cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA), np.uint8
        )
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


UPLOAD_EXT = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "HEIF": ".heic", "TIFF": ".tiff", "BMP": ".bmp"}


def stored_bytes(image: DecodedImage) -> tuple[bytes, str]:
    """What to keep of an accepted image, and its file suffix: the file as received (already validated),
    or a PNG of its pixels when there is none."""
    ext = UPLOAD_EXT.get(image.format, "")
    if image.source and ext:
        return image.source, ext
    return encode_png(image.rgba), ".png"
